"""A U-Net whose encoder is EfficientNet-Lite (ImageNet-initialised at training time).

The input stays the app's single-channel standardized image
(unet.transforms.preprocess.to_model_input): the
model repeats the channel three times and maps the standardized values onto the range the
ImageNet weights expect ((pixel - 127) / 128; a typical ultrasound frame, mean about 0.25 and
standard deviation about 0.2 of full scale, lands at -0.5 + 0.4 * standardized value), so the
inference path is the same for every architecture. The decoder upsamples bilinearly and joins
the encoder's stride 16, 8, 4 and 2 features, two 3x3 convolutions with batch normalisation and
ReLU at each level; the lesion logit at stride 2 is upsampled bilinearly to the input size
(convolutions at full resolution would cost more than the whole encoder on a 2-core CPU).
The stride-32 encoder output is the layer named `encoder_features` (used by the organ check and
the teaching tab).

Only built-in Keras layers: a saved `.keras` file loads with `keras.saving.load_model`.
"""

from __future__ import annotations

import keras
from keras import layers

from unet.networks.efficientnet_lite import efficientnet_lite_features

STANDARDIZED_TO_IMAGENET = (0.4, -0.5)  # scale, offset


def decoder_block(x, skip, filters: int, *, name: str):
    """Upsample, join ``skip`` (a tensor, a list of tensors, or None), two conv-BN-ReLU."""
    x = layers.UpSampling2D(2, interpolation="bilinear", name=f"{name}_up")(x)
    skips = [] if skip is None else list(skip) if isinstance(skip, (list, tuple)) else [skip]
    if skips:
        x = layers.Concatenate(name=f"{name}_concat")([x, *skips])
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(name=f"{name}_norm{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    return x


def build_efficientnet_unet(
    input_size: int = 224,
    *,
    variant: str = "lite0",
    decoder_filters: tuple[int, ...] = (128, 64, 32, 16),
    dropout: float = 0.1,
    name: str = "efficientnet_unet",
) -> keras.Model:
    """(size, size, 1) standardized image -> (size, size, 1) lesion probability.

    decoder_filters: filters of the decoder levels at stride 16, 8, 4 and 2."""
    if input_size % 32:
        raise ValueError(f"input_size {input_size} must be divisible by 32")
    if len(decoder_filters) != 4:
        raise ValueError("decoder_filters needs 4 entries (strides 16, 8, 4, 2)")
    inputs = keras.Input((input_size, input_size, 1), name="image")
    x = layers.Concatenate(name="gray_to_rgb")([inputs, inputs, inputs])
    scale, offset = STANDARDIZED_TO_IMAGENET
    x = layers.Rescaling(scale, offset=offset, name="imagenet_scaling")(x)
    features = efficientnet_lite_features(x, variant)
    x = layers.Identity(name="encoder_features")(features[32])
    if dropout > 0:
        x = layers.Dropout(dropout, name="bottleneck_dropout")(x)
    for stride, filters in zip((16, 8, 4, 2), decoder_filters, strict=True):
        x = decoder_block(x, features[stride], filters, name=f"dec{stride}")
    x = layers.Conv2D(1, 1, dtype="float32", name="logit")(x)
    x = layers.UpSampling2D(2, interpolation="bilinear", dtype="float32", name="logit_up")(x)
    outputs = layers.Activation("sigmoid", dtype="float32", name="probability")(x)
    return keras.Model(inputs, outputs, name=name)
