"""A recipe's stages run one after another on one model (``training/recipes.py``), each in its
own folder, so that an interrupted run continues where it stopped (``--resume``).

A stage compiles a fresh optimizer for its epochs and learning rate, trains (``training/train.py``
``fit``: best checkpoint, early stopping, an epoch backup) and hands its weights on: the best
checkpoint, or the mean of its last N epochs; where the recipe says so
(``keep_received_if_better``), only if that scores at least what the stage received on the
balanced validation Dice (the checkpoint's score; averaged weights get one validation pass),
otherwise what it received. What it handed on
(``handoff.weights.h5``, with the dropout layers' random states) and its record (``stage.json``:
settings, epochs run, best validation figures, seconds) mark it done; a resumed run loads them
instead of training the stage again. The training data's epoch counter runs on across stages
(its augmentation is drawn per epoch), and is set from the records on resume, so a resumed run
trains on exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from training.recipes import Recipe, Stage
from training.train import (
    CHECKPOINT_MONITOR,
    StopAfter,
    TrainConfig,
    compile_for,
    finish_stage,
    fit,
    load_seed_states,
    logged_values,
    save_seed_states,
)

HANDOFF = "handoff.weights.h5"
HANDOFF_SEEDS = "handoff_seed_states.npz"  # the dropout layers' random states at the hand-off
RECORD = "stage.json"
# the balanced validation Dice of what a stage handed on (CHECKPOINT_MONITOR's measure)
SCORE = "handed_on_val_balanced_dice"
SECONDS = "seconds.json"  # time spent in a stage not finished yet (its parts so far)


def custom_stage(recipe: Recipe, args) -> tuple[Stage, ...] | None:
    """One stage from the recipe's own settings where --epochs or --learning-rate change them
    (an experiment, not the recipe); None otherwise (--init-weights only changes where the
    first stage starts)."""
    if not (args.epochs or args.learning_rate):
        return None
    return (Stage("custom", args.epochs or recipe.epochs,
                  args.learning_rate or recipe.learning_rate,
                  warmup_epochs=recipe.warmup_epochs, patience=recipe.patience,
                  average_last_epochs=recipe.average_last_epochs),)


def stage_folder(run_dir: Path, index: int, stage: Stage, count: int) -> Path:
    """One stage: the run folder itself (as before stages existed); several: a folder each."""
    return Path(run_dir) if count == 1 else Path(run_dir) / f"stage{index}-{stage.name}"


def stage_config(base: TrainConfig, stage: Stage, recipe: Recipe) -> TrainConfig:
    dice_per_image = base.dice_per_image if stage.dice_per_image is None else (
        stage.dice_per_image or base.dice_per_image)
    return dataclasses.replace(
        base, epochs=stage.epochs, learning_rate=stage.learning_rate,
        warmup_epochs=stage.warmup_epochs,
        patience=recipe.patience if stage.patience is None else stage.patience,
        dice_per_image=dice_per_image,
        presence_weight=(base.presence_weight if stage.presence_weight is None
                         else stage.presence_weight),
        keep_epoch_weights=base.keep_epoch_weights or stage.average_last_epochs > 0)


def _seconds_so_far(folder: Path) -> float:
    try:
        return float(json.loads((folder / SECONDS).read_text())["seconds"])
    except (OSError, ValueError, KeyError):
        return 0.0


def run_stages(model, stages, recipe: Recipe, base: TrainConfig, train_data, val_data,
               run_dir: Path, *, stop_after_epochs: int | None = None):
    """Train every stage not done yet; ([stage records], the last stage's folder), or None when
    ``stop_after_epochs`` cut the run short (continue with --resume)."""
    stop = StopAfter(stop_after_epochs) if stop_after_epochs else None
    records, offset, folder = [], 0, Path(run_dir)
    steps = len(train_data)
    for index, stage in enumerate(stages, start=1):
        received = folder if records else None  # the stage before's folder (its hand-on)
        folder = stage_folder(run_dir, index, stage, len(stages))
        cfg = stage_config(base, stage, recipe)
        if (folder / RECORD).is_file():  # done before this run was resumed
            record = json.loads((folder / RECORD).read_text())
            model.load_weights(str(folder / HANDOFF))
            load_seed_states(model, folder / HANDOFF_SEEDS)
            offset += record["epochs_run"]
            records.append(record)
            print(f"stage {index} ({stage.name}) done before: {record['epochs_run']} epochs",
                  flush=True)
            continue
        print(f"stage {index}/{len(stages)} ({stage.name}): {cfg.epochs} epochs at learning "
              f"rate {cfg.learning_rate:g}, Dice {'per image' if cfg.dice_per_image else 'batch'}"
              f", presence weight {cfg.presence_weight:g}, handing on {_handoff_text(stage)}",
              flush=True)
        compile_for(model, steps, cfg)
        train_data.set_epoch(offset)
        started = time.time()
        result = fit(model, train_data, val_data, cfg, folder, verbose=2, stop_after=stop)
        seconds = _seconds_so_far(folder) + time.time() - started
        if not result.finished:
            (folder / SECONDS).write_text(json.dumps({"seconds": seconds}))
            return None
        record = _finish(model, stage, cfg, folder, index, result.epochs_run, seconds,
                         val_data, received, records[-1] if records else None, recipe)
        offset += record["epochs_run"]
        records.append(record)
        if stop is not None and stop.stopped and index < len(stages):
            return None  # asked to stop where this stage ended: the next one starts on resume
    return records, folder


def _handoff_text(stage: Stage) -> str:
    if stage.average_last_epochs:
        return f"the mean of its last {stage.average_last_epochs} epochs"
    return "its best checkpoint"


def _finish(model, stage: Stage, cfg: TrainConfig, folder: Path, index: int, epochs_run: int,
            seconds: float, val_data, received: Path | None, received_record: dict | None,
            recipe: Recipe) -> dict:
    """Hand the stage's weights on and record it (this marks it done)."""
    record = {
        "stage": index, **stage.to_dict(), "patience": cfg.patience,
        "dice_loss": "per lesion image" if cfg.dice_per_image else "batch",
        "presence_weight": cfg.presence_weight,
        "epochs_run": epochs_run,
        "checkpoint_monitor": CHECKPOINT_MONITOR,
        "best_val_dice": max(logged_values(folder / "history.csv", "val_dice"), default=0.0),
        "best_val_balanced_dice": max(logged_values(folder / "history.csv",
                                                    CHECKPOINT_MONITOR), default=0.0),
    }
    record.update(_own_result(model, stage, folder, epochs_run, val_data))
    if recipe.keep_received_if_better and received_record and SCORE in received_record:
        record.update(keep_the_better(model, record, received, received_record))
    record["seconds"] = round(seconds, 1)
    model.save_weights(str(folder / HANDOFF))
    save_seed_states(model, folder / HANDOFF_SEEDS)
    (folder / RECORD).write_text(json.dumps(record, indent=1))
    (folder / SECONDS).unlink(missing_ok=True)
    finish_stage(folder)
    return record


def _own_result(model, stage: Stage, folder: Path, epochs_run: int, val_data) -> dict:
    """Leave the stage's own result in ``model`` (fit left its best checkpoint there) and say
    what it is and its balanced validation Dice (``SCORE``)."""
    if stage.average_last_epochs:
        from training.weight_average import average_run_epochs

        first = max(1, epochs_run - stage.average_last_epochs + 1)
        average = average_run_epochs(model, folder, list(range(first, epochs_run + 1)))
        scores = model.evaluate(val_data, verbose=0, return_dict=True)
        score = scores[CHECKPOINT_MONITOR.removeprefix("val_")]
        return {"weight_average": average, "handed_on": f"mean of epochs {first}-{epochs_run}",
                SCORE: round(float(score), 4)}
    monitored = logged_values(folder / "history.csv", CHECKPOINT_MONITOR)
    best = 1 + max(range(len(monitored)), key=monitored.__getitem__) if monitored else 0
    return {"handed_on": f"best checkpoint (epoch {best})",
            SCORE: round(max(monitored, default=0.0), 4)}


def keep_the_better(model, record: dict, received: Path, received_record: dict) -> dict:
    """Where the stage's own result scores below what it received, put the received weights
    back in ``model`` (its random states stay the stage's) and return the record's changes; {}
    where its own result stands (a tie keeps it)."""
    if record[SCORE] >= received_record[SCORE]:
        return {}
    model.load_weights(str(received / HANDOFF))  # the weights only: not the random states
    own = {k: record.pop(k) for k in ("handed_on", SCORE, "weight_average")
           if k in record}
    return {"own_result": own, SCORE: received_record[SCORE],
            "handed_on": (f"what it received (stage {received_record['stage']}'s hand-on), "
                          f"which scored higher on the balanced validation Dice "
                          f"({received_record[SCORE]:.4f} against "
                          f"{own[SCORE]:.4f})")}
