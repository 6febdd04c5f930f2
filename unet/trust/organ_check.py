"""Does this upload look like the selected organ's scans, the other organ's, or no ultrasound?

The check reads the segmentation model's own encoder: the layer named ``encoder_features`` when
the model has one, otherwise its deepest (lowest-resolution) layer. That feature map is pooled
(spatial mean and max per channel) and joined with a few cheap statistics of the whole frame
(dark border, saturation, flat areas, edges). A multinomial logistic regression on the
standardized vector, fitted by ``python -m training.trust`` on the training images of every
organ plus synthetic photographs, documents and other non-ultrasound pictures, gives the
probability of each class (``breast``, ``thyroid``, ..., ``other``). Its parameters are plain
JSON numbers in the model card under ``"organ_check"``; inference is NumPy only.

An image is flagged when another class is more probable than the selected organ by more than
the card's ``margin`` (log-probability; chosen on the organ's validation split so that few of
its own scans are flagged). The message says what it looks like instead:

* "This looks like a thyroid scan: switch to the thyroid model?"
* "This does not look like an ultrasound scan."
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import cv2
import numpy as np

from unet.inference.features import ENCODER_LAYER, pool_features  # noqa: F401 (re-exported)

CARD_KEY = "organ_check"
OTHER = "other"  # the class of pictures that are no ultrasound scan

IMAGE_STAT_NAMES = (
    "dark_fraction", "bright_fraction", "mean", "std", "flat_fraction", "edge_mean",
    "histogram_entropy", "aspect_log",
)


def image_statistics(gray: np.ndarray) -> np.ndarray:
    """Cheap statistics of a uint8 (H, W) frame that separate scans from photos and documents."""
    g = np.asarray(gray)
    h, w = g.shape
    scale = 256.0 / max(h, w)
    if scale < 1.0:
        g = cv2.resize(g, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    f = g.astype(np.float32) / 255.0
    hist = np.bincount(g.ravel(), minlength=256).astype(np.float64)
    p = hist / max(hist.sum(), 1.0)
    entropy = float(-(p[p > 0] * np.log2(p[p > 0])).sum()) / 8.0
    dx = np.abs(np.diff(f, axis=1))
    dy = np.abs(np.diff(f, axis=0))
    flat = (float((dx == 0).mean()) + float((dy == 0).mean())) / 2.0 if dx.size and dy.size \
        else 1.0
    edge = (float(dx.mean()) + float(dy.mean())) / 2.0 if dx.size and dy.size else 0.0
    return np.array([
        float((g < 10).mean()), float((g > 245).mean()), float(f.mean()), float(f.std()),
        flat, edge, entropy, float(np.log(w / h)),
    ], np.float32)


def encoder_layer_name(model) -> str:
    """``encoder_features`` if the model has it, else its deepest (lowest-resolution) layer:
    the last layer, in model order, whose 4-D output has the smallest spatial size."""
    names = [layer.name for layer in model.layers]
    if ENCODER_LAYER in names:
        return ENCODER_LAYER
    best, best_area = None, None
    for layer in model.layers:
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) != 4 or shape[1] is None or shape[2] is None:
            continue
        area = int(shape[1]) * int(shape[2])
        if best_area is None or area <= best_area:
            best, best_area = layer.name, area
    if best is None:
        raise ValueError("the model has no 4-D layer to read encoder features from")
    return best


_ENCODERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _encoder_fn(model, layer_name: str):
    cached = _ENCODERS.get(model)
    if cached is not None and cached[0] == layer_name:
        return cached[1]
    import keras

    sub = keras.Model(model.inputs, model.get_layer(layer_name).output)
    channels = int(model.input_shape[-1])
    try:
        import tensorflow as tf

        size = model.input_shape[1]
        spec = tf.TensorSpec([None, size, size, channels], tf.float32)
        compiled = tf.function(lambda x: sub(x, training=False), input_signature=[spec])

        def run(x):
            return np.asarray(compiled(x))
    except ImportError:  # another Keras backend
        def run(x):
            return np.asarray(keras.ops.convert_to_numpy(sub.predict_on_batch(x)))

    def fn(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if channels != x.shape[-1]:
            x = np.repeat(x[..., :1], channels, axis=-1)
        return run(x)

    _ENCODERS[model] = (layer_name, fn)
    return fn


def pooled_encoder_features(model, inputs: np.ndarray, layer_name: str | None = None) -> np.ndarray:
    """(N, S, S, 1) standardized model inputs -> (N, 2C) spatial mean and max of the encoder."""
    name = layer_name or encoder_layer_name(model)
    return pool_features(_encoder_fn(model, name)(inputs))


def feature_vector(embedding: np.ndarray, gray: np.ndarray) -> np.ndarray:
    """The classifier's input: pooled encoder features, then the frame's image statistics."""
    return np.concatenate([np.asarray(embedding, np.float32).ravel(), image_statistics(gray)])


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class OrganCheck:
    """The fitted classifier, as stored in the card."""

    organ: str  # the model's own organ
    classes: tuple[str, ...]
    layer: str
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # (features, classes)
    bias: np.ndarray  # (classes,)
    margin: float = 0.0  # flag when another class's log-probability exceeds the own by more

    @classmethod
    def from_card(cls, card: dict | None) -> OrganCheck | None:
        params = (card or {}).get(CARD_KEY) if isinstance(card, dict) else None
        if not isinstance(params, dict) or "weights" not in params:
            return None
        if not fitted_for_this_model(params, card):
            return None
        try:
            check = cls(
                organ=str(params["organ"]), classes=tuple(params["classes"]),
                layer=str(params["layer"]),
                mean=np.asarray(params["mean"], np.float64),
                scale=np.asarray(params["scale"], np.float64),
                weights=np.asarray(params["weights"], np.float64),
                bias=np.asarray(params["bias"], np.float64),
                margin=float(params.get("margin", 0.0)),
            )
        except (KeyError, TypeError, ValueError):
            return None
        n, k = check.mean.shape[0], len(check.classes)
        if check.scale.shape != (n,) or check.weights.shape != (n, k) or \
                check.bias.shape != (k,) or check.organ not in check.classes:
            return None
        return check

    def to_card(self) -> dict:
        return {
            "organ": self.organ, "classes": list(self.classes), "layer": self.layer,
            "features": "pooled encoder (mean, max per channel) + " + ", ".join(IMAGE_STAT_NAMES),
            "mean": _plain(self.mean), "scale": _plain(self.scale),
            "weights": _plain(self.weights), "bias": _plain(self.bias),
            "margin": float(f"{self.margin:.4g}"),
            "rule": "flagged when log P(another class) - log P(this organ) > margin",
        }

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(F,) or (N, F) feature vectors -> class probabilities, same leading shape."""
        z = (np.asarray(features, np.float64) - self.mean) / self.scale
        return softmax(z @ self.weights + self.bias)

    def log_odds(self, features: np.ndarray) -> np.ndarray:
        """(N, F) -> (N,) log P(this organ) - log P(the most probable other class)."""
        p = np.atleast_2d(self.probabilities(features))
        own = self.classes.index(self.organ)
        others = np.delete(p, own, axis=1).max(axis=1)
        return np.log(p[:, own] + 1e-300) - np.log(others + 1e-300)

    def flags(self, features: np.ndarray) -> np.ndarray:
        """(N, F) feature vectors -> bool (N,): another class is more probable than this organ
        by more than ``margin`` (in log-probability)."""
        return self.log_odds(features) < -self.margin

    def verdict(self, features: np.ndarray) -> tuple[bool, str | None, dict]:
        """(flagged, plain message or None, class probabilities) for one feature vector."""
        p = self.probabilities(features)
        probs = {c: float(v) for c, v in zip(self.classes, p, strict=True)}
        if not self.flags(features)[0]:
            return False, None, probs
        best = max((c for c in self.classes if c != self.organ), key=probs.get)
        return True, warning_text(best, self.organ), probs


def fitted_for_this_model(params: dict, card: dict) -> bool:
    """A fitted block applies only to the weights it was fitted on: its ``model_version`` must
    be the card's ``version`` (a re-trained model needs ``python -m training.trust`` again)."""
    fitted, current = params.get("model_version"), card.get("version")
    return not (fitted and current and fitted != current)


def warning_text(looks_like: str, organ: str) -> str:
    if looks_like == OTHER:
        return ("This does not look like an ultrasound scan: the result is probably "
                "meaningless.")
    return (f"This looks like a {looks_like} scan: switch to the {looks_like} model? "
            f"(the {organ} model was selected)")


def _plain(a) -> list:
    """Numbers rounded to 6 significant digits, as nested lists of plain floats."""
    return np.vectorize(lambda v: float(f"{v:.6g}"), otypes=[float])(
        np.asarray(a, np.float64)).tolist()
