"""Degraded uploads for evaluation (training/degrade.py) and `training.evaluate --degrade`."""

import json

import cv2
import numpy as np
import pytest

from tests.helpers import texture, write_image_mask_pairs
from training.degrade import DEGRADATIONS, at_lower_resolution
from unet.testing.phantom import make_phantom


def test_jpeg_and_lower_resolution_keep_the_scan_and_lose_detail():
    gray, _ = make_phantom(240, 320, seed=1)
    for name, degrade in DEGRADATIONS.items():
        out = degrade(gray)
        assert out.shape == gray.shape and out.dtype == np.uint8, name
        assert np.abs(out.astype(int) - gray.astype(int)).mean() > 0, name  # changed
        smooth = [cv2.GaussianBlur(g.astype(np.float32), (0, 0), 4) for g in (out, gray)]
        assert np.abs(smooth[0] - smooth[1]).mean() < 3, name  # but the same scan
        assert texture(out) < texture(gray), name  # fine detail is what goes
    assert texture(at_lower_resolution(gray, 0.5)) < 0.6 * texture(gray)


def test_evaluate_degrades_the_image_not_the_outline(tmp_path):
    from training.datasets import find_dataset
    from training.evaluate import score_image
    from unet.inference.registry import get_organ
    from unet.inference.segmenter import Segmenter

    data = write_image_mask_pairs(tmp_path / "data", 1, height=160, width=192)
    sample = find_dataset(str(data)).samples[0]
    segmenter = Segmenter(get_organ("thyroid"))
    row, arrays = score_image(segmenter, sample, degrade=np.zeros_like)  # a blank upload
    assert row["has_lesion"] and arrays["truth"].any()  # the outline is untouched
    assert not arrays["image"].any() and not row["predicted_lesion"] and row["dice"] == 0.0


def test_evaluate_cli_scores_a_degraded_split(tmp_path):
    from training.evaluate import main as evaluate_main

    data = write_image_mask_pairs(tmp_path / "data", 2, height=160, width=192)
    out = tmp_path / "half.json"
    assert evaluate_main(["--organ", "thyroid", "--data-dir", str(data), "--split", "all",
                          "--degrade", "half-resolution", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["degraded_as"] == "half-resolution" and len(result["per_image"]) == 2
    with pytest.raises(SystemExit):
        evaluate_main(["--organ", "thyroid", "--data-dir", str(data), "--degrade", "sepia"])
