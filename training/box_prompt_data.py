"""Training windows for the box-prompted network: a lesion, a box around it as a user would draw
it, and the square window around that box (``unet/transforms/box_window.py``).

Every lesion image is loaded once at full resolution. Each draw picks one of its lesions (one
connected component of the expert outline), moves each side of the lesion's bounding box by up
to ``jitter`` of the box's size, cuts a window of ``scale_range`` times the box's larger side
whose centre is shifted by up to ``max_shift`` of the side, and resizes it to the network's
input. Training adds a horizontal flip and the gain / contrast / gamma / speckle changes of
``training/augment.py``; validation and evaluation draw fixed boxes from a seed, with the
inference window (2.2x, centred). The target is the whole expert outline inside the window
(a neighbouring lesion that the window catches stays marked, as the user's box decides which
component the app keeps).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from training.augment import AugmentConfig, random_intensity
from training.datasets import Sample, load_gray, load_mask
from training.prompt_batches import PromptWindowBatches
from unet.transforms.box_window import (
    INFERENCE_SCALE,
    Window,
    cut,
    network_input,
    resize_window,
    window_around,
)

MIN_LESION_PIXELS = 16  # outline components smaller than this are annotation specks, not lesions
TRAIN_JITTER = 0.15  # box sides moved by up to this share of the box's size (training)
EVAL_JITTER = 0.10  # and at evaluation (the simulated user)
SCALE_RANGE = (1.6, 3.0)
MAX_SHIFT = 0.12


@dataclass
class LesionImage:
    gray: np.ndarray  # uint8 (H, W), full resolution
    mask: np.ndarray  # bool (H, W), the expert outline (all lesions)
    boxes: list[tuple[int, int, int, int]]  # one tight box (x0, y0, x1, y1) per lesion
    key: str
    dataset: str
    device: str = ""


def lesion_boxes(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The tight bounding box (x0, y0, x1, y1; exclusive ends) of each lesion in a mask."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    boxes = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area >= MIN_LESION_PIXELS:
            boxes.append((x, y, x + w, y + h))
    return boxes


def load_lesion_images(samples: list[Sample]) -> list[LesionImage]:
    """The samples that show a lesion, loaded at full resolution with their lesions' boxes."""
    images = []
    for s in samples:
        gray = load_gray(s.image_path)
        mask = load_mask(s, gray.shape)
        boxes = lesion_boxes(mask)
        if boxes:
            images.append(LesionImage(gray, mask, boxes, s.key, s.dataset, s.device))
    return images


def jitter_box(box, jitter: float, shape: tuple[int, int], rng: np.random.Generator):
    """Each side moved by up to ``jitter`` of the box's width (x) or height (y), kept on the
    image and at least 2 px a side: a user's box is never tight."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    dx0, dx1 = rng.uniform(-jitter, jitter, 2) * w
    dy0, dy1 = rng.uniform(-jitter, jitter, 2) * h
    height, width = shape
    nx0 = int(np.clip(round(x0 + dx0), 0, width - 2))
    ny0 = int(np.clip(round(y0 + dy0), 0, height - 2))
    nx1 = int(np.clip(round(x1 + dx1), nx0 + 2, width))
    ny1 = int(np.clip(round(y1 + dy1), ny0 + 2, height))
    return nx0, ny0, nx1, ny1


def window_pair(item: LesionImage, window: Window, size: int):
    """(window pixels 0-1, float32 size x size) and (target, float32 0/1)."""
    pixels = resize_window(cut(item.gray, window), size).astype(np.float32) / 255.0
    target = resize_window(cut(item.mask.astype(np.float32), window), size) >= 0.5
    return pixels, target.astype(np.float32)


def augmented_pair(item: LesionImage, window: Window, size: int, rng: np.random.Generator,
                   augment_config: AugmentConfig, make_input):
    """A training pair: the window's pixels with random intensity changes, made into the
    network's input by ``make_input(pixels)``, and the target; both mirrored half the time."""
    pixels, target = window_pair(item, window, size)
    x = make_input(random_intensity(pixels, augment_config, rng))
    if rng.uniform() < 0.5:
        x, target = x[:, ::-1], target[:, ::-1]
    return x, target


def training_example(item: LesionImage, size: int, rng: np.random.Generator,
                     augment_config: AugmentConfig):
    box = item.boxes[int(rng.integers(len(item.boxes)))]
    box = jitter_box(box, TRAIN_JITTER, item.gray.shape, rng)
    window = window_around(box, rng.uniform(*SCALE_RANGE),
                           tuple(rng.uniform(-MAX_SHIFT, MAX_SHIFT, 2)))
    return augmented_pair(item, window, size, rng, augment_config,
                          lambda pixels: network_input(pixels, box, window))


def evaluation_boxes(item: LesionImage, seed: int, index: int, jitter: float = EVAL_JITTER):
    """The simulated user's boxes for one image: every lesion's box, jittered (seeded by the
    evaluation's seed and the image's index, so every run draws the same boxes)."""
    rng = np.random.default_rng([seed, index])
    return [jitter_box(b, jitter, item.gray.shape, rng) for b in item.boxes]


def validation_example(item: LesionImage, index: int, size: int, seed: int):
    box = evaluation_boxes(item, seed, index)[0]
    window = window_around(box, INFERENCE_SCALE)
    pixels, target = window_pair(item, window, size)
    return network_input(pixels, box, window), target


class BoxWindowBatches(PromptWindowBatches):
    """Batches of (window and box, target) for the box-prompted network."""

    training_example = staticmethod(training_example)
    validation_example = staticmethod(validation_example)
