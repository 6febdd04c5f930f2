"""What a user types or uploads, checked: accepted file types, frame, scale and threshold."""

from __future__ import annotations

import math

from unet.errors import ImageInputError

UPLOAD_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif",
                   ".dcm", ".dicom", ".dic")


def parse_frame(value) -> int | None:
    """The frame number typed in the UI (None, or a whole number from 0)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if float(value) != int(value) or value < 0:
        raise ImageInputError("The frame number must be a whole number from 0 upwards.")
    return int(value)


def parse_scale(value) -> float | None:
    """The mm-per-pixel scale typed in the UI: None (pixels) or a positive number."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        return None
    return value


def parse_threshold(value) -> float | None:
    """A probability threshold strictly between 0 and 1, or None (the model's default)."""
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = float("nan")
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        raise ImageInputError("The threshold must be a number between 0 and 1, for example 0.5.")
    return value


def is_mask_file(name: str) -> bool:
    """A mask image shipped beside its scan (BUSI's ``benign (3)_mask.png`` and
    ``benign (3)_mask_1.png``, ``case_mask.png``): never segmented as a scan. The one rule for
    folders (the CLI), zip files (the Batch tab) and the examples folder."""
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower()
    return stem.endswith("_mask") or "_mask_" in stem


def is_upload(name: str) -> bool:
    """A file the app, the Batch tab and the CLI read: an accepted suffix, not a hidden file,
    not a mask file."""
    base = name.rsplit("/", 1)[-1]
    suffix = "." + base.rsplit(".", 1)[-1].lower() if "." in base else ""
    return suffix in UPLOAD_SUFFIXES and not base.startswith(".") and not is_mask_file(base)
