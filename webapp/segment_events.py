"""The Segment tab's handlers: each takes the controls by name and returns the components to
change by name (see :class:`webapp.ui.Ui`). No layout here (``webapp.segment_tab``)."""

from __future__ import annotations

import time

import gradio as gr
import pandas as pd

from unet.errors import ImageInputError
from unet.inference.models import ModelUnavailableError, Segmenters, default_threshold
from unet.inference.registry import ORGANS, get_organ
from unet.io.ground_truth import read_truth
from unet.io.uploads import parse_frame
from webapp import summary
from webapp.examples import Example
from webapp.model_card import card_markdown
from webapp.result import Result, View, box_is_partial, lesion_table, render, segment_upload
from webapp.scratch import scratch
from webapp.teaching import architecture_markdown
from webapp.ui import Controls, error_box, live, log_failure

# The result panel: what one rendered view shows.
PANEL = ["overlay_img", "before_after", "legend", "switch_organ", "summary", "table",
         "truth_img", "truth_md", "dl_mask", "dl_overlay", "dl_report", "report_json"]
_NO_LESIONS = {"unit": "px", "lesions": []}


def empty_table() -> pd.DataFrame:
    return pd.DataFrame([], columns=lesion_table(_NO_LESIONS)[0])


def _legend(mode: str, result: Result | None) -> str:
    guided = result is not None and result.analysis.guided is not None
    legend = (summary.GUIDED_LEGENDS if guided else {}).get(mode) or summary.LEGENDS.get(mode, "")
    if result is not None and not result.released:
        box = result.analysis.segmentation.field_of_view
        if box_is_partial(box, result.analysis.image.pixels.shape):
            legend += "  \n" + summary.FOV_NOTE
    return legend


def suggested_organ(result: Result | None) -> str | None:
    """The organ the wrong-organ check says the scan looks like (a registry organ, not "not an
    ultrasound scan"), where it warned; None otherwise."""
    assessment = None if result is None else result.analysis.assessment
    if assessment is None or not assessment.organ_warning:
        return None
    own = result.analysis.organ.key
    probabilities = {k: v for k, v in (assessment.organ_probabilities or {}).items() if k != own}
    best = max(probabilities, key=probabilities.get) if probabilities else None
    return best if best in ORGANS else None


def switch_button(result: Result | None):
    """One click to the model the scan looks like; hidden where the check did not warn."""
    organ = suggested_organ(result)
    if organ is None:
        return gr.Button(visible=False)
    return gr.Button(f"Segment with the {get_organ(organ).display_name.lower()} model instead",
                     visible=True)


def panel(view: View | None, result: Result | None, mode: str) -> dict:
    """The result panel's values; an empty panel when ``view`` is None."""
    if view is None:
        off = gr.DownloadButton(value=None, interactive=False)
        return {"overlay_img": None, "before_after": None, "switch_organ": gr.Button(visible=False),
                "legend": summary.LEGENDS.get(mode, ""), "summary": "", "table": empty_table(),
                "truth_img": None, "truth_md": summary.TRUTH_HINT, "dl_mask": off,
                "dl_overlay": off, "dl_report": off, "report_json": None}
    headers, rows = lesion_table(view.measurements)
    files = view.files
    return {
        "overlay_img": view.overlay,
        "before_after": (view.original, view.overlay),
        "legend": _legend(mode, result),
        "switch_organ": switch_button(result),
        "summary": summary.summary_markdown(view, result),
        "table": pd.DataFrame(rows, columns=headers),
        "truth_img": view.comparison,
        "truth_md": summary.truth_markdown(view, result),
        "dl_mask": gr.DownloadButton(value=str(files["mask"]), interactive=True),
        "dl_overlay": gr.DownloadButton(value=str(files["overlay"]), interactive=True),
        "dl_report": gr.DownloadButton(value=str(files["report"]), interactive=True),
        "report_json": view.report,
    }


def _render(result: Result, c: Controls) -> View:
    return render(result, mode=c.mode, threshold=c.threshold, opacity=c.opacity,
                  mm_per_pixel=c.scale, out_dir=scratch().new_dir())


def rerender(result: Result | None, c: Controls) -> dict:
    """Slider / display / scale change: re-render from the cached analysis, no model call.

    The state is returned unchanged so that its time-to-live restarts while someone is still
    working with it. Without a result (nothing segmented yet, or the session ended) nothing
    changes: an error message stays visible.
    """
    result = live(result)
    if result is None:
        return {}
    return {"state": result, "status": "", **panel(_render(result, c), result, c.mode)}


