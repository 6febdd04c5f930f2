"""The field of view of a scanner screenshot: where the ultrasound image itself is.

Screenshots exported from a scanner carry a black frame with text, depth scales, tick marks,
logos and flat grey side panels around the image. ``find_field_of_view`` finds the image area
so that only it is segmented; ``crop`` and ``paste`` move arrays between the full screenshot and
the crop. Cropping is safe to apply to every upload: an image that is already cropped (speckle
everywhere) comes back (nearly) whole, and when nothing sensible is found the full image box is
returned - the function never fails on a 2-D image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Box", "find_field_of_view", "crop", "paste"]

# The analysis runs on a copy whose longer side is at most this many pixels (speed).
_WORK_SIZE = 512
# A pixel is "content" when its neighbourhood is brighter than black and textured.
_MIN_MEAN = 8.0
_MIN_STD = 2.0
# Structures thinner than this share of the shorter image side are removed (text, ticks, bars).
_OPENING_FRACTION = 1 / 9
# Components at least this share of the largest one are kept (several views side by side).
_SECOND_VIEW_FRACTION = 0.4
# Edge rows / columns of the found box where fewer than this share of pixels differ from their
# neighbour by at least _MIN_STEP grey levels are trimmed (black margins, lines, sparse text).
_TRIM_FRACTION = 0.08
_MIN_STEP = 2
# Runs of such rows / columns shorter than this share of the longest run are dropped.
_MINOR_RUN_FRACTION = 0.2
# Rows below the box join it while this share of their pixels is above the background level.
_DARK_ROW_FRACTION = 0.2


@dataclass(frozen=True)
class Box:
    """A pixel box ``[y0, y1) x [x0, x1)`` (exclusive ends), in full-image coordinates."""

    y0: int
    x0: int
    y1: int
    x1: int

    def __post_init__(self) -> None:
        if not (0 <= self.y0 < self.y1 and 0 <= self.x0 < self.x1):
            raise ValueError(f"invalid box {self.as_tuple()}: need 0 <= y0 < y1 and 0 <= x0 < x1")

    @classmethod
    def full(cls, shape: tuple[int, ...]) -> Box:
        """The box covering a whole image of ``shape`` (``(height, width, ...)``)."""
        return cls(0, 0, int(shape[0]), int(shape[1]))

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def area(self) -> int:
        return self.height * self.width

    @property
    def slice(self) -> tuple[slice, slice]:
        """``image[box.slice]`` is the cropped region."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def as_tuple(self) -> tuple[int, int, int, int]:
        return self.y0, self.x0, self.y1, self.x1

    def iou(self, other: Box) -> float:
        """Intersection over union of two boxes."""
        iy = max(0, min(self.y1, other.y1) - max(self.y0, other.y0))
        ix = max(0, min(self.x1, other.x1) - max(self.x0, other.x0))
        inter = iy * ix
        return inter / float(self.area + other.area - inter)


def _to_gray(image: np.ndarray) -> np.ndarray:
    """2-D uint8 view of an image given as HxW or HxWxC (colour is averaged)."""
    if image.ndim == 3 and image.shape[2] in (1, 3, 4):
        image = image[..., :3].mean(axis=2) if image.shape[2] > 1 else image[..., 0]
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grey image (or HxWxC), got shape {image.shape}")
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return image


def _content_mask(small: np.ndarray, window: int) -> np.ndarray:
    """Pixels whose neighbourhood is brighter than black and not flat (speckle-like)."""
    values = small.astype(np.float32)
    mean = cv2.blur(values, (window, window))
    mean_sq = cv2.blur(values * values, (window, window))
    std = np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))
    content = ((mean > _MIN_MEAN) & (std > _MIN_STD)).astype(np.float32)
    # Majority vote over a wider window: fills the scattered low-variance pixels of dark,
    # smooth tissue (which would otherwise break the opening below) and drops isolated specks.
    majority = cv2.blur(content, (2 * window + 1, 2 * window + 1))
    return majority > 0.5


