"""From a probability map to a clean binary lesion mask."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["clean_mask", "component_at", "fill_holes", "largest_component",
           "remove_small_components", "min_area_from_fraction"]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every background region not connected to the image border filled.

    Background connectivity is 4 (the complement of the 8-connected foreground), so a hole
    touching the outside only through a diagonal gap still counts as a hole.
    """
    mask = np.asarray(mask, dtype=bool)
    height, width = mask.shape
    # Pad with background so that the flood fill from one corner reaches all border regions.
    padded = np.zeros((height + 2, width + 2), dtype=np.uint8)
    padded[1:-1, 1:-1] = mask
    flood_mask = np.zeros((height + 4, width + 4), dtype=np.uint8)
    cv2.floodFill(padded, flood_mask, (0, 0), 2, flags=4)
    return padded[1:-1, 1:-1] != 2


def component_at(mask: np.ndarray, point, max_distance: float = 0.0) -> np.ndarray:
    """The 8-connected component of ``mask`` that holds the pixel ``point`` (x, y), else the one
    with a pixel nearest to it, no farther than ``max_distance`` pixels; else empty."""
    mask = np.asarray(mask, dtype=bool)
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(mask.shape, bool)
    x, y = point
    label = labels[y, x]
    if label == 0:
        if max_distance <= 0:
            return np.zeros(mask.shape, bool)
        ys, xs = np.nonzero(labels)
        squared = (ys - y) ** 2 + (xs - x) ** 2
        nearest = int(np.argmin(squared))
        if squared[nearest] > max_distance ** 2:
            return np.zeros(mask.shape, bool)
        label = labels[ys[nearest], xs[nearest]]
    return labels == label


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of ``mask`` (empty where there is none)."""
    mask = np.asarray(mask, dtype=bool)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    if count <= 1:
        return np.zeros(mask.shape, bool)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def remove_small_components(mask: np.ndarray, min_area_px: int) -> np.ndarray:
    """``mask`` without its 8-connected components of fewer than ``min_area_px`` pixels."""
    mask = np.asarray(mask, dtype=bool)
    if min_area_px <= 1 or not mask.any():
        return mask.copy()
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    keep = np.zeros(count, dtype=bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area_px
    return keep[labels]


def clean_mask(
    probability: np.ndarray,
    threshold: float,
    *,
    min_area_px: int = 0,
    fill_holes: bool = True,
    min_peak: float = 0.0,
) -> np.ndarray:
    """Binary lesion mask: ``probability >= threshold``, holes filled, small specks removed.

    Args:
        probability: HxW map of lesion probabilities (any real dtype).
        threshold: pixels at or above it are lesion.
        min_area_px: 8-connected components smaller than this many pixels are dropped
            (after hole filling); 0 or 1 keeps everything.
        fill_holes: fill background regions enclosed by the lesion.
        min_peak: components whose highest probability is below this are dropped (a faint
            blob is not a lesion); 0 keeps everything.

    Returns:
        bool HxW mask.
    """
    probability = np.asarray(probability)
    if probability.ndim != 2:
        raise ValueError(f"probability must be a 2-D map, got shape {probability.shape}")
    mask = probability >= threshold
    if fill_holes and mask.any():
        mask = _fill_holes(mask)
    mask = remove_small_components(mask, int(min_area_px))
    return remove_faint_components(mask, probability, min_peak)


def remove_faint_components(
    mask: np.ndarray, probability: np.ndarray, min_peak: float
) -> np.ndarray:
    """``mask`` without the 8-connected components whose peak probability is below ``min_peak``."""
    mask = np.asarray(mask, dtype=bool)
    if min_peak <= 0 or not mask.any():
        return mask
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    peaks = np.zeros(count, dtype=np.float64)
    np.maximum.at(peaks, labels[mask], np.asarray(probability, dtype=np.float64)[mask])
    keep = peaks >= min_peak
    keep[0] = False
    return keep[labels]


# ``clean_mask`` has a keyword argument of the same name; keep a private alias to call.
_fill_holes = fill_holes


def min_area_from_fraction(shape: tuple[int, ...], fraction: float) -> int:
    """Smallest lesion area in pixels for an image of ``shape``: ``fraction`` of its pixels.

    ``fraction`` is a share of the image area (e.g. 0.002 = 0.2 %); the result is rounded to
    the nearest pixel and is never negative.
    """
    if not np.isfinite(fraction) or fraction < 0:
        raise ValueError(f"fraction must be a non-negative number, got {fraction}")
    return max(0, round(float(fraction) * int(shape[0]) * int(shape[1])))
