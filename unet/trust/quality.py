"""How good is this mask likely to be? An estimate of its Dice overlap with an expert outline.

Signals, all from the model itself (at most one extra batch per image):

* test-time augmentation beyond the mirror image: ``TTA`` (two zooms and two shifts, one of them
  mirrored; ``unet.transforms.test_time_augmentation``) run as ONE batch through
  ``Segmenter.predict_batch``
  (or reused from ``Segmenter.segment`` where the organ's mask already uses them), each member
  warped back onto the original view; the Dice agreement of each member's mask with the
  delivered mask (mean and minimum), and the consensus (intersection over union of all masks).
  Only where the fitted estimate uses them (``QualityModel.uses_tta``): ``python -m
  training.trust`` keeps them for a model only when they predict Dice clearly better on
  validation, since they cost twice the segmentation's model time;
* the mirror agreement ``Segmentation.confidence`` that ``Segmenter.segment`` already gives;
* the mean probability and binary entropy inside the mask and in a ring around it, the
  members' per-pixel spread around the lesion, and the share of undecided pixels;
* the lesion's area fraction, its number of components, the peak probability, and whether the
  mask is empty.

The features are standardized and fed to a logistic regression (``expected Dice =
sigmoid(w . z + b)``), fitted on the validation split by ``python -m training.trust`` and stored
as plain numbers in the model card under ``"quality_estimate"``; inference is NumPy only.

What the number means: the expected Dice between the delivered mask (at the model's own
threshold) and an expert outline. For an image without a lesion, Dice is defined as 1 when the
mask is empty too (the model correctly found nothing) and 0 when the model marks something; so
on an empty mask the estimate is the expected chance that there really is no lesion.
``low_confidence`` is true when the estimate is below the card's ``low_confidence_below``,
chosen on the validation split so that few images shown without a warning are badly wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from unet.inference.settings import QUALITY_CARD_KEY
from unet.metrics import dice
from unet.transforms.postprocess import clean_mask
from unet.transforms.preprocess import to_model_input
from unet.transforms.test_time_augmentation import EXTRA_VIEWS, augment_batch, warp_back

CARD_KEY = QUALITY_CARD_KEY  # the card's block of the estimate (one name, settings.py)

# the extra views (unet.transforms.test_time_augmentation): their agreement with the mask is a
# signal
TTA = EXTRA_VIEWS

FEATURES = (
    "flip_agreement", "tta_dice_mean", "tta_dice_min", "tta_consensus_iou", "tta_spread",
    "prob_inside", "entropy_inside", "prob_ring", "entropy_ring", "undecided_share",
    "sqrt_area_fraction", "log_components", "peak_probability", "empty_mask",
)
# the regression's inputs: every feature but the empty-mask indicator (empty masks apart)
MODEL_FEATURES = tuple(f for f in FEATURES if f != "empty_mask")
# the features that need the extra TTA batch (two thirds of an upload's model time): a fitted
# estimate without them runs no extra batch (training.trust chooses per model, on validation)
TTA_FEATURES = ("tta_dice_mean", "tta_dice_min", "tta_consensus_iou", "tta_spread")
NO_TTA_FEATURES = tuple(f for f in MODEL_FEATURES if f not in TTA_FEATURES)
# an empty mask's estimate: how close the model came to marking something, by one of these
# (training.trust chooses on validation: the highest out-of-fold Spearman, or a constant)
EMPTY_MODEL_FEATURES = ("peak_probability", "undecided_share")
EMPTY_MODEL_KEYS = ("mean", "scale", "coef", "intercept")


def _entropy(p: np.ndarray) -> np.ndarray:
    p = np.clip(p.astype(np.float64), 1e-6, 1 - 1e-6)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


def features_from_maps(base_prob: np.ndarray, base_mask: np.ndarray, members: np.ndarray,
                       valid: np.ndarray, *, threshold: float, flip_agreement: float,
                       components: int, min_area_px: int = 0, min_peak: float = 0.0) -> dict:
    """The named features from maps in the model's view (S, S).

    base_prob: the delivered probability (mean of the original and mirrored passes);
    base_mask: the delivered (cleaned) mask; members: the TTA members' probabilities warped
    back, valid: where each member saw the image; components: lesions in the delivered mask.
    members=None: no TTA batch was run, and the ``TTA_FEATURES`` are left out.
    """
    m = np.asarray(base_mask, bool)
    s2 = m.size
    radius = max(2, round(0.04 * m.shape[0]))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    tta = {}
    if members is not None:
        tta = _tta_features(base_prob, m, members, valid, kernel, threshold=threshold,
                            min_area_px=min_area_px, min_peak=min_peak)
    ring = (cv2.dilate(m.astype(np.uint8), kernel) > 0) & ~m
    ent = _entropy(base_prob)
    undecided = (base_prob > 0.2) & (base_prob < 0.8)
    return {
        "flip_agreement": float(flip_agreement),
        **tta,
        "prob_inside": float(base_prob[m].mean()) if m.any() else 0.0,
        "entropy_inside": float(ent[m].mean()) if m.any() else 0.0,
        "prob_ring": float(base_prob[ring].mean()) if ring.any() else 0.0,
        "entropy_ring": float(ent[ring].mean()) if ring.any() else 0.0,
        "undecided_share": float(undecided.sum() / (undecided.sum() + m.sum() + 1.0)),
        "sqrt_area_fraction": float(np.sqrt(m.sum() / s2)),
        "log_components": float(np.log1p(components)),
        "peak_probability": float(base_prob.max()),
        "empty_mask": 0.0 if m.any() else 1.0,
    }


def _tta_features(base_prob, m, members, valid, kernel, *, threshold, min_area_px,
                  min_peak) -> dict:
    """How the TTA members' masks agree with the delivered one, and their spread near it."""
    member_masks = [clean_mask(p, threshold, min_area_px=min_area_px, min_peak=min_peak)
                    for p in members]
    dices = [dice(m & v, mm & v) for mm, v in zip(member_masks, valid, strict=True)]
    inter, union = m.copy(), m.copy()
    for mm, v in zip(member_masks, valid, strict=True):
        inter &= mm | ~v
        union |= mm & v
    consensus = 1.0 if not union.any() else float(inter.sum() / union.sum())
    stack = np.concatenate([base_prob[None], np.where(valid, members, base_prob[None])])
    spread_map = stack.std(axis=0)
    region = cv2.dilate((m | union).astype(np.uint8), kernel) > 0
    return {
        "tta_dice_mean": float(np.mean(dices)),
        "tta_dice_min": float(np.min(dices)),
        "tta_consensus_iou": consensus,
        "tta_spread": float(spread_map[region].mean()) if region.any()
        else float(spread_map.mean()),
    }


