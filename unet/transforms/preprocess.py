"""From a grayscale frame to the model's input tensor, and from its output back to the frame.

Training (training/pipeline.py) uses the same functions, so the model sees the same thing in both.
"""

from __future__ import annotations

import cv2
import numpy as np

STD_FLOOR = 0.02  # in [0, 1] intensity units; keeps a flat image from being blown up into noise


def resize_to_square(gray: np.ndarray, size: int) -> np.ndarray:
    """Resize a 2-D image to size x size (area when shrinking, linear when growing)."""
    h, w = gray.shape[:2]
    interp = cv2.INTER_AREA if size * size < h * w else cv2.INTER_LINEAR
    return cv2.resize(gray, (size, size), interpolation=interp)


def standardize(image: np.ndarray) -> np.ndarray:
    """Per-image zero mean, unit variance: removes the scanner's overall gain and contrast."""
    image = image.astype(np.float32)
    return (image - image.mean()) / max(float(image.std()), STD_FLOOR)


def to_model_input(gray: np.ndarray, size: int) -> np.ndarray:
    """uint8 (H, W) frame -> float32 (size, size, 1) standardized model input."""
    scaled = resize_to_square(gray, size).astype(np.float32) / 255.0
    return standardize(scaled)[..., None]


def probability_to_frame(probability: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a (size, size) probability map back to the frame's (H, W), values kept in [0, 1]."""
    h, w = shape
    out = cv2.resize(probability.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(out, 0.0, 1.0)
