"""Guiding the outline in the app: clicks on the result image become boxes and clicks, and the
mask, measurements, report, downloads and summary follow; "Clear prompts" goes back."""

import dataclasses
import json

import cv2
import numpy as np
import pytest

from tests.app_fixtures import test_models, write_phantom
from unet.inference.models import Segmenters
from unet.overlay_legend import PROMPT_COLORS, guided_legend_text, overlay_legend
from webapp.prompt_events import clear_prompts, prompt_click, undo_prompt
from webapp.result import (
    display_size,
    image_point,
    lesion_table,
    render,
)
from webapp.segment_events import rerender, segment_for_ui
from webapp.summary import summary_markdown
from webapp.ui import Controls

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:gradio.helpers")


@pytest.fixture(scope="module")
def models():
    return Segmenters(test_models().segmenters)


def shown(point, shape):
    """Where an image pixel (x, y) appears on the shown (display-size) result image."""
    h, w = shape
    sh, sw = display_size(h, w)
    return [(point[0] + 0.5) * sw / w, (point[1] + 0.5) * sh / h]


def test_display_points_map_back_to_image_pixels():
    for shape in ((120, 200), (900, 2400), (700, 700)):
        for point in ((0, 0), (37, 51), (shape[1] - 1, shape[0] - 1)):
            assert image_point(shown(point, shape), shape) == point


