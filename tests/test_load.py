"""Load and memory, bounded and local (127.0.0.1 only).

* Load (``slow``): 8 concurrent gradio_client clients x 10 requests each against the run's
  shared app server: every request answers correctly.
* Queue (``slow``): a tiny ``max_size`` rejects the excess with a clean "queue full" error, fast.
* Soak (``slow``): 300 uploads through the analysis and render path in one process, served by
  the LiteRT engine as the app serves (a tiny model from a ``.keras`` file, so that the soak
  measures the request path, not the network's arithmetic); resident memory grows by less than
  25 MB over the second 150 uploads (a leak grows steadily; the allocator's one-time growth
  while buffers settle in does not), and by less than 120 MB in all after the warm-up.
"""

from __future__ import annotations

import gc
import time
from concurrent.futures import ThreadPoolExecutor, wait

import cv2
import pytest
from PIL import Image

import app
from tests import bad_inputs
from unet.errors import ImageInputError

CLIENTS = 8
REQUESTS_PER_CLIENT = 10
LOAD_TIMEOUT_S = 150  # all 80 requests; a hang fails the test instead of blocking CI
QUEUE_MAX_SIZE = 2
FLOOD = 10  # concurrent submits against the tiny queue
SOAK_CALLS = 300
SOAK_WARMUP = 30
SOAK_MAX_GROWTH_MB = 120
SOAK_MAX_LATE_GROWTH_MB = 25


@pytest.mark.slow
def test_soak_memory_is_flat(tmp_path, tiny_model_file):
    """The app's request path without Gradio (read, model, render, PNG and JSON files), the
    model run by the LiteRT engine the app serves with (a Segmenter made from a weights file)."""
    import psutil

    from unet.inference.models import Segmenters
    from unet.inference.registry import get_organ
    from unet.inference.segmenter import Segmenter
    from unet.overlay import MODES
    from unet.testing.phantom import make_scanner_frame
    from webapp.result import render, segment_upload

    organ = get_organ("breast")
    segmenter = Segmenter("breast", weights=tiny_model_file)  # its flatbuffer shipped beside it
    assert segmenter.engine.startswith("LiteRT"), segmenter.engine
    segmenters = Segmenters({"breast": segmenter})
    frame, _, _ = make_scanner_frame(500, 600, seed=1)
    png = tmp_path / "frame.png"
    assert cv2.imwrite(str(png), frame)
    files = [png, bad_inputs.dicom_with_patient(tmp_path, height=384, width=512),
             bad_inputs.truncated_png(tmp_path)]  # every third upload fails
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    process = psutil.Process()

    def upload(i: int) -> None:
        threshold = (0.3, 0.5, 0.7)[i % 3]
        try:
            result = segment_upload(files[i % len(files)], segmenters.get(organ))
        except ImageInputError:
            return
        render(result, mode=MODES[i % len(MODES)], threshold=threshold, out_dir=out_dir)
        render(result, threshold=1 - threshold)  # a slider move: no model call

    for i in range(SOAK_WARMUP):
        upload(i)
    gc.collect()
    baseline = process.memory_info().rss
    calls0 = segmenter.calls
    started = time.perf_counter()
    peak = baseline
    for i in range(SOAK_CALLS):
        upload(i)
        if i % 25 == 0:
            peak = max(peak, process.memory_info().rss)
        if i == SOAK_CALLS // 2 - 1:
            gc.collect()
            middle = process.memory_info().rss
    gc.collect()
    late_mb = (process.memory_info().rss - middle) / 2**20
    growth_mb = (process.memory_info().rss - baseline) / 2**20
    peak_mb = (max(peak, process.memory_info().rss) - baseline) / 2**20
    elapsed = time.perf_counter() - started
    print(f"soak: {SOAK_CALLS} uploads in {elapsed:.1f} s, RSS growth {growth_mb:+.1f} MB "
          f"(second half {late_mb:+.1f} MB, peak {peak_mb:+.1f} MB) over "
          f"{baseline / 2**20:.0f} MB")
    assert segmenter.calls - calls0 == SOAK_CALLS - SOAK_CALLS // 3  # one model call per image
    assert late_mb < SOAK_MAX_LATE_GROWTH_MB
    assert growth_mb < SOAK_MAX_GROWTH_MB


# ----------------------------------------------------------------------------------- the app


def client_for(url: str, downloads):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=str(downloads), analytics_enabled=False)


def mask_shape(answer) -> tuple[int, int]:
    mask_path, _, report = answer
    with Image.open(mask_path) as im:
        shape = (im.height, im.width)
    size = report["image_size_px"]
    assert (size["height"], size["width"]) == shape
    return shape


