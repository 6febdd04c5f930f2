"""Batch segmentation: `python -m unet.predict --organ breast INPUT... --out DIR`.

Takes files, folders (searched recursively) and zip archives, writes `<stem>_mask.png` (0/255, the
input's own
size) and optionally `<stem>_overlay.png` for each image, keeping each file's sub-folder relative
to the folder it was found in (BUSI's `benign/benign (3).png` -> `DIR/benign/benign (3)_mask.png`),
and one `measurements.csv` (the same file as the web app's Batch tab writes, `unet.batch`). A file
that cannot be read is reported and skipped; the exit code is 0
when every file was segmented, 1 when any failed, 2 when nothing could be run at all.

Per file (one row per lesion, or one row with lesion 0 when none is found), besides the
measurements, the CSV carries the same trust signals as the app and its JSON report:
`confidence` (the quality estimate: expected Dice overlap of the mask at the model's own
threshold with an expert outline, 0-1; when the model card has no fitted estimator, the mirror
agreement; `confidence_source` says which), `low_confidence` (true/false) and `organ_warning`
(true/false: the image does not
look like the selected organ's scans), with the warning's words in `organ_warning_text`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from unet.errors import ImageInputError
from unet.files import mask_png, write_png
from unet.io.uploads import UPLOAD_SUFFIXES


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m unet.predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+",
                   help=f"image files ({', '.join(UPLOAD_SUFFIXES)}), folders or zip files")
    p.add_argument("--organ", required=True, help="breast or thyroid")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--threshold", type=float, default=None, help="probability threshold (0-1)")
    p.add_argument("--overlay", action="store_true", help="also write <stem>_overlay.png")
    p.add_argument("--weights", default=None, help="a .keras file instead of the bundled weights")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--box", action="append", default=[], metavar="X0,Y0,X1,Y1",
                   help="a box around a lesion, in the image's pixels (x right, y down); the "
                        "outline is found inside it. Repeat for several lesions. One image only")
    p.add_argument("--click", action="append", default=[], metavar="X,Y",
                   help="a click on a lesion (adds the region under it). One image only")
    p.add_argument("--not-lesion", action="append", default=[], metavar="X,Y",
                   help="a click on a marked region that is not a lesion (removes it)")
    p.add_argument("--prompts", default=None, metavar="FILE.csv",
                   help="prompts for several images: a CSV with the header "
                        "file,x_min,y_min,x_max,y_max (boxes) or file,x,y,label (clicks), "
                        "file as found in the inputs (relative path or name); images without "
                        "a row are segmented automatically")
    args = p.parse_args(argv)

    from tqdm import tqdm

    from unet.batch import (
        collect_inputs,
        csv_rows,
        read_prompts_csv,
        segment_items,
        write_csv,
    )
    from unet.inference.registry import get_organ
    from unet.inference.segmenter import Segmenter
    from unet.overlay_legend import labelled_overlay

    try:
        organ = get_organ(args.organ)
    except ImageInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.threshold is not None and not 0.0 < args.threshold < 1.0:
        print("error: --threshold must be between 0 and 1", file=sys.stderr)
        return 2
    try:
        prompts = _prompts(args)
        per_file = read_prompts_csv(Path(args.prompts)) if args.prompts else {}
    except ImageInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if prompts and per_file:
        print("error: give --prompts FILE.csv or --box/--click/--not-lesion, not both",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="unet-predict-") as work:
        items = collect_inputs(args.inputs, Path(work), full_paths=True)
        if prompts and len(items) != 1:
            print("error: --box, --click and --not-lesion are in one image's pixels: give "
                  "exactly one image with them", file=sys.stderr)
            return 2
        for item in items:
            if item.path is None:
                print(f"error: {item.error}", file=sys.stderr)
        if not any(item.path is not None for item in items):
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
        rows, failures = [], 0
        if per_file:
            unused = set(per_file) - {key for item in items for key in _keys(item)}
            for name in sorted(unused):
                print(f"warning: {per_file[name][1]}: no input image is named {name!r}",
                      file=sys.stderr)
            prompts = _lookup(per_file)
        outcomes = segment_items(items, segmenter, threshold=args.threshold, prompts=prompts)
        for outcome in tqdm(outcomes, total=len(items), desc="segmenting", unit="image",
                            disable=args.no_progress, file=sys.stderr):
            report = outcome.analysis.report(outcome.threshold) if outcome.ok else None
            rows.extend(csv_rows(outcome, report))
            if not outcome.ok:
                failures += 1
                tqdm.write(f"skipped {outcome.item.name}: {outcome.error}", file=sys.stderr)
                continue
            rel = outcome.item.relative
            target = out / rel.parent / rel.name
            write_png(target.with_name(f"{rel.name}_mask.png"),
                      mask_png(outcome.analysis.mask(outcome.threshold)))
            if args.overlay:  # as the app's download: prompts drawn, a legend band below
                overlay = outcome.analysis.overlay(threshold=outcome.threshold)
                write_png(target.with_name(f"{rel.name}_overlay.png"), labelled_overlay(
                    outcome.analysis, overlay, report, "filled", outcome.threshold))
    write_csv(out / "measurements.csv", rows)
    done = len(items) - failures
    print(f"{done} of {len(items)} images segmented; results in {out}"
          + (f"; {failures} failed (see measurements.csv)" if failures else ""), file=sys.stderr)
    return 1 if failures else 0


def _keys(item) -> list[str]:
    """The names a prompts file may use for an input: its path relative to the folder or zip it
    was found in, its file name, the path as given."""
    keys = [item.name, Path(item.name).name]
    if item.found_as:
        keys.append(item.found_as)
    return keys


def _lookup(per_file):
    def prompts_for(item):
        for key in _keys(item):
            if key in per_file:
                return per_file[key]  # (prompts, the rows they came from)
        return None

    return prompts_for


def _prompts(args):
    from unet.inference.prompts import ClickPrompt, Prompts, parse_box

    def point(text: str, lesion: bool) -> ClickPrompt:
        try:
            x, y = (int(round(float(v))) for v in text.split(","))
        except ValueError:
            raise ImageInputError(f"A click is two numbers x,y in pixels, not {text!r}.") from None
        return ClickPrompt(x, y, lesion)

    return Prompts(tuple(parse_box(b) for b in args.box),
                   tuple(point(c, True) for c in args.click)
                   + tuple(point(c, False) for c in args.not_lesion))


if __name__ == "__main__":
    sys.exit(main())
