import numpy as np
import pytest

from unet.errors import ImageInputError
from unet.inference.registry import ORGANS, get_organ
from unet.networks.architectures import build_model
from unet.networks.unet import build_unet, load_model


def test_unet_shape_and_depth_arguments():
    model = build_unet(64, depth=3, base_filters=4, normalization="group", dropout=0.2)
    assert model.input_shape == (None, 64, 64, 1)
    assert model.output_shape == (None, 64, 64, 1)
    names = {layer.name for layer in model.layers}
    assert {"enc0_conv1", "enc2_conv1", "bottleneck_conv1", "dec0_conv2"} <= names
    assert "enc3_conv1" not in names
    assert any(layer.__class__.__name__ == "GroupNormalization" for layer in model.layers)
    out = model.predict_on_batch(np.random.rand(2, 64, 64, 1).astype("float32"))
    assert out.shape == (2, 64, 64, 1) and 0 <= out.min() and out.max() <= 1


def test_input_size_must_divide_by_depth():
    with pytest.raises(ValueError, match="divisible"):
        build_unet(100, depth=3)
    with pytest.raises(ValueError, match="normalization"):
        build_unet(64, depth=2, normalization="layer")


def test_save_load_round_trip(tmp_path):
    model = build_unet(32, depth=2, base_filters=4, dropout=0.1)
    x = np.random.default_rng(0).random((1, 32, 32, 1)).astype("float32")
    before = model.predict_on_batch(x)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_allclose(loaded.predict_on_batch(x), before, atol=1e-6)


@pytest.mark.parametrize("key", sorted(ORGANS))
def test_registry_entries_build_models_within_size_budget(key):
    organ = get_organ(key)
    assert organ.key == key and organ.weight_file == f"{key}.keras"
    assert 0 < organ.threshold < 1
    model = build_model(organ.architecture, organ.input_size, **organ.model_kwargs)
    # float32 weights: 4 bytes each, the .keras file must stay at or under 20 MB
    assert model.count_params() * 4 < 20e6
    assert model.input_shape == (None, organ.input_size, organ.input_size, 1)


def test_unknown_organ_is_a_clear_error():
    with pytest.raises(ImageInputError, match="breast"):
        get_organ("liver")
    assert get_organ(" Breast ").key == "breast"
