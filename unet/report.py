"""What the web app needs besides its UI: models, per-request files, tables, teaching material.

Nothing here imports Gradio. ``app.py`` wires these functions to components; everything that
touches pixels or the model lives here so that it can be tested without a browser.

* :class:`Segmenters`: the organs' models, loaded once per process; a missing weight file becomes
  a clear :class:`ModelUnavailableError` instead of a crash.
* :class:`Scratch`: a private temporary folder with one sub-folder per request, swept by age and
  removed at exit. Gradio copies returned files into its own cache (which ``delete_cache``
  cleans), so our copies are only needed for a moment.
* :class:`Result`: the cached analysis of one upload (kept in ``gr.State``) and, optionally, a
  ground-truth mask; :func:`render` derives everything a threshold / opacity / display change
  shows, without running the model.
* Teaching: :func:`architecture_markdown`, :func:`feature_maps`, :func:`card_markdown`.
* Examples: :func:`make_examples` (synthetic phantoms) and :func:`host_examples` (``examples/``).
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from unet.analysis import Analysis, analyze
from unet.errors import ImageInputError
from unet.measurements import Measurements
from unet.overlay import render_comparison
from unet.reader import read_image
from unet.registry import ORGANS, OrganConfig, get_organ
from unet.segmenter import Segmenter

log = logging.getLogger(__name__)

# Images larger than this (longer side, pixels) are shown downscaled in the browser; the
# downloads always keep the image's own size.
DISPLAY_MAX_SIDE = 1280
UPLOAD_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif",
                   ".dcm", ".dicom", ".dic")


# ------------------------------------------------------------------------------------ models


class ModelUnavailableError(RuntimeError):
    """An organ's model cannot be used on this server; the message says why, for a user."""


class Segmenters:
    """Organ key -> :class:`Segmenter`, each loaded once per process.

    ``given`` maps organ keys to ready segmenters (tests inject untrained models this way);
    other organs are loaded with ``loader`` (default :func:`unet.analysis.get_segmenter`, which
    caches per process). A failed load is not cached, so weights copied in later are picked up.
    """

    def __init__(self, given: Mapping[str, Segmenter] | None = None,
                 loader: Callable[[str], Segmenter] | None = None):
        self._given = dict(given or {})
        self._loader = loader
        self._lock = threading.Lock()
        self._problems: dict[str, str] = {}  # organ key -> message of its last failed load

    def get(self, organ: str | OrganConfig) -> Segmenter:
        organ = organ if isinstance(organ, OrganConfig) else get_organ(organ)
        if organ.key in self._given:
            return self._given[organ.key]
        loader = self._loader
        if loader is None:
            from unet.analysis import get_segmenter as loader
        with self._lock:  # two first requests must not load the same model twice
            try:
                segmenter = loader(organ.key)
            except FileNotFoundError as exc:
                log.error("no weights for %s: %s", organ.key, exc)
                self._problems[organ.key] = _missing_weights_message(organ)
                raise ModelUnavailableError(self._problems[organ.key]) from exc
            except Exception as exc:
                log.exception("loading the %s model failed", organ.key)
                self._problems[organ.key] = (
                    f"The {organ.display_name} model could not be loaded on this server "
                    f"({type(exc).__name__}). Please try again later or choose another organ.")
                raise ModelUnavailableError(self._problems[organ.key]) from exc
            self._problems.pop(organ.key, None)
            return segmenter

    def load_all(self, *, warm_up: bool = True) -> dict[str, str]:
        """Load every organ's model now (and run it once, so the first request is fast).

        Returns the organs that could not be loaded, with the message a user sees.
        """
        problems = {}
        for key in ORGANS:
            try:
                segmenter = self.get(key)
            except ModelUnavailableError as exc:
                problems[key] = str(exc)
                continue
            if warm_up:
                segmenter.segment(np.full((64, 64), 64, np.uint8))
        return problems

    def unavailable(self) -> dict[str, str]:
        """Organs whose model failed to load or whose weight file is missing (nothing is
        loaded by this call), with the message a user sees."""
        missing = {key: _missing_weights_message(organ) for key, organ in ORGANS.items()
                   if key not in self._given and not organ.weight_path.is_file()
                   and not (organ.hub_repo_env and os.environ.get(organ.hub_repo_env))}
        return {**missing, **self._problems}


