"""The batches a prompted network trains and validates on: one window per lesion image, drawn
by the prompt's own example functions (``training/box_prompt_data.py``,
``training/click_prompt_data.py``), seeded so that a resumed or repeated run draws the same."""

from __future__ import annotations

import keras
import numpy as np

from training.augment import AugmentConfig


class PromptWindowBatches(keras.utils.PyDataset):
    """Batches of (window and prompt, target), shuffled and augmented when training; the
    randomness of every item comes from (seed, epoch, batch), whatever the loader threads.
    A subclass gives ``training_example(item, size, rng, augment_config)`` and
    ``validation_example(item, index, size, seed)``, each returning (input, target)."""

    @staticmethod
    def training_example(item, size: int, rng: np.random.Generator,
                         augment_config: AugmentConfig):
        raise NotImplementedError

    @staticmethod
    def validation_example(item, index: int, size: int, seed: int):
        raise NotImplementedError

    def __init__(self, items: list, *, size: int, batch_size: int, training: bool,
                 seed: int = 0, workers: int = 1, augment_config: AugmentConfig | None = None):
        super().__init__(workers=workers, use_multiprocessing=False)
        self.items, self.size, self.batch_size = items, size, batch_size
        self.training, self.seed = training, seed
        self.augment_config = augment_config or AugmentConfig()
        self.epoch = 0
        self.order = self._order()

    def _order(self) -> np.ndarray:
        if not self.training:
            return np.arange(len(self.items))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.items))

    def __len__(self) -> int:
        return int(np.ceil(len(self.items) / self.batch_size))

    def __getitem__(self, index: int):
        chosen = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        xs, ys = [], []
        rng = np.random.default_rng([self.seed, self.epoch, index])
        for i in chosen:
            if self.training:
                x, y = self.training_example(self.items[i], self.size, rng,
                                              self.augment_config)
            else:
                x, y = self.validation_example(self.items[i], int(i), self.size, self.seed)
            xs.append(x)
            ys.append(y)
        return np.stack(xs), np.stack(ys)[..., None]

    def on_epoch_end(self):
        self.epoch += 1
        self.order = self._order()
