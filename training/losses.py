"""Small composable losses: binary cross-entropy plus soft Dice suits small lesions."""

from __future__ import annotations

import keras
from keras import ops


def soft_dice_loss(y_true, y_pred, smooth: float = 1.0):
    """1 - soft Dice over the whole batch (stable when some images have no lesion)."""
    y_true = ops.cast(y_true, y_pred.dtype)
    inter = ops.sum(y_true * y_pred)
    return 1.0 - (2.0 * inter + smooth) / (ops.sum(y_true) + ops.sum(y_pred) + smooth)


@keras.saving.register_keras_serializable(package="unet_training")
class BceDiceLoss(keras.losses.Loss):
    """bce_weight * BCE + dice_weight * soft Dice."""

    def __init__(self, bce_weight=1.0, dice_weight=1.0, name="bce_dice", **kwargs):
        super().__init__(name=name, **kwargs)
        self.bce_weight = bce_weight
        self.dice_weight = dice_weight

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        y_true = ops.cast(y_true, "float32")
        bce = ops.mean(keras.losses.binary_crossentropy(y_true, y_pred))
        return self.bce_weight * bce + self.dice_weight * soft_dice_loss(y_true, y_pred)

    def get_config(self):
        return {**super().get_config(), "bce_weight": self.bce_weight,
                "dice_weight": self.dice_weight}
