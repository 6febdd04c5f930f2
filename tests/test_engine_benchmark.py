"""The speed benchmark's model-pass comparison runs and reports the app's engine against ONNX
Runtime (a small model and a few repetitions: this checks the benchmark, not the speed)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import small_organ
from unet.inference.segmenter import Segmenter
from unet.networks.unet import build_unet


def test_model_pass_compares_the_engine_with_onnxruntime_tf_function_and_predict():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    from benchmarks.speed import bench_model, render_markdown

    organ = small_organ(size=64)
    seg = Segmenter(organ, model=build_unet(64, **organ.model_kwargs), engine="litert")
    assert seg.engine.startswith("LiteRT")
    calls = seg.calls
    result = bench_model(seg, threads=1, opset=17, repeats=3, warmup=1)

    assert set(result["timings"]) == {"engine", "onnxruntime", "tf_function", "model_predict"}
    assert all(t["n"] == 3 and t["median_ms"] > 0 for t in result["timings"].values())
    assert seg.calls - calls == 1 + 1 + 3  # agreement check, warm-up, timed: the app's engine
    expected = result["timings"]["engine"]["median_ms"] / result["timings"]["onnxruntime"][
        "median_ms"]
    assert result["ratio"] == pytest.approx(expected, abs=1e-3)
    assert result["ratios_to_onnxruntime"]["engine"] == result["ratio"]
    assert result["engine"] == seg.engine
    assert max(result["agreement"].values()) < 1e-4  # four ways to run one model, one answer

    report = {
        "date": "d", "machine": {"cpu": "c", "logical_cores": 2, "usable_cores": 2, "os": "o"},
        "load_average_start": None, "load_average_end": None, "threads": 1,
        "tensorflow_threads": {"intra_op": 0, "inter_op": 0}, "versions": {}, "weights": "w",
        "command": "c", "model_pass": result, "trained_weights": False,
        "app": {"cold": {"command": "python app.py", "startup_to_first_answer_s": 12.5,
                         "requests": 1, "peak_rss_mb": 900.0},
                "warm": {"command": "python app.py", "startup_to_first_answer_s": 6.0,
                         "requests": 1, "peak_rss_mb": 1100.0}},
    }
    markdown = render_markdown(report)
    assert f"**{result['ratio']:.2f}**" in markdown
    assert "missed by 2.50 s" in markdown and "missed by 76.00 MB" in markdown
    assert markdown.count("| met |") >= 2  # warm start-up and cold memory
    assert np.isfinite(result["ratio"])
