"""The files a user downloads: the mask PNG, the overlay PNG (with a legend band) and the JSON
report, named after the organ and the time, never after the upload."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from unet.files import mask_png, write_atomic, write_png


def file_stem(organ: str, when: datetime, image_id: str = "") -> str:
    """``breast_20261127-141205_3fa9c2d1``: organ, time (UTC, to the second) and a short hash
    of the image's pixels tell downloads apart; the upload's own name never appears (it may
    hold a patient's name)."""
    stem = f"{organ}_{when.astimezone(UTC):%Y%m%d-%H%M%S}"
    return f"{stem}_{image_id}" if image_id else stem


def write_outputs(out_dir: Path, mask: np.ndarray, overlay: np.ndarray, report: dict, *,
                  organ: str, when: datetime, image_id: str = "") -> dict[str, Path]:
    """``<organ>_<time>_mask.png`` (0/255 at the image's size), ``<organ>_<time>_overlay.png``
    and ``<organ>_<time>_report.json`` in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = file_stem(organ, when, image_id)
    files = {
        "mask": write_png(out_dir / f"{stem}_mask.png", mask_png(mask)),
        "overlay": write_png(out_dir / f"{stem}_overlay.png", overlay),
        "report": write_atomic(out_dir / f"{stem}_report.json",
                               json.dumps(report, indent=2, ensure_ascii=False)),
    }
    return files


_MODE_LEGENDS = {
    "filled": "red = lesion (probability >= {t:.2f})",
    "contour": "red line = lesion outline (probability >= {t:.2f})",
    "heatmap": "colour = lesion probability (threshold {t:.2f} not applied)",
    "uncertainty": "colour = disagreement of mirrored predictions (threshold {t:.2f})",
}


_GUIDED_LEGENDS = {
    "filled": "red = lesion, guided by the user ({given}; the threshold does not change it)",
    "contour": "red line = lesion outline, guided by the user ({given}; the threshold does not "
               "change it)",
}


def overlay_legend(organ_name: str, mode: str, threshold: float,
                   guided_by: str = "") -> list[str]:
    """The lines of the downloaded overlay's legend band; ``guided_by`` (``1 box``) where the
    user's prompts drew the outline."""
    legend = (_GUIDED_LEGENDS.get(mode, "").format(given=guided_by) if guided_by else "") \
        or _MODE_LEGENDS.get(mode, _MODE_LEGENDS["filled"]).format(t=threshold)
    return [f"{organ_name} model, threshold {threshold:.2f}: " + legend,
            "Research and teaching demo - NOT FOR DIAGNOSIS"]


def with_legend(rgb: np.ndarray, lines: list[str]) -> np.ndarray:
    """``rgb`` with a dark band below it carrying ``lines`` (wrapped to the image's width)."""
    height, width = rgb.shape[:2]
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.35, min(1.0, width / 1000))
    thickness = 1 if scale < 0.7 else 2
    (char_w, char_h), _ = cv2.getTextSize("M", font, scale, thickness)
    per_line = max(10, (width - 12) // max(1, char_w))
    wrapped = [part for line in lines for part in textwrap.wrap(line, per_line)]
    step = int(char_h * 1.8)
    band = np.full((step * len(wrapped) + step // 2, width, 3), 24, np.uint8)
    for i, text in enumerate(wrapped):
        cv2.putText(band, text, (6, step * (i + 1)), font, scale, (235, 235, 235), thickness,
                    cv2.LINE_AA)
    return np.vstack([rgb, band])
