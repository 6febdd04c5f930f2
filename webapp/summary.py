"""The result in plain words, for the web app: the summary under the image, the display
legends and the ground-truth comparison text (the quality facts are worded in
:mod:`webapp.trust_text`). No Gradio here: these are strings."""

from __future__ import annotations

from unet.analysis import CANDIDATE_COLOR
from unet.overlay import COMPARISON_COLORS
from webapp.result import Result, View
from webapp.trust_text import check_first, quality_facts, quality_markdown

LEGENDS = {
    "filled": "**Red:** lesion, where the probability reaches the threshold (in regions that "
              "pass the model's minimum peak and size).",
    "contour": "**Red line:** the lesion's outline at the threshold.",
    "heatmap": "**Colour:** lesion probability per pixel, from dark purple (low) through orange "
               "to yellow (high); below 0.05 not coloured. The threshold does not change this "
               "view (it changes the table).",
    "uncertainty": "**Colour:** how much the model's views of the image (the original and its "
                   "mirror image; for some organs also zoomed and shifted copies) disagree, "
                   "purple (a little) to yellow (a lot). Bright areas: check by eye.",
}
GUIDED_LEGENDS = {
    "filled": "**Red:** lesion, as guided by your prompts (the threshold does not change it).",
    "contour": "**Red line:** the lesion's outline, as guided by your prompts (the threshold "
               "does not change it).",
}
FOV_NOTE = ("**Thin yellow box:** the image area the model looked at (found automatically; "
            "outside it nothing is marked).")


def swatch(rgb: tuple[int, int, int]) -> str:
    """A small coloured square as HTML (no emoji font needed)."""
    r, g, b = rgb
    return (f'<span class="swatch" style="display:inline-block;width:0.9em;height:0.9em;'
            f'background:rgb({r},{g},{b});border:1px solid #555;border-radius:2px;'
            f'vertical-align:-0.1em;margin-right:0.3em"></span>')


COMPARISON_LEGEND = " · ".join(f"{swatch(rgb)}{name}" for name, rgb in COMPARISON_COLORS.items())
TRUTH_HINT = ("Upload a ground-truth mask (left, *Check against a ground-truth mask*) to see "
              "Dice and IoU here.")


# ----------------------------------------------------------------------------------- summary


