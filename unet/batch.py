"""Many images, one loop: the command line (``unet.predict``) and the web app's Batch tab both
segment their files here and write the same measurements CSV.

Inputs are files, folders (searched recursively) and zip archives (unpacked into a work folder:
image files only, never a path outside it). Mask files beside their scans and hidden files are
skipped (``unet.io.uploads.is_upload``). A file that cannot be used becomes an item with its
error, in words for a clinician; the loop goes on.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from unet.analysis import Analysis, analyze, lesion_free_estimate
from unet.errors import ImageInputError
from unet.files import write_atomic
from unet.inference.prompts import Prompts
from unet.inference.segmenter import Segmenter
from unet.io.uploads import UPLOAD_SUFFIXES, is_upload

MAX_UNZIPPED_BYTES = 500 * 2**20

# One row per lesion (or one row with lesion 0 when none is found, or one with the error), with
# numbers, not display text. ``confidence``: the quality estimate (the expected Dice overlap of
# the mask at the model's own threshold with an expert outline, 0-1) or, where the model card
# has no fitted estimator, the agreement of the image's and its mirror image's masks, as in the
# JSON report; ``confidence_source`` says which (and, for an empty answer, that the estimate is
# the chance that the scan has no lesion; beside an organ warning, that it does not apply).
CSV_FIELDS = [
    "file", "organ", "status", "message", "unit", "lesion", "area_px", "area_mm2",
    "image_fraction", "longest_diameter_px", "perpendicular_diameter_px",
    "longest_diameter_mm", "perpendicular_diameter_mm", "mean_probability", "threshold",
    "confidence", "confidence_source", "low_confidence", "organ_warning",
    "organ_warning_text", "prompted", "outlined_by", "candidates",
]


@dataclass
class Item:
    """One image to segment: its name as the user knows it (a path relative to the folder or
    zip it was found in), where to read it, and an error when it cannot be read at all."""

    name: str
    path: Path | None
    error: str = ""
    found_as: str = ""  # the path relative to the folder or zip it was found in (default: name)

    @property
    def relative(self) -> PurePosixPath:
        """The output path without suffix (``benign/benign (3).png`` -> ``benign/benign (3)``)."""
        found = PurePosixPath(self.found_as or PurePosixPath(self.name).name)
        # never outside the output folder, whatever a zip member's name says
        parts = [p for p in found.parts if p not in ("", ".", "..", "/")] or ["image"]
        return PurePosixPath(*parts).with_suffix("")


@dataclass
class Outcome:
    item: Item
    analysis: Analysis | None
    threshold: float | None  # the threshold of the delivered mask
    error: str = ""
    organ: str = ""  # the organ whose model ran (or would have run) on it

    @property
    def ok(self) -> bool:
        return self.analysis is not None


def collect_inputs(inputs: Iterable[str | Path], workdir: Path | None = None, *,
                   full_paths: bool = False) -> list[Item]:
    """Every image in ``inputs``: files as given, folders searched recursively, zip archives
    unpacked into ``workdir`` (required when a zip is given). Items are named by their path
    relative to the folder or zip they were found in, or with ``full_paths`` (the CLI, whose
    user knows the paths) by the path as found on disk."""
    items: list[Item] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                rel = f.relative_to(path).as_posix()
                if f.is_file() and is_upload(rel):
                    items.append(Item(str(f) if full_paths else rel, f, found_as=rel))
        elif path.suffix.lower() == ".zip" and path.is_file():
            items.extend(_unzip(path, workdir))
        elif path.is_file():
            items.append(Item(str(path) if full_paths else path.name, path))
        else:
            items.append(Item(str(path) if full_paths else path.name, None,
                              f"{path} does not exist." if full_paths
                              else f"{path.name} does not exist."))
    return items


def _unzip(path: Path, workdir: Path | None) -> list[Item]:
    if workdir is None:
        raise ValueError("a work folder is needed to unpack a zip file")
    workdir.mkdir(parents=True, exist_ok=True)
    items = []
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
                return [Item(path.name, None, "The zip file unpacks to more than 500 MB; please "
                                              "split it.")]
            for i, member in enumerate(members):
                if not is_upload(member.filename) or "__MACOSX" in member.filename:
                    continue
                # written under a number, never under the member's own path
                suffix = PurePosixPath(member.filename).suffix.lower()
                target = workdir / f"{len(items):04d}_{i:04d}{suffix}"
                target.write_bytes(archive.read(member))
                items.append(Item(member.filename, target, found_as=member.filename))
    except (zipfile.BadZipFile, OSError):
        return [Item(path.name, None, "This zip file is damaged and could not be opened.")]
    return items


def segment_items(items: Iterable[Item], segmenter: Segmenter, *,
                  threshold: float | None = None, limit: int | None = None,
                  progress: Callable[[int, str], None] | None = None,
                  prompts: Prompts | Callable[[Item], tuple[Prompts, str] | None] | None = None
                  ) -> Iterator[Outcome]:
    """Segment each item with ``segmenter`` (at ``threshold``, default the model's own) and
    yield its outcome; items past ``limit`` are not run. ``progress(index, name)`` is called
    before each item. ``prompts`` (boxes and clicks, in each image's pixels) guide every
    image's mask (``unet.inference.prompts``), or, as a function of the item, each image's
    own with where they came from, named in their errors (None: automatic)."""
    for index, item in enumerate(items):
        if progress is not None:
            progress(index, item.name)
        error = item.error
        if not error and limit is not None and index >= limit:
            error = f"Not processed: at most {limit} images per batch."
        if error:
            yield Outcome(item, None, threshold, error, segmenter.organ.key)
            continue
        mine, where = (prompts(item) or (None, "")) if callable(prompts) else (prompts, "")
        try:
            analysis = analyze(item.path, segmenter=segmenter)
        except ImageInputError as exc:
            yield Outcome(item, None, threshold, str(exc), segmenter.organ.key)
            continue
        if mine:
            try:
                analysis = analysis.guide(mine, segmenter)
            except ImageInputError as exc:  # e.g. a prompt outside this image
                message = f"{where}: {exc}" if where else str(exc)
                yield Outcome(item, None, threshold, message, segmenter.organ.key)
                continue
        t = analysis.segmentation.threshold if threshold is None else float(threshold)
        yield Outcome(item, analysis, t, organ=segmenter.organ.key)


def csv_rows(outcome: Outcome, report: dict | None = None) -> list[dict]:
    """The measurements CSV's rows for one outcome (see :data:`CSV_FIELDS`); ``report``: its
    ``analysis.report(threshold)`` when the caller has it already."""
    organ = outcome.organ or (outcome.analysis.organ.key if outcome.ok else "")
    if not outcome.ok:
        return [{"file": outcome.item.name, "organ": organ, "status": "error",
                 "message": outcome.error}]
    analysis, t = outcome.analysis, outcome.threshold
    report = analysis.report(t) if report is None else report
    m = report["measurements"]
    warning = analysis.organ_warning
    base = {"file": outcome.item.name, "organ": organ, "status": "ok",
            "message": "; ".join(filter(None, (
                unanswered_message(report.get("prompts_without_outline") or {}),
                unlike_message(report.get("prompts_unlike_model") or []),
                "; ".join(f"click {c['x']},{c['y']} outline reaches the click network's window "
                          "edge" for c in report.get("clicks_cut_by_window") or [])))),
            "unit": m["unit"], "threshold": round(float(t), 4),
            "confidence": report["confidence"],
            "confidence_source": confidence_source(report),
            "low_confidence": "true" if report["low_confidence"] else "false",
            "organ_warning": "true" if warning else "false",
            "organ_warning_text": warning or "",
            "prompted": "true" if report["guided_by_user"] else "false",
            "candidates": len(report["candidates"])}
    if not m["lesions"]:
        said = "; ".join(t for t in ("no lesion found", base["message"]) if t)
        return [{**base, "message": said, "lesion": 0}]
    return [{**base, "lesion": lesion["index"],
             **{k: v for k, v in lesion.items() if k in CSV_FIELDS and k not in base}}
            for lesion in m["lesions"]]


def confidence_source(report: dict) -> str:
    """What the CSV's ``confidence`` is: the quality estimate's expected overlap, or for an
    empty answer the chance that the scan has no lesion (its ``confidence_meaning``), noted
    where the organ check says the estimate does not apply; or the mirror agreement."""
    if report["quality"] is None:
        return "mirror agreement"
    said = ("quality estimate: chance of no lesion"
            if lesion_free_estimate(report)
            else "quality estimate: expected overlap")
    return said + (" (not meaningful: organ warning)" if report.get("organ_warning") else "")


def unanswered_message(unanswered: dict) -> str:
    """``box 1,2,30,40 found no lesion; click 3,4 found no lesion``: the prompts of a guided
    report's ``prompts_without_outline``, for the CSV's message column; '' where none."""
    said = [f"box {b['x0']},{b['y0']},{b['x1']},{b['y1']} found no lesion"
            for b in unanswered.get("boxes") or []]
    said += [f"click {c['x']},{c['y']} found no lesion" for c in unanswered.get("clicks") or []]
    return "; ".join(said)


def unlike_message(unlike: list[dict]) -> str:
    """``box 1,2,30,40 outlined another region than the model (Dice 0.12)``: a guided report's
    ``prompts_unlike_model``, for the CSV's message column; '' where none."""
    return "; ".join(
        (f"box {p['x0']},{p['y0']},{p['x1']},{p['y1']}" if p["kind"] == "box"
         else f"click {p['x']},{p['y']}")
        + f" outlined another region than the model (Dice {p['dice_with_model']:.2f})"
        for p in unlike)


BOX_COLUMNS = ("x_min", "y_min", "x_max", "y_max")
POINT_COLUMNS = ("x", "y", "label")


def read_prompts_csv(path: Path) -> dict[str, tuple[Prompts, str]]:
    """Prompts per image from a CSV: the header ``file,x_min,y_min,x_max,y_max`` (boxes) or
    ``file,x,y,label`` (clicks; label 1 a lesion, 0 not a lesion), or both sets of columns
    with the unused ones left empty; one prompt a row, several rows for one file allowed.
    Returns ``{file: (prompts, "rows 2, 3")}``. Malformed rows raise one
    :class:`ImageInputError` naming each of them (all at once, to be mended in one go)."""
    from unet.inference.prompts import BoxPrompt, ClickPrompt

    try:
        rows = list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8-sig"))))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ImageInputError(f"The prompts file {path} cannot be read ({type(exc).__name__})."
                              ) from None
    header = set(rows[0]) if rows else set()
    if "file" not in header or not (set(BOX_COLUMNS) <= header or set(POINT_COLUMNS) <= header):
        raise ImageInputError(f"The prompts file {path} needs the header "
                              "file,x_min,y_min,x_max,y_max (boxes) or file,x,y,label (clicks).")
    found: dict[str, tuple[list, list, list]] = {}
    bad: list[str] = []
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        name = (row.get("file") or "").strip()
        try:
            if not name:
                raise ValueError("no file")
            boxes, clicks, numbers = found.setdefault(name, ([], [], []))
            if any((row.get(k) or "").strip() for k in BOX_COLUMNS):
                boxes.append(BoxPrompt(*(int(round(float(row[k]))) for k in BOX_COLUMNS)))
            else:
                label = int(float(row["label"]))
                if label not in (0, 1):
                    raise ValueError("label")
                clicks.append(ClickPrompt(int(round(float(row["x"]))),
                                          int(round(float(row["y"]))), lesion=label == 1))
            numbers.append(str(number))
        except (KeyError, TypeError, ValueError):
            bad.append(str(number))
    if bad:
        raise ImageInputError(
            f"{Path(path).name} row{'s' if len(bad) > 1 else ''} {', '.join(bad)} "
            f"{'are' if len(bad) > 1 else 'is'} not understood: give file and "
            "x_min,y_min,x_max,y_max (a box) or x,y,label (a click, label 1 or 0), numbers in "
            "the image's pixels. Nothing was segmented.")
    return {name: (Prompts(tuple(b), tuple(c)),
                   f"{Path(path).name} row{'s' if len(n) > 1 else ''} {', '.join(n)}")
            for name, (b, c, n) in found.items()}


def csv_text(rows: Iterable[dict]) -> str:
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return table.getvalue()


def write_csv(path: Path, rows: Iterable[dict]) -> Path:
    """The measurements CSV, written atomically."""
    return write_atomic(path, csv_text(rows))


__all__ = ["CSV_FIELDS", "Item", "Outcome", "UPLOAD_SUFFIXES", "collect_inputs", "csv_rows",
           "csv_text", "segment_items", "write_csv"]