@pytest.mark.slow
def test_eight_clients_ten_requests_each(tmp_path):
    from gradio_client import handle_file

    from tests.app_fixtures import shared_app, test_models

    # Every client sends its own image size, so an answer given to the wrong client shows.
    shapes = {k: (80 + 8 * k, 112 + 8 * k) for k in range(CLIENTS)}
    files = {k: bad_inputs.good_png(tmp_path, f"client{k}.png", *shapes[k], seed=k)
             for k in range(CLIENTS)}
    models = test_models()
    _, url = shared_app()  # the run's app server, on the shared test models

    def one_client(k: int) -> list[tuple[int, int]]:
        client = client_for(url, tmp_path / f"downloads{k}")
        try:
            return [mask_shape(client.predict(handle_file(str(files[k])),
                                              ("breast", "thyroid")[i % 2], 0.5,
                                              api_name="/segment"))
                    for i in range(REQUESTS_PER_CLIENT)]
        finally:
            client.close()

    started = time.perf_counter()
    pool = ThreadPoolExecutor(CLIENTS)
    futures = {k: pool.submit(one_client, k) for k in range(CLIENTS)}
    done, pending = wait(futures.values(), timeout=LOAD_TIMEOUT_S)
    pool.shutdown(wait=not pending, cancel_futures=True)
    elapsed = time.perf_counter() - started
    assert not pending, f"{len(pending)} clients still waiting after {LOAD_TIMEOUT_S} s"
    answers = {k: f.result() for k, f in futures.items()}  # re-raises a client's error
    print(f"load: {CLIENTS} x {REQUESTS_PER_CLIENT} requests in {elapsed:.1f} s "
          f"({models.reason or 'trained weights'})")
    for k, got in answers.items():
        assert got == [shapes[k]] * REQUESTS_PER_CLIENT


@pytest.mark.slow
def test_full_queue_rejects_cleanly_and_recovers(tmp_path):
    """A second app instance with a tiny queue: the excess gets "queue full" fast, no hang."""
    from gradio_client import handle_file
    from gradio_client.utils import QueueError

    from tests.app_fixtures import free_port
    from tests.helpers import fresh_segmenter
    from webapp.settings import MAX_FILE_SIZE

    slow = {key: fresh_segmenter(key) for key in ("breast", "thyroid")}
    for segmenter in slow.values():  # hold each model run ~1 s so that the queue fills up
        fast_segment = segmenter.segment

        def segment(gray, *, _fast=fast_segment, **kwargs):
            time.sleep(1.0)
            return _fast(gray, **kwargs)

        segmenter.segment = segment
    image = bad_inputs.good_png(tmp_path)
    demo = app.build_demo(slow)
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=1)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port,
                quiet=True, show_error=False, max_file_size=MAX_FILE_SIZE)
    client = client_for(f"http://127.0.0.1:{port}/", tmp_path / "downloads")
    try:
        def submit(i: int) -> tuple[str, float]:
            t0 = time.perf_counter()
            job = client.submit(handle_file(str(image)), "breast", 0.5, api_name="/segment")
            try:
                assert mask_shape(job.result(timeout=60)) == bad_inputs.GOOD_SHAPE
                return "answered", time.perf_counter() - t0
            except QueueError as exc:
                assert "queue is full" in str(exc).lower()
                return "queue full", time.perf_counter() - t0

        started = time.perf_counter()
        with ThreadPoolExecutor(FLOOD) as pool:
            outcomes = list(pool.map(submit, range(FLOOD), timeout=90))
        elapsed = time.perf_counter() - started
        answered = [t for kind, t in outcomes if kind == "answered"]
        rejected = [t for kind, t in outcomes if kind == "queue full"]
        print(f"queue: {len(answered)} answered, {len(rejected)} rejected as full "
              f"(max {max(rejected, default=0):.2f} s) in {elapsed:.1f} s")
        assert len(answered) + len(rejected) == FLOOD
        assert answered, "nothing was answered"
        # At most one running and max_size waiting when the flood arrives; a few more may get
        # in as earlier ones finish, but most of the excess must be turned away ...
        assert len(rejected) >= FLOOD - (1 + QUEUE_MAX_SIZE) - 3
        # ... and quickly: a rejection never waits for the model.
        assert max(rejected) < 5.0
        # The server is fine afterwards.
        answer = client.predict(handle_file(str(image)), "thyroid", 0.5, api_name="/segment")
        assert mask_shape(answer) == bad_inputs.GOOD_SHAPE
    finally:
        client.close()
        demo.close()
