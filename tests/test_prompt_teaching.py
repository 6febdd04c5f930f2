"""The teaching tab's "What your prompts changed": a prompted network's look (window, input,
answer) is what its outline came from, and the comparison's numbers and colours follow the two
masks. Bundled networks on synthetic scans (``unet.testing.phantom``)."""

import dataclasses

import cv2
import numpy as np
import pytest

from tests.app_fixtures import test_models
from unet.analysis import analyze_loaded
from unet.inference.prompts import BoxPrompt, ClickPrompt, Prompts, unanswered_prompts
from unet.inference.registry import ORGANS
from unet.io.image_basics import LoadedImage
from unet.testing.phantom import make_phantom
from unet.transforms.box_window import box_channel
from webapp.prompt_teaching import change_image, change_text, network_view, prompts_text
from webapp.result import Result
from webapp.teaching_tab import prompt_view

BREAST = ORGANS["breast"]
needs_networks = pytest.mark.skipif(
    not (BREAST.box_weight_path.is_file() and BREAST.click_weight_path.is_file()),
    reason="the breast box and click networks are not bundled")


def _scan(seed=5, spacing=None):
    gray, truth = make_phantom(240, 300, seed=seed)
    ys, xs = np.nonzero(truth)
    box = (int(xs.min()) - 6, int(ys.min()) - 6, int(xs.max()) + 7, int(ys.max()) + 7)
    image = LoadedImage(gray, spacing, "PNG", 8)
    return image, truth, box, (int(np.median(xs)), int(np.median(ys)))


@needs_networks
def test_the_box_look_is_what_the_outline_came_from():
    from unet.inference.box_network import BoxNetwork

    image, truth, box, _ = _scan()
    network = BoxNetwork(BREAST.box_weight_path)
    look = network.look(image.pixels, box)
    size = network.input_size
    assert look.input.shape == (size, size, 2) and look.probability.shape == (size, size)
    np.testing.assert_array_equal(look.input[..., 1], box_channel(box, look.window, size))
    frame = look.in_frame(image.pixels.shape)
    np.testing.assert_array_equal(frame, network.probability(image.pixels, box))
    outline = network.outline(image.pixels, box)
    assert outline.any() and not (outline & (frame < 0.5)).any()
    w = look.window
    outside = np.ones(frame.shape, bool)
    outside[max(0, w.y0):w.y0 + w.side, max(0, w.x0):w.x0 + w.side] = False
    assert outside.any() and (frame[outside] == 0).all()  # nothing outside its window


@needs_networks
def test_the_click_answer_is_the_outline_and_the_look_it_came_from():
    from unet.inference.click_network import ClickNetwork

    image, truth, _, point = _scan()
    network = ClickNetwork(BREAST.click_weight_path)
    region, look = network.answer(image.pixels, point)
    np.testing.assert_array_equal(region, network.outline(image.pixels, point))
    assert region[point[1], point[0]]
    assert not (region & (look.in_frame(image.pixels.shape) < 0.5)).any()
    w = look.window
    assert w.x0 <= point[0] < w.x0 + w.side and w.y0 <= point[1] < w.y0 + w.side
    assert look.input[..., 1].max() > 0.5  # the click's spot is drawn


def _automatic(spacing=None, seed=5):
    image, truth, box, point = _scan(seed, spacing)
    return analyze_loaded(image, test_models().segmenters["breast"]), truth, box, point


def test_the_change_counts_what_the_prompts_added_and_took_out():
    automatic, truth, box, _ = _automatic()
    before = automatic.mask()
    after = np.zeros_like(before)
    after[40:90, 50:120] = True  # a region of its own, as if a box had outlined it
    prompts = Prompts(boxes=(BoxPrompt(45, 35, 125, 95),),
                      clicks=(ClickPrompt(10, 10, lesion=False),))
    guided = dataclasses.replace(automatic, prompts=prompts, guided=after, box_method="test",
                                 unanswered=unanswered_prompts(after, prompts))
    text = change_text(automatic, guided)
    added, removed = int((after & ~before).sum()), int((before & ~after).sum())
    assert f"added {added:,} px and took out {removed:,} px" in text
    assert prompts_text(guided) == '1 box and 1 click (1 "not a lesion")'
    assert "Boxes outlined by the test." in text and "Found no lesion" not in text
    # a second box on empty ground found nothing, and the text says so
    more = Prompts(boxes=(*prompts.boxes, BoxPrompt(200, 150, 240, 190)),
                   clicks=prompts.clicks)
    missed = dataclasses.replace(guided, prompts=more, unanswered=unanswered_prompts(after, more))
    assert "- Found no lesion: 1 box (nothing marked there)." in change_text(automatic, missed)
    rgb = change_image(automatic, guided)
    assert rgb.shape[:2] == (before.shape[0] * 3, before.shape[1] * 3)  # enlarged 3x to show
    core = cv2.erode((after & ~before).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    y, x = np.argwhere(core)[0]  # well inside the added part, away from any outline
    r, g, _ = rgb[3 * y + 1, 3 * x + 1].astype(int)
    assert g - r > 30  # tinted green ("added"), not yellow (in both) nor left gray


def test_areas_are_in_square_millimetres_where_the_file_gives_the_pixel_size():
    automatic, *_ = _automatic(spacing=(0.1, 0.1))
    after = np.zeros_like(automatic.mask())
    after[40:90, 50:120] = True
    guided = dataclasses.replace(automatic, prompts=Prompts(boxes=(BoxPrompt(45, 35, 125, 95),)),
                                 guided=after)
    added = int((after & ~automatic.mask()).sum())
    assert f"added {added * 0.01:.1f} mm²" in change_text(automatic, guided)


@needs_networks
def test_the_teaching_view_shows_the_prompt_section_only_for_a_guided_result():
    segmenter = test_models().segmenters["breast"]
    if segmenter.box_network is None:
        pytest.skip("the app's test models run without the bundled box network")
    automatic, truth, box, _ = _automatic()
    hidden = prompt_view(segmenter, Result(automatic))
    assert all(not part.visible for part in hidden.values())
    prompts = Prompts(boxes=(BoxPrompt(*box),))
    guided = automatic.guide(prompts, segmenter)
    shown = prompt_view(segmenter, Result(guided, prompts=prompts, automatic=automatic))
    assert all(part.visible for part in shown.values())
    tiles, text = network_view(segmenter, guided)
    assert len(tiles) == 3 and "box network saw" in text
    side = tiles[0][0].shape[0]
    assert all(t.shape == (side, side, 3) for t, _ in tiles)
    lesion_clicks = Prompts(clicks=(ClickPrompt(box[0] + 2, box[1] + 2),))
    clicked = automatic.guide(lesion_clicks, segmenter)
    text = network_view(segmenter, clicked)[1]
    assert "click network saw" in text
    factor = segmenter.click_network.shares.lesion_factor  # the sized look, as its card sets it
    assert (f"{factor:g} times that size" in text) == (factor is not None)
