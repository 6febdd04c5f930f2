"""Score a model on a split at each image's original resolution through the app's inference path.

`python -m training.evaluate --organ breast --data-dir PATH [--weights FILE] [--manifest FILE]
[--prompts box|click]`
prints a table and writes JSON. Per image: Dice, IoU, precision, recall, HD95 (px). Summary:
means over images with a lesion (overall and per class), and the false-positive rate on images
without one (any predicted lesion counts). Lesion images add a second lesion-free test: the strip
of the field of view beside the outline (``training.lesion_free_crops``) is segmented on its own,
and the share of such crops where a lesion is still reported is the false-positive rate on
lesion-free tissue of every scanner, also those whose data sets have no normal scans (BUS-BRA).
``--degrade jpeg50`` or ``--degrade half-resolution`` scores the images as lossy uploads would
arrive (``training.degrade``; the outlines unchanged), to measure how a model copes with them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from training import metrics as M
from training.datasets import DatasetError, Sample, find_dataset, load_gray, load_mask
from training.degrade import DEGRADATIONS
from training.intervals import bootstrap_mean_interval, wilson_interval
from training.lesion_free_crops import lesion_free_crop
from training.manifest import split_samples
from unet.inference.registry import ORGANS


def score_image(segmenter, sample: Sample, degrade=None) -> tuple[dict, dict]:
    """One image's scores; ``degrade`` (a function of the 8-bit gray image, keeping its size)
    changes the image, not the expert's outline, before it is segmented."""
    gray = load_gray(sample.image_path)
    truth = load_mask(sample, gray.shape)
    if degrade is not None:
        gray = degrade(gray)
    seg = segmenter.segment(gray)
    pred = seg.mask()
    precision, recall = M.precision_recall(truth, pred)
    row = {
        "key": sample.key,
        "label": sample.label,
        "has_lesion": bool(truth.any()),
        "predicted_lesion": bool(pred.any()),
        "dice": M.dice(truth, pred),
        "iou": M.iou(truth, pred),
        "precision": precision,
        "recall": recall,
        "hd95_px": M.hausdorff95(truth, pred),
        "confidence": seg.confidence,
        "crop_reported_lesion": crop_reported_lesion(segmenter, seg, truth),
    }
    return row, {"image": gray, "truth": truth, "pred": pred}


def crop_reported_lesion(segmenter, seg, truth: np.ndarray) -> bool | None:
    """Whether the model reports a lesion on the lesion-free strip beside the outline (cut from
    the field of view the model saw); None where the image has no lesion or no such strip."""
    box = seg.field_of_view.slice
    crop = lesion_free_crop(seg.image[box], truth[box])
    return None if crop is None else bool(segmenter.segment(crop).mask().any())


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def summarize(rows: list[dict]) -> dict:
    lesion = [r for r in rows if r["has_lesion"]]
    normal = [r for r in rows if not r["has_lesion"]]
    crops = [r["crop_reported_lesion"] for r in lesion
             if r.get("crop_reported_lesion") is not None]
    missed = sum(not r["predicted_lesion"] for r in lesion)  # lesion images reported empty
    marked = sum(r["predicted_lesion"] for r in normal)  # lesion-free images given a lesion
    summary = {
        "images": len(rows),
        "lesion_images": len(lesion),
        "lesion_free_images": len(normal),
        "dice_mean": _mean([r["dice"] for r in lesion]),
        "dice_median": float(np.median([r["dice"] for r in lesion])) if lesion else None,
        "iou_mean": _mean([r["iou"] for r in lesion]),
        "precision_mean": _mean([r["precision"] for r in lesion]),
        "recall_mean": _mean([r["recall"] for r in lesion]),
        "hd95_px_mean": _mean([r["hd95_px"] for r in lesion]),
        "missed_lesion_rate": missed / len(lesion) if lesion else None,
        "false_positive_rate_lesion_free": marked / len(normal) if normal else None,
        "lesion_free_crops": len(crops),
        "false_positive_rate_lesion_free_crops": _mean([float(c) for c in crops]),
        "per_class": {},
    }
    # 95 % intervals (training/intervals.py): bootstrap over lesion images, Wilson for shares
    summary["dice_mean_ci95"] = bootstrap_mean_interval([r["dice"] for r in lesion])
    summary["missed_lesion_rate_ci95"] = wilson_interval(missed, len(lesion)) if lesion else None
    summary["false_positive_rate_lesion_free_ci95"] = (
        wilson_interval(marked, len(normal)) if normal else None)
    for label in sorted({r["label"] for r in rows}):
        sub = [r for r in rows if r["label"] == label]
        sub_lesion = [r for r in sub if r["has_lesion"]]
        summary["per_class"][label] = {
            "images": len(sub),
            "dice_mean": _mean([r["dice"] for r in sub_lesion]),
            "iou_mean": _mean([r["iou"] for r in sub_lesion]),
            "predicted_lesion_rate": float(np.mean([r["predicted_lesion"] for r in sub])),
        }
    return summary


