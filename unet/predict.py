"""Batch segmentation: `python -m unet.predict --organ breast INPUT... --out DIR`.

Takes files and folders (searched recursively), writes `<stem>_mask.png` (0/255, the input's own
size) and optionally `<stem>_overlay.png` for each image, keeping each file's sub-folder relative
to the folder it was found in (BUSI's `benign/benign (3).png` -> `DIR/benign/benign (3)_mask.png`),
and one `measurements.csv`. A file that cannot be read is reported and skipped; the exit code is 0
when every file was segmented, 1 when any failed, 2 when nothing could be run at all.

Per file (one row per lesion, or one row with lesion 0 when none is found), besides the
measurements, the CSV carries the same trust signals as the app and its JSON report:
`confidence` (the quality estimate: expected Dice overlap of the mask at the model's own
threshold with an expert outline, 0-1; when the model card has no fitted estimator, the mirror
agreement), `low_confidence` (true/false) and `organ_warning` (true/false: the image does not
look like the selected organ's scans), with the warning's words in `organ_warning_text`.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from unet.errors import ImageInputError

UPLOAD_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".dcm", ".dicom"}
CSV_FIELDS = [
    "file", "status", "message", "unit", "lesion", "area_px", "area_mm2", "image_fraction",
    "longest_diameter_px", "perpendicular_diameter_px", "longest_diameter_mm",
    "perpendicular_diameter_mm", "mean_probability", "confidence", "low_confidence",
    "organ_warning", "organ_warning_text",
]


def collect_inputs(inputs: list[str]) -> list[tuple[Path, Path]]:
    """(file, output-relative path without suffix) for every input file or image in a folder."""
    found = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.is_file() and f.suffix.lower() in UPLOAD_SUFFIXES and not _is_mask(f):
                    found.append((f, f.relative_to(path).with_suffix("")))
        elif path.exists():
            found.append((path, Path(path.stem)))
        else:
            print(f"error: {path} does not exist", file=sys.stderr)
    return found


def _is_mask(path: Path) -> bool:
    stem = path.stem.lower()
    return stem.endswith("_mask") or "_mask_" in stem


def _write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    if not cv2.imwrite(str(tmp), array):
        raise OSError(f"could not write {path}")
    os.replace(tmp, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m unet.predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+",
                   help="image files (PNG, JPEG, BMP, TIFF, WebP, DICOM) or folders")
    p.add_argument("--organ", required=True, help="breast or thyroid")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--threshold", type=float, default=None, help="probability threshold (0-1)")
    p.add_argument("--overlay", action="store_true", help="also write <stem>_overlay.png")
    p.add_argument("--weights", default=None, help="a .keras file instead of the bundled weights")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)

    from tqdm import tqdm

    from unet.analysis import analyze
    from unet.inference.registry import get_organ
    from unet.inference.segmenter import Segmenter

    try:
        organ = get_organ(args.organ)
    except ImageInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.threshold is not None and not 0.0 < args.threshold < 1.0:
        print("error: --threshold must be between 0 and 1", file=sys.stderr)
        return 2
    files = collect_inputs(args.inputs)
    if not files:
        print("error: no image files found in the inputs", file=sys.stderr)
        return 2
    try:
        segmenter = Segmenter(organ, weights=args.weights)
    except (OSError, ValueError) as exc:
        print(f"error: cannot load the {organ.display_name} model: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{organ.display_name} model: {segmenter.source}", file=sys.stderr)
    failures = 0
    rows = []
    for path, rel in tqdm(files, desc="segmenting", unit="image", disable=args.no_progress,
                          file=sys.stderr):
        try:
            result = analyze(path, organ, segmenter=segmenter)
            mask = result.mask(args.threshold)
            _write_png(out / rel.parent / f"{rel.name}_mask.png", mask.astype(np.uint8) * 255)
            if args.overlay:
                rgb = result.overlay(threshold=args.threshold)
                _write_png(out / rel.parent / f"{rel.name}_overlay.png", rgb[..., ::-1])
            m = result.measurements(args.threshold)
            quality = result.quality
            warning = result.organ_warning
            base = {"file": str(path), "status": "ok", "message": "", "unit": m.unit,
                    "confidence": round(float(result.segmentation.confidence
                                              if quality is None else quality), 4),
                    "low_confidence": "true" if result.low_confidence else "false",
                    "organ_warning": "true" if warning else "false",
                    "organ_warning_text": warning or ""}
            if not m.lesions:
                rows.append({**base, "message": "no lesion found", "lesion": 0})
            for lesion in m.lesions:
                d = lesion.to_dict() if hasattr(lesion, "to_dict") else dict(vars(lesion))
                rows.append({**base, "lesion": d["index"],
                             **{k: d.get(k) for k in CSV_FIELDS if k in d and k != "file"}})
        except ImageInputError as exc:
            failures += 1
            tqdm.write(f"skipped {path}: {exc}", file=sys.stderr)
            rows.append({"file": str(path), "status": "error", "message": str(exc)})
    with open(out / "measurements.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    done = len(files) - failures
    print(f"{done} of {len(files)} images segmented; results in {out}"
          + (f"; {failures} failed (see measurements.csv)" if failures else ""), file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
