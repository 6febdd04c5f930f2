"""What the image reader (:mod:`unet.io.reader`) and the DICOM decoder (:mod:`unet.io.dicom`) share:
the decoded image type, the size and frame limits, and the pixel conversions.

Both modules import this one, and neither imports the other at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unet.errors import ImageInputError

MAX_PIXELS = 40_000_000
MIN_SIDE = 16

MSG_DAMAGED = (
    "The image file is incomplete or damaged and could not be read. "
    "Please export or copy it again and upload the new file."
)
MSG_TOO_LARGE = (
    "The image is too large: it has more than 40 million pixels. "
    "Please upload a smaller image, for example an export of a single view."
)


@dataclass(frozen=True)
class LoadedImage:
    """An uploaded image, ready for segmentation."""

    pixels: np.ndarray  # uint8, 2-D (H, W), grayscale, original size, EXIF orientation applied
    spacing_mm: tuple[float, float] | None  # (row_mm, col_mm) per pixel, only when stated
    source_format: str  # "PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF" or "DICOM"
    bit_depth: int  # bits of the original samples (1, 8, 16, 32 ...)


def check_size(width: int, height: int) -> None:
    """Reject sizes outside [MIN_SIDE, MAX_PIXELS]; used before decoding anything."""
    if width <= 0 or height <= 0:
        raise ImageInputError(MSG_DAMAGED)
    if width * height > MAX_PIXELS:
        raise ImageInputError(MSG_TOO_LARGE)
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImageInputError(
            f"The image is too small: each side must be at least {MIN_SIDE} pixels. "
            "Please upload the full ultrasound image."
        )


def check_frame(frame: int | None, n_frames: int) -> int:
    """Return the 0-based frame to read, or raise if the choice is missing or out of range."""
    if n_frames > 1 and frame is None:
        raise ImageInputError(
            f"This file contains {n_frames} frames (for example a video clip). "
            f"Please choose one frame, numbered from 0 to {n_frames - 1}."
        )
    if frame is None:
        return 0
    if not 0 <= frame < n_frames:
        if n_frames == 1:
            # the frame number was most likely meant for an earlier, multi-frame file
            raise ImageInputError(f"This file contains a single frame, so there is no frame "
                                  f"{frame}: leave the frame number empty (in the app: *Frame* "
                                  "under *Scale and frame*).")
        raise ImageInputError(
            f"There is no such frame: this file contains {n_frames} frames, "
            f"numbered from 0 to {n_frames - 1}."
        )
    return frame


def scale_to_uint8(values: np.ndarray, bits: int | None = None) -> np.ndarray:
    """Scale an array linearly from its own min..max to 0..255.

    If all values are equal the array is scaled by its bit range (``bits``, when given) so
    that a constant image keeps a meaningful gray level; otherwise it becomes 0.
    """
    v = values.astype(np.float64, copy=False)
    finite = np.isfinite(v)
    if not finite.all():
        if not finite.any():
            raise ImageInputError(MSG_DAMAGED)
        v = np.where(finite, v, np.nanmin(np.where(finite, v, np.nan)))
    lo, hi = float(v.min()), float(v.max())
    if hi > lo:
        out = (v - lo) * (255.0 / (hi - lo))
    elif bits is not None and bits > 0 and lo >= 0:
        out = np.full(v.shape, lo * 255.0 / (2.0**bits - 1.0))
    else:
        out = np.zeros(v.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of an (H, W, 3) array, as float64 in the input's value range."""
    rgb = rgb.astype(np.float64, copy=False)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
