"""Fixtures and options shared by several test files.

``python -m pytest -q --skip-slow`` skips the soak and the real-browser tests (marked ``slow``
and ``browser``); CI runs everything. The LiteRT engine's cache of converted flatbuffers lives in
a temporary folder of the test run, never in the user's ``~/.cache``.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

# before any test imports the engine: the run's own engine cache, removed at the end
_RUN_CACHE = tempfile.mkdtemp(prefix="unet-test-engine-cache-")
os.environ["UNET_ENGINE_CACHE"] = _RUN_CACHE


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


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_RUN_CACHE, ignore_errors=True)


@pytest.fixture
def engine_cache(tmp_path, monkeypatch):
    """A private engine cache, so that each test converts for itself."""
    folder = tmp_path / "engine-cache"
    monkeypatch.setenv("UNET_ENGINE_CACHE", str(folder))
    return folder
