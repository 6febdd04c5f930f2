"""How far to trust one result: the quality estimate, the low-confidence flag and the
wrong-organ warning, read once and worded in one place for the summary, the JSON report and the
batch table.

The model side (``unet.analysis`` / ``unet.inference.segmenter``) may provide, on the analysis or
on its
segmentation: ``quality`` (float 0-1, the expected overlap with an expert outline),
``low_confidence`` (bool) and ``organ_warning`` (a sentence, or None). Each is read with a
default, so this works before and after they exist; change the wording here only.
"""

from __future__ import annotations

from dataclasses import dataclass

from unet.analysis import lesion_free_estimate


@dataclass(frozen=True)
class QualityFacts:
    """What the app says about how far to trust one result."""

    quality: float | None  # expected overlap with an expert outline (0-1), when estimated
    low_confidence: bool  # the app's flag: check by eye
    organ_warning: str | None  # e.g. "This looks like a thyroid scan: switch to ...?"
    agreement: float | None  # agreement of the original and mirrored predictions (0-1)
    empty: bool = False  # the automatic mask is empty: the estimate is the chance of no lesion
    guided: bool = False  # the user's prompts changed the mask: the estimate is the automatic one's


def _attribute(analysis, name: str):
    """``name`` on the analysis, else on its segmentation, else None."""
    if analysis is None:
        return None
    value = getattr(analysis, name, None)
    if value is None:
        value = getattr(getattr(analysis, "segmentation", None), name, None)
    return value


def quality_facts(analysis, report: dict | None = None) -> QualityFacts:
    """The quality facts of one result, read from the analysis (or its report) when the model
    provides them; works whether or not a quality estimate or organ check is installed."""
    report = report or {}
    quality = _attribute(analysis, "quality")
    if quality is None:
        quality = report.get("quality")
    low = _attribute(analysis, "low_confidence")
    if low is None:
        low = report.get("low_confidence", False)
    warning = _attribute(analysis, "organ_warning")
    if warning is None or isinstance(warning, bool):
        warning = report.get("organ_warning") if isinstance(report.get("organ_warning"),
                                                                str) else None
    agreement = _attribute(analysis, "confidence")
    if agreement is None:
        agreement = report.get("confidence")
    empty = _attribute(analysis, "automatic_empty")
    if empty is None:
        empty = lesion_free_estimate(report)
    guided = (getattr(analysis, "guided", None) is not None if analysis is not None
              else bool(report.get("guided_by_user")))
    return QualityFacts(None if quality is None else float(quality), bool(low),
                        warning or None, None if agreement is None else float(agreement),
                        bool(empty), guided)


def check_first(count: int) -> str:
    """What a result beside a wrong-organ warning states instead of a finding."""
    marked = f"{count} region{'s' if count > 1 else ''} marked" if count else "nothing marked"
    return f"check the image first: {marked}"


def quality_markdown(facts: QualityFacts) -> list[str]:
    """The summary's lines about trust (one paragraph each)."""
    lines = []
    if facts.organ_warning:
        lines.append(f"⚠️ **{facts.organ_warning}**")
    overlap = (None if facts.quality is None
               else f"Estimated chance that this scan has no lesion ≈ {facts.quality:.2f}"
               if facts.empty
               else f"Expected overlap with an expert outline ≈ {facts.quality:.2f}")
    if overlap and facts.guided:  # the estimate describes the model's answer, not the user's
        overlap = f"The model's own answer, before your prompts: {overlap[0].lower()}{overlap[1:]}"
    if overlap and facts.organ_warning:
        # fitted on the selected organ's own scans: it says nothing about an image unlike them
        lines.append(f"{overlap}: not meaningful here, since the estimate was fitted on scans "
                     "of the selected organ and this image does not look like them. Check by eye.")
    elif overlap:
        estimate = f"{overlap} (0-1, estimated from the model's own signals)"
        lines.append(f"⚠️ **Low confidence: check by eye.** {estimate}." if facts.low_confidence
                     else f"**{estimate}.**")
    elif facts.low_confidence:
        lines.append("⚠️ **Low confidence: check by eye.** The original and mirrored "
                     f"predictions agree only {facts.agreement or 0:.0%}.")
    elif facts.agreement is not None:
        lines.append(f"**Confidence {facts.agreement:.0%}**: the original and mirrored "
                     "predictions agree.")
    return lines


def quality_cells(facts: QualityFacts) -> dict[str, str]:
    """The batch table's columns about trust, as text."""
    # joined with "; ", so a warning's own closing full stop goes
    warnings = [w.rstrip(".") for w in (facts.organ_warning, "low confidence: check by eye"
                                        if facts.low_confidence else None) if w]
    value = facts.quality if facts.quality is not None else facts.agreement
    name = ("Expected overlap (0-1)" if facts.quality is not None
            else "Mirror agreement (0-1)")
    if value is None:
        text = "n/a"
    elif facts.quality is not None and facts.organ_warning:
        text = "not meaningful"  # fitted on the organ's own scans, as the Segment tab says
    elif facts.quality is not None and facts.empty:
        text = f"{value:.2f} (chance of no lesion)"  # an empty answer's estimate
    else:
        text = f"{value:.2f}"
    return {name: text, "Warnings": "; ".join(warnings)}


def quality_report(facts: QualityFacts) -> dict:
    """The JSON report's fields about trust."""
    return {"quality": None if facts.quality is None else round(facts.quality, 4),
            "low_confidence": facts.low_confidence,
            "organ_warning": facts.organ_warning}
