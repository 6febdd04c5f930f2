"""The app's model holder: a model loading in the background holds up no other organ."""

import threading
import time

import pytest

from unet.inference.models import ModelUnavailableError, Segmenters


class FakeSegmenter:
    def __init__(self, key):
        self.key, self.warmed = key, 0

    def segment(self, gray):
        self.warmed += 1


def test_a_background_load_does_not_block_the_other_organ():
    release = threading.Event()
    loads = []

    def loader(key):
        loads.append(key)
        if key == "thyroid":
            release.wait(10)  # a slow conversion
        return FakeSegmenter(key)

    models = Segmenters(loader=loader)
    assert models.load_all(keys=["breast"]) == {}
    thread = models.load_in_background(["thyroid"])
    time.sleep(0.2)
    assert thread.is_alive()  # still loading thyroid ...
    started = time.perf_counter()
    assert models.get("breast").key == "breast"  # ... and breast answers at once
    assert time.perf_counter() - started < 1.0
    release.set()
    thread.join(10)
    assert not thread.is_alive()
    assert models.get("thyroid").key == "thyroid" and loads.count("thyroid") == 1
    assert loads.count("breast") == 1  # the one model cache: each organ loaded once


def test_one_model_cache_shared_by_the_python_api(monkeypatch):
    """``unet.analyze`` without a segmenter takes the organ's model from the process's one
    cache: a second call loads nothing."""
    import numpy as np

    import unet
    from unet.inference import models as models_module
    from unet.inference.registry import get_organ
    from unet.inference.segmenter import Segmenter
    from unet.networks.unet import build_unet

    loads = []

    def loader(key):
        loads.append(key)
        return Segmenter(get_organ(key), model=build_unet(64, depth=2, base_filters=4))

    monkeypatch.setattr(models_module, "_DEFAULT", Segmenters(loader=loader))
    image = np.random.default_rng(0).integers(0, 255, (80, 96), dtype=np.uint8)
    import io

    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    first = unet.analyze(buffer.getvalue(), "breast")
    second = unet.analyze(buffer.getvalue(), "BREAST")
    assert loads == ["breast"]
    assert first.organ.key == second.organ.key == "breast"
    assert first.mask().shape == (80, 96)


def test_a_failed_background_load_is_reported_on_request():
    def loader(key):
        raise FileNotFoundError(f"weights/{key}.keras")

    models = Segmenters(loader=loader)
    models.load_in_background(["thyroid"]).join(10)
    assert "thyroid" in models.unavailable()
    with pytest.raises(ModelUnavailableError, match="not installed"):
        models.get("thyroid")
