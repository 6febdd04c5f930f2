"""What a saved ``.keras`` file says about its network, read without Keras or TensorFlow.

A ``.keras`` file is a zip holding ``config.json`` (the layer graph), ``metadata.json`` and the
weights. The app reads the input size and the layer names from the config, so that it can run
the converted flatbuffer without importing TensorFlow (about 600 MB and 4 s, measured)."""

from __future__ import annotations

import functools
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path


class UnreadableModelFile(ValueError):
    """The file is not a ``.keras`` zip with a functional model's config."""


@dataclass(frozen=True)
class SavedModelFacts:
    input_shape: tuple[int, ...]  # without the batch dimension
    layer_names: tuple[str, ...]


def read_facts(path: str | Path) -> SavedModelFacts:
    """The file's input shape and layer names (read once per file version: the segmenter and
    its engine both ask at start-up)."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise UnreadableModelFile(f"{path}: not a readable .keras model file "
                                  f"({type(exc).__name__}: {exc})") from exc
    return _read_facts(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _read_facts(path: str, _mtime_ns: int, _size: int) -> SavedModelFacts:
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
        layers = config["config"]["layers"]
        names = tuple(str(layer["name"]) for layer in layers)
        shape = next(layer["config"]["batch_shape"] for layer in layers
                     if layer.get("class_name") == "InputLayer")
        return SavedModelFacts(tuple(int(d) for d in shape[1:]), names)
    except (OSError, zipfile.BadZipFile, KeyError, TypeError, ValueError, StopIteration) as exc:
        raise UnreadableModelFile(f"{path}: not a readable .keras model file "
                                  f"({type(exc).__name__}: {exc})") from exc
