"""Box and click prompts (unet.inference.prompts): the user's boxes and clicks change the mask
as stated; bad prompts are clear errors."""

import numpy as np
import pytest

from unet.errors import ImageInputError
from unet.inference.prompts import (
    MIN_PROMPT_PEAK,
    BoxPrompt,
    ClickPrompt,
    Prompts,
    check_prompts,
    guided_mask,
    parse_box,
    remove_marked,
    unanswered_prompts,
    unlike_model,
    unprompted_marks,
)


class FlatSegmenter:
    """A model that finds nothing in any window (its second pass halves the probability)."""

    input_size = 32

    def __init__(self):
        self.calls = 0

    def predict_batch(self, batch):
        self.calls += 1
        return np.zeros(batch.shape[:3], np.float32)


def disc(shape, cy, cx, r, value):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return np.where((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r, value, 0.0).astype(np.float32)


@pytest.fixture
def scene():
    """Two lesion-like blobs: a strong one the automatic mask found (left) and a faint one it
    missed (right, peak 0.3, below the 0.5 threshold)."""
    shape = (120, 200)
    probability = np.maximum(disc(shape, 60, 50, 15, 0.9), disc(shape, 60, 150, 12, 0.3))
    gray = (probability * 200 + 20).astype(np.uint8)
    automatic = probability >= 0.5
    return gray, probability, automatic


def test_a_box_outlines_a_lesion_the_model_missed(scene):
    gray, probability, automatic = scene
    seg = FlatSegmenter()
    box = BoxPrompt(130, 40, 172, 82)
    mask = guided_mask(seg, gray, probability, automatic, Prompts(boxes=(box,)))
    faint = disc(gray.shape, 60, 150, 12, 1) > 0
    assert seg.calls == 1  # one window pass per box
    assert mask[faint].mean() > 0.95  # the missed lesion is outlined ...
    # ... and the one found automatically is kept
    assert automatic[mask & ~faint].all() and (mask & ~faint).sum() == automatic.sum()
    assert not automatic[faint].any()


def test_a_box_replaces_the_automatic_component_it_touches(scene):
    gray, probability, automatic = scene
    # a box over the right half of the found lesion only: the outline stays inside the box
    mask = guided_mask(FlatSegmenter(), gray, probability, automatic,
                       Prompts(boxes=(BoxPrompt(50, 40, 70, 80),)))
    assert mask[:, :50].sum() == 0 and mask[:, 50:70].sum() > 0


def test_clicks_add_and_remove(scene):
    gray, probability, automatic = scene
    added = guided_mask(FlatSegmenter(), gray, probability, automatic,
                        Prompts(clicks=(ClickPrompt(150, 60),)))
    assert added[60, 150] and added[60, 50]  # the faint lesion joins the found one
    removed = guided_mask(FlatSegmenter(), gray, probability, automatic,
                          Prompts(clicks=(ClickPrompt(50, 60, lesion=False),)))
    assert not removed.any()  # "not a lesion" on the only found one
    nowhere = guided_mask(FlatSegmenter(), gray, probability, automatic,
                          Prompts(clicks=(ClickPrompt(100, 10),)))
    assert (nowhere == automatic).all()  # a click on background adds nothing


def test_bad_prompts_are_clear_errors():
    with pytest.raises(ImageInputError, match="at least 2 pixels"):
        check_prompts(Prompts(boxes=(BoxPrompt(500, 500, 600, 600),)), (100, 100))
    with pytest.raises(ImageInputError, match="outside the image"):
        check_prompts(Prompts(clicks=(ClickPrompt(100, 5),)), (100, 100))
    with pytest.raises(ImageInputError, match="x0,y0,x1,y1"):
        parse_box("10,20,30")
    assert parse_box(" 30, 40, 10, 5 ") == BoxPrompt(30, 40, 10, 5)
    ordered = check_prompts(Prompts(boxes=(parse_box("30,40,10,5"),)), (100, 100))
    assert ordered.boxes == (BoxPrompt(10, 5, 30, 40),)


def test_the_analysis_follows_the_prompts_and_reports_them():
    """End to end with a real (untrained) network: the guided mask drives measurements and the
    report; empty prompts give the automatic answer back."""
    from unet.analysis import analyze
    from unet.inference.segmenter import Segmenter
    from unet.networks.unet import build_unet
    from unet.testing.phantom import make_phantom

    seg = Segmenter("breast", model=build_unet(64, depth=2, base_filters=4))
    gray, _ = make_phantom(96, 128, seed=4)
    import io

    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="PNG")
    automatic = analyze(buffer.getvalue(), segmenter=seg)
    prompts = Prompts(clicks=(ClickPrompt(5, 5, lesion=False),))
    guided = automatic.guide(Prompts(boxes=(BoxPrompt(40, 30, 90, 70),)), seg)
    report = guided.report()
    assert report["guided_by_user"] is True
    assert report["prompts"]["boxes"] == [{"x0": 40, "y0": 30, "x1": 90, "y1": 70}]
    assert guided.mask().sum() == sum(les["area_px"] for les in report["measurements"]["lesions"])
    outside = guided.mask().copy()
    outside[30:70, 40:90] = False
    assert not (outside & ~automatic.mask()).any()  # nothing added outside the box
    back = guided.guide(Prompts(), seg)
    assert back.report()["guided_by_user"] is False and (back.mask() == automatic.mask()).all()
    assert automatic.guide(prompts, seg).report()["prompts"]["clicks"][0]["lesion"] is False