def _missing_weights_message(organ: OrganConfig) -> str:
    return (
        f"The {organ.display_name} model is not installed on this server (the weight file "
        f"weights/{organ.weight_file} is missing), so {organ.display_name.lower()} images "
        "cannot be segmented here. If you host this demo, see weights/README.md."
    )


def default_threshold(segmenter: Segmenter) -> float:
    """The model's operating point (chosen on validation, carried in its card)."""
    return float(getattr(segmenter, "threshold", segmenter.organ.threshold))


def is_trained(segmenter: Segmenter) -> bool:
    """True for weights with a model card (an exported training run)."""
    return bool(segmenter.card)


# ----------------------------------------------------------------------------------- scratch


class Scratch:
    """A private temporary folder with one sub-folder per request.

    Sub-folders older than ``max_age_s`` are deleted whenever a new one is made and by a
    background sweep every ``max_age_s / 2`` seconds (so nothing lingers when no one uses the
    app); the whole folder is deleted at interpreter exit (and by :meth:`close`).
    """

    def __init__(self, *, max_age_s: float = 120.0, prefix: str = "unet-demo-"):
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.max_age_s = max_age_s
        self._closed = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_periodically, daemon=True,
                                         name="scratch-sweep")
        self._sweeper.start()
        atexit.register(self.close)

    def _sweep_periodically(self) -> None:
        while not self._closed.wait(max(self.max_age_s / 2, 0.05)):
            self.sweep()

    def new_dir(self) -> Path:
        self.sweep()
        self.root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=self.root))

    def sweep(self, max_age_s: float | None = None) -> int:
        """Delete request folders older than ``max_age_s``; returns how many were deleted."""
        limit = self.max_age_s if max_age_s is None else max_age_s
        now, removed = time.time(), 0
        try:
            entries = list(self.root.iterdir())
        except FileNotFoundError:
            return 0
        for entry in entries:
            try:
                if now - entry.stat().st_mtime >= limit:
                    shutil.rmtree(entry, ignore_errors=True)
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def close(self) -> None:
        self._closed.set()
        shutil.rmtree(self.root, ignore_errors=True)


_scratch: Scratch | None = None
_scratch_lock = threading.Lock()


def scratch() -> Scratch:
    """The process's scratch space (made on first use)."""
    global _scratch
    with _scratch_lock:
        if _scratch is None:
            _scratch = Scratch()
        return _scratch


# ----------------------------------------------------------------------------------- results


@dataclass
class Result:
    """One upload's cached analysis (what ``gr.State`` holds) and an optional ground truth."""

    analysis: Analysis | None  # None once released
    source: str = ""  # the upload's path (to reuse the decoded image for another organ)
    frame: int | None = None
    truth: np.ndarray | None = None  # bool (H, W) at the image's size
    truth_note: str = ""  # e.g. "resized from 128 x 160 px"

    @property
    def organ(self) -> OrganConfig:
        return self.analysis.organ

    @property
    def released(self) -> bool:
        return self.analysis is None

    def release(self) -> None:
        """Drop the decoded image, its maps and the ground truth (the session has ended)."""
        self.analysis = None
        self.truth = None


def segment_upload(source, organ: str | OrganConfig, segmenters: Segmenters, *,
                   frame: int | None = None, previous: Result | None = None) -> Result:
    """Read and segment an upload (the model runs once).

    When ``previous`` holds the same upload (path and frame), its decoded image is reused, so
    switching organ does not read the file again.
    """
    organ = organ if isinstance(organ, OrganConfig) else get_organ(organ)
    source = "" if source is None else os.fspath(source)
    if not source:
        raise ImageInputError("No image was given. Please upload an ultrasound image.")
    segmenter = segmenters.get(organ)
    if (previous is not None and not previous.released and previous.source == source
            and previous.frame == frame):
        image = previous.analysis.image
        analysis = Analysis(organ, image, segmenter.segment(image.pixels), segmenter.version,
                            segmenter.source)
    else:
        analysis = analyze(source, organ, segmenter=segmenter, frame=frame)
    return Result(analysis, source=source, frame=frame)


def parse_frame(value) -> int | None:
    """The frame number typed in the UI (None, or a whole number from 0)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if float(value) != int(value) or value < 0:
        raise ImageInputError("The frame number must be a whole number from 0 upwards.")
    return int(value)


def parse_scale(value) -> float | None:
    """The mm-per-pixel scale typed in the UI: None (pixels) or a positive number."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        return None
    return value


