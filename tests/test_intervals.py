"""95 % intervals of the evaluation's figures: the Wilson interval of a share and the bootstrap
interval of a mean over images."""

import numpy as np
import pytest

from training.evaluate import format_table, summarize
from training.intervals import bootstrap_mean_interval, wilson_interval


def test_wilson_interval_known_values_and_edges():
    assert wilson_interval(2, 28) == pytest.approx((0.0198, 0.2265), abs=5e-4)
    low, high = wilson_interval(0, 27)
    assert low == 0.0 and high == pytest.approx(0.1246, abs=5e-4)  # 0 of 27 is not "0 %, sure"
    assert wilson_interval(27, 27)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(20, 100)[1] - wilson_interval(20, 100)[0] > \
        wilson_interval(200, 1000)[1] - wilson_interval(200, 1000)[0]


def test_bootstrap_interval_covers_the_mean_and_narrows_with_more_images():
    rng = np.random.default_rng(1)
    small, large = rng.normal(0.8, 0.1, 80), rng.normal(0.8, 0.1, 800)
    lo, hi = bootstrap_mean_interval(small)
    assert lo < small.mean() < hi
    assert hi - lo == pytest.approx(2 * 1.96 * 0.1 / np.sqrt(80), rel=0.25)
    lo2, hi2 = bootstrap_mean_interval(large)
    assert hi2 - lo2 < (hi - lo) / 2
    assert bootstrap_mean_interval(small) == (lo, hi)  # seeded: same rows, same interval
    assert bootstrap_mean_interval([0.7] * 10) == pytest.approx((0.7, 0.7))
    assert bootstrap_mean_interval([]) is None
    assert bootstrap_mean_interval([0.93, 0.96]) is None  # two images: no honest interval


def test_summary_reports_the_intervals():
    base = {"label": "benign", "iou": 0.5, "precision": 0.5, "recall": 0.5, "hd95_px": 3.0,
            "confidence": 1.0}
    rows = [{**base, "key": f"l{i}", "has_lesion": True, "predicted_lesion": i % 5 != 0,
             "dice": 0.9 if i % 5 else 0.0} for i in range(40)]
    rows += [{**base, "key": f"n{i}", "label": "normal", "has_lesion": False,
              "predicted_lesion": i < 2, "dice": 1.0} for i in range(28)]
    s = summarize(rows)
    lo, hi = s["dice_mean_ci95"]
    assert s["dice_mean"] == pytest.approx(0.72)
    assert lo < 0.72 < hi
    assert s["false_positive_rate_lesion_free_ci95"] == pytest.approx(wilson_interval(2, 28))
    assert s["missed_lesion_rate_ci95"] == pytest.approx(wilson_interval(8, 40))
    assert "95 % intervals: Dice" in format_table("test", s)
