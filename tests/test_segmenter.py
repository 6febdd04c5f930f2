import numpy as np

from tests.helpers import fresh_segmenter, small_organ
from unet.model import build_unet
from unet.phantom import make_scanner_frame
from unet.postprocess import clean_mask
from unet.segmenter import Segmenter


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


def test_without_tensorflow_falls_back_to_the_keras_model_and_says_so_once(monkeypatch, caplog):
    """Training may run on JAX with no TensorFlow installed; its evaluation uses `Segmenter`."""
    import unet.segmenter as segmenter_module

    organ = small_organ(size=64)
    model = build_unet(64, **organ.model_kwargs)
    frame, _, _ = make_scanner_frame(seed=5)
    expected = Segmenter(organ, model=model).segment(frame)

    monkeypatch.setattr(segmenter_module, "_fallback_warned", False)

    def no_tensorflow():
        raise ImportError("No module named 'tensorflow'")

    monkeypatch.setattr(segmenter_module, "_import_tensorflow", no_tensorflow)
    with caplog.at_level("WARNING", logger="unet.segmenter"):
        first = Segmenter(organ, model=model)
        second = Segmenter(organ, model=model)
        result = first.segment(frame)
        second.segment(frame)
    assert first.engine == second.engine == "keras"
    warnings = [r for r in caplog.records if "falls back to the Keras model" in r.getMessage()]
    assert len(warnings) == 1 and "TensorFlow" in warnings[0].getMessage()
    np.testing.assert_allclose(result.probability, expected.probability, atol=1e-5)
    np.testing.assert_allclose(result.uncertainty, expected.uncertainty, atol=1e-5)
    assert result.confidence == expected.confidence
