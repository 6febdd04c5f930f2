"""Several images at once, for the web app's Batch tab: one row per image, overlay thumbnails,
and one zip of masks, overlays and a CSV. A file that cannot be used becomes a row with its
error; the batch goes on. No Gradio here."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from unet.errors import ImageInputError
from unet.inference.models import ModelUnavailableError, Segmenters
from unet.io.uploads import UPLOAD_SUFFIXES
from webapp.downloads import write_png
from webapp.result import segment_upload
from webapp.trust_text import quality_cells, quality_facts, quality_report

MAX_IMAGES = 100  # per batch; more are listed as not processed
MAX_UNZIPPED_BYTES = 500 * 2**20
THUMBNAIL_SIDE = 256


@dataclass
class BatchResult:
    headers: list[str]
    rows: list[list[str]]
    thumbnails: list[tuple[np.ndarray, str]] = field(default_factory=list)  # (RGB, caption)
    archive: Path | None = None  # masks/, overlays/, measurements.csv
    failed: int = 0


def expand_inputs(paths: Iterable[str | Path], workdir: Path) -> list[tuple[str, Path | None,
                                                                          str]]:
    """(name shown, file, error) per image: zip archives are unpacked into ``workdir`` (image
    files only, no paths outside it, masks ``*_mask*`` skipped)."""
    items: list[tuple[str, Path | None, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.suffix.lower() != ".zip":
            items.append((path.name, path, ""))
            continue
        try:
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()]
                if sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
                    items.append((path.name, None, "The zip file unpacks to more than 500 MB; "
                                  "please split it."))
                    continue
                for i, member in enumerate(members):
                    name = Path(member.filename).name
                    if (Path(name).suffix.lower() not in UPLOAD_SUFFIXES or "_mask" in
                            name.lower() or name.startswith(".")):
                        continue
                    target = workdir / f"{i:04d}{Path(name).suffix.lower()}"
                    target.write_bytes(archive.read(member))
                    items.append((member.filename, target, ""))
        except (zipfile.BadZipFile, OSError):
            items.append((path.name, None, "This zip file is damaged and could not be opened."))
    return items


def _size_text(lesion: dict, unit: str) -> str:
    if unit == "mm":
        return (f"{lesion['longest_diameter_mm']:.1f} × "
                f"{lesion['perpendicular_diameter_mm']:.1f} mm")
    return (f"{lesion['longest_diameter_px']:.0f} × "
            f"{lesion['perpendicular_diameter_px']:.0f} px")


def _thumbnail(rgb: np.ndarray) -> np.ndarray:
    scale = THUMBNAIL_SIDE / max(rgb.shape[:2])
    if scale >= 1:
        return rgb
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _stem(name: str, index: int) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(name).stem)
    return f"{index + 1:03d}_{safe[:60] or 'image'}"


CSV_COLUMNS = ["file", "organ", "status", "lesion_count", "largest_size", "unit",
               "largest_area", "quality", "low_confidence", "organ_warning", "error"]


def run_batch(paths: Iterable[str | Path], organ: str, segmenters: Segmenters, out_dir: Path,
              *, threshold: float | None = None,
              progress: Callable[[int, int, str], None] | None = None) -> BatchResult:
    """Segment every image (the organ's model, its own threshold unless given) and write the
    zip; ``progress(done, total, name)`` is called before each image."""
    out_dir = Path(out_dir)
    work = out_dir / "unpacked"
    work.mkdir(parents=True, exist_ok=True)
    items = expand_inputs(paths, work)
    headers = ["Image", "Result", "Lesions", "Largest (longest × perpendicular)",
               "Largest area", "Quality", "Warnings"]
    rows, records, thumbnails, failed = [], [], [], 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, (name, path, error) in enumerate(items):
            if progress is not None:
                progress(index, len(items), name)
            record = dict.fromkeys(CSV_COLUMNS, "")
            record.update(file=name, organ=organ)
            if not error and index >= MAX_IMAGES:
                error = f"Not processed: at most {MAX_IMAGES} images per batch."
            if not error:
                try:
                    result = segment_upload(path, organ, segmenters)
                    analysis = result.analysis
                    t = analysis.segmentation.threshold if threshold is None else threshold
                    mask = analysis.mask(t)
                    overlay = analysis.overlay(threshold=t)
                    report = analysis.report(t)
                except (ImageInputError, ModelUnavailableError) as exc:
                    error = str(exc)
            if error:
                failed += 1
                record.update(status="error", error=error)
                rows.append([name, "error", "", "", "", "", error])
                records.append(record)
                continue
            m = report["measurements"]
            facts = quality_facts(analysis, report)
            cells = quality_cells(facts)
            largest = m["lesions"][0] if m["lesions"] else None
            area = "" if largest is None else (
                f"{largest['area_mm2']:,.1f} mm²" if m["unit"] == "mm"
                else f"{largest['area_px']:,} px²")
            size = "" if largest is None else _size_text(largest, m["unit"])
            quality_value = next(v for k, v in cells.items() if k != "Warnings")
            rows.append([name, "lesion found" if largest else "no lesion found",
                         str(len(m["lesions"])), size, area, quality_value, cells["Warnings"]])
            trust = quality_report(facts)
            record.update(status="ok", lesion_count=len(m["lesions"]), largest_size=size,
                          unit=m["unit"], largest_area=area, quality=quality_value,
                          low_confidence=str(trust["low_confidence"]).lower(),
                          organ_warning=trust["organ_warning"] or "")
            records.append(record)
            stem = _stem(name, index)
            for folder, array in (("masks", np.where(mask, 255, 0).astype(np.uint8)),
                                  ("overlays", overlay)):
                png = write_png(work / f"{stem}_{folder}.png", array)
                archive.write(png, f"{folder}/{stem}_{folder[:-1]}.png")
                png.unlink()
            thumbnails.append((_thumbnail(overlay), f"{name}: {rows[-1][1]}"))
        table = io.StringIO()
        writer = csv.DictWriter(table, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(records)
        archive.writestr("measurements.csv", table.getvalue())
    zip_path = out_dir / f"batch_{organ}_segmentations.zip"
    zip_path.write_bytes(buffer.getvalue())
    if progress is not None:
        progress(len(items), len(items), "")
    return BatchResult(headers, rows, thumbnails, zip_path, failed)
