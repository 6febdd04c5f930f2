"""The quality estimate: TTA geometry, features, the fitted estimator, the card round trip."""

import json

import cv2
import numpy as np
import pytest

from tests.helpers import fresh_segmenter
from training.intervals import wilson_upper
from training.trust import write_card_keys
from training.trust_fit import (
    choose_threshold,
    fit_fractional_logistic,
    fit_quality,
    quality_summary,
    spearman,
    threshold_for_all,
)
from unet.inference.registry import get_organ
from unet.testing.phantom import make_phantom
from unet.trust import quality as Q

S = 64


def _disk(size=S, radius=14, centre=(32, 30)):
    m = np.zeros((size, size), np.uint8)
    cv2.circle(m, centre, radius, 1, -1)
    return m.astype(bool)


def _clean_case():
    """A confident, compact lesion on which every TTA member agrees."""
    m = _disk()
    prob = np.where(m, 0.97, 0.02).astype(np.float32)
    prob = cv2.GaussianBlur(prob, (0, 0), 0.8)
    members = np.stack([prob] * len(Q.TTA))
    valid = np.ones_like(members, bool)
    return prob, prob >= 0.5, members, valid, 1


def _noisy_case(seed=0):
    """A hesitant, fragmented mask whose TTA members each see something else."""
    rng = np.random.default_rng(seed)

    def blotchy():
        field = cv2.GaussianBlur(rng.uniform(0, 1, (S, S)).astype(np.float32), (0, 0), 2.0)
        return np.clip(0.5 + (field - field.mean()) * 6, 0, 1).astype(np.float32)

    prob = blotchy()
    members = np.stack([blotchy() for _ in Q.TTA])
    valid = np.ones_like(members, bool)
    mask = prob >= 0.5
    n = cv2.connectedComponents(mask.astype(np.uint8))[0] - 1
    return prob, mask, members, valid, n


def _features(case):
    prob, mask, members, valid, n = case
    agreement = Q.dice(mask, mask[:, ::-1])
    return Q.features_from_maps(prob, mask, members, valid, threshold=0.5,
                                flip_agreement=agreement, components=n)


