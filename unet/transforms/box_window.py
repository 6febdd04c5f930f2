"""The square window a box-prompted network sees, and its answer put back into the frame.

A user's box around a lesion gives the network two things: where to look and how large the
lesion is. The window is a square around the box (its side the box's larger side times
``scale``; 2.2 at inference, 1.6-3.0 in training), cut from the frame with zero padding where it
runs past the image's edge, and resized to the network's input. The network's input has two
channels: the standardized gray window and the box drawn as a filled rectangle (1 inside, 0
outside). Shared by training (``training/box_prompt_data.py``) and inference
(``unet/inference/box_segmenter.py``), so that both cut the same windows.

Coordinates: a box is ``(x0, y0, x1, y1)`` in frame pixels, x1 and y1 exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from unet.transforms.preprocess import standardize

INFERENCE_SCALE = 2.2  # window side / the box's larger side, at inference
MIN_WINDOW_SIDE = 16  # pixels of the frame: tiny boxes still get some context


@dataclass(frozen=True)
class Window:
    """A square of the frame, which may run past its edges: top-left corner and side (px)."""

    y0: int
    x0: int
    side: int


def window_around(box, scale: float = INFERENCE_SCALE,
                  shift: tuple[float, float] = (0.0, 0.0)) -> Window:
    """The square window around ``box``: side ``scale`` times the box's larger side, centred on
    the box's centre moved by ``shift`` (dy, dx) times the side."""
    x0, y0, x1, y1 = box
    side = max(MIN_WINDOW_SIDE, int(round(scale * max(x1 - x0, y1 - y0))))
    cy = (y0 + y1) / 2 + shift[0] * side
    cx = (x0 + x1) / 2 + shift[1] * side
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


def box_channel(box, window: Window, size: int) -> np.ndarray:
    """The box as a filled rectangle (float32, 1 inside) on the resized window."""
    x0, y0, x1, y1 = box
    k = size / window.side
    channel = np.zeros((size, size), np.float32)
    r0, r1 = int(np.floor((y0 - window.y0) * k)), int(np.ceil((y1 - window.y0) * k))
    c0, c1 = int(np.floor((x0 - window.x0) * k)), int(np.ceil((x1 - window.x0) * k))
    channel[max(0, r0):max(0, r1), max(0, c0):max(0, c1)] = 1.0
    return channel


def resize_window(pixels: np.ndarray, size: int) -> np.ndarray:
    """A window's pixels resized to the network's side (area when shrinking)."""
    interpolation = cv2.INTER_AREA if pixels.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(pixels, (size, size), interpolation=interpolation)


def network_input(gray_window: np.ndarray, box, window: Window) -> np.ndarray:
    """(size, size, 2) float32: the standardized gray window (values 0-1 of full scale before
    standardizing) and the box channel. ``gray_window`` is already resized to the side."""
    size = gray_window.shape[0]
    image = standardize(gray_window.astype(np.float32))
    return np.stack([image, box_channel(box, window, size)], axis=-1).astype(np.float32)


def window_input(gray: np.ndarray, box, window: Window, size: int) -> np.ndarray:
    """The network's input for ``box`` on a uint8 frame ``gray``."""
    pixels = resize_window(cut(gray, window), size).astype(np.float32) / 255.0
    return network_input(pixels, box, window)


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
