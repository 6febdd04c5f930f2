"""What the user's prompts changed, for the "How it works" tab: the automatic outline against
the guided one, in numbers, and what a prompted network saw of the first prompt it answered
(its window, the prompt's channel and its answer)."""

from __future__ import annotations

import cv2
import numpy as np

from unet.analysis import Analysis
from unet.inference.prompt_network import THRESHOLD, Look
from unet.inference.segmenter import Segmenter
from unet.metrics import dice
from unet.overlay import render_comparison
from unet.overlay_legend import draw_prompts
from unet.transforms.box_window import INFERENCE_SCALE
from webapp.result import display_copy
from webapp.teaching import probability_image

TILE = 320  # px a side of each of the network's pictures (its input is smaller: enlarged)
LEGEND = ("**Green**: added by your prompts. **Magenta**: the model's own outline, taken out "
          "by them. **Yellow**: in both. Your boxes and clicks are drawn on top.")


def prompts_text(analysis: Analysis) -> str:
    """The user's prompts in words, e.g. "1 box and 2 clicks (1 on a lesion, 1 not a lesion)"."""
    prompts = analysis.prompts
    parts = []
    if prompts.boxes:
        parts.append(f"{len(prompts.boxes)} box{'es' if len(prompts.boxes) > 1 else ''}")
    if prompts.clicks:
        lesion = sum(c.lesion for c in prompts.clicks)
        kinds = [f"{lesion} on a lesion" if lesion else "",
                 f"{len(prompts.clicks) - lesion} \"not a lesion\""
                 if len(prompts.clicks) > lesion else ""]
        parts.append(f"{len(prompts.clicks)} click{'s' if len(prompts.clicks) > 1 else ''} "
                     f"({', '.join(k for k in kinds if k)})")
    return " and ".join(parts)


def _area(pixels: int, analysis: Analysis) -> str:
    spacing = analysis.spacing()
    if spacing is None:
        return f"{pixels:,} px"
    return f"{pixels * spacing[0] * spacing[1]:.1f} mm²"


def change_image(automatic: Analysis, guided: Analysis) -> np.ndarray:
    """The automatic outline against the guided one (``LEGEND``), prompts drawn, display size."""
    rgb = render_comparison(guided.image.pixels, automatic.mask(), guided.mask())
    return display_copy(draw_prompts(rgb, guided.prompts))


def change_text(automatic: Analysis, guided: Analysis) -> str:
    """What the prompts changed, in words and numbers (areas in mm² where the file gives its
    pixel size), and how each kind of prompt was outlined."""
    before, after = automatic.mask(), guided.mask()
    added, removed = int((after & ~before).sum()), int((before & ~after).sum())
    lines = [f"**Your prompts**: {prompts_text(guided)}.",
             f"- The model alone: {automatic.measurements().summary}.",
             f"- Guided by you: {guided.measurements().summary}.",
             f"- Your prompts added {_area(added, guided)} and took out "
             f"{_area(removed, guided)} of the model's outline."]
    if before.any() and after.any():
        lines.append(f"- The two outlines overlap with Dice {dice(before, after):.2f} (1 = "
                     "the same, 0 = no overlap).")
    if guided.box_method:
        lines.append(f"- Boxes outlined by the {guided.box_method}.")
    if guided.click_method:
        lines.append(f"- Lesion clicks outlined by the {guided.click_method}.")
    unanswered = guided.unanswered
    if unanswered:
        lines.append(f"- Found no lesion: {unanswered.describe()} (nothing marked there).")
    return "\n".join([*lines, "", LEGEND])


def _gray_tile(values: np.ndarray) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    scaled = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    gray = (scaled * 255 + 0.5).astype(np.uint8)
    return cv2.cvtColor(cv2.resize(gray, (TILE, TILE), interpolation=cv2.INTER_NEAREST),
                        cv2.COLOR_GRAY2RGB)


def look_tiles(look: Look, prompt_name: str) -> list[tuple[np.ndarray, str]]:
    """The network's two input channels and its answer (lesion probability, dark 0 to
    yellow 1), each as an RGB tile with a short caption."""
    size = look.input.shape[0]
    return [(_gray_tile(look.input[..., 0]), f"1. the window ({size} px)"),
            (_gray_tile(look.input[..., 1]), f"2. {prompt_name}"),
            (probability_image(look.probability, TILE), "3. its answer")]


def _pictures(prompt: str) -> str:
    return (f"(1: the window, black past the image's edge; 2: the {prompt}; 3: its answer, the "
            "lesion probability from dark 0 to yellow 1)")


def network_view(segmenter: Segmenter, guided: Analysis) -> tuple[list, str] | None:
    """What the organ's prompted network saw of the first box (else the first lesion click)
    and what it answered: (tiles, a text), or None where no prompted network answers them."""
    gray, prompts = guided.image.pixels, guided.prompts
    box_network = segmenter.box_network if prompts.boxes else None
    lesion_clicks = [c for c in prompts.clicks if c.lesion]
    if box_network is not None:
        b = prompts.boxes[0]
        look = box_network.look(gray, (b.x0, b.y0, b.x1, b.y1))
        text = (f"**What the box network saw.** It does not look at the whole image: it cuts a "
                f"square of {look.window.side} × {look.window.side} px around your "
                f"{'first ' if len(prompts.boxes) > 1 else ''}box ({INFERENCE_SCALE} times "
                "the box's larger side, so that it sees the lesion and its surroundings at a "
                f"useful scale), resizes it to {look.input.shape[0]} px and reads it with the "
                f"box drawn as a second picture {_pictures('box')}. It was trained on boxes "
                "drawn around expert outlines, so the box tells it where the lesion is and how "
                f"large; the outline is the part of its answer at {THRESHOLD} that overlaps "
                "your box most.")
        return look_tiles(look, "your box"), text
    click_network = segmenter.click_network if lesion_clicks else None
    if click_network is not None:
        c = lesion_clicks[0]
        _, look = click_network.answer(gray, (c.x, c.y))
        factor = click_network.shares.lesion_factor
        sized = ("" if factor is None else
                 " Its answer says roughly how large the lesion is, so it looks once more at a "
                 f"square of {factor:g} times that size and averages the two answers.")
        text = (f"**What the click network saw.** A click says where a lesion is, not how "
                "large, so it first cuts a square of a share of the image's shorter side "
                "centred on your "
                f"{'first ' if len(lesion_clicks) > 1 else ''}lesion click (a wider one where "
                f"its answer reaches the square's edge).{sized} "
                "Shown here is the look the outline came from: a "
                f"square of {look.window.side} × {look.window.side} px, resized to "
                f"{look.input.shape[0]} px and read with the click drawn as a soft spot "
                f"{_pictures('click')}. The outline is the part of the answer at {THRESHOLD} "
                "under your click.")
        return look_tiles(look, "your click"), text
    return None
