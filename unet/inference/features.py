"""The encoder's features of the pass that segments: the layer they are read from, and their
pooling into one vector per image. The segmenter returns them with the mask, and the organ check
(``unet.trust.organ_check``) and the quality estimate read them, so no second pass is needed."""

from __future__ import annotations

import numpy as np

ENCODER_LAYER = "encoder_features"


def pool_features(fmap: np.ndarray) -> np.ndarray:
    """(N, h, w, C) feature maps -> (N, 2C): their spatial mean, then their spatial max."""
    fmap = np.asarray(fmap, np.float32)
    return np.concatenate([fmap.mean(axis=(1, 2)), fmap.max(axis=(1, 2))], axis=1)