def test_prompts_given_as_numpy_numbers_report_as_plain_json(scene):
    """A Python caller's numpy coordinates (from np.nonzero, say) come out as plain ints."""
    import json

    gray, _, _ = scene
    given = Prompts(boxes=(BoxPrompt(*np.array([130, 40, 172, 80])),),
                    clicks=(ClickPrompt(np.int64(50), np.float32(60.4), np.bool_(False)),))
    checked = check_prompts(given, gray.shape)
    text = json.dumps(checked.to_dict())
    assert json.loads(text)["clicks"] == [{"x": 50, "y": 60, "lesion": False}]
    assert all(type(v) is int for v in checked.boxes[0].to_dict().values())


def test_the_regions_no_prompt_touches_are_the_automatic_answers_leftovers():
    mask = np.zeros((100, 100), bool)
    mask[10:30, 10:30] = True  # boxed
    mask[60:90, 60:90] = True  # clicked beside (within a tenth of the shorter side)
    mask[5:9, 80:84] = True  # untouched
    mask[50:55, 5:10] = True  # under a "not a lesion" click: still counted until removed
    prompts = Prompts(boxes=(BoxPrompt(20, 20, 40, 40),),
                      clicks=(ClickPrompt(95, 75), ClickPrompt(7, 52, lesion=False)))
    left = unprompted_marks(mask, prompts)
    assert sorted(int(r.sum()) for r in left) == [16, 25]
    assert unprompted_marks(mask, Prompts(boxes=(BoxPrompt(0, 0, 100, 100),))) == []
    assert len(unprompted_marks(np.zeros((10, 10), bool), prompts)) == 0


def test_the_prompts_that_found_no_lesion_are_named():
    mask = np.zeros((100, 100), bool)
    mask[10:30, 10:30] = True
    found = BoxPrompt(20, 20, 40, 40)  # reaches into the region
    empty_box = BoxPrompt(50, 50, 70, 70)
    near = ClickPrompt(35, 20)  # 5 px beside the region: within a tenth of the shorter side
    far = ClickPrompt(90, 90)
    removal = ClickPrompt(80, 10, lesion=False)  # "not a lesion" asks for nothing to be found
    left = unanswered_prompts(mask, Prompts(boxes=(found, empty_box), clicks=(near, far, removal)))
    assert left == Prompts(boxes=(empty_box,), clicks=(far,))
    assert not unanswered_prompts(mask, Prompts(boxes=(found,), clicks=(near,)))


def test_where_the_model_sees_nothing_a_training_free_prompt_outlines_nothing():
    """Half of a peak of 0.02 is no lesion: on a probability map near 0 everywhere, a click
    once outlined the whole image and a box everything inside it."""
    faint = np.full((120, 200), 0.02, np.float32)
    faint[50:60, 140:150] = 0.09  # below MIN_PROMPT_PEAK
    gray = np.full(faint.shape, 60, np.uint8)
    automatic = np.zeros(faint.shape, bool)
    for prompts in (Prompts(clicks=(ClickPrompt(145, 55),)),
                    Prompts(boxes=(BoxPrompt(120, 30, 180, 90),))):
        mask = guided_mask(FlatSegmenter(), gray, faint, automatic, prompts)
        assert not mask.any()
        assert unanswered_prompts(mask, prompts) == prompts
    # at the floor it outlines the region, not the image
    faint[50:60, 140:150] = MIN_PROMPT_PEAK
    mask = guided_mask(FlatSegmenter(), gray, faint, automatic,
                       Prompts(clicks=(ClickPrompt(145, 55),)))
    assert mask.sum() == 100


def test_a_prompt_that_outlines_another_region_than_the_model_is_named():
    """A loose box whose outline is another structure than the lesion the model had marked in
    it, or a click whose outline is another region than the model's under it, is named with the
    Dice of the two; one that refines the model's region, or adds what it missed, is not."""
    automatic = np.zeros((100, 100), bool)
    automatic[40:60, 40:60] = True  # the model's lesion
    elsewhere = np.zeros_like(automatic)
    elsewhere[5:25, 40:70] = True  # the outline the box drew: another region in the box
    loose = BoxPrompt(30, 0, 80, 70)
    click = ClickPrompt(50, 50)
    unlike = unlike_model(automatic, elsewhere, Prompts(boxes=(loose,)))
    assert unlike == [(loose, 0.0)]
    # the click's outline is a sliver of the model's region: Dice 2*20*4/(400+80) = 0.33
    sliver = np.zeros_like(automatic)
    sliver[40:60, 48:52] = True
    assert unlike_model(automatic, sliver, Prompts(clicks=(click,))) == [(click, 0.33)]
    # a refined outline of the same lesion, a box on unmarked ground, "not a lesion": none
    refined = np.zeros_like(automatic)
    refined[38:62, 42:60] = True
    assert unlike_model(automatic, refined, Prompts(boxes=(loose,), clicks=(click,))) == []
    assert unlike_model(automatic, elsewhere, Prompts(boxes=(BoxPrompt(0, 70, 30, 100),),
                                                      clicks=(ClickPrompt(50, 50, False),))) == []


