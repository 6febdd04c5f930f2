"""Fixtures and options shared by several test files.

``python -m pytest -q --skip-slow`` skips the soak, load and real-browser tests (marked ``slow``
and ``browser``); CI runs everything (``python -m pytest -q``).

Caches and settings: the LiteRT engine's converted flatbuffers (``UNET_ENGINE_CACHE``),
``XDG_CACHE_HOME`` (Matplotlib's font list, Chromium's dconf), ``XDG_CONFIG_HOME`` (Chromium's
crash-report settings) and the Hugging Face cache (``HF_HOME``) live in a temporary folder of the
test run, removed at its end, never in the user's home; child processes inherit them. Tests that
count conversions take ``engine_cache``, a private engine cache.

Background runs (``tests.helpers.BackgroundRun``): the long child processes a few tests read
(the training smoke runs, the checks on Keras's JAX backend) start one after another when
collection ends, beside the other tests; the test that needs one waits for it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Before any test imports the engine, Matplotlib or huggingface_hub (they read these at import).
_RUN_ROOT = Path(tempfile.mkdtemp(prefix="unet-tests-"))
_XDG_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
# Playwright finds its browsers under XDG_CACHE_HOME: keep them where they are installed
os.environ.setdefault("PLAYWRIGHT_BROWSERS_PATH", str(_XDG_CACHE / "ms-playwright"))
for _name, _folder in (("UNET_ENGINE_CACHE", "engine-cache"), ("XDG_CACHE_HOME", "xdg-cache"),
                       ("XDG_CONFIG_HOME", "xdg-config"), ("HF_HOME", "huggingface")):
    os.environ[_name] = str(_RUN_ROOT / _folder)


def pytest_addoption(parser):
    parser.addoption("--skip-slow", action="store_true", default=False,
                     help="skip the tests marked slow (soak, load) or browser (Chromium)")


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--skip-slow"):
        return
    skip = pytest.mark.skip(reason="--skip-slow: slow and browser tests are left to CI")
    for item in items:
        if "slow" in item.keywords or "browser" in item.keywords:
            item.add_marker(skip)


def pytest_collection_finish(session):
    """Prepare the background runs that the selected (not skipped) tests read, and start them
    one after another beside the tests."""
    if session.config.option.collectonly:
        return
    from tests.helpers import BackgroundRun

    wanted = {name for item in session.items if item.get_closest_marker("skip") is None
              for name in getattr(item, "fixturenames", ())}
    names = [name for name in BackgroundRun.registry if name in wanted]
    if names:
        BackgroundRun.run_in_background(names, _RUN_ROOT / "background")


def pytest_sessionfinish(session, exitstatus):
    from tests.helpers import BackgroundRun

    BackgroundRun.stop_all()
    shutil.rmtree(_RUN_ROOT, ignore_errors=True)


@pytest.fixture
def engine_cache(tmp_path, monkeypatch):
    """A private engine cache, so that each test converts for itself."""
    folder = tmp_path / "engine-cache"
    monkeypatch.setenv("UNET_ENGINE_CACHE", str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_model():
    """One small untrained U-Net (64 px, depth 2, 4 filters) for the run, for tests that only
    need some network: read it, never change its weights."""
    from unet.networks.unet import build_unet

    return build_unet(64, depth=2, base_filters=4)


@pytest.fixture(scope="session")
def tiny_model_file(tiny_model, tmp_path_factory):
    """``tiny_model`` saved as ``tiny.keras`` with the engine's flatbuffer beside it, as the
    export ships them (``tiny.tflite``): a Segmenter made from it serves through LiteRT, as the
    app does, without converting. Read-only: copy the files to change them."""
    from unet.inference import engine_bundle

    path = tmp_path_factory.mktemp("tiny-model") / "tiny.keras"
    tiny_model.save(path)
    engine_bundle.write(path, tiny_model)
    for file in path.parent.iterdir():
        file.chmod(0o444)
    return path
