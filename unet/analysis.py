"""One upload end to end: read, segment (model once), then derive masks, measurements, overlays
and a JSON report from the cached result at any threshold without running the model again.

Besides the mask, each analysis carries its trust signals (see ``unet.trust.quality`` and
``unet.trust.organ_check``), computed once per upload with one extra model batch:

* ``quality``: the expected Dice overlap of the delivered mask (at the model's own threshold)
  with an expert outline, 0-1; None when the model card has no fitted estimator;
* ``low_confidence``: the quality is below the card's threshold (without a fitted estimator:
  the mirror agreement is below ``unet.inference.segmenter.LOW_CONFIDENCE``);
* ``organ_warning``: a plain sentence when the image does not look like the selected organ's
  scans ("This looks like a thyroid scan: switch to the thyroid model?") or like no
  ultrasound scan at all; None otherwise or when the card has no fitted organ check.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import numpy as np

from unet.errors import ImageInputError
from unet.inference.prompt_figures import prompt_test_figures
from unet.inference.prompts import (
    BoxPrompt,
    Prompts,
    box_method,
    check_prompts,
    click_method,
    guided_mask,
    remove_marked,
    unanswered_prompts,
    unlike_model,
    unprompted_marks,
)
from unet.inference.registry import OrganConfig
from unet.inference.segmenter import Segmentation, Segmenter
from unet.io.reader import LoadedImage, read_image
from unet.measurements import Measurements, measure_lesions
from unet.overlay import contour_thickness, render_overlay
from unet.transforms.candidates import Candidate, draw_dashed_outline, find_candidates
from unet.trust.quality import Assessment, assess

CANDIDATE_COLOR = (255, 140, 0)  # orange, dashed: not part of the answer, a place to look
CANDIDATES_MEANING = ("regions where the lesion probability is raised but that the operating "
                      "point leaves out (below the threshold, or too faint or small for its "
                      "clean-up), not counted as lesions; bbox [y0, x0, y1, x1] and centroid "
                      "[y, x] in pixels; a lesion click on one adds it to the mask")

# how the report's confidence_meaning begins where the estimate is the chance that the scan has
# no lesion (an empty automatic mask); readers of a report test it with lesion_free_estimate
EMPTY_MASK_MEANING = "quality estimate for an empty mask"


def lesion_free_estimate(report: dict) -> bool:
    """Whether a report's quality estimate is the chance that the scan has no lesion (its
    automatic mask is empty), not an expected overlap."""
    return str(report.get("confidence_meaning", "")).startswith(EMPTY_MASK_MEANING)


PROMPT_FIGURES_MEANING = ("per prompt kind: Dice of outlines made the same way with the expert's "
                          "on the test split's lesion images (the user simulated from the "
                          "expert outline: a box with each side moved by up to 10 %, a click on "
                          "the lesion's most interior point), mean, 95 % interval, share below "
                          "0.5 and mean per data set; from the card that measured that way of "
                          "outlining (card_version)")


@dataclass
class Analysis:
    organ: OrganConfig
    image: LoadedImage
    segmentation: Segmentation
    model_version: str
    weights_source: str
    assessment: Assessment | None = field(default=None, repr=False)
    # the user's boxes and clicks (unet.inference.prompts) and the mask they give; the mask is
    # then the user-guided one whatever the threshold
    prompts: Prompts | None = None
    guided: np.ndarray | None = field(default=None, repr=False)
    box_method: str | None = None  # how the boxes were outlined (unet.inference.prompts)
    click_method: str | None = None  # how the lesion clicks were outlined
    # per prompt kind used, how outlines made that way scored on the test split (the cards;
    # unet.inference.prompt_figures); None without prompts
    prompt_figures: dict | None = None
    # the boxes and lesion clicks that found no lesion (before any "not a lesion" click took
    # an outline away); None without prompts
    unanswered: Prompts | None = None
    # the prompts whose outline is another region than the model's own answer there, with the
    # Dice of the two (unet.inference.prompts.unlike_model); None without prompts
    unlike: list | None = None
    # the lesion clicks whose network outline reaches the border of the window the network
    # looked at (the lesion may go on past it); None without prompts
    cut_clicks: tuple | None = None
    # the model's measured misses (its card's test split): (share of lesion scans it reported
    # no lesion on, 95 % interval), told beside an empty answer; None without a card
    missed_lesion_rate: tuple[float, list[float] | None] | None = None
    # the candidates per threshold, found once for the overlay and the report (not carried
    # over by dataclasses.replace: a guided analysis finds its own)
    _candidates: dict = field(init=False, default_factory=dict, repr=False, compare=False)

    @property
    def automatic_empty(self) -> bool:
        """The automatic mask at the model's own threshold is empty (the quality estimate is
        then the chance that the scan is lesion-free, not an overlap of an outline)."""
        return not self.segmentation.mask().any()

    def guide(self, prompts: Prompts, segmenter: Segmenter) -> Analysis:
        """This analysis with the user's prompts applied (one extra model pass per box); empty
        prompts give the automatic answer back."""
        if not prompts:
            return dataclasses.replace(self, prompts=None, guided=None, box_method=None,
                                       click_method=None, prompt_figures=None, unanswered=None,
                                       unlike=None, cut_clicks=None)
        seg = self.segmentation
        used: dict[str, list[str]] = {"box": [], "click": []}
        cut: list = []
        found = guided_mask(segmenter, self.image.pixels, seg.probability, seg.mask(), prompts,
                            used=used, removals=False, cut=cut)
        prompts = check_prompts(prompts, found.shape)
        mask = remove_marked(found, prompts)
        mask.flags.writeable = False
        return dataclasses.replace(
            self, prompts=prompts, guided=mask, unanswered=unanswered_prompts(found, prompts),
            unlike=unlike_model(seg.mask(), found, prompts), cut_clicks=tuple(cut),
            box_method=box_method(segmenter, used["box"]) if used["box"] else None,
            click_method=click_method(segmenter, used["click"]) if used["click"] else None,
            prompt_figures=prompt_test_figures(segmenter, used))

    @property
    def quality(self) -> float | None:
        """Expected Dice of the delivered mask with an expert outline (0-1), or None."""
        return None if self.assessment is None else self.assessment.quality

    @property
    def low_confidence(self) -> bool:
        if self.assessment is None:
            return bool(self.segmentation.low_confidence)
        return bool(self.assessment.low_confidence)

    @property
    def organ_warning(self) -> str | None:
        return None if self.assessment is None else self.assessment.organ_warning

    def spacing(self, mm_per_pixel: float | None = None) -> tuple[float, float] | None:
        """The file's own spacing, else a user-typed isotropic scale, else None (pixels)."""
        if self.image.spacing_mm is not None:
            return self.image.spacing_mm
        if mm_per_pixel is not None and np.isfinite(mm_per_pixel) and mm_per_pixel > 0:
            return (float(mm_per_pixel), float(mm_per_pixel))
        return None

    def mask(self, threshold: float | None = None) -> np.ndarray:
        if self.guided is not None:
            return self.guided
        return self.segmentation.mask(threshold)

    def measurements(self, threshold: float | None = None,
                     mm_per_pixel: float | None = None) -> Measurements:
        prompted = None
        if self.guided is not None:  # the regions no prompt touches are the model's own
            prompted = self.guided.copy()
            for region in unprompted_marks(self.guided, self.prompts):
                prompted &= ~region
        return measure_lesions(self.mask(threshold), self.segmentation.probability,
                               self.spacing(mm_per_pixel), prompted=prompted)

    def candidates(self, threshold: float | None = None) -> list[Candidate]:
        """Faint regions below the operating point that the mask does not cover
        (``unet.transforms.candidates``), strongest first."""
        seg = self.segmentation
        t = seg.threshold if threshold is None else float(threshold)
        if t not in self._candidates:
            # against the automatic mask too: a region the user removed ("not a lesion") is no
            # candidate to accept
            self._candidates[t] = find_candidates(seg.probability, self.mask(t) | seg.mask(t),
                                                  t, seg.min_area_px)
        return self._candidates[t]

    def overlay(self, *, mode: str = "filled", threshold: float | None = None,
                opacity: float = 0.4) -> np.ndarray:
        """The result drawn on the image; in the mask modes the faint candidates below the
        operating point are dashed outlines."""
        seg = self.segmentation
        t = seg.threshold if threshold is None else threshold
        image = render_overlay(
            self.image.pixels, seg.probability, mode=mode, threshold=t, opacity=opacity,
            uncertainty=seg.uncertainty, min_area_px=seg.min_area_px, min_peak=seg.min_peak,
            mask=self.mask(t) if mode in ("filled", "contour") else None,
        )
        if mode in ("filled", "contour"):
            for candidate in self.candidates(t):
                draw_dashed_outline(image, candidate.region, CANDIDATE_COLOR,
                                    contour_thickness(image.shape, thin=True))
        return image

    def report(self, threshold: float | None = None, mm_per_pixel: float | None = None) -> dict:
        seg = self.segmentation
        t = seg.threshold if threshold is None else float(threshold)
        spacing = self.spacing(mm_per_pixel)
        measurements = self.measurements(t, mm_per_pixel).to_dict()
        return {
            "organ": self.organ.key,
            "model_version": self.model_version,
            "weights": self.weights_source,
            "threshold": t,
            # a guided outline does not follow the threshold; the faint candidates still do
            "threshold_applies_to": ("the dashed candidates only (the outline guided by the "
                                     "user does not depend on it)" if self.guided is not None
                                     else "the mask and the dashed candidates"),
            "image_size_px": {"height": int(self.image.pixels.shape[0]),
                              "width": int(self.image.pixels.shape[1])},
            "spacing_source": ("file" if self.image.spacing_mm is not None
                               else "user" if spacing is not None else "none (pixels)"),
            "confidence": round(float(self.quality if self.quality is not None
                                      else seg.confidence), 4),
            "confidence_meaning": (
                "agreement of the original and mirrored predictions (no fitted quality "
                "estimate in the model card)" if self.quality is None
                else f"{EMPTY_MASK_MEANING}: the estimated chance that the scan has no "
                     "lesion" if self.automatic_empty
                else "quality estimate: expected Dice overlap of the mask at the model's own "
                     "threshold with an expert outline"),
            "missed_lesion_rate_test": (
                None if self.missed_lesion_rate is None
                else {"share": round(self.missed_lesion_rate[0], 6),
                      "ci95": self.missed_lesion_rate[1]}),
            "quality": None if self.quality is None else round(float(self.quality), 4),
            "tta_agreement": round(float(seg.confidence), 4),
            "low_confidence": self.low_confidence,
            "organ_warning": self.organ_warning,
            "measurements": measurements,
            "candidates": [c.to_dict() for c in self.candidates(t)],
            "candidates_meaning": CANDIDATES_MEANING,
            "guided_by_user": self.guided is not None,
            "quality_applies_to": ("the automatic mask (before the user's prompts)"
                                   if self.guided is not None else "this mask"),
            "prompts": None if self.prompts is None else self.prompts.to_dict(),
            # the marked regions no prompt touches: kept from the automatic answer (the
            # lesions measured as the model's own outline)
            "unprompted_regions": (None if self.guided is None else sum(
                lesion["outlined_by"] == "model" for lesion in measurements["lesions"])),
            # the boxes and lesion clicks that found no lesion (the mask has nothing there)
            "prompts_without_outline": (None if self.unanswered is None
                                        else self.unanswered.to_dict()),
            # the boxes and lesion clicks whose outline is another region than the model's own
            # answer there: each prompt with the Dice of the two outlines
            "prompts_unlike_model": (None if self.unlike is None else [
                {**prompt.to_dict(), "kind": "box" if isinstance(prompt, BoxPrompt) else "click",
                 "dice_with_model": score} for prompt, score in self.unlike]),
            # the lesion clicks whose outline reaches the edge of the click network's window
            "clicks_cut_by_window": (None if self.cut_clicks is None
                                     else [c.to_dict() for c in self.cut_clicks]),
            "boxes_outlined_by": self.box_method,
            "clicks_outlined_by": self.click_method,
            "prompted_outline_test": self.prompt_figures,
            "prompted_outline_test_meaning": (
                None if self.prompt_figures is None else PROMPT_FIGURES_MEANING),
            "disclaimer": "Research and teaching demo; not a medical device; not for diagnosis.",
        }


