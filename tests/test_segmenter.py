import numpy as np

from tests.helpers import (
    ROOT,
    XLA_QUICK_COMPILE,
    BackgroundRun,
    fresh_segmenter,
    small_organ,
)
from unet.inference.segmenter import Segmenter
from unet.networks.unet import build_unet
from unet.testing.phantom import make_scanner_frame
from unet.transforms.postprocess import clean_mask


def test_outputs_at_frame_size_and_one_model_call():
    seg = fresh_segmenter()
    gray = (np.random.default_rng(1).random((123, 217)) * 255).astype(np.uint8)
    result = seg.segment(gray)
    assert result.probability.shape == gray.shape == result.uncertainty.shape
    assert result.probability.dtype == np.float32
    assert 0 <= result.probability.min() and result.probability.max() <= 1
    assert 0 <= result.uncertainty.min() and result.uncertainty.max() <= 1
    assert 0 <= result.confidence <= 1
    assert seg.calls == 1  # identity and flip go through the model in one batch
    mask = result.mask(0.5)
    assert mask.shape == gray.shape and mask.dtype == bool
    assert seg.calls == 1  # masks come from the cached probability
    assert result.mask(0.5) is mask and not mask.flags.writeable  # shared, so not editable
    expected = clean_mask(result.probability, 0.5, min_area_px=result.min_area_px,
                          min_peak=result.min_peak)
    assert np.array_equal(mask, expected)
    for t in (0.1, 0.2, 0.3, 0.4, 0.6):  # only a few thresholds are kept
        result.mask(t)
    assert len(result._masks) <= 4 and np.array_equal(result.mask(0.5), expected)


def test_uncertainty_is_the_disagreement_of_the_flip():
    """A model that sees only the left half responds differently to the flipped image."""
    import keras

    organ = small_organ(size=32)
    inputs = keras.Input((32, 32, 1))
    ramp = np.tile(np.linspace(0, 1, 32, dtype="float32"), (32, 1))[None, :, :, None]
    out = keras.layers.Lambda(lambda x: keras.ops.sigmoid(x * 0 + (ramp - 0.5) * 20))(inputs)
    model = keras.Model(inputs, out)
    seg = Segmenter(organ, model=model)
    result = seg.segment(np.full((32, 32), 100, np.uint8))
    # identity says "lesion" on the right, the flipped pass on the left: they disagree everywhere
    # but the middle, and their union/intersection agreement is zero
    assert result.uncertainty[:, :4].mean() > 0.9 and result.uncertainty[:, -4:].mean() > 0.9
    assert result.confidence < 0.1 and result.low_confidence
    np.testing.assert_allclose(result.probability, 0.5, atol=0.05)


def test_symmetric_model_gives_full_confidence():
    organ = small_organ(size=32)
    seg = Segmenter(organ, model=build_unet(32, depth=2, base_filters=4))
    flat = np.full((40, 40), 128, np.uint8)
    result = seg.segment(flat)
    assert result.uncertainty.max() < 1e-4  # a flat image is its own mirror image
    assert result.confidence == 1.0


def test_field_of_view_result_is_pasted_back_into_the_frame():
    frame, _, true_box = make_scanner_frame(seed=3)
    seg = fresh_segmenter()
    result = seg.segment(frame)
    box = result.field_of_view
    assert result.probability.shape == frame.shape
    outside = np.ones(frame.shape, bool)
    outside[box.slice] = False
    assert outside.any() and result.probability[outside].max() == 0.0
    assert box.y0 <= true_box[0] + 10 and box.y1 >= true_box[2] - 10


def test_without_the_interpreter_the_keras_model_answers_and_the_log_says_so_once(
        monkeypatch, caplog):
    import keras

    import unet.inference.engine
    import unet.inference.segmenter as segmenter_module

    def not_installed():
        raise unet.inference.engine.EngineUnavailable(
            "the LiteRT interpreter (ai-edge-litert) is not installed")

    monkeypatch.setattr(unet.inference.engine, "_interpreter_class", not_installed)
    monkeypatch.setattr(segmenter_module, "_fallback_warned", False)
    organ = small_organ(size=64)
    model = build_unet(64, **organ.model_kwargs)
    frame, _, _ = make_scanner_frame(seed=5)
    with caplog.at_level("WARNING", logger="unet.inference.segmenter"):
        first = Segmenter(organ, model=model, engine="litert")
        second = Segmenter(organ, model=model, engine="litert")
        result = first.segment(frame)
        second.segment(frame)
    warnings = [r for r in caplog.records if "falls back to the Keras model" in r.getMessage()]
    assert len(warnings) == 1 and "ai-edge-litert" in warnings[0].getMessage()
    assert first.engine.startswith("Keras model") and second.engine == first.engine

    x = np.random.default_rng(0).standard_normal((2, 64, 64, 1)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(model(x, training=False))[..., 0]
    np.testing.assert_allclose(first.predict_batch(x), expected, atol=1e-6)
    reference = Segmenter(organ, model=model, engine="keras").segment(frame)
    np.testing.assert_array_equal(result.probability, reference.probability)
    assert result.confidence == reference.confidence


_JAX_SCRIPT = """
import json, logging, os, sys
# tests/blocked_imports (on PYTHONPATH) makes `import tensorflow` fail, as on a machine without it;
# it leaves no "tensorflow" entry in sys.modules, which Keras would take for a loaded TensorFlow
assert "tensorflow" not in sys.modules
os.environ["KERAS_BACKEND"] = "jax"
records = []
logging.basicConfig(level=logging.WARNING)
logging.getLogger("unet.inference.segmenter").addHandler(type("H", (logging.Handler,), {
    "emit": lambda self, r: records.append(r.getMessage())})())
from pathlib import Path
import numpy as np
from unet.testing.phantom import make_scanner_frame
from unet.inference.segmenter import Segmenter
folder = Path(sys.argv[1])
frame, _, _ = make_scanner_frame(seed=5)
# weights and card without a flatbuffer beside them: two models fall back to Keras, the bundled
# breast model and a tiny one, and the log says so once
breast = Segmenter("breast", weights=folder / "breast.keras")
again = Segmenter("thyroid", weights=folder / "tiny.keras")
np.save(folder / "probability.npy", breast.segment(frame).probability)
assert again.segment(frame).probability.shape == frame.shape
shipped = Segmenter("breast")  # with it: LiteRT serves, no TensorFlow needed
np.save(folder / "shipped.npy", shipped.segment(frame).probability)
import keras
(folder / "info.json").write_text(json.dumps({
    "backend": keras.backend.backend(), "engines": [breast.engine, again.engine],
    "shipped": shipped.engine, "warnings": [m for m in records if "falls back" in m]}))
"""


def _jax_fallback_inputs(folder):
    """Copies of the bundled breast weights and card, without the flatbuffer shipped beside
    them, and a tiny model's file; an empty engine cache (with a flatbuffer cached or shipped,
    LiteRT alone answers, without TensorFlow; converting one needs TensorFlow)."""
    import os
    import shutil
    import sys

    from unet.inference.registry import get_organ

    organ = get_organ("breast")
    shutil.copyfile(organ.weight_path, folder / "breast.keras")
    shutil.copyfile(organ.card_path, folder / "breast.json")
    build_unet(64, depth=2, base_filters=4).save(folder / "tiny.keras")
    return [sys.executable, "-c", _JAX_SCRIPT, str(folder)], {
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "blocked_imports"), str(ROOT)]),
        "UNET_ENGINE_CACHE": str(folder / "engine-cache"), **XLA_QUICK_COMPILE}


