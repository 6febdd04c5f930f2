"""A square window of the frame, as a prompted network sees it, and its answer put back.

A prompted network (``unet/networks/box_prompt_unet.py``) looks at a square of the frame around
the user's prompt: cut with zero padding where it runs past the image's edge, resized to the
network's side, and stacked with a second channel that draws the prompt. Where the window sits
and how large it is depends on the prompt (``box_window.py``, ``click_window.py``); cutting,
resizing, stacking and pasting back are the same for every prompt and live here.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from unet.transforms.preprocess import standardize

MIN_WINDOW_SIDE = 16  # pixels of the frame: tiny prompts still get some context


@dataclass(frozen=True)
class Window:
    """A square of the frame, which may run past its edges: top-left corner and side (px)."""

    y0: int
    x0: int
    side: int


def centred_window(cy: float, cx: float, side: float) -> Window:
    """The square of ``side`` pixels (at least ``MIN_WINDOW_SIDE``) centred on (cy, cx)."""
    side = max(MIN_WINDOW_SIDE, int(round(side)))
    return Window(int(round(cy - side / 2)), int(round(cx - side / 2)), side)


def cut(frame: np.ndarray, window: Window) -> np.ndarray:
    """The window's pixels (side x side), zero past the frame's edges."""
    h, w = frame.shape[:2]
    out = np.zeros((window.side, window.side), frame.dtype)
    ys, xs = max(0, window.y0), max(0, window.x0)
    ye, xe = min(h, window.y0 + window.side), min(w, window.x0 + window.side)
    if ye > ys and xe > xs:
        out[ys - window.y0:ye - window.y0, xs - window.x0:xe - window.x0] = frame[ys:ye, xs:xe]
    return out


def resize_window(pixels: np.ndarray, size: int) -> np.ndarray:
    """A window's pixels resized to the network's side (area when shrinking)."""
    interpolation = cv2.INTER_AREA if pixels.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(pixels, (size, size), interpolation=interpolation)


def stack_input(gray_window: np.ndarray, prompt_channel: np.ndarray) -> np.ndarray:
    """(size, size, 2) float32: the standardized gray window (values 0-1 of full scale, already
    resized to the network's side) and the prompt's channel."""
    image = standardize(gray_window.astype(np.float32))
    return np.stack([image, prompt_channel], axis=-1).astype(np.float32)


def paste(probability: np.ndarray, window: Window, shape: tuple[int, int]) -> np.ndarray:
    """The window's (size x size) probability in frame coordinates (0 outside the window)."""
    h, w = shape
    full = cv2.resize(probability.astype(np.float32), (window.side, window.side),
                      interpolation=cv2.INTER_LINEAR)
    out = np.zeros((h, w), np.float32)
    ys, xs = max(0, window.y0), max(0, window.x0)
    ye, xe = min(h, window.y0 + window.side), min(w, window.x0 + window.side)
    if ye > ys and xe > xs:
        out[ys:ye, xs:xe] = full[ys - window.y0:ye - window.y0, xs - window.x0:xe - window.x0]
    return out


def touches_edge(region: np.ndarray, window: Window, shape: tuple[int, int],
                 margin: int = 1) -> bool:
    """Whether a frame-sized bool ``region`` reaches the window's border (within ``margin``
    pixels) where that border lies inside the frame: the window cut the answer short."""
    h, w = shape
    ys, xs = np.nonzero(region)
    if ys.size == 0:
        return False
    y1, x1 = window.y0 + window.side - 1, window.x0 + window.side - 1
    return bool((window.y0 > 0 and ys.min() <= window.y0 + margin)
                or (window.x0 > 0 and xs.min() <= window.x0 + margin)
                or (y1 < h - 1 and ys.max() >= y1 - margin)
                or (x1 < w - 1 and xs.max() >= x1 - margin))
