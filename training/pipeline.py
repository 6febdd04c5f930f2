"""From a list of samples to cached arrays and `tf.data` pipelines.

Each image goes through the inference path's own steps (unet.reader, the organ's field-of-view
crop, unet.preprocess resizing); the resized images are cached in memory once, and augmentation and
standardization run per epoch in the `tf.data` graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from training.augment import AugmentConfig, augment, standardize
from training.datasets import Sample, load_gray, load_mask
from unet.preprocess import resize_to_square


@dataclass
class CachedSplit:
    images: np.ndarray  # uint8 (N, S, S)
    masks: np.ndarray  # uint8 (N, S, S), 0..255 (area-resized, binarised at 128)
    keys: list[str]

    def __len__(self):
        return len(self.keys)


def prepare_sample(sample: Sample, *, crop_field_of_view: bool) -> tuple[np.ndarray, np.ndarray]:
    """Full-resolution (gray, bool mask), cropped to the field of view when asked."""
    gray = load_gray(sample.image_path)
    mask = load_mask(sample, gray.shape)
    if crop_field_of_view:
        from unet.fov import find_field_of_view

        box = find_field_of_view(gray)
        gray, mask = gray[box.slice], mask[box.slice]
    return gray, mask


def cache_split(samples: list[Sample], size: int, *, crop_field_of_view: bool) -> CachedSplit:
    images, masks = [], []
    for s in samples:
        gray, mask = prepare_sample(s, crop_field_of_view=crop_field_of_view)
        images.append(resize_to_square(gray, size))
        masks.append(resize_to_square(mask.astype(np.uint8) * 255, size))
    return CachedSplit(np.stack(images), np.stack(masks), [s.key for s in samples])


def _to_float(image, mask):
    image = tf.cast(image[..., None], tf.float32) / 255.0
    mask = tf.cast(mask[..., None] >= 128, tf.float32)
    return image, mask


def make_dataset(
    split: CachedSplit,
    *,
    batch_size: int,
    training: bool,
    augment_config: AugmentConfig | None = None,
    seed: int = 0,
) -> tf.data.Dataset:
    """Batched (standardized image, mask) pairs; shuffled and augmented when training."""
    ds = tf.data.Dataset.from_tensor_slices((split.images, split.masks))
    if training:
        ds = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(_to_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if training:
        cfg = augment_config or AugmentConfig()
        ds = ds.map(lambda x, y: augment(x, y, cfg), num_parallel_calls=tf.data.AUTOTUNE,
                    deterministic=True)
    ds = ds.map(lambda x, y: (standardize(x), y), num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    return ds.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)
