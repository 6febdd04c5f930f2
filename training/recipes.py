"""Training recipe per organ: the whole schedule that makes the bundled weights.

A recipe holds the settings shared by its stages (batch size, data draws, loss weights) and its
stages in order: each stage trains for its epochs at its learning rate with its loss options,
starting from the weights the stage before handed on (its best checkpoint, or the mean of its
last epochs), and the last stage's weights are exported once. `python -m training --organ
breast` runs them all; the card records each stage's settings, epochs run and time.
"""

from __future__ import annotations

from dataclasses import dataclass

from unet.transforms.click_window import ClickShares


@dataclass(frozen=True)
class Stage:
    name: str
    epochs: int
    learning_rate: float
    warmup_epochs: int = 1
    patience: int | None = None  # None: the recipe's
    dice_per_image: bool | None = None  # None: the recipe's
    # hand on the mean of the last N epochs' weights (training/weight_average.py) instead of
    # the best checkpoint; 0: the best checkpoint
    average_last_epochs: int = 0
    presence_weight: float | None = None  # None: the recipe's (or --presence-weight)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class PromptRecipe:
    """A prompted network's training (``python -m training.box_prompt_run [--prompt click]``)."""

    epochs: int = 10
    batch_size: int = 8
    learning_rate: float = 1e-3
    input_size: int = 160
    decoder_filters: tuple[int, ...] = (128, 64, 32, 16)
    init_from: str | None = None  # start from this organ's network of the kind, not ImageNet
    # click networks only: the inference windows (first and wide) and the training windows'
    # sides (``share_range``, also the range the sized look is kept within), as shares of the
    # image's shorter side (unet/transforms/click_window.py)
    click_shares: ClickShares = ClickShares()
    # the share of click training draws whose window is sized by the lesion
    # (training/click_prompt_data.py); 0: every window set by the image
    click_sized_draws: float = 0.0
    # (data set folder name, N): that data set's lesion images drawn N times per epoch;
    # (): each image once
    dataset_repeat: tuple[tuple[str, int], ...] = ()


BOX_RECIPES = {
    # the lesion images of the organ's training split (BUSI + BUS-BRA): the prompts issue's
    # probe 2, about 70 min on 2 CPU cores
    "breast": PromptRecipe(),
    # DDTI crops, started from the breast box network (ultrasound features, as the automatic
    # thyroid model starts from the breast one)
    "thyroid": PromptRecipe(epochs=8, learning_rate=5e-4, init_from="breast"),
}
CLICK_RECIPES = {
    # the same network and lesion images with a click instead of a box: the prompts issue's
    # click probe (8 epochs, about 30 min on 2 CPU cores for breast)
    "breast": PromptRecipe(epochs=8),
    # from the breast click network; at 5e-4 and again at 1e-4 the run kept an early epoch (1,
    # then 2) and failed its validation rule both times (0.761 against the training-free
    # click's 0.835, docs/prompts.md): not bundled, not in the thyroid recipe's networks
    "thyroid": PromptRecipe(epochs=8, learning_rate=1e-4, init_from="breast"),
}
SMOKE_BOX = PromptRecipe(epochs=1, batch_size=4, input_size=64,
                         decoder_filters=(16, 8, 8, 8))


