"""Speed benchmark: `python -m benchmarks.speed --out DIR [--repeats N] [--weights PATH|fresh]`.

Measures in one run, side by side (median and p95 over ``--repeats`` repetitions):

1. The model pass alone on the test-time-augmentation batch of 2: the app's engine
   (``Segmenter.predict_batch``: LiteRT with XNNPACK, see ``unet.inference.engine``), the same
   weights
   converted with tf2onnx and run by ONNX Runtime (CPU provider, same thread count), TensorFlow's
   compiled ``tf.function`` (the app's path before the engine), and naive ``model.predict(x)``.
   The four run interleaved, in rotating order, so that a change in machine load hits all of
   them alike. Also checks that they agree.
2. One upload end to end (read, field of view, preprocess, model with TTA, post-process,
   measurements, overlay) for a 600x500 PNG and a 1024x768 DICOM made from ``unet.testing.phantom``.
3. A re-render after a slider move: overlay + measurements on the cached result, no model call.
4. App start-up (``python app.py`` in a subprocess) to the first answered ``segment`` request
   through gradio_client, then more requests; peak resident memory of the app's processes.
   Twice: first with an empty engine cache (``UNET_ENGINE_CACHE`` pointed at a new folder, so
   the start converts the models, as a fresh machine does), then again with that cache filled.

Writes ``DIR/speed.json`` and ``DIR/speed.md`` and prints the table. Weights: ``--weights auto``
(default) uses the organ's bundled weights when present, else a freshly built (untrained) model
with the organ's architecture; the output says which. Speed does not depend on the weight
values, only on the architecture, so a fresh model gives valid timings.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import logging
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

TARGET_RATIO = 0.8  # the app's engine, model pass median / ONNX Runtime median
TARGET_END_TO_END_MS = 100.0  # p50, one upload (600x500 PNG) including TTA
TARGET_END_TO_END_DICOM_MS = 150.0  # p50, one upload (1024x768 DICOM), the earlier target
TARGET_RERENDER_MS = 30.0  # p50, one slider move
TARGET_PROMPT_MS = 150.0  # p50, a box or a click to the updated mask, overlay and report
TARGET_STARTUP_S = 10.0  # app start to the first answered request
TARGET_PEAK_MB = 1024.0  # app peak resident memory

PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "ai-edge-litert", "numpy", "onnxruntime",
            "tf2onnx", "onnx",
            "gradio", "gradio_client", "opencv-python-headless", "pillow", "pydicom", "psutil")

log = logging.getLogger("benchmarks.speed")


# ------------------------------------------------------------------------------- statistics


def summarize(samples_s: list[float]) -> dict:
    """Median, p95, min and mean in milliseconds of a list of durations in seconds."""
    ms = np.asarray(samples_s, dtype=np.float64) * 1000.0
    return {
        "n": int(ms.size),
        "median_ms": round(float(np.median(ms)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "min_ms": round(float(ms.min()), 3),
        "mean_ms": round(float(ms.mean()), 3),
    }


def time_interleaved(fns: dict[str, Callable[[], object]], repeats: int,
                     warmup: int) -> dict[str, list[float]]:
    """Run every function ``repeats`` times, interleaved and in rotating order."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    names = list(fns)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(repeats):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            t0 = time.perf_counter()
            fns[name]()
            samples[name].append(time.perf_counter() - t0)
    return samples


def verdict(value: float, target: float, unit: str, *, upper: bool = True) -> str:
    """'met' or 'missed by ...' (absolute and relative) for a value against an upper bound."""
    if not np.isfinite(value):
        return "not measured"
    if (value <= target) if upper else (value >= target):
        return "met"
    diff = value - target
    return f"missed by {diff:.2f}{unit} ({100.0 * diff / target:+.0f}%)"


# ------------------------------------------------------------------------------ environment


def machine_info() -> dict:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    if not cpu and sys.platform == "darwin":
        with contextlib.suppress(Exception):
            cpu = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                 capture_output=True, text=True, timeout=5).stdout.strip()
    cpu = cpu or platform.processor() or platform.machine()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = {"cpu": cpu, "logical_cores": os.cpu_count(), "usable_cores": usable,
            "os": platform.platform(), "python": platform.python_version()}
    try:
        import psutil

        info["physical_cores"] = psutil.cpu_count(logical=False)
        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    return info


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def versions() -> dict:
    out = {}
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[name] = importlib.metadata.version(name)
    return out


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------- the model


