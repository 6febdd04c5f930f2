import numpy as np
import pytest

from training import metrics as M
from training.evaluate import summarize


def box(shape, y0, x0, y1, x1):
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def test_dice_iou_hand_computed():
    t = box((10, 10), 0, 0, 4, 5)  # 20 px
    p = box((10, 10), 2, 0, 6, 5)  # 20 px, 10 overlap
    assert M.dice(t, p) == pytest.approx(2 * 10 / 40)
    assert M.iou(t, p) == pytest.approx(10 / 30)
    assert M.precision_recall(t, p) == (pytest.approx(0.5), pytest.approx(0.5))


def test_empty_cases():
    e = np.zeros((8, 8), bool)
    full = box((8, 8), 2, 2, 4, 4)
    assert M.dice(e, e) == 1.0 and M.iou(e, e) == 1.0
    assert M.dice(e, full) == 0.0 and M.dice(full, e) == 0.0
    assert M.hausdorff95(e, e) == 0.0 and M.hausdorff95(e, full) is None


def test_hausdorff_of_shifted_square():
    t = box((64, 64), 10, 10, 30, 30)
    p = box((64, 64), 10, 15, 30, 35)  # shifted 5 px right
    hd = M.hausdorff95(t, p)
    assert 4.0 <= hd <= 5.5
    assert M.hausdorff95(t, t) == 0.0


def test_keras_dice_metric_matches_numpy():
    t = np.stack([box((16, 16), 0, 0, 8, 8), np.zeros((16, 16), bool)])[..., None]
    p = np.stack([box((16, 16), 0, 0, 8, 4), np.zeros((16, 16), bool)])[..., None]
    metric = M.DiceScore()
    metric.update_state(t.astype("float32"), p.astype("float32"))
    expected = (M.dice(t[0], p[0]) + 1.0) / 2
    assert float(metric.result()) == pytest.approx(expected)


def test_summary_false_positive_rate_and_means():
    rows = [
        {"key": "a", "label": "benign", "has_lesion": True, "predicted_lesion": True, "dice": 0.8,
         "iou": 0.6, "precision": 0.9, "recall": 0.7, "hd95_px": 3.0, "confidence": 1.0},
        {"key": "b", "label": "benign", "has_lesion": True, "predicted_lesion": False, "dice": 0.0,
         "iou": 0.0, "precision": 0.0, "recall": 0.0, "hd95_px": None, "confidence": 1.0},
        {"key": "c", "label": "normal", "has_lesion": False, "predicted_lesion": True, "dice": 0.0,
         "iou": 0.0, "precision": 0.0, "recall": 1.0, "hd95_px": None, "confidence": 1.0},
        {"key": "d", "label": "normal", "has_lesion": False, "predicted_lesion": False,
         "dice": 1.0, "iou": 1.0, "precision": 1.0, "recall": 1.0, "hd95_px": 0.0,
         "confidence": 1.0},
    ]
    s = summarize(rows)
    assert s["dice_mean"] == pytest.approx(0.4)  # lesion images only
    assert s["false_positive_rate_lesion_free"] == pytest.approx(0.5)
    assert s["missed_lesion_rate"] == pytest.approx(0.5)
    assert s["hd95_px_mean"] == pytest.approx(3.0)
    assert s["per_class"]["normal"]["predicted_lesion_rate"] == pytest.approx(0.5)


def test_balanced_dice_weighs_lesion_free_scans_as_half():
    lesion = box((16, 16), 0, 0, 8, 8)
    empty = np.zeros((16, 16), bool)
    # one lesion image half found, two normal scans: one left empty, one with a false blob
    t = np.stack([lesion, empty, empty])[..., None].astype("float32")
    p = np.stack([box((16, 16), 0, 0, 8, 4), empty, box((16, 16), 2, 2, 4, 4)])[..., None]
    metric = M.BalancedDice()
    metric.update_state(t, p.astype("float32"))
    expected = 0.5 * M.dice(t[0, ..., 0], p[0, ..., 0]) + 0.5 * (1 / 2)
    assert float(metric.result()) == pytest.approx(expected)


