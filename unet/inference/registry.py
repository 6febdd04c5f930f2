"""One configuration entry per organ.

Adding an organ means adding an entry here and a weight file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from unet.errors import ImageInputError

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"


@dataclass(frozen=True)
class OrganConfig:
    """Everything that differs between organs, as data."""

    key: str
    display_name: str
    input_size: int  # square model input, pixels
    threshold: float  # default probability threshold for the binary mask
    weight_file: str  # file name inside weights/
    crop_field_of_view: bool  # find the scanner's image area before segmenting
    min_lesion_area_fraction: float  # components smaller than this share of the image are dropped
    min_peak_probability: float = 0.0  # components whose peak is below this are dropped
    architecture: str = "unet"  # a builder named in unet/networks/architectures.py
    model_kwargs: dict = field(default_factory=dict)  # arguments of that builder
    hub_repo_env: str = ""  # environment variable naming a Hugging Face Hub repo id
    # the views the mask averages (unet/transforms/test_time_augmentation.py): "flip" (the image
    # and its
    # mirror, one batch of 2) or "flip+views" (plus two zooms and two shifts, a batch of 4 more)
    test_time_augmentation: str = "flip"
    # the box-prompted network (unet/networks/box_prompt_unet.py) inside weights/; "" or a
    # missing file: a user's box is answered by the automatic model (unet/inference/prompts.py)
    box_weight_file: str = ""
    # the click-prompted network (the same builder with prompt="click"); "" or a missing file:
    # a lesion click is answered by the automatic model (unet/inference/prompts.py)
    click_weight_file: str = ""

    @property
    def weight_path(self) -> Path:
        return WEIGHTS_DIR / self.weight_file

    @property
    def box_weight_path(self) -> Path | None:
        return WEIGHTS_DIR / self.box_weight_file if self.box_weight_file else None

    @property
    def click_weight_path(self) -> Path | None:
        return WEIGHTS_DIR / self.click_weight_file if self.click_weight_file else None

    @property
    def card_path(self) -> Path:
        return self.weight_path.with_suffix(".json")


ORGANS: dict[str, OrganConfig] = {
    "breast": OrganConfig(
        key="breast",
        display_name="Breast",
        input_size=224,
        threshold=0.5,
        weight_file="breast.keras",
        crop_field_of_view=True,
        min_lesion_area_fraction=0.002,
        architecture="efficientnet_unet",
        model_kwargs=dict(variant="lite0", decoder_filters=(128, 64, 32, 16), dropout=0.1),
        hub_repo_env="UNET_BREAST_HUB_REPO",
        box_weight_file="breast_box.keras",
        click_weight_file="breast_click.keras",
    ),
    "thyroid": OrganConfig(
        key="thyroid",
        display_name="Thyroid",
        input_size=192,
        threshold=0.5,
        weight_file="thyroid.keras",
        crop_field_of_view=True,
        min_lesion_area_fraction=0.002,
        architecture="efficientnet_unet",
        model_kwargs=dict(variant="lite0", decoder_filters=(128, 64, 32, 16), dropout=0.1),
        hub_repo_env="UNET_THYROID_HUB_REPO",
        box_weight_file="thyroid_box.keras",
        # no click network: the one trained failed its adoption rule (docs/prompts.md)
        # its quality estimate runs the four extra views anyway; in the mask they raised
        # validation Dice (docs/results.md)
        test_time_augmentation="flip+views",
    ),
}


def get_organ(key: str) -> OrganConfig:
    """Return the organ's configuration; unknown names raise ImageInputError with the choices."""
    try:
        return ORGANS[str(key).strip().lower()]
    except KeyError:
        choices = ", ".join(sorted(ORGANS))
        raise ImageInputError(f"Unknown organ {key!r}. Choose one of: {choices}.") from None
