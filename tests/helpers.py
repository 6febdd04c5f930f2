"""Shared helpers for tests: small untrained models in place of the bundled weights."""

from __future__ import annotations

import dataclasses

from unet.inference.registry import get_organ
from unet.inference.segmenter import Segmenter
from unet.networks.unet import build_unet


def small_organ(key: str = "breast", size: int = 64):
    """The organ's registry entry with a small input size, for fast tests."""
    return dataclasses.replace(get_organ(key), input_size=size,
                               model_kwargs=dict(depth=2, base_filters=4))


def fresh_segmenter(key: str = "breast", size: int = 64) -> Segmenter:
    organ = small_organ(key, size)
    return Segmenter(organ, model=build_unet(size, **organ.model_kwargs))


def write_image_mask_pairs(root, count: int, height: int = 80, width: int = 96):
    """A generic ``images/`` + ``masks/`` data set of ``count`` phantoms (seeds 0..count-1)."""
    from pathlib import Path

    import cv2
    import numpy as np

    from unet.testing.phantom import make_phantom

    root = Path(root)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(count):
        gray, mask = make_phantom(height, width, seed=i)
        cv2.imwrite(str(root / "images" / f"{i}.png"), gray)
        cv2.imwrite(str(root / "masks" / f"{i}.png"), mask.astype(np.uint8) * 255)
    return root


def keras_output(model, x):
    """The Keras model's own answer for a batch, as NumPy (the reference the engine must match)."""
    import keras

    return keras.ops.convert_to_numpy(model(x, training=False))


def texture(image):
    """Mean squared Laplacian: the fine detail an image holds (any dtype)."""
    import cv2
    import numpy as np

    return float(np.mean(cv2.Laplacian(np.asarray(image, np.float32), cv2.CV_32F) ** 2))
