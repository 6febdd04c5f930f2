"""The "How it works" tab: the network's architecture, and what goes in, what comes out and a
few feature maps for the user's own image (``webapp.teaching``)."""

from __future__ import annotations

import gradio as gr

from unet.inference.models import ModelUnavailableError, Segmenters
from unet.inference.registry import ORGANS
from unet.transforms.test_time_augmentation import uses_extra_views
from webapp.prompt_teaching import change_image, change_text, network_view
from webapp.result import Result
from webapp.settings import N_FEATURE_LAYERS, PRIVATE
from webapp.teaching import feature_maps
from webapp.ui import Ui, live, log_failure

INPUT_LABEL = "What goes in: the image area, in grey, resized to the network's square input"
GALLERIES = [f"teach_gallery_{i}" for i in range(N_FEATURE_LAYERS)]
HEADINGS = [f"teach_heading_{i}" for i in range(N_FEATURE_LAYERS)]
PROMPT_OUTPUTS = ["prompt_heading", "prompt_change", "prompt_note", "prompt_net_note",
                  "prompt_net"]
OUTPUTS = ["net_input", "net_output", "teach_note", *GALLERIES, *HEADINGS, *PROMPT_OUTPUTS]
NOTE = ("Inside the **{organ}** model, for your image. Each tile is one filter's response "
        "(yellow = strong, dark = weak): the four most active filters of a few levels. Early "
        "levels respond to edges and speckle texture; deeper levels are coarser (look at their "
        "size in pixels) and respond to larger regions, not always the lesion: a filter may "
        "light up fat, muscle or shadow. No single map is the outline; the network combines "
        "many of them into the probability map above. These pictures come from one pass of the "
        "image itself; the Segment tab's result averages it with its mirror image (and, for "
        "some organs, with zoomed and shifted copies).")


def _empty(note: str) -> dict:
    return {"net_input": None, "net_output": None, "teach_note": note,
            **{name: gr.Gallery(value=None, visible=False) for name in GALLERIES},
            **{name: gr.Markdown(value="", visible=False) for name in HEADINGS},
            **_no_prompt_view()}


def _no_prompt_view() -> dict:
    return {"prompt_heading": gr.Markdown(visible=False),
            "prompt_change": gr.Image(value=None, visible=False),
            "prompt_note": gr.Markdown(value="", visible=False),
            "prompt_net_note": gr.Markdown(value="", visible=False),
            "prompt_net": gr.Gallery(value=None, visible=False)}


def prompt_view(segmenter, result: Result) -> dict:
    """The "What your prompts changed" section: shown where the user's prompts guide the
    result (the automatic outline against the guided one, and what a prompted network saw)."""
    if not result.prompts or result.automatic is None:
        return _no_prompt_view()
    guided = result.analysis
    out = {"prompt_heading": gr.Markdown(visible=True),
           "prompt_change": gr.Image(value=change_image(result.automatic, guided),
                                     visible=True),
           "prompt_note": gr.Markdown(value=change_text(result.automatic, guided),
                                      visible=True)}
    view = network_view(segmenter, guided)
    if view is None:
        return {**_no_prompt_view(), **out}
    tiles, text = view
    return {**out, "prompt_net_note": gr.Markdown(value=text, visible=True),
            "prompt_net": gr.Gallery(value=tiles, visible=True)}


