"""Inference: one organ's model, loaded once, applied to one frame with test-time augmentation.

The model runs on the field of view (when the organ's registry entry asks for it) resized to the
model's input; the probability comes back at the frame's own size, zero outside the field of view.
Test-time augmentation: the identity and a horizontal flip, in one batch. Their mean is the
probability; their per-pixel disagreement (max - min) is the uncertainty; the image-level
confidence is the Dice agreement of their thresholded masks (1.0 when both see no lesion).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unet.inference.features import pool_features
from unet.inference.registry import OrganConfig, get_organ
from unet.inference.settings import (
    TTA_BATCH,
    InferenceSettings,
    engine_batch_sizes,
    read_card,
)
from unet.metrics import dice
from unet.transforms.fov import Box, find_field_of_view
from unet.transforms.postprocess import clean_mask, min_area_from_fraction
from unet.transforms.preprocess import probability_to_frame, to_model_input
from unet.transforms.test_time_augmentation import (
    augment_batch,
    combine,
    uses_extra_views,
    warp_back,
)

log = logging.getLogger(__name__)

LOW_CONFIDENCE = 0.8  # below this agreement the app says "low confidence: check by eye"


@dataclass
class Segmentation:
    """The cached result of one model run; masks and overlays derive from it without the model."""

    image: np.ndarray  # uint8 (H, W) frame the model saw
    probability: np.ndarray  # float32 (H, W) in [0, 1]
    uncertainty: np.ndarray  # float32 (H, W) in [0, 1]
    confidence: float  # 0..1
    field_of_view: Box
    threshold: float
    min_area_px: int
    min_peak: float = 0.0
    # the encoder's pooled features (spatial mean and max) of the unmirrored view, from the same
    # pass (the organ check reads them); None when the model has no encoder layer to read
    embedding: np.ndarray | None = field(default=None, repr=False)
    embedding_layer: str | None = None
    # the extra views' answers warped back onto the model input, (probabilities, valid areas),
    # where the organ's mask averages them (the quality estimate reads them instead of a rerun)
    extra_views: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def low_confidence(self) -> bool:
        return self.confidence < LOW_CONFIDENCE

    _masks: dict = field(default_factory=dict, repr=False, compare=False)

    def mask(self, threshold: float | None = None) -> np.ndarray:
        """The cleaned bool mask at ``threshold`` (read-only; the last few are kept, so the
        overlay, the measurements and the download of one slider position share one)."""
        t = self.threshold if threshold is None else float(threshold)
        if t not in self._masks:
            if len(self._masks) >= 4:
                self._masks.pop(next(iter(self._masks)))
            mask = clean_mask(self.probability, t, min_area_px=self.min_area_px,
                              min_peak=self.min_peak)
            mask.flags.writeable = False
            self._masks[t] = mask
        return self._masks[t]


_fallback_warned = False


def _warn_fallback_once(reason: str) -> None:
    global _fallback_warned
    if not _fallback_warned:
        _fallback_warned = True
        log.warning("Inference falls back to the Keras model: %s. Same probabilities, but "
                    "slower than the LiteRT engine.", reason)


class Segmenter:
    """Loads an organ's U-Net once; `segment(gray)` runs it with test-time augmentation."""

    # The batch segment() sends (identity and mirror image). The engine prepares it, and the
    # batch of the four extra views (unet.transforms.test_time_augmentation) where the mask or the
    # card's
    # estimate uses them, up front; a batch of another size works too (run in chunks of the
    # shipped flatbuffer, or converted on its first use and cached).
    TTA_BATCH = TTA_BATCH

    def __init__(self, organ: str | OrganConfig, *, weights: str | Path | None = None, model=None,
                 engine: str = "auto", box_weights: str | Path | None = "auto",
                 click_weights: str | Path | None = "auto"):
        """``engine``: "litert" (the TF Lite flatbuffer run by LiteRT with XNNPACK, see
        ``unet.inference.engine``), "keras" (the Keras model itself), or "auto": "litert" for
        weights read
        from a file (the app, the CLI, training's evaluation and export), "keras" for a model
        given in code (tests, teaching: converting costs seconds per model). When "litert" cannot
        run here, the Keras model answers instead, and the log says so once."""
        self.organ = organ if isinstance(organ, OrganConfig) else get_organ(organ)
        self._model = model
        weights_given = model if weights is None else weights
        self._model_lock = threading.Lock()
        self._litert = None
        if model is not None:
            self.source = "model given in code (not trained weights)"
        elif weights is None:
            from unet.inference.weights import resolve_weights

            src = resolve_weights(self.organ)
            weights, self.source = src.path, src.description
        else:
            self.source = f"file {weights}"
        self._weights = weights
        self.calls = 0  # model invocations, for tests and benchmarks
        if engine not in ("auto", "litert", "keras"):
            raise ValueError(f"engine must be 'auto', 'litert' or 'keras', not {engine!r}")
        if engine == "auto":
            engine = "keras" if model is not None else "litert"
        from unet.inference.features import ENCODER_LAYER

        input_shape, layers = self._network_facts(load=engine != "litert")
        self.input_size = int(input_shape[0])
        self.feature_layer = ENCODER_LAYER if ENCODER_LAYER in layers else None
        self.card = read_card(weights)
        # the registry's defaults, overridden by the operating point in the card
        self.settings = InferenceSettings.resolve(self.organ, self.card)
        self.views = self.settings.views
        self._forward, self._forward_features, self.engine = self._make_forward(engine, weights)
        self.threshold = self.settings.threshold
        self.min_area_fraction = self.settings.min_area_fraction
        self.min_peak = self.settings.min_peak
        # the prompted networks: "auto" = the organ's bundled one where the automatic model is
        # the organ's own (not a file or model given here); None: the automatic model answers
        self.box_weights = _prompt_weights(box_weights, self.organ.box_weight_path,
                                           weights_given is None)
        self.click_weights = _prompt_weights(click_weights, self.organ.click_weight_path,
                                             weights_given is None)

    @property
    def box_network(self):
        """The organ's box-prompted network, loaded on the first box (None: not bundled)."""
        from unet.inference.box_network import box_network_for

        return box_network_for(self.box_weights)

    @property
    def click_network(self):
        """The organ's click-prompted network, loaded on the first lesion click (None: not
        bundled)."""
        from unet.inference.click_network import click_network_for

        return click_network_for(self.click_weights)

    @property
    def model(self):
        """The Keras model: given, or loaded from the weight file on first use (the LiteRT
        engine serves without it; the teaching tab and the Keras fallback need it)."""
        if self._model is None:
            with self._model_lock:
                if self._model is None and self._litert is not None:
                    self._model = self._litert.model  # loaded already for an in-process conversion
                if self._model is None:
                    import keras

                    self._model = keras.saving.load_model(self._weights, compile=False)
        return self._model

    def _network_facts(self, *, load: bool) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """(input shape, layer names), from the file's config when the model is not loaded."""
        if self._model is None and not load:
            from unet.inference.keras_file import UnreadableModelFile, read_facts

            try:
                facts = read_facts(self._weights)
                return facts.input_shape, facts.layer_names
            except UnreadableModelFile as exc:  # loading it says what is wrong, for the log
                log.debug("%s", exc)
        model = self.model
        return tuple(int(d) for d in model.input_shape[1:]), tuple(x.name for x in model.layers)

    @property
    def architecture(self) -> dict:
        """The network's levels and sizes (``unet.networks.network_shape.architecture``), without
        loading Keras where the engine stored them."""
        if self._model is None and self._litert is not None:
            arch = self._litert.architecture()
            if arch is not None:
                return arch
        from unet.networks.network_shape import architecture

        return architecture(self.model)

    def _make_forward(self, engine: str, weights):
        """(forward pass: float32 batch -> numpy output, the same returning (output, encoder
        features) in one pass, the engine's name).

        "litert": ``unet.inference.engine.LiteRTEngine``; if it cannot run (no interpreter
        package, Keras
        not on TensorFlow, a failed conversion) the Keras model instead, said once in the log.
        The Keras model runs as a compiled ``tf.function`` on TensorFlow, and through
        ``predict_on_batch`` (compiled by the backend) elsewhere, e.g. on JAX without TensorFlow.
        """
        if engine == "litert":
            try:
                from unet.inference.engine import LiteRTEngine

                litert = LiteRTEngine(self._model, weights=weights,
                                      batch_sizes=self.engine_batch_sizes(),
                                      feature_layer=self.feature_layer)
                self._litert = litert
                return (litert, litert.run_with_features,
                        f"{litert.name} ({litert.threads} threads)")
            except Exception as exc:  # noqa: BLE001 - any failure: the Keras model still answers
                _warn_fallback_once(f"{type(exc).__name__}: {exc}")
        import keras

        model = self.model
        outputs = [model.outputs[0]]
        if self.feature_layer:
            outputs.append(model.get_layer(self.feature_layer).output)
        dual = keras.Model(model.input, outputs)
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
            run = tf.function(lambda x: dual(x, training=False), input_signature=[spec])
            name = "Keras model (tf.function)"
        else:
            run = dual.predict_on_batch
            name = f"Keras model ({keras.backend.backend()} predict_on_batch)"

        def with_features(x):
            out = run(x)
            out = [keras.ops.convert_to_numpy(o)
                   for o in (out if isinstance(out, (list, tuple)) else [out])]
            return out[0], (out[1] if len(out) > 1 else None)

        return (lambda x: with_features(x)[0]), with_features, name

    def engine_batch_sizes(self) -> tuple[int, ...]:
        """The batch sizes the app sends (``unet.inference.settings.engine_batch_sizes``)."""
        return engine_batch_sizes(self.settings, self.card)

    @property
    def version(self) -> str:
        return str(self.card.get("version", "untrained" if not self.card else "unknown"))

    def predict_batch(self, batch: np.ndarray) -> np.ndarray:
        """(N, S, S, 1) standardized inputs -> (N, S, S) probabilities, one compiled call."""
        self.calls += 1
        return np.asarray(self._forward(batch.astype(np.float32)))[..., 0]

    def segment(self, gray: np.ndarray, *, threshold: float | None = None) -> Segmentation:
        """Probability, uncertainty and confidence for one uint8 (H, W) frame at its own size."""
        box = (find_field_of_view(gray) if self.settings.crop_field_of_view
               else Box(0, 0, gray.shape[0], gray.shape[1]))
        crop = gray[box.slice]
        x = to_model_input(crop, self.input_size)
        self.calls += 1
        out, fmap = self._forward_features(np.stack([x, x[:, ::-1]]).astype(np.float32))
        out = np.asarray(out)[..., 0]
        embedding = None if fmap is None else pool_features(np.asarray(fmap)[:1])[0]
        members = np.stack([out[0], out[1][:, ::-1]])
        extra = None
        if uses_extra_views(self.views):
            extra = warp_back(self.predict_batch(augment_batch(x)))
        mean, spread = combine(members, *(extra or ()))
        t = self.threshold if threshold is None else float(threshold)
        mean = probability_to_frame(mean, crop.shape)
        spread = probability_to_frame(spread, crop.shape)
        min_area = min_area_from_fraction(gray.shape, self.min_area_fraction)
        confidence = dice(*(
            clean_mask(probability_to_frame(m, crop.shape), t, min_area_px=min_area,
                       min_peak=self.min_peak)
            for m in members
        ))
        probability = np.zeros(gray.shape, np.float32)
        uncertainty = np.zeros(gray.shape, np.float32)
        probability[box.slice] = mean
        uncertainty[box.slice] = spread
        return Segmentation(gray, probability, uncertainty, confidence, box, t, min_area,
                            self.min_peak, embedding,
                            self.feature_layer if embedding is not None else None, extra)


def _prompt_weights(given, bundled: Path | None, own_model: bool) -> Path | None:
    """A prompted network's file: ``given``, or for "auto" the organ's bundled one where the
    automatic model is the organ's own."""
    if given == "auto":
        given = bundled if own_model else None
    return None if given is None else Path(given)
