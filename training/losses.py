"""Small composable losses: binary cross-entropy plus soft Dice suits small lesions; a presence
term trains the image's peak probability, which the lesion-free rule reads."""

from __future__ import annotations

import keras
from keras import ops


def soft_dice_loss(y_true, y_pred, smooth: float = 1.0):
    """1 - soft Dice over the whole batch (stable when some images have no lesion)."""
    y_true = ops.cast(y_true, y_pred.dtype)
    inter = ops.sum(y_true * y_pred)
    return 1.0 - (2.0 * inter + smooth) / (ops.sum(y_true) + ops.sum(y_pred) + smooth)


def lesion_present(y_true, dtype):
    """Per image: 1.0 where the truth marks any lesion pixel (> 0.5), else 0.0."""
    flat = ops.reshape(y_true, (ops.shape(y_true)[0], -1))
    return ops.cast(ops.max(flat, axis=-1) > 0.5, dtype)


def soft_dice_per_image_loss(y_true, y_pred, smooth: float = 1.0):
    """1 - the mean soft Dice of the batch's lesion images, each image counted once.

    The reported metric is the mean Dice over images; a batch Dice is dominated by the large
    lesions of the batch, so a small lesion's outline barely counts. Lesion-free images are left
    out (their Dice is undefined; the pixel BCE and the presence term train them); a batch
    without a lesion image adds 0."""
    y_true = ops.cast(y_true, y_pred.dtype)
    axes = tuple(range(1, len(y_pred.shape)))
    inter = ops.sum(y_true * y_pred, axis=axes)
    truth = ops.sum(y_true, axis=axes)
    dice = (2.0 * inter + smooth) / (truth + ops.sum(y_pred, axis=axes) + smooth)
    lesion = lesion_present(y_true, y_pred.dtype)
    return ops.sum((1.0 - dice) * lesion) / ops.maximum(ops.sum(lesion), 1.0)


def lovasz_jaccard_per_image_loss(y_true, y_pred):
    """The Lovász extension of 1 - Jaccard, per lesion image, on probabilities (Berman et al.,
    "The Lovász-Softmax loss", CVPR 2018), the mean over the batch's lesion images.

    The soft Dice is a loose surrogate of an image's overlap; this one is tight: each pixel's
    error |truth - p|, sorted from the largest, is weighted by how much the image's Jaccard loss
    would grow if that pixel were wrong too, so the errors that decide the outline count most.
    Lesion-free images are left out (their Jaccard is undefined); a batch without a lesion
    image adds 0."""
    y_true = ops.cast(y_true, y_pred.dtype)
    batch = ops.shape(y_pred)[0]
    truth = ops.reshape(y_true, (batch, -1))
    errors = ops.abs(truth - ops.reshape(y_pred, (batch, -1)))
    order = ops.argsort(-ops.stop_gradient(errors), axis=-1)
    errors_sorted = ops.take_along_axis(errors, order, axis=-1)
    truth_sorted = ops.take_along_axis(truth, order, axis=-1)
    total = ops.sum(truth_sorted, axis=-1, keepdims=True)
    intersection = total - ops.cumsum(truth_sorted, axis=-1)
    union = total + ops.cumsum(1.0 - truth_sorted, axis=-1)
    jaccard = 1.0 - intersection / ops.maximum(union, 1.0)
    weights = ops.concatenate([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], axis=-1)
    per_image = ops.sum(errors_sorted * ops.stop_gradient(weights), axis=-1)
    lesion = lesion_present(y_true, y_pred.dtype)
    return ops.sum(per_image * lesion) / ops.maximum(ops.sum(lesion), 1.0)


def peak_probability(y_pred, k: int = 16):
    """Per image: the mean of its k most probable pixels (a smooth maximum)."""
    flat = ops.reshape(y_pred, (ops.shape(y_pred)[0], -1))
    return ops.mean(ops.top_k(flat, k)[0], axis=-1)


def presence_loss(y_true, y_pred, k: int = 16):
    """Image-level BCE between "the truth has a lesion" and the image's peak probability.

    Pixel BCE barely notices a confident blob on a lesion-free scan (a few pixels of 50,000);
    this term charges it per image, as the app's lesion-free rule judges it."""
    y_true = ops.cast(y_true, y_pred.dtype)
    present = lesion_present(y_true, y_pred.dtype)
    peak = peak_probability(y_pred, k)
    return ops.mean(keras.losses.binary_crossentropy(present[:, None], peak[:, None]))


@keras.saving.register_keras_serializable(package="unet_training")
class BceDiceLoss(keras.losses.Loss):
    """bce_weight * BCE + dice_weight * soft Dice + presence_weight * image-level presence BCE
    + lovasz_weight * per-image Lovász Jaccard loss.

    ``dice_per_image``: the Dice term is the mean over the batch's lesion images
    (``soft_dice_per_image_loss``) instead of one Dice over the whole batch."""

    def __init__(self, bce_weight=1.0, dice_weight=1.0, presence_weight=0.0,
                 dice_per_image=False, lovasz_weight=0.0, name="bce_dice", **kwargs):
        super().__init__(name=name, **kwargs)
        self.bce_weight = bce_weight
        self.dice_weight = dice_weight
        self.presence_weight = presence_weight
        self.dice_per_image = bool(dice_per_image)
        self.lovasz_weight = float(lovasz_weight)

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        y_true = ops.cast(y_true, "float32")
        bce = ops.mean(keras.losses.binary_crossentropy(y_true, y_pred))
        dice_loss = soft_dice_per_image_loss if self.dice_per_image else soft_dice_loss
        loss = self.bce_weight * bce + self.dice_weight * dice_loss(y_true, y_pred)
        if self.presence_weight:
            loss = loss + self.presence_weight * presence_loss(y_true, y_pred)
        if self.lovasz_weight:
            loss = loss + self.lovasz_weight * lovasz_jaccard_per_image_loss(y_true, y_pred)
        return loss

    def get_config(self):
        return {**super().get_config(), "bce_weight": self.bce_weight,
                "dice_weight": self.dice_weight, "presence_weight": self.presence_weight,
                "dice_per_image": self.dice_per_image, "lovasz_weight": self.lovasz_weight}