def _span(good: np.ndarray, min_gap: int) -> tuple[int, int] | None:
    """``[start, end)`` of the main run of ``good`` entries.

    Runs separated by ``min_gap`` or more bad entries are separate; runs shorter than
    ``_MINOR_RUN_FRACTION`` of the longest are dropped (a text line below the image), the others
    kept together (two views side by side). Bad entries at both ends are excluded.
    """
    index = np.flatnonzero(good)
    if index.size == 0:
        return None
    breaks = np.flatnonzero(np.diff(index) > min_gap)
    starts = np.concatenate([index[:1], index[breaks + 1]])
    ends = np.concatenate([index[breaks], index[-1:]]) + 1
    lengths = ends - starts
    keep = lengths >= _MINOR_RUN_FRACTION * lengths.max()
    return int(starts[keep].min()), int(ends[keep].max())


def _trim(small: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Shrink ``box`` to the rows and columns that look like speckle.

    A row counts as speckle when enough of its pixels differ from their right neighbour, a
    column when enough differ from the pixel below. Black margins, straight lines running along
    the edge (a depth scale beside the image, a rule above it) change little along their own
    direction; text and tick marks are sparse. Such rows / columns are cut from the edges, and
    so is a text line separated from the image by a few black rows.
    """
    values = small.astype(np.int16)
    bright = values > _MIN_MEAN
    along_row = np.zeros(values.shape, dtype=bool)
    along_col = np.zeros(values.shape, dtype=bool)
    along_row[:, :-1] = (np.abs(np.diff(values, axis=1)) >= _MIN_STEP) & bright[:, :-1]
    along_col[:-1, :] = (np.abs(np.diff(values, axis=0)) >= _MIN_STEP) & bright[:-1, :]
    min_gap = max(2, round(0.01 * max(values.shape)))
    y0, x0, y1, x1 = box
    for _ in range(3):
        rows = _span(along_row[y0:y1, x0:x1].mean(axis=1) >= _TRIM_FRACTION, min_gap)
        if rows is None:
            break
        y0, y1 = y0 + rows[0], y0 + rows[1]
        cols = _span(along_col[y0:y1, x0:x1].mean(axis=0) >= _TRIM_FRACTION, min_gap)
        if cols is None:
            break
        x0, x1 = x0 + cols[0], x0 + cols[1]
    return y0, x0, y1, x1


def _extend_down(image: np.ndarray, box: Box) -> Box:
    """Grow ``box`` downwards over the dark, deep part of the image.

    Far from the probe the echoes are weak and the image can be almost black (a few grey
    levels) or a flat noise floor, too dark or too smooth for the texture test. Rows below the
    box are added while each is "dark image": at least ``_DARK_ROW_FRACTION`` of its pixels above
    the black level + 1 and half that share above black + 2 (a faint uniform line below the
    image is not), and almost no bright pixels (text is bright). The black level is the
    median outside the box, at most 2 (0 for a clean black frame); when the frame around the
    image is not black, rows must also be textured (a flat grey UI background is not). The
    black rows between the image and a label below it, or the label itself, stop the growth;
    the box grows by at most half its height.
    """
    if box.y1 >= image.shape[0]:
        return box
    outside = np.ones(image.shape, dtype=bool)
    outside[box.slice] = False
    step = max(1, round(np.sqrt(image.size / 65536)))  # a subsample is enough for a median
    sample = image[::step, ::step][outside[::step, ::step]]
    surround = float(np.median(sample if sample.size else image[outside]))
    black = min(surround, 2.0)
    below = image[box.y1 :, box.x0 : box.x1]
    passes = (below > black + 1).mean(axis=1) >= _DARK_ROW_FRACTION
    passes &= (below > black + 2).mean(axis=1) >= _DARK_ROW_FRACTION / 2  # not a faint rule
    passes &= (below >= 128).mean(axis=1) < 0.02
    if surround > 2.0 and below.shape[1] > 1:
        steps = np.abs(np.diff(below.astype(np.int16), axis=1)) >= 1
        passes &= steps.mean(axis=1) >= _DARK_ROW_FRACTION
    failing = np.flatnonzero(~passes)
    grow = int(failing[0]) if failing.size else below.shape[0]
    grow = min(grow, box.height // 2)
    return Box(box.y0, box.x0, box.y1 + grow, box.x1)


def find_field_of_view(gray: np.ndarray, *, min_fraction: float = 0.2) -> Box:
    """The box of the ultrasound image inside a scanner screenshot.

    Steps, on a copy downscaled to at most 512 px on the longer side:

    1. content = neighbourhood mean above black (> 8) and local standard deviation above a
       small floor, so black background and flat grey side panels are not content;
    2. a morphological opening with a square of 1/9 of the shorter side removes thin or small
       structures (text, depth scales, tick marks, grey-scale bars, logos);
    3. the largest connected component is the image. Other components at least 40 % of its
       area are kept too and the box covers all of them: two views side by side (a common
       thyroid layout) come back as one box spanning both, so the model sees both views;
    4. edge rows / columns of the box that are not speckle (black margins, lines along the
       edge, a text line separated by black rows) are trimmed and the box is scaled back to
       full resolution;
    5. the box grows downwards over the dark deep part of the image (weak echoes far from the
       probe) until a black row.

    When the result covers less than ``min_fraction`` of the image, or nothing is found (e.g. a
    blank image), the full image box is returned. An already-cropped image (speckle
    everywhere) gives (nearly) the full image, so cropping is safe on every upload.

    Args:
        gray: HxW image (HxWxC is averaged to grey); any numeric dtype, uint8 range expected.
        min_fraction: smallest acceptable share of the image area.

    Returns:
        The field of view as a :class:`Box` in full-image coordinates.
    """
    image = _to_gray(np.asarray(gray))
    height, width = image.shape
    full = Box.full(image.shape)
    if height < 8 or width < 8:
        return full

    scale = min(1.0, _WORK_SIZE / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    else:
        small = image
    sh, sw = small.shape

    window = max(3, round(min(sh, sw) / 60) | 1)
    content = _content_mask(small, window).astype(np.uint8)
    side = max(3, round(min(sh, sw) * _OPENING_FRACTION))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))
    opened = cv2.morphologyEx(content, cv2.MORPH_OPEN, kernel)

    count, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    if count <= 1:
        return full
    areas = stats[1:, cv2.CC_STAT_AREA]
    largest = int(areas.max())
    keep = np.flatnonzero(areas >= _SECOND_VIEW_FRACTION * largest) + 1
    left = stats[keep, cv2.CC_STAT_LEFT]
    top = stats[keep, cv2.CC_STAT_TOP]
    right = left + stats[keep, cv2.CC_STAT_WIDTH]
    bottom = top + stats[keep, cv2.CC_STAT_HEIGHT]
    small_box = (int(top.min()), int(left.min()), int(bottom.max()), int(right.max()))
    sy0, sx0, sy1, sx1 = _trim(small, small_box)

    # Back to full resolution; round outwards so that the image edge is not cut.
    fy, fx = height / sh, width / sw
    y0 = max(0, int(np.floor(sy0 * fy)))
    x0 = max(0, int(np.floor(sx0 * fx)))
    y1 = min(height, int(np.ceil(sy1 * fy)))
    x1 = min(width, int(np.ceil(sx1 * fx)))
    if y1 <= y0 or x1 <= x0:
        return full
    box = _extend_down(image, Box(y0, x0, y1, x1))
    if box.area < min_fraction * full.area:
        return full
    return box


def crop(gray: np.ndarray, box: Box) -> np.ndarray:
    """The region of ``gray`` inside ``box`` (a contiguous copy; extra channels are kept)."""
    if box.y1 > gray.shape[0] or box.x1 > gray.shape[1]:
        raise ValueError(f"box {box.as_tuple()} does not fit an image of shape {gray.shape}")
    return np.ascontiguousarray(gray[box.slice])


def paste(
    full_shape: tuple[int, ...], box: Box, values: np.ndarray, fill: float = 0.0
) -> np.ndarray:
    """A full-size array filled with ``fill`` with ``values`` (a crop of ``box``) put back.

    The result has the height and width of ``full_shape``, the trailing dimensions and dtype of
    ``values``; e.g. a probability map of the crop becomes one of the whole screenshot.
    """
    values = np.asarray(values)
    if values.shape[:2] != (box.height, box.width):
        raise ValueError(
            f"values of shape {values.shape} do not match box size {box.height}x{box.width}"
        )
    height, width = int(full_shape[0]), int(full_shape[1])
    if box.y1 > height or box.x1 > width:
        raise ValueError(f"box {box.as_tuple()} does not fit a shape of {full_shape}")
    out = np.full((height, width) + values.shape[2:], fill, dtype=values.dtype)
    out[box.slice] = values
    return out
