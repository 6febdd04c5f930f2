"""The engine's flatbuffer shipped beside a ``.keras`` file, so that a fresh host serves at once.

Converting a ``.keras`` file to a TF Lite flatbuffer needs TensorFlow: in the app that is a child
process that imports it and converts (about 25 s and 1.3 GB of memory at the first start on the
project's 2-core machine, measured), and a Hugging Face Space starts fresh on every restart, so
every visitor after a restart would wait for it. So the export writes the converted flatbuffer of
the segmenting batch (the image and its mirror: batch 2) into ``weights/`` beside the ``.keras``:

* ``<stem>.tflite``: the flatbuffer (``unet.inference.engine.convert``), float32, with the encoder's
  features as a second output when the network has that layer (the organ check reads them);
* ``<stem>.tflite.json``: what it was converted from: the SHA-256 of the ``.keras`` file, the
  input shape, batch size, feature layer, the flatbuffer's own SHA-256 and the converter's
  versions, and the network's shape (``unet.networks.network_shape.architecture``) for the app's
  text.

The ``.keras`` file stays the single source of truth: the engine uses the shipped flatbuffer only
when the manifest names exactly that file (its SHA-256), shape, batch size and feature layer, and
the flatbuffer's bytes hash to the recorded value; otherwise it converts as before (and caches).
Other batch sizes (the quality estimate's test-time augmentation batch of 4) run through the
shipped one in chunks, so the app never converts anything.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from unet.files import write_atomic

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the conversion or this manifest changes
BATCH_SIZE = 2  # Segmenter.TTA_BATCH: the image and its mirror


@dataclass(frozen=True)
class Bundle:
    batch_size: int
    content: bytes
    architecture: dict | None


def paths(weights: str | Path) -> tuple[Path, Path]:
    """(flatbuffer, manifest) beside the ``.keras`` file."""
    weights = Path(weights)
    flatbuffer = weights.with_suffix(".tflite")
    return flatbuffer, flatbuffer.with_name(flatbuffer.name + ".json")


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def read(weights: str | Path, *, weights_sha256: str, input_shape: tuple[int, ...],
         feature_layer: str | None) -> Bundle | None:
    """The shipped flatbuffer, or None when there is none or it was not converted from exactly
    this file, shape and feature layer (then the engine converts, as without one)."""
    flatbuffer, manifest_path = paths(weights)
    if not (flatbuffer.is_file() and manifest_path.is_file()):
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        content = flatbuffer.read_bytes()
        expected = {
            "format": FORMAT,
            "source_sha256": weights_sha256,
            "input_shape": list(input_shape),
            "feature_layer": feature_layer,
            "flatbuffer_sha256": _sha256(content),
        }
        stale = [k for k, v in expected.items() if manifest.get(k) != v]
        if stale:
            log.info("%s not used (%s differs from what it records); converting instead",
                     flatbuffer.name, ", ".join(stale))
            return None
        return Bundle(int(manifest["batch_size"]), content, manifest.get("architecture"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.info("%s unreadable (%s); converting instead", flatbuffer.name, exc)
        return None


def write(weights: str | Path, model=None, *, batch_size: int = BATCH_SIZE) -> Path:
    """Convert the ``.keras`` file (or its already loaded ``model``) and write the flatbuffer and
    its manifest beside it, each to a temporary name first. Needs Keras on TensorFlow."""
    import keras

    from unet.inference.conversion import convert, file_sha256, package_version
    from unet.inference.features import ENCODER_LAYER
    from unet.networks.network_shape import architecture

    weights = Path(weights)
    if model is None:
        model = keras.saving.load_model(weights, compile=False)
    feature_layer = ENCODER_LAYER if ENCODER_LAYER in {x.name for x in model.layers} else None
    content = convert(model, batch_size, feature_layer)
    manifest = {
        "format": FORMAT,
        "what": ("TF Lite flatbuffer of the .keras file beside it "
                 "(python -m unet.inference.engine_bundle)"),
        "source": weights.name,
        "source_sha256": file_sha256(weights),
        "input_shape": [int(d) for d in model.input_shape[1:]],
        "batch_size": int(batch_size),
        "feature_layer": feature_layer,
        "flatbuffer_sha256": _sha256(content),
        "flatbuffer_bytes": len(content),
        "converted_with": {p: package_version(p)
                           for p in ("tensorflow", "tensorflow-cpu", "keras")},
        "architecture": architecture(model),
    }
    flatbuffer, manifest_path = paths(weights)
    write_atomic(flatbuffer, content)
    write_atomic(manifest_path, (json.dumps(manifest, indent=1) + "\n").encode())
    return flatbuffer


def main(argv=None) -> int:
    """``python -m unet.inference.engine_bundle weights/breast.keras [...]``: (re)write the
    bundles."""
    import argparse

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, nargs="+")
    args = parser.parse_args(argv)
    for w in args.weights:
        out = write(w)
        print(f"{out} ({out.stat().st_size / 1e6:.1f} MB) from {w}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
