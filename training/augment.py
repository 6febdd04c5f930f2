"""Ultrasound-minded augmentation as small tf functions on (image, mask) pairs.

Geometry is shared by image and mask: horizontal flip, small rotation, scale and shift (a random
crop-and-resize when zooming in). No vertical flip: the transducer is at the top of the image.
Intensity only touches the image: gain, contrast, gamma, a depth gain ramp (time-gain
compensation set differently) and multiplicative speckle-like noise, then blur now and then.
Images are float32 in [0, 1] before `standardize`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf

from unet.preprocess import STD_FLOOR


@dataclass(frozen=True)
class AugmentConfig:
    flip: bool = True
    max_rotation_deg: float = 10.0
    scale_range: tuple[float, float] = (0.85, 1.2)
    max_shift: float = 0.08  # fraction of the side
    gain_range: tuple[float, float] = (0.7, 1.3)
    contrast_range: tuple[float, float] = (0.7, 1.4)
    gamma_range: tuple[float, float] = (0.7, 1.5)
    depth_gain: float = 0.3  # top-to-bottom gain ramp amplitude
    speckle_sigma: float = 0.15
    blur_probability: float = 0.2


def _affine(image, mask, cfg: AugmentConfig):
    size = tf.cast(tf.shape(image)[0], tf.float32)
    angle = tf.random.uniform([], -1.0, 1.0) * cfg.max_rotation_deg * math.pi / 180.0
    scale = tf.random.uniform([], *cfg.scale_range)
    tx = tf.random.uniform([], -cfg.max_shift, cfg.max_shift) * size
    ty = tf.random.uniform([], -cfg.max_shift, cfg.max_shift) * size
    c = size / 2.0
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    # output -> input mapping around the centre
    a0, a1 = cos, -sin
    b0, b1 = sin, cos
    a2 = c - a0 * c - a1 * c + tx
    b2 = c - b0 * c - b1 * c + ty
    transform = tf.stack([a0, a1, a2, b0, b1, b2, 0.0, 0.0])[None]
    stacked = tf.concat([image, mask], axis=-1)[None]
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=stacked,
        transforms=transform,
        output_shape=tf.shape(image)[:2],
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
        fill_value=0.0,
    )[0]
    return out[..., :1], out[..., 1:]


def _intensity(image, cfg: AugmentConfig):
    image = image * tf.random.uniform([], *cfg.gain_range)
    mean = tf.reduce_mean(image)
    image = (image - mean) * tf.random.uniform([], *cfg.contrast_range) + mean
    image = tf.clip_by_value(image, 0.0, 1.0)
    image = image ** tf.random.uniform([], *cfg.gamma_range)
    h = tf.shape(image)[0]
    ramp = tf.linspace(-0.5, 0.5, h)[:, None, None]
    image = image * (1.0 + tf.random.uniform([], -cfg.depth_gain, cfg.depth_gain) * ramp)
    sigma = tf.random.uniform([], 0.0, cfg.speckle_sigma)
    image = image * (1.0 + sigma * tf.random.normal(tf.shape(image)))
    if cfg.blur_probability > 0:
        kernel = tf.constant([1.0, 2.0, 1.0]) / 4.0
        k2 = (kernel[:, None] * kernel[None, :])[:, :, None, None]
        blurred = tf.nn.conv2d(image[None], k2, strides=1, padding="SAME")[0]
        image = tf.where(tf.random.uniform([]) < cfg.blur_probability, blurred, image)
    return tf.clip_by_value(image, 0.0, 1.0)


def standardize(image):
    """tf twin of unet.preprocess.standardize (per-image zero mean, unit variance)."""
    mean, var = tf.nn.moments(image, axes=[0, 1, 2])
    return (image - mean) / tf.maximum(tf.sqrt(var), STD_FLOOR)


def augment(image, mask, cfg: AugmentConfig):
    """Random geometry (shared) and intensity (image only); returns image in [0, 1], binary mask."""
    if cfg.flip:
        flip = tf.random.uniform([]) < 0.5
        image = tf.where(flip, tf.reverse(image, [1]), image)
        mask = tf.where(flip, tf.reverse(mask, [1]), mask)
    image, mask = _affine(image, mask, cfg)
    image = _intensity(image, cfg)
    return image, tf.cast(mask > 0.5, tf.float32)
