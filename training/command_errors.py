"""How the training commands end on a problem with their inputs: one error line, exit code 2."""

from __future__ import annotations

import sys


def run_reporting_input_errors(command, args, argv) -> int:
    """``command(args, argv)`` (argv: the command line as given, ``sys.argv[1:]`` for None);
    a data set or weights file it cannot use is printed as one line and gives exit code 2."""
    from training.datasets import DatasetError
    from training.pretrained import PretrainedWeightsError

    try:
        return command(args, sys.argv[1:] if argv is None else argv)
    except (DatasetError, PretrainedWeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
