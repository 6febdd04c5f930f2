"""The LiteRT engine (unet/inference/engine.py) gives the Keras model's answers, at any batch
size."""

from __future__ import annotations

import threading

import keras
import numpy as np
import pytest

from tests.helpers import keras_output
from unet.inference.engine import LiteRTEngine, prune_cache, usable_threads
from unet.inference.registry import get_organ
from unet.inference.segmenter import Segmenter
from unet.networks.unet import build_unet
from unet.testing.phantom import make_scanner_frame
from unet.transforms.fov import find_field_of_view
from unet.transforms.preprocess import to_model_input


@pytest.mark.parametrize("organ_key", ["breast", "thyroid"])
def test_bundled_weights_give_the_keras_models_probabilities(organ_key, engine_cache):
    organ = get_organ(organ_key)
    assert organ.weight_path.is_file(), f"{organ.weight_path} is bundled with the app"
    seg = Segmenter(organ_key)
    assert seg.engine.startswith("LiteRT"), seg.engine
    # the flatbuffer shipped beside the weights is current (converted from exactly this .keras
    # file), so a fresh host converts nothing and caches nothing
    assert seg._litert._bundle is not None, "weights/<organ>.tflite is stale: run " \
        "python -m unet.inference.engine_bundle on the .keras file"
    assert seg._litert.conversions == 0 and not list(engine_cache.glob("*.tflite"))
    # a real-sized input: a scanner frame's field of view at the model's own input size, and its
    # mirror image, as segment() sends them
    frame, _, _ = make_scanner_frame(500, 600, seed=1)
    x = to_model_input(frame[find_field_of_view(frame).slice], seg.input_size)
    batch = np.stack([x, x[:, ::-1]]).astype(np.float32)
    # the reference: the Keras model through segment(), loaded once (its model serves below)
    keras_seg = Segmenter(organ_key, engine="keras")
    model = keras_seg.model
    assert batch.shape[1] == batch.shape[2] == model.input_shape[1]
    expected = keras_output(model, batch)[..., 0]
    got = seg.predict_batch(batch)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    assert np.ptp(expected) > 0.1, "the outputs vary: the comparison is not of two blanks"
    # the encoder's features (the organ check's input) come out of the same pass, equal too
    assert seg.feature_layer == "encoder_features"
    prob, features = seg._forward.run_with_features(batch)
    np.testing.assert_allclose(prob[..., 0], expected, atol=1e-4, rtol=0)
    encoder = keras.Model(model.inputs, model.get_layer(seg.feature_layer).output)
    reference_features = keras_output(encoder, batch)
    assert features.shape == reference_features.shape and np.ptp(reference_features) > 0.1
    np.testing.assert_allclose(features, reference_features, atol=1e-3 * np.abs(
        reference_features).max(), rtol=0)

    # the whole pipeline too: the Keras model through segment() gives the same picture
    reference = keras_seg.segment(frame)
    result = seg.segment(frame)
    np.testing.assert_allclose(result.probability, reference.probability, atol=1e-4, rtol=0)
    np.testing.assert_allclose(result.uncertainty, reference.uncertainty, atol=1e-4, rtol=0)
    assert result.embedding_layer == reference.embedding_layer == "encoder_features"
    np.testing.assert_allclose(result.embedding, reference.embedding,
                               atol=1e-3 * np.abs(reference.embedding).max(), rtol=0)

    # the shipped batch runs all on XNNPACK (one partition from the input to the output); every
    # batch the app sends (and any other) gives the Keras model's answers, with no conversion
    engine = seg._forward
    assert engine.batch_sizes == [Segmenter.TTA_BATCH]
    assert engine.fully_delegated(Segmenter.TTA_BATCH) is True, "not all on XNNPACK"
    for n in sorted({*seg.engine_batch_sizes(), 1, 3}):
        views = np.stack([np.roll(x, 7 * k, axis=k % 2) for k in range(n)]).astype(np.float32)
        np.testing.assert_allclose(seg.predict_batch(views), keras_output(model, views)[..., 0],
                                   atol=1e-4, rtol=0)
    assert engine.conversions == 0  # nothing converted at request time


def test_any_batch_size_is_converted_on_first_use_and_kept(engine_cache, tiny_model):
    model = tiny_model
    engine = LiteRTEngine(model, batch_sizes=(2,))
    assert engine.batch_sizes == [2] and engine.conversions == 1
    rng = np.random.default_rng(3)
    for n in (1, 3, 2, 5):
        x = rng.standard_normal((n, 64, 64, 1)).astype(np.float32)
        np.testing.assert_allclose(engine(x), keras_output(model, x), atol=1e-4, rtol=0)
    assert engine.batch_sizes == [1, 2, 3, 5] and engine.conversions == 4
    assert not list(engine_cache.glob("*")), "a model given in code has no file to key a cache on"
    with pytest.raises(ValueError, match="takes"):
        engine(np.zeros((2, 32, 32, 1), np.float32))


