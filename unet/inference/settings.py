"""How one organ's model is applied, resolved once from its two sources.

The registry entry (``unet.inference.registry``) gives the defaults; the model card beside the
weight file (``<organ>.json``, written by the training module) overrides them with the operating
point chosen on the validation split (its ``inference`` block). This is the only place that rule
is written: the segmenter, the app, the batch loop and the CLI read the resolved values.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from unet.inference.registry import OrganConfig
from unet.transforms.test_time_augmentation import EXTRA_VIEWS, uses_extra_views, view_set_of

log = logging.getLogger(__name__)

# the card's block of the quality estimate (``unet.trust.quality`` reads it as CARD_KEY); read
# here only to know whether that estimate runs the extra views, so the engine prepares their
# batch up front
QUALITY_CARD_KEY = "quality_estimate"
TTA_BATCH = 2  # the image and its mirror image, one batch


@dataclass(frozen=True)
class InferenceSettings:
    threshold: float  # probability threshold of the delivered mask
    min_area_fraction: float  # components smaller than this share of the frame are dropped
    min_peak: float  # components whose peak probability is below this are dropped
    views: str  # "flip" or "flip+views" (unet.transforms.test_time_augmentation)
    crop_field_of_view: bool

    @classmethod
    def resolve(cls, organ: OrganConfig, card: dict) -> InferenceSettings:
        chosen = card.get("inference", {}) if isinstance(card, dict) else {}
        chosen = chosen if isinstance(chosen, dict) else {}
        views = (view_set_of(chosen["test_time_augmentation"])
                 if "test_time_augmentation" in chosen else organ.test_time_augmentation)
        return cls(
            threshold=float(chosen.get("threshold", organ.threshold)),
            min_area_fraction=float(chosen.get("min_lesion_area_fraction",
                                               organ.min_lesion_area_fraction)),
            min_peak=float(chosen.get("min_peak_probability", organ.min_peak_probability)),
            views=views,
            crop_field_of_view=organ.crop_field_of_view,
        )


def read_card(weights: str | Path | None) -> dict:
    """The model card beside a weight file (``x.keras`` -> ``x.json``); {} when there is none
    or it cannot be read (a model without a card is served with the registry's settings)."""
    if weights is None:
        return {}
    card = Path(weights).with_suffix(".json")
    try:
        data = json.loads(card.read_text()) if card.is_file() else {}
    except (OSError, ValueError) as exc:
        log.warning("model card %s not read: %s", card.name, type(exc).__name__)
        return {}
    return data if isinstance(data, dict) else {}


def engine_batch_sizes(settings: InferenceSettings, card: dict) -> tuple[int, ...]:
    """The batch sizes a segmenter sends: the flip pair, and the four extra views where the mask
    (``settings.views``) or the card's quality estimate uses them."""
    sizes = {TTA_BATCH}
    quality = card.get(QUALITY_CARD_KEY) if isinstance(card, dict) else None
    if uses_extra_views(settings.views) or (isinstance(quality, dict) and quality.get("tta")):
        sizes.add(len(EXTRA_VIEWS))
    return tuple(sorted(sizes))
