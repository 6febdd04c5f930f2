"""The bundled prompted networks (box and click) as the app runs them: the LiteRT flatbuffer
answers as the Keras model does, a prompt on a synthetic lesion is outlined by the network (and
the report says so), and the model card tab shows the network's test figures from its card."""

import json

import numpy as np
import pytest

from unet.inference.registry import ORGANS
from unet.metrics import dice
from unet.testing.phantom import make_phantom

BUNDLED = [(key, prompt) for key, organ in ORGANS.items() for prompt in ("box", "click")
           if getattr(organ, f"{prompt}_weight_path") is not None
           and getattr(organ, f"{prompt}_weight_path").is_file()]
REPORT_KEY = {"box": "boxes_outlined_by", "click": "clicks_outlined_by"}


def test_the_breast_box_and_click_networks_are_bundled():
    assert {("breast", "box"), ("breast", "click"), ("thyroid", "box")} <= set(BUNDLED)


def _lesion(seed):
    """A synthetic scan, its lesion, and the user's box (6 px around it) and click (its most
    interior point)."""
    from training.click_prompt_data import interior_point

    gray, mask = make_phantom(240, 300, seed=seed)
    ys, xs = np.nonzero(mask)
    tight = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    box = (tight[0] - 6, tight[1] - 6, tight[2] + 6, tight[3] + 6)
    return gray, mask, box, interior_point(mask, tight)


def _network_and_input(organ, prompt, gray, box, point):
    if prompt == "box":
        from unet.inference.box_network import BoxNetwork
        from unet.transforms.box_window import window_around, window_input

        network = BoxNetwork(ORGANS[organ].box_weight_path)
        return network, window_input(gray, box, window_around(box), network.input_size)
    from unet.inference.click_network import ClickNetwork
    from unet.transforms.click_window import click_window_input, window_at_click

    network = ClickNetwork(ORGANS[organ].click_weight_path)
    window = window_at_click(point, gray.shape)
    return network, click_window_input(gray, point, window, network.input_size)


@pytest.mark.parametrize("organ,prompt", BUNDLED)
def test_the_flatbuffer_answers_as_the_keras_model(organ, prompt):
    import keras

    gray, _, box, point = _lesion(4)
    network, x = _network_and_input(organ, prompt, gray, box, point)
    assert network.engine.startswith("LiteRT")
    batch = np.stack([x, x[:, ::-1]]).astype(np.float32)
    model = keras.saving.load_model(network.weights, compile=False)
    expected = keras.ops.convert_to_numpy(model(batch, training=False))
    np.testing.assert_allclose(np.asarray(network._run(batch)), expected, atol=1e-4)


@pytest.mark.parametrize("organ,prompt", BUNDLED)
def test_a_prompt_on_a_lesion_is_outlined_by_the_network(organ, prompt):
    from unet.analysis import analyze_loaded
    from unet.inference.prompts import BoxPrompt, ClickPrompt, Prompts
    from unet.inference.segmenter import Segmenter
    from unet.io.image_basics import LoadedImage

    segmenter = Segmenter(organ)
    gray, mask, box, point = _lesion(6)
    prompts = (Prompts(boxes=(BoxPrompt(*box),)) if prompt == "box"
               else Prompts(clicks=(ClickPrompt(*point),)))
    analysis = analyze_loaded(LoadedImage(gray, None, "PNG", 8), segmenter)
    guided = analysis.guide(prompts, segmenter)
    report = guided.report()
    assert report[REPORT_KEY[prompt]].startswith(
        f"{prompt}-prompted network {organ}_{prompt}.keras")
    network = getattr(segmenter, f"{prompt}_network")
    outline = network.outline(gray, box if prompt == "box" else point)
    assert outline.any() and np.array_equal(guided.mask() & outline, outline)
    assert dice(mask, outline) > 0.5  # a synthetic lesion, never trained on
    # the guided answer tells what the network's outlines scored on the test split (its card)
    card = json.loads(network.weights.with_suffix(".json").read_text())
    figures = report["prompted_outline_test"][prompt]
    assert figures["dice_mean"] == card["test"]["all"][prompt]["dice_mean"]
    assert figures["card_version"] == card["version"]
    from webapp.summary import prompt_figure_text

    assert f"Dice {figures['dice_mean']:.2f} on average" in prompt_figure_text(report)


