"""The Batch tab: several images (or a zip of them) through the loop the command line uses
(``unet.batch``): one row per image, overlay thumbnails, and one zip with the masks, the
overlays and the same ``measurements.csv`` as ``python -m unet.predict`` writes. A file that
cannot be used becomes a row with its reason; the batch goes on."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import pandas as pd

from unet.batch import Outcome, collect_inputs, csv_rows, csv_text, segment_items
from unet.files import mask_png, png_bytes, write_atomic
from unet.inference.models import ModelUnavailableError, Segmenters
from unet.inference.registry import get_organ
from webapp.scratch import scratch
from webapp.settings import DEFAULT_ORGAN, MAX_BATCH_IMAGES, ORGAN_CHOICES, PRIVATE, UPLOAD_TYPES
from webapp.trust_text import check_first, quality_cells, quality_facts
from webapp.ui import Ui, log_failure

THUMBNAIL_SIDE = 256
# short words: each column is narrow, and a heading word broken in two is hard to read
HEADERS = ["Image", "Result", "Lesions", "Largest (long × short axis)", "Largest area",
           "Quality", "Warnings"]


@dataclass
class BatchResult:
    rows: list[list[str]]  # the table shown, one row per image
    thumbnails: list[tuple[np.ndarray, str]] = field(default_factory=list)  # (RGB, caption)
    archive: Path | None = None  # masks/, overlays/, measurements.csv
    failed: int = 0
    headers: list[str] = field(default_factory=lambda: list(HEADERS))


def _thumbnail(rgb: np.ndarray) -> np.ndarray:
    scale = THUMBNAIL_SIDE / max(rgb.shape[:2])
    if scale >= 1:
        return rgb
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _stem(name: str, index: int) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(name).stem)
    return f"{index + 1:03d}_{safe[:60] or 'image'}"


def table_row(outcome: Outcome, report: dict | None) -> list[str]:
    """One row of the table shown (display text, units stated); ``report``: the outcome's
    ``analysis.report(threshold)`` (None for an error)."""
    if not outcome.ok:
        return [outcome.item.name, "error", "", "", "", "", outcome.error]
    m = report["measurements"]
    largest = m["lesions"][0] if m["lesions"] else None
    if largest is None:
        size = area = ""
    elif m["unit"] == "mm":
        size = (f"{largest['longest_diameter_mm']:.1f} × "
                f"{largest['perpendicular_diameter_mm']:.1f} mm")
        area = f"{largest['area_mm2']:,.1f} mm²"
    else:
        size = (f"{largest['longest_diameter_px']:.0f} × "
                f"{largest['perpendicular_diameter_px']:.0f} px")
        area = f"{largest['area_px']:,} px²"
    facts = quality_facts(outcome.analysis, report)
    cells = quality_cells(facts)
    quality = next(v for k, v in cells.items() if k != "Warnings")
    count = len(m["lesions"])
    if facts.organ_warning:  # on an image unlike the model's scans a marked region is no finding
        result = check_first(count)
    else:
        result = "lesion found" if largest else "no lesion found"
    return [outcome.item.name, result, str(count), size, area, quality, cells["Warnings"]]


def run_batch(paths, organ: str, models: Segmenters, out_dir: Path, *,
              threshold: float | None = None,
              progress: Callable[[int, int, str], None] | None = None) -> BatchResult:
    """Segment every image with the organ's model (its own threshold unless given) and write
    the zip; ``progress(done, total, name)`` is called before each image. Raises
    :class:`ModelUnavailableError` when the organ's model cannot be loaded."""
    segmenter = models.get(organ)  # the organ, resolved once for the whole batch
    out_dir = Path(out_dir)
    items = collect_inputs(paths, out_dir / "unpacked")
    result, records = BatchResult([]), []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        report = None if progress is None else (lambda i, name: progress(i, len(items), name))
        outcomes = segment_items(items, segmenter, threshold=threshold, limit=MAX_BATCH_IMAGES,
                                 progress=report)
        for index, outcome in enumerate(outcomes):
            # measured once: the table and the CSV read the same report
            report = outcome.analysis.report(outcome.threshold) if outcome.ok else None
            records.extend(csv_rows(outcome, report))
            result.rows.append(table_row(outcome, report))
            if not outcome.ok:
                result.failed += 1
                continue
            mask = outcome.analysis.mask(outcome.threshold)
            overlay = outcome.analysis.overlay(threshold=outcome.threshold)
            stem = _stem(outcome.item.name, index)
            archive.writestr(f"masks/{stem}_mask.png", png_bytes(mask_png(mask)))
            archive.writestr(f"overlays/{stem}_overlay.png", png_bytes(overlay))
            result.thumbnails.append((_thumbnail(overlay),
                                      f"{outcome.item.name}: {result.rows[-1][1]}"))
        archive.writestr("measurements.csv", csv_text(records))
    result.archive = write_atomic(out_dir / f"batch_{segmenter.organ.key}_segmentations.zip",
                                  buffer.getvalue())
    if progress is not None:
        progress(len(items), len(items), "")
    return result


