"""Default training recipe per organ: the settings that produced the bundled weights."""

from __future__ import annotations

from dataclasses import dataclass


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


RECIPES: dict[str, Recipe] = {
    # BUSI + BUS-BRA: lesion-free BUSI scans drawn 3x per epoch, plus lesion-free crops, and an
    # image-level presence loss on the peak probability (BUS-BRA has no normal scans: without it
    # the model learns that every scan has a lesion); 12 epochs = 66 min on 2 CPU cores (README).
    # This recipe gives breast v4; the bundled v5 fine-tunes v4 (README, "Breast v5")
    "breast": Recipe(epochs=12, batch_size=16, learning_rate=1e-3, patience=6, warmup_epochs=1,
                     negative_repeat=3, crops_per_epoch=150, presence_weight=0.5),
    # DDTI crops, started from the bundled breast model (ultrasound features): on three seeds/splits
    # +0.014 validation and test Dice over the ImageNet start (README, "thyroid v3"); the bundled
    # v4 fine-tunes v3 (README, "Thyroid v4")
    "thyroid": Recipe(epochs=60, batch_size=16, learning_rate=1e-3, patience=20, warmup_epochs=2,
                      init_from="breast"),
}

SMOKE = Recipe(epochs=2, batch_size=4, learning_rate=2e-3, patience=5, warmup_epochs=1,
               negative_repeat=2, crops_per_epoch=4, presence_weight=0.5, train_raw_frames=True)
SMOKE_MODEL_KWARGS = {"unet": dict(depth=3, base_filters=8),
                      "efficientnet_unet": dict(decoder_filters=(16, 8, 8, 8))}
