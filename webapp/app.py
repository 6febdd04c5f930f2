"""The Gradio app: the tabs built and wired, queued and launched with this app's settings.

UI only; all image and model work lives in ``unet``. Public API: one endpoint, ``/segment``
(``webapp.api``); every other event is private.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import gradio as gr

from unet.inference.models import Segmenters
from unet.inference.registry import ORGANS, get_organ
from unet.inference.segmenter import Segmenter
from webapp.api import public_api
from webapp.batch_tab import batch_tab, wire_batch_tab
from webapp.card_tab import about_tab, card_tab
from webapp.examples import EXAMPLES_DIR, load_examples
from webapp.model_card import card_markdown
from webapp.segment_events import model_texts, organ_threshold
from webapp.segment_tab import segment_tab, wire_segment_tab
from webapp.settings import (
    CSS,
    DEFAULT_ORGAN,
    DELETE_CACHE,
    DISCLAIMER_MD,
    MAX_FILE_SIZE,
    PRIVATE,
    QUEUE,
    STATE_TTL_S,
)
from webapp.teaching_tab import teaching_tab, wire_teaching_tab
from webapp.ui import Ui, forget_session


def build_demo(segmenters: Mapping[str, Segmenter] | Segmenters | None = None,
               ui: Ui | None = None) -> gr.Blocks:
    """The Blocks app. ``segmenters``: the process's model cache, or organ keys mapped to ready
    Segmenters (tests inject models); organs not given load their bundled weights on first use.
    ``ui`` (optional) receives the named components, for tests."""
    models = segmenters if isinstance(segmenters, Segmenters) else Segmenters(segmenters)
    ui = Ui() if ui is None else ui
    examples = load_examples(EXAMPLES_DIR)
    # Served straight from examples/, never copied into Gradio's cache (which delete_cache
    # sweeps): examples keep working however long the server runs.
    gr.set_static_paths([EXAMPLES_DIR])
    missing = models.unavailable()
    default_t = organ_threshold(models, DEFAULT_ORGAN)
    if missing.get(DEFAULT_ORGAN):
        problem = missing[DEFAULT_ORGAN]
        texts = {"arch_md": f"⚠️ {problem}",
                 "card_md": card_markdown(None, get_organ(DEFAULT_ORGAN), problem)}
    else:
        texts = model_texts(models, DEFAULT_ORGAN)

    with gr.Blocks(title="U-Net ultrasound tumour segmentation (research demo)",
                   delete_cache=DELETE_CACHE, analytics_enabled=False) as demo:
        gr.Markdown("# Tumour segmentation in breast and thyroid ultrasound\n"
                    "A U-Net outlines the lesion in your ultrasound image, measures it, and "
                    "shows how sure it is.")
        gr.Markdown(DISCLAIMER_MD, elem_classes="disclaimer")
        if missing:
            gr.Markdown("\n\n".join(f"⚠️ {text}" for text in missing.values()),
                        elem_classes="status-box")
        ui.state = gr.State(None, time_to_live=STATE_TTL_S)
        with gr.Tabs():
            segment_tab(ui, default_t, examples)
            teaching_tab(ui, texts["arch_md"])
            batch_tab(ui)
            card_tab(ui, texts["card_md"])
            about_tab()
        public_api(models)
        wire_segment_tab(ui, models, examples)
        wire_teaching_tab(ui, models)
        wire_batch_tab(ui, models)
        demo.unload(forget_session)
        # the optional number fields start empty: Gradio shows None as 0 until it is set, and a
        # frame of 0 would read a multi-frame file's first frame without asking which
        demo.load(lambda: (None, None), outputs=[ui.scale, ui.frame], **PRIVATE)
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
