"""Scores of the user's prompts, simulated from the expert outline as a user would give them,
beside the automatic answer on the same images (lesion images only: a prompt marks a lesion).

* box: each lesion's bounding box with every side moved by up to 10 % of the box's size
  (seeded per image, ``training.box_prompt_data.evaluation_boxes``), one box per lesion;
  scored through the bundled box network and through the training-free scheme; and
  ``box_cleared``: the same boxes, then a "not a lesion" click on each marked region that no
  box touches (a user clearing the automatic marks they did not box; ``box_removal_clicks``
  counts them), which is the boxed outlines alone, as the prompts issue's probe measured its
  network;
* click: one lesion click on each lesion's most interior point (the maximum of the distance to
  its outline); scored through the bundled click network (where there is one) and through the
  training-free scheme; ``click_cleared`` likewise clears the marks no click is on.

Each image is scored at its own size through the app's own path (``Segmenter.segment``, then
``unet.inference.prompts.guided_mask``). Summaries per data set and per scanner: mean Dice with
a 95 % bootstrap interval and the share of images below Dice 0.5.
"""

from __future__ import annotations

import cv2
import numpy as np

from training.box_prompt_data import LesionImage, evaluation_boxes, load_lesion_images
from training.click_prompt_data import interior_point
from training.intervals import bootstrap_mean_interval
from training.metrics import dice
from unet.inference.prompts import (
    BoxPrompt,
    ClickPrompt,
    Prompts,
    guided_mask,
    unprompted_marks,
)

MODES = ("box", "click")
COLUMNS = ("automatic", "box", "box_cleared", "box_training_free", "click", "click_cleared",
           "click_training_free")
POOR_DICE = 0.5


def simulated_prompts(item: LesionImage, mode: str, seed: int, index: int) -> Prompts:
    if mode == "box":
        return Prompts(boxes=tuple(BoxPrompt(*b) for b in evaluation_boxes(item, seed, index)))
    if mode == "click":
        return Prompts(clicks=tuple(ClickPrompt(*interior_point(item.mask, b))
                                    for b in item.boxes))
    raise ValueError(f"mode must be one of {MODES}, not {mode!r}")


def removal_clicks(guided: np.ndarray, prompts: Prompts) -> tuple[ClickPrompt, ...]:
    """A "not a lesion" click on the most interior point of each marked region of ``guided``
    that no prompt touches (``unet.inference.prompts.unprompted_marks``)."""
    clicks = []
    for region in unprompted_marks(guided, prompts):
        x, y, w, h = cv2.boundingRect(region.astype(np.uint8))
        clicks.append(ClickPrompt(*interior_point(region, (x, y, x + w, y + h)), lesion=False))
    return tuple(clicks)


def score_prompts(segmenter, items: list[LesionImage], modes=MODES, *, seed: int = 0,
                  progress: bool = False) -> list[dict]:
    """One row per image: the automatic Dice and each mode's prompted Dice (also through the
    training-free scheme where the mode's network is bundled), one automatic pass per image."""
    networks = {mode: getattr(segmenter, f"{mode}_network", None) for mode in modes}
    rows = []
    for index, item in enumerate(items):
        seg = segmenter.segment(item.gray)
        automatic = seg.mask()
        row = {"key": item.key, "dataset": item.dataset, "device": item.device,
               "lesions": len(item.boxes), "automatic": dice(item.mask, automatic)}
        for mode in modes:
            prompts = simulated_prompts(item, mode, seed, index)
            guided = guided_mask(segmenter, item.gray, seg.probability, automatic, prompts)
            row[mode] = dice(item.mask, guided)
            removals = removal_clicks(guided, prompts)
            cleared = guided if not removals else guided_mask(
                segmenter, item.gray, seg.probability, automatic,
                Prompts(boxes=prompts.boxes, clicks=prompts.clicks + removals))
            row[f"{mode}_cleared"] = dice(item.mask, cleared)
            row[f"{mode}_removal_clicks"] = len(removals)
            if networks[mode] is not None:
                free = guided_mask(segmenter, item.gray, seg.probability, automatic, prompts,
                                   use_networks=False)
                row[f"{mode}_training_free"] = dice(item.mask, free)
        rows.append(row)
        if progress and (index + 1) % 50 == 0:
            print(f"  {index + 1}/{len(items)} images", flush=True)
    return rows


def _figures(values: list[float]) -> dict:
    """The mean Dice unrounded (a card's figure rounded once where shown: 0.74645 read from a
    card that kept 0.7465 would show as 0.747 beside the automatic card's 0.746)."""
    interval = bootstrap_mean_interval(values)
    return {"dice_mean": float(np.mean(values)),
            "dice_ci95": None if interval is None else [round(v, 4) for v in interval],
            "below_0_5": round(float(np.mean(np.asarray(values) < POOR_DICE)), 4)}


def summarize_prompts(rows: list[dict]) -> dict:
    """Per data set, per scanner (where known) and overall: n and each column's figures."""
    columns = [c for c in COLUMNS if c in rows[0]]

    def block(chosen):
        out = {"images": len(chosen), **{c: _figures([r[c] for r in chosen]) for c in columns}}
        for mode in MODES:
            if f"{mode}_removal_clicks" in chosen[0]:
                out[f"{mode}_removal_clicks_mean"] = round(float(np.mean(
                    [r[f"{mode}_removal_clicks"] for r in chosen])), 3)
        return out

    summary = {"all": block(rows), "per_dataset": {}, "per_scanner": {}}
    for name in sorted({r["dataset"] for r in rows}):
        summary["per_dataset"][name] = block([r for r in rows if r["dataset"] == name])
    for device in sorted({r["device"] for r in rows if r["device"]}):
        summary["per_scanner"][device] = block([r for r in rows if r["device"] == device])
    return summary


def format_prompt_table(title: str, summary: dict) -> str:
    columns = [c for c in COLUMNS if c in summary["all"]]
    lines = [title, f"{'':28s}{'n':>5s}" + "".join(f"{c:>22s}" for c in columns)]

    def line(name, block):
        cells = "".join(f"{block[c]['dice_mean']:>10.3f} (<0.5 {block[c]['below_0_5']:4.0%})"
                        for c in columns)
        extra = "".join(f"{block[f'{m}_removal_clicks_mean']:>8.2f} removal clicks per image"
                        for m in MODES if f"{m}_removal_clicks_mean" in block)
        return f"{name[:28]:28s}{block['images']:5d}{cells}{extra}"

    lines.append(line("all", summary["all"]))
    for group in ("per_dataset", "per_scanner"):
        for name, block in summary[group].items():
            lines.append(line(f"  {name}", block))
    return "\n".join(lines)


def evaluate_prompts(segmenter, samples, modes=MODES, *, seed: int = 0) -> dict:
    """Rows and summary for the lesion images among ``samples``."""
    items = load_lesion_images(samples)
    rows = score_prompts(segmenter, items, tuple(modes), seed=seed, progress=True)
    return {"modes": list(modes), "seed": seed, "images": len(rows), "rows": rows,
            "summary": summarize_prompts(rows) if rows else None}