def test_balanced_dice_sees_a_false_blob_that_plain_dice_hides():
    lesion, empty = box((16, 16), 0, 0, 8, 8), np.zeros((16, 16), bool)
    t = np.stack([lesion] * 9 + [empty])[..., None].astype("float32")
    p = np.stack([lesion] * 9 + [box((16, 16), 2, 2, 4, 4)])[..., None].astype("float32")
    plain, balanced = M.DiceScore(), M.BalancedDice()
    plain.update_state(t, p)
    balanced.update_state(t, p)
    assert float(plain.result()) == pytest.approx(0.9)
    assert float(balanced.result()) == pytest.approx(0.5)


def test_balanced_dice_without_lesion_free_scans_is_lesion_dice():
    t = box((16, 16), 0, 0, 8, 8)[None, ..., None].astype("float32")
    p = box((16, 16), 0, 0, 8, 4)[None, ..., None].astype("float32")
    metric = M.BalancedDice()
    metric.update_state(t, p)
    assert float(metric.result()) == pytest.approx(M.dice(t[0], p[0]))


def _bright_spot_segmenter(size=64):
    """A model that calls every pixel well above the image's mean brightness lesion."""
    import dataclasses

    import keras

    from tests.helpers import small_organ
    from unet.inference.segmenter import Segmenter

    organ = dataclasses.replace(small_organ(size=size), crop_field_of_view=False,
                                min_peak_probability=0.0)
    inputs = keras.Input((size, size, 1))
    out = keras.layers.Lambda(lambda x: keras.ops.sigmoid((x - 1.0) * 20.0))(inputs)
    return Segmenter(organ, model=keras.Model(inputs, out))


def test_the_lesion_free_strip_beside_an_outline_is_scored_on_its_own():
    from training.evaluate import crop_reported_lesion

    seg_ = _bright_spot_segmenter()
    rng = np.random.default_rng(0)
    gray = (60 + rng.normal(0, 4, (120, 160))).clip(0, 255).astype(np.uint8)
    truth = box(gray.shape, 40, 10, 70, 40)  # the outlined lesion, on the left
    gray[truth] = 220
    seg = seg_.segment(gray)
    assert seg.mask()[truth].mean() > 0.9  # the model finds the outlined lesion
    assert crop_reported_lesion(seg_, seg, truth) is False  # nothing beside it

    unmarked = gray.copy()
    unmarked[50:80, 110:140] = 220  # a second bright spot the outline leaves out
    assert crop_reported_lesion(seg_, seg_.segment(unmarked), truth) is True
    assert crop_reported_lesion(seg_, seg, np.zeros_like(truth)) is None  # no lesion: no strip
    assert crop_reported_lesion(seg_, seg, np.ones_like(truth)) is None  # nowhere to cut


def test_summary_counts_the_lesion_free_crops():
    base = {"label": "benign", "has_lesion": True, "predicted_lesion": True, "dice": 0.8,
            "iou": 0.6, "precision": 0.9, "recall": 0.7, "hd95_px": 3.0, "confidence": 1.0}
    rows = [{**base, "key": "a", "crop_reported_lesion": True},
            {**base, "key": "b", "crop_reported_lesion": False},
            {**base, "key": "c", "crop_reported_lesion": False},
            {**base, "key": "d", "crop_reported_lesion": None},
            {**base, "key": "e", "has_lesion": False, "crop_reported_lesion": None}]
    s = summarize(rows)
    assert s["lesion_free_crops"] == 3
    assert s["false_positive_rate_lesion_free_crops"] == pytest.approx(1 / 3)
    assert summarize(rows[3:])["false_positive_rate_lesion_free_crops"] is None