def parse_threshold(value) -> float | None:
    """A probability threshold strictly between 0 and 1, or None (the model's default)."""
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = float("nan")
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        raise ImageInputError("The threshold must be a number between 0 and 1, for example 0.5.")
    return value


# ------------------------------------------------------------------------------ ground truth


def read_truth(source, shape: tuple[int, int]) -> tuple[np.ndarray, str]:
    """A ground-truth mask file as bool (H, W) at the image's ``shape``, and a note.

    Any image format the reader takes; lesion = brighter than half the file's maximum (so
    0/1, 0/255 and slightly compressed masks all work). A mask with the image's aspect ratio
    but another size is resized (nearest neighbour); another aspect ratio is refused.
    """
    try:
        loaded = read_image(source)
    except ImageInputError as exc:
        raise ImageInputError(f"Ground-truth mask: {exc}") from exc
    pixels = loaded.pixels
    top = int(pixels.max())
    mask = pixels > top / 2 if top > 0 else np.zeros(pixels.shape, bool)
    height, width = shape
    note = ""
    if mask.shape != (height, width):
        mh, mw = mask.shape
        if abs(mw / mh - width / height) > 0.02 * (width / height):
            raise ImageInputError(
                f"The ground-truth mask is {mw} x {mh} pixels but the image is {width} x "
                f"{height} pixels. Please upload the mask that belongs to this image."
            )
        mask = cv2.resize(mask.astype(np.uint8), (width, height),
                          interpolation=cv2.INTER_NEAREST).astype(bool)
        note = f"The mask ({mw} x {mh} px) was resized to the image's {width} x {height} px."
    return mask, note


def overlap_scores(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Dice and IoU of two bool masks (both empty counts as full agreement, 1.0)."""
    predicted, truth = np.asarray(predicted, bool), np.asarray(truth, bool)
    intersection = int((predicted & truth).sum())
    total = int(predicted.sum()) + int(truth.sum())
    union = total - intersection
    if total == 0:
        return {"dice": 1.0, "iou": 1.0}
    return {"dice": 2.0 * intersection / total, "iou": intersection / union}


# ------------------------------------------------------------------------------------ render


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


def render(result: Result, *, mode: str = "filled", threshold: float | None = None,
           opacity: float = 0.4, mm_per_pixel: float | None = None,
           out_dir: Path | None = None) -> View:
    """Derive the overlay, table data, report and download files from the cached analysis."""
    analysis = result.analysis
    t = analysis.segmentation.threshold if threshold is None else float(threshold)
    mm = parse_scale(mm_per_pixel)
    mask = analysis.mask(t)
    overlay = analysis.overlay(mode=mode, threshold=t, opacity=float(opacity))
    report = analysis.report(t, mm)  # measures the lesions once; the table reads it from here
    comparison = scores = None
    if result.truth is not None:
        scores = overlap_scores(mask, result.truth)
        comparison = render_comparison(analysis.image.pixels, mask, result.truth,
                                       opacity=float(opacity))
        report["ground_truth"] = {"dice": round(scores["dice"], 4),
                                  "iou": round(scores["iou"], 4)}
    original = cv2.cvtColor(analysis.image.pixels, cv2.COLOR_GRAY2RGB)
    view = View(
        overlay=display_copy(overlay), original=display_copy(original),
        comparison=None if comparison is None else display_copy(comparison),
        scores=scores, measurements=report["measurements"], report=report, threshold=t,
    )
    if out_dir is not None:
        view.files = write_outputs(out_dir, mask, overlay, report)
    return view


def display_copy(rgb: np.ndarray, max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """A copy for the browser: large images are downscaled (area interpolation)."""
    height, width = rgb.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def write_png(path: Path, array: np.ndarray) -> Path:
    """Lossless PNG without metadata; (H, W) uint8 is written as 8-bit grey, (H, W, 3) as RGB."""
    # compress_level 1: lossless like any level, several times faster to write than the default
    Image.fromarray(np.ascontiguousarray(array)).save(path, format="PNG", compress_level=1)
    return path


def write_outputs(out_dir: Path, mask: np.ndarray, overlay: np.ndarray,
                  report: dict) -> dict[str, Path]:
    """``lesion_mask.png`` (0/255 at the image's size), ``overlay.png`` and ``report.json``.

    File names never contain the upload's name (it may hold a patient's name).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "mask": write_png(out_dir / "lesion_mask.png", np.where(mask, 255, 0).astype(np.uint8)),
        "overlay": write_png(out_dir / "overlay.png", overlay),
        "report": out_dir / "segmentation_report.json",
    }
    files["report"].write_text(json.dumps(report, indent=2))
    return files


