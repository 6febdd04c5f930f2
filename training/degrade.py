"""Uploads as they often arrive, for measuring how a model copes: the same scan saved as a lossy
JPEG, or at a lower resolution (a screenshot or an export scaled down), at its original size so
the expert's outline still fits. Used by ``python -m training.evaluate --degrade NAME``."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import cv2
import numpy as np

from training.augment import lose_resolution


def as_jpeg(gray: np.ndarray, quality: int) -> np.ndarray:
    """The 8-bit gray image encoded as a JPEG of this quality (1-100) and decoded again."""
    ok, encoded = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)


def at_lower_resolution(gray: np.ndarray, factor: float) -> np.ndarray:
    """The 8-bit gray image down-sampled by ``factor`` and brought back to its size."""
    low = lose_resolution(gray.astype(np.float32) / 255.0, factor)
    return np.round(low * 255.0).astype(np.uint8)


DEGRADATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "jpeg50": partial(as_jpeg, quality=50),
    "half-resolution": partial(at_lower_resolution, factor=0.5),
}
