"""The box-prompted network of an organ (``unet/networks/box_prompt_unet.py``) at inference:
a user's box in, the lesion's outline in the frame out.

The network sees the square window of 2.2 times the box's larger side around the box
(``unet/transforms/box_window.py``), as the image and its mirror image in one batch of 2; the
mean probability at 0.5, its connected component that overlaps the box most, is the outline.
It runs through the same LiteRT engine as the automatic model (the flatbuffer shipped beside
``<organ>_box.keras``), with the Keras model as the fallback where LiteRT cannot run.
Loaded on the first box, so an app that is never given one never pays for it.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import cv2
import numpy as np

from unet.inference.settings import read_card
from unet.transforms.box_window import INFERENCE_SCALE, paste, window_around, window_input

log = logging.getLogger(__name__)
BATCH = 2  # the window and its mirror image
THRESHOLD = 0.5


class BoxNetwork:
    """``outline(gray, box)``: the lesion inside a user's box (x0, y0, x1, y1), bool frame."""

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
                log.warning("box network: LiteRT unavailable (%s: %s); using Keras",
                            type(exc).__name__, exc)
        import keras

        model = keras.saving.load_model(self.weights, compile=False)
        return (lambda x: keras.ops.convert_to_numpy(model.predict_on_batch(x))), "Keras model"

    @property
    def version(self) -> str:
        return str(self.card.get("version", "unknown"))

    def probability(self, gray: np.ndarray, box) -> np.ndarray:
        """The network's lesion probability for one box, in frame coordinates (0 outside the
        window)."""
        window = window_around(box, INFERENCE_SCALE)
        x = window_input(gray, box, window, self.input_size)
        out = np.asarray(self._run(np.stack([x, x[:, ::-1]]).astype(np.float32)))[..., 0]
        return paste((out[0] + out[1][:, ::-1]) / 2, window, gray.shape)

    def outline(self, gray: np.ndarray, box) -> np.ndarray:
        """The component of the probability at 0.5 that overlaps the box most (ties: the larger
        one); empty when none overlaps it (the training-free box answers then). The network
        marks every lesion its window catches: the box says which one the user meant."""
        binary = (self.probability(gray, box) >= THRESHOLD).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        if n <= 1:
            return np.zeros(gray.shape, bool)
        x0, y0, x1, y1 = box
        inside = np.bincount(labels[y0:y1, x0:x1].ravel(), minlength=n)[1:]
        if not inside.any():
            return np.zeros(gray.shape, bool)
        areas = stats[1:, cv2.CC_STAT_AREA]
        best = max(range(n - 1), key=lambda i: (inside[i], areas[i]))
        return labels == best + 1


_loaded: dict[Path, BoxNetwork | None] = {}
_lock = threading.Lock()


def box_network_for(weights: Path | None) -> BoxNetwork | None:
    """The box network stored at ``weights`` (loaded once per process), or None where there is
    no such file or it cannot be loaded (the training-free box prompt answers instead)."""
    if weights is None or not Path(weights).is_file():
        return None
    key = Path(weights).resolve()
    with _lock:
        if key not in _loaded:
            try:
                _loaded[key] = BoxNetwork(key)
            except Exception as exc:  # noqa: BLE001 - a broken file must not stop the app
                log.warning("box network %s not loaded (%s: %s); boxes use the automatic "
                            "model", key.name, type(exc).__name__, exc)
                _loaded[key] = None
        return _loaded[key]
