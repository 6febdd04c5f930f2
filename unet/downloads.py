"""The files a user downloads: the mask PNG, the overlay PNG and the JSON report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def write_png(path: Path, array: np.ndarray) -> Path:
    """Lossless PNG without metadata; (H, W) uint8 is written as 8-bit grey, (H, W, 3) as RGB."""
    # compress_level 1: lossless like any level, several times faster to write than the default
    Image.fromarray(np.ascontiguousarray(array)).save(path, format="PNG", compress_level=1)
    return path


def write_outputs(out_dir: Path, mask: np.ndarray, overlay: np.ndarray,
                  report: dict) -> dict[str, Path]:
    """``lesion_mask.png`` (0/255 at the image's size), ``overlay.png`` and ``report.json``.

    File names never contain the upload's name (it may hold a patient's name).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "mask": write_png(out_dir / "lesion_mask.png", np.where(mask, 255, 0).astype(np.uint8)),
        "overlay": write_png(out_dir / "overlay.png", overlay),
        "report": out_dir / "segmentation_report.json",
    }
    files["report"].write_text(json.dumps(report, indent=2))
    return files
