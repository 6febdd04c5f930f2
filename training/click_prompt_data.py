"""Training windows for the click-prompted network: a lesion, a click on it as a user would
give it, and the square window around the click (``unet/transforms/click_window.py``).

Each draw picks one of the image's lesions (one connected component of the expert outline,
``training/box_prompt_data.py`` loads them) and a click inside it: a pixel of the lesion drawn
with a chance proportional to its distance from the outline, so that clicks fall mostly
towards the middle, as a clinician clicks, and sometimes near the edge. The window is a square
of ``SHARE_RANGE`` times the image's shorter side (a click says nothing about the lesion's
size, so the network learns to find the whole lesion in windows of every scale) whose centre
is moved by up to ``MAX_SHIFT`` of its side; a share of the draws (``sized_draws``, the
recipe's ``click_sized_draws``) instead cuts a window of ``LESION_SCALE_RANGE`` times the
clicked lesion's larger side, the scale of the sized look at inference, kept within the same
range. Training adds a horizontal flip and the intensity
changes of ``training/augment.py``; validation and evaluation click each lesion's most interior
point, with the inference window (0.35, centred). The target is the whole expert outline inside
the window (at inference the component under the click is kept).
"""

from __future__ import annotations

import cv2
import numpy as np

from training.augment import AugmentConfig
from training.box_prompt_data import LesionImage, augmented_pair, window_pair
from training.prompt_batches import PromptWindowBatches
from unet.transforms.click_window import (
    INFERENCE_SHARE,
    TRAINING_SHARE_RANGE,
    click_network_input,
    window_at_click,
)

SHARE_RANGE = TRAINING_SHARE_RANGE  # window side / the image's shorter side, in training
MAX_SHIFT = 0.12  # window centre moved by up to this share of its side (the click stays inside)
LESION_SCALE_RANGE = (1.6, 3.0)  # a sized draw's window side / the lesion's larger side


def interior_distance(mask: np.ndarray, box) -> np.ndarray:
    """Each pixel's distance to the outline of the lesion ``mask`` inside ``box`` (0 outside)."""
    x0, y0, x1, y1 = box
    region = np.pad(mask[y0:y1, x0:x1].astype(np.uint8), 1)
    return cv2.distanceTransform(region, cv2.DIST_L2, 5)[1:-1, 1:-1]


def interior_point(mask: np.ndarray, box) -> tuple[int, int]:
    """(x, y) of the lesion's most interior pixel inside its box."""
    distance = interior_distance(mask, box)
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return box[0] + int(x), box[1] + int(y)


def random_click(mask: np.ndarray, box, rng: np.random.Generator) -> tuple[int, int]:
    """(x, y): a pixel of the lesion in ``box``, drawn with a chance proportional to its
    distance from the outline."""
    distance = interior_distance(mask, box).ravel()
    index = int(rng.choice(distance.size, p=distance / distance.sum()))
    y, x = np.unravel_index(index, (box[3] - box[1], box[2] - box[0]))
    return box[0] + int(x), box[1] + int(y)


def training_share(box, shape: tuple[int, int], rng: np.random.Generator, share_range,
                   sized_draws: float = 0.0) -> float:
    """A training window's side as a share of the shorter side: drawn from ``share_range``, or
    (a share ``sized_draws`` of the draws) ``LESION_SCALE_RANGE`` times the lesion's larger
    side, kept within ``share_range``."""
    if sized_draws > 0 and rng.uniform() < sized_draws:
        larger = max(box[2] - box[0], box[3] - box[1])
        share = rng.uniform(*LESION_SCALE_RANGE) * larger / min(shape[:2])
        return float(np.clip(share, *share_range))
    return float(rng.uniform(*share_range))


def training_example(item: LesionImage, size: int, rng: np.random.Generator,
                     augment_config: AugmentConfig, share_range=SHARE_RANGE,
                     sized_draws: float = 0.0):
    box = item.boxes[int(rng.integers(len(item.boxes)))]
    point = random_click(item.mask, box, rng)
    share = training_share(box, item.gray.shape, rng, share_range, sized_draws)
    window = window_at_click(point, item.gray.shape, share,
                             tuple(rng.uniform(-MAX_SHIFT, MAX_SHIFT, 2)))
    return augmented_pair(item, window, size, rng, augment_config,
                          lambda pixels: click_network_input(pixels, point, window))


def validation_example(item: LesionImage, size: int, share: float = INFERENCE_SHARE):
    point = interior_point(item.mask, item.boxes[0])
    window = window_at_click(point, item.gray.shape, share)
    pixels, target = window_pair(item, window, size)
    return click_network_input(pixels, point, window), target


class ClickWindowBatches(PromptWindowBatches):
    """Batches of (window and click, target) for the click-prompted network: windows of
    ``share_range`` in training (``sized_draws`` of them sized by the lesion), the first
    inference window ``share`` in validation."""

    def __init__(self, items: list, *, share_range=SHARE_RANGE, share: float = INFERENCE_SHARE,
                 sized_draws: float = 0.0, **options):
        super().__init__(items, **options)
        self.share_range, self.share = tuple(share_range), float(share)
        self.sized_draws = float(sized_draws)

    def training_example(self, item, size, rng, augment_config):
        return training_example(item, size, rng, augment_config, self.share_range,
                                self.sized_draws)

    def validation_example(self, item, index, size, seed):
        return validation_example(item, size, self.share)
