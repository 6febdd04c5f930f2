"""The click-prompted network of an organ (``unet/networks/box_prompt_unet.py`` with
``prompt="click"``) at inference: a user's click on a lesion in, the lesion's outline out.

The network sees a square of 0.35 times the image's shorter side centred on the click, or the
share its card records (``ClickShares`` in ``unet/transforms/click_window.py``), as the image
and its mirror image in one batch of 2. The outline is the component of the mean probability at
0.5 under the click (else the one nearest to it, if within a tenth of the window's side: a click
just beside its own lesion's edge). Where that component reaches the window's edge, the lesion
is larger than the window: the network looks again at 0.6 of the shorter side (or its card's
wide share) and that answer is taken. That answer says roughly how large the lesion is, so the
network looks once more at a window of 2.2 times its larger side (within the 0.25-0.7 it was
trained on; ``ClickShares.sized``), where the lesion fills the window as a box's window would
show it; the outline is the component under the click of the mean of that look and the one
before it (where both cover the frame). On the breast validation split this raised the click
Dice from 0.876 to 0.883 (docs/prompts.md). Empty where the network finds nothing near the
click (the training-free click answers then).
Engine, card and loading: ``unet/inference/prompt_network.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unet.inference.prompt_network import THRESHOLD, Look, PromptNetwork, network_for
from unet.transforms.click_window import (
    INFERENCE_SHARE,
    ClickShares,
    click_window_input,
    window_at_click,
)
from unet.transforms.postprocess import component_at, fill_holes
from unet.transforms.window import cut, paste, resize_window, touches_edge

NEAR = 0.1  # a component this share of the window's side from the click is still "its" lesion


class ClickNetwork(PromptNetwork):
    """``outline(gray, point)``: the lesion under a user's click (x, y), bool frame."""

    kind = "click"

    def __init__(self, weights: str | Path, *, engine: str = "auto"):
        super().__init__(weights, engine=engine)
        self.shares = ClickShares.from_card(self.card)

    def look(self, gray: np.ndarray, point, share: float = INFERENCE_SHARE) -> Look:
        """What the network sees of one click in a window of ``share`` of the shorter side
        (its window and input) and what it answers."""
        window = window_at_click(point, gray.shape, share)
        return self.look_at(window, click_window_input(gray, point, window, self.input_size))

    def answer(self, gray: np.ndarray, point) -> tuple[np.ndarray, Look]:
        """The component under (or nearest to) the click, its holes filled (a ring around a dark
        lesion is that lesion's outline), and the look it came from (for the sized look: its
        window and input, with the mean probability); see the module's text."""
        region, look = self._sized_answer(gray, point)
        return fill_holes(region), look

    def _sized_answer(self, gray: np.ndarray, point) -> tuple[np.ndarray, Look]:
        region, look = self._first_answer(gray, point)
        if not region.any() or self.shares.lesion_factor is None:
            return region, look
        sized = self.look(gray, point, self.shares.sized(region))
        both = mean_look(sized, look, gray.shape)
        outline = self._region(both, point, gray.shape)
        return (outline, both) if outline.any() else (region, look)

    def _first_answer(self, gray: np.ndarray, point) -> tuple[np.ndarray, Look]:
        look = self.look(gray, point, self.shares.first)
        region = self._region(look, point, gray.shape)
        if touches_edge(region, look.window, gray.shape):
            wide_look = self.look(gray, point, self.shares.wide)
            wide = self._region(wide_look, point, gray.shape)
            if wide.any():
                return wide, wide_look
        return region, look

    @staticmethod
    def _region(look: Look, point, shape: tuple[int, int]) -> np.ndarray:
        return component_at(look.in_frame(shape) >= THRESHOLD, point, NEAR * look.window.side)

    def outline(self, gray: np.ndarray, point) -> np.ndarray:
        """The component under (or nearest to) the click; see the module's text."""
        return self.answer(gray, point)[0]


def mean_look(look: Look, other: Look, shape: tuple[int, int]) -> Look:
    """``look`` with its probability averaged with ``other``'s where ``other``'s window covers
    it too (both in a frame of ``shape``)."""
    size = look.probability.shape[0]
    seen = paste(np.ones(other.probability.shape, np.float32), other.window, shape)
    other_here = resize_window(cut(other.in_frame(shape), look.window), size)
    seen_here = resize_window(cut(seen, look.window), size) > 0.5
    probability = np.where(seen_here, (look.probability + other_here) / 2, look.probability)
    return Look(look.window, look.input, probability.astype(np.float32))


def click_network_for(weights: Path | None) -> ClickNetwork | None:
    """The click network stored at ``weights`` (loaded once per process), or None where there
    is no such file or it cannot be loaded (the training-free click answers instead)."""
    return network_for(ClickNetwork, weights)
