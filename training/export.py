"""Export a trained run: an inference-only `.keras` file, test metrics and a model card.

Writes `<organ>.keras`, `<organ>.json` (the card) and `<organ>_split.json` (the split manifest:
file names only, no images) into the export folder, each written whole or not at all
(``unet.files.write_atomic``), so a crash never leaves half a weight file.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

from training.evaluate import evaluate, format_table, summarize
from training.manifest import select, split_samples
from training.splits import manifest_hash
from unet.files import write_atomic


def dataset_fingerprint(dataset) -> dict:
    files = sorted(
        [s.key for s in dataset.samples]
        + [str(Path(m).relative_to(dataset.root)) for s in dataset.samples for m in s.mask_paths]
    )
    return {
        "name": dataset.root.name,
        "layout": dataset.layout,
        "file_count": len(files),
        "file_list_sha256": hashlib.sha256("\n".join(files).encode()).hexdigest()[:16],
    }


def inference_copy(model, input_size: int, model_kwargs: dict, path: Path,
                   architecture: str = "unet") -> Path:
    """Rebuild the network in float32 without optimizer state and save it (smaller file)."""
    import keras

    from unet.networks.architectures import build_model

    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        clean = build_model(architecture, input_size, **model_kwargs)
        clean.set_weights(model.get_weights())
    finally:
        keras.mixed_precision.set_global_policy(policy)
    clean.save(path)
    return path


def test_results(segmenter, test_samples, run_dir: Path, title: str) -> dict:
    """The test split scored as a whole, per data set and per scanner (where known)."""
    results = {"test": evaluate(segmenter, test_samples, figure=run_dir / "test_cases.png",
                                title=f"{title}: test split (worst, median, best)")}
    print(format_table(f"{title} test", results["test"]["summary"]))
    rows = results["test"]["per_image"]
    for row, s in zip(rows, test_samples, strict=True):
        row["dataset"], row["device"] = s.dataset, s.device
    subsets = {}
    if len({s.dataset for s in test_samples}) > 1:
        for name in dict.fromkeys(s.dataset for s in test_samples):
            subsets[f"test:{name}"] = [r for r in rows if r["dataset"] == name]
    for device in sorted({s.device for s in test_samples if s.device}):
        subsets[f"test:{device}"] = [r for r in rows if r["device"] == device]
    for key, sub in subsets.items():
        results[key] = {"summary": summarize(sub)}
        print(format_table(key, results[key]["summary"]))
    return results


def export_run(organ, model, datasets, manifest, info, run_dir: Path, *, export_dir=None,
               raw_data_dir=None, started=None) -> dict:
    from training.datasets import find_dataset
    from unet.inference.segmenter import Segmenter
    from unet.transforms.test_time_augmentation import VIEW_SETS

    if not isinstance(datasets, (list, tuple)):
        datasets = [datasets]
    model_path = inference_copy(model, info["image_size"], info["model_kwargs"],
                                run_dir / "model.keras", info.get("architecture", "unet"))
    segmenter = Segmenter(organ, weights=model_path)
    from training.calibrate import apply_operating_point, calibrate

    val_samples = split_samples(datasets, manifest, "val")
    point = calibrate(segmenter, val_samples)
    apply_operating_point(segmenter, point)
    print(f"operating point (validation): threshold {point['threshold']}, min area "
          f"{point['min_lesion_area_fraction']:.3%} of the image, min peak "
          f"{point['min_peak_probability']}; val Dice {point['val_dice']:.3f}, val FP rate "
          f"{point['val_fp_rate']}")
    test_keys = [i["key"] for i in manifest["splits"]["test"]]
    test_samples = split_samples(datasets, manifest, "test")
    results = test_results(segmenter, test_samples, run_dir, organ.display_name)
    if raw_data_dir:
        raw = find_dataset(raw_data_dir)
        raw_samples = select(raw.samples, test_keys)
        results["test_raw_frames"] = evaluate(
            segmenter, raw_samples, figure=run_dir / "test_cases_raw.png",
            title=f"{organ.display_name}: uncropped frames of the test split")
        print(format_table(f"{organ.display_name} test, uncropped frames ({raw.layout})",
                           results["test_raw_frames"]["summary"]))
    (run_dir / "evaluation.json").write_text(json.dumps(results, indent=1))

    mhash = manifest_hash(manifest)
    whash = hashlib.sha256(model_path.read_bytes()).hexdigest()
    counts = {name: len(items) for name, items in manifest["splits"].items()}
    card = {
        "organ": organ.key,
        "version": f"{organ.key}-{time.strftime('%Y%m%d')}-{mhash[:8]}-{whash[:6]}",
        "intended_use": "Research and teaching demo. Not a medical device; not for diagnosis.",
        "dataset": dataset_fingerprint(datasets[0]) if len(datasets) == 1 else
        [dataset_fingerprint(d) for d in datasets],
        "split": {"manifest_sha256": mhash, "counts": counts,
                  "grouping": manifest.get("grouping", "perceptual hash") +
                  f" (Hamming <= {manifest['hamming_threshold']})",
                  "seed": manifest["seed"]},
        "training": {k: v for k, v in info.items()},
        "architecture": info.get("architecture", "unet"),
        "encoder_init": info.get("encoder_init", "random"),
        "parameters": int(model.count_params()),
        "wall_seconds_total": round(time.time() - started, 1) if started else None,
        "inference": {"input_size": info["image_size"], "threshold": point["threshold"],
                      "field_of_view_crop": organ.crop_field_of_view,
                      "min_lesion_area_fraction": point["min_lesion_area_fraction"],
                      "min_peak_probability": point["min_peak_probability"],
                      "operating_point": point,
                      "test_time_augmentation": list(VIEW_SETS[segmenter.views])},
        "test_metrics": {name: r["summary"] for name, r in results.items()},
        "weights_file_bytes": model_path.stat().st_size,
        "weights_sha256": whash,
        "python": sys.version.split()[0],
    }
    write_atomic(run_dir / "card.json", json.dumps(card, indent=1))
    if export_dir is None:
        from unet.inference.registry import WEIGHTS_DIR

        export_dir = WEIGHTS_DIR
    export_dir = Path(export_dir)
    export_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(export_dir / f"{organ.key}.keras", model_path.read_bytes())
    write_atomic(export_dir / f"{organ.key}.json", json.dumps(card, indent=1))
    write_atomic(export_dir / f"{organ.key}_split.json", json.dumps(manifest, indent=1))
    print(f"exported {export_dir / (organ.key + '.keras')} "
          f"({model_path.stat().st_size / 1e6:.1f} MB) and its card")
    export_engine_bundle(export_dir / f"{organ.key}.keras")
    return card


def export_engine_bundle(weights: Path) -> Path | None:
    """The app's converted flatbuffer beside the exported weights
    (``unet.inference.engine_bundle``), so a fresh host serves without converting; where Keras
    does not run on TensorFlow (a JAX machine) it is skipped, and
    ``python -m unet.inference.engine_bundle`` writes it later on a TensorFlow one."""
    import keras

    from unet.inference import engine_bundle

    if keras.backend.backend() != "tensorflow":
        print(f"engine flatbuffer not written (Keras runs on {keras.backend.backend()}): run "
              f"python -m unet.inference.engine_bundle {weights} where TensorFlow is installed")
        return None
    out = engine_bundle.write(weights)
    print(f"exported {out} ({out.stat().st_size / 1e6:.1f} MB), the engine's flatbuffer")
    return out


def main(argv=None) -> int:
    """Re-export a finished run from its best checkpoint, or from the mean of some epochs'
    weights (--average-epochs, or the epochs the run's recipe averaged).

    `python -m training.export --run-dir R`."""
    import argparse
    import csv

    import keras

    from training.datasets import find_dataset
    from unet.inference.registry import get_organ

    p = argparse.ArgumentParser(prog="python -m training.export", description=main.__doc__)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--data-dir", default=None, action="append",
                   help="default: the ones in the split manifest (repeat for several)")
    p.add_argument("--raw-data-dir", default=None)
    p.add_argument("--export-dir", default=None)
    p.add_argument("--average-epochs", default=None, metavar="FIRST-LAST",
                   help="export the mean of these epochs' weights instead of the best checkpoint "
                        "(a run trained with --keep-epoch-weights; training/weight_average.py)")
    args = p.parse_args(argv)
    run_dir = Path(args.run_dir)
    manifest = json.loads((run_dir / "split_manifest.json").read_text())
    organ = get_organ(manifest["organ"])
    dirs = args.data_dir or list(manifest.get("data_dirs", {}).values()) or [manifest["data_dir"]]
    datasets = [find_dataset(d) for d in dirs]
    model = keras.saving.load_model(run_dir / "best.keras", compile=False)
    info_path = run_dir / "run_info.json"
    if info_path.is_file():
        info = json.loads(info_path.read_text())
    else:  # runs from before run_info.json existed: rebuild what the history tells
        rows = list(csv.DictReader(open(run_dir / "history.csv")))
        info = {"command": "python -m training (re-exported with python -m training.export)",
                "seed": manifest["seed"], "image_size": int(model.input_shape[1]),
                "architecture": organ.architecture,
                "model_kwargs": dict(organ.model_kwargs), "epochs_run": len(rows),
                "best_val_dice": max(float(r["val_dice"]) for r in rows)}
    # the epochs to average: the option's, else the run's own (a recipe that averaged)
    spec = args.average_epochs or info.get("weight_average", {}).get("epochs")
    if spec:
        from training.weight_average import average_run_epochs, parse_epoch_range

        try:
            epochs = parse_epoch_range(spec) if isinstance(spec, str) else list(spec)
            info["weight_average"] = average_run_epochs(model, run_dir, epochs)
        except (ValueError, FileNotFoundError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    info["re_exported_with"] = "python -m training.export " + " ".join(
        sys.argv[1:] if argv is None else argv)
    export_run(organ, model, datasets, manifest, info, run_dir, export_dir=args.export_dir,
               raw_data_dir=args.raw_data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
