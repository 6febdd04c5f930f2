"""The overlay a user takes away (the app's download, the command line's ``--overlay``): the
user's prompts drawn where they guided the outline, and a legend band below the image that says
what the colours mean, which model and threshold drew it, and that it is not for diagnosis.
Shared by the app and the CLI so that both files say the same."""

from __future__ import annotations

import textwrap

import cv2
import numpy as np

from unet.inference.prompts import Prompts

PROMPT_COLORS = {"box": (0, 200, 255), "lesion": (0, 220, 120), "not": (255, 80, 80)}


def draw_prompts(rgb: np.ndarray, prompts: Prompts, corner=None) -> np.ndarray:
    """A copy of ``rgb`` with the user's boxes (cyan), lesion clicks (green), "not a lesion"
    clicks (red) and a box's pending first corner."""
    if not prompts and corner is None:
        return rgb
    out = rgb.copy()
    size = max(rgb.shape[:2])
    thickness, radius = max(1, round(size / 300)), max(3, round(size / 100))
    for b in prompts.boxes:
        cv2.rectangle(out, (b.x0, b.y0), (b.x1 - 1, b.y1 - 1), PROMPT_COLORS["box"], thickness,
                      lineType=cv2.LINE_AA)
    for c in prompts.clicks:
        color = PROMPT_COLORS["lesion" if c.lesion else "not"]
        cv2.circle(out, (c.x, c.y), radius, color, -1, lineType=cv2.LINE_AA)
        cv2.circle(out, (c.x, c.y), radius, (255, 255, 255), 1, lineType=cv2.LINE_AA)
    if corner is not None:
        cv2.drawMarker(out, corner, PROMPT_COLORS["box"], cv2.MARKER_CROSS, 4 * radius,
                       thickness)
    return out


_MODE_LEGENDS = {
    "filled": "red = lesion (probability >= {t:.2f})",
    "contour": "red line = lesion outline (probability >= {t:.2f})",
    "heatmap": "colour = lesion probability (threshold {t:.2f} not applied)",
    "uncertainty": "colour = disagreement of mirrored predictions (threshold {t:.2f})",
}


_GUIDED_LEGENDS = {
    "filled": "red = lesion, guided by the user ({given}; the threshold does not change it)",
    "contour": "red line = lesion outline, guided by the user ({given}; the threshold does not "
               "change it)",
}


def overlay_legend(organ_name: str, mode: str, threshold: float,
                   guided_by: str = "") -> list[str]:
    """The lines of the downloaded overlay's legend band; ``guided_by`` (``1 box``) where the
    user's prompts drew the outline."""
    legend = (_GUIDED_LEGENDS.get(mode, "").format(given=guided_by) if guided_by else "") \
        or _MODE_LEGENDS.get(mode, _MODE_LEGENDS["filled"]).format(t=threshold)
    return [f"{organ_name} model, threshold {threshold:.2f}: " + legend,
            "Research and teaching demo - NOT FOR DIAGNOSIS"]


def with_legend(rgb: np.ndarray, lines: list[str]) -> np.ndarray:
    """``rgb`` with a dark band below it carrying ``lines`` (wrapped to the image's width)."""
    height, width = rgb.shape[:2]
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.35, min(1.0, width / 1000))
    thickness = 1 if scale < 0.7 else 2
    (char_w, char_h), _ = cv2.getTextSize("M", font, scale, thickness)
    per_line = max(10, (width - 12) // max(1, char_w))
    wrapped = [part for line in lines for part in textwrap.wrap(line, per_line)]
    step = int(char_h * 1.8)
    band = np.full((step * len(wrapped) + step // 2, width, 3), 24, np.uint8)
    for i, text in enumerate(wrapped):
        cv2.putText(band, text, (6, step * (i + 1)), font, scale, (235, 235, 235), thickness,
                    cv2.LINE_AA)
    return np.vstack([rgb, band])


def guided_legend_text(report: dict) -> str:
    """What drew a guided outline, for the downloaded overlay's legend (``1 box and 1 click;
    1 region from the model``); '' for the model's own answer."""
    if not report.get("guided_by_user"):
        return ""
    given = report["prompts"]
    text = Prompts(boxes=tuple(given["boxes"]), clicks=tuple(given["clicks"])).describe()
    own = report.get("unprompted_regions") or 0  # the regions no prompt reached
    return text + (f"; {own} region{'s' if own > 1 else ''} from the model" if own else "")


def labelled_overlay(analysis, overlay: np.ndarray, report: dict, mode: str,
                     threshold: float) -> np.ndarray:
    """``overlay`` (the analysis drawn in ``mode``) as taken away: the prompts that guided it
    drawn on it, and the legend band below (``report``: the analysis's report at
    ``threshold``)."""
    guided_by = guided_legend_text(report)
    legend = overlay_legend(analysis.organ.display_name, mode, threshold, guided_by)
    shown = draw_prompts(overlay, analysis.prompts) if guided_by else overlay
    return with_legend(shown, legend)