def summary_markdown(view: View, result: Result | None) -> str:
    """The plain-words summary: lesions, confidence, scale, model."""
    m, rep = view.measurements, view.report
    lines = []
    if not m["lesion_found"]:
        lines.append("### No lesion found")
        if rep.get("guided_by_user"):  # the threshold did not draw it: the prompts did
            lines.append("Nothing is marked after your prompts.")
        else:
            lines.append(no_region_text(view.threshold, result))
        missed = rep.get("missed_lesion_rate_test")
        if missed:
            interval = (f" (95 % interval {missed['ci95'][0]:.1%}-{missed['ci95'][1]:.1%})"
                        if missed.get("ci95") else "")
            lines.append(f"**The model can miss a lesion:** on its test scans that had one, it "
                         f"reported none on {missed['share']:.1%}{interval}. If you see a "
                         "lesion, draw a box around it under *Guide the outline*.")
    else:
        count, largest = len(m["lesions"]), m["lesions"][0]
        if rep.get("organ_warning"):
            # on an image unlike the model's scans a marked region is not a finding
            lines.append(f"### ⚠️ {check_first(count).capitalize()}")
        else:
            lines.append(f"### {count} lesion{'s' if count > 1 else ''} found")
        if m["unit"] == "mm":
            size = (f"{largest['longest_diameter_mm']:.1f} × "
                    f"{largest['perpendicular_diameter_mm']:.1f} mm, "
                    f"area {largest['area_mm2']:,.1f} mm²")
        else:
            size = (f"{largest['longest_diameter_px']:.0f} × "
                    f"{largest['perpendicular_diameter_px']:.0f} px, "
                    f"area {largest['area_px']:,} px²")
        # a guided outline does not follow the threshold
        at = "" if rep.get("guided_by_user") else f", at threshold {view.threshold:.2f}"
        lines.append(f"{'Largest' if count > 1 else 'Size'}: {size} (longest × perpendicular "
                     f"diameter){at}.")
    candidates = rep.get("candidates") or []
    if candidates and view.mode in ("filled", "contour"):
        n = len(candidates)
        lines.append(f"{swatch(CANDIDATE_COLOR)}**Dashed outline{'s' if n > 1 else ''}: "
                     f"possible lesion{'s' if n > 1 else ''} the model left out** (peak "
                     f"probability {candidates[0]['peak_probability']:.2f}), not counted above. "
                     "To accept one, choose *Mark a lesion* under *Guide the outline* and "
                     "click it.")
    analysis = result.analysis if result is not None else None
    if rep.get("guided_by_user"):
        given = result.analysis.prompts.describe() if result is not None else "prompts"
        lines.append(f"✋ **Guided by you** ({given}): the outline follows your "
                     f"prompts, not the threshold.{prompt_figure_text(rep)} *Clear prompts* "
                     "goes back to the automatic answer.")
        lines += unanswered_text(rep.get("prompts_without_outline") or {})
        lines += unlike_text(rep.get("prompts_unlike_model") or [])
        lines += cut_text(rep.get("clicks_cut_by_window") or [])
        own = [str(les["index"]) for les in m["lesions"] if les.get("outlined_by") == "model"]
        if own:  # by the table's numbers, so that each row's outline is known
            names = own[0] if len(own) == 1 else f"{', '.join(own[:-1])} and {own[-1]}"
            lines.append(f"Lesion{'s' if len(own) > 1 else ''} {names} in the table "
                         f"{'come' if len(own) > 1 else 'comes'} from the automatic answer, not "
                         "from your prompts. To remove one, choose *Not a lesion* and click "
                         "it.")
    lines += quality_markdown(quality_facts(analysis, rep))
    if (analysis is not None and analysis.quality is not None and not rep.get("guided_by_user")
            and abs(view.threshold - analysis.segmentation.threshold) > 1e-6):
        # the estimate is the model's own answer's: the slider does not change it
        lines.append(f"The estimate is for the model's own threshold "
                     f"{analysis.segmentation.threshold:.2f}, not for {view.threshold:.2f}.")
    spacing = m["spacing_mm"]
    if rep["spacing_source"] == "file":
        lines.append(f"Scale: {spacing[1]:.3g} × {spacing[0]:.3g} mm per pixel, from the file.")
    elif rep["spacing_source"] == "user":
        lines.append(f"Scale: {spacing[1]:.3g} mm per pixel, as you typed it.")
    else:
        lines.append("Sizes are in pixels: the file states no pixel spacing. Type the scale "
                     "(mm per pixel) under *Scale and frame* to get millimetres.")
    organ = result.organ.display_name if result is not None else rep["organ"]
    if rep["model_version"] == "untrained":
        lines.append(f"⚠️ **This server runs an untrained {organ} model** (no model card): "
                     "the mask is meaningless.")
    else:
        lines.append(f"Model: {organ}, version `{rep['model_version']}`.")
    return "\n\n".join(lines)



def no_region_text(threshold: float, result: Result | None) -> str:
    """Why an automatic answer is empty, by the model's whole rule: a region is marked where its
    pixels reach the threshold, its peak the model's minimum peak and its area the minimum."""
    rule = []
    if result is not None:
        seg = result.analysis.segmentation
        if seg.min_peak > 0:
            rule.append(f"regions whose highest probability stays below {seg.min_peak:.2f} "
                        "are left out, whatever the threshold")
        if seg.min_area_px:
            rule.append(f"regions smaller than {seg.min_area_px / seg.probability.size:.1%} "
                        "of the image are ignored")
    return (f"No region passes the model's rule at threshold {threshold:.2f}"
            + (f" ({'; '.join(rule)})." if rule else "."))


