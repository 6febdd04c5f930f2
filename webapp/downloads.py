"""The files a user downloads: the mask PNG, the overlay PNG (with a legend band) and the JSON
report, named after the organ and the time, never after the upload."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

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
