"""Property tests: whatever the bytes or the pixel array, only ImageInputError comes out, and
whatever is accepted is segmented at the input's own size."""

from __future__ import annotations

import functools
import json

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.helpers import small_organ
from unet.errors import ImageInputError
from unet.io.reader import LoadedImage, read_image

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Real signatures followed by random bytes reach the decoders, not just format detection.
PREFIXES = [
    b"",
    b"\x89PNG\r\n\x1a\n",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    b"GIF89a",
    b"II*\x00",
    b"MM\x00*",
    b"BM",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"\x00" * 128 + b"DICM",
    b"\x00" * 128 + b"DICM\x02\x00\x00\x00UL\x04\x00",
]


@functools.cache
def segmenter():
    """A small untrained U-Net with the breast entry's settings at 64 x 64 (fast)."""
    from unet.inference.segmenter import Segmenter
    from unet.networks.unet import build_unet

    organ = small_organ("breast", 64)
    return Segmenter(organ, model=build_unet(64, **organ.model_kwargs))


def check_loaded(loaded: LoadedImage) -> None:
    assert isinstance(loaded, LoadedImage)
    assert loaded.pixels.dtype == np.uint8 and loaded.pixels.ndim == 2
    assert min(loaded.pixels.shape) >= 16


def read_or_refuse(data: bytes, label: str) -> LoadedImage | None:
    """read_image(data), or None when it refuses; a refusal must be an ImageInputError with a
    message, and whatever is accepted must be a valid grey image. Records the outcome."""
    try:
        loaded = read_image(data)
    except ImageInputError as exc:
        assert str(exc).strip()
        event(f"{label}refused")
        return None
    check_loaded(loaded)
    event(f"{label}read")
    return loaded


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow: "Corrupt EXIF data"
@settings(max_examples=100, **SETTINGS)
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=600))
def test_random_bytes_raise_only_image_input_error(prefix, body):
    read_or_refuse(prefix + body, "")


@functools.cache
def valid_files() -> dict[str, bytes]:
    """Small valid files of every accepted format (a 32 x 40 phantom), to be damaged."""
    import io

    from PIL import Image

    from tests.bad_inputs import dicom_bytes, dicom_dataset, phantom

    gray = phantom(32, 40, seed=7)
    files = {}
    for fmt in ("PNG", "JPEG", "GIF", "TIFF", "BMP", "WEBP"):
        buf = io.BytesIO()
        Image.fromarray(gray).save(buf, fmt)
        files[fmt] = buf.getvalue()
    files["DICOM"] = dicom_bytes(dicom_dataset(gray, spacing_mm=0.1))
    return files


@st.composite
def damaged_files(draw):
    """A valid file with a few bytes overwritten, and maybe cut short."""
    fmt = draw(st.sampled_from(sorted(valid_files())))
    data = bytearray(valid_files()[fmt])
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return fmt, bytes(data)


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=150, **SETTINGS)
@given(damaged=damaged_files())
def test_damaged_files_raise_only_image_input_error(damaged):
    fmt, data = damaged
    # a damaged header may declare another size: any valid image is fine
    read_or_refuse(data, f"{fmt}: ")


@st.composite
def pixel_arrays(draw):
    dtype = draw(st.sampled_from([np.uint8, np.uint16, np.float32]))
    channels = draw(st.integers(1, 4))
    # Sides of 1..64 pixels, mostly at least MIN_SIDE (16) so that most images reach the model.
    h, w = (draw(st.integers(1, 15)) if draw(st.integers(0, 7)) == 0
            else draw(st.integers(16, 64)) for _ in range(2))
    shape = (h, w) if channels == 1 else (h, w, channels)
    if dtype is np.float32:
        elements = st.one_of(st.floats(-1e6, 1e6, width=32),
                             st.sampled_from([np.nan, np.inf, -np.inf]))
    else:
        elements = st.integers(0, int(np.iinfo(dtype).max))
    # Mostly smooth-ish data (a fill plus a few distinct values) keeps generation fast.
    arr = draw(hnp.arrays(dtype, shape, elements=elements, fill=elements))
    return arr


def encode(arr: np.ndarray, fmt: str) -> bytes | None:
    """PNG or TIFF bytes of ``arr`` via OpenCV, or via Pillow for what OpenCV refuses."""
    try:
        ok, buf = cv2.imencode(f".{fmt}", arr)
        if ok:
            return buf.tobytes()
    except cv2.error:
        pass
    import io

    from PIL import Image

    try:
        im = Image.fromarray(arr)
        buf = io.BytesIO()
        im.save(buf, fmt.upper())
        return buf.getvalue()
    except (TypeError, ValueError, OSError, KeyError):
        return None


@settings(max_examples=100, **SETTINGS)
@given(arr=pixel_arrays(), fmt=st.sampled_from(["png", "tiff"]))
def test_random_images_through_the_pipeline(arr, fmt):
    from unet.analysis import analyze

    data = encode(arr, fmt)
    assume(data is not None)
    h, w = arr.shape[:2]
    loaded = read_or_refuse(data, "reader: ")
    if loaded is None:
        return
    assert loaded.pixels.shape == (h, w)

    seg = segmenter()
    try:
        result = analyze(data, seg.organ, segmenter=seg)
    except ImageInputError as exc:
        assert str(exc).strip()
        return
    assert result.image.pixels.shape == (h, w)
    probability = result.segmentation.probability
    assert probability.shape == (h, w) and np.isfinite(probability).all()
    for threshold in (None, 0.2, 0.8):
        assert result.mask(threshold).shape == (h, w)
    assert result.overlay().shape[:2] == (h, w)
    json.dumps(result.report())  # serialisable, no NaN surprises in types