def _synthetic_rows(n=120, seed=1):
    """Rows whose Dice follows the TTA agreement, as on real data."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        clean = rng.random() < 0.5
        f = _features(_clean_case() if clean else _noisy_case(i))
        f = {k: v + float(rng.normal(0, 0.02)) for k, v in f.items()}
        d = float(np.clip(0.85 * f["tta_dice_mean"] + rng.normal(0, 0.05), 0, 1))
        rows.append({"features": f, "dice": d, "has_lesion": True, "stem": str(i)})
    return rows


def test_features_separate_clean_from_noisy():
    clean, noisy = _features(_clean_case()), _features(_noisy_case())
    assert set(clean) == set(Q.FEATURES) == set(noisy)
    assert all(np.isfinite(v) for v in (*clean.values(), *noisy.values()))
    assert clean["tta_dice_mean"] > 0.95 and noisy["tta_dice_mean"] < 0.8
    assert clean["tta_consensus_iou"] > noisy["tta_consensus_iou"]
    assert clean["entropy_inside"] < noisy["entropy_inside"]
    assert clean["prob_inside"] > noisy["prob_inside"]
    assert clean["log_components"] < noisy["log_components"]
    assert clean["empty_mask"] == 0.0


def test_empty_mask_features_are_defined():
    prob = np.full((S, S), 0.01, np.float32)
    members = np.stack([prob] * len(Q.TTA))
    f = Q.features_from_maps(prob, prob > 0.5, members, np.ones_like(members, bool),
                             threshold=0.5, flip_agreement=1.0, components=0)
    assert f["empty_mask"] == 1.0 and f["tta_dice_mean"] == 1.0 and f["prob_inside"] == 0.0
    assert all(np.isfinite(v) for v in f.values())


def test_tta_warp_back_undoes_the_augmentation():
    m = _disk().astype(np.float32)
    x = m[..., None]
    batch = Q.augment_batch(x)
    assert batch.shape == (len(Q.TTA), S, S, 1) and batch.dtype == np.float32
    back, valid = Q.warp_back(batch[..., 0])
    for b, v in zip(back, valid, strict=True):
        assert v.mean() > 0.6
        assert Q.dice((b > 0.5) & v, (m > 0.5) & v) > 0.9
    # the augmentations really differ from the original view
    assert all(Q.dice(a[..., 0] > 0.5, m > 0.5) < 0.95 for a in batch)


def test_fitted_estimator_ranks_a_clean_mask_above_a_noisy_one():
    rows = _synthetic_rows()
    model, info = fit_quality(rows, max_bad_share=0.05)
    assert info["out_of_fold_spearman"] > 0.6
    clean = model.predict(_features(_clean_case()))
    noisy = model.predict(_features(_noisy_case(99)))
    assert 0.0 <= noisy < clean <= 1.0
    assert clean - noisy > 0.3


def test_card_round_trip_keeps_predictions_and_other_keys(tmp_path):
    model, _ = fit_quality(_synthetic_rows(60), max_bad_share=0.05)
    card = tmp_path / "breast.json"
    card.write_text(json.dumps({"organ": "breast", "version": "v1", "inference": {"t": 0.4}}))
    write_card_keys(card, {Q.CARD_KEY: model.to_card()})
    data = json.loads(card.read_text())
    assert data["version"] == "v1" and data["inference"] == {"t": 0.4}
    assert not [p for p in tmp_path.iterdir() if p.name != "breast.json"]  # no temp file left
    loaded = Q.QualityModel.from_card(data)
    assert loaded is not None and loaded.features == model.features
    for case in (_clean_case(), _noisy_case(3)):
        f = _features(case)
        assert loaded.predict(f) == pytest.approx(model.predict(f), abs=1e-4)
    assert loaded.low_confidence_below == pytest.approx(model.low_confidence_below, abs=1e-3)
    assert Q.QualityModel.from_card({}) is None
    assert Q.QualityModel.from_card({Q.CARD_KEY: {"coef": [1]}}) is None  # damaged: ignored
    # a later write of another key keeps the earlier arrays one per line, and their values
    lines = len(card.read_text().splitlines())
    write_card_keys(card, {"adoption": "text"})
    assert len(card.read_text().splitlines()) == lines + 1
    assert json.loads(card.read_text())[Q.CARD_KEY] == data[Q.CARD_KEY]


def test_measure_runs_one_extra_batch_and_assess_reads_the_card():
    seg_ = fresh_segmenter("breast", S)
    gray, _ = make_phantom(90, 120, seed=3)
    seg = seg_.segment(gray)
    calls = seg_.calls
    signals = Q.measure(seg_, seg)
    assert seg_.calls == calls + 1  # the whole TTA is one batch (the encoder is not counted)
    assert set(signals.features) == set(Q.FEATURES)
    assert all(np.isfinite(v) for v in signals.features.values())
    assert signals.embedding is not None and signals.organ_features.ndim == 1

    # no fitted models in the card: nothing runs, the mirror agreement decides
    seg_.card = {}
    calls = seg_.calls
    a = Q.assess(seg_, seg)
    assert a.quality is None and a.organ_warning is None and seg_.calls == calls
    assert a.low_confidence == seg.low_confidence

    model, _ = fit_quality(_synthetic_rows(60), max_bad_share=0.05)
    seg_.card = {Q.CARD_KEY: model.to_card()}
    a = Q.assess(seg_, seg)
    assert a.quality is not None and 0.0 <= a.quality <= 1.0
    assert a.low_confidence == (a.quality < model.low_confidence_below)


def test_statistics_helpers():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 2, 2], [1, 2, 3, 4]) == pytest.approx(0.8944, abs=1e-3)
    assert spearman([1, 2], [1, 2]) is None
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (200, 2))
    y = 1 / (1 + np.exp(-(2 * x[:, 0] - 1)))
    w, b = fit_fractional_logistic(x, y, l2=1e-6)
    assert w == pytest.approx([2, 0], abs=0.05) and b == pytest.approx(-1, abs=0.05)


def test_threshold_leaves_few_bad_images_unflagged():
    pred = np.array([0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    dice = np.array([0.9, 0.9, 0.2, 0.8, 0.7, 0.1, 0.3, 0.2])
    lesion = np.ones(8, bool)
    t = choose_threshold(pred, dice, lesion, 0.0, z=0.0)  # the plain share
    assert t == pytest.approx(0.805)  # the first step above the bad 0.80, between 0.80 and 0.81
    s = quality_summary(pred, dice, lesion, t)
    assert s["unflagged"]["count"] == 2 and s["unflagged_lesion_dice_below_0.5"] == 0
    assert s["flagged"]["count"] == 6
    assert choose_threshold(pred, dice, lesion, 0.5, z=0.0) <= 0.6
    # with the 90 % upper bound, two good images are not enough evidence: flag everything
    assert choose_threshold(pred, dice, lesion, 0.05) == 1.0
    # 100 good images above 0.8, bad ones below: all good ones pass, a bad one or two may
    rng = np.random.default_rng(0)
    pred = np.concatenate([rng.uniform(0.8, 1.0, 100), rng.uniform(0.0, 0.79, 50)])
    dice = np.concatenate([np.full(100, 0.9), np.full(50, 0.2)])
    t = choose_threshold(pred, dice, np.ones(150, bool), 0.05)
    assert 0.6 < t <= pred[:100].min() + 0.005
    assert 1 <= ((pred >= t) & (dice < 0.5)).sum() <= 3
    assert wilson_upper(0, 100) < 0.05 < wilson_upper(3, 40)


def test_threshold_holds_for_the_delivered_models_own_predictions():
    """Breast v5's card: out of fold, the missed lesions' empty masks were spread out and the
    threshold fell just under 0.566; the delivered model gives all of them 0.566, so 14 of 314
    unflagged validation lesion images were bad (Wilson upper bound 5.9 %, over the stated 5 %).
    The threshold must meet the bound for both sets of predictions."""
    rng = np.random.default_rng(1)
    good = rng.uniform(0.7, 1.0, 300)
    dice = np.concatenate([np.full(300, 0.9), np.full(14, 0.0)])
    lesion = np.ones(314, bool)
    oof = np.concatenate([good, rng.uniform(0.3, 0.6, 14)])  # the bad ones spread below 0.7
    delivered = np.concatenate([good, np.full(14, 0.75)])  # a tied cluster among the good ones
    t_oof = choose_threshold(oof, dice, lesion, 0.05)
    assert wilson_upper(int(((delivered >= t_oof) & (dice < 0.5)).sum()),
                        int((delivered >= t_oof).sum())) > 0.05  # the old rule's gap
    t, own = threshold_for_all({"out_of_fold": oof, "delivered_model": delivered}, dice, lesion,
                               0.05)
    assert own["out_of_fold"] == t_oof and t == own["delivered_model"] > t_oof
    for pred in (oof, delivered):
        keep = pred >= t
        assert wilson_upper(int((keep & (dice < 0.5)).sum()), int(keep.sum())) <= 0.05


def test_threshold_never_splits_estimates_shown_alike():
    """The app shows the estimate with two decimals: images shown as "≈ 0.57" get one flag."""
    rng = np.random.default_rng(2)
    pred = np.concatenate([rng.uniform(0.8, 1.0, 200), 0.566 + rng.uniform(0, 0.0008, 20)])
    dice = np.concatenate([np.full(200, 0.9), np.where(np.arange(20) % 2, 0.0, 0.9)])
    lesion = np.ones(220, bool)
    t = choose_threshold(pred, dice, lesion, 0.05)
    shown = np.array([float(f"{v:.2f}") for v in pred])
    for value in np.unique(shown):
        assert len(set(pred[shown == value] < t)) == 1
    assert t > 0.57  # the cluster holds 10 bad masks: flagged whole, not cut in its middle


@pytest.mark.parametrize("organ", ["breast", "thyroid"])
def test_bundled_estimator_if_fitted_prefers_the_clean_mask(organ):
    card = json.loads(get_organ(organ).card_path.read_text())
    model = Q.QualityModel.from_card(card)
    if model is None:
        pytest.skip(f"the {organ} card has no fitted quality estimate")
    assert model.features in (Q.MODEL_FEATURES, Q.NO_TTA_FEATURES)
    assert model.uses_tta == card[Q.CARD_KEY]["tta_choice"]["used"]
    assert 0.0 < model.low_confidence_below <= 1.0
    clean, noisy = model.predict(_features(_clean_case())), model.predict(_features(_noisy_case()))
    assert clean > noisy
    test = card[Q.CARD_KEY]["test"]["all"]
    assert test["images"] > 0 and -1.0 <= test["spearman_all"] <= 1.0


def test_a_fit_for_other_weights_is_ignored():
    model, _ = fit_quality(_synthetic_rows(60), max_bad_share=0.05)
    block = {**model.to_card(), "model_version": "breast-old"}
    assert Q.QualityModel.from_card({"version": "breast-old", Q.CARD_KEY: block}) is not None
    assert Q.QualityModel.from_card({"version": "breast-new", Q.CARD_KEY: block}) is None


def test_empty_masks_are_ranked_by_how_close_the_model_came():
    """Validation with both kinds of empty result (normal scans, missed lesions whose peak
    probability came close to the rule): a missed-looking empty mask gets the lower estimate,
    and the card carries the fitted empty-mask model."""
    rows = _synthetic_rows(80)
    rng = np.random.default_rng(5)
    empty = {k: 0.0 for k in Q.FEATURES} | {"empty_mask": 1.0}
    for i in range(30):
        missed = i % 3 == 0
        peak = float(rng.uniform(0.6, 0.9) if missed else rng.uniform(0.05, 0.5))
        rows.append({"features": empty | {"peak_probability": peak}, "dice": 0.0 if missed
                     else 1.0, "has_lesion": missed, "stem": f"e{i}"})
    model, info = fit_quality(rows, max_bad_share=0.05)
    assert info["empty_mask_model"] == "peak_probability" and model.empty_model is not None
    near = model.predict(empty | {"peak_probability": 0.85})
    far = model.predict(empty | {"peak_probability": 0.1})
    assert 0.0 <= near < 0.5 < far <= 1.0
    loaded = Q.QualityModel.from_card({Q.CARD_KEY: model.to_card()})
    assert loaded.predict(empty | {"peak_probability": 0.85}) == pytest.approx(near, abs=1e-4)
    # one kind only (every empty result right): the constant share, as before
    only_right = [r for r in rows if not (r["features"]["empty_mask"] > 0.5 and r["has_lesion"])]
    model, info = fit_quality(only_right, max_bad_share=0.05)
    assert info["empty_mask_model"] == "constant" and model.empty_model is None
    assert model.predict(empty | {"peak_probability": 0.85}) > 0.8


def test_the_empty_mask_model_takes_the_feature_that_tells_the_two_kinds_apart():
    """Where the share of undecided pixels, not the peak, tells a missed lesion from a normal
    scan, the fit (chosen out of fold on validation) takes that feature."""
    rows = _synthetic_rows(80)
    rng = np.random.default_rng(6)
    empty = {k: 0.0 for k in Q.FEATURES} | {"empty_mask": 1.0}
    for i in range(30):
        missed = i % 3 == 0
        rows.append({"features": empty | {
            "peak_probability": float(rng.uniform(0.1, 0.7)),  # the same for both kinds
            "undecided_share": float(rng.uniform(0.8, 1.0) if missed else rng.uniform(0, 0.3))},
            "dice": 0.0 if missed else 1.0, "has_lesion": missed, "stem": f"e{i}"})
    model, info = fit_quality(rows, max_bad_share=0.05)
    assert info["empty_mask_model"] == "undecided_share"
    undecided = model.predict(empty | {"peak_probability": 0.4, "undecided_share": 0.95})
    settled = model.predict(empty | {"peak_probability": 0.4, "undecided_share": 0.05})
    assert 0.0 <= undecided < 0.5 < settled <= 1.0
    loaded = Q.QualityModel.from_card({Q.CARD_KEY: model.to_card()})
    assert loaded.predict(empty | {"peak_probability": 0.4, "undecided_share": 0.95}) \
        == pytest.approx(undecided, abs=1e-4)


def test_tta_features_are_kept_only_where_they_predict_dice_clearly_better():
    rows = _synthetic_rows(120)  # Dice follows the TTA agreement
    model, info = fit_quality(rows, max_bad_share=0.05)
    assert info["tta"]["used"] and model.uses_tta
    assert info["tta"]["out_of_fold_spearman_with"] > info["tta"]["out_of_fold_spearman_without"]
    # the same images, but Dice follows a signal of the segmenting pass itself
    rng = np.random.default_rng(2)
    plain = [{**r, "dice": float(np.clip(r["features"]["prob_inside"] + rng.normal(0, 0.02),
                                         0, 1))} for r in rows]
    model, info = fit_quality(plain, max_bad_share=0.05)
    assert not info["tta"]["used"] and not model.uses_tta
    assert not set(model.features) & set(Q.TTA_FEATURES)
    assert model.to_card()["tta"] == []
    # Dice follows the TTA agreement a little: the views rank better, but by less than their
    # batch is worth; where the mask runs the views anyway they cost nothing and are kept
    rng = np.random.default_rng(3)
    mixed = [{**r, "dice": float(np.clip(0.85 * r["features"]["prob_inside"]
                                         + 0.15 * r["features"]["tta_dice_mean"]
                                         + rng.normal(0, 0.05), 0, 1))} for r in rows]
    model, info = fit_quality(mixed, max_bad_share=0.05)
    t = info["tta"]
    assert 0 < t["out_of_fold_spearman_with"] - t["out_of_fold_spearman_without"] < 0.02
    assert not t["used"] and not model.uses_tta
    model, info = fit_quality(mixed, max_bad_share=0.05, tta_worth=0.0)
    assert info["tta"]["used"] and model.uses_tta


def test_an_estimate_without_tta_features_runs_no_extra_batch():
    seg_ = fresh_segmenter("breast", S)
    gray, _ = make_phantom(90, 120, seed=4)
    seg = seg_.segment(gray)
    model, _ = fit_quality(_synthetic_rows(60), max_bad_share=0.05, tta="no")
    seg_.card = {Q.CARD_KEY: model.to_card()}
    calls = seg_.calls
    a = Q.assess(seg_, seg)
    assert seg_.calls == calls, "no TTA batch"
    assert a.quality is not None and 0.0 <= a.quality <= 1.0
    assert not set(a.signals.features) & set(Q.TTA_FEATURES)
    assert a.quality == pytest.approx(model.predict(a.signals.features))


def test_a_card_names_its_views_and_anything_else_means_the_flip_pair():
    from unet.transforms.test_time_augmentation import VIEW_SETS, view_set_of

    for key, names in VIEW_SETS.items():
        assert view_set_of(list(names)) == key
    assert view_set_of(None) == view_set_of([]) == view_set_of(["identity"]) == "flip"
    from unet.transforms.test_time_augmentation import uses_extra_views

    assert (uses_extra_views("flip"), uses_extra_views("flip+views")) == (False, True)
    with pytest.raises(ValueError, match="test_time_augmentation"):
        uses_extra_views("flip+view")  # a typo is an error, not silently the flip pair
