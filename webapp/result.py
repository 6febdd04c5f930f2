"""One upload's result in the web app: the cached analysis (what ``gr.State`` holds), an optional
ground-truth mask, and :func:`render`, which derives everything a threshold, opacity or display
change shows without running the model again.

Nothing here imports Gradio.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from unet.analysis import Analysis, analyze, analyze_loaded
from unet.errors import ImageInputError
from unet.inference.models import Segmenters
from unet.inference.prompts import Prompts
from unet.inference.registry import OrganConfig
from unet.inference.segmenter import Segmenter
from unet.io.ground_truth import overlap_scores
from unet.io.uploads import parse_scale, parse_threshold
from unet.measurements import Measurements
from unet.overlay import render_comparison
from unet.overlay_legend import draw_prompts, labelled_overlay
from webapp.downloads import write_outputs
from webapp.trust_text import quality_facts, quality_report

# Images larger than this (longer side, pixels) are shown downscaled in the browser; the
# downloads always keep the image's own size.
DISPLAY_MAX_SIDE = 1280
MSG_FILE_GONE = (
    "The uploaded file is no longer on the server: uploads are deleted after about 20 minutes, "
    "for privacy. Please upload the image again."
)


@dataclass
class Result:
    """One upload's cached analysis (what ``gr.State`` holds) and an optional ground truth."""

    analysis: Analysis | None  # None once released
    source: str = ""  # the upload's path (to reuse the decoded image for another organ)
    frame: int | None = None
    truth: np.ndarray | None = None  # bool (H, W) at the image's size
    truth_note: str = ""  # e.g. "resized from 128 x 160 px"
    # the user's boxes and clicks; ``analysis`` is then the guided one, ``automatic`` the model's
    prompts: Prompts = field(default_factory=Prompts)
    automatic: Analysis | None = None
    corner: tuple[int, int] | None = None  # a box's first corner, waiting for the second
    order: list[str] = field(default_factory=list)  # "box" / "click" as given (for undo)

    @property
    def organ(self) -> OrganConfig:
        return self.analysis.organ

    @property
    def released(self) -> bool:
        return self.analysis is None

    def release(self) -> None:
        """Drop the decoded image, its maps and the ground truth (the session has ended)."""
        self.analysis = None
        self.automatic = None
        self.truth = None


def segment_upload(source, segmenter: Segmenter, *, frame: int | None = None,
                   previous: Result | None = None) -> Result:
    """Read an upload and segment it with ``segmenter`` (the organ's model, resolved by the
    caller from the app's model cache; it runs once).

    When ``previous`` holds the same upload (path and frame), its decoded image is reused, so
    switching organ does not read the file again.
    """
    source = "" if source is None else os.fspath(source)
    if not source:
        raise ImageInputError("No image was given. Please upload an ultrasound image.")
    if (previous is not None and not previous.released and previous.source == source
            and previous.frame == frame):
        image = previous.analysis.image
        # segments and assesses again (quality estimate, organ check) with the other model
        analysis = analyze_loaded(image, segmenter)
    else:
        if not os.path.exists(source):
            raise ImageInputError(MSG_FILE_GONE)
        analysis = analyze(source, segmenter=segmenter, frame=frame)
    return Result(analysis, source=source, frame=frame)


@dataclass
class View:
    """Everything the result panel shows for one (threshold, display, opacity, scale)."""

    overlay: np.ndarray  # RGB, display size
    original: np.ndarray  # RGB, display size
    comparison: np.ndarray | None  # RGB, display size, when a ground truth is loaded
    scores: dict[str, float] | None
    measurements: dict  # Measurements.to_dict(), as in the report
    report: dict
    threshold: float
    files: dict[str, Path] = field(default_factory=dict)  # mask, overlay, report
    mode: str = "filled"  # the display (unet.overlay.MODES)


def render(result: Result, *, mode: str = "filled", threshold: float | None = None,
           opacity: float = 0.4, mm_per_pixel: float | None = None,
           out_dir: Path | None = None, now: datetime | None = None) -> View:
    """Derive the overlay, table data, report and download files from the cached analysis.

    The shown overlay also outlines the field of view (the area the model looked at) when it
    is not the whole image; the downloaded overlay carries a legend band instead.
    """
    analysis = result.analysis
    t = analysis.segmentation.threshold if threshold is None else float(threshold)
    mm = parse_scale(mm_per_pixel)
    mask = analysis.mask(t)
    overlay = analysis.overlay(mode=mode, threshold=t, opacity=float(opacity))
    report = analysis.report(t, mm)  # measures the lesions once; the table reads it from here
    created = (now or datetime.now(UTC)).astimezone(UTC)
    image_id = hashlib.sha256(np.ascontiguousarray(analysis.image.pixels)).hexdigest()[:8]
    report = {"created_utc": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "image_id": image_id,
              **report,
              **{k: v for k, v in quality_report(quality_facts(analysis, report)).items()
                 if k not in report}}
    comparison = scores = None
    if result.truth is not None:
        scores = overlap_scores(mask, result.truth)
        scores["both_empty"] = not mask.any() and not result.truth.any()
        comparison = render_comparison(analysis.image.pixels, mask, result.truth,
                                       opacity=float(opacity))
        report["ground_truth"] = {"dice": round(scores["dice"], 4),
                                  "iou": round(scores["iou"], 4),
                                  "both_empty": scores["both_empty"]}
    original = cv2.cvtColor(analysis.image.pixels, cv2.COLOR_GRAY2RGB)
    box = analysis.segmentation.field_of_view
    shown = draw_box(overlay, box) if box_is_partial(box, mask.shape) else overlay
    shown = draw_prompts(shown, result.prompts, result.corner)
    view = View(
        overlay=display_copy(shown), original=display_copy(original),
        comparison=None if comparison is None else display_copy(comparison),
        scores=scores, measurements=report["measurements"], report=report, threshold=t,
        mode=mode,
    )
    if out_dir is not None:
        # a guided overlay shows the prompts that drew it, as on the screen
        saved = labelled_overlay(analysis, overlay, report, mode, t)
        view.files = write_outputs(out_dir, mask, saved, report,
                                   organ=analysis.organ.key, when=created,
                                   image_id=image_id)
    return view


