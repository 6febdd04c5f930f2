"""From a list of samples to cached arrays and backend-neutral batches (`keras.utils.PyDataset`).

Each image goes through the inference path's own steps (unet.io.reader, the organ's field-of-view
crop, unet.transforms.preprocess resizing); the resized images are cached in memory once, and
augmentation
and standardization run per batch in NumPy/OpenCV, so the same pipeline feeds every Keras backend.

Lesion-free scans are the hard part for a breast model trained mostly on lesion images (BUS-BRA
has none), so an epoch can draw the lesion-free images several times (`negative_repeat`) and add
lesion-free crops cut from lesion images away from the outlined lesion (`crops_per_epoch`): tissue
the expert did not mark, from every scanner in the training data. A smaller data set can be drawn
several times per epoch too (`dataset_repeat`), as if it were listed that many times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np

from training.augment import AugmentConfig, augment
from training.datasets import Sample, load_gray, load_mask
from unet.transforms.preprocess import resize_to_square, standardize


@dataclass
class CachedSplit:
    images: np.ndarray  # uint8 (N, S, S)
    masks: np.ndarray  # uint8 (N, S, S), 0..255 (area-resized, binarised at 128)
    keys: list[str]
    datasets: list[str] = field(default_factory=list)  # each item's data set, if known

    def __len__(self):
        return len(self.keys)

    def lesion_free(self) -> np.ndarray:
        return ~(self.masks >= 128).any(axis=(1, 2))


def prepare_sample(sample: Sample, *, crop_field_of_view: bool) -> tuple[np.ndarray, np.ndarray]:
    """Full-resolution (gray, bool mask), cropped to the field of view when asked."""
    gray = load_gray(sample.image_path)
    mask = load_mask(sample, gray.shape)
    if crop_field_of_view:
        from unet.transforms.fov import find_field_of_view

        box = find_field_of_view(gray)
        gray, mask = gray[box.slice], mask[box.slice]
    return gray, mask


def cache_arrays(pairs: list[tuple[np.ndarray, np.ndarray]], keys: list[str],
                 size: int, datasets: list[str] | None = None) -> CachedSplit:
    return CachedSplit(
        np.stack([resize_to_square(g, size) for g, _ in pairs]),
        np.stack([resize_to_square(m.astype(np.uint8) * 255, size) for _, m in pairs]),
        list(keys),
        list(datasets or []),
    )


def cache_split(samples: list[Sample], size: int, *, crop_field_of_view: bool) -> CachedSplit:
    pairs = [prepare_sample(s, crop_field_of_view=crop_field_of_view) for s in samples]
    return cache_arrays(pairs, [s.key for s in samples], size, [s.dataset for s in samples])


def draws_per_item(split: CachedSplit, *, negative_repeat: int,
                   dataset_repeat: dict[str, int] | None = None) -> np.ndarray:
    """How often each item is drawn per epoch: lesion-free images `negative_repeat` times, and
    everything of a data set named in `dataset_repeat` that many times over (a data set drawn
    twice keeps its own share of lesion-free images)."""
    draws = np.where(split.lesion_free(), max(1, negative_repeat), 1)
    if dataset_repeat and len(split.datasets) != len(split):
        raise ValueError("dataset_repeat needs each item's data set (CachedSplit.datasets)")
    for name, times in (dataset_repeat or {}).items():
        hit = np.array([d == name for d in split.datasets], bool)
        draws = np.where(hit, draws * max(1, int(times)), draws)
    return draws


def epoch_plan(split: CachedSplit, crops: CachedSplit | None, *, negative_repeat: int,
               crops_per_epoch: int, rng: np.random.Generator,
               dataset_repeat: dict[str, int] | None = None) -> list[tuple[int, int]]:
    """(source, index) pairs of one epoch, shuffled: 0 = the split, 1 = the crops."""
    draws = draws_per_item(split, negative_repeat=negative_repeat, dataset_repeat=dataset_repeat)
    plan = [(0, i) for i in range(len(split))]  # then the extra draws (this order keeps runs
    plan += [(0, i) for i in range(len(split)) for _ in range(int(draws[i]) - 1)]  # repeatable)
    if crops is not None and len(crops) and crops_per_epoch > 0:
        picks = rng.choice(len(crops), size=min(crops_per_epoch, len(crops)), replace=False)
        plan += [(1, int(i)) for i in picks]
    order = rng.permutation(len(plan))
    return [plan[i] for i in order]


def model_pair(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float image in [0, 1] and binary mask -> standardized (S, S, 1) input, (S, S, 1) target."""
    return standardize(image)[..., None], mask.astype(np.float32)[..., None]


class SegmentationBatches(keras.utils.PyDataset):
    """Batches of (standardized image, mask), shuffled and augmented when training.

    Every item's randomness comes from (seed, epoch, batch index), so a run is repeatable
    whatever the number of loader threads."""

    def __init__(self, split: CachedSplit, *, batch_size: int, training: bool,
                 crops: CachedSplit | None = None, negative_repeat: int = 1,
                 crops_per_epoch: int = 0, augment_config: AugmentConfig | None = None,
                 seed: int = 0, workers: int = 1, dataset_repeat: dict[str, int] | None = None):
        super().__init__(workers=workers, use_multiprocessing=False)
        self.split, self.crops = split, crops
        self.batch_size, self.training, self.seed = batch_size, training, seed
        self.negative_repeat, self.crops_per_epoch = negative_repeat, crops_per_epoch
        self.dataset_repeat = dict(dataset_repeat or {})
        self.config = augment_config or AugmentConfig()
        self.epoch = 0
        self._plan = self._make_plan()

    def _make_plan(self):
        if not self.training:
            return [(0, i) for i in range(len(self.split))]
        rng = np.random.default_rng([self.seed, self.epoch])
        return epoch_plan(self.split, self.crops, negative_repeat=self.negative_repeat,
                          crops_per_epoch=self.crops_per_epoch, rng=rng,
                          dataset_repeat=self.dataset_repeat)

    def __len__(self):
        if self.training:  # whole batches only, at least one
            return max(1, len(self._plan) // self.batch_size)
        return -(-len(self._plan) // self.batch_size)

    def __getitem__(self, index):
        items = self._plan[index * self.batch_size:(index + 1) * self.batch_size]
        rng = np.random.default_rng([self.seed, self.epoch, index, 1])
        xs, ys = [], []
        for source, i in items:
            arrays = self.split if source == 0 else self.crops
            image = arrays.images[i].astype(np.float32) / 255.0
            mask = (arrays.masks[i] >= 128).astype(np.float32)
            if self.training:
                image, mask = augment(image, mask, self.config, rng)
            x, y = model_pair(image, mask)
            xs.append(x)
            ys.append(y)
        return np.stack(xs), np.stack(ys)

    def on_epoch_end(self):
        if self.training:
            self.set_epoch(self.epoch + 1)

    def set_epoch(self, epoch: int) -> None:
        """Draw the plan of that epoch (a resumed run continues where it stopped)."""
        if self.training:
            self.epoch = int(epoch)
            self._plan = self._make_plan()
