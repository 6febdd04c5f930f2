"""Command-line values shared by the training commands (``python -m training``,
``python -m training.prompt_run``)."""

from __future__ import annotations

import argparse


def parse_dataset_repeat(text: str) -> tuple[str, int]:
    """``NAME=N`` (a data set's folder name, drawn N >= 1 times per epoch) as (NAME, N)."""
    name, sep, times = text.rpartition("=")
    if not sep or not name or not times.isdigit() or int(times) < 1:
        raise argparse.ArgumentTypeError(f"expected NAME=N with N >= 1, got {text!r}")
    return name, int(times)


def check_dataset_repeat_names(dataset_repeat: dict[str, int], names: list[str]) -> None:
    """A ``DatasetError`` naming the data sets in ``dataset_repeat`` that are not given."""
    unknown = sorted(set(dataset_repeat) - set(names))
    if unknown:
        from training.datasets import DatasetError

        raise DatasetError(f"--dataset-repeat names {', '.join(unknown)}, which is not among the "
                           f"data sets given ({', '.join(names)})")