def lesion_table(measurements: dict | Measurements) -> tuple[list[str], list[list[str]]]:
    """Column headers (each with its unit) and one row per lesion, largest first, as text with
    fixed decimals (mm: 0.1; px: whole pixels; share: 0.01 %; probability: 0.01).

    ``measurements`` is :meth:`Measurements.to_dict` (as in the report) or the object itself.
    """
    if isinstance(measurements, Measurements):
        measurements = measurements.to_dict()
    mm = measurements["unit"] == "mm"
    headers = [
        "Lesion",
        "Area (mm²)" if mm else "Area (px²)",
        "Share of image (%)",
        f"Longest diameter ({'mm' if mm else 'px'})",
        f"Perpendicular diameter ({'mm' if mm else 'px'})",
        "Mean probability (0-1)",
    ]
    rows = []
    for lesion in measurements["lesions"]:
        if mm:
            size = [f"{lesion['area_mm2']:,.1f}", f"{lesion['longest_diameter_mm']:.1f}",
                    f"{lesion['perpendicular_diameter_mm']:.1f}"]
        else:
            size = [f"{lesion['area_px']:,}", f"{lesion['longest_diameter_px']:.0f}",
                    f"{lesion['perpendicular_diameter_px']:.0f}"]
        rows.append([str(lesion["index"]), size[0], f"{100.0 * lesion['image_fraction']:.2f}",
                     size[1], size[2], f"{lesion['mean_probability']:.2f}"])
    return headers, rows


def segment_api(source, organ: str, threshold, segmenters: Segmenters,
                out_dir: Path) -> tuple[Path, Path, dict]:
    """The public API call: (mask PNG, overlay PNG, report) for one file."""
    organ_config = get_organ(organ)
    t = parse_threshold(threshold)  # None: the model's operating point (from its card)
    result = segment_upload(source, organ_config, segmenters)
    view = render(result, threshold=t, out_dir=out_dir)
    return view.files["mask"], view.files["overlay"], view.report


# ---------------------------------------------------------------------------------- teaching


def architecture(model) -> dict:
    """Levels of a U-Net built by :func:`unet.model.build_unet`: sizes and filter counts."""
    def shape(name):
        out = model.get_layer(name).output.shape
        return int(out[1]), int(out[2]), int(out[3])

    names = {layer.name for layer in model.layers}
    depth = sum(1 for n in names if n.startswith("enc") and n.endswith("_relu2"))
    return {
        "input": tuple(int(v) for v in model.input_shape[1:]),
        "encoder": [shape(f"enc{i}_relu2") for i in range(depth)],
        "bottleneck": shape("bottleneck_relu2"),
        "decoder": [shape(f"dec{i}_relu2") for i in range(depth)],
        "output": tuple(int(v) for v in model.output_shape[1:]),
        "parameters": int(model.count_params()),
        "layers": len(model.layers),
    }


