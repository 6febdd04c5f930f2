"""Extra training data: lesion images of other data sets added to the training split only.

The thyroid model has one data set (DDTI); the breast data sets hold many more outlined
ultrasound lesions. ``--extra-training-data`` adds such images to each epoch without touching the
split: they are never validated or tested on, and the organ's own manifest stays as it was, so a
run with them compares with one without on the same validation and test images. Only images with
an outlined lesion are taken: another organ's lesion-free scans say nothing about this organ's.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from training.datasets import Dataset, DatasetError, Sample, has_lesion


def extra_training_samples(datasets: list[Dataset], limit: int | None, seed: int) -> list[Sample]:
    """The lesion images of ``datasets``; with ``limit``, a random subset of that many (drawn with
    ``seed``, so a run's subset is fixed), kept in the data sets' order."""
    lesions = [s for d in datasets for s in d.samples if has_lesion(s)]
    if not lesions:
        names = ", ".join(str(d.root) for d in datasets)
        raise DatasetError(f"the extra training data ({names}) holds no image with an outlined "
                           "lesion")
    if limit is None or limit >= len(lesions):
        return lesions
    if limit < 1:
        raise DatasetError(f"--extra-training-images must be at least 1, not {limit}")
    chosen = np.sort(np.random.default_rng(seed).choice(len(lesions), size=limit, replace=False))
    return [lesions[i] for i in chosen]


def count_by_dataset(samples: list[Sample]) -> dict[str, int]:
    return dict(Counter(s.dataset for s in samples))
