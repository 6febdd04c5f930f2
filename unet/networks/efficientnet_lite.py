"""EfficientNet-Lite (Lite0-Lite4) as a Keras 3 functional builder.

EfficientNet-Lite is EfficientNet without squeeze-and-excitation and with ReLU6, made for mobile
CPUs (Tan and Le 2019; the Lite variants by the TensorFlow team). The stem and the head keep their
width and the first and last stages keep their depth at every size. Layer names follow the
blocks of the lukemelas EfficientNet-PyTorch layout (block i here is `_blocks.i` there), so
ImageNet weights in that layout map onto them one to one (see training/pretrained.py).

Convolutions use `padding="same"`, which pads like TensorFlow's 'SAME' (the layout of those
weights); batch normalisation uses epsilon 1e-3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
from keras import layers

BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99
STEM_FILTERS = 32
HEAD_FILTERS = 1280


@dataclass(frozen=True)
class Stage:
    repeats: int
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int


# EfficientNet-B0's stages; the Lite variants scale them like B0-B4 (without SE)
BASE_STAGES = (
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)

# variant: (width multiplier, depth multiplier, ImageNet resolution)
VARIANTS = {
    "lite0": (1.0, 1.0, 224),
    "lite1": (1.0, 1.1, 240),
    "lite2": (1.1, 1.2, 260),
    "lite3": (1.2, 1.4, 280),
    "lite4": (1.4, 1.8, 300),
}


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    filters *= width
    new = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    if new < 0.9 * filters:
        new += divisor
    return int(new)


@dataclass(frozen=True)
class Block:
    index: int
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int


def block_plan(variant: str) -> list[Block]:
    """Every MBConv block of the variant in order (the index matches `_blocks.i`)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    width, depth, _ = VARIANTS[variant]
    blocks = []
    last = len(BASE_STAGES) - 1
    for s, stage in enumerate(BASE_STAGES):
        f_in = STEM_FILTERS if s == 0 else round_filters(stage.filters_in, width)
        f_out = round_filters(stage.filters_out, width)
        repeats = stage.repeats if s in (0, last) else int(math.ceil(depth * stage.repeats))
        for r in range(repeats):
            blocks.append(Block(len(blocks), stage.kernel, stage.stride if r == 0 else 1,
                                stage.expand, f_in if r == 0 else f_out, f_out))
    return blocks


def _bn(name: str):
    return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)


def _relu6(name: str):
    return layers.ReLU(max_value=6.0, name=name)


def mbconv(x, block: Block):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project; identity skip if shapes match."""
    p = f"block{block.index}"
    inputs = x
    if block.expand != 1:
        x = layers.Conv2D(block.filters_in * block.expand, 1, use_bias=False,
                          name=f"{p}_expand_conv")(x)
        x = _relu6(f"{p}_expand_relu")(_bn(f"{p}_expand_bn")(x))
    x = layers.DepthwiseConv2D(block.kernel, strides=block.stride, padding="same",
                               use_bias=False, name=f"{p}_dwconv")(x)
    x = _relu6(f"{p}_dw_relu")(_bn(f"{p}_dw_bn")(x))
    x = layers.Conv2D(block.filters_out, 1, use_bias=False, name=f"{p}_project_conv")(x)
    x = _bn(f"{p}_project_bn")(x)
    if block.stride == 1 and block.filters_in == block.filters_out:
        x = layers.Add(name=f"{p}_add")([x, inputs])
    return x


def efficientnet_lite_features(x, variant: str = "lite0") -> dict[int, object]:
    """Run the encoder on an RGB-like tensor already scaled for the weights.

    Returns the last feature map at each stride: {2: ..., 4: ..., 8: ..., 16: ..., 32: ...}."""
    x = layers.Conv2D(STEM_FILTERS, 3, strides=2, padding="same", use_bias=False,
                      name="stem_conv")(x)
    x = _relu6("stem_relu")(_bn("stem_bn")(x))
    features = {2: x}
    stride = 2
    for block in block_plan(variant):
        stride *= block.stride
        x = mbconv(x, block)
        features[stride] = x
    return features


def build_efficientnet_lite_classifier(variant: str = "lite0", input_size: int | None = None,
                                       classes: int = 1000) -> keras.Model:
    """The ImageNet classifier on 0-255 RGB input (scaled inside by (x - 127) / 128).

    Used to check that converted weights are right; the segmentation model shares the encoder."""
    size = input_size or VARIANTS[variant][2]
    inputs = keras.Input((size, size, 3), name="rgb")
    x = layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="imagenet_scaling")(inputs)
    x = efficientnet_lite_features(x, variant)[32]
    x = layers.Conv2D(HEAD_FILTERS, 1, use_bias=False, name="head_conv")(x)
    x = _relu6("head_relu")(_bn("head_bn")(x))
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name=f"efficientnet_{variant}")