def test_a_click_outline_cut_by_the_networks_window_is_named(scene):
    """A click network's outline that reaches the border of the window it looked at (inside the
    image) may be cut there, the lesion going on past it: the click is named in ``cut``; an
    outline well inside its window is not."""
    from types import SimpleNamespace

    from unet.transforms.window import Window

    gray, probability, automatic = scene

    class Network:
        def __init__(self, window):
            self.window = window

        def answer(self, gray, point):
            region = np.zeros(gray.shape, bool)
            region[50:70, 140:160] = True  # x 140-159
            return region, SimpleNamespace(window=self.window)

    # Window(y0, x0, side) in a 120 x 200 frame; the outline spans rows 50-69, columns 140-159
    for window, expected in ((Window(30, 140, 60), True),    # its left border at column 140
                             (Window(50, 100, 70), True),    # its top border at row 50
                             (Window(20, 110, 90), False),   # the outline well inside it
                             (Window(-10, 100, 130), False)):  # past the image's edges
        seg = FlatSegmenter()
        seg.click_network = Network(window)
        click = ClickPrompt(150, 60)
        cut = []
        guided_mask(seg, gray, probability, automatic, Prompts(clicks=(click,)), cut=cut)
        assert (cut == [click]) == expected, window


def test_a_box_whose_outline_the_user_removed_is_not_said_to_have_found_nothing(scene):
    """Box a lesion, then "not a lesion" inside its outline: the mask is empty there, but the
    box did find a lesion (the user took it away), so it is not named as one that found none;
    the analysis reads the outlines before the removals."""
    gray, probability, automatic = scene
    prompts = Prompts(boxes=(BoxPrompt(130, 40, 172, 82),),
                      clicks=(ClickPrompt(150, 60, lesion=False),))
    found = guided_mask(FlatSegmenter(), gray, probability, automatic, prompts, removals=False)
    final = remove_marked(found, prompts)
    assert found[60, 150] and not final[60, 150]
    assert np.array_equal(final, guided_mask(FlatSegmenter(), gray, probability, automatic,
                                             prompts))
    assert not unanswered_prompts(found, prompts)
    assert unanswered_prompts(final, prompts).boxes == prompts.boxes  # what the final mask says


def test_a_click_on_nothing_is_said_to_have_found_nothing(scene):
    """Through the analysis: a lesion click on the empty background adds nothing, and the
    report names it (the app's summary words it, tests/test_app_prompts.py)."""
    from unet.analysis import analyze
    from unet.inference.segmenter import Segmenter
    from unet.networks.unet import build_unet

    model = build_unet(64, depth=2, base_filters=4)
    kernel, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([kernel * 0, bias * 0 - 20.0])  # probability ~0 everywhere
    seg = Segmenter("breast", model=model)
    gray, _, _ = scene
    import io

    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="PNG")
    automatic = analyze(buffer.getvalue(), segmenter=seg)
    guided = automatic.guide(Prompts(clicks=(ClickPrompt(3, 3), ClickPrompt(9, 9, False)),
                                     boxes=(BoxPrompt(40, 30, 90, 70),)), seg)
    report = guided.report()
    assert not guided.mask().any()
    assert report["prompts_without_outline"] == {
        "boxes": [{"x0": 40, "y0": 30, "x1": 90, "y1": 70}],
        "clicks": [{"x": 3, "y": 3, "lesion": True}]}  # not the "not a lesion" click
    assert automatic.report()["prompts_without_outline"] is None
    # nothing the model marked to compare with: no prompt is "unlike the model"
    assert report["prompts_unlike_model"] == []
    assert automatic.report()["prompts_unlike_model"] is None
    assert report["clicks_cut_by_window"] == []
    assert automatic.report()["clicks_cut_by_window"] is None
    # the CSV (CLI, Batch tab) says so in its message column
    from unet.batch import Item, Outcome, csv_rows

    rows = csv_rows(Outcome(Item("scan.png", None), guided, 0.5))
    assert rows[0]["message"] == ("no lesion found; box 40,30,90,70 found no lesion; "
                                  "click 3,3 found no lesion")
    assert csv_rows(Outcome(Item("scan.png", None), automatic, 0.5))[0]["message"] == (
        "no lesion found")