def segment_for_ui(models: Segmenters, c: Controls, previous: Result | None) -> dict:
    """Upload / Segment / example / organ change: run the model once, then render.

    The same image again (another organ, say) keeps its ground-truth mask and scores it anew; a
    new image clears the ground-truth file, which belonged to the previous one, and says so.
    """
    previous = live(previous)
    if not c.file:
        return {"state": None, "truth_file": None, **panel(None, None, c.mode),
                "status": "Please upload an ultrasound image first, or click an example below."}
    try:
        t0 = time.perf_counter()
        frame = parse_frame(c.frame)
        segmenter = models.get(c.organ)  # the organ, resolved once for this request
        result = segment_upload(c.file, segmenter, frame=frame, previous=previous)
        seconds = time.perf_counter() - t0
        same_image = (previous is not None and previous.source == result.source
                      and previous.frame == frame)
        if same_image and previous.truth is not None:
            result.truth, result.truth_note = previous.truth, previous.truth_note
        view = _render(result, c)
    except (ImageInputError, ModelUnavailableError) as exc:
        gr.Warning(str(exc), title="This could not be segmented")
        return {"state": None, "status": error_box(str(exc)), "truth_file": None,
                **panel(None, None, c.mode)}
    except Exception as exc:
        log_failure("segmentation failed", exc)
        message = ("Something went wrong while segmenting this image. Please try again; if it "
                   "keeps happening, try another export of the image.")
        return {"state": None, "status": error_box(message), "truth_file": None,
                **panel(None, None, c.mode)}
    out = {"state": result, "status": "", **panel(view, result, c.mode)}
    out["summary"] += f"\n\nSegmented in {seconds:.2f} s."
    if result.truth is None:
        out["truth_file"] = None
        if previous is not None and previous.truth is not None:
            out["summary"] += ("\n\n*The ground-truth mask was removed: it belonged to the "
                               "previous image.*")
    # else: the truth file is kept (left out), and scored against this model's mask
    return out


def example_for_ui(models: Segmenters, example: Example, c: Controls, previous: Result | None,
                   *, with_truth: bool = False) -> dict:
    """An example was clicked: run its organ's model on it at that model's operating point;
    with ``with_truth`` its true mask is compared too."""
    t = organ_threshold(models, example.organ)
    c = Controls(file=str(example.path), organ=example.organ, threshold=t, mode=c.mode,
                 opacity=c.opacity, scale=c.scale, frame=None)
    out = segment_for_ui(models, c, previous)
    if with_truth and out["state"] is not None and example.truth is not None:
        out.update(add_truth(out["state"], str(example.truth), c))
        out["truth_file"] = str(example.truth)
    out.pop("result_tabs", None)
    return {"file": str(example.path), "organ": example.organ, "frame": None,
            "threshold": t, **out, **model_texts(models, example.organ)}


def add_truth(result: Result | None, truth_file, c: Controls) -> dict:
    """A ground-truth mask was uploaded (or cleared): compare it with the prediction (no model
    call); the result tab switches to the comparison."""
    result = live(result)
    if result is None and not truth_file:
        return {"status": ""}
    if result is None:
        return {"status": "⚠️ **Upload the image first.** Then add its ground-truth mask: it is "
                          "compared with the model's outline of that image."}
    if not truth_file:
        result.truth, result.truth_note = None, ""
        return rerender(result, c)
    try:
        result.truth, result.truth_note = read_truth(truth_file,
                                                     result.analysis.image.pixels.shape)
    except ImageInputError as exc:
        gr.Warning(str(exc), title="Ground-truth mask not used")
        result.truth, result.truth_note = None, ""
        return {**rerender(result, c), "status": f"⚠️ **Ground-truth mask not used.** {exc}"}
    return {**rerender(result, c), "result_tabs": gr.Tabs(selected="truth")}


def organ_threshold(models: Segmenters, organ: str) -> float:
    """The organ model's default threshold (its operating point), for the slider."""
    try:
        return default_threshold(models.get(organ))
    except ModelUnavailableError:
        return get_organ(organ).threshold


def model_texts(models: Segmenters, organ: str) -> dict:
    """The organ's architecture text (teaching tab) and model card (card tab)."""
    config = get_organ(organ)
    try:
        segmenter = models.get(config)
    except ModelUnavailableError as exc:
        return {"arch_md": f"⚠️ {exc}", "card_md": card_markdown(None, config, str(exc))}
    return {"arch_md": architecture_markdown(segmenter.architecture, config),
            "card_md": card_markdown(segmenter, config)}


def switch_to_suggested(models: Segmenters, c: Controls, previous: Result | None) -> dict:
    """The switch button: the organ the check suggested, chosen and run on the same image."""
    organ = suggested_organ(live(previous))
    if organ is None:
        return {}
    c.organ = organ
    return {**organ_changed(models, c, previous), "organ": organ}


def organ_changed(models: Segmenters, c: Controls, previous: Result | None) -> dict:
    """The user chose another organ: another model with its own operating point (the threshold
    resets to it), then segment the current image, if any, with it."""
    t = organ_threshold(models, c.organ)
    texts = model_texts(models, c.organ)
    if not c.file:
        return {"threshold": t, **texts}
    c.threshold = t
    return {**segment_for_ui(models, c, previous), "threshold": t, **texts}