@dataclass(frozen=True)
class Recipe:
    epochs: int
    batch_size: int
    learning_rate: float
    patience: int
    warmup_epochs: int = 3
    negative_repeat: int = 1  # lesion-free images drawn this many times per epoch
    crops_per_epoch: int = 0  # lesion-free crops (cut beside lesions) added to each epoch
    pretrained: bool = True  # ImageNet encoder, where the architecture has one
    init_from: str | None = None  # start from this organ's bundled weights instead of ImageNet
    presence_weight: float = 0.0  # image-level "lesion present" loss on the peak probability
    # with --raw-data-dir: the training split's cases also as uncropped scanner frames (the same
    # file names, so on the same side of the split), seen through the field-of-view crop as an
    # upload is; validation and test stay as the manifest says
    train_raw_frames: bool = False
    # export the mean of the last N epochs' weights (training/weight_average.py) instead of the
    # best checkpoint; 0: the best checkpoint
    average_last_epochs: int = 0
    # (data set folder name, N): that data set's images drawn N times per epoch (its lesion-free
    # ones N x negative_repeat), as if it were listed N times; () draws each data set once
    dataset_repeat: tuple[tuple[str, int], ...] = ()
    # chance per training image of a loss of resolution (training/augment.py); 0: never
    resolution_loss: float = 0.0
    # the Dice term as the mean over each batch's lesion images instead of one batch Dice
    dice_per_image: bool = False
    # weight of the per-image Lovász Jaccard loss (training/losses.py); 0: not used
    lovasz_weight: float = 0.0
    # the schedule; () is one stage from the fields above (epochs, learning rate, warm-up,
    # patience, the Dice mode, average_last_epochs)
    stages: tuple[Stage, ...] = ()
    # a stage after the first hands on its own result only if it scores at least what it
    # received on the balanced validation Dice, else what it received (training/stages.py)
    keep_received_if_better: bool = False
    # after the automatic model: train these prompted networks on the same split
    # (BOX_RECIPES[organ], CLICK_RECIPES[organ]); (): the recipe has none
    prompt_networks: tuple[str, ...] = ("box", "click")

    def schedule(self) -> tuple[Stage, ...]:
        return self.stages or (Stage("train", self.epochs, self.learning_rate,
                                     warmup_epochs=self.warmup_epochs, patience=self.patience,
                                     dice_per_image=self.dice_per_image,
                                     average_last_epochs=self.average_last_epochs),)


RECIPES: dict[str, Recipe] = {
    # BUSI + BUS-BRA: lesion-free BUSI scans drawn 3x per epoch, plus lesion-free crops, and an
    # image-level presence loss on the peak probability (BUS-BRA has no normal scans: without it
    # the model learns that every scan has a lesion). Three stages, as the bundled v6 was made
    # by hand (docs/results.md, "Breast v5", "Breast v6"): 12 epochs from ImageNet (66 min on 2
    # CPU cores), then 6 at a tenth of the learning rate handing on the mean of epochs 2-6
    # (about 16 min), then 6 more the same way with the per-image Dice (about 15 min), the
    # fine-tunes with the presence term at 1.0 (v6's chain: 0.5). Every stage hands on its own
    # result. Why, and the draws judged so far: docs/results.md, docs/training.md
    "breast": Recipe(epochs=12, batch_size=16, learning_rate=1e-3, patience=6, warmup_epochs=1,
                     negative_repeat=3, crops_per_epoch=150, presence_weight=0.5,
                     stages=(Stage("from-imagenet", 12, 1e-3),
                             Stage("fine-tune", 6, 1e-4, average_last_epochs=5,
                                   presence_weight=1.0),
                             Stage("per-image-dice", 6, 1e-4, dice_per_image=True,
                                   average_last_epochs=5, presence_weight=1.0))),
    # DDTI crops, started from the bundled breast model (ultrasound features): on three seeds/splits
    # +0.014 validation and test Dice over the ImageNet start (docs/results.md, "thyroid v3");
    # then 10 epochs at a tenth of the learning rate, whose mean of epochs 3-10 is handed on
    # where it scores at least stage 1's checkpoint ("Thyroid v4", "Thyroid v5"; 47 min for the
    # whole command on a free 2-core CPU)
    "thyroid": Recipe(epochs=60, batch_size=16, learning_rate=1e-3, patience=20, warmup_epochs=2,
                      init_from="breast",
                      stages=(Stage("from-breast", 60, 1e-3, warmup_epochs=2),
                              Stage("fine-tune", 10, 1e-4, average_last_epochs=8)),
                      # the bundled v5 was made so (docs/results.md, 2026-12-07): both draws'
                      # fine-tune means scored below stage 1's checkpoint, and were not handed on
                      keep_received_if_better=True,
                      # its click network failed its adoption rule on validation (0.761 against
                      # the training-free click's 0.835; docs/prompts.md): the box one only
                      prompt_networks=("box",)),
}

SMOKE = Recipe(epochs=2, batch_size=4, learning_rate=2e-3, patience=5, warmup_epochs=1,
               negative_repeat=2, crops_per_epoch=4, presence_weight=0.5, train_raw_frames=True,
               prompt_networks=(), keep_received_if_better=True)
SMOKE_MODEL_KWARGS = {"unet": dict(depth=3, base_filters=8),
                      "efficientnet_unet": dict(decoder_filters=(16, 8, 8, 8))}