def test_a_box_then_clicks_guide_the_outline_and_clear_goes_back(models, tmp_path):
    path, image, truth = write_phantom(tmp_path, seed=5)
    c = Controls(file=path, organ="breast", threshold=0.5)
    out = segment_for_ui(models, c, None)
    result = out["state"]
    automatic = result.analysis.mask().copy()
    ys, xs = np.nonzero(truth)
    corners = [(int(xs.min()) - 4, int(ys.min()) - 4), (int(xs.max()) + 4, int(ys.max()) + 4)]

    first = prompt_click(models, result, "box", shown(corners[0], image.shape), c)
    assert "opposite corner" in first["prompt_hint"] and not result.prompts  # waiting for corner 2
    out = prompt_click(models, result, "box", shown(corners[1], image.shape), c)
    report = out["report_json"]
    assert report["guided_by_user"] is True and len(report["prompts"]["boxes"]) == 1
    box = report["prompts"]["boxes"][0]
    assert (box["x0"], box["y0"]) == tuple(max(0, v) for v in corners[0])
    mask = result.analysis.mask()
    outside = mask.copy()
    outside[box["y0"]:box["y1"], box["x0"]:box["x1"]] = False
    assert not (outside & ~automatic).any()  # nothing added outside the box
    assert "Guided by you" in out["summary"] and "1 box" in out["summary"]
    if report["quality"] is not None:  # the estimate is said to be the model's own outline's
        assert "The model's own answer, before your prompts: expected overlap" in out["summary"]
    assert sum(les["area_px"] for les in report["measurements"]["lesions"]) == mask.sum()
    # the marked regions the box does not reach stay from the automatic answer, and say so
    count, labels = cv2.connectedComponents(mask.astype(np.uint8))
    inside = set(np.unique(labels[box["y0"]:box["y1"], box["x0"]:box["x1"]]))
    assert report["unprompted_regions"] == len(set(range(1, count)) - inside)
    # each lesion says whose outline it is; the summary names the model's own by their numbers
    sources = {les["index"]: les["outlined_by"] for les in report["measurements"]["lesions"]}
    own = [i for i, s in sources.items() if s == "model"]
    assert len(own) == report["unprompted_regions"] and len(sources) > len(own)
    said = "from the automatic answer, not from your prompts" in out["summary"]
    assert said == bool(own)
    if own:
        assert f"Lesion{'s' if len(own) > 1 else ''} {own[0]}" in out["summary"]

    # three lesions, the first the user's: the summary names the other two by their numbers
    view = render(result, threshold=0.5)
    lesion = view.measurements["lesions"][0]
    view.measurements["lesions"] = [{**lesion, "index": i, "outlined_by": s}
                                    for i, s in ((1, "prompt"), (2, "model"), (3, "model"))]
    assert ("Lesions 2 and 3 in the table come from the automatic answer"
            in summary_markdown(view, result))
    # the table gives the model's mean probability for its own regions only
    probabilities = [row[-1] for row in lesion_table(view.measurements)[1]]
    assert probabilities[0] == "guided"
    assert probabilities[1] == probabilities[2] == f"{lesion['mean_probability']:.2f}"
    view.measurements["lesions"] = view.measurements["lesions"][:2]
    assert "Lesion 2 in the table comes from" in summary_markdown(view, result)
    # everything removed by "not a lesion": the threshold is not what left the image empty
    view.measurements.update(lesions=[], lesion_found=False)
    text = summary_markdown(view, result)
    assert "Nothing is marked after your prompts." in text and "passes the model's rule" not in text
    # a prompt that outlined another region than the model's is named, with what to do
    unlike = [{"kind": "box", "x0": 1, "y0": 2, "x1": 30, "y1": 40, "dice_with_model": 0.12},
              {"kind": "click", "x": 5, "y": 6, "lesion": True, "dice_with_model": 0.3}]
    text = summary_markdown(dataclasses.replace(view, report={
        **view.report, "prompts_unlike_model": unlike}), result)
    assert ("Inside your box at (1, 2)-(30, 40) the guided outline and the model's own answer "
            "are different regions** (they overlap with Dice 0.12)") in text
    assert "At your click (5, 6) the guided outline" in text and "Undo last prompt" in text
    # a click whose outline reaches the click network's window edge: the lesion may go on
    text = summary_markdown(dataclasses.replace(view, report={
        **view.report, "clicks_cut_by_window": [{"x": 5, "y": 6, "lesion": True}]}), result)
    assert ("The outline from your click at (5, 6) reaches the edge of what the click network "
            "looked at") in text and "draw a box around it" in text
    from unet.batch import unlike_message

    assert unlike_message(unlike) == (
        "box 1,2,30,40 outlined another region than the model (Dice 0.12); "
        "click 5,6 outlined another region than the model (Dice 0.30)")
    # the downloaded overlay's legend names the prompts and the model's own regions
    two = {**report, "prompts": {"boxes": [1, 2], "clicks": [3]}, "unprompted_regions": 2}
    assert guided_legend_text(two) == "2 boxes and 1 click; 2 regions from the model"
    assert guided_legend_text({**two, "unprompted_regions": 0}) == "2 boxes and 1 click"
    assert guided_legend_text({**two, "guided_by_user": False}) == ""
    # a prompt that found no lesion is named, with what to do instead
    view.report["prompts_without_outline"] = {"boxes": [], "clicks": [{"x": 3, "y": 4}]}
    text = summary_markdown(view, result)
    assert "**Your click at (3, 4) found no lesion there:**" in text and "box" in text
    view.report["prompts_without_outline"] = {
        "boxes": [{"x0": 1, "y0": 2, "x1": 30, "y1": 40}], "clicks": []}
    assert "**Your box at (1, 2)-(30, 40) found no lesion inside:**" in summary_markdown(
        view, result)

    # "not a lesion" on the outlined region removes it
    inside = np.argwhere(mask)
    if len(inside):
        y, x = inside[len(inside) // 2]
        out = prompt_click(models, result, "not", shown((int(x), int(y)), image.shape), c)
        assert not result.analysis.mask()[y, x]
        assert len(out["report_json"]["prompts"]["clicks"]) == 1

    back = clear_prompts(models, result, c)
    assert back["report_json"]["guided_by_user"] is False
    assert {les["outlined_by"] for les in back["report_json"]["measurements"]["lesions"]} <= {
        "model"}
    assert (result.analysis.mask() == automatic).all() and "Guided" not in back["summary"]
    assert "before your prompts" not in back["summary"]


def test_a_guided_answer_says_the_threshold_does_not_draw_it(models, tmp_path):
    """After a box, moving the threshold leaves the guided outline as it is, and the summary,
    the legend, the report and the downloaded overlay say so; the downloaded overlay shows the
    box that drew it. Without prompts they name the threshold as before."""
    path, image, truth = write_phantom(tmp_path, seed=5)
    c = Controls(file=path, organ="breast", threshold=0.5)
    result = segment_for_ui(models, c, None)["state"]
    ys, xs = np.nonzero(truth)
    box = (int(xs.min()) - 4, int(ys.min()) - 4, int(xs.max()) + 4, int(ys.max()) + 4)
    low = Controls(file=path, organ="breast", threshold=0.3)
    automatic = rerender(result, low)
    assert "at threshold 0.30" in automatic["summary"]
    assert automatic["legend"].startswith("**Red:** lesion, where the probability")
    assert automatic["report_json"]["threshold_applies_to"].startswith("the mask")

    prompt_click(models, result, "box", shown(box[:2], image.shape), c)
    prompt_click(models, result, "box", shown(box[2:], image.shape), c)
    mask = result.analysis.mask().copy()
    out = rerender(result, low)
    assert (result.analysis.mask() == mask).all()  # the threshold does not redraw it
    assert "threshold" not in out["summary"].split("Guided by you")[0]
    assert "guided by your prompts (the threshold does not change it)" in out["legend"]
    assert out["report_json"]["threshold"] == 0.3
    assert out["report_json"]["threshold_applies_to"].startswith("the dashed candidates only")
    # the downloaded overlay carries the box in the prompts' colour, as the screen does
    x0, y0, x1, y1 = (out["report_json"]["prompts"]["boxes"][0][k]
                      for k in ("x0", "y0", "x1", "y1"))
    saved = cv2.cvtColor(cv2.imread(out["dl_overlay"].value["path"]), cv2.COLOR_BGR2RGB)
    edge = saved[y0, x0 + 2:x1 - 2].astype(int)
    assert (np.abs(edge - PROMPT_COLORS["box"]).sum(axis=1) < 60).mean() > 0.8
    assert overlay_legend("Breast", "filled", 0.3, "1 box")[0] == (
        "Breast model, threshold 0.30: red = lesion, guided by the user (1 box; the threshold "
        "does not change it)")


def test_undo_takes_back_the_last_prompt_in_the_order_given(models, tmp_path):
    path, image, truth = write_phantom(tmp_path, seed=5)
    c = Controls(file=path, organ="breast", threshold=0.5)
    result = segment_for_ui(models, c, None)["state"]
    automatic = result.analysis.mask().copy()
    ys, xs = np.nonzero(truth)
    box = (int(xs.min()) - 4, int(ys.min()) - 4, int(xs.max()) + 4, int(ys.max()) + 4)
    middle = (int(np.median(xs)), int(np.median(ys)))
    assert "Nothing to undo" in undo_prompt(models, result, c)["prompt_hint"]
    prompt_click(models, result, "lesion", shown(middle, image.shape), c)  # a click first,
    prompt_click(models, result, "box", shown(box[:2], image.shape), c)  # then a box
    prompt_click(models, result, "box", shown(box[2:], image.shape), c)
    prompt_click(models, result, "box", shown((5, 5), image.shape), c)  # a corner waiting
    out = undo_prompt(models, result, c)
    assert "first corner is taken back" in out["prompt_hint"] and result.corner is None
    assert len(result.prompts.boxes) == 1 and len(result.prompts.clicks) == 1
    out = undo_prompt(models, result, c)  # the box, given last
    assert out["report_json"]["prompts"]["boxes"] == [] and len(result.prompts.clicks) == 1
    out = undo_prompt(models, result, c)  # then the click: the model's own answer again
    assert out["report_json"]["guided_by_user"] is False
    assert (result.analysis.mask() == automatic).all()
    # after a "Clear prompts" nothing is left to undo either
    prompt_click(models, result, "box", shown(box[:2], image.shape), c)
    prompt_click(models, result, "box", shown(box[2:], image.shape), c)
    assert result.order == ["box"] and not result.prompts.clicks
    clear_prompts(models, result, c)
    assert result.order == [] and "Nothing to undo" in undo_prompt(models, result, c)[
        "prompt_hint"]


def test_prompts_need_an_image_a_tool_and_a_real_box(models, tmp_path):
    c = Controls(organ="breast", threshold=0.5)
    assert "Segment an image first" in prompt_click(models, None, "box", [3, 3], c)["status"]
    path, image, _ = write_phantom(tmp_path, seed=6)
    c.file = path
    result = segment_for_ui(models, c, None)["state"]
    hint = prompt_click(models, result, "none", [3, 3], c)
    assert "choose a tool" in hint["prompt_hint"] and "status" not in hint
    prompt_click(models, result, "box", shown((10, 10), image.shape), c)
    out = prompt_click(models, result, "box", shown((10, 10), image.shape), c)  # no area
    assert "Prompt not used" in out["status"] and not result.prompts
    assert out["report_json"]["guided_by_user"] is False


def test_the_api_takes_boxes(tmp_path):
    """/segment with its optional prompts (JSON): the report says the outline was guided and
    holds them; a malformed prompt is a clear error naming it; without prompts the call is as
    before."""
    from gradio_client import Client, handle_file

    from tests.app_fixtures import shared_app

    _, url = shared_app()
    path, image, truth = write_phantom(tmp_path, seed=9)
    client = Client(url, verbose=False, download_files=str(tmp_path / "dl"))
    try:
        _, _, plain = client.predict(handle_file(path), "breast", 0.5, api_name="/segment")
        assert plain["guided_by_user"] is False
        ys, xs = np.nonzero(truth)
        prompts = json.dumps([
            {"box": [int(xs.min()) - 5, int(ys.min()) - 5, int(xs.max()) + 5, int(ys.max()) + 5]},
            {"point": [3, 3], "label": 0}])
        _, _, guided = client.predict(handle_file(path), "breast", 0.5, prompts,
                                      api_name="/segment")
        assert guided["guided_by_user"] is True and len(guided["prompts"]["boxes"]) == 1
        assert guided["prompts"]["clicks"] == [{"x": 3, "y": 3, "lesion": False}]
        with pytest.raises(Exception, match="Prompt 2 is not understood"):
            client.predict(handle_file(path), "breast", 0.5,
                           '[{"box": [1, 2, 30, 40]}, {"point": [1]}]', api_name="/segment")
        with pytest.raises(Exception, match="outside the image"):
            client.predict(handle_file(path), "breast", 0.5, '[{"point": [9999, 1]}]',
                           api_name="/segment")
    finally:
        client.close()
