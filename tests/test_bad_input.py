"""Every bad file in tests/bad_inputs.py is refused cleanly by the reader, the CLI and the app;
the good-but-unusual ones (16-bit, RGBA, palette, CMYK) work in all three."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from tests import bad_inputs
from unet.errors import ImageInputError
from unet.io.reader import LoadedImage, read_image

BAD = sorted(bad_inputs.BAD)
GOOD = sorted(bad_inputs.GOOD_UNUSUAL)


def assert_clean_message(message: str) -> None:
    """A message for a clinician: non-empty, one line, no traceback, errno or private data."""
    assert message and message.strip() == message
    assert "\n" not in message
    for leak in ("Traceback", "Errno", "Error:", "File \"", bad_inputs.PATIENT_NAME,
                 bad_inputs.PATIENT_ID, "/tmp", "\\x"):
        assert leak not in message, (leak, message)
    assert len(message) < 400


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return {
        "bad": bad_inputs.write_all(folder / "bad", bad_inputs.BAD),
        "good": bad_inputs.write_all(folder / "good", bad_inputs.GOOD_UNUSUAL),
        "plain": bad_inputs.good_png(folder / "plain"),
    }


@pytest.fixture(scope="module")
def small_model_file(tmp_path_factory):
    """A real (untrained) small U-Net saved as .keras, for `--weights`."""
    from unet.networks.unet import build_unet

    path = tmp_path_factory.mktemp("model") / "small.keras"
    build_unet(64, depth=2, base_filters=4).save(path)
    return path


# -------------------------------------------------------------------------------- (a) reader


@pytest.mark.parametrize("key", BAD)
def test_reader_refuses_bad_file(corpus, key):
    path = corpus["bad"][key]
    with pytest.raises(ImageInputError) as exc:
        read_image(path)
    assert_clean_message(str(exc.value))
    with pytest.raises(ImageInputError):  # the same from the bytes
        read_image(path.read_bytes())


@pytest.mark.parametrize("key", GOOD)
def test_reader_reads_good_unusual_file(corpus, key):
    loaded = read_image(corpus["good"][key])
    assert isinstance(loaded, LoadedImage)
    assert loaded.pixels.dtype == np.uint8 and loaded.pixels.shape == bad_inputs.GOOD_SHAPE
    assert loaded.pixels.std() > 5  # a real picture, not a flat or black image


def test_png_bomb_is_tiny_and_refused_fast(corpus):
    import time

    path = corpus["bad"]["png_bomb_50000"]
    assert path.stat().st_size < 200
    t0 = time.perf_counter()
    with pytest.raises(ImageInputError, match="too large"):
        read_image(path)
    assert time.perf_counter() - t0 < 1.0


def test_over_upload_limit_file_is_otherwise_valid(tmp_path):
    """The padded file is refused by size alone: the reader itself accepts it."""
    path = bad_inputs.over_upload_limit(tmp_path, 300_000)
    assert path.stat().st_size == 300_001
    assert read_image(path).pixels.shape == bad_inputs.GOOD_SHAPE


# ----------------------------------------------------------------------------------- (b) CLI


def read_rows(out):
    with open(out / "measurements.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("key", BAD)
def test_cli_skips_bad_file_and_segments_good_one(corpus, small_model_file, tmp_path, capsys,
                                                  key):
    from unet.predict import main

    bad, good = corpus["bad"][key], corpus["plain"]
    out = tmp_path / "out"
    code = main(["--organ", "breast", str(bad), str(good), "--out", str(out),
                 "--weights", str(small_model_file), "--no-progress"])
    assert code == 1
    mask = out / f"{good.stem}_mask.png"
    assert mask.is_file()
    with Image.open(mask) as im:
        assert (im.height, im.width) == bad_inputs.GOOD_SHAPE
        assert set(np.unique(np.asarray(im)).tolist()) <= {0, 255}
    assert not list(out.glob(f"{bad.stem}_mask*"))
    rows = read_rows(out)
    bad_rows = [r for r in rows if r["file"] == str(bad)]
    good_rows = [r for r in rows if r["file"] == str(good)]
    assert len(bad_rows) == 1 and bad_rows[0]["status"] == "error"
    assert_clean_message(bad_rows[0]["message"])
    assert good_rows and all(r["status"] == "ok" for r in good_rows)
    err = capsys.readouterr().err
    assert "Traceback" not in err and "1 failed" in err


def test_cli_segments_good_unusual_files(corpus, small_model_file, tmp_path, capsys):
    from unet.predict import main

    files = [corpus["good"][k] for k in GOOD]
    out = tmp_path / "out"
    code = main(["--organ", "thyroid", *map(str, files), "--out", str(out), "--overlay",
                 "--weights", str(small_model_file), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    for path in files:
        with Image.open(out / f"{path.stem}_mask.png") as im:
            assert (im.height, im.width) == bad_inputs.GOOD_SHAPE
        assert (out / f"{path.stem}_overlay.png").is_file()
    rows = read_rows(out)
    assert {r["file"] for r in rows} == {str(p) for p in files}
    assert all(r["status"] == "ok" for r in rows)


# ----------------------------------------------------------------------------------- (c) app


@pytest.fixture(scope="module")
def app_client(tmp_path_factory):
    """The app on 127.0.0.1 (its own launch settings) and a gradio_client Client for it."""
    from gradio_client import Client

    from tests.app_fixtures import shared_app

    _, url = shared_app()  # the test run's one app server
    downloads = tmp_path_factory.mktemp("downloads")
    client = Client(url, verbose=False, download_files=str(downloads), analytics_enabled=False)
    try:
        yield client, url
    finally:
        client.close()


def app_segment(client, path, organ: str = "breast", threshold: float = 0.5):
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), organ, threshold, api_name="/segment")


def assert_good_answer(answer, shape) -> None:
    mask_path, overlay_path, report = answer
    with Image.open(mask_path) as im:
        assert (im.height, im.width) == tuple(shape)
        assert set(np.unique(np.asarray(im)).tolist()) <= {0, 255}
    with Image.open(overlay_path) as im:
        assert im.mode == "RGB"
    assert report["image_size_px"] == {"height": shape[0], "width": shape[1]}


@pytest.mark.parametrize("key", BAD)
def test_app_refuses_bad_file_then_answers_next_request(app_client, corpus, key):
    from gradio_client.exceptions import AppError

    client, _ = app_client
    path = corpus["bad"][key]
    with pytest.raises(ImageInputError) as expected:
        read_image(path)
    with pytest.raises(AppError) as exc:
        app_segment(client, path)
    message = str(exc.value)
    assert message == str(expected.value)  # the reader's own words reach the client
    assert_clean_message(message)
    assert_good_answer(app_segment(client, corpus["plain"]), bad_inputs.GOOD_SHAPE)


@pytest.mark.parametrize("key", GOOD)
def test_app_segments_good_unusual_file(app_client, corpus, key):
    client, _ = app_client
    assert_good_answer(app_segment(client, corpus["good"][key], "thyroid"), bad_inputs.GOOD_SHAPE)


def test_app_refuses_file_over_upload_limit(app_client, corpus, tmp_path):
    """Over the app's max_file_size: refused by the client's check and by the server itself."""
    import httpx
    from gradio.utils import _parse_file_size

    from webapp import settings as app

    client, url = app_client
    limit = _parse_file_size(app.MAX_FILE_SIZE)
    assert limit and limit <= 100 * 2**20
    big = bad_inputs.over_upload_limit(tmp_path, limit)
    with pytest.raises(ValueError, match="maximum file size"):
        app_segment(client, big)
    # A client that skips that check: the server answers 413 without keeping the file.
    with open(big, "rb") as fh:
        response = httpx.post(f"{url}gradio_api/upload", files={"files": (big.name, fh)},
                              timeout=60)
    assert response.status_code == 413, response.text[:200]
    assert "Traceback" not in response.text
    assert_good_answer(app_segment(client, corpus["plain"]), bad_inputs.GOOD_SHAPE)
