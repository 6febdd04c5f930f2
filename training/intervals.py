"""How sure a measured figure is: 95 % intervals for the evaluation's means and shares.

A test split holds tens of images per data set (84 BUSI lesion images, 28 normal scans), so a
mean Dice or a false-positive share read off it carries an uncertainty as large as the
differences between models; the evaluation reports it beside each figure.

* ``bootstrap_mean_interval``: percentile bootstrap of a mean over images (resampling images,
  seeded, so the same rows give the same interval); none below ``MIN_BOOTSTRAP`` images, where
  the bootstrap's interval is far too narrow (two images "resample" to almost their own mean);
* ``wilson_interval``: the Wilson score interval of a share k/n (sensible at 0 of n and n of n,
  where the normal approximation collapses to a point)."""

from __future__ import annotations

import numpy as np

Z_95 = 1.959964  # two-sided 95 %
MIN_BOOTSTRAP = 10  # fewer values: no bootstrap interval


def wilson_interval(k: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """(low, high) Wilson score interval of the share k/n; (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    return float(max(0.0, (centre - half) / scale)), float(min(1.0, (centre + half) / scale))


def bootstrap_mean_interval(values, level: float = 0.95, resamples: int = 2000,
                            seed: int = 0) -> tuple[float, float] | None:
    """(low, high) percentile-bootstrap interval of the mean of ``values``; None for fewer than
    ``MIN_BOOTSTRAP`` values."""
    values = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if values.size < MIN_BOOTSTRAP:
        return None
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, (resamples, values.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)
