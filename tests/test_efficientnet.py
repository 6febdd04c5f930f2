"""The EfficientNet-Lite port is right (ImageNet answer on a real photograph), not only runnable."""

from pathlib import Path

import cv2
import keras
import matplotlib
import numpy as np
import pytest

from training import pretrained
from unet.inference.engine import LiteRTEngine
from unet.networks.architectures import build_model
from unet.networks.efficientnet_lite import block_plan, build_efficientnet_lite_classifier

# ImageNet classes a photograph of Grace Hopper in uniform can fairly get first
UNIFORM_AND_NEIGHBOURS = {652, 457, 834, 906, 400, 617}  # uniform, bow tie, suit, tie, gown, coat


def test_lite0_plan_matches_the_published_network():
    plan = block_plan("lite0")
    assert len(plan) == 16
    assert [b.stride for b in plan].count(2) == 4
    assert plan[-1].filters_out == 320 and plan[0].filters_in == 32
    assert len(block_plan("lite2")) > 16  # deeper variants repeat the middle stages


def test_imagenet_weights_classify_a_photograph():
    model = build_efficientnet_lite_classifier("lite0")
    assert pretrained.load_imagenet_weights(model, "lite0", head=True) == 99
    photo = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    side = min(h, w)
    rgb = rgb[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
    x = cv2.resize(rgb, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32)[None]
    probs = np.asarray(model.predict_on_batch(x))[0]
    assert int(np.argmax(probs)) in UNIFORM_AND_NEIGHBOURS
    assert probs[652] > 0.2  # "military uniform" clearly among the answers


def test_checkpoint_reader_rejects_other_files(tmp_path):
    from training.torch_checkpoint import CheckpointError, read_legacy_checkpoint

    bad = tmp_path / "x.pth"
    bad.write_bytes(b"PK\x03\x04 not a legacy pickle")
    with pytest.raises(CheckpointError):
        read_legacy_checkpoint(bad)


def test_segmentation_model_is_gray_in_probability_out_and_saves_plainly(tmp_path):
    model = build_model("efficientnet_unet", 64, decoder_filters=(16, 8, 8, 8))
    assert model.input_shape == (None, 64, 64, 1) and model.output_shape == (None, 64, 64, 1)
    assert model.get_layer("encoder_features").output.shape[1:3] == (2, 2)
    n = pretrained.load_imagenet_weights(model, "lite0")
    assert n == 96  # stem conv + bn, 4 layers in block 0, 6 in each other block; no head
    x = np.random.default_rng(0).standard_normal((2, 64, 64, 1)).astype(np.float32)
    out = np.asarray(model.predict_on_batch(x))
    assert 0.0 <= out.min() and out.max() <= 1.0
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    assert np.allclose(np.asarray(again.predict_on_batch(x)), out, atol=1e-6)
    # the LiteRT engine the app serves with converts it and gives its answers (the training
    # smoke runs, on the small U-Net, no longer convert this network)
    engine = LiteRTEngine(model, batch_sizes=(2,), feature_layer="encoder_features")
    prob, features = engine.run_with_features(x)
    np.testing.assert_allclose(prob, out, atol=1e-4, rtol=0)
    assert features.shape == (2, 2, 2, model.get_layer("encoder_features").output.shape[-1])
    with pytest.raises(ValueError, match="divisible by 32"):
        build_model("efficientnet_unet", 100)
    with pytest.raises(ValueError, match="architecture"):
        build_model("resnet", 64)


def test_training_can_start_from_another_organs_trained_model(tmp_path):
    """--init-weights (the thyroid recipe starts from the breast model): every layer is copied,
    also across input sizes (fully convolutional); another architecture is refused by name."""
    source = build_model("efficientnet_unet", 64, decoder_filters=(16, 8, 8, 8))
    rng = np.random.default_rng(1)
    source.set_weights([rng.standard_normal(w.shape).astype(np.float32)
                        for w in source.get_weights()])
    path = tmp_path / "breast.keras"
    source.save(path)
    (tmp_path / "breast.json").write_text('{"version": "breast-test-1"}')
    target = build_model("efficientnet_unet", 96, decoder_filters=(16, 8, 8, 8))
    info = pretrained.load_trained_weights(target, path)
    assert info["version"] == "breast-test-1" and info["layers"] > 90
    for a, b in zip(source.get_weights(), target.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    other = build_model("efficientnet_unet", 64, decoder_filters=(32, 16, 8, 8))
    with pytest.raises(pretrained.PretrainedWeightsError, match="other shapes"):
        pretrained.load_trained_weights(other, path)
    with pytest.raises(pretrained.PretrainedWeightsError, match="has no layer"):
        pretrained.load_trained_weights(build_model("unet", 64, depth=2, base_filters=4), path)
    with pytest.raises(pretrained.PretrainedWeightsError, match="does not exist"):
        pretrained.load_trained_weights(target, tmp_path / "missing.keras")


def test_a_prompted_network_starts_its_encoder_from_an_automatic_model(tmp_path):
    source = build_model("efficientnet_unet", 64, decoder_filters=(16, 8, 8, 8))
    rng = np.random.default_rng(3)
    source.set_weights([rng.normal(size=w.shape).astype(np.float32)
                        for w in source.get_weights()])
    path = tmp_path / "breast.keras"
    source.save(path)
    target = build_model("box_prompt_unet", 64, decoder_filters=(16, 8, 8, 8))
    decoder_before = target.get_layer("dec16_conv1").get_weights()[0].copy()
    info = pretrained.load_encoder_weights(target, path)
    assert info["file"] == "breast.keras" and info["layers"] > 60
    for name in ("stem_conv", "block1_dwconv", "block15_project_bn"):
        for a, b in zip(source.get_layer(name).get_weights(),
                        target.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    # the decoder keeps its own start (it takes the prompt too, so its shapes differ anyway)
    np.testing.assert_array_equal(target.get_layer("dec16_conv1").get_weights()[0],
                                  decoder_before)
    with pytest.raises(pretrained.PretrainedWeightsError, match="has no layer"):
        pretrained.load_encoder_weights(target, _saved_plain_unet(tmp_path))


def _saved_plain_unet(tmp_path):
    path = tmp_path / "plain.keras"
    build_model("unet", 64, depth=2, base_filters=4).save(path)
    return path
