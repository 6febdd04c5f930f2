"""The U-Net builder: encoder, bottleneck and decoder with skip connections, Keras 3 functional API.

Only built-in Keras layers are used, so a saved `.keras` file loads with
`keras.saving.load_model(path, compile=False)` and no custom objects.
"""

from __future__ import annotations

import keras
from keras import layers

NORMALIZATIONS = ("batch", "group", "none")


def _normalization(kind: str, filters: int, name: str) -> layers.Layer | None:
    if kind == "batch":
        return layers.BatchNormalization(name=name)
    if kind == "group":
        return layers.GroupNormalization(groups=min(8, filters), name=name)
    if kind == "none":
        return None
    raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {kind!r}")


def conv_block(x, filters: int, *, normalization: str, name: str):
    """Two 3x3 convolutions, each followed by optional normalisation and ReLU."""
    for i in (1, 2):
        use_bias = normalization == "none"
        x = layers.Conv2D(filters, 3, padding="same", use_bias=use_bias, name=f"{name}_conv{i}")(x)
        norm = _normalization(normalization, filters, f"{name}_norm{i}")
        if norm is not None:
            x = norm(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    return x


def build_unet(
    input_size: int = 192,
    *,
    channels: int = 1,
    depth: int = 4,
    base_filters: int = 16,
    normalization: str = "batch",
    dropout: float = 0.0,
    name: str = "unet",
) -> keras.Model:
    """Build a U-Net mapping (size, size, channels) images to (size, size, 1) lesion probability.

    depth is the number of down-sampling steps; filters double at each step from base_filters.
    dropout is applied in the bottleneck. The output layer is float32 (safe under mixed precision).
    """
    if input_size % (2**depth):
        raise ValueError(f"input_size {input_size} must be divisible by 2**depth = {2**depth}")
    inputs = keras.Input((input_size, input_size, channels), name="image")
    x = inputs
    skips = []
    for level in range(depth):
        x = conv_block(x, base_filters * 2**level, normalization=normalization, name=f"enc{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)
    x = conv_block(x, base_filters * 2**depth, normalization=normalization, name="bottleneck")
    if dropout > 0:
        x = layers.Dropout(dropout, name="bottleneck_dropout")(x)
    for level in reversed(range(depth)):
        filters = base_filters * 2**level
        x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same", name=f"dec{level}_up")(x)
        x = layers.Concatenate(name=f"dec{level}_concat")([x, skips[level]])
        x = conv_block(x, filters, normalization=normalization, name=f"dec{level}")
    outputs = layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name="probability")(x)
    return keras.Model(inputs, outputs, name=name)


def load_model(path) -> keras.Model:
    """Load a saved U-Net for inference."""
    return keras.saving.load_model(path, compile=False)