JAX_FALLBACK = BackgroundRun("jax_fallback", _jax_fallback_inputs, needs=("jax",))
jax_fallback = JAX_FALLBACK.fixture()


def test_on_jax_without_tensorflow_the_keras_model_gives_the_engines_answers(jax_fallback):
    """Training's evaluation may run with KERAS_BACKEND=jax where TensorFlow is not installed.
    The bundled breast model through Keras on JAX gives the shipped flatbuffer's answers; a
    second model (a tiny one: loading the real one takes 10-20 s on JAX) falls back too, and the
    log says so once for both. The child process runs in the background (``BackgroundRun``)."""
    import json

    run = jax_fallback
    assert run.returncode == 0, run.output[-3000:]
    info = json.loads((run.folder / "info.json").read_text())
    probability = np.load(run.folder / "probability.npy")
    assert info["backend"] == "jax" and all("jax" in e for e in info["engines"]), info
    assert info["shipped"].startswith("LiteRT"), info
    np.testing.assert_allclose(np.load(run.folder / "shipped.npy"), probability, atol=1e-4)
    # said once, for 2 models: the conversion needs TensorFlow, which is not installed
    assert len(info["warnings"]) == 1 and "tensorflow" in info["warnings"][0], info["warnings"]

    frame, _, _ = make_scanner_frame(seed=5)
    engine = Segmenter("breast")
    assert engine.engine.startswith("LiteRT")
    np.testing.assert_allclose(probability, engine.segment(frame).probability, atol=1e-4)


def test_an_organ_on_flip_plus_views_averages_every_view_that_sees_the_pixel():
    """The mask of an organ set to "flip+views" is the mean of the flip pair and the four extra
    views brought back, each counted only where it sees the pixel; the quality estimate then
    reuses those views instead of running them again."""
    import dataclasses

    from unet.transforms.fov import find_field_of_view
    from unet.transforms.preprocess import probability_to_frame, to_model_input
    from unet.transforms.test_time_augmentation import augment_batch, warp_back
    from unet.trust import quality as Q

    organ = dataclasses.replace(small_organ(size=64), test_time_augmentation="flip+views")
    model = build_unet(64, **organ.model_kwargs)
    seg_views = Segmenter(organ, model=model)
    seg_flip = Segmenter(small_organ(size=64), model=model)
    assert (seg_views.views, seg_flip.views) == ("flip+views", "flip")
    assert seg_views.engine_batch_sizes() == (2, 4) and seg_flip.engine_batch_sizes() == (2,)
    gray, _, _ = make_scanner_frame(240, 320, seed=2)
    result = seg_views.segment(gray)
    assert seg_views.calls == 2  # the flip pair, then the four views as one batch
    assert result.extra_views is not None and result.extra_views[0].shape == (4, 64, 64)

    box = find_field_of_view(gray)
    x = to_model_input(gray[box.slice], 64)
    pair = seg_flip.predict_batch(np.stack([x, x[:, ::-1]]))
    pair = np.stack([pair[0], pair[1][:, ::-1]])
    back, valid = warp_back(seg_flip.predict_batch(augment_batch(x)))
    assert 0.3 < valid.mean() < 1.0  # the zoom-out and the shifts leave part of the input unseen
    expected = (pair.sum(0) + (back * valid).sum(0)) / (2 + valid.sum(0))
    np.testing.assert_allclose(result.probability[box.slice],
                               probability_to_frame(expected, (box.height, box.width)),
                               atol=1e-5)
    flip_only = seg_flip.segment(gray).probability
    assert np.abs(flip_only - result.probability).max() > 1e-3  # the views change the answer

    calls = seg_views.calls
    signals = Q.measure(seg_views, result)
    assert seg_views.calls == calls  # no second run of the views
    assert set(Q.TTA_FEATURES) <= set(signals.features)
