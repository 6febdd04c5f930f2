"""The training module runs start to end on Keras's JAX backend with TensorFlow not importable,
and the `.keras` file it writes loads in the TensorFlow app.

The run uses the small from-scratch U-Net: XLA's compilation of the EfficientNet encoder takes
minutes on a 2-core CPU, and the pipeline under test (data, training, calibration, scoring,
export) is the same for every architecture; the encoder's port has its own test."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import write_image_mask_pairs

pytest.importorskip("jax")
BLOCKER = Path(__file__).parent / "no_tensorflow"
ROOT = Path(__file__).resolve().parent.parent


def test_blocker_really_hides_tensorflow():
    env = {**os.environ, "PYTHONPATH": f"{BLOCKER}{os.pathsep}{ROOT}"}
    r = subprocess.run([sys.executable, "-c", "import tensorflow"], env=env,
                       capture_output=True, text=True)
    assert r.returncode != 0 and "blocked for this test" in r.stderr


def test_smoke_training_on_jax_without_tensorflow(tmp_path):
    data = write_image_mask_pairs(tmp_path / "data", 16)
    export = tmp_path / "export"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": f"{BLOCKER}{os.pathsep}{ROOT}"}
    r = subprocess.run(
        [sys.executable, "-m", "training", "--organ", "thyroid", "--data-dir", str(data),
         "--smoke", "--architecture", "unet", "--output-dir", str(tmp_path / "runs"),
         "--export-dir", str(export)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "backend jax" in r.stdout
    card = json.loads((export / "thyroid.json").read_text())
    assert card["training"]["backend"] == "jax"
    assert card["training"]["hardware"]["backend"] == "jax"
    assert "dice_mean" in card["test_metrics"]["test"]

    import keras  # this process: the TensorFlow backend

    assert keras.backend.backend() == "tensorflow"
    from unet.inference.segmenter import Segmenter

    seg = Segmenter("thyroid", weights=export / "thyroid.keras")
    gray = (np.random.default_rng(0).random((80, 96)) * 255).astype(np.uint8)
    result = seg.segment(gray)
    assert result.probability.shape == (80, 96)
    assert card["architecture"] == "unet"
