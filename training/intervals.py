"""How sure a measured figure is: 95 % intervals for the evaluation's means and shares.

A test split holds tens of images per data set (84 BUSI lesion images, 28 normal scans), so a
mean Dice or a false-positive share read off it carries an uncertainty as large as the
differences between models; the evaluation reports it beside each figure. Both intervals are
SciPy's:

* ``bootstrap_mean_interval``: percentile bootstrap of a mean over images
  (``scipy.stats.bootstrap``; resampling images, seeded, so the same rows give the same
  interval: 2000 resamples drawn at once from ``numpy.random.default_rng(seed)``, the draws
  the bundled cards' intervals were computed with); none below ``MIN_BOOTSTRAP`` images, where
  the bootstrap's interval is far too narrow (two images "resample" to almost their own mean);
* ``wilson_interval``: the Wilson score interval of a share k/n
  (``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``; sensible at 0 of n and n of
  n, where the normal approximation collapses to a point). It takes the normal quantile ``z``
  (1.96 for 95 %, two-sided), as the cards' rules state it; ``wilson_upper`` is the one-sided
  upper bound."""

from __future__ import annotations

import numpy as np
from scipy import stats

Z_95 = 1.959964  # two-sided 95 %
MIN_BOOTSTRAP = 10  # fewer values: no bootstrap interval


def wilson_interval(k: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """(low, high) Wilson score interval of the share k/n, two-sided, at the confidence whose
    normal quantile is ``z``; (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    level = 1.0 - 2.0 * float(stats.norm.sf(z))  # z = 1.959964: 95 %
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(max(0.0, ci.low)), float(min(1.0, ci.high))


def wilson_upper(k: int, n: int, z: float = 1.2816) -> float:
    """One-sided upper confidence bound of the share k/n (Wilson score), at the confidence whose
    normal quantile is ``z`` (1.2816: 90 %); 1.0 when n is 0."""
    if n == 0:
        return 1.0
    level = float(stats.norm.cdf(z))  # z = 1.2816: 90 %, one-sided
    ci = stats.binomtest(int(k), int(n), alternative="less").proportion_ci(
        confidence_level=level, method="wilson")
    return float(min(1.0, ci.high))


def bootstrap_mean_interval(values, level: float = 0.95, resamples: int = 2000,
                            seed: int = 0) -> tuple[float, float] | None:
    """(low, high) percentile-bootstrap interval of the mean of ``values``; None for fewer than
    ``MIN_BOOTSTRAP`` values."""
    values = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if values.size < MIN_BOOTSTRAP:
        return None
    result = stats.bootstrap((values,), np.mean, n_resamples=resamples, batch=None,
                             vectorized=True, confidence_level=level, method="percentile",
                             rng=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return float(low), float(high)
