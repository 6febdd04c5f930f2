"""The fits behind ``python -m training.trust``: the quality estimate (a fractional logistic
regression of the delivered mask's Dice, its low-confidence threshold, the empty-mask
estimate) and the organ check (a softmax regression), with their statistics."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
from scipy import stats

from training.intervals import wilson_upper
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