def batch_for_ui(models: Segmenters, files, organ: str, progress=None) -> dict:
    """The Batch tab's outputs: status, table, thumbnails, zip download."""
    off = gr.DownloadButton(value=None, interactive=False)
    paths = [f if isinstance(f, str) else getattr(f, "name", f) for f in (files or [])]
    if not paths:
        return {"batch_status": "Add some images (or a zip of them) first.",
                "batch_table": None, "batch_gallery": None, "batch_download": off}

    def report(done, total, name):
        if progress is not None:
            progress((done, total), desc="Segmenting" if done < total else "Writing the zip")

    try:
        result = run_batch(paths, organ, models, scratch().new_dir(), progress=report)
    except ModelUnavailableError as exc:
        return {"batch_status": f"⚠️ {exc}", "batch_table": None, "batch_gallery": None,
                "batch_download": off}
    except Exception as exc:
        log_failure("batch failed", exc)
        return {"batch_status": "⚠️ Something went wrong while running this batch. Please try "
                                "again.",
                "batch_table": None, "batch_gallery": None, "batch_download": off}
    n = len(result.rows)
    status = (f"**{n - result.failed} of {n} image{'s' if n != 1 else ''} segmented** with the "
              f"{get_organ(organ).display_name} model"
              + (f"; {result.failed} could not be used (see the table)." if result.failed
                 else "."))
    return {"batch_status": status,
            "batch_table": pd.DataFrame(result.rows, columns=result.headers),
            "batch_gallery": result.thumbnails,
            "batch_download": gr.DownloadButton(value=str(result.archive), interactive=True)}


def batch_tab(ui: Ui) -> None:
    with gr.Tab("Batch", id="batch"):
        gr.Markdown("Segment several images at once (or a zip of them), for teaching and "
                    "research: one row per image, overlay thumbnails, and one zip with the "
                    "masks, the overlays and a CSV of the measurements. A file that cannot be "
                    "read gets a row with the reason; the others still run.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                ui.batch_organ = gr.Radio(ORGAN_CHOICES, value=DEFAULT_ORGAN, label="Organ",
                                          elem_id="batch-organ")
                ui.batch_files = gr.File(label="Images or a zip", file_count="multiple",
                                         file_types=[*UPLOAD_TYPES, ".zip"], height=160,
                                         elem_id="batch-files")
                ui.batch_run = gr.Button("Segment all", variant="primary", elem_id="batch-run")
                ui.batch_status = gr.Markdown("", elem_id="batch-status")
                ui.batch_download = gr.DownloadButton("Masks, overlays and CSV (zip)",
                                                      interactive=False,
                                                      elem_id="batch-download")
            with gr.Column(scale=3, min_width=360):
                ui.batch_table = gr.Dataframe(
                    label="One row per image", interactive=False, wrap=True, max_height=420,
                    elem_id="batch-table",
                    column_widths=["20%", "13%", "11%", "14%", "11%", "11%", "20%"])
                ui.batch_gallery = gr.Gallery(label="Overlays", columns=4, height="auto",
                                              object_fit="contain", elem_id="batch-gallery")


def wire_batch_tab(ui: Ui, models: Segmenters) -> None:
    def run(values, context):
        return batch_for_ui(models, values["batch_files"], values["batch_organ"],
                            context.progress)

    ui.wire(ui.batch_run.click, run, ["batch_files", "batch_organ"],
            ["batch_status", "batch_table", "batch_gallery", "batch_download"],
            with_progress=True, concurrency_id="model", concurrency_limit=1, **PRIVATE)
