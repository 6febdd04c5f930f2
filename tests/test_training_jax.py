"""The training module runs start to end on Keras's JAX backend with TensorFlow not importable,
and the `.keras` file it writes loads in the TensorFlow app.

The run uses the small from-scratch U-Net: XLA's compilation of the EfficientNet encoder takes
minutes on a 2-core CPU, and the pipeline under test (data, training, calibration, scoring,
export) is the same for every architecture; the encoder's port has its own test. The run is a
child process started when collection ends (``tests.helpers.BackgroundRun``), beside the other
tests; the test reads what it left.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import XLA_QUICK_COMPILE, BackgroundRun, write_image_mask_pairs

pytest.importorskip("jax")
BLOCKER = Path(__file__).parent / "blocked_imports"  # TensorFlow, by default
ROOT = Path(__file__).resolve().parent.parent


def test_blocker_really_hides_tensorflow():
    env = {**os.environ, "PYTHONPATH": f"{BLOCKER}{os.pathsep}{ROOT}"}
    r = subprocess.run([sys.executable, "-c", "import tensorflow"], env=env,
                       capture_output=True, text=True)
    assert r.returncode != 0 and "blocked for this test" in r.stderr


def _jax_smoke_inputs(folder):
    data = write_image_mask_pairs(folder / "data", 16)
    argv = [sys.executable, "-m", "training", "--organ", "thyroid", "--data-dir", str(data),
            "--smoke", "--architecture", "unet", "--output-dir", str(folder / "runs"),
            "--export-dir", str(folder / "export")]
    return argv, {"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
                  "PYTHONPATH": f"{BLOCKER}{os.pathsep}{ROOT}", **XLA_QUICK_COMPILE}


JAX_SMOKE = BackgroundRun("jax_smoke", _jax_smoke_inputs)
jax_smoke = JAX_SMOKE.fixture()


def test_smoke_training_on_jax_without_tensorflow(jax_smoke):
    assert jax_smoke.returncode == 0, jax_smoke.output[-6000:]
    assert "backend jax" in jax_smoke.output
    export = jax_smoke.folder / "export"
    card = json.loads((export / "thyroid.json").read_text())
    assert card["training"]["backend"] == "jax"
    assert card["training"]["hardware"]["backend"] == "jax"
    assert "dice_mean" in card["test_metrics"]["test"]

    import keras  # this process: the TensorFlow backend

    assert keras.backend.backend() == "tensorflow"
    from unet.inference import engine_bundle
    from unet.inference.segmenter import Segmenter

    # as the export says for weights trained on JAX: the engine's flatbuffer is written where
    # TensorFlow is installed, and the app serves the file with it
    assert "engine flatbuffer not written" in jax_smoke.output
    assert not (export / "thyroid.tflite").exists()
    engine_bundle.write(export / "thyroid.keras")
    seg = Segmenter("thyroid", weights=export / "thyroid.keras")
    assert seg.engine.startswith("LiteRT") and seg._litert.conversions == 0, seg.engine
    gray = (np.random.default_rng(0).random((80, 96)) * 255).astype(np.uint8)
    result = seg.segment(gray)
    assert result.probability.shape == (80, 96)
    assert card["architecture"] == "unet"
