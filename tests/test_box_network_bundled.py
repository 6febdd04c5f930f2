"""The bundled box networks as the app runs them: the LiteRT flatbuffer answers as the Keras
model does, a box on a synthetic lesion is outlined by the network (and says so), and the model
card tab shows the network's test figures from its card."""

import json

import numpy as np
import pytest

from unet.inference.registry import ORGANS
from unet.metrics import dice
from unet.testing.phantom import make_phantom

BUNDLED = [key for key, organ in ORGANS.items()
           if organ.box_weight_path is not None and organ.box_weight_path.is_file()]


def test_the_breast_box_network_is_bundled():
    assert "breast" in BUNDLED


@pytest.mark.parametrize("organ", BUNDLED)
def test_the_flatbuffer_answers_as_the_keras_model(organ):
    import keras

    from unet.inference.box_network import BoxNetwork
    from unet.transforms.box_window import window_around, window_input

    weights = ORGANS[organ].box_weight_path
    network = BoxNetwork(weights)
    assert network.engine.startswith("LiteRT")
    gray, mask = make_phantom(240, 300, seed=4)
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    x = window_input(gray, box, window_around(box), network.input_size)
    batch = np.stack([x, x[:, ::-1]]).astype(np.float32)
    model = keras.saving.load_model(weights, compile=False)
    expected = keras.ops.convert_to_numpy(model(batch, training=False))
    np.testing.assert_allclose(np.asarray(network._run(batch)), expected, atol=1e-4)


@pytest.mark.parametrize("organ", BUNDLED)
def test_a_box_on_a_lesion_is_outlined_by_the_network(organ):
    from unet.analysis import analyze_loaded
    from unet.inference.prompts import BoxPrompt, Prompts
    from unet.inference.segmenter import Segmenter
    from unet.io.image_basics import LoadedImage

    segmenter = Segmenter(organ)
    assert segmenter.box_weights == ORGANS[organ].box_weight_path
    gray, mask = make_phantom(240, 300, seed=6)
    ys, xs = np.nonzero(mask)
    pad = 6
    box = BoxPrompt(int(xs.min()) - pad, int(ys.min()) - pad, int(xs.max()) + pad,
                    int(ys.max()) + pad)
    analysis = analyze_loaded(LoadedImage(gray, None, "PNG", 8), segmenter)
    guided = analysis.guide(Prompts(boxes=(box,)), segmenter)
    report = guided.report()
    assert report["boxes_outlined_by"].startswith(f"box-prompted network {organ}_box.keras")
    outline = segmenter.box_network.outline(gray, (box.x0, box.y0, box.x1, box.y1))
    assert outline.any() and np.array_equal(guided.mask() & outline, outline)
    assert dice(mask, outline) > 0.5  # a synthetic lesion, never trained on


@pytest.mark.parametrize("organ", BUNDLED)
def test_the_model_card_tab_shows_the_box_networks_figures(organ):
    from unet.inference.segmenter import Segmenter
    from webapp.model_card import card_markdown

    segmenter = Segmenter(organ)
    card = json.loads(ORGANS[organ].box_weight_path.with_suffix(".json").read_text())
    text = card_markdown(segmenter, segmenter.organ)
    assert f"box network `{organ}_box.keras`" in text
    assert f"{card['test']['all']['box']['dice_mean']:.3f}" in text
    assert f"| All | {card['test']['images']} |" in text
