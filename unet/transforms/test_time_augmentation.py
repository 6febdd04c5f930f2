"""Test-time augmentation: the views of one model input, and their answers brought back to it.

Every upload runs the image and its mirror image (the flip pair, one batch of 2). Four more
views, two zooms and two shifts (one of them mirrored), run as one further batch of 4 where they
are used: by the quality estimate (their agreement with the mask predicts its Dice, see
unet.trust.quality), and, for an organ whose recipe says so, in the mask itself (the probability
is the
mean over every view that sees the pixel). Which views an organ's mask uses is a registry setting
(``OrganConfig.test_time_augmentation``), recorded in the model card; the operating point is then
chosen on validation with those views.
"""

from __future__ import annotations

import cv2
import numpy as np

# the settings an organ can name, and the views each one runs (the card lists these names)
FLIP = ("identity", "horizontal flip")
# (name, zoom, shift as a share of the side (x, y), mirrored) - applied about the centre
EXTRA_VIEWS = (
    ("zoom_in", 1.15, (0.0, 0.0), False),
    ("zoom_out", 0.87, (0.0, 0.0), False),
    ("shift", 1.0, (0.06, 0.05), False),
    ("shift_mirrored", 1.0, (-0.06, -0.05), True),
)
VIEW_SETS = {
    "flip": FLIP,
    "flip+views": FLIP + tuple(v[0] for v in EXTRA_VIEWS),
}


def uses_extra_views(setting: str) -> bool:
    """Whether a setting (``OrganConfig.test_time_augmentation``, ``Segmenter.views``) runs the
    four extra views for the mask; an unknown setting is an error, not silently the flip pair."""
    if setting not in VIEW_SETS:
        raise ValueError(f"test_time_augmentation must be one of {sorted(VIEW_SETS)}, "
                         f"got {setting!r}")
    return setting != "flip"


def view_set_of(names) -> str:
    """The setting whose views a card lists (an unknown or missing list: "flip")."""
    names = tuple(names or ())
    for key, views in VIEW_SETS.items():
        if names == views:
            return key
    return "flip"


def _affine(size: int, zoom: float, shift: tuple[float, float]) -> np.ndarray:
    c = (size - 1) / 2.0
    return np.array([[zoom, 0.0, (1 - zoom) * c + shift[0] * size],
                     [0.0, zoom, (1 - zoom) * c + shift[1] * size]], np.float64)


def augment_batch(x: np.ndarray) -> np.ndarray:
    """(S, S, 1) standardized input -> (len(EXTRA_VIEWS), S, S, 1) augmented inputs."""
    s = x.shape[0]
    out = []
    for _, zoom, shift, mirror in EXTRA_VIEWS:
        warped = cv2.warpAffine(x[..., 0], _affine(s, zoom, shift), (s, s),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        out.append(warped[:, ::-1] if mirror else warped)
    return np.stack(out)[..., None].astype(np.float32)


def warp_back(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(M, S, S) member outputs -> (aligned probabilities, bool valid areas), original view."""
    s = probabilities.shape[-1]
    back, valid = [], []
    ones = np.ones((s, s), np.float32)
    for p, (_, zoom, shift, mirror) in zip(probabilities, EXTRA_VIEWS, strict=True):
        p = p[:, ::-1] if mirror else p
        a = _affine(s, zoom, shift)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        back.append(cv2.warpAffine(p.astype(np.float32), a, (s, s), flags=flags,
                                   borderMode=cv2.BORDER_REPLICATE))
        valid.append(cv2.warpAffine(ones, a, (s, s), flags=flags,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0.99)
    return np.stack(back), np.stack(valid)


def combine(pair: np.ndarray, back: np.ndarray | None = None,
            valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(mean, spread) per pixel over the flip pair's aligned answers (2, S, S) and, where given,
    the extra views' warped-back answers, each only where it sees the pixel (``valid``).

    spread: the largest minus the smallest answer among the views that see the pixel."""
    if back is None:
        return pair.mean(0), pair.max(0) - pair.min(0)
    total = pair.sum(0) + np.where(valid, back, 0.0).sum(0)
    mean = total / (len(pair) + valid.sum(0))
    filled = np.where(valid, back, pair[0])  # a view that does not see the pixel changes nothing
    hi = np.maximum(pair.max(0), filled.max(0))
    lo = np.minimum(pair.min(0), filled.min(0))
    return mean.astype(np.float32), (hi - lo).astype(np.float32)