@dataclass
class Signals:
    """What one extra model batch tells about a segmentation."""

    features: dict
    model_input: np.ndarray  # (S, S, 1) the original view's standardized input
    embedding: np.ndarray | None = None  # pooled encoder features, for the organ check
    organ_features: np.ndarray | None = field(default=None, repr=False)


def measure(segmenter, seg, *, encoder_layer: str | None = None,
            with_embedding: bool = True, with_tta: bool = True) -> Signals:
    """Run the TTA batch (one ``predict_batch`` call; none without ``with_tta``) and compute
    the quality features.

    With ``with_embedding`` the encoder's pooled features of the original view come too
    (a forward pass of the encoder only, one image), for the organ check.
    """
    from unet.trust.organ_check import feature_vector, pooled_encoder_features

    size = segmenter.input_size
    box = seg.field_of_view
    crop = seg.image[box.slice]
    x = to_model_input(crop, size)
    members = valid = None
    if with_tta and seg.extra_views is not None:  # the mask used them: no second run
        members, valid = seg.extra_views
    elif with_tta:
        members, valid = warp_back(segmenter.predict_batch(augment_batch(x)))
    base_prob = cv2.resize(seg.probability[box.slice].astype(np.float32), (size, size),
                           interpolation=cv2.INTER_LINEAR)
    delivered = seg.mask()
    n_components = cv2.connectedComponents(delivered.astype(np.uint8), connectivity=8)[0] - 1
    base_mask = cv2.resize(delivered[box.slice].astype(np.uint8), (size, size),
                           interpolation=cv2.INTER_NEAREST) > 0
    scale = size * size / max(1, crop.size)
    feats = features_from_maps(base_prob, base_mask, members, valid, threshold=seg.threshold,
                               flip_agreement=seg.confidence, components=n_components,
                               min_area_px=round(seg.min_area_px * scale),
                               min_peak=seg.min_peak)
    signals = Signals(feats, x)
    if not with_embedding:
        return signals
    if seg.embedding is not None and encoder_layer in (None, seg.embedding_layer):
        signals.embedding = seg.embedding  # read from the segmenting pass: no second pass
    elif getattr(segmenter, "model", None) is not None:
        signals.embedding = pooled_encoder_features(segmenter.model, x[None], encoder_layer)[0]
    if signals.embedding is not None:
        signals.organ_features = feature_vector(signals.embedding, seg.image)
    return signals


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