def architecture_markdown(model, organ: OrganConfig) -> str:
    """The U-Net's shape as a text diagram and a table, read from the model itself."""
    arch = architecture(model)
    enc, dec, bottom = arch["encoder"], arch["decoder"], arch["bottleneck"]

    def cell(s):
        return f"{s[0]}×{s[1]} ×{s[2]}"

    width = max(len(cell(s)) for s in enc) + 2
    lines = ["encoder (down)" + " " * (width + 14) + "decoder (up)"]
    for i, (e, d) in enumerate(zip(enc, dec, strict=True)):
        pad = " " * (2 * i)
        arrow = "─" * max(4, 2 * (len(enc) - i) + 6) + "►"
        lines.append(f"{pad}{cell(e):<{width}}{arrow} {cell(d)}")
    lines.append(" " * (2 * len(enc) + 2) + f"{cell(bottom)}  bottleneck")
    size = arch["input"]
    rows = [f"| Input | {size[0]}×{size[1]} | {size[2]} | the image, resized |"]
    for i, s in enumerate(enc):
        rows.append(f"| Encoder level {i} | {s[0]}×{s[1]} | {s[2]} | two 3×3 convolutions, "
                    "then max-pooling halves the size |")
    rows.append(f"| Bottleneck | {bottom[0]}×{bottom[1]} | {bottom[2]} | the coarsest, most "
                "abstract view |")
    for i in reversed(range(len(dec))):
        s = dec[i]
        rows.append(f"| Decoder level {i} | {s[0]}×{s[1]} | {s[2]} | up-sampling, joined with "
                    f"encoder level {i} (skip), two 3×3 convolutions |")
    out = arch["output"]
    rows.append(f"| Output | {out[0]}×{out[1]} | {out[2]} | lesion probability per pixel "
                "(sigmoid) |")
    return "\n".join([
        f"### The {organ.display_name} U-Net",
        "",
        f"{len(enc)} levels down, a bottleneck and {len(dec)} levels up; "
        f"{arch['parameters']:,} trainable numbers (weights). The left half (encoder) shrinks "
        "the image and learns *what* is there; the right half (decoder) grows it back and "
        "decides *where*. The arrows are skip connections: they hand the fine detail of each "
        "encoder level straight to the decoder level of the same size.",
        "",
        "```text",
        *lines,
        "```",
        "",
        "| Stage | Size (px) | Filters | What happens |",
        "|---|---|---|---|",
        *rows,
    ])


_feature_models: dict[str, tuple[object, object, tuple[str, ...]]] = {}
_feature_lock = threading.Lock()


def feature_layers(model) -> tuple[str, ...]:
    """A few encoder and decoder layers to show: enc0, a middle encoder level, the bottleneck,
    a middle decoder level and dec0 (those that exist)."""
    names = {layer.name for layer in model.layers}
    depth = sum(1 for n in names if n.startswith("enc") and n.endswith("_relu2"))
    mid = depth // 2
    wanted = ["enc0_relu2", f"enc{mid}_relu2", "bottleneck_relu2", "dec0_relu2"]
    return tuple(dict.fromkeys(n for n in wanted if n in names))


def _feature_model(segmenter: Segmenter):
    """The sub-model from the input to the chosen layers, cached per organ (and model)."""
    import keras

    key = segmenter.organ.key
    with _feature_lock:
        cached = _feature_models.get(key)
        if cached is not None and cached[0] is segmenter.model:
            return cached[1], cached[2]
        names = feature_layers(segmenter.model)
        outputs = [segmenter.model.get_layer(n).output for n in names]
        sub = keras.Model(segmenter.model.input, [*outputs, segmenter.model.output])
        _feature_models[key] = (segmenter.model, sub, names)
        return sub, names


_LAYER_TITLES = {"enc": "Encoder level", "dec": "Decoder level"}


def _layer_title(name: str) -> str:
    if name.startswith("bottleneck"):
        return "Bottleneck"
    return f"{_LAYER_TITLES[name[:3]]} {name[3:].split('_')[0]}"


def colorize(values: np.ndarray, colormap: int = cv2.COLORMAP_VIRIDIS) -> np.ndarray:
    """A 2-D array min-max scaled and colour-mapped to RGB uint8."""
    values = values.astype(np.float32)
    lo, hi = float(values.min()), float(values.max())
    scaled = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    colored = cv2.applyColorMap((scaled * 255 + 0.5).astype(np.uint8), colormap)
    return cv2.cvtColor(colored, cv2.COLOR_BGR2RGB)


