"""The one public endpoint, ``/segment`` (image file, organ, threshold) -> (mask PNG, overlay
PNG, measurements JSON), on hidden components. Every other event of the app is private."""

from __future__ import annotations

import gradio as gr

from unet.errors import ImageInputError
from unet.inference.models import ModelUnavailableError, Segmenters
from unet.inference.prompts import parse_prompts
from webapp.result import segment_api as run_segment_api
from webapp.scratch import scratch
from webapp.ui import log_failure

DESCRIPTION = (
    "Segment one ultrasound image. Inputs: the image file (PNG, JPEG, BMP, TIFF, WebP, GIF or "
    "DICOM), the organ ('breast' or 'thyroid') and the probability threshold (0-1; empty = the "
    "model's own operating point). Outputs: the lesion mask (PNG, 0/255, the image's own size), "
    "the overlay (PNG) and the measurements report (JSON). Optional: prompts, a JSON list of "
    "{\"box\": [x_min, y_min, x_max, y_max]} and {\"point\": [x, y], \"label\": 1 or 0} in "
    "the image's pixels: the outline is then guided by them (the report says so).")


def segment_api(models: Segmenters, image, organ: str, threshold, prompts=None) -> tuple:
    """``/segment``; errors reach the caller as gr.Error messages a user can read."""
    try:
        prompts = parse_prompts(prompts)
        mask, overlay, report = run_segment_api(image, organ, threshold, models,
                                                scratch().new_dir(), prompts=prompts)
    except (ImageInputError, ModelUnavailableError) as exc:
        raise gr.Error(str(exc), title="This could not be segmented",
                       print_exception=False) from None
    except Exception as exc:
        log_failure("API segmentation failed", exc)
        raise gr.Error("Something went wrong while segmenting this image. Please try again.",
                       print_exception=False) from None
    return str(mask), str(overlay), report


def public_api(models: Segmenters) -> None:
    with gr.Group(visible=False):
        image = gr.File(label="image", visible=False)
        organ = gr.Textbox(label="organ", visible=False)
        threshold = gr.Number(label="threshold", visible=False)
        prompts = gr.Textbox("", label="prompts", visible=False)
        mask = gr.File(label="mask", visible=False)
        overlay = gr.File(label="overlay", visible=False)
        report = gr.JSON(label="measurements", visible=False)
        trigger = gr.Button(visible=False)

    def run_api(image, organ, threshold, prompts=""):
        return segment_api(models, image, organ, threshold, prompts)

    trigger.click(run_api, [image, organ, threshold, prompts], [mask, overlay, report],
                  api_name="segment", concurrency_id="model", concurrency_limit=1,
                  api_description=DESCRIPTION)