def box_is_partial(box, shape: tuple[int, int]) -> bool:
    """True when the field of view leaves out part of the image."""
    return (box.y0, box.x0, box.y1, box.x1) != (0, 0, shape[0], shape[1])


def draw_box(rgb: np.ndarray, box, color=(255, 215, 0)) -> np.ndarray:
    """A copy of ``rgb`` with a thin rectangle around ``box`` (the field of view)."""
    out = rgb.copy()
    thickness = max(1, round(max(rgb.shape[:2]) / 400))
    cv2.rectangle(out, (box.x0, box.y0), (box.x1 - 1, box.y1 - 1), color, thickness,
                  lineType=cv2.LINE_AA)
    return out


DISPLAY_MIN_SIDE = 640  # smaller images are shown enlarged (whole factors, sharp pixels)


def display_size(height: int, width: int, max_side: int = DISPLAY_MAX_SIDE,
                 min_side: int = DISPLAY_MIN_SIDE) -> tuple[int, int]:
    """(height, width) an image of this size is shown at in the browser."""
    longest = max(height, width)
    if longest < min_side:
        factor = min(4, -(-min_side // longest))
        return height * factor, width * factor
    scale = max_side / longest
    if scale >= 1:
        return height, width
    return max(1, round(height * scale)), max(1, round(width * scale))


def display_copy(rgb: np.ndarray, max_side: int = DISPLAY_MAX_SIDE,
                 min_side: int = DISPLAY_MIN_SIDE) -> np.ndarray:
    """A copy for the browser: large images are downscaled (area interpolation), small ones
    enlarged by a whole factor (nearest neighbour, so that pixels stay pixels)."""
    height, width = rgb.shape[:2]
    shown = display_size(height, width, max_side, min_side)
    if shown == (height, width):
        return rgb
    enlarged = shown[0] > height
    return cv2.resize(rgb, (shown[1], shown[0]),
                      interpolation=cv2.INTER_NEAREST if enlarged else cv2.INTER_AREA)


def image_point(xy, shape: tuple[int, int]) -> tuple[int, int]:
    """A point clicked on the shown image (x, y) -> the same point in the image's pixels."""
    height, width = shape
    shown_h, shown_w = display_size(height, width)
    x = int(np.clip(float(xy[0]) * width / shown_w, 0, width - 1))
    y = int(np.clip(float(xy[1]) * height / shown_h, 0, height - 1))
    return x, y


def lesion_table(measurements: dict | Measurements) -> tuple[list[str], list[list[str]]]:
    """Column headers (each with its unit) and one row per lesion, largest first, as text with
    fixed decimals (mm: 0.1; px: whole pixels; share: 0.01 %; probability: 0.01; "guided" for
    a lesion a user's prompt outlined, whose automatic probability says nothing of its outline).

    ``measurements`` is :meth:`Measurements.to_dict` (as in the report) or the object itself.
    """
    if isinstance(measurements, Measurements):
        measurements = measurements.to_dict()
    mm = measurements["unit"] == "mm"
    unit = "mm" if mm else "px"
    # short words, so that a phone's narrow columns break between words, not inside them;
    # long axis: the longest diameter; short axis: the longest diameter perpendicular to it
    headers = [
        "#",
        "Area (mm²)" if mm else "Area (px²)",
        "Share of image (%)",
        f"Long axis ({unit})",
        f"Short axis ({unit})",
        "Mean prob. (0-1)",
    ]
    rows = []
    for lesion in measurements["lesions"]:
        if mm:
            size = [f"{lesion['area_mm2']:,.1f}", f"{lesion['longest_diameter_mm']:.1f}",
                    f"{lesion['perpendicular_diameter_mm']:.1f}"]
        else:
            size = [f"{lesion['area_px']:,}", f"{lesion['longest_diameter_px']:.0f}",
                    f"{lesion['perpendicular_diameter_px']:.0f}"]
        # a prompt's outline is the prompted network's, where the automatic model's probability
        # may be near 0 (it missed the lesion): that mean would read as the outline's confidence
        probability = ("guided" if lesion.get("outlined_by") == "prompt"
                       else f"{lesion['mean_probability']:.2f}")
        rows.append([str(lesion["index"]), size[0], f"{100.0 * lesion['image_fraction']:.2f}",
                     size[1], size[2], probability])
    return headers, rows


def segment_api(source, organ: str, threshold, segmenters: Segmenters,
                out_dir: Path, prompts: Prompts | None = None) -> tuple[Path, Path, dict]:
    """The public API call: (mask PNG, overlay PNG, report) for one file, guided by
    ``prompts`` when given."""
    t = parse_threshold(threshold)  # None: the model's operating point (from its card)
    segmenter = segmenters.get(organ)
    result = segment_upload(source, segmenter)
    if prompts:
        result.analysis = result.analysis.guide(prompts, segmenter)
        result.prompts = result.analysis.prompts
    view = render(result, threshold=t, out_dir=out_dir)
    return view.files["mask"], view.files["overlay"], view.report
