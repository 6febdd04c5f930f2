"""The organs' models for the web app, each loaded once per process.

A missing or broken weight file becomes a :class:`ModelUnavailableError` whose message a user
can read, instead of a crash.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping

import numpy as np

from unet.inference.registry import ORGANS, OrganConfig, get_organ
from unet.inference.segmenter import Segmenter

log = logging.getLogger(__name__)


class ModelUnavailableError(RuntimeError):
    """An organ's model cannot be used on this server; the message says why, for a user."""


class Segmenters:
    """Organ key -> :class:`Segmenter`, each loaded once per process.

    This is the process's one model cache: the app, the Batch tab, the CLI and
    :func:`unet.analyze` all get their segmenters from an instance of it (the app's, or
    :func:`default_models`). ``given`` maps organ keys to ready segmenters (tests inject
    untrained models this way); other organs are built with ``loader`` (default: the bundled or
    Hub weights, ``Segmenter(organ)``) on first use and kept. A failed load is not kept, so
    weights copied in later are picked up.
    """

    def __init__(self, given: Mapping[str, Segmenter] | None = None,
                 loader: Callable[[str], Segmenter] | None = None):
        self._given = dict(given or {})
        self._loader = loader
        # one lock per organ: two first requests must not load the same model twice, and a
        # model loading in the background must not hold up requests for another organ
        self._locks = {key: threading.Lock() for key in ORGANS}
        self._problems: dict[str, str] = {}  # organ key -> message of its last failed load
        self._loaded: dict[str, Segmenter] = {}

    def get(self, organ: str | OrganConfig) -> Segmenter:
        organ = organ if isinstance(organ, OrganConfig) else get_organ(organ)
        if organ.key in self._given:
            return self._given[organ.key]
        loader = self._loader or (lambda key: Segmenter(get_organ(key)))
        with self._locks.setdefault(organ.key, threading.Lock()):
            if organ.key in self._loaded:
                return self._loaded[organ.key]
            try:
                segmenter = loader(organ.key)
            except FileNotFoundError as exc:
                log.error("no weights for %s: %s", organ.key, exc)
                self._problems[organ.key] = _missing_weights_message(organ)
                raise ModelUnavailableError(self._problems[organ.key]) from exc
            except Exception as exc:
                log.exception("loading the %s model failed", organ.key)
                self._problems[organ.key] = (
                    f"The {organ.display_name} model could not be loaded on this server "
                    f"({type(exc).__name__}). Please try again later or choose another organ.")
                raise ModelUnavailableError(self._problems[organ.key]) from exc
            self._problems.pop(organ.key, None)
            self._loaded[organ.key] = segmenter
            return segmenter

    def load_all(self, *, warm_up: bool = True, keys=None) -> dict[str, str]:
        """Load every organ's model (or those in ``keys``) now, and run it once, so that the
        first request is fast.

        Returns the organs that could not be loaded, with the message a user sees.
        """
        problems = {}
        for key in (ORGANS if keys is None else keys):
            try:
                segmenter = self.get(key)
            except ModelUnavailableError as exc:
                problems[key] = str(exc)
                continue
            if warm_up:
                segmenter.segment(np.full((64, 64), 64, np.uint8))
        return problems

    def load_in_background(self, keys) -> threading.Thread:
        """Load these organs' models in a background thread (the app serves meanwhile; a
        request for one of them waits for its load, not for a second one)."""
        thread = threading.Thread(target=self.load_all, kwargs={"keys": list(keys)},
                                  name="load-models", daemon=True)
        thread.start()
        return thread

    def unavailable(self) -> dict[str, str]:
        """Organs whose model failed to load or whose weight file is missing (nothing is
        loaded by this call), with the message a user sees."""
        missing = {key: _missing_weights_message(organ) for key, organ in ORGANS.items()
                   if key not in self._given and not organ.weight_path.is_file()
                   and not (organ.hub_repo_env and os.environ.get(organ.hub_repo_env))}
        return {**missing, **self._problems}


_DEFAULT: Segmenters | None = None
_DEFAULT_LOCK = threading.Lock()


def default_models() -> Segmenters:
    """The process's model cache for callers that bring none (``unet.analyze``)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Segmenters()
        return _DEFAULT


def _missing_weights_message(organ: OrganConfig) -> str:
    return (
        f"The {organ.display_name} model is not installed on this server (the weight file "
        f"weights/{organ.weight_file} is missing), so {organ.display_name.lower()} images "
        "cannot be segmented here. If you host this demo, see weights/README.md."
    )


def default_threshold(segmenter: Segmenter) -> float:
    """The model's operating point (chosen on validation, carried in its card)."""
    return float(getattr(segmenter, "threshold", segmenter.organ.threshold))


def is_trained(segmenter: Segmenter) -> bool:
    """True for weights with a model card (an exported training run)."""
    return bool(segmenter.card)