def evaluate(segmenter, samples: list[Sample], *, figure: Path | None = None, title: str = "",
             degrade=None):
    rows, cases = [], []
    for s in samples:
        row, arrays = score_image(segmenter, s, degrade)
        rows.append(row)
        if row["has_lesion"]:
            cases.append((row["dice"], s.key, arrays))
    if figure is not None and cases:
        from training.figures import plot_cases

        cases.sort(key=lambda c: c[0])
        picks = [("worst", cases[0]), ("median", cases[len(cases) // 2]), ("best", cases[-1])]
        plot_cases([{**c[2], "name": c[1], "dice": c[0], "tag": tag} for tag, c in picks],
                   figure, title)
    return {"summary": summarize(rows), "per_image": rows}


def format_table(name: str, summary: dict) -> str:
    def f(v):
        return "n/a" if v is None else f"{v:.3f}"

    lines = [f"{name}: {summary['images']} images ({summary['lesion_images']} with a lesion)",
             "  Dice   IoU    Prec.  Recall HD95px FP-rate(lesion-free)",
             "  " + "  ".join(f(summary[k]) for k in (
                 "dice_mean", "iou_mean", "precision_mean", "recall_mean")) + "  "
             + ("n/a" if summary["hd95_px_mean"] is None else f"{summary['hd95_px_mean']:.1f}")
             + "   " + f(summary["false_positive_rate_lesion_free"])]
    intervals = [f"{label} {f(summary[key][0])}-{f(summary[key][1])}"
                 for label, key in (("Dice", "dice_mean_ci95"),
                                    ("FP rate", "false_positive_rate_lesion_free_ci95"))
                 if summary.get(key)]
    if intervals:
        lines.append("  95 % intervals: " + ", ".join(intervals)
                     + " (bootstrap over images; Wilson for the share)")
    if summary.get("lesion_free_crops"):
        lines.append(f"  lesion-free crops beside the lesions: {summary['lesion_free_crops']}, "
                     "a lesion reported on "
                     f"{f(summary['false_positive_rate_lesion_free_crops'])}")
    for label, c in summary["per_class"].items():
        lines.append(f"  {label:10s} n={c['images']:4d} Dice {f(c['dice_mean'])} "
                     f"predicted-lesion rate {f(c['predicted_lesion_rate'])}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    p.add_argument("--organ", required=True, choices=sorted(ORGANS))
    p.add_argument("--data-dir", required=True, action="append",
                   help="the data set(s) the manifest names; repeat for several")
    p.add_argument("--weights", default=None, help="default: the bundled weights/<organ>.keras")
    p.add_argument("--manifest", default=None,
                   help="split manifest (default: weights/<organ>_split.json)")
    p.add_argument("--split", default="test", choices=("train", "val", "test", "all"))
    p.add_argument("--out", default=None, help="JSON file to write (default: print only)")
    p.add_argument("--prompts", default=None, choices=("box", "click"),
                   help="score simulated user prompts on the split's lesion images beside the "
                        "automatic answer (training/prompt_evaluation.py): a jittered box or a "
                        "click on each lesion")
    p.add_argument("--box-weights", default=None, metavar="FILE",
                   help="with --prompts box: the box network (default: the bundled "
                        "weights/<organ>_box.keras with the bundled automatic model)")
    p.add_argument("--click-weights", default=None, metavar="FILE",
                   help="with --prompts click: the click network (default: the bundled "
                        "weights/<organ>_click.keras with the bundled automatic model)")
    p.add_argument("--degrade", default=None, choices=sorted(DEGRADATIONS),
                   help="score the images as a lossy upload would arrive (training/degrade.py): "
                        "re-encoded as JPEG quality 50, or at half resolution")
    args = p.parse_args(argv)

    from unet.inference.registry import get_organ

    organ = get_organ(args.organ)
    try:
        return evaluate_split(organ, args)
    except DatasetError as exc:  # wrong folder, no known layout, unreadable mask or manifest
        print(f"error: {exc}", file=sys.stderr)
        return 2


def evaluate_split(organ, args) -> int:
    from unet.inference.segmenter import Segmenter

    datasets = [find_dataset(d) for d in args.data_dir]
    samples = [s for d in datasets for s in d.samples]
    if args.split != "all":
        manifest_path = Path(args.manifest or organ.weight_path.parent / f"{organ.key}_split.json")
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError) as exc:
            raise DatasetError(f"Cannot read the split manifest {manifest_path}; pass "
                               "--manifest FILE (written next to each training run).") from exc
        samples = split_samples(datasets, manifest, args.split)
        if not samples:
            print(f"error: no image of the {args.split} split found in {args.data_dir}",
                  file=sys.stderr)
            return 2
    bundled = "auto" if args.weights is None else None
    segmenter = Segmenter(organ, weights=args.weights, box_weights=args.box_weights or bundled,
                          click_weights=args.click_weights or bundled)
    print(f"weights: {segmenter.source}")
    if args.prompts:
        return evaluate_prompt_split(organ, segmenter, samples, args)
    fig = Path(args.out).with_suffix(".png") if args.out else None
    degrade = DEGRADATIONS[args.degrade] if args.degrade else None
    title = f"{organ.display_name} {args.split}" + (f", {args.degrade}" if degrade else "")
    result = evaluate(segmenter, samples, figure=fig, title=title, degrade=degrade)
    if degrade:
        result["degraded_as"] = args.degrade
    layouts = "+".join(d.layout for d in datasets)
    print(format_table(f"{title} ({layouts})", result["summary"]))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


def evaluate_prompt_split(organ, segmenter, samples, args) -> int:
    from training.prompt_evaluation import evaluate_prompts, format_prompt_table

    network = getattr(segmenter, f"{args.prompts}_network")
    answered_by = (f"{args.prompts} network {network.weights}" if network is not None
                   else f"the automatic model alone (no {args.prompts} network)")
    print(f"{args.prompts} prompts: {answered_by}")
    result = evaluate_prompts(segmenter, samples, (args.prompts,))
    if not result["rows"]:
        print(f"error: the {args.split} split has no lesion image here", file=sys.stderr)
        return 2
    print(format_prompt_table(f"{organ.display_name} {args.split}, lesion images, "
                              f"{args.prompts} prompts", result["summary"]))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
