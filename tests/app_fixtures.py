"""Helpers to run the Gradio app inside a test.

Models: for each organ, the bundled trained weights when ``weights/<organ>.keras`` exists, else
an untrained U-Net of the organ's real architecture (every code path runs, but its masks mean
nothing). Set ``UNET_APP_TEST_MODELS=fresh`` to force untrained models, ``=trained`` to require
the weights.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from unet.inference.registry import ORGANS
from unet.inference.segmenter import Segmenter


def fresh_model(organ):
    """An untrained network of the organ's registered architecture."""
    from unet.networks.architectures import build_model

    return build_model(organ.architecture, organ.input_size, **organ.model_kwargs)


@dataclass
class TestModels:
    segmenters: dict[str, Segmenter]
    trained: bool  # True when every organ runs its bundled trained weights
    reason: str  # why (some) untrained models are used (empty when all are trained)
    trained_organs: tuple[str, ...] = ()  # organs running trained weights


@functools.cache
def test_models() -> TestModels:
    """One Segmenter per organ: its trained weights if present (see module doc), else fresh.
    Built once per test run and shared by every test that runs the app's models."""
    choice = os.environ.get("UNET_APP_TEST_MODELS", "auto").strip().lower()
    missing = [o.weight_file for o in ORGANS.values() if not o.weight_path.is_file()]
    if choice == "trained" and missing:
        raise RuntimeError(f"UNET_APP_TEST_MODELS=trained but weights are missing: {missing}")
    segmenters, trained = {}, []
    for key, organ in ORGANS.items():
        if choice != "fresh" and organ.weight_path.is_file():
            segmenters[key] = Segmenter(organ)
            trained.append(key)
        else:
            segmenters[key] = Segmenter(organ, model=fresh_model(organ))
    reason = ("" if len(trained) == len(ORGANS) else
              "untrained models: UNET_APP_TEST_MODELS=fresh" if choice == "fresh" else
              f"untrained models for missing weights ({', '.join(missing)})")
    return TestModels(segmenters, len(trained) == len(ORGANS), reason, tuple(trained))


test_models.__test__ = False  # not a test, despite the name
TestModels.__test__ = False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(segmenters, **launch_kwargs) -> Iterator[tuple[object, str]]:
    """Build and launch the app on a free local port; yields (demo, url); closes it after."""
    import app

    demo = app.build_demo(segmenters)
    port = free_port()
    options = {"prevent_thread_lock": True, "server_name": "127.0.0.1", "server_port": port,
               "quiet": True, **launch_kwargs}
    app.launch(demo, **options)
    try:
        yield demo, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@functools.cache
def shared_app() -> tuple[object, str]:
    """(demo, url) of one app server per test run, on the shared test models, closed at exit.
    Tests that only talk to the app (no redirected folders, no special launch options) use it
    instead of starting a server of their own."""
    import app

    demo = app.build_demo(test_models().segmenters)
    port = free_port()
    app.launch(demo, prevent_thread_lock=True, server_name="127.0.0.1", server_port=port,
               quiet=True)
    atexit.register(demo.close)
    return demo, f"http://127.0.0.1:{port}/"


def write_phantom(folder, *, seed: int = 3, height: int = 240, width: int = 300,
                  name: str = "phantom.png") -> tuple[str, np.ndarray, np.ndarray]:
    """A synthetic phantom PNG; returns (path, image, true lesion mask)."""
    from unet.testing.phantom import make_phantom

    image, mask = make_phantom(height, width, seed=seed)
    path = os.path.join(str(folder), name)
    Image.fromarray(image).save(path)
    return path, image, mask
