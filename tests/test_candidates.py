"""Faint candidates below the operating point: found where the probability is raised but the
mask is not, drawn dashed, listed in the JSON report and counted in the CSV, and accepted by a
lesion click."""

import cv2
import numpy as np

from tests.test_prompts import disc
from unet.analysis import CANDIDATE_COLOR, Analysis
from unet.batch import CSV_FIELDS, Item, Outcome, csv_rows
from unet.inference.prompts import ClickPrompt, Prompts, guided_mask
from unet.inference.registry import get_organ
from unet.inference.segmenter import Segmentation
from unet.io.image_basics import LoadedImage
from unet.transforms.candidates import draw_dashed_outline, find_candidates
from unet.transforms.fov import Box

SHAPE = (120, 200)


def _probability():
    """A strong blob (found, left), a faint one (0.3, right) and a faint speck (too small)."""
    p = np.maximum(disc(SHAPE, 60, 50, 15, 0.9), disc(SHAPE, 60, 150, 12, 0.3))
    p[10:12, 100:102] = 0.4
    return p


def test_only_the_faint_region_off_the_mask_is_a_candidate():
    p = _probability()
    found = find_candidates(p, p >= 0.5, 0.5, min_area_px=20)
    assert len(found) == 1
    c = found[0]
    assert abs(c.peak_probability - 0.3) < 1e-6
    assert abs(c.centroid[0] - 60) < 1 and abs(c.centroid[1] - 150) < 1
    assert c.bbox == (48, 138, 73, 163)
    # a higher threshold's floor leaves the faint blob out (0.4 x 0.9 > 0.3)
    assert find_candidates(p, p >= 0.9, 0.9, min_area_px=20) == []


def test_dashed_outline_is_broken():
    image = np.zeros((*SHAPE, 3), np.uint8)
    region = disc(SHAPE, 60, 100, 40, 1.0) > 0
    draw_dashed_outline(image, region, (255, 140, 0), 1, dash=6)
    drawn = (image[..., 0] == 255)
    ring = (disc(SHAPE, 60, 100, 41, 1.0) > 0) & ~(disc(SHAPE, 60, 100, 38, 1.0) > 0)
    assert drawn.any() and (drawn & ~ring).sum() == 0
    full = np.zeros(SHAPE, np.uint8)
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(full, contours, -1, 1, 1)
    assert 0.35 < drawn.sum() / full.sum() < 0.7  # about half the outline: dashes and gaps


def _analysis():
    p = _probability()
    gray = (p * 200 + 20).astype(np.uint8)
    seg = Segmentation(gray, p, np.zeros(SHAPE, np.float32), 0.9, Box(0, 0, *SHAPE), 0.5, 20)
    image = LoadedImage(gray, None, "PNG", 8)
    return Analysis(get_organ("breast"), image, seg, "test", "test"), gray, p


def test_report_overlay_and_csv_carry_the_candidate():
    analysis, gray, p = _analysis()
    report = analysis.report()
    assert len(report["candidates"]) == 1 and report["candidates"][0]["area_px"] > 300
    assert "the operating point leaves out" in report["candidates_meaning"]
    overlay = analysis.overlay(mode="contour")
    assert (overlay == CANDIDATE_COLOR).all(axis=-1)[40:80, 130:170].any()
    assert not (overlay == CANDIDATE_COLOR).all(axis=-1)[:, :100].any()
    assert not (analysis.overlay(mode="heatmap") == CANDIDATE_COLOR).all(axis=-1).any()
    assert "candidates" in CSV_FIELDS
    rows = csv_rows(Outcome(Item("a.png", None), analysis, 0.5, organ="breast"))
    assert rows[0]["candidates"] == 1


def test_a_lesion_click_on_a_candidate_accepts_it():
    analysis, gray, p = _analysis()
    c = analysis.candidates()[0]
    y, x = (int(round(v)) for v in c.centroid)

    class NoModel:
        input_size = 32

    mask = guided_mask(NoModel(), gray, p, analysis.mask(), Prompts(clicks=(ClickPrompt(x, y),)))
    assert (mask & c.region).sum() == c.region.sum()
    assert analysis.guide(Prompts(clicks=(ClickPrompt(x, y),)), NoModel()).candidates() == []


def test_a_candidate_beside_a_strong_lesion_is_accepted_by_a_click():
    """The click's local peak is the strong neighbour's; the candidate's own peak decides."""
    shape = (200, 300)
    p = np.maximum(disc(shape, 100, 100, 20, 0.9), disc(shape, 100, 135, 10, 0.3))
    gray = (p * 200 + 20).astype(np.uint8)
    automatic = p >= 0.5
    (candidate,) = find_candidates(p, automatic, 0.5, min_area_px=20)

    class NoModel:
        input_size = 32

    y, x = (int(round(v)) for v in candidate.centroid)
    mask = guided_mask(NoModel(), gray, p, automatic, Prompts(clicks=(ClickPrompt(x, y),)))
    assert (mask & candidate.region).sum() == candidate.region.sum()
    assert (mask & automatic).sum() == automatic.sum()  # the strong lesion stays


def test_a_region_the_user_rejected_is_no_candidate():
    analysis, gray, p = _analysis()

    class NoModel:
        input_size = 32

    rejected = analysis.guide(Prompts(clicks=(ClickPrompt(50, 60, lesion=False),)), NoModel())
    assert not rejected.mask().any()  # the strong blob is removed
    peaks = [c.peak_probability for c in rejected.candidates()]
    assert peaks and max(peaks) < 0.5  # only the faint one is offered, not the rejected blob


def test_candidates_are_found_once_per_threshold_for_overlay_and_report(monkeypatch):
    import unet.analysis

    calls = []

    def counting(*args, **kwargs):
        calls.append(args[2])
        return find_candidates(*args, **kwargs)

    monkeypatch.setattr(unet.analysis, "find_candidates", counting)
    analysis, gray, p = _analysis()
    analysis.overlay(mode="filled")
    first = analysis.report()["candidates"]
    assert len(calls) == 1
    analysis.overlay(mode="filled", threshold=0.25)  # another threshold: found again
    assert len(calls) == 2 and calls[1] == 0.25
    assert analysis.report()["candidates"] == first and len(calls) == 2
