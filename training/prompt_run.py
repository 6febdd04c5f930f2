"""`python -m training.prompt_run [--prompt box|click]`: train an organ's box- or
click-prompted network (``unet/networks/box_prompt_unet.py``) on the lesion images of the
organ's bundled split, and export it beside the automatic model as ``<organ>_box.keras`` or
``<organ>_click.keras`` with its card (``python -m training.box_prompt_run`` is the same
command, the name the box networks' cards record).

The split is the automatic model's (``weights/<organ>_split.json``): the network trains on the
training part's lesion images, chooses its epoch on the validation part (prompts drawn with a
fixed seed) and is scored on the test part, so neither model ever saw the other's test scans.
Backend-neutral, like ``python -m training``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from training.options import check_dataset_repeat_names, parse_dataset_repeat
from training.prompt_export import PROMPT_KINDS, prompt_weight_path
from unet.inference.registry import ORGANS, WEIGHTS_DIR


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m training.prompt_run", description=__doc__)
    p.add_argument("--organ", required=True, choices=sorted(ORGANS))
    p.add_argument("--prompt", default="box", choices=sorted(PROMPT_KINDS),
                   help="the prompt the network takes (default: box)")
    p.add_argument("--data-dir", required=True, action="append",
                   help="the data sets the organ's split manifest names (repeat the option)")
    p.add_argument("--split", default=None,
                   help="split manifest (default: weights/<organ>_split.json)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--init-weights", default=None, metavar="FILE",
                   help="start from this network of the same prompt (default: the recipe's, "
                        "e.g. thyroid starts from weights/breast_box.keras)")
    p.add_argument("--encoder-weights", default=None, metavar="FILE",
                   help="start only the encoder from this trained automatic model instead of "
                        "ImageNet (tried for breast, docs/prompts.md: not adopted)")
    p.add_argument("--click-sized-draws", type=float, default=None, metavar="SHARE",
                   help="click networks: the share of training windows sized by the lesion "
                        "(default: the recipe's; an experiment, not the recipe)")
    p.add_argument("--learning-rate", type=float, default=None, metavar="LR",
                   help="peak learning rate (default: the recipe's; an experiment, not the "
                        "recipe)")
    p.add_argument("--dataset-repeat", action="append", default=[], metavar="NAME=N",
                   type=parse_dataset_repeat,
                   help="draw the lesion images of the data set in folder NAME N times per "
                        "epoch (repeatable; default: the recipe's; an experiment, not the "
                        "recipe)")
    p.add_argument("--output-dir", default="runs")
    p.add_argument("--export-dir", default=None,
                   help="where <organ>_<prompt>.keras and its card go (default: weights/; "
                        "smoke: the run folder)")
    p.add_argument("--automatic-weights", default=None, metavar="FILE",
                   help="the automatic model whose answer the card's figures compare with and "
                        "whose probability the training-free prompts use (default: the bundled "
                        "weights/<organ>.keras)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--smoke", action="store_true", help="tiny, fast run for tests")
    p.add_argument("--max-images", type=int, default=None,
                   help="use at most this many lesion images of each split")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from training.command_errors import run_reporting_input_errors

    return run_reporting_input_errors(train_prompt_network, parse_args(argv), argv)


def build(recipe, prompt: str = "box"):
    from unet.networks.architectures import build_model

    return build_model("box_prompt_unet", recipe.input_size,
                       decoder_filters=recipe.decoder_filters, prompt=prompt)


def repeated(items: list, dataset_repeat: dict[str, int]) -> list:
    """``items`` with those of each data set named in ``dataset_repeat`` listed that many times
    (each listing draws its own window, prompt and augmentation every epoch)."""
    return [item for item in items for _ in range(dataset_repeat.get(item.dataset, 1))]


def compile_prompt_model(model, recipe, epochs: int, steps: int) -> None:
    import keras

    from training.losses import BceDiceLoss
    from training.metrics import DiceScore

    total = max(1, epochs * steps)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=recipe.learning_rate / 10, decay_steps=max(1, total - steps // 2),
        alpha=0.02, warmup_target=recipe.learning_rate, warmup_steps=steps // 2)
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=1e-4),
                  loss=BceDiceLoss(dice_per_image=True), metrics=[DiceScore()])


def train_prompt_network(args, argv: list[str]) -> int:
    import keras

    from training.box_prompt_data import load_lesion_images
    from training.datasets import find_dataset
    from training.devices import hardware_summary
    from training.manifest import split_samples
    from training.recipes import SMOKE_BOX

    kind = PROMPT_KINDS[args.prompt]
    started = time.time()
    recipe = SMOKE_BOX if args.smoke else kind.recipes()[args.organ]
    if args.click_sized_draws is not None:
        recipe = dataclasses.replace(recipe, click_sized_draws=args.click_sized_draws)
    if args.learning_rate is not None:
        recipe = dataclasses.replace(recipe, learning_rate=args.learning_rate)
    if args.dataset_repeat:
        recipe = dataclasses.replace(recipe, dataset_repeat=tuple(
            {**dict(recipe.dataset_repeat), **dict(args.dataset_repeat)}.items()))
    epochs = args.epochs or recipe.epochs
    keras.utils.set_random_seed(args.seed)
    split_path = Path(args.split) if args.split else WEIGHTS_DIR / f"{args.organ}_split.json"
    manifest = json.loads(split_path.read_text())
    datasets = [find_dataset(d) for d in args.data_dir]
    check_dataset_repeat_names(dict(recipe.dataset_repeat), [d.root.name for d in datasets])
    limit = args.max_images or (12 if args.smoke else None)
    parts = {}
    for name in ("train", "val"):
        samples = split_samples(datasets, manifest, name)
        images = load_lesion_images(samples[:3 * limit] if limit else samples)
        parts[name] = images[:limit] if limit else images
        print(f"{name}: {len(parts[name])} lesion images", flush=True)
    if not parts["train"] or not parts["val"]:
        from training.datasets import DatasetError

        raise DatasetError(f"the split {split_path} names no lesion image in these data sets")
    draws = repeated(parts["train"], dict(recipe.dataset_repeat))
    run_dir = (Path(args.output_dir)
               / f"{args.organ}-{args.prompt}-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir.mkdir(parents=True, exist_ok=True)
    train = kind.batches(recipe, draws, size=recipe.input_size,
                         batch_size=recipe.batch_size, training=True, seed=args.seed)
    val = kind.batches(recipe, parts["val"], size=recipe.input_size,
                       batch_size=recipe.batch_size, training=False, seed=args.seed)
    model = build(recipe, args.prompt)
    init = args.init_weights or (str(prompt_weight_path(recipe.init_from, args.prompt))
                                 if recipe.init_from and not args.smoke else None)
    if init:
        from training.pretrained import load_trained_weights

        load_trained_weights(model, init)
        encoder_init = f"the {args.prompt} network {init}"
    elif args.encoder_weights:
        from training.pretrained import load_encoder_weights

        source = load_encoder_weights(model, args.encoder_weights)
        encoder_init = (f"the encoder of the automatic model {source['file']} (version "
                        f"{source['version']}, sha256 {source['sha256']})")
    elif not args.smoke:
        from training.pretrained import load_imagenet_weights

        load_imagenet_weights(model, "lite0")
        encoder_init = "ImageNet (EfficientNet-Lite0)"
    else:
        encoder_init = "random"
    compile_prompt_model(model, recipe, epochs, len(train))
    callbacks = [
        keras.callbacks.ModelCheckpoint(str(run_dir / "best.weights.h5"), monitor="val_dice",
                                        mode="max", save_best_only=True, save_weights_only=True),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv")),
    ]
    fit_started = time.time()
    history = model.fit(train, validation_data=val, epochs=epochs, callbacks=callbacks,
                        verbose=2, shuffle=False)  # the batches shuffle themselves, seeded
    train_seconds = time.time() - fit_started
    model.load_weights(run_dir / "best.weights.h5")
    val_dice = history.history.get("val_dice", [0.0])
    info = {
        "command": "python -m training.prompt_run " + " ".join(argv),
        "prompt": args.prompt,
        "backend": keras.backend.backend(),
        "seed": args.seed,
        "split": split_path.name,
        "input_size": recipe.input_size,
        "decoder_filters": list(recipe.decoder_filters),
        "encoder_init": encoder_init,
        "epochs": epochs,
        "best_epoch": int(max(range(len(val_dice)), key=val_dice.__getitem__)) + 1,
        "best_val_window_dice": float(max(val_dice)),
        "batch_size": recipe.batch_size,
        "learning_rate": recipe.learning_rate,
        "training_images": {name: len(images) for name, images in parts.items()},
        "dataset_repeat": dict(recipe.dataset_repeat),
        "training_draws_per_epoch": len(draws),
        "train_seconds": round(train_seconds, 1),
        "hardware": hardware_summary(),
    }
    (run_dir / "run_info.json").write_text(json.dumps(info, indent=1))
    from training.prompt_export import export_prompt_network

    export_dir = Path(args.export_dir) if args.export_dir else (
        run_dir if args.smoke else WEIGHTS_DIR)
    export_prompt_network(args.prompt, args.organ, model, recipe, datasets, manifest, info,
                          run_dir, export_dir, started=started, max_test_images=limit,
                          automatic_weights=args.automatic_weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
