"""Keras model -> TF Lite flatbuffer, and the facts that identify a conversion (file hash,
package versions). Shared by the engine (``unet.inference.engine``) and the flatbuffer shipped
beside the weights (``unet.inference.engine_bundle``); needs Keras on TensorFlow."""

from __future__ import annotations

import ctypes
import gc
import hashlib
import importlib.metadata
import json
import logging
import sys
from pathlib import Path


class EngineUnavailable(RuntimeError):
    """The LiteRT engine cannot run here (no interpreter package, or Keras not on TensorFlow)."""


def package_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "none"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert(model, batch_size: int, feature_layer: str | None = None) -> bytes:
    """TF Lite flatbuffer of ``model(x, training=False)`` for a fixed ``(batch_size, ...)`` input,
    weights frozen into constants (so batch normalization folds into the convolutions), built-in
    TF Lite ops only (the XNNPACK delegate takes those; no TensorFlow ops at run time).

    ``feature_layer``: that layer's output is a second output of the same graph (the organ check
    reads the encoder's features from the pass that segments, instead of a second pass)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise EngineUnavailable(f"the conversion needs Keras on TensorFlow, not "
                                f"{keras.backend.backend()!r}")
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    shape = [int(batch_size), *(int(d) for d in model.input_shape[1:])]
    spec = tf.TensorSpec(shape, tf.float32)
    if feature_layer is not None:
        model = keras.Model(model.input, [model.outputs[0],
                                           model.get_layer(feature_layer).output])
    fn = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
    # No ``trackable_obj``: the variables are frozen already, and with it the converter writes a
    # SavedModel to a temporary folder first (three times slower); it only warns about that.
    absl = logging.getLogger("absl")
    absl.addFilter(_drop_trackable_obj_warning)
    try:
        converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter.convert()
    finally:
        absl.removeFilter(_drop_trackable_obj_warning)
        del fn, frozen
        _release_freed_memory()


def _release_freed_memory() -> None:
    """Hand the converter's freed heap back to the system (glibc keeps it otherwise: about
    200 MB after converting the two bundled models, measured)."""
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to trim
            pass


def _drop_trackable_obj_warning(record: logging.LogRecord) -> bool:
    return "trackable_obj" not in record.getMessage()


def convert_file(weights: Path, batch_sizes, feature_layer: str | None, out: Path) -> None:
    """Convert a ``.keras`` file (``b<N>.tflite`` per batch size) and store its network's shape
    (``architecture.json``) in ``out``. Runs in the child process of ``python -m
    unet.inference.engine``."""
    import keras

    from unet.networks.network_shape import architecture

    model = keras.saving.load_model(weights, compile=False)
    for n in batch_sizes:
        (out / f"b{int(n)}.tflite").write_bytes(convert(model, int(n), feature_layer))
    (out / "architecture.json").write_text(json.dumps(architecture(model)))
