"""Fit a model: AdamW with warm-up and cosine decay, early stopping and best checkpoint on the
validation's balanced Dice (lesion Dice and lesion-free scans left empty, half each), a CSV log
and Keras progress bars. Backend-neutral (TensorFlow, JAX, PyTorch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras

from training.losses import BceDiceLoss
from training.memory import KeepAllocatorBuffers
from training.metrics import BalancedDice, DiceScore
from unet.networks.architectures import build_model

DISTRIBUTIONS = ("auto", "none", "data_parallel")
CHECKPOINT_MONITOR = "val_balanced_dice"
EPOCH_WEIGHTS_DIR = "epochs"  # inside the run folder, with --keep-epoch-weights
EPOCH_WEIGHTS_NAME = "epoch_{epoch:02d}.weights.h5"  # Keras counts epochs from 1 here


def choose_distribution(name: str) -> str:
    """Several accelerators under JAX: `keras.distribution.DataParallel` over all of them.

    Returns what was set up ("none" or "data_parallel xN")."""
    if name not in DISTRIBUTIONS:
        raise ValueError(f"--distribution must be one of {DISTRIBUTIONS}")
    if name == "none" or keras.backend.backend() != "jax":
        if name == "data_parallel":
            raise ValueError("--distribution data_parallel needs the JAX backend "
                             "(KERAS_BACKEND=jax)")
        return "none"
    devices = keras.distribution.list_devices()
    if name == "data_parallel" or (name == "auto" and len(devices) > 1):
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        return f"data_parallel x{len(devices)}"
    return "none"


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 3
    patience: int = 25
    presence_weight: float = 0.0
    dice_per_image: bool = False  # Dice term: mean over lesion images, not one batch Dice
    lovasz_weight: float = 0.0  # weight of the per-image Lovász Jaccard term
    keep_epoch_weights: bool = False  # also save each epoch's weights (for weight averaging)


def compile_model(architecture: str, model_kwargs: dict, input_size: int, steps_per_epoch: int,
                  cfg: TrainConfig, *, pretrained: bool = False):
    model = build_model(architecture, input_size, **model_kwargs)
    if pretrained:
        from training.pretrained import load_imagenet_weights

        load_imagenet_weights(model, model_kwargs.get("variant", "lite0"))
    total = max(1, cfg.epochs * steps_per_epoch)
    warmup = min(total // 2, cfg.warmup_epochs * steps_per_epoch)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg.learning_rate / 10,
        decay_steps=max(1, total - warmup),
        alpha=0.02,
        warmup_target=cfg.learning_rate,
        warmup_steps=warmup,
    )
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=cfg.weight_decay)
    model.compile(optimizer=optimizer, loss=BceDiceLoss(presence_weight=cfg.presence_weight,
                                                        dice_per_image=cfg.dice_per_image,
                                                        lovasz_weight=cfg.lovasz_weight),
                  metrics=[DiceScore(), BalancedDice()])
    return model


def fit(model, train_data, val_data, cfg: TrainConfig, run_dir: Path, *, verbose: int = 1):
    """Train with checkpointing; returns the History. The best weights end up in the model."""
    run_dir.mkdir(parents=True, exist_ok=True)
    callbacks = [
        KeepAllocatorBuffers(),  # TensorFlow's data pipeline would page-fault every buffer
        keras.callbacks.ModelCheckpoint(
            str(run_dir / "best.keras"), monitor=CHECKPOINT_MONITOR, mode="max", save_best_only=True
        ),
        keras.callbacks.EarlyStopping(
            monitor=CHECKPOINT_MONITOR, mode="max", patience=cfg.patience, restore_best_weights=True
        ),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv")),
    ]
    if cfg.keep_epoch_weights:
        (run_dir / EPOCH_WEIGHTS_DIR).mkdir(exist_ok=True)
        callbacks.append(keras.callbacks.ModelCheckpoint(
            str(run_dir / EPOCH_WEIGHTS_DIR / EPOCH_WEIGHTS_NAME), save_weights_only=True))
    return model.fit(
        train_data, validation_data=val_data, epochs=cfg.epochs, callbacks=callbacks,
        verbose=verbose
    )
