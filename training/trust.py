"""Fit the quality estimate and the organ check of one organ's model; write them into its card.

    python -m training.trust --organ breast --data-dir PATH/Dataset_BUSI_with_GT \\
        --other-data-dir PATH/thyroidultrasound --other-data-dir PATH/DDTI_raw
    python -m training.trust --organ thyroid --data-dir PATH/thyroidultrasound \\
        --data-dir PATH/DDTI_raw --other-data-dir PATH/Dataset_BUSI_with_GT

Quality estimate (``unet.trust.quality``): features from one extra test-time-augmentation batch per
image; a logistic regression predicting the delivered mask's Dice is fitted on the VALIDATION
split of the organ's manifest (``weights/<organ>_split.json``); the low-confidence threshold is
chosen on validation so that at most ``--max-bad-share`` of the unflagged lesion images have
Dice < 0.5 (90 % upper bound), both for the out-of-fold predictions and for the delivered
model's own. Reported on the TEST split: Spearman correlation of the
estimate with Dice, mean Dice and count of flagged and unflagged images, and the share of
unflagged lesion images with Dice < 0.5.

Organ check (``unet.trust.organ_check``): pooled encoder features of this model plus image
statistics; a softmax regression over the organs and "other" fitted on the TRAIN split of every
organ's manifest (the other organ's folders are read with its own manifest) and synthetic
non-ultrasound pictures (photographs, documents, screenshots, noise). Reported on the test
splits: the share of the other organ's scans flagged, of this organ's scans flagged, and of
unseen synthetic pictures flagged.

A folder whose images are in no split of the manifest (e.g. BUS-BRA for a BUSI-only model) is
split in two by patient: the organ check also fits on one half, and the other half is scored as
an external check (quality estimate and organ check); the quality estimate never fits on it.

Both results go into the card ``weights/<organ>.json`` under ``"quality_estimate"`` and
``"organ_check"`` (written atomically; the other keys are kept). ``--dry-run`` only prints.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from scipy import stats

from training.datasets import DatasetError, Sample, find_dataset, load_gray, load_mask
from training.intervals import wilson_upper
from training.manifest import select
from unet.files import write_atomic
from unet.inference.registry import ORGANS

BAD_DICE = 0.5


# --------------------------------------------------------------------------- statistics

def spearman(a, b) -> float | None:
    """Spearman rank correlation (``scipy.stats.spearmanr``; ties get their average rank);
    None for fewer than 3 pairs or when either side is constant (no ranking to correlate)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(stats.spearmanr(a, b).statistic)


