"""A U-Net that takes a user's box (or click): the EfficientNet-Lite U-Net with the prompt as a
second input channel that joins the decoder at every level. A click-prompted network is the
same builder with ``prompt="click"`` (the click's spot in the second channel).

Input: (size, size, 2), a square window around the box (``unet/transforms/box_window.py``): the
standardized gray window and the box drawn as a filled rectangle. The ImageNet encoder sees the
gray channel only (repeated to RGB, as in ``efficientnet_unet``); the box channel,
average-pooled to each scale, is concatenated to the decoder's input at strides 32, 16, 8, 4
and 2, so every level knows where the user pointed. The channels are taken apart by two 1x1
convolutions with fixed, non-trainable weights (set in the builder, saved with the model), so
that the file holds only built-in Keras layers and loads with ``keras.saving.load_model``.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from unet.networks.efficientnet_lite import efficientnet_lite_features
from unet.networks.efficientnet_unet import STANDARDIZED_TO_IMAGENET, decoder_block

STRIDES = (16, 8, 4, 2)


def _fixed_selection(x, kernel: np.ndarray, name: str):
    """A 1x1 convolution with the given fixed (1, 1, in, out) kernel: picks channels."""
    layer = layers.Conv2D(kernel.shape[-1], 1, use_bias=False, trainable=False, name=name)
    out = layer(x)
    layer.set_weights([kernel.astype(np.float32)])
    return out


def build_box_prompt_unet(
    input_size: int = 160,
    *,
    variant: str = "lite0",
    decoder_filters: tuple[int, ...] = (128, 64, 32, 16),
    dropout: float = 0.1,
    prompt: str = "box",
    name: str | None = None,
) -> keras.Model:
    """(size, size, 2) window and prompt -> (size, size, 1) lesion probability in the window.
    ``prompt`` names the second channel's layers ("box": the filled box; "click": the click's
    spot, ``unet/transforms/click_window.py``); the network is the same."""
    if input_size % 32:
        raise ValueError(f"input_size {input_size} must be divisible by 32")
    if len(decoder_filters) != len(STRIDES):
        raise ValueError("decoder_filters needs 4 entries (strides 16, 8, 4, 2)")
    inputs = keras.Input((input_size, input_size, 2), name=f"window_and_{prompt}")
    gray_to_rgb = np.zeros((1, 1, 2, 3), np.float32)
    gray_to_rgb[0, 0, 0, :] = 1.0
    take_prompt = np.zeros((1, 1, 2, 1), np.float32)
    take_prompt[0, 0, 1, 0] = 1.0
    x = _fixed_selection(inputs, gray_to_rgb, "gray_to_rgb")
    cue = _fixed_selection(inputs, take_prompt, prompt)
    scale, offset = STANDARDIZED_TO_IMAGENET
    x = layers.Rescaling(scale, offset=offset, name="imagenet_scaling")(x)
    features = efficientnet_lite_features(x, variant)
    x = layers.Identity(name="encoder_features")(features[32])
    if dropout > 0:
        x = layers.Dropout(dropout, name="bottleneck_dropout")(x)
    x = layers.Concatenate(name=f"dec32_{prompt}")(
        [x, layers.AveragePooling2D(32, name=f"{prompt}_pool32")(cue)])
    for stride, filters in zip(STRIDES, decoder_filters, strict=True):
        pooled = layers.AveragePooling2D(stride, name=f"{prompt}_pool{stride}")(cue)
        x = decoder_block(x, [features[stride], pooled], filters, name=f"dec{stride}")
    x = layers.Conv2D(1, 1, dtype="float32", name="logit")(x)
    x = layers.UpSampling2D(2, interpolation="bilinear", dtype="float32", name="logit_up")(x)
    outputs = layers.Activation("sigmoid", dtype="float32", name="probability")(x)
    return keras.Model(inputs, outputs, name=name or f"{prompt}_prompt_unet")