@pytest.mark.parametrize("organ,prompt", BUNDLED)
def test_the_model_card_tab_shows_the_networks_figures(organ, prompt):
    from unet.inference.segmenter import Segmenter
    from webapp.model_card import card_markdown

    segmenter = Segmenter(organ)
    path = getattr(ORGANS[organ], f"{prompt}_weight_path")
    card = json.loads(path.with_suffix(".json").read_text())
    text = card_markdown(segmenter, segmenter.organ)
    assert f"{prompt} network `{organ}_{prompt}.keras`" in text
    assert f"{card['test']['all'][prompt]['dice_mean']:.3f}" in text
    assert f"| All | {card['test']['images']} |" in text
    if prompt == "box" and "click" in card["test"]["all"]:
        # the box card's click column is the automatic model's click, not the click network's
        section = text.split(f"box network `{organ}_box.keras`", 1)[1].split("####", 1)[0]
        assert "| Click, automatic model only |" in section and "| Click |" not in section


def _automatic_blocks(card):
    """(test key, set name, figures) of each 'automatic' column in a prompted network's card."""
    for key, block in card.items():
        if not (key.startswith("test") and isinstance(block, dict)):
            continue
        if "automatic" in block:
            yield key, "all", block["automatic"]
        if "all" in block:
            yield key, "all", block["all"]["automatic"]
        for group in ("per_dataset", "per_scanner"):
            for name, figures in (block.get(group) or {}).items():
                yield key, name, figures["automatic"]


@pytest.mark.parametrize("organ,prompt", BUNDLED)
def test_the_cards_automatic_column_is_the_automatic_cards_test_figure(organ, prompt):
    """The 'automatic' column beside a prompted network's figures is the same measurement as
    the automatic model's card (same model, images and path), to the last digit: one figure,
    rounded once where it is shown (0.746 in both tables, not 0.747 from a kept 0.7465)."""
    card = json.loads(getattr(ORGANS[organ], f"{prompt}_weight_path").with_suffix(".json")
                      .read_text())
    automatic_card = json.loads(ORGANS[organ].card_path.read_text())
    automatic = automatic_card["test_metrics"]
    assert card["automatic_model"]["version"] == automatic_card["version"]
    checked = 0
    for key, name, figures in _automatic_blocks(card):
        own = (automatic["test_raw_frames"] if key == "test_raw_frames"
               else automatic["test"] if name == "all" or f"test:{name}" not in automatic
               else automatic[f"test:{name}"])
        assert figures["dice_mean"] == own["dice_mean"], (key, name)
        checked += 1
    assert checked >= 2


@pytest.mark.parametrize("organ,prompt", BUNDLED)
def test_a_ring_shaped_answer_is_outlined_with_its_hole_filled(organ, prompt, monkeypatch):
    """Where a network answers with a ring around a dark lesion (a browser trial), the outline
    is the lesion with the ring: its hole filled, as the training-free outlines are."""
    yy, xx = np.mgrid[:120, :160]
    r = np.hypot(yy - 60, xx - 80)
    ring = np.where((r >= 20) & (r <= 30), 0.9, 0.0).astype(np.float32)
    gray = np.full(ring.shape, 80, np.uint8)
    path = getattr(ORGANS[organ], f"{prompt}_weight_path")
    if prompt == "box":
        from unet.inference.box_network import BoxNetwork

        network = BoxNetwork(path)
        monkeypatch.setattr(network, "probability", lambda g, b: ring)
        outline = network.outline(gray, (45, 25, 115, 95))
    else:
        from unet.inference.click_network import ClickNetwork

        network = ClickNetwork(path)
        monkeypatch.setattr(network, "_sized_answer", lambda g, p: (ring > 0.5, None))
        outline = network.outline(gray, (80, 35))
    assert outline[60, 80] and outline.sum() == (r <= 30).sum()  # the ring and its hole
    assert not outline[r > 31].any()
