"""Fixtures shared by several test files."""

from __future__ import annotations

import pytest


@pytest.fixture
def engine_cache(tmp_path, monkeypatch):
    """A private engine cache, so that each test converts for itself."""
    folder = tmp_path / "engine-cache"
    monkeypatch.setenv("UNET_ENGINE_CACHE", str(folder))
    return folder
