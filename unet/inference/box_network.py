"""The box-prompted network of an organ (``unet/networks/box_prompt_unet.py``) at inference:
a user's box in, the lesion's outline in the frame out.

The network sees the square window of 2.2 times the box's larger side around the box
(``unet/transforms/box_window.py``), as the image and its mirror image in one batch of 2; the
mean probability at 0.5, its connected component that overlaps the box most, is the outline.
Engine, card and loading: ``unet/inference/prompt_network.py``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from unet.inference.prompt_network import (
    THRESHOLD,
    Look,
    PromptNetwork,
    components,
    network_for,
)
from unet.transforms.box_window import INFERENCE_SCALE, window_around, window_input
from unet.transforms.postprocess import fill_holes

__all__ = ["THRESHOLD", "BoxNetwork", "box_network_for"]


class BoxNetwork(PromptNetwork):
    """``outline(gray, box)``: the lesion inside a user's box (x0, y0, x1, y1), bool frame."""

    kind = "box"

    def look(self, gray: np.ndarray, box) -> Look:
        """What the network sees of one box (its window and input) and what it answers."""
        window = window_around(box, INFERENCE_SCALE)
        return self.look_at(window, window_input(gray, box, window, self.input_size))

    def probability(self, gray: np.ndarray, box) -> np.ndarray:
        """The network's lesion probability for one box, in frame coordinates (0 outside the
        window)."""
        return self.look(gray, box).in_frame(gray.shape)

    def outline(self, gray: np.ndarray, box) -> np.ndarray:
        """The component of the probability at 0.5 that overlaps the box most (ties: the larger
        one); empty when none overlaps it (the training-free box answers then). The network
        marks every lesion its window catches: the box says which one the user meant. Its holes
        are filled."""
        n, labels, stats, _ = components(self.probability(gray, box))
        if n <= 1:
            return np.zeros(gray.shape, bool)
        x0, y0, x1, y1 = box
        inside = np.bincount(labels[y0:y1, x0:x1].ravel(), minlength=n)[1:]
        if not inside.any():
            return np.zeros(gray.shape, bool)
        areas = stats[1:, cv2.CC_STAT_AREA]
        best = max(range(n - 1), key=lambda i: (inside[i], areas[i]))
        # a ring around a dark lesion is that lesion's outline: its hole filled, as the
        # training-free outlines are (docs/prompts.md, "Holes in the prompted networks' outlines")
        return fill_holes(labels == best + 1)


def box_network_for(weights: Path | None) -> BoxNetwork | None:
    """The box network stored at ``weights`` (loaded once per process), or None where there is
    no such file or it cannot be loaded (the training-free box prompt answers instead)."""
    return network_for(BoxNetwork, weights)
