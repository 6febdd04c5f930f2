"""The user points, the model outlines: clicks on the result image become boxes and clicks
(``unet.inference.prompts``), and the mask, measurements, overlay, report and downloads follow.

Tools (``PROMPT_TOOLS``): a box takes two clicks, its opposite corners; a lesion click adds the
region under it; a "not a lesion" click removes a marked region. "Undo last prompt" takes back
the last box or click (or a box's first corner); "Clear prompts" goes back to the automatic
answer. Clicks work with a mouse and with a finger on a touch screen (Gradio's image select
event)."""

from __future__ import annotations

import dataclasses

from unet.errors import ImageInputError
from unet.inference.models import ModelUnavailableError, Segmenters
from unet.inference.prompts import BoxPrompt, ClickPrompt, Prompts
from webapp.result import Result, image_point
from webapp.segment_events import rerender
from webapp.ui import Controls, live

PROMPT_TOOLS = [("Just look", "none"), ("Draw a box: click two opposite corners", "box"),
                ("Mark a lesion: click on it", "lesion"),
                ("Not a lesion: click on a marked region", "not")]


def _apply(models: Segmenters, result: Result, prompts: Prompts) -> None:
    automatic = result.automatic or result.analysis
    segmenter = models.get(automatic.organ)
    result.analysis = automatic.guide(prompts, segmenter)
    result.automatic = automatic if prompts else None
    result.prompts = prompts


def prompt_click(models: Segmenters, result: Result | None, tool: str, xy,
                 c: Controls) -> dict:
    """A click on the result image with ``tool``; returns the panel's changes by name."""
    result = live(result)
    if result is None:
        return {"status": "⚠️ **Segment an image first.** Then draw a box or click on the "
                          "result to guide the outline."}
    if tool not in {"box", "lesion", "not"}:
        return {"prompt_hint": "To guide the outline, choose a tool above first (a box, or a "
                               "click on a lesion)."}
    x, y = image_point(xy, result.analysis.image.pixels.shape)
    prompts = result.prompts
    if tool == "box" and result.corner is None:
        result.corner = (x, y)
        return {**rerender(result, c),
                "prompt_hint": "👉 First corner set: now click the opposite corner of the box."}
    if tool == "box":
        (x0, y0), result.corner = result.corner, None
        prompts = dataclasses.replace(prompts, boxes=(*prompts.boxes, BoxPrompt(x0, y0, x, y)))
    else:
        result.corner = None
        prompts = dataclasses.replace(
            prompts, clicks=(*prompts.clicks, ClickPrompt(x, y, lesion=tool == "lesion")))
    try:
        _apply(models, result, prompts)
    except (ImageInputError, ModelUnavailableError) as exc:
        return {**rerender(result, c), "status": f"⚠️ **Prompt not used.** {exc}",
                "prompt_hint": ""}
    result.order.append("box" if tool == "box" else "click")
    return {**rerender(result, c), "prompt_hint": ""}


def undo_prompt(models: Segmenters, result: Result | None, c: Controls) -> dict:
    """Takes back a box's waiting first corner, else the last box or click given."""
    result = live(result)
    if result is None:
        return {"prompt_hint": ""}
    if result.corner is not None:
        result.corner = None
        return {**rerender(result, c), "prompt_hint": "The box's first corner is taken back."}
    prompts = result.prompts
    if not prompts:
        return {"prompt_hint": "Nothing to undo: the outline is the model's own."}
    # the kind given last (prompts set elsewhere, without an order: clicks first)
    kind = result.order.pop() if result.order else ("click" if prompts.clicks else "box")
    if kind == "box" and prompts.boxes:
        prompts = dataclasses.replace(prompts, boxes=prompts.boxes[:-1])
    else:
        prompts = dataclasses.replace(prompts, clicks=prompts.clicks[:-1])
    try:
        _apply(models, result, prompts)
    except ModelUnavailableError as exc:
        return {**rerender(result, c), "status": f"⚠️ **Undo not done.** {exc}",
                "prompt_hint": ""}
    return {**rerender(result, c), "prompt_hint": ""}


def clear_prompts(models: Segmenters, result: Result | None, c: Controls) -> dict:
    """Back to the automatic answer."""
    result = live(result)
    if result is None:
        return {"prompt_hint": ""}
    result.corner = None
    result.order.clear()
    if result.prompts:
        _apply(models, result, Prompts())
    return {**rerender(result, c), "prompt_hint": ""}
