"""`python -m training`: split, train, evaluate and export one organ's model in one command."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from unet.registry import ORGANS


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    p.add_argument("--organ", required=True, choices=sorted(ORGANS),
                   help="which registry entry to train (see unet/registry.py)")
    p.add_argument("--data-dir", required=True,
                   help="BUSI, DDTI (p_image/p_mask) or images/+masks/")
    p.add_argument("--raw-data-dir", default=None,
                   help="optional folder of the same cases as uncropped scanner frames "
                        "(DDTI_raw: image/ + mask/), scored on the same test split by file name")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--image-size", type=int, default=None, help="model input side in pixels")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--output-dir", default="runs", help="run folder parent (logs, figures, split)")
    p.add_argument("--export-dir", default=None,
                   help="where <organ>.keras and <organ>.json go "
                        "(default: weights/; smoke: run dir)")
    p.add_argument("--strategy", default="auto",
                   choices=("auto", "default", "one_device", "mirrored"))
    p.add_argument("--threads", type=int, default=0, help="CPU threads for TensorFlow (0: all)")
    p.add_argument("--no-determinism", action="store_true",
                   help="skip tf op determinism (it is on by default on CPU, off on GPU)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny, fast run for tests: 2 epochs, 64 px, few images, small model")
    p.add_argument("--max-images", type=int, default=None, help="use at most this many images")
    return p.parse_args(argv)


def hardware_summary() -> dict:
    import tensorflow as tf

    gpus = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in tf.config.list_physical_devices("GPU")]
    return {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "gpus": gpus, "platform": platform.platform(), "tensorflow": tf.__version__}


def main(argv=None) -> int:
    args = parse_args(argv)
    from training.datasets import DatasetError

    try:
        return train_organ(args, sys.argv[1:] if argv is None else argv)
    except DatasetError as exc:  # wrong folder, no known layout, unreadable mask
        print(f"error: {exc}", file=sys.stderr)
        return 2


def train_organ(args, argv: list[str]) -> int:
    """Split, train, calibrate, evaluate and export; returns the exit code."""
    import keras
    import tensorflow as tf

    from training import splits as splitmod
    from training.datasets import find_dataset
    from training.pipeline import CachedSplit, make_dataset, prepare_sample
    from training.recipes import RECIPES, SMOKE
    from training.train import TrainConfig, choose_strategy, compile_model, fit
    from unet.preprocess import resize_to_square
    from unet.registry import get_organ

    started = time.time()
    organ = get_organ(args.organ)
    recipe = SMOKE if args.smoke else RECIPES[organ.key]
    size = args.image_size or (64 if args.smoke else organ.input_size)
    model_kwargs = dict(organ.model_kwargs)
    if args.smoke:
        model_kwargs.update(depth=3, base_filters=8)
    cfg = TrainConfig(
        epochs=args.epochs or recipe.epochs,
        batch_size=args.batch_size or recipe.batch_size,
        learning_rate=args.learning_rate or recipe.learning_rate,
        patience=recipe.patience,
    )
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    keras.utils.set_random_seed(args.seed)
    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    if not on_gpu and not args.no_determinism:
        tf.config.experimental.enable_op_determinism()
    if on_gpu:
        keras.mixed_precision.set_global_policy("mixed_float16")

    dataset = find_dataset(args.data_dir)
    samples = dataset.samples
    limit = args.max_images or (24 if args.smoke else None)
    if limit:
        samples = samples[:limit]
    run_dir = Path(args.output_dir) / f"{organ.key}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    print(f"{len(samples)} images ({dataset.layout}) from {dataset.root}; run folder {run_dir}",
          flush=True)

    # load once at full resolution, hash, group, split, then cache at model size
    prepared = [prepare_sample(s, crop_field_of_view=organ.crop_field_of_view) for s in samples]
    hashes = [splitmod.perceptual_hash(g) for g, _ in prepared]
    groups = splitmod.group_near_duplicates(hashes)
    labels = [s.label for s in samples]
    assignment = splitmod.split_groups(labels, groups, seed=args.seed)
    sizes = np.bincount(groups)
    print(f"near-duplicate groups: {len(sizes)} for {len(samples)} images "
          f"(largest {sizes.max()}, {int((sizes > 1).sum())} groups with more than one image)")
    manifest = {
        "organ": organ.key,
        "data_dir": str(Path(args.data_dir).resolve()),
        "layout": dataset.layout,
        "seed": args.seed,
        "hamming_threshold": splitmod.HAMMING_THRESHOLD,
        "splits": {
            name: [{"key": s.key, "label": s.label, "group": int(g)}
                   for s, g, a in zip(samples, groups, assignment, strict=True) if a == name]
            for name in splitmod.SPLITS
        },
    }
    (run_dir / "split_manifest.json").write_text(json.dumps(manifest, indent=1))
    for name in splitmod.SPLITS:
        counts = {}
        for item in manifest["splits"][name]:
            counts[item["label"]] = counts.get(item["label"], 0) + 1
        print(f"  {name}: {len(manifest['splits'][name])} {counts}")

    def cached(name):
        idx = [i for i, a in enumerate(assignment) if a == name]
        return CachedSplit(
            np.stack([resize_to_square(prepared[i][0], size) for i in idx]),
            np.stack([resize_to_square(prepared[i][1].astype(np.uint8) * 255, size) for i in idx]),
            [samples[i].key for i in idx],
        )

    train_split, val_split = cached("train"), cached("val")
    prepared.clear()  # full-resolution images are no longer needed
    strategy = choose_strategy(args.strategy)
    replicas = strategy.num_replicas_in_sync
    global_batch = cfg.batch_size * replicas
    train_ds = make_dataset(train_split, batch_size=global_batch, training=True, seed=args.seed)
    val_ds = make_dataset(val_split, batch_size=global_batch, training=False)
    steps = max(1, len(train_split) // global_batch)
    with strategy.scope():
        model = compile_model(model_kwargs, size, steps, cfg)
    print(f"model: {model.count_params():,} parameters, input {size} px, strategy "
          f"{type(strategy).__name__} x{replicas}, device {'GPU' if on_gpu else 'CPU'}", flush=True)
    t0 = time.time()
    history = fit(model, train_ds, val_ds, cfg, run_dir, verbose=2 if args.smoke else 1)
    train_seconds = time.time() - t0
    epochs_run = len(history.history["loss"])

    from training.export import export_run
    from training.figures import plot_training_curves

    plot_training_curves(run_dir / "history.csv", run_dir / "training_curves.png")
    info = {
        "command": "python -m training " + " ".join(argv),
        "seed": args.seed,
        "image_size": size,
        "model_kwargs": model_kwargs,
        "epochs_run": epochs_run,
        "epochs_max": cfg.epochs,
        "best_val_dice": float(max(history.history.get("val_dice", [0.0]))),
        "batch_size": global_batch,
        "learning_rate": cfg.learning_rate,
        "train_seconds": round(train_seconds, 1),
        "hardware": hardware_summary(),
        "strategy": type(strategy).__name__,
        "mixed_precision": on_gpu,
    }
    (run_dir / "run_info.json").write_text(json.dumps(info, indent=1))
    export_dir = Path(args.export_dir) if args.export_dir else (run_dir if args.smoke else None)
    export_run(organ, model, dataset, manifest, info, run_dir, export_dir=export_dir,
               raw_data_dir=args.raw_data_dir, started=started)
    return 0
