"""The Segment tab: its layout (left: organ, upload, examples, controls, ground truth; right:
result views, summary, lesion table, downloads) and its wiring to ``webapp.segment_events``."""

from __future__ import annotations

import gradio as gr

from unet.inference.models import Segmenters
from webapp import summary
from webapp.examples import Example
from webapp.prompt_events import PROMPT_TOOLS, clear_prompts, prompt_click, undo_prompt
from webapp.segment_events import (
    PANEL,
    add_truth,
    empty_table,
    example_for_ui,
    organ_changed,
    panel,
    rerender,
    segment_for_ui,
    switch_to_suggested,
)
from webapp.settings import (
    CLEAR_TOASTS,
    DEFAULT_ORGAN,
    DISPLAY_CHOICES,
    MAX_FILE_SIZE,
    ORGAN_CHOICES,
    PRIVATE,
    SCROLL_TO_RESULT,
    UPLOAD_TYPES,
)
from webapp.ui import CONTROL_NAMES, Controls, Ui, live, track_session


def _input_column(ui: Ui, default_t: float, examples: list[Example]) -> None:
    ui.organ = gr.Radio(ORGAN_CHOICES, value=DEFAULT_ORGAN, label="Organ", elem_id="organ")
    ui.file = gr.File(elem_id="upload", label="Ultrasound image", file_types=UPLOAD_TYPES,
                      file_count="single", height=140)
    gr.Markdown(f"PNG, JPEG, BMP, TIFF, WebP, GIF or DICOM (.dcm), up to {MAX_FILE_SIZE[:-2]} MB. "
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
            info="Pixels at or above it count as lesion, in regions that also pass the model's "
                 "minimum peak and size (Model card tab). It starts at the model's operating "
                 "point, chosen on validation data.")
    with gr.Accordion("Scale and frame", open=False):
        ui.scale = gr.Number(None, label="Scale (mm per pixel)", minimum=0, step=0.01,
                             placeholder="empty: sizes in pixels",
                             info="Leave empty for pixels. A DICOM file's own pixel spacing "
                                  "is used when it states one.")
        ui.frame = gr.Number(None, label="Frame (multi-frame files, counted from 0)",
                             placeholder="empty: a single-frame file",
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


def _result_column(ui: Ui) -> None:
    with gr.Tabs(selected="overlay", elem_id="result-tabs") as ui.result_tabs:
        with gr.Tab("Result", id="overlay"):
            # no label drawn over it: it covered the image's top-left corner, where a lesion
            # may lie and where a click of the user's guiding would land on the label
            ui.overlay_img = gr.Image(label="Image with the segmentation", show_label=False,
                                      type="numpy", format="png", interactive=False, height=460,
                                      buttons=["fullscreen"], elem_id="overlay-image")
        with gr.Tab("Before / after", id="compare"):
            ui.before_after = gr.ImageSlider(
                label="Drag: original (left) / segmentation (right)", type="numpy",
                format="png", interactive=False, max_height=460, buttons=["fullscreen"])
        with gr.Tab("Against ground truth", id="truth"):
            ui.truth_img = gr.Image(label="Prediction against the ground truth", type="numpy",
                                    format="png", interactive=False, height=460,
                                    buttons=["fullscreen"])
            ui.truth_md = gr.Markdown(summary.TRUTH_HINT)
    # the tools, then their button: side by side the radio's labels wrap to a word a line on a
    # phone's width
    ui.prompt_tool = gr.Radio(
        PROMPT_TOOLS, value="none", label="Guide the outline: click on the result image",
        elem_id="prompt-tool",
        info="When the outline is wrong or missing: draw a box around the lesion (two "
             "clicks, opposite corners), click on a lesion, or on a region that is not one.")
    with gr.Row():
        ui.undo_prompt = gr.Button("Undo last prompt", size="sm", elem_id="undo-prompt",
                                   min_width=120)
        ui.clear_prompts = gr.Button("Clear prompts", size="sm", elem_id="clear-prompts",
                                     min_width=120)
    # the tools' instructions (not errors: those go to the status box, in red)
    ui.prompt_hint = gr.Markdown("", elem_id="prompt-hint")
    ui.legend = gr.Markdown(summary.LEGENDS["filled"], elem_classes="small-note")
    ui.switch_organ = gr.Button("", visible=False, variant="primary", elem_id="switch-organ")
    ui.summary = gr.Markdown("Upload an image or click an example to begin.",
                             elem_id="summary")
    ui.table = gr.Dataframe(
        empty_table(), label="Lesions found (largest first)", interactive=False, wrap=True,
        elem_id="lesion-table",
        max_height=240, column_widths=["8%", "19%", "18%", "17%", "19%", "19%"])
    with gr.Row():
        ui.dl_mask = gr.DownloadButton("Mask (PNG)", interactive=False, size="md",
                                       elem_id="download-mask")
        ui.dl_overlay = gr.DownloadButton("Overlay (PNG)", interactive=False, size="md",
                                          elem_id="download-overlay")
        ui.dl_report = gr.DownloadButton("Report (JSON)", interactive=False, size="md",
                                         elem_id="download-report")
    with gr.Accordion("Report (JSON)", open=False):
        ui.report_json = gr.JSON(label="Report")


def segment_tab(ui: Ui, default_t: float, examples: list[Example]) -> None:
    with gr.Tab("Segment", id="segment"), gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            _input_column(ui, default_t, examples)
        with gr.Column(scale=3, min_width=360):
            _result_column(ui)


def wire_segment_tab(ui: Ui, models: Segmenters, examples: list[Example]) -> None:
    """Connect the Segment tab's events (``ui.state`` holds the session's cached result)."""
    inputs = [*CONTROL_NAMES, "state"]
    # a new result (or none) also clears the box tool's hint: a first corner belongs to the
    # result it was set on
    outputs = ["state", "status", "prompt_hint", *PANEL, "truth_file"]
    # Model runs go one at a time (see settings.QUEUE); progress shows on the result image.
    model_event = {"concurrency_id": "model", "concurrency_limit": 1, **PRIVATE,
                   "show_progress_on": [ui.overlay_img]}

    def run(values, context):
        out = segment_for_ui(models, Controls.of(values), values["state"])
        track_session(out["state"], context)
        return {**out, "prompt_hint": ""}

    scroll = {"fn": None, "js": SCROLL_TO_RESULT, "queue": False}
    ui.wire(ui.file.upload, run, inputs, outputs, js=CLEAR_TOASTS, **model_event).then(**scroll)
    ui.wire(ui.segment_btn.click, run, inputs, outputs, **model_event).then(**scroll)

    def replace(values, context):
        return {**run({**values, "file": values["replace_btn"]}, context),
                "file": values["replace_btn"]}

    ui.wire(ui.replace_btn.upload, replace, ["replace_btn", *inputs], ["file", *outputs],
            js=CLEAR_TOASTS, **model_event).then(**scroll)

    # The organ choice is wired to .input (a user's change only), so that an example, which
    # sets the organ itself, runs the model once.
    def organ(values, context):
        out = organ_changed(models, Controls.of(values), values["state"])
        track_session(out.get("state"), context)
        return {**out, "prompt_hint": ""}

    ui.wire(ui.organ.input, organ, inputs, [*outputs, "threshold", "arch_md", "card_md"],
            **model_event)

    def switch(values, context):
        out = switch_to_suggested(models, Controls.of(values), values["state"])
        track_session(out.get("state"), context)
        return {**out, "prompt_hint": ""}

    ui.wire(ui.switch_organ.click, switch, inputs,
            [*outputs, "threshold", "arch_md", "card_md", "organ"], **model_event)
    ui.wire(ui.file.clear,
            lambda values, _: {"state": None, "status": "", "prompt_hint": "",
                               "truth_file": None, **panel(None, None, values["mode"])},
            ["mode"], outputs, **PRIVATE)

    # Examples: the file is served from examples/ itself (a static path, never in Gradio's
    # cache), so the clean-up of the upload cache cannot remove it.
    example_outputs = ["file", "organ", "frame", "threshold", *outputs, "arch_md", "card_md"]

    def run_example(values, context, index=None, with_truth=False):
        example = examples[values["selected"] if index is None else index]
        out = example_for_ui(models, example, Controls.of(values), values["state"],
                             with_truth=with_truth)
        track_session(out["state"], context)
        return {**out, "prompt_hint": ""}

    def on_select(values, context):
        # the selection is cleared, so that the same example can be clicked again later
        return {**run_example(values, context), "examples": gr.Gallery(selected_index=None)}

    ui.wire(ui.examples.select, on_select, inputs, [*example_outputs, "examples"],
            with_select=True, js=CLEAR_TOASTS, **model_event).then(**scroll)
    with_truth = next((i for i, e in enumerate(examples) if e.truth is not None), None)
    if with_truth is not None:
        def run_truth_example(values, context):
            out = run_example(values, context, index=with_truth, with_truth=True)
            if out["state"] is not None:
                out["result_tabs"] = gr.Tabs(selected="truth")
            return out

        ui.wire(ui.truth_example.click, run_truth_example, inputs,
                [*example_outputs, "result_tabs"], js=CLEAR_TOASTS, **model_event)

    # .input (a user's change, not a programmatic one such as the organ's threshold reset)
    # fires while a slider is dragged; "always_last" drops the intermediate positions that
    # arrive while one render runs, so the view follows the slider without a backlog.
    for control in ("mode", "threshold", "opacity", "scale"):
        ui.wire(ui[control].input,
                lambda values, _: rerender(live(values["state"]), Controls.of(values)),
                inputs, ["state", "status", *PANEL], trigger_mode="always_last",
                show_progress="hidden", **PRIVATE)

    def on_image(values, _):
        return prompt_click(models, values["state"], values["prompt_tool"], values["selected"],
                            Controls.of(values))

    ui.wire(ui.overlay_img.select, on_image, [*inputs, "prompt_tool"],
            ["state", "status", "prompt_hint", *PANEL], with_select=True, **model_event)
    for button, action in ((ui.clear_prompts, clear_prompts), (ui.undo_prompt, undo_prompt)):
        ui.wire(button.click,
                lambda values, _, action=action: action(models, values["state"],
                                                        Controls.of(values)),
                inputs, ["state", "status", "prompt_hint", *PANEL], **model_event)

    def truth(values, _):
        return add_truth(values["state"], values["truth_file"], Controls.of(values))

    truth_outputs = ["state", "status", *PANEL, "result_tabs"]
    ui.wire(ui.truth_file.upload, truth, [*inputs, "truth_file"], truth_outputs,
            js=CLEAR_TOASTS, **PRIVATE)
    ui.wire(ui.truth_file.clear, truth, [*inputs, "truth_file"], truth_outputs, **PRIVATE)
