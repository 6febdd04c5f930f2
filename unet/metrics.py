"""Overlap of two masks: the one Dice (and IoU) of the project. The app's ground-truth check,
the mirror agreement, the quality estimate's features and the training module's evaluation all
use these, so an empty-mask rule cannot differ between them."""

from __future__ import annotations

import numpy as np


def overlap(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Dice and IoU of two masks (anything non-zero is lesion); both empty counts as full
    agreement, 1.0."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    intersection = int(np.count_nonzero(a & b))
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    if total == 0:
        return {"dice": 1.0, "iou": 1.0}
    return {"dice": 2.0 * intersection / total, "iou": intersection / (total - intersection)}


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two masks; 1.0 when both are empty."""
    return overlap(a, b)["dice"]
