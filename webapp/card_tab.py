"""The "Model card" and "About and privacy" tabs."""

from __future__ import annotations

import gradio as gr

from unet.io.image_basics import MAX_PIXELS
from webapp.settings import DISCLAIMER_MD, MAX_FILE_SIZE, PRIVACY_MD
from webapp.ui import Ui


def card_tab(ui: Ui, card_text: str) -> None:
    with gr.Tab("Model card", id="card"):
        ui.card_md = gr.Markdown(card_text, elem_id="model-card")


def about_tab() -> None:
    with gr.Tab("About and privacy", id="about"):
        gr.Markdown(
            f"{DISCLAIMER_MD}\n\n{PRIVACY_MD}\n\n"
            f"**Limits.** Files up to {MAX_FILE_SIZE.upper().replace('MB', ' MB')} and "
            f"{MAX_PIXELS // 1_000_000} million pixels. Multi-frame files need a frame number "
            "(*Scale and frame*).\n\n"
            "**API.** One endpoint, `/segment`: inputs (image file, organ `\"breast\"` or "
            "`\"thyroid\"`, threshold 0-1 or none for the model's own, and optionally prompts: "
            "a JSON list of `{\"box\": [x_min, y_min, x_max, y_max]}` and "
            "`{\"point\": [x, y], \"label\": 1 or 0}` in the image's pixels); outputs (mask "
            "PNG 0/255 at the image's size, overlay PNG, measurements JSON). See *Use via API* "
            "at the bottom of the page.")