def teaching_view(models: Segmenters, result: Result | None) -> dict:
    """The network's input, its probability map, a note, and one gallery (with its heading)
    per feature layer for the current image; unused galleries hidden."""
    result = live(result)
    if result is None:
        return _empty("Segment an image on the **Segment** tab first (or click an example); "
                      "then come back here to look inside the network.")
    try:
        segmenter = models.get(result.organ)
        maps = feature_maps(result.analysis, segmenter)
    except ModelUnavailableError as exc:
        return _empty(f"⚠️ {exc}")
    except Exception as exc:
        log_failure("feature maps failed", exc)
        return _empty("⚠️ The feature maps could not be computed for this image.")
    size = segmenter.input_size
    height, width = maps["area_size"]
    out = _empty(NOTE.format(organ=result.organ.display_name))
    for i, layer in enumerate(maps["layers"][:N_FEATURE_LAYERS]):
        text = f"{layer['size'][0]}×{layer['size'][1]} px, {layer['filters']} filters"
        out[GALLERIES[i]] = gr.Gallery(value=layer["maps"], visible=True,
                                       label=f"{layer['title']}: {text}")
        out[HEADINGS[i]] = gr.Markdown(value=f"**{layer['title']}**: {text} (four shown by "
                                             "their numbers, each enlarged)", visible=True)
    out["net_input"] = gr.Image(
        value=maps["input"],
        label=f"What goes in: the image area ({width} × {height} px), in grey, squeezed into "
              f"the network's {size} × {size} square")
    out["net_output"] = maps["probability"]
    try:
        out.update(prompt_view(segmenter, result))
    except Exception as exc:
        log_failure("prompt view failed", exc)
    return out


def _extra_views_note() -> str:
    """Which organs' masks also average the zoomed and shifted views (the registry says)."""
    names = [o.display_name.lower() for o in ORGANS.values()
             if uses_extra_views(o.test_time_augmentation)]
    if not names:
        return ""
    return (f" (the {' and '.join(names)} model{'s' if len(names) > 1 else ''} also on two "
            "zoomed and two shifted copies, a second batch, each brought back into place)")


def teaching_tab(ui: Ui, arch_text: str) -> None:
    with gr.Tab("How it works", id="teach") as ui.teach_tab:
        ui.arch_md = gr.Markdown(arch_text, elem_id="architecture")
        ui.teach_note = gr.Markdown("Segment an image first; its feature maps appear here.",
                                    elem_id="teach-note")
        with gr.Row():
            ui.net_input = gr.Image(label=INPUT_LABEL, type="numpy", interactive=False,
                                    height=320, format="png", elem_id="net-input")
            ui.net_output = gr.Image(label="What comes out: lesion probability per pixel "
                                           "(dark = 0, yellow = 1)", type="numpy",
                                     interactive=False, height=320, format="png")
        _prompt_section(ui)
        gr.Markdown("#### Inside the network: feature maps")
        for gallery, heading in zip(GALLERIES, HEADINGS, strict=True):
            # the heading sits above the gallery: a gallery's own label would cover a tile
            setattr(ui, heading, gr.Markdown("", visible=False))
            setattr(ui, gallery, gr.Gallery(
                show_label=False, columns=4, height="auto", object_fit="contain",
                format="png", allow_preview=True, visible=False,
                elem_classes="feature-maps"))
        gr.Markdown(
            "The probability map is turned into the mask by the **threshold**: every pixel at "
            "or above it is lesion. Holes are filled; regions smaller than the model's minimum "
            "share of the image, or whose peak probability stays below its minimum peak, are "
            "dropped (both chosen on validation data: see the *Model card*). The model runs on "
            "the image and its mirror image in one batch"
            f"{_extra_views_note()}; their average is the probability and their disagreement "
            "is the **uncertainty map**.")


def _prompt_section(ui: Ui) -> None:
    """Shown only where the user's boxes or clicks guide the current result."""
    ui.prompt_heading = gr.Markdown("#### What your prompts changed", visible=False,
                                    elem_id="prompt-heading")
    with gr.Row():
        ui.prompt_change = gr.Image(label="The model's outline against yours", type="numpy",
                                    interactive=False, height=360, format="png",
                                    visible=False, elem_id="prompt-change")
        ui.prompt_note = gr.Markdown("", visible=False, elem_id="prompt-note")
    ui.prompt_net_note = gr.Markdown("", visible=False, elem_id="prompt-net-note")
    ui.prompt_net = gr.Gallery(show_label=False, columns=3, rows=1, height=400,
                               object_fit="contain", format="png", allow_preview=True,
                               visible=False, elem_id="prompt-net")


def wire_teaching_tab(ui: Ui, models: Segmenters) -> None:
    ui.wire(ui.teach_tab.select, lambda values, _: teaching_view(models, values["state"]),
            ["state"], OUTPUTS, **PRIVATE)
