"""Fit the quality estimate and the organ check of one organ's model; write them into its card.

    python -m training.trust --organ breast --data-dir PATH/Dataset_BUSI_with_GT \\
        --other-data-dir PATH/thyroidultrasound --other-data-dir PATH/DDTI_raw
    python -m training.trust --organ thyroid --data-dir PATH/thyroidultrasound \\
        --data-dir PATH/DDTI_raw --other-data-dir PATH/Dataset_BUSI_with_GT

Quality estimate (``unet.trust.quality``): features from one extra test-time-augmentation batch per
image; a logistic regression predicting the delivered mask's Dice is fitted on the VALIDATION
split of the organ's manifest (``weights/<organ>_split.json``); the low-confidence threshold is
chosen on validation so that at most ``--max-bad-share`` of the unflagged lesion images have
Dice < 0.5 (90 % upper bound), both for the out-of-fold predictions and for the delivered
model's own. Reported on the TEST split: Spearman correlation of the
estimate with Dice, mean Dice and count of flagged and unflagged images, and the share of
unflagged lesion images with Dice < 0.5.

Organ check (``unet.trust.organ_check``): pooled encoder features of this model plus image
statistics; a softmax regression over the organs and "other" fitted on the TRAIN split of every
organ's manifest (the other organ's folders are read with its own manifest) and synthetic
non-ultrasound pictures (photographs, documents, screenshots, noise). Reported on the test
splits: the share of the other organ's scans flagged, of this organ's scans flagged, and of
unseen synthetic pictures flagged.

A folder whose images are in no split of the manifest (e.g. BUS-BRA for a BUSI-only model) is
split in two by patient: the organ check also fits on one half, and the other half is scored as
an external check (quality estimate and organ check); the quality estimate never fits on it.

Both results go into the card ``weights/<organ>.json`` under ``"quality_estimate"`` and
``"organ_check"`` (written atomically; the other keys are kept). ``--dry-run`` only prints.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from training.datasets import DatasetError, find_dataset, load_gray
from training.trust_data import (
    _halves,
    _manifest_keys,
    _split,
    _subsample,
    organ_features,
    quality_row,
    synthetic_negatives,
)
from training.trust_fit import TTA_WORTH, fit_organ_check, fit_quality, quality_summary
from unet.files import write_atomic
from unet.inference.registry import ORGANS

# --------------------------------------------------------------------------- card

def _compact_lists(value, found: list):
    """Replace lists of numbers (and of such lists) by placeholders, remembered in ``found``."""
    if isinstance(value, dict):
        return {k: _compact_lists(v, found) for k, v in value.items()}
    if isinstance(value, list) and value and all(
            isinstance(v, (int, float)) or (isinstance(v, list) and all(
                isinstance(u, (int, float)) for u in v)) for v in value):
        found.append(value)
        return f"@@compact{len(found) - 1}@@"
    if isinstance(value, list):
        return [_compact_lists(v, found) for v in value]
    return value


def write_card_keys(card_path: Path, updates: dict) -> None:
    """Set only ``updates``' keys in the card, atomically (``unet.files.write_atomic``). Numeric
    arrays, the card's earlier keys' included, are written one per line, so the card stays
    readable however often it is written."""
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    card.update(updates)
    found: list = []
    card = {k: _compact_lists(v, found) for k, v in card.items()}
    text = json.dumps(card, indent=1)
    for i, value in enumerate(found):
        text = text.replace(f'"@@compact{i}@@"', json.dumps(value))
    json.loads(text)  # still valid JSON
    write_atomic(card_path, text + "\n")


# --------------------------------------------------------------------------- main

def _fmt(v, pct=False):
    if v is None:
        return "n/a"
    return f"{v:.1%}" if pct else f"{v:.3f}"


def _print_quality(name: str, s: dict) -> None:
    print(f"  {name}: {s['images']} images ({s['lesion_images']} with a lesion); Spearman "
          f"{_fmt(s['spearman_all'])} (lesion images {_fmt(s['spearman_lesion_images'])}); "
          f"flagged {s['flagged']['count']} (mean Dice {_fmt(s['flagged']['mean_dice'])}), "
          f"unflagged {s['unflagged']['count']} (mean Dice "
          f"{_fmt(s['unflagged']['mean_dice'])}); unflagged lesion images with Dice < 0.5: "
          f"{s['unflagged_lesion_dice_below_0.5']} of {s['unflagged_lesion_images']} "
          f"({_fmt(s['unflagged_lesion_share_dice_below_0.5'], True)})")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.trust", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--organ", required=True, choices=sorted(ORGANS))
    p.add_argument("--data-dir", action="append", required=True,
                   help="this organ's data folder (repeatable: e.g. DDTI crops and raw frames)")
    p.add_argument("--other-data-dir", action="append", default=[],
                   help="another organ's data folder (repeatable), read with its manifest")
    p.add_argument("--weights", default=None, help="default: the bundled weights/<organ>.keras")
    p.add_argument("--card", default=None, help="default: the card next to the weights")
    p.add_argument("--manifest", default=None, help="default: weights/<organ>_split.json")
    p.add_argument("--max-bad-share", type=float, default=0.05,
                   help="target share of unflagged lesion images with Dice < 0.5; the "
                        "threshold keeps its 90 %% upper confidence bound on validation below")
    p.add_argument("--max-train", type=int, default=400,
                   help="train images per folder for the organ check (default 400)")
    p.add_argument("--max-external", type=int, default=200,
                   help="images per half of a folder outside the manifests (200)")
    p.add_argument("--negatives", type=int, default=280, help="synthetic negatives to fit on")
    p.add_argument("--organ-l2", type=float, default=1e-3)
    p.add_argument("--max-right-organ-flagged", type=float, default=0.05,
                   help="share of this organ's images the organ check may flag (90 %% upper "
                        "bound on each validation set)")
    p.add_argument("--tta", choices=("auto", "yes", "no"), default="auto",
                   help="quality features from the extra TTA batch: 'auto' keeps them only "
                        f"when they add more than {TTA_WORTH} out-of-fold Spearman")
    p.add_argument("--cache", default=None, help="npz of computed features (reused if present)")
    p.add_argument("--dry-run", action="store_true", help="print, do not write the card")
    p.add_argument("--limit-eval", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    try:
        return run(args)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _collect(args) -> dict:
    """Everything the network gives, per folder and split (the slow part)."""
    from unet.inference.registry import get_organ
    from unet.inference.segmenter import Segmenter
    from unet.trust.organ_check import encoder_layer_name

    organ = get_organ(args.organ)
    segmenter = Segmenter(organ, weights=args.weights)
    layer = encoder_layer_name(segmenter.model)
    print(f"weights: {segmenter.source}; encoder layer {layer!r}", flush=True)
    own_keys = _manifest_keys(organ.key, args.manifest)
    other_organs = [k for k in sorted(ORGANS) if k != organ.key]
    t0 = time.time()
    data = {"own": {}, "other": {}, "layer": layer, "version": segmenter.version,
            "views": segmenter.views}

    def progress(msg):
        print(f"  [{time.time() - t0:6.0f} s] {msg}", flush=True)

    for d in args.data_dir:
        name, parts = _split(d, own_keys)
        entry = {}
        if sum(len(v) for v in parts.values()) == 0:  # external folder: not in the manifest
            fit_half, test_half = _halves(find_dataset(d).samples)
            train = _subsample(fit_half, args.max_external)
            entry["train_organ"] = organ_features(
                segmenter, [load_gray(s.image_path) for s in train], layer)
            samples = _subsample(test_half, args.max_external)
            entry["external"] = [quality_row(segmenter, s, layer) for s in samples]
            progress(f"{name}: {len(train)} external images (one half of the patients) "
                     f"encoded for the organ check, {len(samples)} of the other half scored")
        else:
            for split in ("val", "test"):
                samples = _subsample(parts.get(split, []), args.limit_eval)
                entry[split] = [quality_row(segmenter, s, layer) for s in samples]
                progress(f"{name} {split}: {len(entry[split])} images scored")
            train = _subsample(parts.get("train", []), args.max_train)
            entry["train_organ"] = organ_features(
                segmenter, [load_gray(s.image_path) for s in train], layer)
            progress(f"{name} train: {len(train)} images encoded")
        data["own"][name] = entry
    for d in args.other_data_dir:
        best = None
        for other in other_organs:
            name, parts = _split(d, _manifest_keys(other))
            n = sum(len(v) for v in parts.values())
            if best is None or n > best[2]:
                best = (other, name, n, parts)
        other, name, n, parts = best
        if n == 0:  # in no manifest: an external test set of the other organ
            if len(other_organs) > 1:
                raise DatasetError(f"{d}: no image of another organ's manifest found, so its "
                                   "organ is unknown.")
            fit_half, test_half = _halves(find_dataset(d).samples)
            parts = {"train": fit_half, "test": _subsample(test_half, args.max_external)}
            name = f"{name} external"
        entry = {"organ": other}
        for split, limit in (("train", args.max_train), ("test", None)):
            samples = _subsample(parts.get(split, []), limit)
            entry[split] = organ_features(segmenter, [load_gray(s.image_path) for s in samples],
                                          layer)
            progress(f"{name} ({other}) {split}: {len(samples)} images encoded")
        data["other"][name] = entry
    data["negatives_train"] = organ_features(segmenter, synthetic_negatives(args.negatives, 1),
                                             layer)
    data["negatives_test"] = organ_features(segmenter, synthetic_negatives(140, 2), layer)
    progress("synthetic negatives encoded")
    return data


def run(args) -> int:
    import pickle

    from unet.inference.registry import get_organ
    from unet.trust.organ_check import OTHER

    organ = get_organ(args.organ)
    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.is_file():
        data = pickle.loads(cache.read_bytes())
        print(f"features read from {cache}")
    else:
        data = _collect(args)
        if cache is not None:
            cache.write_bytes(pickle.dumps(data))
    layer = data["layer"]

    # ---- quality estimate: fit on validation, report on test
    val = [r for e in data["own"].values() for r in e.get("val", [])]
    if len(val) < 10:
        raise DatasetError("fewer than 10 validation images found: check --data-dir and "
                           "the manifest")
    from unet.transforms.test_time_augmentation import uses_extra_views

    views_free = uses_extra_views(data.get("views", "flip"))  # caches from before: flip pair
    model, fit_info = fit_quality(val, args.max_bad_share, tta=args.tta,
                                  tta_worth=0.0 if views_free else TTA_WORTH)

    def summary(rows):
        if not rows:
            return None
        pred = model.predict_rows([r["features"] for r in rows])
        return quality_summary(pred, [r["dice"] for r in rows],
                               [r["has_lesion"] for r in rows], model.low_confidence_below)

    test_rows = [r for e in data["own"].values() for r in e.get("test", [])]
    q_test = {"all": summary(test_rows)}
    if len(data["own"]) > 1:
        for name, e in data["own"].items():
            if e.get("test"):
                q_test[name] = summary(e["test"])
    q_external = {name: summary(e["external"]) for name, e in data["own"].items()
                  if e.get("external")}
    val_summary = summary(val)

    # ---- organ check: fit on train splits + synthetic negatives; report on test splits
    feats = {c: [] for c in (*sorted(ORGANS), OTHER)}
    for e in data["own"].values():
        if "train_organ" in e and len(e["train_organ"]):
            feats[organ.key].append(e["train_organ"])
    for e in data["other"].values():
        if len(e["train"]) and len(e["train"][0]):
            feats[e["organ"]].append(e["train"])
    feats[OTHER].append(data["negatives_train"])
    feats = {c: np.vstack(v) for c, v in feats.items() if v}
    own_val = [np.array([r["organ_features"] for r in e["val"]], np.float64)
               for e in data["own"].values() if e.get("val")]
    check = fit_organ_check(organ.key, layer, feats, args.organ_l2, own_val,
                            args.max_right_organ_flagged)

    def flag_rate(x):
        x = np.asarray(x, np.float64)
        return float(check.flags(x).mean()) if len(x) else None

    def rate_entry(x):
        return {"images": int(len(x)), "flagged_share": flag_rate(x)}

    own_test = {name: rate_entry([r["organ_features"] for r in e["test"]])
                for name, e in data["own"].items() if e.get("test")}
    own_ext = {name: rate_entry([r["organ_features"] for r in e["external"]])
               for name, e in data["own"].items() if e.get("external")}
    other_test = {f"{name} ({e['organ']})": rate_entry(e["test"])
                  for name, e in data["other"].items()}
    neg = data["negatives_test"]
    p_neg = check.probabilities(neg)
    organ_report = {
        "right_organ_test": own_test,
        "right_organ_external": own_ext,
        "other_organ_test": other_test,
        "synthetic_non_ultrasound_test": {
            "images": int(len(neg)),
            "flagged_share": flag_rate(neg),
            "called_not_ultrasound_share": float(
                (p_neg.argmax(1) == check.classes.index(OTHER)).mean()),
        },
        "targets": "other organ's scans flagged >= 90 %; right organ's scans flagged <= 5 %",
    }

    # ---- print
    print(f"\n=== {organ.display_name} model {data['version']}: quality estimate ===")
    print(f"empty masks on validation: {fit_info['empty_masks']}, of which truly lesion-free "
          f"{fit_info['empty_masks_truly_lesion_free']}: an empty mask's estimate is "
          + (f"a logistic regression on its {model.empty_model[0]} (coef "
             f"{model.empty_model[3]:.2f})" if model.empty_model
             else f"{model.empty_mask_quality:.3f}"))
    print(f"fitted on {len(val)} validation images (l2 {fit_info['l2']}); low confidence "
          f"below {model.low_confidence_below:.3f} (chosen on validation, out of fold and for the "
          f"delivered model: at most "
          f"{args.max_bad_share:.0%} of unflagged lesion images with Dice < 0.5, 90 % upper "
          "confidence bound)")
    t = fit_info["tta"]
    print(f"TTA features {'used' if t['used'] else 'not used'}: out-of-fold Spearman "
          f"{_fmt(t['out_of_fold_spearman_with'])} with, {_fmt(t['out_of_fold_spearman_without'])}"
          f" without ({t['rule']})")
    _print_quality("validation, out of fold", fit_info["out_of_fold_summary"])
    for name, s in q_test.items():
        if s:
            _print_quality(f"TEST {name}", s)
    for name, s in q_external.items():
        _print_quality(f"external {name} (not in the manifest)", s)
    s = q_test["all"]
    ok_rho = (s["spearman_all"] or 0) >= 0.6
    share = s["unflagged_lesion_share_dice_below_0.5"]
    ok_bad = share is not None and share <= 0.05
    print(f"targets on test: Spearman >= 0.6: {'met' if ok_rho else 'MISSED'}; "
          f"<= 5 % unflagged lesion images with Dice < 0.5: {'met' if ok_bad else 'MISSED'}")
    print(f"\n=== {organ.display_name} model: organ check (layer {layer!r}) ===")
    print("fitted on: " + ", ".join(f"{c} {len(v)}" for c, v in feats.items())
          + f"; margin {check.margin:.2f} (validation: {flag_rate(np.vstack(own_val)):.1%} of "
          f"{sum(len(v) for v in own_val)} {organ.key} images flagged)")
    for name, r in own_test.items():
        print(f"  right organ, test {name}: {_fmt(r['flagged_share'], True)} of {r['images']} "
              "flagged (target <= 5 %)")
    for name, r in own_ext.items():
        print(f"  right organ, external {name}: {_fmt(r['flagged_share'], True)} of "
              f"{r['images']} flagged (target <= 5 %)")
    for name, r in other_test.items():
        print(f"  other organ, test {name}: {_fmt(r['flagged_share'], True)} of {r['images']} "
              "flagged (target >= 90 %)")
    sn = organ_report["synthetic_non_ultrasound_test"]
    print(f"  synthetic non-ultrasound (unseen seeds): {sn['flagged_share']:.1%} of "
          f"{sn['images']} flagged, {sn['called_not_ultrasound_share']:.1%} called "
          "'not an ultrasound scan'")

    quality_card = {
        **model.to_card(),
        "fitted_on": f"validation split, {len(val)} images ("
                     + ", ".join(f"{n} {len(e.get('val', []))}" for n, e in data["own"].items()
                                 if e.get("val")) + ")",
        "threshold_rule": f"validation: smallest threshold whose share of unflagged lesion "
                          f"images at Dice < 0.5 is at most {args.max_bad_share:.0%} with 90 % "
                          "confidence (Wilson upper bound), both for the out-of-fold "
                          "predictions and for the delivered model's own (the larger of the "
                          "two thresholds)",
        "threshold_by_prediction_set": fit_info["threshold_by_prediction_set"],
        "validation_out_of_fold": fit_info["out_of_fold_summary"],
        "tta_choice": fit_info["tta"],
        "validation_in_sample": val_summary,
        "test": q_test,
        **({"external": q_external} if q_external else {}),
        "model_version": data["version"],
        "command": _command(args),
    }
    organ_card = {**check.to_card(), "test": organ_report, "model_version": data["version"],
                  "margin_rule": f"smallest margin under which each validation set of this "
                                 f"organ has at most {args.max_right_organ_flagged:.0%} flagged "
                                 "with 90 % confidence (Wilson upper bound)",
                  "fitted_on": {c: int(len(v)) for c, v in feats.items()}}
    if args.dry_run:
        print("\n--dry-run: card not written")
        return 0
    card_path = Path(args.card) if args.card else (
        Path(args.weights).with_suffix(".json") if args.weights else organ.card_path)
    write_card_keys(card_path, {"quality_estimate": quality_card, "organ_check": organ_card})
    print(f"\nwritten to {card_path} (keys 'quality_estimate', 'organ_check')")
    return 0


def _command(args) -> str:
    parts = ["python -m training.trust", "--organ", args.organ]
    parts += [f"--data-dir {d}" for d in args.data_dir]
    parts += [f"--other-data-dir {d}" for d in args.other_data_dir]
    return " ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
