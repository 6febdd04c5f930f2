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


def test_wilson_interval_against_hand_computed_values():
    z = 1.959964
    # 0 of n: the upper bound is z^2 / (n + z^2); n of n: the lower bound is n / (n + z^2)
    assert wilson_interval(0, 10) == pytest.approx((0.0, z * z / (10 + z * z)), abs=1e-12)
    assert wilson_interval(10, 10) == pytest.approx((10 / (10 + z * z), 1.0), abs=1e-12)
    # 2 of 28 written out: (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    p, n = 2 / 28, 28
    centre, half = p + z * z / (2 * n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    expected = ((centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n))
    assert wilson_interval(2, 28) == pytest.approx(expected, abs=1e-12)
    assert wilson_interval(2, 28, z=1.0)[1] < expected[1]  # z sets the confidence


def test_wilson_upper_is_the_one_sided_bound():
    from training.intervals import wilson_upper

    z = 1.2816
    assert wilson_upper(0, 40) == pytest.approx(z * z / (40 + z * z), abs=1e-12)
    for k, n in ((3, 40), (17, 17), (5, 200)):
        assert wilson_upper(k, n) == pytest.approx(wilson_interval(k, n, z)[1], abs=1e-12)
        assert wilson_upper(k, n, z=0) == pytest.approx(k / n)  # z = 0: the plain share
    assert wilson_upper(0, 0) == 1.0


@pytest.mark.parametrize("organ", ["breast", "thyroid"])
def test_bundled_cards_wilson_intervals_are_reproduced(organ):
    """The shares' intervals the bundled model cards state, recomputed from their counts."""
    import json

    from unet.inference.registry import WEIGHTS_DIR

    card = json.loads((WEIGHTS_DIR / f"{organ}.json").read_text())
    checked = 0
    for summary in card["test_metrics"].values():
        for rate, n in (("missed_lesion_rate", summary["lesion_images"]),
                        ("false_positive_rate_lesion_free", summary["lesion_free_images"])):
            if summary.get(f"{rate}_ci95") is None:
                continue
            k = round(summary[rate] * n)
            assert wilson_interval(k, n) == pytest.approx(summary[f"{rate}_ci95"], abs=1e-12)
            checked += 1
    assert checked >= 2


def test_bootstrap_draws_the_same_resamples_as_before():
    """SciPy's percentile bootstrap with numpy.random.default_rng(seed) draws the resamples the
    bundled cards' intervals came from: all 2000 at once, each of len(values) image indices."""
    values = np.random.default_rng(7).uniform(0.3, 1.0, 84)
    rng = np.random.default_rng(0)
    means = values[rng.integers(0, values.size, (2000, values.size))].mean(axis=1)
    expected = np.percentile(means, [2.5, 97.5])
    assert bootstrap_mean_interval(values) == pytest.approx(tuple(expected), abs=1e-12)
    assert bootstrap_mean_interval(values, seed=1) != bootstrap_mean_interval(values)


def test_spearman_of_known_rankings():
    from training.trust_fit import spearman

    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / np.sqrt(95))  # ties
    assert spearman([0.1, 0.5, 0.2, 0.9], [1, 30, 2, 1000]) == pytest.approx(1.0)
    assert spearman([3, 1, 2], [1, 3, 2]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4], [2, 1, 4, 3]) == pytest.approx(0.6)  # 1 - 6*4/(4*15)
    assert spearman([1, 2], [1, 2]) is None and spearman([1, 1, 1], [1, 2, 3]) is None