def unanswered_text(unanswered: dict) -> list[str]:
    """A warning for each kind of prompt that found no lesion (the report's
    ``prompts_without_outline``), in the image's pixels, with what to do instead."""
    lines = []
    boxes = unanswered.get("boxes") or []
    clicks = unanswered.get("clicks") or []
    if boxes:
        where = ", ".join(f"({b['x0']}, {b['y0']})-({b['x1']}, {b['y1']})" for b in boxes)
        lines.append(f"⚠️ **{'Your box' if len(boxes) == 1 else 'Boxes'} at {where} found no "
                     "lesion inside:** the model sees too little there to outline. Draw the box "
                     "around the whole lesion, with a little margin.")
    if clicks:
        where = ", ".join(f"({c['x']}, {c['y']})" for c in clicks)
        lines.append(f"⚠️ **{'Your click' if len(clicks) == 1 else 'Clicks'} at {where} found "
                     "no lesion there:** the model sees too little there to outline. Click the "
                     "lesion's middle, or draw a box around it.")
    return lines


def unlike_text(unlike: list[dict]) -> list[str]:
    """A warning for each box or click whose outline is another region than the model's own
    answer there (the report's ``prompts_unlike_model``): the user is asked to check which is
    the lesion, with what held-back scans showed."""
    lines = []
    for p in unlike:
        where = (f"Inside your box at ({p['x0']}, {p['y0']})-({p['x1']}, {p['y1']})"
                 if p["kind"] == "box" else f"At your click ({p['x']}, {p['y']})")
        # measured (docs/prompts.md): with prompts placed as the evaluation places them, the
        # guided outline was the better one almost every time the two differed
        advice = ("Where a box was drawn close around the lesion, its outline was nearly always "
                  "the right one on held-back scans; a loose box, or one around other tissue, "
                  "may outline something else." if p["kind"] == "box" else
                  "Where the click was on the lesion's middle, its outline was nearly always "
                  "the right one on held-back scans.")
        lines.append(f"⚠️ **{where} the guided outline and the model's own answer are different "
                     f"regions** (they overlap with Dice {p['dice_with_model']:.2f}): check "
                     f"which is the lesion. {advice} *Undo last prompt* brings the model's "
                     "answer back.")
    return lines


def cut_text(clicks: list[dict]) -> list[str]:
    """A note for the lesion clicks whose outline reaches the edge of what the click network
    looked at (the report's ``clicks_cut_by_window``): the lesion may go on past it."""
    if not clicks:
        return []
    where = ", ".join(f"({c['x']}, {c['y']})" for c in clicks)
    one = len(clicks) == 1
    return [f"The outline from your click{'' if one else 's'} at {where} reaches the edge of "
            "what the click network looked at, so the lesion may go on past it (a straight side "
            "shows where). To outline a large lesion whole, draw a box around it."]


def prompt_figure_text(rep: dict) -> str:
    """What outlines guided the same way scored on the held-back test scans (the report's
    ``prompted_outline_test``), as a sentence with a leading space; '' without figures."""
    figures = rep.get("prompted_outline_test") or {}
    said = []
    # the figures hold for prompts given as the evaluation gave them, which the user is told
    for kind, what in (("box", "a box drawn close around the lesion (each side within 10 % of "
                               "its size)"), ("click", "a click on the lesion's middle")):
        f = figures.get(kind)
        if not f or f.get("dice_mean") is None:
            continue
        per = sorted(f.get("per_dataset", {}).values())
        spread = f" ({per[0]:.2f}-{per[-1]:.2f} by data set)" if len(per) > 1 else ""
        said.append(f"from {what} matched the expert's with Dice {f['dice_mean']:.2f} on "
                    f"average{spread}" if not said else f"from {what}, {f['dice_mean']:.2f}"
                    f"{spread}")
    if not said:
        return ""
    return (f" On held-back test scans, outlines {'; '.join(said)}. Dice 1 means the same "
            "outline.")


def truth_markdown(view: View, result: Result | None) -> str:
    """The comparison with a ground-truth mask in words (or the hint when there is none)."""
    if view.scores is None:
        return TRUTH_HINT
    if view.scores.get("both_empty"):
        head = (f"**Both empty: agreement (no lesion)** at threshold {view.threshold:.2f}: the "
                "model marks nothing and the ground truth has no lesion.")
    else:
        head = (f"**Dice {view.scores['dice']:.3f} · IoU {view.scores['iou']:.3f}** at "
                f"threshold {view.threshold:.2f} (1 = perfect agreement, 0 = none).")
    text = f"{head}  \n{COMPARISON_LEGEND}"
    if result is not None and result.truth_note:
        text += f"  \n{result.truth_note}"
    return text