def fit_fractional_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0,
                            iterations: int = 50) -> tuple[np.ndarray, float]:
    """Logistic regression on targets in [0, 1] (cross-entropy), Newton steps; x standardized."""
    n, d = x.shape
    xa = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 1e-6
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(xa @ w, -40, 40)))
        grad = xa.T @ (p - y) + reg * w
        hess = (xa * (p * (1 - p))[:, None]).T @ xa + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def fit_softmax(x: np.ndarray, labels: np.ndarray, n_classes: int, l2: float = 1e-2,
                iterations: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced multinomial logistic regression by gradient descent (Nesterov)."""
    from unet.trust.organ_check import softmax

    n, d = x.shape
    y = np.eye(n_classes)[labels]
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    sw = (n / (n_classes * np.maximum(counts, 1)))[labels] / n
    w, b = np.zeros((d, n_classes)), np.zeros(n_classes)
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    lr, mom = 0.5, 0.9
    for _ in range(iterations):
        lw, lb = w + mom * vw, b + mom * vb
        p = softmax(x @ lw + lb)
        g = (p - y) * sw[:, None]
        gw = x.T @ g + l2 * lw
        gb = g.sum(0)
        vw = mom * vw - lr * gw
        vb = mom * vb - lr * gb
        w, b = w + vw, b + vb
    return w, b


# --------------------------------------------------------------------------- negatives

def synthetic_negatives(count: int, seed: int) -> list[np.ndarray]:
    """Gray pictures that are no ultrasound scan: photographs (smooth scenes with shapes and
    light noise), documents (text on paper), screenshots (flat panels, text), charts,
    noise, CT-like discs, and flat or gradient fields."""
    rng = np.random.default_rng(seed)
    out = []
    kinds = ("photo", "document", "screenshot", "chart", "noise", "ct", "gradient")
    font = cv2.FONT_HERSHEY_SIMPLEX
    for i in range(count):
        kind = kinds[i % len(kinds)]
        h, w = int(rng.integers(200, 800)), int(rng.integers(200, 900))
        if kind == "photo":
            low = rng.normal(0, 1, (max(2, h // 64), max(2, w // 64)))
            img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
            img = (img - img.min()) / (np.ptp(img) + 1e-6) * rng.uniform(120, 255)
            for _ in range(int(rng.integers(2, 9))):
                color = float(rng.uniform(0, 255))
                c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
                if rng.random() < 0.5:
                    cv2.circle(img, c, int(rng.integers(10, max(11, min(h, w) // 3))), color, -1)
                else:
                    cv2.rectangle(img, c, (int(rng.integers(0, w)), int(rng.integers(0, h))),
                                  color, -1)
            img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 3)))
            img = img + rng.normal(0, rng.uniform(1, 8), img.shape)
        elif kind in ("document", "screenshot"):
            img = np.full((h, w), int(rng.uniform(200, 255) if kind == "document"
                                      else rng.uniform(20, 240)), np.uint8)
            if kind == "screenshot":
                for _ in range(int(rng.integers(2, 6))):
                    p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
                    p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
                    cv2.rectangle(img, p1, p2, int(rng.uniform(0, 255)), -1)
            y = int(rng.integers(20, 40))
            ink = int(rng.uniform(0, 60)) if img.mean() > 128 else int(rng.uniform(190, 255))
            while y < h - 10:
                text = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz 0123456789.,"),
                                          int(rng.integers(10, 60))))
                cv2.putText(img, text, (int(rng.integers(5, 30)), y), font,
                            float(rng.uniform(0.4, 1.0)), ink, int(rng.integers(1, 3)))
                y += int(rng.integers(18, 40))
        elif kind == "chart":
            img = np.full((h, w), 255.0)
            xs = np.linspace(20, w - 20, 30).astype(int)
            ys = (h / 2 + np.cumsum(rng.normal(0, h / 30, 30))).clip(10, h - 10).astype(int)
            cv2.polylines(img, [np.stack([xs, ys], 1).astype(np.int32)], False, 0.0, 2)
            cv2.line(img, (20, h - 20), (w - 20, h - 20), 0.0, 2)
            cv2.line(img, (20, 20), (20, h - 20), 0.0, 2)
            for x0 in range(40, w - 40, max(20, w // 12)):
                cv2.rectangle(img, (x0, int(rng.integers(h // 3, h - 30))),
                              (x0 + max(5, w // 30), h - 21), float(rng.uniform(60, 200)), -1)
        elif kind == "noise":
            img = rng.uniform(0, 255, (h, w))
            if rng.random() < 0.5:
                img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 4)))
        elif kind == "ct":
            img = np.zeros((h, w))
            cv2.ellipse(img, (w // 2, h // 2), (int(w * rng.uniform(0.3, 0.45)),
                                                int(h * rng.uniform(0.3, 0.45))),
                        0, 0, 360, float(rng.uniform(80, 140)), -1)
            for _ in range(int(rng.integers(3, 10))):
                cv2.circle(img, (int(rng.integers(w // 4, 3 * w // 4)),
                                 int(rng.integers(h // 4, 3 * h // 4))),
                           int(rng.integers(5, max(6, min(h, w) // 8))),
                           float(rng.uniform(0, 255)), -1)
            img = cv2.GaussianBlur(img, (0, 0), 1.5) + rng.normal(0, 4, img.shape)
        else:
            yy, xx = np.mgrid[0:h, 0:w]
            img = (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1))
            img = (img - img.min()) / (np.ptp(img) + 1e-6) * 255
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


# --------------------------------------------------------------------------- data

def _manifest_keys(organ_key: str, manifest: str | None = None) -> dict[str, list[str]]:
    path = Path(manifest) if manifest else ORGANS[organ_key].weight_path.parent / \
        f"{organ_key}_split.json"
    try:
        data = json.loads(path.read_text())
        return {k: [i["key"] for i in v] for k, v in data["splits"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"Cannot read the split manifest {path} ({exc}).") from exc


def _split(data_dir: str, keys: dict[str, list[str]]) -> tuple[str, dict[str, list[Sample]]]:
    dataset = find_dataset(data_dir)
    return Path(data_dir).name, {s: select(dataset.samples, k) for s, k in keys.items()}


def _subsample(items: list, limit: int | None, seed: int = 0) -> list:
    if limit is None or len(items) <= limit:
        return items
    idx = np.sort(np.random.default_rng(seed).choice(len(items), limit, replace=False))
    return [items[i] for i in idx]


def _halves(samples: list[Sample]) -> tuple[list[Sample], list[Sample]]:
    """Split a folder outside the manifests in two by patient (``Sample.group`` where the
    layout knows it, else the file stem): the organ check fits on one half, is scored on the
    other."""
    import zlib

    def group(s):
        return getattr(s, "group", "") or Path(s.key).stem

    first = [s for s in samples if zlib.crc32(group(s).encode()) % 2 == 0]
    return first, [s for s in samples if zlib.crc32(group(s).encode()) % 2 == 1]


def _model_view(segmenter, gray: np.ndarray) -> np.ndarray:
    from unet.transforms.fov import Box, find_field_of_view
    from unet.transforms.preprocess import to_model_input

    box = (find_field_of_view(gray) if segmenter.organ.crop_field_of_view
           else Box(0, 0, gray.shape[0], gray.shape[1]))
    return to_model_input(gray[box.slice], segmenter.input_size)


def organ_features(segmenter, grays: list[np.ndarray], layer: str,
                   batch: int = 16) -> np.ndarray:
    """Organ-check feature vectors of frames, as inference computes them (batched)."""
    from unet.trust.organ_check import feature_vector, pooled_encoder_features

    rows = []
    for i in range(0, len(grays), batch):
        chunk = grays[i:i + batch]
        x = np.stack([_model_view(segmenter, g) for g in chunk])
        emb = pooled_encoder_features(segmenter.model, x, layer)
        rows.extend(feature_vector(e, g) for e, g in zip(emb, chunk, strict=True))
    return np.array(rows, np.float64)


def quality_row(segmenter, sample: Sample, layer: str) -> dict:
    from unet.trust.quality import dice, measure

    gray = load_gray(sample.image_path)
    truth = load_mask(sample, gray.shape)
    seg = segmenter.segment(gray)
    signals = measure(segmenter, seg, encoder_layer=layer)
    return {"key": sample.key, "stem": Path(sample.key).stem, "has_lesion": bool(truth.any()),
            "dice": dice(seg.mask(), truth), "features": signals.features,
            "organ_features": signals.organ_features.tolist()}


# --------------------------------------------------------------------------- fitting

DISPLAY_STEP = 0.01  # the app shows the estimate with two decimals (webapp/trust_text.py)


def choose_threshold(pred: np.ndarray, dice: np.ndarray, lesion: np.ndarray,
                     max_bad_share: float, z: float = 1.2816) -> float:
    """Smallest threshold such that, among the lesion images at or above it, the share with
    Dice < 0.5 is at most ``max_bad_share`` with 90 % confidence (its one-sided Wilson upper
    bound; ``z=0`` uses the plain share). 1.0 (flag everything) when none qualifies.

    The candidates lie halfway between the values the app shows (0.565, 0.575, ...), so two
    uploads shown with the same estimate ("≈ 0.57") always get the same flag, and a threshold
    never splits a cluster of estimates that differ only in the fourth decimal."""
    pred = np.asarray(pred, np.float64)
    candidates = np.round(np.arange(0.0, 1.0, DISPLAY_STEP) + DISPLAY_STEP / 2, 4)
    for t in candidates[candidates > pred.min() - DISPLAY_STEP] if len(pred) else []:
        keep = (pred >= t) & lesion
        if keep.sum() == 0:
            break
        if wilson_upper(int((dice[keep] < BAD_DICE).sum()), int(keep.sum()), z) \
                <= max_bad_share:
            return float(t)
    return 1.0


def threshold_for_all(predictions: dict[str, np.ndarray], dice: np.ndarray, lesion: np.ndarray,
                      max_bad_share: float) -> tuple[float, dict[str, float]]:
    """The flag threshold that meets ``choose_threshold``'s bound for every set of predictions
    of the same validation images (the largest of their thresholds), and each set's own.

    The out-of-fold predictions alone are not enough: the delivered model (fitted on all of
    validation) puts its own values on the images, and a threshold found just under a cluster
    of out-of-fold values can leave the delivered model's cluster unflagged, so that the rule
    the card states does not hold for the model it ships with, even on validation."""
    own = {name: choose_threshold(np.asarray(p), dice, lesion, max_bad_share)
           for name, p in predictions.items()}
    return max(own.values()), own


def _folds(groups: list[str], k: int, seed: int = 0) -> np.ndarray:
    uniq = sorted(set(groups))
    perm = np.random.default_rng(seed).permutation(len(uniq))
    fold_of = {g: int(perm[i] % k) for i, g in enumerate(uniq)}
    return np.array([fold_of[g] for g in groups])


def _empty_quality(dice: np.ndarray) -> float:
    """Smoothed share of empty results that were right (Dice 1: truly lesion-free)."""
    return float((np.sum(dice >= 0.5) + 1.0) / (len(dice) + 2.0))


MIN_EMPTY_PER_KIND = 3  # empty results of each kind (right, missed lesion) to fit on the peak


def fit_empty_model(values: np.ndarray, right: np.ndarray, feature: str,
                    l2: float = 1.0) -> tuple | None:
    """(feature, mean, scale, coef, intercept) of P(an empty mask is right | feature's value),
    or None (use the constant share) when either kind has fewer than MIN_EMPTY_PER_KIND."""
    right = np.asarray(right, bool)
    if min(int(right.sum()), int((~right).sum())) < MIN_EMPTY_PER_KIND:
        return None
    mean, scale = float(values.mean()), float(values.std()) or 1.0
    w, b = fit_fractional_logistic(((values - mean) / scale)[:, None], right.astype(float), l2)
    return (feature, mean, scale, float(w[0]), float(b))


def _empty_estimates(v_train, right_train, v_test, feature: str | None) -> np.ndarray:
    from unet.trust.quality import predict_empty_model

    fitted = fit_empty_model(v_train, right_train, feature) if feature else None
    if fitted is None:
        return np.full(len(v_test), _empty_quality(right_train.astype(float)))
    return predict_empty_model(fitted, v_test)


TTA_WORTH = 0.02  # out-of-fold Spearman the TTA features must add to be worth their batch


def fit_quality(rows: list[dict], max_bad_share: float, l2_grid=(0.3, 1.0, 3.0, 10.0, 30.0),
                tta: str = "auto", tta_worth: float = TTA_WORTH):
    """The quality estimate, with or without the TTA features (``tta``: "auto", "yes", "no").

    "auto": both are fitted; the TTA features are kept only when they raise the out-of-fold
    Spearman correlation by more than ``tta_worth``: ``TTA_WORTH`` where they would cost an
    extra batch of four images per upload (twice the segmentation's model time), 0 where the
    organ's mask runs those views anyway (``views_free``)."""
    from unet.trust.quality import MODEL_FEATURES, NO_TTA_FEATURES

    if tta not in ("auto", "yes", "no"):
        raise ValueError("tta must be 'auto', 'yes' or 'no'")
    fits = {}
    if tta in ("auto", "yes"):
        fits["yes"] = _fit_quality(rows, max_bad_share, l2_grid, MODEL_FEATURES)
    if tta in ("auto", "no"):
        fits["no"] = _fit_quality(rows, max_bad_share, l2_grid, NO_TTA_FEATURES)
    rho = {k: info["out_of_fold_spearman"] for k, (_, info) in fits.items()}
    choice = tta
    if tta == "auto":
        choice = "yes" if rho["yes"] > rho["no"] + tta_worth else "no"
    model, info = fits[choice]
    info["tta"] = {"used": choice == "yes", "rule": f"kept when it adds more than {tta_worth} "
                   "out-of-fold Spearman" + (" (the mask runs the views anyway)"
                                             if tta_worth == 0 else ""),
                   "out_of_fold_spearman_with": rho.get("yes"),
                   "out_of_fold_spearman_without": rho.get("no")}
    return model, info


def _fit_quality(rows: list[dict], max_bad_share: float, l2_grid, features):
    """Fit on non-empty masks (logistic) and empty masks (a logistic on the peak probability,
    or a constant share); choose the ridge strength, the empty-mask model and the flag
    threshold on out-of-fold predictions (5 folds, grouped by file stem)."""
    from unet.trust.quality import EMPTY_MODEL_FEATURES, QualityModel

    x = np.array([[r["features"][f] for f in features] for r in rows], np.float64)
    y = np.array([r["dice"] for r in rows])
    lesion = np.array([r["has_lesion"] for r in rows])
    empty = np.array([r["features"]["empty_mask"] > 0.5 for r in rows])
    if (~empty).sum() < 5:
        raise ValueError("fewer than 5 non-empty masks to fit the quality estimate on")
    mean, scale = x[~empty].mean(0), x[~empty].std(0)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
    empty_values = {f: np.array([r["features"][f] for r in rows], np.float64)
                    for f in EMPTY_MODEL_FEATURES}
    right = y >= 0.5  # an empty mask is right exactly when the image is lesion-free
    folds = _folds([r["stem"] for r in rows], 5)
    best = None
    # the empty-mask model: a constant (None) or a logistic on one of the candidate features
    for l2, empty_feature in itertools.product(l2_grid, (None, *EMPTY_MODEL_FEATURES)):
        v = empty_values.get(empty_feature)
        oof = np.zeros(len(rows))
        for f in range(5):
            tr, te = folds != f, folds == f
            w, b = fit_fractional_logistic(z[tr & ~empty], y[tr & ~empty], l2)
            oof[te] = 1 / (1 + np.exp(-(z[te] @ w + b)))
            oof[te & empty] = _empty_estimates(
                None if v is None else v[tr & empty], right[tr & empty],
                np.zeros(int((te & empty).sum())) if v is None else v[te & empty], empty_feature)
        rho = spearman(oof, y) or -1.0
        if best is None or rho > best[0] + 1e-9:  # ties keep the simpler (constant) model
            best = (rho, l2, empty_feature, oof)
    rho, l2, empty_feature, oof = best
    w, b = fit_fractional_logistic(z[~empty], y[~empty], l2)
    empty_model = (fit_empty_model(empty_values[empty_feature][empty], right[empty],
                                   empty_feature) if empty_feature else None)
    model = QualityModel(tuple(features), mean, scale, w, b, 1.0,
                         _empty_quality(y[empty]), empty_model)
    delivered = model.predict_rows([r["features"] for r in rows])
    threshold, by_set = threshold_for_all({"out_of_fold": oof, "delivered_model": delivered},
                                          y, lesion, max_bad_share)
    model = dataclasses.replace(model, low_confidence_below=threshold)
    return model, {"l2": l2, "out_of_fold_spearman": rho,
                   "empty_mask_model": empty_model[0] if empty_model else "constant",
                   "empty_masks": int(empty.sum()),
                   "empty_masks_truly_lesion_free": int(np.sum(y[empty] >= 0.5)),
                   "threshold_by_prediction_set": by_set,
                   "out_of_fold_summary": quality_summary(oof, y, lesion, threshold)}


def quality_summary(pred, dice, lesion, threshold) -> dict:
    pred, dice, lesion = np.asarray(pred), np.asarray(dice), np.asarray(lesion, bool)
    flagged = pred < threshold

    def mean(v):
        return float(np.mean(v)) if len(v) else None

    unflagged_lesion = ~flagged & lesion
    return {
        "images": int(len(pred)), "lesion_images": int(lesion.sum()),
        "spearman_all": spearman(pred, dice),
        "spearman_lesion_images": spearman(pred[lesion], dice[lesion]),
        "mean_abs_error": mean(np.abs(pred - dice)),
        "flagged": {"count": int(flagged.sum()), "mean_dice": mean(dice[flagged])},
        "unflagged": {"count": int((~flagged).sum()), "mean_dice": mean(dice[~flagged])},
        "unflagged_lesion_images": int(unflagged_lesion.sum()),
        "unflagged_lesion_dice_below_0.5": int((dice[unflagged_lesion] < BAD_DICE).sum()),
        "unflagged_lesion_share_dice_below_0.5": mean(dice[unflagged_lesion] < BAD_DICE),
    }


def fit_organ_check(organ_key: str, layer: str, feats: dict[str, np.ndarray], l2: float,
                    own_val=None, max_flagged: float = 0.05):
    """Softmax regression over organs + "other"; the margin is the smallest one (>= 0) under
    which, in each of this organ's validation sets (``own_val``: one array, or a list of arrays,
    e.g. DDTI crops and raw frames), the flagged share is at most ``max_flagged`` with 90 %
    confidence (its one-sided Wilson upper bound): a margin fitted to the plain share of a small
    validation set flagged three times as many test crops."""
    from unet.trust.organ_check import OTHER, OrganCheck

    classes = tuple(sorted(ORGANS)) + (OTHER,)
    x = np.vstack([feats[c] for c in classes])
    labels = np.concatenate([np.full(len(feats[c]), i) for i, c in enumerate(classes)])
    mean, scale = x.mean(0), x.std(0)
    scale[scale < 1e-6] = 1.0
    w, b = fit_softmax((x - mean) / scale, labels, len(classes), l2)
    check = OrganCheck(organ_key, classes, layer, mean, scale, w, b, 0.0)
    sets = [own_val] if isinstance(own_val, np.ndarray) else list(own_val or [])
    margins = [_margin_for(check.log_odds(v), max_flagged) for v in sets if len(v)]
    if margins:
        check = OrganCheck(organ_key, classes, layer, mean, scale, w, b, max(margins))
    return check


def _margin_for(odds: np.ndarray, max_flagged: float) -> float:
    """Smallest margin m >= 0 with wilson_upper(#(odds < -m), n) <= max_flagged."""
    candidates = [0.0] + sorted(float(-o) + 1e-6 for o in odds if o < 0)
    for m in candidates:
        if wilson_upper(int((odds < -m).sum()), len(odds)) <= max_flagged:
            return m
    return candidates[-1]


# --------------------------------------------------------------------------- card

def _compact_lists(value, found: list):
    """Replace lists of numbers (and of such lists) by placeholders, remembered in ``found``."""
    if isinstance(value, dict):
        return {k: _compact_lists(v, found) for k, v in value.items()}
    if isinstance(value, list) and value and all(
            isinstance(v, (int, float)) or (isinstance(v, list) and all(
                isinstance(u, (int, float)) for u in v)) for v in value):
        found.append(value)
        return f"@@compact{len(found) - 1}@@"
    if isinstance(value, list):
        return [_compact_lists(v, found) for v in value]
    return value


def write_card_keys(card_path: Path, updates: dict) -> None:
    """Set only ``updates``' keys in the card, atomically (``unet.files.write_atomic``). Numeric
    arrays, the card's earlier keys' included, are written one per line, so the card stays
    readable however often it is written."""
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    card.update(updates)
    found: list = []
    card = {k: _compact_lists(v, found) for k, v in card.items()}
    text = json.dumps(card, indent=1)
    for i, value in enumerate(found):
        text = text.replace(f'"@@compact{i}@@"', json.dumps(value))
    json.loads(text)  # still valid JSON
    write_atomic(card_path, text + "\n")


# --------------------------------------------------------------------------- main

def _fmt(v, pct=False):
    if v is None:
        return "n/a"
    return f"{v:.1%}" if pct else f"{v:.3f}"


def _print_quality(name: str, s: dict) -> None:
    print(f"  {name}: {s['images']} images ({s['lesion_images']} with a lesion); Spearman "
          f"{_fmt(s['spearman_all'])} (lesion images {_fmt(s['spearman_lesion_images'])}); "
          f"flagged {s['flagged']['count']} (mean Dice {_fmt(s['flagged']['mean_dice'])}), "
          f"unflagged {s['unflagged']['count']} (mean Dice "
          f"{_fmt(s['unflagged']['mean_dice'])}); unflagged lesion images with Dice < 0.5: "
          f"{s['unflagged_lesion_dice_below_0.5']} of {s['unflagged_lesion_images']} "
          f"({_fmt(s['unflagged_lesion_share_dice_below_0.5'], True)})")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.trust", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--organ", required=True, choices=sorted(ORGANS))
    p.add_argument("--data-dir", action="append", required=True,
                   help="this organ's data folder (repeatable: e.g. DDTI crops and raw frames)")
    p.add_argument("--other-data-dir", action="append", default=[],
                   help="another organ's data folder (repeatable), read with its manifest")
    p.add_argument("--weights", default=None, help="default: the bundled weights/<organ>.keras")
    p.add_argument("--card", default=None, help="default: the card next to the weights")
    p.add_argument("--manifest", default=None, help="default: weights/<organ>_split.json")
    p.add_argument("--max-bad-share", type=float, default=0.05,
                   help="target share of unflagged lesion images with Dice < 0.5; the "
                        "threshold keeps its 90 %% upper confidence bound on validation below")
    p.add_argument("--max-train", type=int, default=400,
                   help="train images per folder for the organ check (default 400)")
    p.add_argument("--max-external", type=int, default=200,
                   help="images per half of a folder outside the manifests (200)")
    p.add_argument("--negatives", type=int, default=280, help="synthetic negatives to fit on")
    p.add_argument("--organ-l2", type=float, default=1e-3)
    p.add_argument("--max-right-organ-flagged", type=float, default=0.05,
                   help="share of this organ's images the organ check may flag (90 %% upper "
                        "bound on each validation set)")
    p.add_argument("--tta", choices=("auto", "yes", "no"), default="auto",
                   help="quality features from the extra TTA batch: 'auto' keeps them only "
                        f"when they add more than {TTA_WORTH} out-of-fold Spearman")
    p.add_argument("--cache", default=None, help="npz of computed features (reused if present)")
    p.add_argument("--dry-run", action="store_true", help="print, do not write the card")
    p.add_argument("--limit-eval", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    try:
        return run(args)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _collect(args) -> dict:
    """Everything the network gives, per folder and split (the slow part)."""
    from unet.inference.registry import get_organ
    from unet.inference.segmenter import Segmenter
    from unet.trust.organ_check import encoder_layer_name

    organ = get_organ(args.organ)
    segmenter = Segmenter(organ, weights=args.weights)
    layer = encoder_layer_name(segmenter.model)
    print(f"weights: {segmenter.source}; encoder layer {layer!r}", flush=True)
    own_keys = _manifest_keys(organ.key, args.manifest)
    other_organs = [k for k in sorted(ORGANS) if k != organ.key]
    t0 = time.time()
    data = {"own": {}, "other": {}, "layer": layer, "version": segmenter.version,
            "views": segmenter.views}

    def progress(msg):
        print(f"  [{time.time() - t0:6.0f} s] {msg}", flush=True)

    for d in args.data_dir:
        name, parts = _split(d, own_keys)
        entry = {}
        if sum(len(v) for v in parts.values()) == 0:  # external folder: not in the manifest
            fit_half, test_half = _halves(find_dataset(d).samples)
            train = _subsample(fit_half, args.max_external)
            entry["train_organ"] = organ_features(
                segmenter, [load_gray(s.image_path) for s in train], layer)
            samples = _subsample(test_half, args.max_external)
            entry["external"] = [quality_row(segmenter, s, layer) for s in samples]
            progress(f"{name}: {len(train)} external images (one half of the patients) "
                     f"encoded for the organ check, {len(samples)} of the other half scored")
        else:
            for split in ("val", "test"):
                samples = _subsample(parts.get(split, []), args.limit_eval)
                entry[split] = [quality_row(segmenter, s, layer) for s in samples]
                progress(f"{name} {split}: {len(entry[split])} images scored")
            train = _subsample(parts.get("train", []), args.max_train)
            entry["train_organ"] = organ_features(
                segmenter, [load_gray(s.image_path) for s in train], layer)
            progress(f"{name} train: {len(train)} images encoded")
        data["own"][name] = entry
    for d in args.other_data_dir:
        best = None
        for other in other_organs:
            name, parts = _split(d, _manifest_keys(other))
            n = sum(len(v) for v in parts.values())
            if best is None or n > best[2]:
                best = (other, name, n, parts)
        other, name, n, parts = best
        if n == 0:  # in no manifest: an external test set of the other organ
            if len(other_organs) > 1:
                raise DatasetError(f"{d}: no image of another organ's manifest found, so its "
                                   "organ is unknown.")
            fit_half, test_half = _halves(find_dataset(d).samples)
            parts = {"train": fit_half, "test": _subsample(test_half, args.max_external)}
            name = f"{name} external"
        entry = {"organ": other}
        for split, limit in (("train", args.max_train), ("test", None)):
            samples = _subsample(parts.get(split, []), limit)
            entry[split] = organ_features(segmenter, [load_gray(s.image_path) for s in samples],
                                          layer)
            progress(f"{name} ({other}) {split}: {len(samples)} images encoded")
        data["other"][name] = entry
    data["negatives_train"] = organ_features(segmenter, synthetic_negatives(args.negatives, 1),
                                             layer)
    data["negatives_test"] = organ_features(segmenter, synthetic_negatives(140, 2), layer)
    progress("synthetic negatives encoded")
    return data


def run(args) -> int:
    import pickle

    from unet.inference.registry import get_organ
    from unet.trust.organ_check import OTHER

    organ = get_organ(args.organ)
    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.is_file():
        data = pickle.loads(cache.read_bytes())
        print(f"features read from {cache}")
    else:
        data = _collect(args)
        if cache is not None:
            cache.write_bytes(pickle.dumps(data))
    layer = data["layer"]

    # ---- quality estimate: fit on validation, report on test
    val = [r for e in data["own"].values() for r in e.get("val", [])]
    if len(val) < 10:
        raise DatasetError("fewer than 10 validation images found: check --data-dir and "
                           "the manifest")
    from unet.transforms.test_time_augmentation import uses_extra_views

    views_free = uses_extra_views(data.get("views", "flip"))  # caches from before: flip pair
    model, fit_info = fit_quality(val, args.max_bad_share, tta=args.tta,
                                  tta_worth=0.0 if views_free else TTA_WORTH)

    def summary(rows):
        if not rows:
            return None
        pred = model.predict_rows([r["features"] for r in rows])
        return quality_summary(pred, [r["dice"] for r in rows],
                               [r["has_lesion"] for r in rows], model.low_confidence_below)

    test_rows = [r for e in data["own"].values() for r in e.get("test", [])]
    q_test = {"all": summary(test_rows)}
    if len(data["own"]) > 1:
        for name, e in data["own"].items():
            if e.get("test"):
                q_test[name] = summary(e["test"])
    q_external = {name: summary(e["external"]) for name, e in data["own"].items()
                  if e.get("external")}
    val_summary = summary(val)

    # ---- organ check: fit on train splits + synthetic negatives; report on test splits
    feats = {c: [] for c in (*sorted(ORGANS), OTHER)}
    for e in data["own"].values():
        if "train_organ" in e and len(e["train_organ"]):
            feats[organ.key].append(e["train_organ"])
    for e in data["other"].values():
        if len(e["train"]) and len(e["train"][0]):
            feats[e["organ"]].append(e["train"])
    feats[OTHER].append(data["negatives_train"])
    feats = {c: np.vstack(v) for c, v in feats.items() if v}
    own_val = [np.array([r["organ_features"] for r in e["val"]], np.float64)
               for e in data["own"].values() if e.get("val")]
    check = fit_organ_check(organ.key, layer, feats, args.organ_l2, own_val,
                            args.max_right_organ_flagged)

    def flag_rate(x):
        x = np.asarray(x, np.float64)
        return float(check.flags(x).mean()) if len(x) else None

    def rate_entry(x):
        return {"images": int(len(x)), "flagged_share": flag_rate(x)}

    own_test = {name: rate_entry([r["organ_features"] for r in e["test"]])
                for name, e in data["own"].items() if e.get("test")}
    own_ext = {name: rate_entry([r["organ_features"] for r in e["external"]])
               for name, e in data["own"].items() if e.get("external")}
    other_test = {f"{name} ({e['organ']})": rate_entry(e["test"])
                  for name, e in data["other"].items()}
    neg = data["negatives_test"]
    p_neg = check.probabilities(neg)
    organ_report = {
        "right_organ_test": own_test,
        "right_organ_external": own_ext,
        "other_organ_test": other_test,
        "synthetic_non_ultrasound_test": {
            "images": int(len(neg)),
            "flagged_share": flag_rate(neg),
            "called_not_ultrasound_share": float(
                (p_neg.argmax(1) == check.classes.index(OTHER)).mean()),
        },
        "targets": "other organ's scans flagged >= 90 %; right organ's scans flagged <= 5 %",
    }

    # ---- print
    print(f"\n=== {organ.display_name} model {data['version']}: quality estimate ===")
    print(f"empty masks on validation: {fit_info['empty_masks']}, of which truly lesion-free "
          f"{fit_info['empty_masks_truly_lesion_free']}: an empty mask's estimate is "
          + (f"a logistic regression on its {model.empty_model[0]} (coef "
             f"{model.empty_model[3]:.2f})" if model.empty_model
             else f"{model.empty_mask_quality:.3f}"))
    print(f"fitted on {len(val)} validation images (l2 {fit_info['l2']}); low confidence "
          f"below {model.low_confidence_below:.3f} (chosen on validation, out of fold and for the "
          f"delivered model: at most "
          f"{args.max_bad_share:.0%} of unflagged lesion images with Dice < 0.5, 90 % upper "
          "confidence bound)")
    t = fit_info["tta"]
    print(f"TTA features {'used' if t['used'] else 'not used'}: out-of-fold Spearman "
          f"{_fmt(t['out_of_fold_spearman_with'])} with, {_fmt(t['out_of_fold_spearman_without'])}"
          f" without ({t['rule']})")
    _print_quality("validation, out of fold", fit_info["out_of_fold_summary"])
    for name, s in q_test.items():
        if s:
            _print_quality(f"TEST {name}", s)
    for name, s in q_external.items():
        _print_quality(f"external {name} (not in the manifest)", s)
    s = q_test["all"]
    ok_rho = (s["spearman_all"] or 0) >= 0.6
    share = s["unflagged_lesion_share_dice_below_0.5"]
    ok_bad = share is not None and share <= 0.05
    print(f"targets on test: Spearman >= 0.6: {'met' if ok_rho else 'MISSED'}; "
          f"<= 5 % unflagged lesion images with Dice < 0.5: {'met' if ok_bad else 'MISSED'}")
    print(f"\n=== {organ.display_name} model: organ check (layer {layer!r}) ===")
    print("fitted on: " + ", ".join(f"{c} {len(v)}" for c, v in feats.items())
          + f"; margin {check.margin:.2f} (validation: {flag_rate(np.vstack(own_val)):.1%} of "
          f"{sum(len(v) for v in own_val)} {organ.key} images flagged)")
    for name, r in own_test.items():
        print(f"  right organ, test {name}: {_fmt(r['flagged_share'], True)} of {r['images']} "
              "flagged (target <= 5 %)")
    for name, r in own_ext.items():
        print(f"  right organ, external {name}: {_fmt(r['flagged_share'], True)} of "
              f"{r['images']} flagged (target <= 5 %)")
    for name, r in other_test.items():
        print(f"  other organ, test {name}: {_fmt(r['flagged_share'], True)} of {r['images']} "
              "flagged (target >= 90 %)")
    sn = organ_report["synthetic_non_ultrasound_test"]
    print(f"  synthetic non-ultrasound (unseen seeds): {sn['flagged_share']:.1%} of "
          f"{sn['images']} flagged, {sn['called_not_ultrasound_share']:.1%} called "
          "'not an ultrasound scan'")

    quality_card = {
        **model.to_card(),
        "fitted_on": f"validation split, {len(val)} images ("
                     + ", ".join(f"{n} {len(e.get('val', []))}" for n, e in data["own"].items()
                                 if e.get("val")) + ")",
        "threshold_rule": f"validation: smallest threshold whose share of unflagged lesion "
                          f"images at Dice < 0.5 is at most {args.max_bad_share:.0%} with 90 % "
                          "confidence (Wilson upper bound), both for the out-of-fold "
                          "predictions and for the delivered model's own (the larger of the "
                          "two thresholds)",
        "threshold_by_prediction_set": fit_info["threshold_by_prediction_set"],
        "validation_out_of_fold": fit_info["out_of_fold_summary"],
        "tta_choice": fit_info["tta"],
        "validation_in_sample": val_summary,
        "test": q_test,
        **({"external": q_external} if q_external else {}),
        "model_version": data["version"],
        "command": _command(args),
    }
    organ_card = {**check.to_card(), "test": organ_report, "model_version": data["version"],
                  "margin_rule": f"smallest margin under which each validation set of this "
                                 f"organ has at most {args.max_right_organ_flagged:.0%} flagged "
                                 "with 90 % confidence (Wilson upper bound)",
                  "fitted_on": {c: int(len(v)) for c, v in feats.items()}}
    if args.dry_run:
        print("\n--dry-run: card not written")
        return 0
    card_path = Path(args.card) if args.card else (
        Path(args.weights).with_suffix(".json") if args.weights else organ.card_path)
    write_card_keys(card_path, {"quality_estimate": quality_card, "organ_check": organ_card})
    print(f"\nwritten to {card_path} (keys 'quality_estimate', 'organ_check')")
    return 0


def _command(args) -> str:
    parts = ["python -m training.trust", "--organ", args.organ]
    parts += [f"--data-dir {d}" for d in args.data_dir]
    parts += [f"--other-data-dir {d}" for d in args.other_data_dir]
    return " ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
