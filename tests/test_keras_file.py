"""What a saved .keras file says about its network, read without Keras
(unet/inference/keras_file.py)."""

from __future__ import annotations

import pytest

from unet.inference.keras_file import UnreadableModelFile, read_facts
from unet.networks.unet import build_unet


def test_facts_follow_the_file_when_it_is_rewritten(tmp_path):
    path = tmp_path / "m.keras"
    model = build_unet(64, depth=2, base_filters=4)
    model.save(path)
    facts = read_facts(path)
    assert facts.input_shape == (64, 64, 1)
    assert facts.layer_names == tuple(layer.name for layer in model.layers)
    build_unet(32, depth=2, base_filters=4).save(path)  # new weights under the same name
    assert read_facts(path).input_shape == (32, 32, 1)


@pytest.mark.parametrize("content", [b"", b"not a zip", None])
def test_a_file_that_is_not_a_keras_model_is_a_clear_error(tmp_path, content):
    path = tmp_path / "m.keras"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UnreadableModelFile, match="not a readable .keras model file"):
        read_facts(path)