def feature_maps(analysis: Analysis, segmenter: Segmenter, *, per_layer: int = 4,
                 tile: int = 160) -> dict:
    """What the network sees, a few feature maps of each chosen layer, and what it outputs.

    One forward pass of the image itself (no mirror) through a sub-model of the organ's
    network. Channels shown are the ``per_layer`` most active ones (highest mean activation)
    of each layer. Returns ``{"input": RGB, "probability": RGB, "layers": [{"name", "title",
    "size": (h, w), "filters", "maps": [(RGB, caption), ...]}, ...]}``; input and probability
    are at the network's resolution, the maps are enlarged to ``tile`` pixels with
    nearest-neighbour so that their real resolution stays visible.
    """
    from unet.preprocess import to_model_input

    seg = analysis.segmentation
    crop = analysis.image.pixels[seg.field_of_view.slice]
    x = to_model_input(crop, segmenter.input_size)[None]
    sub, names = _feature_model(segmenter)
    *outputs, probability = sub(x, training=False)
    layers = []
    for name, out in zip(names, outputs, strict=True):
        act = np.asarray(out)[0]
        strongest = np.argsort(-act.mean(axis=(0, 1)), kind="stable")[:per_layer]
        maps = []
        for channel in strongest:
            image = cv2.resize(colorize(act[..., channel]), (tile, tile),
                               interpolation=cv2.INTER_NEAREST)
            maps.append((image, f"filter #{int(channel) + 1}"))
        layers.append({"name": name, "title": _layer_title(name),
                       "size": (int(act.shape[0]), int(act.shape[1])),
                       "filters": int(act.shape[-1]), "maps": maps})
    size = segmenter.input_size
    gray = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    probability = np.clip(np.asarray(probability)[0, ..., 0], 0.0, 1.0)
    heat = cv2.applyColorMap((probability * 255 + 0.5).astype(np.uint8), cv2.COLORMAP_INFERNO)
    return {
        "input": cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB),
        "layers": layers,
        "probability": cv2.cvtColor(heat, cv2.COLOR_BGR2RGB),
    }


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _percent(value, *, unit: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{100 * float(value):.1f}" + (" %" if unit else "")


_SET_NAMES = {"test": "Test split", "test_raw_frames": "Test split, uncropped scanner frames"}


def card_markdown(segmenter: Segmenter | None, organ: OrganConfig,
                  problem: str | None = None) -> str:
    """The organ's model card (data, test metrics, limits) as Markdown."""
    title = f"### Model card: {organ.display_name}"
    limits = [
        "#### Limits",
        "- A research and teaching demo, **not a medical device and not for diagnosis**.",
        "- Trained on one public data set; scanners, presets and patients unlike it may give "
        "wrong masks without warning.",
        "- The confidence is the agreement of two views of the same image (original and "
        "mirrored), not a calibrated probability of being right.",
        "- Sizes are in millimetres only when the DICOM file states its pixel spacing or you type "
        "a scale; otherwise they are in pixels.",
    ]
    if segmenter is None:
        return "\n".join([title, "", f"**Not available:** {problem or 'no model loaded.'}", "",
                          *limits])
    card = segmenter.card or {}
    if not card:
        return "\n".join([
            title, "",
            f"**No model card found.** Weights: {segmenter.source}. Without a card this is "
            "most likely an untrained model: its masks are meaningless.", "", *limits])
    lines = [title, "", f"- **Version:** `{_fmt(card.get('version'))}`",
             f"- **Weights:** {segmenter.source}",
             f"- **Intended use:** {_fmt(card.get('intended_use'))}"]
    data = card.get("dataset") or {}
    if data:
        lines.append(f"- **Data:** {_fmt(data.get('name'))} ({_fmt(data.get('layout'))}), "
                     f"{_fmt(data.get('file_count'))} files")
    split = card.get("split") or {}
    counts = split.get("counts") or {}
    if counts:
        lines.append("- **Split (images):** " + ", ".join(f"{k} {v}" for k, v in counts.items())
                     + (f"; grouped by {split['grouping']}" if split.get("grouping") else ""))
    if card.get("parameters"):
        lines.append(f"- **Parameters:** {int(card['parameters']):,}")
    inference = card.get("inference") or {}
    if inference:
        lines.append(f"- **Inference:** input {_fmt(inference.get('input_size'))} px, default "
                     f"threshold {_fmt(inference.get('threshold'), 2)}, test-time augmentation "
                     f"{', '.join(inference.get('test_time_augmentation') or []) or 'none'}")
        point = inference.get("operating_point") or {}
        if point:
            area = point.get("min_lesion_area_fraction")
            lines.append(
                f"- **Operating point** (chosen on the validation split, never on test): "
                f"threshold {_fmt(point.get('threshold'), 2)}, smallest lesion "
                f"{'n/a' if area is None else f'{100 * area:.1f} %'} of the image, minimum "
                f"peak probability {_fmt(point.get('min_peak_probability'), 2)}; validation "
                f"Dice {_fmt(point.get('val_dice'))}, false alarms on lesion-free validation "
                f"images {_percent(point.get('val_fp_rate'), unit=True)}")
    metrics = card.get("test_metrics") or {}
    if metrics:
        lines += ["", "#### Test metrics (held-out test split)", "",
                  "| Set | Images | Dice (mean, 0-1) | IoU (mean, 0-1) | Precision (0-1) | "
                  "Recall (0-1) | HD95 (px) | Missed lesions (%) | False alarms on lesion-free "
                  "images (%) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, m in metrics.items():
            if not isinstance(m, dict):
                continue
            lines.append(
                f"| {_SET_NAMES.get(name, name)} | {_fmt(m.get('images'))} | "
                f"{_fmt(m.get('dice_mean'))} | {_fmt(m.get('iou_mean'))} | "
                f"{_fmt(m.get('precision_mean'))} | {_fmt(m.get('recall_mean'))} | "
                f"{_fmt(m.get('hd95_px_mean'), 1)} | {_percent(m.get('missed_lesion_rate'))} | "
                f"{_percent(m.get('false_positive_rate_lesion_free'))} |")
    extra = card.get("limitations") or card.get("limits")
    if isinstance(extra, str):
        limits.append(f"- {extra}")
    elif isinstance(extra, list):
        limits += [f"- {item}" for item in extra]
    return "\n".join([*lines, "", *limits])


# ---------------------------------------------------------------------------------- examples


@dataclass(frozen=True)
class Example:
    path: Path
    organ: str
    label: str


def make_examples(folder: Path) -> tuple[list[Example], Path]:
    """Synthetic example uploads (never patient images) and the first one's true mask."""
    from unet.phantom import make_phantom, make_scanner_frame
    from unet.synthetic_dicom import synthetic_dicom, write_dicom

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    image, mask = make_phantom(288, 384, seed=1)
    write_png(folder / "synthetic_phantom.png", image)
    truth = write_png(folder / "synthetic_phantom_truth_mask.png",
                      np.where(mask, 255, 0).astype(np.uint8))
    frame, _, _ = make_scanner_frame(480, 640, seed=4)
    write_png(folder / "synthetic_scanner_screen.png", frame)
    dicom_image, _ = make_phantom(320, 400, seed=7)
    write_dicom(folder / "synthetic_phantom_0.1mm.dcm",
                synthetic_dicom(dicom_image, pixel_spacing_mm=0.1))
    empty, _ = make_phantom(288, 384, seed=5, lesion=False)
    write_png(folder / "synthetic_no_lesion.png", empty)
    examples = [
        Example(folder / "synthetic_phantom.png", "breast", "Synthetic phantom (PNG)"),
        Example(folder / "synthetic_scanner_screen.png", "thyroid",
                "Synthetic scanner screenshot with annotations"),
        Example(folder / "synthetic_phantom_0.1mm.dcm", "breast",
                "Synthetic DICOM, 0.1 mm/pixel (sizes in mm)"),
        Example(folder / "synthetic_no_lesion.png", "thyroid", "Synthetic phantom, no lesion"),
    ]
    return examples, truth


def host_examples(folder: Path) -> list[Example]:
    """Images a host put in ``examples/``: ``examples/<organ>/*`` or files whose name contains
    an organ's name (others count as breast). Masks (``*_mask*``) are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.rglob("*")):
        name = path.name.lower()
        if (not path.is_file() or path.suffix.lower() not in UPLOAD_SUFFIXES
                or "_mask" in name or name.startswith(".")):
            continue
        parts = [p.lower() for p in path.relative_to(folder).parts]
        organ = next((k for k in ORGANS if k in parts[:-1] or k in name), "breast")
        found.append(Example(path, organ, f"{path.stem} ({ORGANS[organ].display_name})"))
    return found


__all__ = [
    "Example", "ModelUnavailableError", "Result", "Scratch",
    "Segmenters", "View", "architecture", "architecture_markdown", "card_markdown",
    "default_threshold", "display_copy", "feature_maps", "host_examples", "is_trained",
    "lesion_table",
    "make_examples", "overlap_scores", "parse_frame", "parse_scale", "parse_threshold",
    "read_truth", "render", "scratch", "segment_api", "segment_upload", "write_outputs",
]
