"""Weight averaging over the epochs of one run (stochastic weight averaging without extra
training): the mean of several end-of-epoch weights of one trajectory often sits in a flatter,
better-generalising spot than any single checkpoint (Izmailov et al., "Averaging Weights
Leads to Wider Optima and Better Generalization", UAI 2018). Every variable is averaged, batch-norm
moving statistics included (they come from the same run, so their mean is a fair estimate).

Needs a run trained with ``--keep-epoch-weights``; ``python -m training.export --average-epochs
7-12`` uses it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from training.train import EPOCH_WEIGHTS_DIR, EPOCH_WEIGHTS_NAME

AVERAGE_RULE = ("element-wise mean of the end-of-epoch weights, batch-norm statistics included "
                "(training/weight_average.py)")


def parse_epoch_range(text: str) -> list[int]:
    """'7-12' -> [7, ..., 12]; '9' -> [9]. Epochs count from 1, as the run's log does."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if not m:
        raise ValueError(f"epoch range {text!r}: write FIRST-LAST, e.g. 7-12")
    first, last = int(m.group(1)), int(m.group(2) or m.group(1))
    if first < 1 or last < first:
        raise ValueError(f"epoch range {text!r}: needs 1 <= FIRST <= LAST")
    return list(range(first, last + 1))


def epoch_weight_files(run_dir: Path, epochs: list[int]) -> list[Path]:
    """The saved weights of those epochs; a missing one raises FileNotFoundError naming it."""
    files = [Path(run_dir) / EPOCH_WEIGHTS_DIR / EPOCH_WEIGHTS_NAME.format(epoch=e)
             for e in epochs]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{run_dir}: no saved weights for {', '.join(missing)} (train with "
            "--keep-epoch-weights; an early-stopped run has fewer epochs)")
    return files


def mean_weights(weight_sets: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Element-wise mean of several models' weight lists (same architecture, same order)."""
    if not weight_sets:
        raise ValueError("no weights to average")
    shapes = [w.shape for w in weight_sets[0]]
    for ws in weight_sets[1:]:
        if [w.shape for w in ws] != shapes:
            raise ValueError("the weights to average come from different architectures")
    return [np.mean([ws[i].astype(np.float64) for ws in weight_sets], axis=0)
            .astype(weight_sets[0][i].dtype) for i in range(len(shapes))]


def average_epochs(model, files: list[Path]):
    """Load each file into `model` in turn and leave the mean of all of them in it."""
    sets = []
    for f in files:
        model.load_weights(str(f))
        sets.append([np.asarray(w) for w in model.get_weights()])
    model.set_weights(mean_weights(sets))
    return model


def average_run_epochs(model, run_dir: Path, epochs: list[int]) -> dict:
    """Leave the mean of those epochs of the run in `model`; the card's record of it."""
    average_epochs(model, epoch_weight_files(run_dir, epochs))
    return {"epochs": list(epochs), "rule": AVERAGE_RULE}
