"""Faint candidates: regions the model leaned towards but its operating point left out.

An empty automatic answer is not the same as "no lesion": on another hospital's scans the model
misses small lesions, and often its probability there is raised but left out by its operating
point (below the threshold, or too faint or small for the clean-up). A
candidate is a connected region where the probability reaches ``FLOOR_SHARE`` of the threshold,
at least the mask's smallest lesion size, and that the delivered mask does not cover. The app
draws candidates as dashed outlines ("possible lesion the model left out: click it to
accept"), and the JSON report and the measurements CSV list them. A lesion click on one makes
it part of the mask (``unet.inference.prompts.click_outline`` thresholds at half its peak).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FLOOR_SHARE = 0.4  # a candidate's probability reaches this share of the threshold
MAX_CANDIDATES = 3  # the strongest few; more would be noise on the screen


@dataclass(frozen=True)
class Candidate:
    region: np.ndarray  # bool (H, W)
    peak_probability: float
    area_px: int
    bbox: tuple[int, int, int, int]  # y0, x0, y1, x1 (exclusive ends)
    centroid: tuple[float, float]  # y, x

    def to_dict(self) -> dict:
        return {"peak_probability": round(self.peak_probability, 4),
                "area_px": self.area_px,
                "bbox": list(self.bbox),
                "centroid": [round(v, 1) for v in self.centroid]}


def find_candidates(probability: np.ndarray, mask: np.ndarray, threshold: float,
                    min_area_px: int) -> list[Candidate]:
    """The strongest regions of ``probability >= FLOOR_SHARE * threshold`` that ``mask`` does
    not touch, at least ``min_area_px`` (and 4 px) large, strongest first."""
    floor = FLOOR_SHARE * float(threshold)
    binary = (probability >= floor).astype(np.uint8)
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(binary, connectivity=8)
    found = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < max(4, int(min_area_px)):
            continue
        region = labels == i
        if (region & mask).any():
            continue
        peak = float(probability[region].max())
        found.append(Candidate(region, peak, area, (y, x, y + h, x + w),
                               (float(centroids[i][1]), float(centroids[i][0]))))
    found.sort(key=lambda c: c.peak_probability, reverse=True)
    return found[:MAX_CANDIDATES]


def draw_dashed_outline(image: np.ndarray, region: np.ndarray, color, thickness: int,
                        dash: int = 0) -> None:
    """Draw ``region``'s outline on ``image`` (RGB, in place) as dashes of ``dash`` px with
    gaps of the same length (0: scaled to the image, about 1.5 % of its shorter side)."""
    dash = dash or max(4, int(0.015 * min(image.shape[:2])))
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    color = tuple(int(c) for c in color)
    for contour in contours:
        points = contour[:, 0, :]
        for start in range(0, len(points), 2 * dash):
            segment = points[start:start + dash + 1]
            if len(segment) > 1:
                cv2.polylines(image, [segment.reshape(-1, 1, 2)], False, color, thickness)
