"""Lesion-free tissue cut from a lesion image beside the expert's outline.

BUS-BRA has no normal scans, so its four scanners show a model no lesion-free tissue. Strips of
each frame beside the outlined lesion are that tissue (what the expert did not mark): training
adds them as negatives (``training.run``), and the evaluation counts how often the model still
reports a lesion on them (``training.evaluate``), per data set and scanner.
"""

from __future__ import annotations

import numpy as np

MIN_CROP_FRACTION = 0.3  # a lesion-free crop covers at least this share of the field of view
CROP_MARGIN = 0.04  # and keeps this share of the side away from the lesion's box


def lesion_free_crop(gray: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """The largest strip of the frame beside the lesion's box (left, right, above or below) that
    keeps a margin from it, covers MIN_CROP_FRACTION of the frame and has an aspect within 1:2;
    None when there is none."""
    if not mask.any():
        return None
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    my, mx = int(CROP_MARGIN * h), int(CROP_MARGIN * w)
    y0, y1 = max(0, ys.min() - my), min(h, ys.max() + 1 + my)
    x0, x1 = max(0, xs.min() - mx), min(w, xs.max() + 1 + mx)
    candidates = [(slice(0, h), slice(0, x0)), (slice(0, h), slice(x1, w)),
                  (slice(0, y0), slice(0, w)), (slice(y1, h), slice(0, w))]
    best, best_area = None, 0
    for sy, sx in candidates:
        ch, cw = sy.stop - sy.start, sx.stop - sx.start
        if ch <= 0 or cw <= 0:
            continue
        # trim the long side to an aspect of at most 2, keeping the centre
        if cw > 2 * ch:
            cut = (cw - 2 * ch) // 2
            sx = slice(sx.start + cut, sx.start + cut + 2 * ch)
        elif ch > 2 * cw:
            cut = (ch - 2 * cw) // 2
            sy = slice(sy.start + cut, sy.start + cut + 2 * cw)
        area = (sy.stop - sy.start) * (sx.stop - sx.start)
        if area >= MIN_CROP_FRACTION * h * w and area > best_area:
            best, best_area = (sy, sx), area
    if best is None:
        return None
    crop = gray[best]
    return crop if not mask[best].any() else None
