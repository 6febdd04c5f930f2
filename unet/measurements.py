"""Lesion measurements from a binary mask: areas, diameters, probabilities.

Everything here is plain data that ``json.dumps`` accepts after ``to_dict()``. Pixel spacing is
``(row_mm, col_mm)``: the height and the width of one pixel in millimetres; without it all
lengths are in pixels and the mm fields are None.

Diameters. The longest diameter is the largest distance between two pixel centres of the
lesion (found on the convex hull of its outer contour), plus one pixel in that direction; the
perpendicular diameter is the longest extent of the lesion perpendicular to that axis (pixel
centres projected on the perpendicular direction, within 1-pixel bands along the axis), also
plus one pixel. Adding one pixel makes a run of n pixels measure n pixels, consistent with the
pixel-count area: a filled disc drawn with radius r (2r + 1 pixels across) measures 2r + 1.
With anisotropic spacing the points are converted to millimetres first and the distances are
found in millimetres; "one pixel" is then the length of one pixel step along the direction.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

__all__ = ["Lesion", "Measurements", "measure_lesions"]


@dataclass
class Lesion:
    """One connected lesion (8-connectivity). Coordinates are ``(y, x)`` in pixels."""

    index: int  # 1-based, lesions sorted by area, largest first
    area_px: int
    area_mm2: float | None
    image_fraction: float  # area_px / number of image pixels
    bbox: tuple[int, int, int, int]  # (y0, x0, y1, x1), exclusive ends
    centroid: tuple[float, float]  # (y, x)
    longest_diameter_px: float
    perpendicular_diameter_px: float
    longest_diameter_mm: float | None
    perpendicular_diameter_mm: float | None
    mean_probability: float
    max_probability: float
    # "model": the automatic answer's region; "prompt": drawn by the user's box or click
    outlined_by: str = "model"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["bbox"] = list(self.bbox)
        data["centroid"] = list(self.centroid)
        return data


@dataclass
class Measurements:
    """All lesions of one image, largest first."""

    lesions: list[Lesion]
    unit: str  # "mm" when a pixel spacing is known, else "px"
    spacing_mm: tuple[float, float] | None  # (row_mm, col_mm)
    image_shape: tuple[int, int]
    lesion_found: bool = field(init=False)

    def __post_init__(self) -> None:
        self.lesion_found = bool(self.lesions)

    def to_dict(self) -> dict:
        """JSON-ready: only dicts, lists, str, bool, int, float and None."""
        return {
            "lesion_found": self.lesion_found,
            "unit": self.unit,
            "spacing_mm": None if self.spacing_mm is None else list(self.spacing_mm),
            "image_shape": list(self.image_shape),
            "lesion_count": len(self.lesions),
            "lesions": [lesion.to_dict() for lesion in self.lesions],
            "coordinates": ("pixels from the image's top-left corner: bbox is [y0, x0, y1, x1] "
                            "(rows y down, columns x right, ends exclusive), centroid is [y, x]"),
            "summary": self.summary,
        }

    @property
    def summary(self) -> str:
        """One line for people, e.g. ``1 lesion: 12.3 x 8.1 mm, area 78.4 mm²``."""
        if not self.lesions:
            return "No lesion found"
        largest = self.lesions[0]
        if self.unit == "mm":
            size = (
                f"{largest.longest_diameter_mm:.1f} x {largest.perpendicular_diameter_mm:.1f} mm, "
                f"area {largest.area_mm2:.1f} mm²"
            )
        else:
            size = (
                f"{largest.longest_diameter_px:.0f} x {largest.perpendicular_diameter_px:.0f} px, "
                f"area {largest.area_px:,} px²"
            )
        if len(self.lesions) == 1:
            return f"1 lesion: {size}"
        return f"{len(self.lesions)} lesions; largest: {size}"


def _validate_spacing(spacing_mm: tuple[float, float] | None) -> tuple[float, float] | None:
    if spacing_mm is None:
        return None
    if len(spacing_mm) != 2:
        raise ValueError(f"spacing_mm must be (row_mm, col_mm), got {spacing_mm!r}")
    row_mm, col_mm = (float(value) for value in spacing_mm)
    if not (math.isfinite(row_mm) and math.isfinite(col_mm) and row_mm > 0 and col_mm > 0):
        raise ValueError(f"spacing_mm must be two positive numbers, got {spacing_mm!r}")
    return row_mm, col_mm


def _pixel_step(direction: np.ndarray, scale: np.ndarray) -> float:
    """Length (in scaled units) of one pixel step along the unit ``direction`` (scaled units).

    ``scale`` is ``(row, col)`` units per pixel. In pixels the direction is
    ``direction / scale``; one pixel along it is ``1 / |direction / scale|`` scaled units.
    """
    return 1.0 / float(np.hypot(*(direction / scale)))


def _diameters(component: np.ndarray, scale: np.ndarray) -> tuple[float, float]:
    """``(longest, perpendicular)`` diameters of one component, in the units of ``scale``.

    ``component`` is the bool crop of the component, ``scale`` = (row, col) units per pixel.
    """
    contours, _ = cv2.findContours(
        component.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    points = np.concatenate([c.reshape(-1, 2) for c in contours], axis=0)  # (x, y)
    hull = cv2.convexHull(points.astype(np.int32)).reshape(-1, 2)
    yx = hull[:, ::-1].astype(np.float64) * scale  # (y, x) in scaled units
    if len(yx) == 1:
        longest_span, direction = 0.0, np.array([0.0, 1.0])
    else:
        differences = yx[:, None, :] - yx[None, :, :]
        distances = np.hypot(differences[..., 0], differences[..., 1])
        i, j = np.unravel_index(int(np.argmax(distances)), distances.shape)
        longest_span = float(distances[i, j])
        direction = differences[i, j] / longest_span if longest_span > 0 else np.array([0.0, 1.0])
    longest = longest_span + _pixel_step(direction, scale)

    # Perpendicular extent: project every pixel centre on the axis (u) and the normal (v);
    # in each 1-pixel band along the axis take max(v) - min(v).
    normal = np.array([-direction[1], direction[0]])
    ys, xs = np.nonzero(component)
    centres = np.stack([ys, xs], axis=1).astype(np.float64) * scale
    u = centres @ direction
    v = centres @ normal
    band_width = _pixel_step(direction, scale)
    bands = np.floor((u - u.min()) / band_width).astype(np.int64)
    highest = np.full(int(bands.max()) + 1, -np.inf)
    lowest = np.full(int(bands.max()) + 1, np.inf)
    np.maximum.at(highest, bands, v)  # unbuffered per-band max/min: no sort needed
    np.minimum.at(lowest, bands, v)
    filled = np.isfinite(highest)
    spans = highest[filled] - lowest[filled]
    perpendicular = float(spans.max()) + _pixel_step(normal, scale)
    return longest, perpendicular


def measure_lesions(
    mask: np.ndarray,
    probability: np.ndarray,
    spacing_mm: tuple[float, float] | None = None,
    *,
    prompted: np.ndarray | None = None,
) -> Measurements:
    """Measure every 8-connected lesion of ``mask``.

    Args:
        mask: bool HxW lesion mask (e.g. from ``postprocess.clean_mask``).
        probability: HxW probability map, for the mean / max probability per lesion.
        spacing_mm: ``(row_mm, col_mm)`` pixel size in millimetres, or None (pixels only).
        prompted: bool HxW, the pixels a user's prompts outlined: a lesion touching them is
            ``outlined_by="prompt"``, the others ``"model"``; None: all ``"model"``.

    Returns:
        :class:`Measurements`, lesions sorted by area (largest first, index 1).
    """
    mask = np.asarray(mask, dtype=bool)
    probability = np.asarray(probability, dtype=np.float64)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    if probability.shape != mask.shape:
        raise ValueError(
            f"probability shape {probability.shape} does not match mask shape {mask.shape}"
        )
    spacing = _validate_spacing(spacing_mm)
    height, width = mask.shape
    unit = "px" if spacing is None else "mm"
    scale_mm = None if spacing is None else np.array(spacing, dtype=np.float64)
    scale_px = np.array([1.0, 1.0])

    count, labels, stats, centroids = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    order = sorted(range(1, count), key=lambda k: (-int(stats[k, cv2.CC_STAT_AREA]), k))
    lesions = []
    for index, label in enumerate(order, start=1):
        x0 = int(stats[label, cv2.CC_STAT_LEFT])
        y0 = int(stats[label, cv2.CC_STAT_TOP])
        x1 = x0 + int(stats[label, cv2.CC_STAT_WIDTH])
        y1 = y0 + int(stats[label, cv2.CC_STAT_HEIGHT])
        area = int(stats[label, cv2.CC_STAT_AREA])
        component = labels[y0:y1, x0:x1] == label
        values = probability[y0:y1, x0:x1][component]
        longest_px, perpendicular_px = _diameters(component, scale_px)
        if scale_mm is not None:
            longest_mm, perpendicular_mm = _diameters(component, scale_mm)
            area_mm2 = area * float(scale_mm[0] * scale_mm[1])
        else:
            longest_mm = perpendicular_mm = area_mm2 = None
        lesions.append(
            Lesion(
                index=index,
                area_px=area,
                area_mm2=area_mm2,
                image_fraction=area / float(height * width),
                bbox=(y0, x0, y1, x1),
                centroid=(float(centroids[label, 1]), float(centroids[label, 0])),
                longest_diameter_px=float(longest_px),
                perpendicular_diameter_px=float(perpendicular_px),
                longest_diameter_mm=None if longest_mm is None else float(longest_mm),
                perpendicular_diameter_mm=(
                    None if perpendicular_mm is None else float(perpendicular_mm)
                ),
                mean_probability=float(values.mean()),
                max_probability=float(values.max()),
                outlined_by=("prompt" if prompted is not None
                             and prompted[y0:y1, x0:x1][component].any() else "model"),
            )
        )
    return Measurements(
        lesions=lesions,
        unit=unit,
        spacing_mm=spacing,
        image_shape=(int(height), int(width)),
    )
