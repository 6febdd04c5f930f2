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
