"""The engine's flatbuffer shipped beside a .keras file (unet/inference/engine_bundle.py): used
only when it was converted from exactly that file; other batch sizes run through it in chunks."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.helpers import keras_output
from unet.inference import engine_bundle
from unet.inference.engine import LiteRTEngine
from unet.networks.unet import build_unet


@pytest.fixture(scope="module")
def written_bundle(tiny_model, tmp_path_factory):
    """The tiny model saved with its shipped flatbuffer, as the export writes them (converted
    once for the module; each test gets its own copy of the files)."""
    path = tmp_path_factory.mktemp("bundle") / "m.keras"
    tiny_model.save(path)
    flatbuffer = engine_bundle.write(path)
    return path, flatbuffer


@pytest.fixture
def bundled(tiny_model, written_bundle, tmp_path):
    """(model, .keras file, its flatbuffer): a copy of the written bundle, free to change."""
    path = tmp_path / "m.keras"
    for source in written_bundle[0].parent.iterdir():
        shutil.copyfile(source, tmp_path / source.name)
    return tiny_model, path, tmp_path / written_bundle[1].name


def test_a_matching_bundle_serves_every_batch_size_without_converting(bundled, engine_cache):
    model, path, flatbuffer = bundled
    assert flatbuffer == path.with_suffix(".tflite") and flatbuffer.stat().st_size > 1000
    manifest = json.loads(path.with_suffix(".tflite.json").read_text())
    assert manifest["batch_size"] == engine_bundle.BATCH_SIZE and manifest["source"] == "m.keras"
    engine = LiteRTEngine(None, weights=path, batch_sizes=(2, 4))
    assert engine.conversions == 0 and engine.batch_sizes == [2]
    assert not list(engine_cache.glob("*")), "nothing converted, nothing cached"
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 4, 5):  # odd sizes: the last chunk is padded, and the padding dropped
        x = rng.standard_normal((n, 64, 64, 1)).astype(np.float32)
        out = engine(x)
        assert out.shape == (n, 64, 64, 1)
        np.testing.assert_allclose(out, keras_output(model, x), atol=1e-4, rtol=0)
    assert engine.conversions == 0 and engine.batch_sizes == [2]
    assert engine.architecture()["bottleneck"] == (16, 16, 16)


def test_a_bundle_of_other_weights_is_ignored(bundled, engine_cache):
    _, path, _ = bundled
    retrained = build_unet(64, depth=2, base_filters=4)  # new weights, the old flatbuffer beside
    retrained.save(path)
    engine = LiteRTEngine(retrained, weights=path, batch_sizes=(2,))
    assert engine.conversions == 1, "the stale flatbuffer must not answer for new weights"
    x = np.random.default_rng(8).standard_normal((2, 64, 64, 1)).astype(np.float32)
    np.testing.assert_allclose(engine(x), keras_output(retrained, x), atol=1e-4, rtol=0)


def test_a_damaged_bundle_is_ignored(bundled, engine_cache):
    model, path, flatbuffer = bundled
    flatbuffer.write_bytes(flatbuffer.read_bytes()[:-100] + b"\0" * 100)  # same size, new bytes
    engine = LiteRTEngine(model, weights=path, batch_sizes=(2,))
    assert engine.conversions == 1
    x = np.random.default_rng(9).standard_normal((2, 64, 64, 1)).astype(np.float32)
    np.testing.assert_allclose(engine(x), keras_output(model, x), atol=1e-4, rtol=0)


def test_every_shipped_weight_file_is_at_most_20_mb():
    from unet.inference.registry import WEIGHTS_DIR

    files = [p for p in WEIGHTS_DIR.iterdir() if p.suffix in (".keras", ".tflite")]
    assert len(files) >= 4, files  # a .keras and its flatbuffer per organ
    for p in files:
        assert p.stat().st_size <= 20_000_000, f"{p.name}: {p.stat().st_size / 1e6:.1f} MB"
