"""What the prompted networks share at inference (``box_network.py``, ``click_network.py``):
the weight file and its card, the engine that runs it, the window and its mirror image in one
batch, and one loaded copy per file and process.

A prompted network runs through the same LiteRT engine as the automatic model (the flatbuffer
shipped beside its ``.keras``), with the Keras model as the fallback where LiteRT cannot run.
It is loaded on the first prompt, so an app that is never given one never pays for it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from unet.inference.settings import read_card
from unet.transforms.window import Window, paste

log = logging.getLogger(__name__)
BATCH = 2  # the window and its mirror image
THRESHOLD = 0.5


@dataclass(frozen=True)
class Look:
    """One look of a prompted network: the square ``window`` of the frame it saw, its
    (size, size, 2) ``input`` (the standardized gray window and the prompt's channel) and its
    mean ``probability`` over that window (size, size)."""

    window: Window
    input: np.ndarray
    probability: np.ndarray

    def in_frame(self, shape: tuple[int, int]) -> np.ndarray:
        """The probability put back into a frame of ``shape`` (0 outside the window)."""
        return paste(self.probability, self.window, shape)


class PromptNetwork:
    """A prompted network's file, card and engine; subclasses say what the prompt is."""

    kind = "prompt"

    def __init__(self, weights: str | Path, *, engine: str = "auto"):
        from unet.inference.keras_file import read_facts

        self.weights = Path(weights)
        facts = read_facts(self.weights)
        self.input_size = int(facts.input_shape[0])
        self.card = read_card(self.weights)
        self._run, self.engine = self._make_run(engine, facts.layer_names)

    def _make_run(self, engine: str, layer_names):
        if engine in ("auto", "litert"):
            try:
                from unet.inference.engine import LiteRTEngine
                from unet.inference.features import ENCODER_LAYER

                litert = LiteRTEngine(
                    None, weights=self.weights, batch_sizes=(BATCH,),
                    feature_layer=ENCODER_LAYER if ENCODER_LAYER in layer_names else None)
                return litert, f"{litert.name} ({litert.threads} threads)"
            except Exception as exc:  # noqa: BLE001 - the Keras model still answers
                log.warning("%s network: LiteRT unavailable (%s: %s); using Keras",
                            self.kind, type(exc).__name__, exc)
        import keras

        model = keras.saving.load_model(self.weights, compile=False)
        return (lambda x: keras.ops.convert_to_numpy(model.predict_on_batch(x))), "Keras model"

    @property
    def version(self) -> str:
        return str(self.card.get("version", "unknown"))

    def window_probability(self, x: np.ndarray) -> np.ndarray:
        """The mean probability of one (size, size, 2) input and its mirror image."""
        out = np.asarray(self._run(np.stack([x, x[:, ::-1]]).astype(np.float32)))[..., 0]
        return (out[0] + out[1][:, ::-1]) / 2

    def look_at(self, window: Window, x: np.ndarray) -> Look:
        """The network's answer for the input ``x`` cut from ``window``."""
        return Look(window, x, self.window_probability(x))


def components(probability: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """The connected components of the probability at ``THRESHOLD``: count (background
    included), labels and stats, as OpenCV gives them."""
    binary = (probability >= THRESHOLD).astype(np.uint8)
    return cv2.connectedComponentsWithStats(binary, connectivity=8)


_loaded: dict[tuple[type, Path], PromptNetwork | None] = {}
_lock = threading.Lock()


def network_for(cls: type[PromptNetwork], weights: Path | None) -> PromptNetwork | None:
    """The ``cls`` network stored at ``weights`` (loaded once per process), or None where there
    is no such file or it cannot be loaded (the training-free prompt answers instead)."""
    if weights is None or not Path(weights).is_file():
        return None
    key = (cls, Path(weights).resolve())
    with _lock:
        if key not in _loaded:
            try:
                _loaded[key] = cls(key[1])
            except Exception as exc:  # noqa: BLE001 - a broken file must not stop the app
                log.warning("%s network %s not loaded (%s: %s); %ss use the automatic model",
                            cls.kind, key[1].name, type(exc).__name__, exc, cls.kind)
                _loaded[key] = None
        return _loaded[key]
