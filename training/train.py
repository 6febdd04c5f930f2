"""Fit a model: AdamW with warm-up and cosine decay, early stopping and best checkpoint on the
validation's balanced Dice (lesion Dice and lesion-free scans left empty, half each), a CSV log
and Keras progress bars. Backend-neutral (TensorFlow, JAX, PyTorch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

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
    compile_for(model, steps_per_epoch, cfg)
    return model


def compile_for(model, steps_per_epoch: int, cfg: TrainConfig) -> None:
    """(Re)compile ``model`` for one stage: a fresh AdamW with warm-up and cosine decay over
    the stage's epochs, the stage's loss options and the Dice metrics."""
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


BACKUP_DIR = "backup"  # inside the stage's folder: the last finished epoch, for --resume


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Early stopping that, resumed, replays the epochs already run (their logged monitor
    values), so its patience counts as in an uninterrupted run."""

    def __init__(self, *args, past: list[float] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.past = list(past)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        for epoch, value in enumerate(self.past):
            super().on_epoch_end(epoch, {self.monitor: value})


class StopAfter(keras.callbacks.Callback):
    """Stops training at the end of the epoch where ``remaining`` reaches 0 (--stop-after-epochs:
    a run cut into parts, each continued with --resume)."""

    def __init__(self, remaining: int):
        super().__init__()
        self.remaining = remaining
        self.stopped = False

    def on_epoch_end(self, epoch, logs=None):
        self.remaining -= 1
        if self.remaining <= 0:
            self.stopped = True
            self.model.stop_training = True


def seed_states(model) -> list:
    """The model's random-number states (its dropout layers' seed generators): Keras saves
    them neither with the weights nor in BackupAndRestore."""
    return [v for v in model.variables if "seed_generator_state" in v.path]


def save_seed_states(model, path: Path) -> None:
    np.savez(path, **{f"s{i}": keras.ops.convert_to_numpy(v)
                      for i, v in enumerate(seed_states(model))})


def load_seed_states(model, path: Path) -> None:
    saved = np.load(path)
    for i, variable in enumerate(seed_states(model)):
        variable.assign(saved[f"s{i}"])


class SeedStateBackup(keras.callbacks.Callback):
    """Backs up the model's random-number states with each epoch, so that a resumed run draws
    the same dropout masks as an uninterrupted one; restores the state of the epoch the backup
    holds (``resume_epoch``) when training begins."""

    def __init__(self, folder: Path, resume_epoch: int = 0):
        super().__init__()
        self.folder, self.resume_epoch = Path(folder), resume_epoch

    def _path(self, epoch: int) -> Path:
        return self.folder / f"seed_states_{epoch:04d}.npz"

    def on_train_begin(self, logs=None):
        if self.resume_epoch:
            load_seed_states(self.model, self._path(self.resume_epoch))

    def on_epoch_end(self, epoch, logs=None):
        import contextlib

        self.folder.mkdir(parents=True, exist_ok=True)
        save_seed_states(self.model, self._path(epoch + 1))
        with contextlib.suppress(OSError):
            self._path(epoch - 1).unlink()  # keep this epoch's and the one before


def logged_values(history_csv: Path, column: str) -> list[float]:
    """One column of a CSVLogger file (the epochs already run); [] where there is none."""
    import csv

    if not Path(history_csv).is_file():
        return []
    with open(history_csv, newline="") as f:
        return [float(row[column]) for row in csv.DictReader(f) if row.get(column)]


def backed_up_epochs(run_dir: Path) -> int:
    """How many epochs the folder's backup holds (0: none to continue from)."""
    import json

    path = Path(run_dir) / BACKUP_DIR / "training_metadata.json"
    try:
        return int(json.loads(path.read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _truncate_log(history_csv: Path, rows: int) -> None:
    """Keep the header and the first ``rows`` epochs (a run cut off between its log and its
    backup logged one epoch more than it backed up)."""
    lines = Path(history_csv).read_text().splitlines(keepends=True)
    Path(history_csv).write_text("".join(lines[:1 + rows]))


@dataclass
class FitResult:
    history: object  # keras History of the epochs run in this call
    finished: bool  # the stage ran to its end (all epochs, or stopped early); False: cut off
    epochs_run: int  # in the stage so far, this call's included


def fit(model, train_data, val_data, cfg: TrainConfig, run_dir: Path, *, verbose: int = 1,
        stop_after: StopAfter | None = None) -> FitResult:
    """Train with checkpointing. When the stage finishes, its best weights end up in the model.

    Each epoch's end is backed up in ``run_dir/backup`` (model, optimizer, epoch): a run that
    stopped (cut off, or ``stop_after``) continues from there when ``fit`` is called again on the
    same folder, with the early stopping, the best checkpoint and the log as they were, and the
    training data's epoch counter set to match (its randomness is drawn per epoch), so the
    result is that of an uninterrupted run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    history_csv = run_dir / "history.csv"
    done = backed_up_epochs(run_dir)
    past = logged_values(history_csv, CHECKPOINT_MONITOR)[:done] if done else []
    if done and len(past) < done:
        raise RuntimeError(f"{run_dir}: the backup holds {done} epochs but history.csv logs "
                           f"{len(past)}; the folder cannot be resumed")
    if done:
        _truncate_log(history_csv, done)
    best_path = run_dir / "best.keras"
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(best_path), monitor=CHECKPOINT_MONITOR, mode="max", save_best_only=True)
    stopping = ResumableEarlyStopping(monitor=CHECKPOINT_MONITOR, mode="max",
                                      patience=cfg.patience, past=past)
    if past:
        checkpoint.best = max(past)
        train_data.set_epoch(train_data.epoch + len(past))
    callbacks = [
        KeepAllocatorBuffers(),  # TensorFlow's data pipeline would page-fault every buffer
        SeedStateBackup(run_dir / BACKUP_DIR, done),
        checkpoint,
        stopping,
        keras.callbacks.CSVLogger(str(history_csv), append=bool(past)),
    ]
    if cfg.keep_epoch_weights:
        (run_dir / EPOCH_WEIGHTS_DIR).mkdir(exist_ok=True)
        callbacks.append(keras.callbacks.ModelCheckpoint(
            str(run_dir / EPOCH_WEIGHTS_DIR / EPOCH_WEIGHTS_NAME), save_weights_only=True))
    # last, after the log and the seed states: a run cut off in between has logged the epoch
    # it did not back up. (Its on_train_begin runs after the seed states' restore, and loads
    # weights and optimizer only, so the order does not matter there.)
    callbacks.append(keras.callbacks.BackupAndRestore(
        str(run_dir / BACKUP_DIR), double_checkpoint=True, delete_checkpoint=False))
    if stop_after is not None:
        callbacks.append(stop_after)
    # BackupAndRestore tells fit where to start through the model (its _initial_epoch), and
    # that stays set after the fit: a later stage on the same model would start at that epoch
    model._initial_epoch = None
    # shuffle=False: the batches already come in the order the data's seeded plan draws per
    # epoch; Keras's own shuffle of the batch order uses Python's global random state, which a
    # resumed run cannot replay
    history = model.fit(
        train_data, validation_data=val_data, epochs=cfg.epochs, callbacks=callbacks,
        verbose=verbose, shuffle=False
    )
    epochs_run = len(logged_values(history_csv, CHECKPOINT_MONITOR))
    finished = (stop_after is None or not stop_after.stopped or epochs_run >= cfg.epochs
                or stopping.stopped_epoch > 0)
    if finished and best_path.is_file():
        model.load_weights(str(best_path))
    return FitResult(history, finished, epochs_run)


def finish_stage(run_dir: Path) -> None:
    """The stage is over: its backup is no longer needed."""
    import shutil

    shutil.rmtree(Path(run_dir) / BACKUP_DIR, ignore_errors=True)