def analyze(source, organ: str | OrganConfig | None = None, *,
            segmenter: Segmenter | None = None, frame: int | None = None) -> Analysis:
    """Read an upload (path or bytes) and run a model on it once.

    The model is ``segmenter`` when given (its organ is the analysis's organ), else the organ's
    model from the process's one model cache (:func:`unet.inference.models.default_models`).
    """
    if segmenter is None:
        if organ is None:
            raise ImageInputError("No organ was given. Choose breast or thyroid.")
        from unet.inference.models import default_models

        segmenter = default_models().get(organ)
    if source is None or (isinstance(source, (str, os.PathLike)) and not str(source)):
        raise ImageInputError("No image was given. Please upload an ultrasound image.")
    return analyze_loaded(read_image(source, frame=frame), segmenter)


def analyze_loaded(image: LoadedImage, segmenter: Segmenter) -> Analysis:
    """Segment an already decoded upload with ``segmenter`` (its organ) and assess it (quality
    estimate, organ check)."""
    seg = segmenter.segment(image.pixels)
    return Analysis(segmenter.organ, image, seg, segmenter.version, segmenter.source,
                    assess(segmenter, seg), missed_lesion_rate=_missed_rate(segmenter.card))


def _missed_rate(card: dict) -> tuple[float, list[float] | None] | None:
    test = (card.get("test_metrics") or {}).get("test") if isinstance(card, dict) else None
    if not isinstance(test, dict) or test.get("missed_lesion_rate") is None:
        return None
    interval = test.get("missed_lesion_rate_ci95")
    return (float(test["missed_lesion_rate"]),
            # 6 decimals: rounded to 4 first, 0.008488 would show as 0.9 % where the card's
            # table shows 0.8 %
            [round(float(v), 6) for v in interval] if interval else None)
