"""The square window a click-prompted network sees around a user's click on a lesion.

A click says where the lesion is but not how large it is, so the window is set by the image,
not the lesion: a square of ``share`` times the image's shorter side centred on the click
(``ClickShares``: 0.35 at inference, or 0.6 when the answer reaches the window's edge, unless the
network's card says otherwise; 0.25-0.7 in training, with the centre moved by up to
``training.click_prompt_data.MAX_SHIFT`` of the side). Once the network has answered, its answer
says roughly how large the lesion is: a last look is sized by it (``ClickShares.sized``,
``LESION_FACTOR`` times the answer's larger side, within the training range),
cut with zero padding where it runs past the image's edge. The second channel is the click as
a Gaussian spot (1 at the click, standard deviation ``SPOT_SIGMA`` of the network's side), the
click encoding of interactive segmentation (a disc or distance map around each click, as in
RITM). Shared by training (``training/click_prompt_data.py``) and inference
(``unet/inference/click_network.py``).

Coordinates: a click ``(x, y)`` is a pixel of the frame (column, row, from 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unet.transforms.window import Window, centred_window, cut, resize_window, stack_input

INFERENCE_SHARE = 0.35  # window side / the image's shorter side, at inference
WIDE_SHARE = 0.6  # the second look, where the first answer reaches the window's edge
TRAINING_SHARE_RANGE = (0.25, 0.7)  # the training windows' sides (the recipe's default)
LESION_FACTOR = 2.2  # the sized look: window side / the first answer's larger side
SPOT_SIGMA = 0.04  # the click's spot: standard deviation as a share of the network's side


@dataclass(frozen=True)
class ClickShares:
    """A click network's windows at inference, as shares of the image's shorter side: the
    first look, the wider one where the first answer reaches the window's edge, and the sized
    look: ``lesion_factor`` times the larger side of the answer so far (None: no sized look),
    kept within ``share_range``, the range the network was trained on. Each network's card
    records its own (``window``); a card without them means the defaults."""

    first: float = INFERENCE_SHARE
    wide: float = WIDE_SHARE
    lesion_factor: float | None = LESION_FACTOR
    share_range: tuple[float, float] = TRAINING_SHARE_RANGE

    @classmethod
    def from_card(cls, card: dict) -> ClickShares:
        window = card.get("window") or {}
        factor = window.get("lesion_factor", LESION_FACTOR)
        return cls(float(window.get("share", INFERENCE_SHARE)),
                   float(window.get("wide_share", WIDE_SHARE)),
                   None if factor is None else float(factor),
                   tuple(float(v) for v in window.get("training_share_range",
                                                      TRAINING_SHARE_RANGE)))

    def to_card(self) -> dict:
        return {"share": self.first, "wide_share": self.wide, "lesion_factor": self.lesion_factor,
                "training_share_range": list(self.share_range)}

    def sized(self, region: np.ndarray) -> float:
        """The sized look's share for a frame-sized bool answer (not empty)."""
        ys, xs = np.nonzero(region)
        larger = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
        low, high = self.share_range
        return float(np.clip(self.lesion_factor * larger / min(region.shape), low, high))


def window_at_click(point, shape: tuple[int, int], share: float = INFERENCE_SHARE,
                    shift: tuple[float, float] = (0.0, 0.0)) -> Window:
    """The square of ``share`` times the shorter side of a frame of ``shape`` centred on the
    click's pixel, moved by ``shift`` (dy, dx) times the side."""
    x, y = point
    side = share * min(shape[:2])
    return centred_window(y + 0.5 + shift[0] * side, x + 0.5 + shift[1] * side, side)


def click_channel(point, window: Window, size: int) -> np.ndarray:
    """The click as a Gaussian spot (float32, peak 1) on the resized window."""
    x, y = point
    k = size / window.side
    cy, cx = (y + 0.5 - window.y0) * k, (x + 0.5 - window.x0) * k
    centres = np.arange(size, dtype=np.float32) + 0.5
    sigma = SPOT_SIGMA * size
    gy = np.exp(-((centres - cy) ** 2) / (2 * sigma ** 2))
    gx = np.exp(-((centres - cx) ** 2) / (2 * sigma ** 2))
    return np.outer(gy, gx).astype(np.float32)


def click_network_input(gray_window: np.ndarray, point, window: Window) -> np.ndarray:
    """(size, size, 2) float32: the standardized gray window (0-1 of full scale, resized to the
    network's side) and the click's spot."""
    return stack_input(gray_window, click_channel(point, window, gray_window.shape[0]))


def click_window_input(gray: np.ndarray, point, window: Window, size: int) -> np.ndarray:
    """The network's input for a click on a uint8 frame ``gray``."""
    pixels = resize_window(cut(gray, window), size).astype(np.float32) / 255.0
    return click_network_input(pixels, point, window)
