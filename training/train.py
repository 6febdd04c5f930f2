"""Fit a U-Net: AdamW with warm-up and cosine decay, early stopping and best checkpoint on the
validation Dice, a CSV log and Keras progress bars."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from training.losses import BceDiceLoss
from training.metrics import DiceScore
from unet.model import build_unet

STRATEGIES = ("auto", "default", "one_device", "mirrored")


def choose_strategy(name: str) -> tf.distribute.Strategy:
    """TensorFlow's own distribution: MirroredStrategy over all visible GPUs, or a single device."""
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    if name == "one_device" or (name == "auto" and len(gpus) == 1):
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name in ("default", "auto"):
        return tf.distribute.get_strategy()
    raise ValueError(f"--strategy must be one of {STRATEGIES}")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 3
    patience: int = 25


def compile_model(model_kwargs: dict, input_size: int, steps_per_epoch: int, cfg: TrainConfig):
    model = build_unet(input_size, **model_kwargs)
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
    model.compile(optimizer=optimizer, loss=BceDiceLoss(), metrics=[DiceScore()])
    return model


def fit(model, train_ds, val_ds, cfg: TrainConfig, run_dir: Path, *, verbose: int = 1):
    """Train with checkpointing; returns the History. The best weights end up in the model."""
    run_dir.mkdir(parents=True, exist_ok=True)
    callbacks = [
        keras.callbacks.ModelCheckpoint(
            str(run_dir / "best.keras"), monitor="val_dice", mode="max", save_best_only=True
        ),
        keras.callbacks.EarlyStopping(
            monitor="val_dice", mode="max", patience=cfg.patience, restore_best_weights=True
        ),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv")),
    ]
    return model.fit(
        train_ds, validation_data=val_ds, epochs=cfg.epochs, callbacks=callbacks, verbose=verbose
    )
