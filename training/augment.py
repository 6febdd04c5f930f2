"""Ultrasound-minded augmentation of one (image, mask) pair with NumPy and OpenCV.

Geometry is shared by image and mask: horizontal flip, small rotation, scale and shift (zooming in
crops, zooming out pads with black as a narrower field of view would). No vertical flip: the
transducer is at the top of the image. Intensity only touches the image: gain, contrast, gamma, a
depth gain ramp (time-gain compensation set differently) and multiplicative speckle-like noise,
then a light blur now and then, and, where the recipe asks for it, a loss of resolution (the
image down-sampled and brought back to its size, as in a low-resolution screenshot or export).
Images are float32 in [0, 1]; backend-neutral (no framework ops), so the same code feeds
TensorFlow, JAX and PyTorch training.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


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
    # chance that the image loses resolution (down-sampled by a factor drawn from the range, then
    # brought back); 0 draws nothing, so the random stream of the other steps is unchanged
    resolution_loss_probability: float = 0.0
    resolution_loss_range: tuple[float, float] = (0.4, 0.8)


def random_affine(image: np.ndarray, mask: np.ndarray, cfg: AugmentConfig,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rotate, scale and shift image and mask together about the centre (black fill)."""
    h, w = image.shape
    angle = rng.uniform(-1.0, 1.0) * cfg.max_rotation_deg
    scale = rng.uniform(*cfg.scale_range)
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, scale)
    matrix[:, 2] += rng.uniform(-cfg.max_shift, cfg.max_shift, size=2) * (w, h)
    warp = dict(flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return (cv2.warpAffine(image, matrix, (w, h), **warp),
            cv2.warpAffine(mask, matrix, (w, h), **warp))


def random_intensity(image: np.ndarray, cfg: AugmentConfig,
                     rng: np.random.Generator) -> np.ndarray:
    """Gain, contrast, gamma, depth ramp, speckle and an occasional 3x3 blur; stays in [0, 1]."""
    image = image * rng.uniform(*cfg.gain_range)
    mean = float(image.mean())
    image = np.clip((image - mean) * rng.uniform(*cfg.contrast_range) + mean, 0.0, 1.0)
    image = image ** rng.uniform(*cfg.gamma_range)
    ramp = np.linspace(-0.5, 0.5, image.shape[0], dtype=np.float32)[:, None]
    image = image * (1.0 + rng.uniform(-cfg.depth_gain, cfg.depth_gain) * ramp)
    sigma = rng.uniform(0.0, cfg.speckle_sigma)
    image = image * (1.0 + sigma * rng.standard_normal(image.shape, dtype=np.float32))
    if rng.uniform() < cfg.blur_probability:
        image = cv2.GaussianBlur(image, (3, 3), 0.85)  # ~ the [1, 2, 1] / 4 kernel
    image = np.clip(image, 0.0, 1.0).astype(np.float32)
    if cfg.resolution_loss_probability > 0 and rng.uniform() < cfg.resolution_loss_probability:
        image = lose_resolution(image, rng.uniform(*cfg.resolution_loss_range))
    return image


def lose_resolution(image: np.ndarray, factor: float) -> np.ndarray:
    """The image down-sampled by ``factor`` (area average) and brought back to its size (linear):
    the fine texture of a full-resolution scan is gone, as in a low-resolution upload."""
    h, w = image.shape
    small = cv2.resize(image, (max(1, round(w * factor)), max(1, round(h * factor))),
                       interpolation=cv2.INTER_AREA)
    return np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def augment(image: np.ndarray, mask: np.ndarray, cfg: AugmentConfig,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """float32 (S, S) image in [0, 1] and (S, S) mask in {0, 1} -> augmented pair (mask binary)."""
    if cfg.flip and rng.uniform() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    image, mask = random_affine(np.ascontiguousarray(image), np.ascontiguousarray(mask), cfg, rng)
    return random_intensity(image, cfg, rng), (mask > 0.5).astype(np.float32)
