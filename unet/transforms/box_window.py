"""The square window a box-prompted network sees, and its answer put back into the frame.

A user's box around a lesion gives the network two things: where to look and how large the
lesion is. The window is a square around the box (its side the box's larger side times
``scale``; 2.2 at inference, 1.6-3.0 in training), cut from the frame with zero padding where it
runs past the image's edge, and resized to the network's input. The network's input has two
channels: the standardized gray window and the box drawn as a filled rectangle (1 inside, 0
outside). Shared by training (``training/box_prompt_data.py``) and inference
(``unet/inference/box_network.py``), so that both cut the same windows.

Coordinates: a box is ``(x0, y0, x1, y1)`` in frame pixels, x1 and y1 exclusive.
"""

from __future__ import annotations

import numpy as np

from unet.transforms.window import (
    MIN_WINDOW_SIDE,
    Window,
    centred_window,
    cut,
    paste,
    resize_window,
    stack_input,
)

__all__ = ["INFERENCE_SCALE", "Window", "box_channel", "cut", "network_input", "paste",
           "resize_window", "window_around", "window_input"]

INFERENCE_SCALE = 2.2  # window side / the box's larger side, at inference


def window_around(box, scale: float = INFERENCE_SCALE,
                  shift: tuple[float, float] = (0.0, 0.0)) -> Window:
    """The square window around ``box``: side ``scale`` times the box's larger side, centred on
    the box's centre moved by ``shift`` (dy, dx) times the side."""
    x0, y0, x1, y1 = box
    side = max(MIN_WINDOW_SIDE, int(round(scale * max(x1 - x0, y1 - y0))))
    return centred_window((y0 + y1) / 2 + shift[0] * side, (x0 + x1) / 2 + shift[1] * side,
                          side)


def box_channel(box, window: Window, size: int) -> np.ndarray:
    """The box as a filled rectangle (float32, 1 inside) on the resized window."""
    x0, y0, x1, y1 = box
    k = size / window.side
    channel = np.zeros((size, size), np.float32)
    r0, r1 = int(np.floor((y0 - window.y0) * k)), int(np.ceil((y1 - window.y0) * k))
    c0, c1 = int(np.floor((x0 - window.x0) * k)), int(np.ceil((x1 - window.x0) * k))
    channel[max(0, r0):max(0, r1), max(0, c0):max(0, c1)] = 1.0
    return channel


def network_input(gray_window: np.ndarray, box, window: Window) -> np.ndarray:
    """(size, size, 2) float32: the standardized gray window (values 0-1 of full scale before
    standardizing) and the box channel. ``gray_window`` is already resized to the side."""
    return stack_input(gray_window, box_channel(box, window, gray_window.shape[0]))


def window_input(gray: np.ndarray, box, window: Window, size: int) -> np.ndarray:
    """The network's input for ``box`` on a uint8 frame ``gray``."""
    pixels = resize_window(cut(gray, window), size).astype(np.float32) / 255.0
    return network_input(pixels, box, window)