def fresh_model(organ):
    """A freshly built (untrained) model with the organ's architecture."""
    try:
        from unet.networks.architectures import build_model
    except ImportError:  # before architectures were named in the registry
        from unet.networks.unet import build_unet

        return build_unet(organ.input_size, **organ.model_kwargs)
    return build_model(getattr(organ, "architecture", "unet"), organ.input_size,
                       **organ.model_kwargs)


def load_segmenter(organ, weights: str):
    """(segmenter, trained?) from --weights: 'auto', 'fresh' or a .keras path.

    Always on the app's engine (a model given in code would otherwise run as plain Keras)."""
    from unet.inference.segmenter import Segmenter

    if weights == "fresh":
        model = fresh_model(organ)
        seg = Segmenter(organ, model=model, engine="litert")
        seg.source = "freshly built model (untrained; --weights fresh)"
        return seg, False
    if weights == "auto":
        try:
            return Segmenter(organ), True
        except FileNotFoundError as exc:  # WeightsNotFoundError: no bundled file yet
            log.warning("no trained weights (%s); using a freshly built model", exc)
            model = fresh_model(organ)
            seg = Segmenter(organ, model=model, engine="litert")
            seg.source = (f"freshly built model (untrained): {organ.weight_path.name} "
                          "not found")
            return seg, False
    return Segmenter(organ, weights=weights, box_weights=organ.box_weight_path,
                     click_weights=organ.click_weight_path), True


def _numpy_aliases_for_tf2onnx() -> list[str]:
    """Restore NumPy aliases removed in NumPy 1.24/2.0 that old tf2onnx code paths use."""
    added = []
    for name, value in (("object", object), ("bool", bool), ("int", int), ("float", float),
                        ("str", str), ("complex", complex)):
        if name not in np.__dict__:
            setattr(np, name, value)
            added.append(f"np.{name}")
    if "cast" not in np.__dict__:  # removed in NumPy 2.0; a dict of dtype -> converter
        np.cast = {t: (lambda v, t=t: np.asarray(v).astype(t)) for t in np.sctypeDict.values()}
        added.append("np.cast")
    return added


def compiled_tf_function(model):
    """TensorFlow's compiled forward pass: ``tf.function`` with a free batch dimension (the app's
    model pass before the LiteRT engine)."""
    import tensorflow as tf

    spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
    return tf.function(lambda x: model(x, training=False), input_signature=[spec])


def convert_to_onnx(forward, opset: int):
    """ONNX model proto of a compiled forward ``tf.function`` (same input signature).

    Returns (proto, notes). tf2onnx 1.17 converts TF 2.21 / Keras 3 functions as they are; if it
    trips over NumPy aliases removed in NumPy 2, the aliases are shimmed and it is retried.
    """
    notes: dict = {"converter": "tf2onnx.convert.from_function", "opset": opset,
                   "numpy_shim": []}
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    signature = list(forward.input_signature)
    for attempt in range(2):
        try:
            import tf2onnx

            proto, _ = tf2onnx.convert.from_function(forward, input_signature=signature,
                                                     opset=opset)
            return proto, notes
        except AttributeError as exc:
            if attempt or "numpy" not in str(exc):
                raise
            notes["numpy_shim"] = _numpy_aliases_for_tf2onnx()
            log.warning("tf2onnx needed NumPy alias shims: %s", notes["numpy_shim"])
    raise AssertionError("unreachable")