@dataclass(frozen=True)
class QualityModel:
    """Logistic regression from standardized features to the expected Dice of a non-empty mask.

    An empty mask: where validation had both kinds of empty result (truly lesion-free, and a
    missed lesion), ``empty_model`` = (feature, mean, scale, coef, intercept), a one-feature
    logistic regression on how close the model came to marking something (the peak
    probability, or the share of undecided pixels: a missed lesion leaves more of both than a
    normal scan); otherwise the constant ``empty_mask_quality``, the validation share of empty
    results that were right."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    low_confidence_below: float
    empty_mask_quality: float = 0.5
    empty_model: tuple | None = None  # (feature, mean, scale, coef, intercept) or None

    @classmethod
    def from_card(cls, card: dict | None) -> QualityModel | None:
        from unet.trust.organ_check import fitted_for_this_model

        params = card.get(CARD_KEY) if isinstance(card, dict) else None
        if not isinstance(params, dict) or "coef" not in params:
            return None
        if not fitted_for_this_model(params, card):
            return None
        try:
            model = cls(tuple(params["features"]), np.asarray(params["mean"], np.float64),
                        np.asarray(params["scale"], np.float64),
                        np.asarray(params["coef"], np.float64), float(params["intercept"]),
                        float(params["low_confidence_below"]),
                        float(params.get("empty_mask_quality", 0.5)),
                        _empty_model_from_card(params.get("empty_mask_model")))
        except (KeyError, TypeError, ValueError):
            return None
        n = len(model.features)
        if not (model.mean.shape == model.scale.shape == model.coef.shape == (n,)):
            return None
        return model

    @property
    def uses_tta(self) -> bool:
        """Whether this estimate needs the extra TTA batch."""
        return any(f in TTA_FEATURES for f in self.features)

    def matrix(self, rows: list[dict]) -> np.ndarray:
        return np.array([[float(r[f]) for f in self.features] for r in rows], np.float64)

    def predict_rows(self, rows: list[dict]) -> np.ndarray:
        if not rows:
            return np.zeros(0)
        out = sigmoid(((self.matrix(rows) - self.mean) / self.scale) @ self.coef
                      + self.intercept)
        empty = np.array([float(r.get("empty_mask", 0.0)) > 0.5 for r in rows])
        return np.where(empty, self.predict_empty(rows), out)

    def predict_empty(self, rows: list[dict]) -> np.ndarray:
        """The estimate each row would get if its mask is empty (the chance it is right)."""
        if self.empty_model is None:
            return np.full(len(rows), self.empty_mask_quality)
        x = np.array([float(r[self.empty_model[0]]) for r in rows], np.float64)
        return predict_empty_model(self.empty_model, x)

    def predict(self, features: dict) -> float:
        return float(self.predict_rows([features])[0])

    def _empty_model_card(self, plain) -> dict:
        if self.empty_model is None:
            return {}
        name, *numbers = self.empty_model
        return {"empty_mask_model": {"feature": name,
                                     **dict(zip(EMPTY_MODEL_KEYS, plain(numbers), strict=True))}}

    def to_card(self) -> dict:
        def plain(a):
            return [float(f"{v:.6g}") for v in np.asarray(a, np.float64).ravel()]

        return {
            "meaning": "expected Dice overlap of the delivered mask with an expert outline "
                       "(lesion-free image: 1 when the mask is empty, 0 when it is not)",
            "model": "non-empty mask: logistic regression on standardized features, "
                     "sigmoid(coef . (x - mean) / scale + intercept); empty mask: "
                     + ("empty_mask_model, the same form on one feature" if self.empty_model
                        else "empty_mask_quality"),
            "tta": [{"name": n, "zoom": z, "shift": list(s), "mirrored": m}
                    for n, z, s, m in TTA] if self.uses_tta else [],
            "features": list(self.features), "mean": plain(self.mean),
            "scale": plain(self.scale), "coef": plain(self.coef),
            "intercept": float(f"{self.intercept:.6g}"),
            "empty_mask_quality": float(f"{self.empty_mask_quality:.4g}"),
            **self._empty_model_card(plain),
            "low_confidence_below": float(f"{self.low_confidence_below:.4g}"),
        }


def predict_empty_model(empty_model: tuple, values: np.ndarray) -> np.ndarray:
    """The one-feature logistic regression (feature, mean, scale, coef, intercept) at values."""
    _, mean, scale, coef, intercept = empty_model
    return sigmoid((np.asarray(values, np.float64) - mean) / scale * coef + intercept)


def _empty_model_from_card(params) -> tuple | None:
    if params is None:
        return None
    name = str(params["feature"])
    if name not in FEATURES:
        raise ValueError(f"unknown feature {name!r}")
    mean, scale, coef, intercept = (float(params[k]) for k in EMPTY_MODEL_KEYS)
    if not scale > 0:
        raise ValueError("scale must be positive")
    return (name, mean, scale, coef, intercept)


@dataclass
class Assessment:
    """The trust signals of one analysed upload."""

    quality: float | None  # expected Dice (0-1); None when the card has no fitted estimator
    low_confidence: bool
    organ_warning: str | None
    organ_probabilities: dict | None = None
    signals: Signals | None = field(default=None, repr=False)


def assess(segmenter, seg) -> Assessment:
    """Quality estimate and organ check of one segmentation, from the card's fitted models.

    Without a fitted estimator in the card (or one fitted for other weights: its
    ``model_version`` is not the card's ``version``) the quality is None and ``low_confidence``
    falls back to the mirror agreement (``Segmentation.low_confidence``); without a fitted
    organ check there is no organ warning. Nothing runs when the card has neither.
    """
    qm, oc = _fitted_models(segmenter)
    if qm is None and oc is None:
        return Assessment(None, bool(seg.low_confidence), None)
    signals = measure(segmenter, seg, encoder_layer=oc.layer if oc else None,
                      with_embedding=oc is not None, with_tta=qm is not None and qm.uses_tta)
    quality = low = None
    if qm is not None:
        quality = float(np.clip(qm.predict(signals.features), 0.0, 1.0))
        low = quality < qm.low_confidence_below
    else:
        low = bool(seg.low_confidence)
    warning, probs = None, None
    if oc is not None and signals.organ_features is not None \
            and signals.organ_features.shape == oc.mean.shape:
        _, warning, probs = oc.verdict(signals.organ_features)
    return Assessment(quality, bool(low), warning, probs, signals)


def _fitted_models(segmenter):
    """(QualityModel or None, OrganCheck or None) of the segmenter's card, parsed once per card
    (kept on the segmenter; a card replaced by another object is parsed again)."""
    from unet.trust.organ_check import OrganCheck

    card = getattr(segmenter, "card", None)
    cached = getattr(segmenter, "_fitted_models", None)
    if cached is not None and cached[0] is card:
        return cached[1], cached[2]
    models = QualityModel.from_card(card), OrganCheck.from_card(card)
    try:
        segmenter._fitted_models = (card, *models)
    except AttributeError:  # a stand-in object without attributes: parse each time
        pass
    return models