def test_runs_on_every_usable_cpu():
    import os

    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert usable_threads() == expected
    engine = LiteRTEngine(build_unet(32, depth=2, base_filters=4), batch_sizes=())
    assert engine.threads == expected


def test_flatbuffers_are_cached_by_the_weights_file_content(tmp_path, engine_cache):
    model = build_unet(64, depth=2, base_filters=4)
    path = tmp_path / "m.keras"
    model.save(path)
    x = np.random.default_rng(4).standard_normal((2, 64, 64, 1)).astype(np.float32)

    first = LiteRTEngine(model, weights=path)
    assert first.conversions == 1 and len(list(engine_cache.glob("*.tflite"))) == 1
    again = LiteRTEngine(model, weights=path)
    assert again.conversions == 0  # read from the cache
    np.testing.assert_array_equal(again(x), first(x))

    other = build_unet(64, depth=2, base_filters=4)  # new weights in the same file name
    other.save(path)
    changed = LiteRTEngine(other, weights=path)
    assert changed.conversions == 1 and len(list(engine_cache.glob("*.tflite"))) == 2
    np.testing.assert_allclose(changed(x), keras_output(other, x), atol=1e-4, rtol=0)
    assert np.abs(changed(x) - first(x)).max() > 1e-3  # not the old model's answers

    for f in engine_cache.glob("*.tflite"):  # a damaged cache file is converted again
        f.write_bytes(b"not a flatbuffer")
    repaired = LiteRTEngine(other, weights=path)
    assert repaired.conversions == 1
    np.testing.assert_allclose(repaired(x), keras_output(other, x), atol=1e-4, rtol=0)


def test_the_cache_keeps_the_most_recently_used_flatbuffers(tmp_path):
    import os

    for age, name in enumerate(["d", "c", "b", "a"]):  # "a" is the oldest
        path = tmp_path / f"{name}.tflite"
        path.write_bytes(b"x")
        os.utime(path, (1_000_000 - age * 100, 1_000_000 - age * 100))
    (tmp_path / "other.txt").write_text("not ours")
    prune_cache(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.tflite", "d.tflite", "other.txt"]


def test_concurrent_calls_get_their_own_answers(tiny_model):
    engine = LiteRTEngine(tiny_model, batch_sizes=(2,))
    rng = np.random.default_rng(5)
    inputs = [rng.standard_normal((2, 64, 64, 1)).astype(np.float32) for _ in range(6)]
    expected = [engine(x) for x in inputs]
    results: dict[int, list[np.ndarray]] = {}

    def work(i: int) -> None:
        results[i] = [engine(inputs[(i + k) % len(inputs)]) for k in range(10)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, outs in results.items():
        for k, out in enumerate(outs):
            np.testing.assert_array_equal(out, expected[(i + k) % len(inputs)])


_SERVE_WITHOUT_TENSORFLOW = """
import json, sys
import numpy as np
from unet.inference.engine import LiteRTEngine
engine = LiteRTEngine(None, weights=sys.argv[1], batch_sizes=(2,),
                      feature_layer="enc1_relu2")
x = np.load(sys.argv[2])
prob, features = engine.run_with_features(x)
np.save(sys.argv[3], prob)
print(json.dumps({"tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules,
                  "conversions": engine.conversions, "features": list(features.shape),
                  "bottleneck": list(engine.architecture()["bottleneck"])}))
"""


def test_a_weight_file_is_served_without_tensorflow_in_the_process(tmp_path, engine_cache):
    """The app's path: the engine made from the file alone converts in a child process, so the
    serving process never imports TensorFlow or Keras; a second start reads the cache."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    model = build_unet(64, depth=2, base_filters=4)
    path = tmp_path / "m.keras"
    model.save(path)
    x = np.random.default_rng(6).standard_normal((2, 64, 64, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    runs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", _SERVE_WITHOUT_TENSORFLOW, str(path), str(tmp_path / "x.npy"),
             str(tmp_path / "p.npy")], env=env, capture_output=True, text=True, timeout=600,
            check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        np.testing.assert_allclose(np.load(tmp_path / "p.npy"), keras_output(model, x), atol=1e-4,
                                   rtol=0)
    for facts in runs:
        assert not facts["tensorflow"] and not facts["keras"], facts
        assert facts["features"] == [2, 32, 32, 8]
        assert facts["bottleneck"] == [16, 16, 16]
    assert runs[0]["conversions"] == 1 and runs[1]["conversions"] == 0, runs