def onnx_session(proto, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(proto.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


def tta_batch(segmenter) -> np.ndarray:
    """The (2, S, S, 1) batch Segmenter.segment sends: a phantom frame and its mirror image."""
    from unet.testing.phantom import make_scanner_frame
    from unet.transforms.fov import find_field_of_view
    from unet.transforms.preprocess import to_model_input

    frame, _, _ = make_scanner_frame(500, 600, seed=1)
    crop = frame[find_field_of_view(frame).slice]
    x = to_model_input(crop, segmenter.input_size)
    return np.stack([x, x[:, ::-1]]).astype(np.float32)


def bench_model(segmenter, threads: int, opset: int, repeats: int, warmup: int) -> dict:
    x = tta_batch(segmenter)
    model = segmenter.model
    forward = compiled_tf_function(model)
    t0 = time.perf_counter()
    proto, notes = convert_to_onnx(forward, opset)
    notes["conversion_s"] = round(time.perf_counter() - t0, 2)
    sess = onnx_session(proto, threads)
    input_name = sess.get_inputs()[0].name

    engine = segmenter.predict_batch(x)
    outputs = {
        "onnxruntime": sess.run(None, {input_name: x})[0][..., 0],
        "tf_function": forward(x).numpy()[..., 0],
        "model_predict": np.asarray(model.predict(x, verbose=0))[..., 0],
    }
    agreement = {f"max_abs_diff_engine_vs_{k}": float(np.abs(engine - v).max())
                 for k, v in outputs.items()}
    fns = {
        "engine": lambda: segmenter.predict_batch(x),
        "onnxruntime": lambda: sess.run(None, {input_name: x}),
        "tf_function": lambda: forward(x),
        "model_predict": lambda: model.predict(x, verbose=0),
    }
    samples = time_interleaved(fns, repeats, warmup)
    out = {name: summarize(s) for name, s in samples.items()}
    ort = out["onnxruntime"]["median_ms"]
    ratios = {name: round(stats["median_ms"] / ort, 3) for name, stats in out.items()}
    return {"batch_shape": list(x.shape), "engine": segmenter.engine, "onnx": notes,
            "agreement": agreement, "timings": out, "ratio": ratios["engine"],
            "ratios_to_onnxruntime": ratios,
            "samples_ms": {k: [round(v * 1000, 3) for v in s] for k, s in samples.items()}}


# ------------------------------------------------------------------------- end to end, render


def write_inputs(folder: Path) -> dict[str, Path]:
    """A 600x500 PNG and a 1024x768 ultrasound DICOM (with region spacing) from the phantom."""
    import cv2

    from unet.testing.phantom import make_scanner_frame
    from unet.testing.synthetic_dicom import synthetic_dicom, write_dicom

    png_frame, _, _ = make_scanner_frame(500, 600, seed=1)
    png = folder / "scanner_600x500.png"
    if not cv2.imwrite(str(png), png_frame):
        raise OSError(f"could not write {png}")

    frame, _, _ = make_scanner_frame(768, 1024, seed=2)
    dcm = write_dicom(folder / "scanner_1024x768.dcm",
                      synthetic_dicom(frame, region_spacing_mm=0.08))  # 0.08 mm per pixel
    return {"png_600x500": png, "dicom_1024x768": dcm}


def bench_end_to_end(segmenter, inputs: dict[str, Path], repeats: int, warmup: int) -> dict:
    from unet.analysis import Analysis, analyze
    from unet.io.reader import read_image

    organ = segmenter.organ
    results = {}
    for key, path in inputs.items():
        def upload(path=path):
            analysis = analyze(path, organ, segmenter=segmenter)
            analysis.report()
            analysis.overlay()
            return analysis

        calls0 = segmenter.calls
        samples = time_interleaved({key: upload}, repeats, warmup)[key]
        model_calls = segmenter.calls - calls0
        # Where the time goes: the same steps timed one by one (fewer repetitions).
        stages: dict[str, list[float]] = {"read": [], "segment": [], "report": [], "overlay": []}
        for _ in range(max(3, repeats // 3)):
            t0 = time.perf_counter()
            image = read_image(path)
            t1 = time.perf_counter()
            result = segmenter.segment(image.pixels)
            t2 = time.perf_counter()
            analysis = Analysis(organ, image, result, segmenter.version, segmenter.source)
            analysis.report()
            t3 = time.perf_counter()
            analysis.overlay()
            t4 = time.perf_counter()
            for stage, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                stages[stage].append(seconds)
        results[key] = {
            "file_bytes": path.stat().st_size,
            "image_shape": list(read_image(path).pixels.shape),
            "model_calls_per_upload": model_calls / (repeats + warmup),
            **summarize(samples),
            "stages_median_ms": {k: round(float(np.median(v)) * 1000, 3)
                                 for k, v in stages.items()},
        }
    return results


def bench_rerender(segmenter, inputs: dict[str, Path], repeats: int, warmup: int) -> dict:
    """Overlay + measurements at a new threshold / opacity on the cached result."""
    from unet.analysis import analyze

    settings = [(t, o) for t in (0.3, 0.4, 0.5, 0.6, 0.7) for o in (0.3, 0.5)]
    results = {}
    for key, path in inputs.items():
        analysis = analyze(path, segmenter.organ, segmenter=segmenter)
        calls0 = segmenter.calls
        for i in range(warmup):
            analysis.overlay(threshold=settings[i % len(settings)][0])
            analysis.measurements(settings[i % len(settings)][0])
        total, overlay, measure = [], [], []
        for i in range(repeats):
            threshold, opacity = settings[i % len(settings)]
            t0 = time.perf_counter()
            analysis.overlay(threshold=threshold, opacity=opacity)
            t1 = time.perf_counter()
            analysis.measurements(threshold)
            t2 = time.perf_counter()
            total.append(t2 - t0)
            overlay.append(t1 - t0)
            measure.append(t2 - t1)
        model_calls = segmenter.calls - calls0
        if model_calls:
            raise AssertionError(f"re-render called the model {model_calls} times")
        results[key] = {"model_calls": model_calls, **summarize(total),
                        "stages_median_ms": {
                            "overlay": round(float(np.median(overlay)) * 1000, 3),
                            "measurements": round(float(np.median(measure)) * 1000, 3)}}
    return results


def prompt_targets(analysis) -> tuple:
    """(box, click) a user would give: the box around the automatic answer's largest lesion
    (the image's central third where it found none) with 10 % margins, and a click at its
    centre."""
    from unet.inference.prompts import BoxPrompt, ClickPrompt

    h, w = analysis.image.pixels.shape
    ys, xs = np.nonzero(analysis.mask())
    if len(ys):
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    else:
        y0, y1, x0, x1 = h // 3, 2 * h // 3, w // 3, 2 * w // 3
    my, mx = max(2, (y1 - y0) // 10), max(2, (x1 - x0) // 10)
    box = BoxPrompt(max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my))
    return box, ClickPrompt((x0 + x1) // 2, (y0 + y1) // 2)


def bench_prompts(segmenter, inputs: dict[str, Path], repeats: int, warmup: int) -> dict:
    """A user's box or click on a cached result to the updated mask, its overlay and report
    (what the app redraws; the download files are not written here)."""
    from unet.analysis import analyze
    from unet.inference.prompts import Prompts

    results = {}
    for key, path in inputs.items():
        analysis = analyze(path, segmenter.organ, segmenter=segmenter)
        box, click = prompt_targets(analysis)
        for name, prompts in (("box", Prompts(boxes=(box,))), ("click", Prompts(clicks=(click,)))):
            def prompt(prompts=prompts, analysis=analysis):
                guided = analysis.guide(prompts, segmenter)
                guided.overlay()
                guided.report()
                return guided

            samples = time_interleaved({name: prompt}, repeats, warmup)[name]
            done = prompt()
            results[f"{name}, {key}"] = {"prompt": prompts.to_dict(),
                                         "outlined_by": (done.box_method or done.click_method
                                                         or "automatic"),
                                         **summarize(samples)}
    return results


# ----------------------------------------------------------------------------------- the app


class _MemorySampler(threading.Thread):
    """Samples the summed RSS of a process and its children every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = 0
        self.last = 0
        self._stop_event = threading.Event()

    def sample(self) -> int:
        import psutil

        try:
            proc = psutil.Process(self.pid)
            procs = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            return self.last
        total = 0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        if total:
            self.last = total
            self.peak = max(self.peak, total)
        return total

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def _check_answer(result, expected_shape: tuple[int, int]) -> None:
    """The segment endpoint returns (mask file, overlay file, measurements); check the mask."""
    from PIL import Image

    if not isinstance(result, (list, tuple)) or len(result) != 3:
        raise AssertionError(f"expected 3 outputs, got {type(result).__name__}")
    mask_path = result[0]
    if isinstance(mask_path, dict):
        mask_path = mask_path.get("path") or mask_path.get("name")
    with Image.open(mask_path) as im:
        if (im.height, im.width) != tuple(expected_shape):
            raise AssertionError(f"mask is {im.height}x{im.width}, expected {expected_shape}")


def bench_app(app_path: Path, inputs: dict[str, Path], shapes: dict[str, tuple[int, int]],
              requests: int, timeout_s: float, out_dir: Path, organ, models: str,
              engine_cache: Path, label: str = "") -> dict:
    """Start `python app.py`, time until the first answered segment request, then more.

    ``engine_cache``: the app's LiteRT flatbuffer cache (``UNET_ENGINE_CACHE``); an empty folder
    makes the start convert the models, as on a fresh machine.

    ``models``: 'app' runs app.py as it is (bundled weights); 'fresh' runs it through
    ``benchmarks.fresh_app`` (untrained models for organs without weights); 'auto' picks 'app'
    when the organ's weight file exists, else 'fresh'.
    """
    if not app_path.is_file():
        return {"skipped": f"{app_path.name} does not exist yet"}
    text = app_path.read_text(errors="replace")
    if "launch(" not in text:
        return {"skipped": f"{app_path.name} has no launch() call"}
    try:
        from gradio_client import Client, handle_file
        from gradio_client.exceptions import AppError
    except ImportError:
        return {"skipped": "gradio_client is not installed"}
    if models == "auto":
        models = "app" if organ.weight_path.is_file() else "fresh"
    if models == "app":
        command = [sys.executable, str(app_path)]
        described = f"python {app_path.name} (its own weights)"
    else:
        command = [sys.executable, "-m", "benchmarks.fresh_app"]
        described = (f"python -m benchmarks.fresh_app: {app_path.name} with untrained models "
                     "for organs without weight files")
    organ_key = organ.key

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    cached = sorted(p.name for p in engine_cache.glob("*.tflite")) if engine_cache.is_dir() else []
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1",
               GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1",
               UNET_ENGINE_CACHE=str(engine_cache))
    log_path = out_dir / f"app{label}.log"
    downloads = Path(tempfile.mkdtemp(prefix="bench-client-"))
    keys = list(inputs)
    result: dict = {"command": described, "url": url, "requests": requests,
                    "log": log_path.name, "engine_cache_files_at_start": len(cached)}
    with open(log_path, "wb") as app_log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(command, cwd=str(app_path.parent), env=env, stdout=app_log,
                                stderr=subprocess.STDOUT)
        sampler = _MemorySampler(proc.pid)
        sampler.start()
        try:
            client, last_error = None, ""
            deadline = t0 + timeout_s
            while time.perf_counter() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"app exited with code {proc.returncode} (see {log_path})")
                try:
                    if client is None:
                        client = Client(url, verbose=False, download_files=str(downloads))
                    answer = client.predict(handle_file(str(inputs[keys[0]])), organ_key, 0.5,
                                            api_name="/segment")
                    _check_answer(answer, shapes[keys[0]])
                    break
                except AppError as exc:  # the app is up but refused: waiting will not help
                    raise RuntimeError(f"the app answered with an error: {exc}") from exc
                except Exception as exc:  # noqa: BLE001 - not up yet: try again
                    last_error = f"{type(exc).__name__}: {str(exc)[:200]}"
                    time.sleep(0.25)
            else:
                raise TimeoutError(f"no answer within {timeout_s:.0f} s ({last_error})")
            result["startup_to_first_answer_s"] = round(time.perf_counter() - t0, 2)
            result["rss_after_first_answer_mb"] = round(sampler.sample() / 2**20, 1)
            latencies, failures = [], 0
            for i in range(requests):
                key = keys[i % len(keys)]
                t1 = time.perf_counter()
                try:
                    answer = client.predict(handle_file(str(inputs[key])), organ_key,
                                            (0.4, 0.5, 0.6)[i % 3], api_name="/segment")
                    _check_answer(answer, shapes[key])
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    failures += 1
                    log.warning("app request %d failed: %s", i, type(exc).__name__)
                latencies.append(time.perf_counter() - t1)
            result["request_latency"] = summarize(latencies)
            result["failed_requests"] = failures
            result["rss_after_requests_mb"] = round(sampler.sample() / 2**20, 1)
        except Exception as exc:  # noqa: BLE001 - reported in the output, not fatal
            result["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            sampler.stop()
            result["peak_rss_mb"] = round(sampler.peak / 2**20, 1)
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
            with contextlib.suppress(OSError):
                import shutil

                shutil.rmtree(downloads)
    return result


# ---------------------------------------------------------------------------------- report


def _row(name: str, stats: dict | None, target: str = "", result: str = "") -> str:
    if not stats:
        return f"| {name} | | | | {target} | {result or 'not measured'} |"
    return (f"| {name} | {stats['n']} | {stats['median_ms']:.1f} | {stats['p95_ms']:.1f} | "
            f"{target} | {result} |")


def render_markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Speed benchmark",
        "",
        f"- Date: {report['date']}",
        f"- Machine: {m['cpu']}, {m.get('physical_cores', '?')} physical / "
        f"{m['logical_cores']} logical cores ({m['usable_cores']} usable), "
        f"{m.get('memory_gb', '?')} GB RAM, {m['os']}",
        f"- Load average (1/5/15 min) at start: {report['load_average_start']}, "
        f"at end: {report['load_average_end']}",
        f"- Threads: the engine (LiteRT) {report.get('engine_threads', '?')}, TensorFlow "
        f"intra-op {report['tensorflow_threads']['intra_op']} / inter-op "
        f"{report['tensorflow_threads']['inter_op']} (0 = default: all cores), ONNX Runtime "
        f"intra-op {report['threads']} / inter-op 1",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
        f"- Weights: {report['weights']}",
        f"- Command: `{report['command']}`",
        "",
        "| Measurement | n | median (ms) | p95 (ms) | target | result |",
        "|---|---|---|---|---|---|",
    ]
    model = report.get("model_pass")
    if model and "timings" in model:
        t = model["timings"]
        shape = "x".join(str(v) for v in model["batch_shape"])
        r = model["ratios_to_onnxruntime"]
        lines += [
            _row(f"Model pass, the app's engine (`Segmenter.predict_batch`: {model['engine']}), "
                 f"batch {shape}", t["engine"], "", f"{r['engine']:.2f}x ORT"),
            _row(f"Model pass, ONNX Runtime {report['versions'].get('onnxruntime', '')} "
                 f"(CPU provider, opset {model['onnx']['opset']})", t["onnxruntime"]),
            _row("Model pass, TensorFlow compiled `tf.function` (the app's path before the "
                 "engine)", t["tf_function"], "", f"{r['tf_function']:.2f}x ORT"),
            _row("Model pass, naive `model.predict(x)`", t["model_predict"], "",
                 f"{r['model_predict']:.2f}x ORT"),
            f"| **Ratio the app's engine / ONNX Runtime (medians)** | | **{model['ratio']:.2f}** "
            f"| | <= {TARGET_RATIO} | {verdict(model['ratio'], TARGET_RATIO, '')} |",
        ]
    elif model:
        lines.append(f"| Model pass | | | | | failed: {model.get('error')} |")
    for key, stats in (report.get("end_to_end") or {}).items():
        target = TARGET_END_TO_END_DICOM_MS if "dicom" in key else TARGET_END_TO_END_MS
        lines.append(_row(f"End to end, one upload: {key.replace('_', ' ')}", stats,
                          f"p50 < {target:.0f} ms", verdict(stats["median_ms"], target, " ms")))
    for key, stats in (report.get("prompts") or {}).items():
        what = key.replace("_", " ")
        lines.append(_row(f"A prompt to the updated mask, overlay and report ({what}; "
                          f"outlined by {stats['outlined_by']})", stats,
                          f"p50 < {TARGET_PROMPT_MS:.0f} ms",
                          verdict(stats["median_ms"], TARGET_PROMPT_MS, " ms")))
    for key, stats in (report.get("rerender") or {}).items():
        lines.append(_row(f"Re-render after a slider move (overlay + measurements, "
                          f"{stats['model_calls']} model calls): {key.replace('_', ' ')}", stats,
                          f"p50 < {TARGET_RERENDER_MS:.0f} ms",
                          verdict(stats["median_ms"], TARGET_RERENDER_MS, " ms")))
    apps = report.get("app") or {}
    if "skipped" in apps:
        lines.append(f"| App start-up and memory | | | | | skipped: {apps['skipped']} |")
    for start, app in ({} if "skipped" in apps else apps).items():
        when = ("empty engine cache, as on a fresh machine (the flatbuffers shipped in "
                "weights/ serve where they match; otherwise it converts)"
                if start == "cold" else "engine cache filled by the run above")
        lines.append(f"| App run as: {app.get('command', '?')}; {when} | | | | | |")
        if "startup_to_first_answer_s" in app:
            startup = app["startup_to_first_answer_s"]
            lines.append(f"| App start-up (`python app.py`, {start} cache) to first answered "
                         f"`segment` request | 1 | {startup * 1000:.0f} | | "
                         f"< {TARGET_STARTUP_S:.0f} s | "
                         f"{verdict(startup, TARGET_STARTUP_S, ' s')} |")
        if "request_latency" in app:
            lines.append(_row(f"App `segment` request via gradio_client "
                              f"({app['failed_requests']} failed)", app["request_latency"]))
        peak = app.get("peak_rss_mb", float("nan"))
        lines.append(f"| App peak resident memory (process and children, sampled every "
                     f"0.1 s, incl. after {app.get('requests', '?')} requests) | | "
                     f"{peak:.0f} MB | | < {TARGET_PEAK_MB:.0f} MB | "
                     f"{verdict(peak, TARGET_PEAK_MB, ' MB')} |")
        if "error" in app:
            lines.append(f"| App | | | | | error: {app['error']} |")
    lines.append("")
    if model and "agreement" in model:
        a = model["agreement"]
        lines.append(f"Numerical agreement on the TTA batch: max |engine - ONNX Runtime| = "
                     f"{a['max_abs_diff_engine_vs_onnxruntime']:.2e}, max |engine - "
                     f"tf.function| = {a['max_abs_diff_engine_vs_tf_function']:.2e}, max |engine "
                     f"- model.predict| = {a['max_abs_diff_engine_vs_model_predict']:.2e}. "
                     f"ONNX conversion: {model['onnx']['converter']} of the compiled "
                     f"tf.function, {model['onnx']['conversion_s']} s; NumPy alias shim: "
                     f"{', '.join(model['onnx']['numpy_shim']) or 'not needed'}.")
        lines.append("")
    if not report.get("trained_weights"):
        lines.append("Note: untrained weights. Model-pass timings do not depend on the weight "
                     "values, but an untrained model's masks are large and ragged, and measuring "
                     "a lesion costs time in proportion to its pixel count: the end-to-end and "
                     "re-render figures (mainly the DICOM ones) are pessimistic. Rerun with the "
                     "trained weights for the real figures.")
        lines.append("")
    for part, title in (("end_to_end", "End-to-end"), ("rerender", "Re-render")):
        stages = {k: v["stages_median_ms"] for k, v in (report.get(part) or {}).items()}
        if stages:
            lines.append(f"{title} stage medians (ms): " + "; ".join(
                f"{k}: " + ", ".join(f"{s} {ms:.1f}" for s, ms in v.items())
                for k, v in stages.items()) + ".")
            lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder for speed.json and speed.md")
    p.add_argument("--repeats", type=int, default=50,
                   help="repetitions per model-pass and end-to-end measurement (default 50; "
                        "re-render uses 3x)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls before timing")
    p.add_argument("--organ", default="breast", help="breast or thyroid")
    p.add_argument("--weights", default="auto",
                   help="'auto' (bundled weights if present, else a fresh model), 'fresh', "
                        "or a .keras file")
    p.add_argument("--threads", type=int, default=0,
                   help="intra-op threads for ONNX Runtime (default: all usable cores) and, "
                        "when given, for TensorFlow (default: TensorFlow's own, as the app)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset")
    p.add_argument("--app", default=str(REPO / "app.py"), help="the Gradio app to start")
    p.add_argument("--app-requests", type=int, default=20, help="requests after the first")
    p.add_argument("--app-timeout", type=float, default=300.0,
                   help="seconds to wait for the app's first answer")
    p.add_argument("--app-models", choices=("auto", "app", "fresh"), default="auto",
                   help="'app': run app.py as it is; 'fresh': untrained models for organs "
                        "without weights (benchmarks.fresh_app); 'auto' (default): 'app' when "
                        "the organ's weight file exists")
    p.add_argument("--skip-app", action="store_true", help="skip the app start-up part")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    threads = args.threads or int(machine["usable_cores"] or 1)
    report: dict = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python -m benchmarks.speed", *(argv if argv is not None
                                                              else sys.argv[1:])]),
        "machine": machine,
        "load_average_start": load_average(),
        "threads": threads,
        "versions": versions(),
        "repeats": args.repeats,
        "targets": {"model_vs_onnxruntime_ratio_max": TARGET_RATIO,
                    "end_to_end_p50_ms": TARGET_END_TO_END_MS,
                    "end_to_end_dicom_p50_ms": TARGET_END_TO_END_DICOM_MS,
                    "rerender_p50_ms": TARGET_RERENDER_MS, "prompt_p50_ms": TARGET_PROMPT_MS,
                    "startup_s": TARGET_STARTUP_S, "peak_rss_mb": TARGET_PEAK_MB},
    }

    import tensorflow as tf

    if args.threads:  # else TensorFlow's defaults, as the app and the CLI run it
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    report["tensorflow_threads"] = {
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        "note": "0 = TensorFlow's default (all cores)"}

    from unet.inference.registry import get_organ

    organ = get_organ(args.organ)
    segmenter, trained = load_segmenter(organ, args.weights)
    report["weights"] = segmenter.source
    report["trained_weights"] = trained
    report["engine"] = segmenter.engine
    report["engine_threads"] = getattr(segmenter._forward, "threads", None)
    if not segmenter.engine.startswith("LiteRT"):
        log.warning("the app's engine is not running here: %s", segmenter.engine)
    log.info("weights: %s", segmenter.source)

    log.info("model pass: %d repeats ...", args.repeats)
    try:
        report["model_pass"] = bench_model(segmenter, threads, args.opset, args.repeats,
                                           args.warmup)
        report["model_vs_onnxruntime_ratio"] = report["model_pass"]["ratio"]
        log.info("  max |engine - ONNX Runtime| = %.2e",
                 report["model_pass"]["agreement"]["max_abs_diff_engine_vs_onnxruntime"])
    except Exception as exc:  # noqa: BLE001 - the rest of the benchmark still runs
        log.exception("model-pass benchmark failed")
        report["model_pass"] = {"error": f"{type(exc).__name__}: {exc}"}
        report["model_vs_onnxruntime_ratio"] = None

    with tempfile.TemporaryDirectory(prefix="bench-inputs-") as tmp:
        inputs = write_inputs(Path(tmp))
        log.info("end to end: %d repeats ...", args.repeats)
        report["end_to_end"] = bench_end_to_end(segmenter, inputs, args.repeats, args.warmup)
        log.info("re-render: %d repeats ...", 3 * args.repeats)
        report["rerender"] = bench_rerender(segmenter, inputs, 3 * args.repeats, args.warmup)
        log.info("prompts: %d repeats ...", args.repeats)
        report["prompts"] = bench_prompts(segmenter, inputs, args.repeats, args.warmup)
        if args.skip_app:
            report["app"] = {"skipped": "--skip-app"}
        else:
            shapes = {k: tuple(v["image_shape"]) for k, v in report["end_to_end"].items()}
            cache = Path(tmp) / "engine-cache"
            report["app"] = {}
            for start in ("cold", "warm"):
                log.info("app start-up, %s engine cache ...", start)
                report["app"][start] = bench_app(
                    Path(args.app).resolve(), inputs, shapes, args.app_requests,
                    args.app_timeout, out, organ, args.app_models, cache, label=f"-{start}")
    report["load_average_end"] = load_average()
    report["wall_s"] = round(time.perf_counter() - started, 1)

    markdown = render_markdown(report)
    (out / "speed.json").write_text(json.dumps(report, indent=1))
    (out / "speed.md").write_text(markdown)
    print(markdown)
    print(f"wrote {out / 'speed.json'} and {out / 'speed.md'} in {report['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
