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
    assert models.get("thyroid").key == "thyroid" and loads.count("thyroid") == 2
    assert loads.count("breast") == 2  # the loader caches (unet.analysis.get_segmenter), not us


def test_a_failed_background_load_is_reported_on_request():
    def loader(key):
        raise FileNotFoundError(f"weights/{key}.keras")

    models = Segmenters(loader=loader)
    models.load_in_background(["thyroid"]).join(10)
    assert "thyroid" in models.unavailable()
    with pytest.raises(ModelUnavailableError, match="not installed"):
        models.get("thyroid")
