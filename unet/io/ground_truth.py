"""A ground-truth mask a user uploads next to the image, and its overlap with the prediction."""

from __future__ import annotations

import cv2
import numpy as np

from unet.errors import ImageInputError
from unet.io.reader import read_image
from unet.metrics import overlap

MSG_NOT_A_MASK = (
    "This file does not look like a mask: a ground-truth mask has only black and white pixels "
    "(white = lesion), but this one has many shades of grey, like a scan. Please upload the "
    "mask that belongs to this image, not the image itself."
)


def is_near_binary(pixels: np.ndarray, *, tolerance: float = 0.1,
                   min_share: float = 0.98) -> bool:
    """True when at least ``min_share`` of the pixels lie within ``tolerance`` (a share of the
    value range) of the darkest or the brightest value: a mask, even saved as JPEG, passes;
    a grey-scale scan does not."""
    lo, hi = int(pixels.min()), int(pixels.max())
    if hi == lo:
        return True  # an empty (or full) mask
    margin = tolerance * (hi - lo)
    extreme = (pixels <= lo + margin) | (pixels >= hi - margin)
    return float(extreme.mean()) >= min_share


def read_truth(source, shape: tuple[int, int]) -> tuple[np.ndarray, str]:
    """A ground-truth mask file as bool (H, W) at the image's ``shape``, and a note.

    Any image format the reader takes; lesion = brighter than half the file's maximum (so
    0/1, 0/255 and slightly compressed masks all work). A file with many grey levels (a scan,
    not a mask) is refused. A mask with the image's aspect ratio
    but another size is resized (nearest neighbour); another aspect ratio is refused.
    """
    try:
        loaded = read_image(source)
    except ImageInputError as exc:
        raise ImageInputError(f"Ground-truth mask: {exc}") from exc
    pixels = loaded.pixels
    if not is_near_binary(pixels):
        raise ImageInputError(MSG_NOT_A_MASK)
    top = int(pixels.max())
    mask = pixels > top / 2 if top > 0 else np.zeros(pixels.shape, bool)
    height, width = shape
    note = ""
    if mask.shape != (height, width):
        mh, mw = mask.shape
        if abs(mw / mh - width / height) > 0.02 * (width / height):
            raise ImageInputError(
                f"The ground-truth mask is {mw} x {mh} pixels but the image is {width} x "
                f"{height} pixels. Please upload the mask that belongs to this image."
            )
        mask = cv2.resize(mask.astype(np.uint8), (width, height),
                          interpolation=cv2.INTER_NEAREST).astype(bool)
        note = f"The mask ({mw} x {mh} px) was resized to the image's {width} x {height} px."
    return mask, note


def overlap_scores(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Dice and IoU of two bool masks (both empty counts as full agreement, 1.0)."""
    return overlap(predicted, truth)
