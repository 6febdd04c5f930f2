"""Gradio web app: U-Net tumour segmentation of breast and thyroid ultrasound images.

Run with ``python app.py`` (Hugging Face Spaces does the same). The server address and port
come from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (Gradio reads them when launch() is given
none). UI wiring only: one builder per tab, the event handlers that turn results into component
updates, and the wiring. All image and model work lives in the ``unet`` package
(:mod:`webapp.result`, :mod:`webapp.summary`, :mod:`webapp.teaching`, :mod:`webapp.examples` ...).

Public API: one endpoint, ``/segment`` (image file, organ, threshold) -> (mask PNG, overlay PNG,
measurements JSON). Every other event is private.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out

import logging  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import weakref  # noqa: E402
from collections.abc import Mapping  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402

from unet import summary  # noqa: E402
from unet.batch import run_batch  # noqa: E402
from unet.errors import ImageInputError  # noqa: E402
from unet.inference.models import ModelUnavailableError, Segmenters, default_threshold  # noqa: E402
from unet.inference.registry import ORGANS, get_organ  # noqa: E402
from unet.inference.segmenter import Segmenter  # noqa: E402
from unet.io.ground_truth import read_truth  # noqa: E402
from unet.io.reader import MAX_PIXELS  # noqa: E402
from unet.io.uploads import UPLOAD_SUFFIXES, parse_frame  # noqa: E402
from unet.transforms.test_time_augmentation import uses_extra_views  # noqa: E402
from webapp.examples import EXAMPLES_DIR, Example, load_examples  # noqa: E402
from webapp.model_card import card_markdown  # noqa: E402
from webapp.result import (  # noqa: E402
    Result,
    View,
    box_is_partial,
    lesion_table,
    render,
    segment_upload,
)
from webapp.result import segment_api as run_segment_api  # noqa: E402
from webapp.scratch import scratch  # noqa: E402
from webapp.teaching import architecture_markdown, feature_maps  # noqa: E402

log = logging.getLogger("app")


# Uploads larger than this are refused by Gradio before our code sees them.
MAX_FILE_SIZE = "50mb"
# Queue for a 2-vCPU Space: TensorFlow already uses both cores for one image, so model runs
# go one at a time (concurrency_id "model", limit 1), while cheap re-renders (sliders) may run
# two at a time beside a model run. At most 16 waiting requests; more are told to retry.
QUEUE = {"default_concurrency_limit": 2, "max_size": 16}
# Gradio's cache (uploads and returned files): every 5 min delete files older than 15 min.
DELETE_CACHE = (300, 900)
# A session's cached analysis (the decoded image and its maps) is dropped 15 min after its
# last change, or soon after the tab is closed.
STATE_TTL_S = 900

UPLOAD_TYPES = list(UPLOAD_SUFFIXES)
ORGAN_CHOICES = [(organ.display_name, key) for key, organ in ORGANS.items()]
DEFAULT_ORGAN = next(iter(ORGANS))
DISPLAY_CHOICES = [("Filled mask", "filled"), ("Contour", "contour"),
                   ("Probability heat map", "heatmap"), ("Uncertainty map", "uncertainty")]

DISCLAIMER_MD = (
    "**Research and teaching demo — not a medical device, not for diagnosis.** "
    "Do not use its output for any clinical decision."
)
PRIVACY_MD = (
    "**Privacy.** Your image is used only to answer your requests. Uploaded files and result "
    "files are deleted from the server within about 20 minutes; the decoded image stays in the "
    "server's memory (so that the sliders work without running the model again) until you close "
    "this tab, or 15 minutes after your last change. Result files are named after the organ and "
    "the time (`breast_20261127-1412_mask.png`), never after your file. Nothing is logged but "
    "errors, and never image data or DICOM tags. Still: remove patient names from file names "
    "before uploading."
)
CSS = """
.disclaimer {border-left: 6px solid #d97706; background: #fffbeb; padding: 8px 14px;
             border-radius: 6px; color: #1f2937;}
.disclaimer p {margin: 0 !important;}
.disclaimer *, .status-box *, #status span.md:has(p) * {color: #1f2937 !important;}
.status-box {border-left: 6px solid #dc2626; background: #fef2f2; padding: 8px 14px;
             border-radius: 6px; color: #1f2937;}
.small-note {font-size: 0.9em; opacity: 0.85;}
#status span.md:has(p) {display: block; border-left: 6px solid #dc2626; background: #fef2f2;
                        padding: 8px 14px; border-radius: 6px; color: #1f2937;}
"""


# ------------------------------------------------------------------------------ render helpers

# The result panel: overlay, before/after, legend, summary, lesion table, ground-truth image,
# ground-truth text, three download buttons and the JSON report, in this order.
PANEL_SIZE = 11
N_FEATURE_LAYERS = 4  # feature-map galleries on the teaching tab
_NO_LESIONS = {"unit": "px", "lesions": []}


def _legend(mode: str, result: Result | None) -> str:
    legend = summary.LEGENDS.get(mode, "")
    if result is not None and not result.released:
        box = result.analysis.segmentation.field_of_view
        if box_is_partial(box, result.analysis.image.pixels.shape):
            legend += "  \n" + summary.FOV_NOTE
    return legend


def _update_outputs(view: View | None, result: Result | None, mode: str) -> tuple:
    """The result panel's PANEL_SIZE values; an empty panel when ``view`` is None."""
    if view is None:
        empty = pd.DataFrame([], columns=lesion_table(_NO_LESIONS)[0])
        off = gr.DownloadButton(value=None, interactive=False)
        return (None, None, summary.LEGENDS.get(mode, ""), "", empty, None, summary.TRUTH_HINT,
                off, off, off, None)
    headers, rows = lesion_table(view.measurements)
    files = view.files
    return (
        view.overlay,
        (view.original, view.overlay),
        _legend(mode, result),
        summary.summary_markdown(view, result),
        pd.DataFrame(rows, columns=headers),
        view.comparison,
        summary.truth_markdown(view, result),
        gr.DownloadButton(value=str(files["mask"]), interactive=True),
        gr.DownloadButton(value=str(files["overlay"]), interactive=True),
        gr.DownloadButton(value=str(files["report"]), interactive=True),
        view.report,
    )


def log_failure(context: str, exc: BaseException) -> None:
    """Log an unexpected error: its type and code location only. The message is left out on
    purpose, since it may quote a file name (which can hold a patient's name) or data."""
    stack = "".join(traceback.format_tb(exc.__traceback__)[-6:])
    log.error("%s: %s\n%s", context, type(exc).__name__, stack)


def _error_box(message: str) -> str:
    return f"⚠️ **This could not be segmented.** {message}"


# ------------------------------------------------------------------------------ event handlers

# Session -> its cached result, so that closing the tab frees the image at once (Gradio itself
# keeps a closed session's state for an hour). Weak: an expired state is not kept alive here.
_SESSIONS: weakref.WeakValueDictionary[str, Result] = weakref.WeakValueDictionary()


def _live(result: Result | None) -> Result | None:
    return None if result is None or result.released else result


def track_session(result: Result | None, request: gr.Request | None) -> None:
    session = getattr(request, "session_hash", None) if request is not None else None
    if result is not None and session:
        _SESSIONS[session] = result


def forget_session(request: gr.Request) -> None:
    """The browser tab was closed: drop its decoded image and maps now."""
    result = _SESSIONS.pop(getattr(request, "session_hash", None) or "", None)
    if result is not None:
        result.release()


def rerender(result: Result | None, mode: str, threshold: float, opacity: float,
             scale) -> tuple:
    """Slider / display / scale change: re-render from the cached analysis, no model call.

    Returns (state, status, *result panel). The state is returned unchanged so that its
    time-to-live restarts while someone is still working with it. Without a result (nothing
    segmented yet, or the session ended) nothing changes: an error message stays visible.
    """
    result = _live(result)
    if result is None:
        return (gr.skip(),) * (PANEL_SIZE + 2)
    view = render(result, mode=mode, threshold=threshold, opacity=opacity,
                     mm_per_pixel=scale, out_dir=scratch().new_dir())
    return (result, "", *_update_outputs(view, result, mode))


def segment_for_ui(segmenters: Segmenters, file, organ: str, threshold: float, mode: str,
                   opacity: float, scale, frame, previous: Result | None) -> tuple:
    """Upload / Segment / example / organ change: run the model once, then render.

    Returns (state, status, *result panel, ground-truth file). The same image again (another
    organ, say) keeps its ground-truth mask and scores it anew; a new image clears the
    ground-truth file, which belonged to the previous one, and says so.
    """
    if not file:
        return (None, "Please upload an ultrasound image first, or click an example below.",
                *_update_outputs(None, None, mode), None)
    try:
        t0 = time.perf_counter()
        frame = parse_frame(frame)
        result = segment_upload(file, organ, segmenters, frame=frame, previous=previous)
        seconds = time.perf_counter() - t0
        same_image = (previous is not None and not previous.released
                      and previous.source == result.source and previous.frame == frame)
        if same_image and previous.truth is not None:
            result.truth, result.truth_note = previous.truth, previous.truth_note
        view = render(result, mode=mode, threshold=threshold, opacity=opacity,
                      mm_per_pixel=scale, out_dir=scratch().new_dir())
    except (ImageInputError, ModelUnavailableError) as exc:
        gr.Warning(str(exc), title="This could not be segmented")
        return (None, _error_box(str(exc)), *_update_outputs(None, None, mode), None)
    except Exception as exc:
        log_failure("segmentation failed", exc)
        message = ("Something went wrong while segmenting this image. Please try again; if it "
                   "keeps happening, try another export of the image.")
        return (None, _error_box(message), *_update_outputs(None, None, mode), None)
    outputs = _update_outputs(view, result, mode)
    text = outputs[3] + f"\n\nSegmented in {seconds:.2f} s."
    truth_file = None
    if result.truth is not None:
        truth_file = gr.skip()  # kept, and scored against this model's mask
    elif previous is not None and previous.truth is not None:
        text += ("\n\n*The ground-truth mask was removed: it belonged to the previous "
                 "image.*")
    return (result, "", *outputs[:3], text, *outputs[4:], truth_file)


def example_for_ui(segmenters: Segmenters, example: Example, mode: str, opacity: float, scale,
                   previous: Result | None, *, with_truth: bool = False) -> tuple:
    """An example was clicked: run its organ's model on it at that model's operating point.

    Returns (upload, organ, frame, state, status, *result panel, ground-truth file,
    threshold); with ``with_truth`` the example's true mask is compared too.
    """
    t = organ_threshold(segmenters, example.organ)
    state, status, *panel, truth_file = segment_for_ui(
        segmenters, str(example.path), example.organ, t, mode, opacity, scale, None, previous)
    if with_truth and state is not None and example.truth is not None:
        state, status, *panel, _ = add_truth(state, str(example.truth), mode, t, opacity, scale)
        truth_file = str(example.truth)
    return (str(example.path), example.organ, None, state, status, *panel, truth_file, t)


def add_truth(result: Result | None, truth_file, mode: str, threshold: float,
              opacity: float, scale) -> tuple:
    """A ground-truth mask was uploaded: compare it with the prediction (no model call).

    Returns (state, status, *result panel, selected result tab).
    """
    result = _live(result)
    if result is None and not truth_file:
        return (result, "", *[gr.skip()] * PANEL_SIZE, gr.skip())
    if result is None:
        message = ("⚠️ **Upload the image first.** Then add its ground-truth mask: it is "
                   "compared with the model's outline of that image.")
        return (result, message, *[gr.skip()] * PANEL_SIZE, gr.skip())
    if not truth_file:
        result.truth, result.truth_note = None, ""
        return (*rerender(result, mode, threshold, opacity, scale), gr.skip())
    try:
        result.truth, result.truth_note = read_truth(truth_file,
                                                        result.analysis.image.pixels.shape)
    except ImageInputError as exc:
        gr.Warning(str(exc), title="Ground-truth mask not used")
        result.truth, result.truth_note = None, ""
        return (result, f"⚠️ **Ground-truth mask not used.** {exc}",
                *rerender(result, mode, threshold, opacity, scale)[2:], gr.skip())
    return (*rerender(result, mode, threshold, opacity, scale), gr.Tabs(selected="truth"))


def segment_api(segmenters: Segmenters, image, organ: str, threshold) -> tuple:
    """The public ``/segment`` endpoint; errors reach the caller as gr.Error messages."""
    try:
        mask, overlay, report = run_segment_api(image, organ, threshold, segmenters,
                                               scratch().new_dir())
    except (ImageInputError, ModelUnavailableError) as exc:
        raise gr.Error(str(exc), title="This could not be segmented",
                       print_exception=False) from None
    except Exception as exc:
        log_failure("API segmentation failed", exc)
        raise gr.Error("Something went wrong while segmenting this image. Please try again.",
                       print_exception=False) from None
    return str(mask), str(overlay), report


def organ_threshold(segmenters: Segmenters, organ: str) -> float:
    """The organ model's default threshold (its operating point), for the slider."""
    try:
        return default_threshold(segmenters.get(organ))
    except ModelUnavailableError:
        return get_organ(organ).threshold


def model_texts(segmenters: Segmenters, organ: str) -> tuple[str, str]:
    """(architecture Markdown, model card Markdown) of an organ."""
    config = get_organ(organ)
    try:
        segmenter = segmenters.get(config)
    except ModelUnavailableError as exc:
        text = f"⚠️ {exc}"
        return text, card_markdown(None, config, str(exc))
    return architecture_markdown(segmenter.architecture, config), card_markdown(segmenter, config)


INPUT_LABEL = "What goes in: the image area, in grey, resized to the network's square input"


def teaching_view(segmenters: Segmenters, result: Result | None) -> tuple:
    """(network input, probability map, note, *one gallery per feature layer, *one heading per
    gallery) for the current image; ``N_FEATURE_LAYERS`` of each, unused ones hidden."""
    hidden = [gr.Gallery(value=None, visible=False)] * N_FEATURE_LAYERS
    no_headings = [gr.Markdown(value="", visible=False)] * N_FEATURE_LAYERS
    result = _live(result)
    if result is None:
        return (None, None, "Segment an image on the **Segment** tab first (or click an "
                "example); then come back here to look inside the network.", *hidden,
                *no_headings)
    try:
        segmenter = segmenters.get(result.organ)
        maps = feature_maps(result.analysis, segmenter)
    except ModelUnavailableError as exc:
        return (None, None, f"⚠️ {exc}", *hidden, *no_headings)
    except Exception as exc:
        log_failure("feature maps failed", exc)
        return (None, None, "⚠️ The feature maps could not be computed for this image.",
                *hidden, *no_headings)
    size = segmenter.input_size
    height, width = maps["area_size"]
    note = (f"Inside the **{result.organ.display_name}** model, for your image. Each tile is "
            "one filter's response (yellow = strong, dark = weak): the four most active "
            "filters of a few levels. Early levels respond to edges and speckle texture; deeper "
            "levels are coarser (look at their size in pixels) and respond to larger regions, "
            "not always the lesion: a filter may light up fat, muscle or shadow. No single map "
            "is the outline; the network combines many of them into the probability map "
            "above. These pictures come from one pass of the image itself; the Segment tab's "
            "result averages it with its mirror image (and, for some organs, with zoomed and "
            "shifted copies).")
    layers = maps["layers"][:N_FEATURE_LAYERS]
    galleries = [gr.Gallery(value=layer["maps"], visible=True,
                            label=f"{layer['title']}: {layer['size'][0]}×{layer['size'][1]} "
                                  f"px, {layer['filters']} filters") for layer in layers]
    headings = [gr.Markdown(value=f"**{layer['title']}**: {layer['size'][0]}×"
                                  f"{layer['size'][1]} px, {layer['filters']} filters "
                                  "(four shown, each enlarged)", visible=True)
                for layer in layers]
    net_input = gr.Image(
        value=maps["input"],
        label=f"What goes in: the image area ({width} × {height} px), in grey, squeezed into "
              f"the network's {size} × {size} square")
    return (net_input, maps["probability"], note, *galleries, *hidden[len(galleries):],
            *headings, *no_headings[len(headings):])


# ------------------------------------------------------------------------------------ layout
# One builder per tab: each lays out its components and returns them in a namespace; the
# wiring functions below connect them to the handlers above.


def _input_column(default_t: float, examples: list[Example]) -> SimpleNamespace:
    """The Segment tab's left column: organ, upload, examples, controls, ground truth."""
    ui = SimpleNamespace()
    ui.organ = gr.Radio(ORGAN_CHOICES, value=DEFAULT_ORGAN, label="Organ", elem_id="organ")
    ui.upload = gr.File(elem_id="upload", label="Ultrasound image", file_types=UPLOAD_TYPES,
                        file_count="single", height=140)
    gr.Markdown(f"PNG, JPEG, BMP, TIFF, WebP or DICOM (.dcm), up to {MAX_FILE_SIZE[:-2]} MB. "
                "Click or drop a file; it is segmented at once. A new file replaces the "
                "current one.", elem_classes="small-note")
    with gr.Row():
        ui.segment_btn = gr.Button("Segment", variant="primary", scale=1)
        ui.replace_btn = gr.UploadButton("Upload another image", file_types=UPLOAD_TYPES,
                                         file_count="single", scale=1, elem_id="replace")
    ui.status = gr.Markdown("", elem_id="status")
    ui.examples = gr.Gallery(
        [(str(e.path), e.caption) for e in examples],
        label="Examples: click one (real scans; sources in examples/ATTRIBUTION.md)",
        columns=2, height="auto", object_fit="contain", allow_preview=False,
        elem_id="examples", visible=bool(examples), buttons=[], interactive=False)
    with gr.Group():
        ui.mode = gr.Radio(DISPLAY_CHOICES, value="filled", label="Display")
        ui.opacity = gr.Slider(0, 1, value=0.4, step=0.05, label="Opacity", elem_id="opacity")
        ui.threshold = gr.Slider(
            0.05, 0.95, value=default_t, step=0.05, label="Threshold (lesion probability, 0-1)",
            elem_id="threshold",
            info="Pixels at or above it count as lesion. It starts at the model's operating "
                 "point, chosen on validation data.")
    with gr.Accordion("Scale and frame", open=False):
        ui.scale = gr.Number(None, label="Scale (mm per pixel)", minimum=0, step=0.01,
                             info="Leave empty for pixels. A DICOM file's own pixel spacing "
                                  "is used when it states one.")
        ui.frame = gr.Number(None, label="Frame (multi-frame files, counted from 0)",
                             precision=0, minimum=0,
                             info="For cine loops and multi-page files; then press Segment.")
    with gr.Accordion("Check against a ground-truth mask", open=False):
        ui.truth_file = gr.File(label="Ground-truth mask (white = lesion), same image size",
                                file_types=UPLOAD_TYPES, height=140, elem_id="truth-upload")
        with_truth = next((i for i, e in enumerate(examples) if e.truth is not None), None)
        ui.truth_example = gr.Button(
            "" if with_truth is None else
            f"Try it: the example '{examples[with_truth].caption}' with its true mask",
            size="sm", visible=with_truth is not None, elem_id="truth-example")
        ui.truth_example_index = with_truth
    return ui


def _result_column() -> SimpleNamespace:
    """The Segment tab's right column: result views, summary, lesion table, downloads."""
    ui = SimpleNamespace()
    with gr.Tabs(selected="overlay") as ui.result_tabs:
        with gr.Tab("Result", id="overlay"):
            ui.overlay_img = gr.Image(label="Image with the segmentation", type="numpy",
                                      format="png", interactive=False, height=460,
                                      buttons=["fullscreen"], elem_id="overlay-image")
        with gr.Tab("Before / after", id="compare"):
            ui.before_after = gr.ImageSlider(
                label="Drag: original (left) / segmentation (right)", type="numpy",
                format="png", interactive=False, max_height=460, buttons=["fullscreen"])
        with gr.Tab("Against ground truth", id="truth"):
            ui.truth_img = gr.Image(label="Prediction against the ground truth", type="numpy",
                                    format="png", interactive=False, height=460,
                                    buttons=["fullscreen"])
            ui.truth_md = gr.Markdown("Upload a ground-truth mask (left, *Check against a "
                                      "ground-truth mask*) to see Dice and IoU here.")
    ui.legend = gr.Markdown(summary.LEGENDS["filled"], elem_classes="small-note")
    ui.summary = gr.Markdown("Upload an image or click an example to begin.",
                             elem_id="summary")
    ui.table = gr.Dataframe(
        pd.DataFrame([], columns=lesion_table(_NO_LESIONS)[0]),
        label="Lesions found (largest first)", interactive=False, wrap=True, max_height=240,
        column_widths=["11%", "15%", "15%", "19%", "22%", "18%"])
    with gr.Row():
        ui.dl_mask = gr.DownloadButton("Mask (PNG)", interactive=False, size="md",
                                       elem_id="download-mask")
        ui.dl_overlay = gr.DownloadButton("Overlay (PNG)", interactive=False, size="md",
                                          elem_id="download-overlay")
        ui.dl_report = gr.DownloadButton("Report (JSON)", interactive=False, size="md",
                                         elem_id="download-report")
    with gr.Accordion("Report (JSON)", open=False):
        ui.report_json = gr.JSON(label="Report")
    ui.panel = [ui.overlay_img, ui.before_after, ui.legend, ui.summary, ui.table, ui.truth_img,
                ui.truth_md, ui.dl_mask, ui.dl_overlay, ui.dl_report, ui.report_json]
    assert len(ui.panel) == PANEL_SIZE
    return ui


def _segment_tab(default_t: float, examples: list[Example]) -> SimpleNamespace:
    with gr.Tab("Segment", id="segment"), gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            left = _input_column(default_t, examples)
        with gr.Column(scale=3, min_width=360):
            right = _result_column()
    return SimpleNamespace(**vars(left), **vars(right))


def _teaching_tab(arch_text: str) -> SimpleNamespace:
    ui = SimpleNamespace()
    with gr.Tab("How it works", id="teach") as ui.tab:
        ui.arch_md = gr.Markdown(arch_text)
        ui.note = gr.Markdown("Segment an image first; its feature maps appear here.",
                              elem_id="teach-note")
        with gr.Row():
            ui.net_input = gr.Image(label=INPUT_LABEL, type="numpy", interactive=False,
                                    height=320, format="png", elem_id="net-input")
            ui.net_output = gr.Image(label="What comes out: lesion probability per pixel "
                                           "(dark = 0, yellow = 1)", type="numpy",
                                     interactive=False, height=320, format="png")
        gr.Markdown("#### Inside the network: feature maps")
        ui.galleries, ui.headings = [], []
        for _ in range(N_FEATURE_LAYERS):
            # the heading sits above the gallery: a gallery's own label would cover a tile
            ui.headings.append(gr.Markdown("", visible=False))
            ui.galleries.append(gr.Gallery(
                show_label=False, columns=4, rows=1, height=300, object_fit="contain",
                format="png", allow_preview=True, visible=False,
                elem_classes="feature-maps"))
        gr.Markdown(
            "The probability map is turned into the mask by the **threshold**: every pixel at "
            "or above it is lesion. Holes are filled and specks smaller than 0.2 % of the image "
            "are dropped. The model runs on the image and its mirror image in one batch"
            f"{_extra_views_note()}; their average is the probability and their disagreement "
            "is the **uncertainty map**.")
    return ui


def _extra_views_note() -> str:
    """Which organs' masks also average the zoomed and shifted views (the registry says)."""
    names = [o.display_name.lower() for o in ORGANS.values()
             if uses_extra_views(o.test_time_augmentation)]
    if not names:
        return ""
    return (f" (the {' and '.join(names)} model{'s' if len(names) > 1 else ''} also on two "
            "zoomed and two shifted copies, a second batch, each brought back into place)")


def _batch_tab() -> SimpleNamespace:
    ui = SimpleNamespace()
    with gr.Tab("Batch", id="batch"):
        gr.Markdown("Segment several images at once (or a zip of them), for teaching and "
                    "research: one row per image, overlay thumbnails, and one zip with the "
                    "masks, the overlays and a CSV of the measurements. A file that cannot be "
                    "read gets a row with the reason; the others still run.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                ui.organ = gr.Radio(ORGAN_CHOICES, value=DEFAULT_ORGAN, label="Organ",
                                    elem_id="batch-organ")
                ui.files = gr.File(label="Images or a zip", file_count="multiple",
                                   file_types=[*UPLOAD_TYPES, ".zip"], height=160,
                                   elem_id="batch-files")
                ui.run = gr.Button("Segment all", variant="primary", elem_id="batch-run")
                ui.status = gr.Markdown("", elem_id="batch-status")
                ui.download = gr.DownloadButton("Masks, overlays and CSV (zip)",
                                                interactive=False, elem_id="batch-download")
            with gr.Column(scale=3, min_width=360):
                ui.table = gr.Dataframe(label="One row per image", interactive=False,
                                        wrap=True, max_height=420, elem_id="batch-table",
                                        column_widths=["22%", "11%", "8%", "17%", "12%",
                                                       "9%", "21%"])
                ui.gallery = gr.Gallery(label="Overlays", columns=4, height="auto",
                                        object_fit="contain", elem_id="batch-gallery")
    return ui


def _card_tab(card_text: str) -> gr.Markdown:
    with gr.Tab("Model card", id="card"):
        return gr.Markdown(card_text)


def _about_tab() -> None:
    with gr.Tab("About and privacy", id="about"):
        gr.Markdown(
            f"{DISCLAIMER_MD}\n\n{PRIVACY_MD}\n\n"
            f"**Limits.** Files up to {MAX_FILE_SIZE.upper().replace('MB', ' MB')} and "
            f"{MAX_PIXELS // 1_000_000} million pixels. Multi-frame files need a frame number "
            "(*Scale and frame*).\n\n"
            "**API.** One endpoint, `/segment`: inputs (image file, organ `\"breast\"` or "
            "`\"thyroid\"`, threshold 0-1); outputs (mask PNG 0/255 at the image's size, overlay "
            "PNG, measurements JSON). See *Use via API* at the bottom of the page.")


# ------------------------------------------------------------------------------------ wiring

_PRIVATE = {"api_visibility": "private"}
# Runs in the browser before a new file is handled: closes the warnings of an earlier file.
CLEAR_TOASTS = ("(...args) => { document.querySelectorAll('.toast-close')"
                ".forEach((button) => button.click()); return args; }")


def _model_event(seg: SimpleNamespace) -> dict:
    """Model runs go one at a time (see QUEUE); progress shows on the result image."""
    return {"concurrency_id": "model", "concurrency_limit": 1, **_PRIVATE,
            "show_progress_on": [seg.overlay_img]}


def _wire_segment_tab(models: Segmenters, seg: SimpleNamespace, state, teach, card_md,
                      examples: list[Example]) -> None:
    segment_outputs = [state, seg.status, *seg.panel, seg.truth_file]
    segment_inputs = [seg.upload, seg.organ, seg.threshold, seg.mode, seg.opacity, seg.scale,
                      seg.frame, state]
    model_event = _model_event(seg)

    def run(file, organ_key, t, m, o, s, f, previous, request: gr.Request):
        outputs = segment_for_ui(models, file, organ_key, t, m, o, s, f, _live(previous))
        track_session(outputs[0], request)
        return outputs

    def run_for_organ(file, organ_key, t, m, o, s, f, previous, request: gr.Request):
        # Another organ is another model with its own operating point: reset the threshold.
        t = organ_threshold(models, organ_key)
        texts = model_texts(models, organ_key)
        if not file:
            return (gr.skip(),) * len(segment_outputs) + (t, *texts)
        return (*run(file, organ_key, t, m, o, s, f, previous, request), t, *texts)

    seg.upload.upload(run, segment_inputs, segment_outputs, js=CLEAR_TOASTS, **model_event)

    def replace(file, organ_key, t, m, o, s, f, previous, request: gr.Request):
        return (file, *run(file, organ_key, t, m, o, s, f, previous, request))

    seg.replace_btn.upload(replace, [seg.replace_btn, *segment_inputs[1:]],
                           [seg.upload, *segment_outputs], js=CLEAR_TOASTS, **model_event)
    seg.segment_btn.click(run, segment_inputs, segment_outputs, **model_event)
    # The organ choice is wired to .input (a user's change only), so that an example, which
    # sets the organ itself, runs the model once.
    organ_outputs = [*segment_outputs, seg.threshold, teach.arch_md, card_md]
    seg.organ.input(run_for_organ, segment_inputs, organ_outputs, **model_event)
    seg.upload.clear(lambda m: (None, "", *_update_outputs(None, None, m), None), [seg.mode],
                     segment_outputs, **_PRIVATE)

    # Examples: the file is served from examples/ itself (a static path, never in Gradio's
    # cache), so the clean-up of the upload cache cannot remove it.
    example_inputs = [seg.mode, seg.opacity, seg.scale, state]
    example_outputs = [seg.upload, seg.organ, seg.frame, *segment_outputs, seg.threshold,
                       teach.arch_md, card_md]

    def run_example(m, o, s, previous, evt: gr.SelectData, request: gr.Request):
        example = examples[evt.index]
        outputs = example_for_ui(models, example, m, o, s, _live(previous))
        track_session(outputs[3], request)
        # the selection is cleared, so that the same example can be clicked again later
        return (*outputs, *model_texts(models, example.organ), gr.Gallery(selected_index=None))

    seg.examples.select(run_example, example_inputs, [*example_outputs, seg.examples],
                        js=CLEAR_TOASTS, **model_event)
    if seg.truth_example_index is not None:
        def run_truth_example(m, o, s, previous, request: gr.Request):
            example = examples[seg.truth_example_index]
            outputs = example_for_ui(models, example, m, o, s, _live(previous), with_truth=True)
            track_session(outputs[3], request)
            tab = gr.Tabs(selected="truth") if outputs[3] is not None else gr.skip()
            return (*outputs, *model_texts(models, example.organ), tab)

        seg.truth_example.click(run_truth_example, example_inputs,
                                [*example_outputs, seg.result_tabs], js=CLEAR_TOASTS,
                                **model_event)

    # .input (a user's change, not a programmatic one such as the organ's threshold reset)
    # fires while a slider is dragged; "always_last" drops the intermediate positions that
    # arrive while one render runs, so the view follows the slider without a backlog.
    view_inputs = [state, seg.mode, seg.threshold, seg.opacity, seg.scale]
    view_outputs = [state, seg.status, *seg.panel]
    for control in (seg.mode, seg.threshold, seg.opacity, seg.scale):
        control.input(rerender, view_inputs, view_outputs, trigger_mode="always_last",
                      show_progress="hidden", **_PRIVATE)

    truth_inputs = [state, seg.truth_file, seg.mode, seg.threshold, seg.opacity, seg.scale]
    truth_outputs = [state, seg.status, *seg.panel, seg.result_tabs]
    seg.truth_file.upload(add_truth, truth_inputs, truth_outputs, js=CLEAR_TOASTS, **_PRIVATE)
    seg.truth_file.clear(add_truth, truth_inputs, truth_outputs, **_PRIVATE)


def _wire_teaching_tab(models: Segmenters, teach: SimpleNamespace, state) -> None:
    def show(result):
        return teaching_view(models, result)

    teach.tab.select(show, [state], [teach.net_input, teach.net_output, teach.note,
                                     *teach.galleries, *teach.headings], **_PRIVATE)


def batch_for_ui(segmenters: Segmenters, files, organ: str, progress=None) -> tuple:
    """The Batch tab: (status, table, thumbnails, zip download)."""
    off = gr.DownloadButton(value=None, interactive=False)
    paths = [f if isinstance(f, str) else getattr(f, "name", f) for f in (files or [])]
    if not paths:
        return ("Add some images (or a zip of them) first.", None, None, off)

    def report(done, total, name):
        if progress is not None:
            progress((done, total), desc="Segmenting" if done < total else "Writing the zip")

    try:
        result = run_batch(paths, organ, segmenters, scratch().new_dir(), progress=report)
    except Exception as exc:
        log_failure("batch failed", exc)
        return ("⚠️ Something went wrong while running this batch. Please try again.", None,
                None, off)
    done = len(result.rows) - result.failed
    status = (f"**{done} of {len(result.rows)} image{'s' if len(result.rows) != 1 else ''} "
              f"segmented** with the {get_organ(organ).display_name} model"
              + (f"; {result.failed} could not be used (see the table)." if result.failed
                 else "."))
    table = pd.DataFrame(result.rows, columns=result.headers)
    return (status, table, result.thumbnails,
            gr.DownloadButton(value=str(result.archive), interactive=True))


def _wire_batch_tab(models: Segmenters, batch: SimpleNamespace) -> None:
    def run(files, organ, progress=gr.Progress()):
        return batch_for_ui(models, files, organ, progress)

    batch.run.click(run, [batch.files, batch.organ],
                    [batch.status, batch.table, batch.gallery, batch.download],
                    concurrency_id="model", concurrency_limit=1, **_PRIVATE)


def _public_api(models: Segmenters) -> None:
    """The one public endpoint, ``/segment``, on hidden components (no UI of its own)."""
    with gr.Group(visible=False):
        image = gr.File(label="image", visible=False)
        organ = gr.Textbox(label="organ", visible=False)
        threshold = gr.Number(label="threshold", visible=False)
        mask = gr.File(label="mask", visible=False)
        overlay = gr.File(label="overlay", visible=False)
        report = gr.JSON(label="measurements", visible=False)
        trigger = gr.Button(visible=False)

    def run_api(image, organ, threshold):
        return segment_api(models, image, organ, threshold)

    trigger.click(
        run_api, [image, organ, threshold], [mask, overlay, report],
        api_name="segment", concurrency_id="model", concurrency_limit=1,
        api_description=(
            "Segment one ultrasound image. Inputs: the image file (PNG, JPEG, BMP, TIFF, WebP "
            "or DICOM), the organ ('breast' or 'thyroid') and the probability threshold (0-1; "
            "empty = the organ's default). Outputs: the lesion mask (PNG, 0/255, the image's "
            "own size), the overlay (PNG) and the measurements report (JSON)."))


def build_demo(segmenters: Mapping[str, Segmenter] | Segmenters | None = None) -> gr.Blocks:
    """The Blocks app. ``segmenters`` maps organ keys to ready Segmenters (tests inject models);
    organs not given load their bundled weights on first use (:meth:`Segmenters.load_all`
    at start-up loads them all)."""
    models = segmenters if isinstance(segmenters, Segmenters) else Segmenters(segmenters)
    examples = load_examples(EXAMPLES_DIR)
    # Served straight from examples/, never copied into Gradio's cache (which delete_cache
    # sweeps): examples keep working however long the server runs.
    gr.set_static_paths([EXAMPLES_DIR])
    missing = models.unavailable()
    default_t = organ_threshold(models, DEFAULT_ORGAN)
    if missing.get(DEFAULT_ORGAN):
        problem = missing[DEFAULT_ORGAN]
        arch_text = f"⚠️ {problem}"
        card_text = card_markdown(None, get_organ(DEFAULT_ORGAN), problem)
    else:
        arch_text, card_text = model_texts(models, DEFAULT_ORGAN)

    with gr.Blocks(title="U-Net ultrasound tumour segmentation (research demo)",
                   delete_cache=DELETE_CACHE, analytics_enabled=False) as demo:
        gr.Markdown("# Tumour segmentation in breast and thyroid ultrasound\n"
                    "A U-Net outlines the lesion in your ultrasound image, measures it, and "
                    "shows how sure it is.")
        gr.Markdown(DISCLAIMER_MD, elem_classes="disclaimer")
        if missing:
            gr.Markdown("\n\n".join(f"⚠️ {text}" for text in missing.values()),
                        elem_classes="status-box")
        state = gr.State(None, time_to_live=STATE_TTL_S)
        with gr.Tabs():
            seg = _segment_tab(default_t, examples)
            teach = _teaching_tab(arch_text)
            batch = _batch_tab()
            card_md = _card_tab(card_text)
            _about_tab()
        _public_api(models)
        _wire_segment_tab(models, seg, state, teach, card_md, examples)
        _wire_teaching_tab(models, teach, state)
        _wire_batch_tab(models, batch)
        demo.unload(forget_session)
    return demo


def launch(demo: gr.Blocks, **overrides):
    """Queue and launch with this app's settings; ``overrides`` go to ``demo.launch``."""
    demo.queue(**QUEUE)
    options = {
        "max_file_size": MAX_FILE_SIZE,
        "theme": gr.themes.Soft(primary_hue="blue", neutral_hue="slate"),
        "css": CSS,
        "show_error": False,  # our messages are gr.Error / gr.Warning; never show internals
        **overrides,
    }
    return demo.launch(**options)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    models = Segmenters()
    t0 = time.perf_counter()
    # the first organ (the one the page opens with) now; the others while the app starts serving
    first, others = DEFAULT_ORGAN, [key for key in ORGANS if key != DEFAULT_ORGAN]
    problems = models.load_all(keys=[first])
    print(f"{first} model loaded in {time.perf_counter() - t0:.1f} s"
          + (f"; unavailable: {problems[first]}" if problems else "")
          + (f"; loading {', '.join(others)} in the background" if others else ""), flush=True)
    models.load_in_background(others)
    launch(build_demo(models))


if __name__ == "__main__":
    main()
