"""Tests for unet.io.reader / unet.io.dicom. Every file is generated here, in tmp_path."""

from __future__ import annotations

import io
import logging
import struct
import time
import zlib

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageFile
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    RLELossless,
)

from unet.errors import ImageInputError
from unet.io.reader import MAX_PIXELS, MIN_SIDE, LoadedImage, read_image
from unet.testing.synthetic_dicom import dicom_bytes, synthetic_dicom, ultrasound_region

SECRET = "Zyxwvut^Secret"  # a patient name that must never show up in a message


# ------------------------------------------------------------------------------- helpers


def gradient(h: int = 48, w: int = 64) -> np.ndarray:
    """Asymmetric 8-bit test picture: horizontal ramp plus a bright top-left block."""
    arr = np.tile(np.linspace(20, 200, w).astype(np.uint8), (h, 1))
    arr[: h // 4, : w // 4] = 250
    return arr


def pil_bytes(im: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def luma(rgb) -> float:
    r, g, b = rgb
    return 0.299 * r + 0.587 * g + 0.114 * b


def assert_plain_message(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert msg and msg.strip() == msg
    assert msg[0].isupper() and msg.endswith(".")
    assert "\n" not in msg and "Traceback" not in msg and "Error" not in msg
    assert SECRET.split("^")[0] not in msg
    assert len(msg) < 400
    return msg


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def declared_png(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height but whose data is tiny."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def dicom_dataset(arr: np.ndarray, pi: str = "MONOCHROME2", bits_stored: int | None = None,
                  multiframe: bool = False) -> Dataset:
    return synthetic_dicom(arr, pi, bits_stored=bits_stored, multiframe=multiframe,
                           patient=(SECRET, "SECRET-ID-123"))


# ------------------------------------------------------------------------------- formats


def test_png_gray_8bit_keeps_values(tmp_path):
    arr = gradient()
    out = read_image(write(tmp_path, "a.png", pil_bytes(Image.fromarray(arr), "PNG")))
    assert isinstance(out, LoadedImage)
    assert out.pixels.dtype == np.uint8 and out.pixels.shape == arr.shape
    np.testing.assert_array_equal(out.pixels, arr)
    assert (out.source_format, out.bit_depth, out.spacing_mm) == ("PNG", 8, None)


def test_png_rgb_uses_bt601_luma(tmp_path):
    rgb = np.zeros((32, 40, 3), np.uint8)
    rgb[:, :20] = (200, 100, 50)
    rgb[:, 20:] = (10, 220, 90)
    out = read_image(write(tmp_path, "c.png", pil_bytes(Image.fromarray(rgb), "PNG")))
    assert out.pixels.shape == (32, 40)
    assert abs(int(out.pixels[0, 0]) - luma((200, 100, 50))) <= 1
    assert abs(int(out.pixels[0, 39]) - luma((10, 220, 90))) <= 1


def test_png_rgba_is_composited_on_black(tmp_path):
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., :3] = (200, 100, 50)
    rgba[:, :16, 3] = 255  # opaque left half
    rgba[:, 16:, 3] = 0  # transparent right half
    out = read_image(write(tmp_path, "a.png", pil_bytes(Image.fromarray(rgba), "PNG")))
    assert abs(int(out.pixels[5, 5]) - luma((200, 100, 50))) <= 1
    assert int(out.pixels[5, 20]) == 0


def test_png_gray_alpha_la(tmp_path):
    la = Image.merge("LA", [Image.new("L", (20, 20), 180), Image.new("L", (20, 20), 255)])
    out = read_image(pil_bytes(la, "PNG"))
    assert np.all(out.pixels == 180)


def test_png_palette(tmp_path):
    rgb = np.zeros((24, 24, 3), np.uint8)
    rgb[:12] = (255, 0, 0)
    rgb[12:] = (0, 0, 255)
    im = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    assert im.mode == "P"
    out = read_image(write(tmp_path, "p.png", pil_bytes(im, "PNG")))
    assert abs(int(out.pixels[0, 0]) - luma((255, 0, 0))) <= 1
    assert abs(int(out.pixels[23, 0]) - luma((0, 0, 255))) <= 1


def test_png_16bit_gradient_scaled_by_data_range(tmp_path):
    ramp = np.linspace(1000, 4000, 64).astype(np.uint16)  # 12-bit data in 16-bit samples
    arr = np.tile(ramp, (32, 1))
    im = Image.fromarray(arr)
    assert im.mode.startswith("I;16")
    out = read_image(write(tmp_path, "d.png", pil_bytes(im, "PNG")))
    assert out.bit_depth == 16 and out.pixels.dtype == np.uint8
    row = out.pixels[0].astype(int)
    assert np.all(np.diff(row) >= 0)  # monotone
    assert row[0] == 0 and row[-1] == 255  # a real range: neither black nor saturated
    assert len(np.unique(row)) > 50


def test_png_16bit_constant_is_not_black(tmp_path):
    arr = np.full((20, 20), 32768, np.uint16)
    out = read_image(pil_bytes(Image.fromarray(arr), "PNG"))
    assert np.all(out.pixels == out.pixels[0, 0]) and 100 < out.pixels[0, 0] < 160


def test_png_uniform_constant_8bit_is_returned(tmp_path):
    out = read_image(pil_bytes(Image.new("L", (30, 30), 77), "PNG"))
    assert np.all(out.pixels == 77)


def test_one_bit_image(tmp_path):
    im = Image.new("1", (32, 32), 0)
    im.paste(1, (0, 0, 16, 32))
    out = read_image(write(tmp_path, "b.png", pil_bytes(im, "PNG")))
    assert set(np.unique(out.pixels)) == {0, 255} and out.bit_depth == 1
    assert out.pixels[0, 0] == 255 and out.pixels[0, 31] == 0


def test_jpeg(tmp_path):
    arr = gradient()
    out = read_image(write(tmp_path, "a.jpg", pil_bytes(Image.fromarray(arr), "JPEG", quality=95)))
    assert out.source_format == "JPEG" and out.pixels.shape == arr.shape
    assert np.abs(out.pixels.astype(int) - arr).mean() < 3


def test_cmyk_jpeg(tmp_path):
    im = Image.new("CMYK", (32, 32), (0, 0, 0, 0))  # white
    im.paste((255, 0, 0, 0), (0, 0, 16, 32))  # cyan = (0, 255, 255)
    im.paste((0, 0, 0, 255), (0, 16, 16, 32))  # black
    out = read_image(write(tmp_path, "cmyk.jpg", pil_bytes(im, "JPEG", quality=95)))
    assert out.pixels.shape == (32, 32)
    assert out.pixels[4, 28] > 245  # white stays white
    assert out.pixels[28, 4] < 12  # black stays black
    assert abs(int(out.pixels[4, 4]) - luma((0, 255, 255))) < 15


def test_exif_orientation_applied(tmp_path):
    arr = np.zeros((40, 64), np.uint8)
    arr[:, :32] = 40
    arr[:, 32:] = 160
    arr[:10, :16] = 250  # bright top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    data = pil_bytes(Image.fromarray(arr), "JPEG", quality=95, exif=exif.tobytes())
    out = read_image(write(tmp_path, "rot.jpg", data))
    assert out.pixels.shape == (64, 40)
    expected = np.rot90(arr, k=-1)  # clockwise
    assert np.abs(out.pixels.astype(int) - expected).mean() < 4
    assert out.pixels[3, 35] > 230  # top-left corner went to the top-right


def test_bmp_tiff_webp(tmp_path):
    arr = gradient()
    im = Image.fromarray(arr)
    for fmt, name, kwargs in (
        ("BMP", "a.bmp", {}),
        ("TIFF", "a.tif", {}),
        ("WEBP", "a.webp", {"lossless": True}),
    ):
        out = read_image(write(tmp_path, name, pil_bytes(im, fmt, **kwargs)))
        assert out.source_format == fmt
        np.testing.assert_array_equal(out.pixels, arr)


def test_tiff_16bit(tmp_path):
    arr = np.tile(np.linspace(0, 60000, 40).astype(np.uint16), (20, 1))
    out = read_image(pil_bytes(Image.fromarray(arr), "TIFF"))
    assert out.bit_depth == 16
    assert out.pixels[0, 0] == 0 and out.pixels[0, -1] == 255
    assert np.all(np.diff(out.pixels[0].astype(int)) >= 0)


def test_tiff_with_an_unreadable_pixel_layout_says_so(tmp_path):
    import cv2

    ok, buf = cv2.imencode(".tiff", np.random.default_rng(0).random((40, 50, 3), np.float32))
    assert ok
    with pytest.raises(ImageInputError) as exc:
        read_image(write(tmp_path, "float_rgb.tif", buf.tobytes()))
    msg = assert_plain_message(exc)
    assert "TIFF" in msg and "PNG" in msg and "not an image file" not in msg


def test_bytes_input_same_as_path(tmp_path):
    data = pil_bytes(Image.fromarray(gradient()), "PNG")
    a = read_image(write(tmp_path, "a.png", data))
    b = read_image(data)
    c = read_image(bytearray(data))
    d = read_image(str(tmp_path / "a.png"))
    for other in (b, c, d):
        np.testing.assert_array_equal(a.pixels, other.pixels)
        assert (a.source_format, a.bit_depth, a.spacing_mm) == (
            other.source_format,
            other.bit_depth,
            other.spacing_mm,
        )


# --------------------------------------------------------------------------- multi-frame


def animated_gif() -> bytes:
    frames = [Image.new("L", (32, 32), v) for v in (30, 120, 210)]
    return pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)


def test_animated_gif_needs_frame(tmp_path):
    path = write(tmp_path, "a.gif", animated_gif())
    with pytest.raises(ImageInputError) as exc:
        read_image(path)
    msg = assert_plain_message(exc)
    assert "3 frames" in msg
    out = read_image(path, frame=2)
    assert out.source_format == "GIF" and np.all(out.pixels == 210)
    with pytest.raises(ImageInputError) as exc:
        read_image(path, frame=3)
    assert_plain_message(exc)


def test_multipage_tiff_needs_frame(tmp_path):
    pages = [Image.new("L", (20, 20), v) for v in (10, 99)]
    data = pil_bytes(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    with pytest.raises(ImageInputError, match="2 frames"):
        read_image(data)
    assert np.all(read_image(data, frame=1).pixels == 99)


def test_single_frame_accepts_frame_zero_only():
    data = pil_bytes(Image.fromarray(gradient()), "PNG")
    assert read_image(data, frame=0).pixels.shape == (48, 64)
    with pytest.raises(ImageInputError) as exc:
        read_image(data, frame=1)
    assert_plain_message(exc)
    # a frame number left from an earlier multi-frame file: the message says how to clear it
    assert "no frame 1: leave the frame number empty" in str(exc.value)
    with pytest.raises(TypeError):
        read_image(data, frame="1")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------- DICOM


def test_dicom_8bit_ultrasound_regions(tmp_path):
    arr = gradient(48, 64)
    ds = dicom_dataset(arr)
    ds.SequenceOfUltrasoundRegions = [
        ultrasound_region(10, 10, 0.5, 0.5),  # small cm region: loses to the larger one
        ultrasound_region(63, 47, 0.01, 0.02),  # largest cm region
        ultrasound_region(63, 47, 0.7, 0.7, unit=4),  # seconds (Doppler): ignored
    ]
    ds.PixelSpacing = [9.0, 9.0]  # regions take precedence
    out = read_image(write(tmp_path, "us.dcm", dicom_bytes(ds)))
    assert out.source_format == "DICOM" and out.bit_depth == 8
    np.testing.assert_array_equal(out.pixels, arr)  # plain 8-bit keeps values
    assert out.spacing_mm == pytest.approx((0.2, 0.1))


def test_dicom_16bit_monochrome1_pixel_spacing(tmp_path):
    ramp = np.linspace(-1000, 3000, 64).astype(np.int16)
    arr = np.tile(ramp, (32, 1))
    ds = dicom_dataset(arr, "MONOCHROME1", bits_stored=16)
    ds.PixelSpacing = [0.25, 0.3]
    out = read_image(write(tmp_path, "m1.dcm", dicom_bytes(ds)))
    assert out.bit_depth == 16
    row = out.pixels[0].astype(int)
    assert np.all(np.diff(row) <= 0)  # MONOCHROME1: higher values are darker
    assert row[0] == 255 and row[-1] == 0
    assert out.spacing_mm == pytest.approx((0.25, 0.3))


def test_dicom_window_and_rescale():
    arr = np.tile(np.arange(0, 1000, 10, dtype=np.uint16), (20, 1))
    ds = dicom_dataset(arr, bits_stored=12)
    ds.RescaleSlope = 2
    ds.RescaleIntercept = -100
    ds.WindowCenter = 900
    ds.WindowWidth = 200
    out = read_image(dicom_bytes(ds)).pixels[0].astype(int)
    values = arr[0] * 2.0 - 100
    assert np.all(out[values <= 799] == 0) and np.all(out[values > 1000] == 255)
    inside = (values > 820) & (values < 980)
    assert inside.any() and np.all((out[inside] > 0) & (out[inside] < 255))


def test_dicom_bad_spacing_is_none():
    ds = dicom_dataset(gradient())
    ds.SequenceOfUltrasoundRegions = [ultrasound_region(63, 47, -0.01, 0.0)]
    ds.PixelSpacing = [0, 0.3]
    assert read_image(dicom_bytes(ds)).spacing_mm is None
    ds.ImagerPixelSpacing = [0.4, 0.4]
    assert read_image(dicom_bytes(ds)).spacing_mm == pytest.approx((0.4, 0.4))


def test_dicom_rgb():
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[:, :16] = (200, 100, 50)
    rgb[:, 16:] = (0, 255, 0)
    out = read_image(dicom_bytes(dicom_dataset(rgb, "RGB")))
    assert out.pixels.shape == (32, 32)
    assert abs(int(out.pixels[0, 0]) - luma((200, 100, 50))) <= 1
    assert abs(int(out.pixels[0, 31]) - luma((0, 255, 0))) <= 1


def test_dicom_jpeg_baseline_ybr():
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[:, :16] = (200, 100, 50)
    rgb[:, 16:] = (90, 90, 90)
    ds = dicom_dataset(rgb, "RGB")
    jpg = pil_bytes(Image.fromarray(rgb), "JPEG", quality=95)
    ds.PixelData = pydicom.encaps.encapsulate([jpg])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    out = read_image(dicom_bytes(ds))
    assert abs(int(out.pixels[16, 4]) - luma((200, 100, 50))) <= 4
    assert abs(int(out.pixels[16, 28]) - 90) <= 4


def test_dicom_multiframe(tmp_path):
    arr = np.stack([np.full((32, 32), v, np.uint8) for v in (10, 20, 30)])
    ds = dicom_dataset(arr, multiframe=True)
    path = write(tmp_path, "cine.dcm", dicom_bytes(ds))
    with pytest.raises(ImageInputError) as exc:
        read_image(path)
    msg = assert_plain_message(exc)
    assert "3 frames" in msg
    assert np.all(read_image(path, frame=1).pixels == 20)
    for bad in (3, -1):
        with pytest.raises(ImageInputError) as exc:
            read_image(path, frame=bad)
        assert_plain_message(exc)


def test_dicom_without_pixel_data(tmp_path):
    ds = dicom_dataset(gradient())
    del ds.PixelData
    with pytest.raises(ImageInputError) as exc:
        read_image(write(tmp_path, "sr.dcm", dicom_bytes(ds)))
    assert "contains no image" in assert_plain_message(exc)


def test_dicom_rle_lossless():
    arr = gradient()
    ds = dicom_dataset(arr)
    ds.compress(RLELossless)
    out = read_image(dicom_bytes(ds))
    np.testing.assert_array_equal(out.pixels, arr)


def test_dicom_jpeg2000_lossless():
    from pydicom.pixels import get_encoder

    if not get_encoder(JPEG2000Lossless).is_available:
        pytest.skip("no JPEG 2000 encoder installed")
    arr = np.tile(np.linspace(0, 4000, 64).astype(np.uint16), (32, 1))
    ds = dicom_dataset(arr, bits_stored=12)
    ds.compress(JPEG2000Lossless)
    row = read_image(dicom_bytes(ds)).pixels[0].astype(int)
    assert row[0] == 0 and row[-1] == 255 and np.all(np.diff(row) >= 0)


def test_dicom_unknown_transfer_syntax():
    data = dicom_bytes(dicom_dataset(gradient()))
    native = b"1.2.840.10008.1.2.1\x00"
    assert native in data
    data = data.replace(native, b"1.2.840.10008.9.9.9\x00", 1)
    with pytest.raises(ImageInputError) as exc:
        read_image(data)
    assert "cannot decode" in assert_plain_message(exc)


def test_dicom_without_preamble_is_found(tmp_path):
    arr = gradient()
    ds = dicom_dataset(arr)
    ds.file_meta = FileMetaDataset()
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, implicit_vr=True, little_endian=True)  # no preamble, no meta
    data = buf.getvalue()
    assert data[128:132] != b"DICM"
    for src in (data, write(tmp_path, "raw.dcm", data), write(tmp_path, "raw.bin", data)):
        out = read_image(src)
        assert out.source_format == "DICOM"
        np.testing.assert_array_equal(out.pixels, arr)


def test_dicom_malformed_spacing_is_none():
    ds = dicom_dataset(gradient())
    ds.PixelSpacing = [0.25, 0.3]
    data = dicom_bytes(ds).replace(b"0.25\\0.3", b"ZQ25\\0.3", 1)
    assert b"ZQ25" in data
    assert read_image(data).spacing_mm is None  # not stated correctly: never guessed


def test_dicom_pydicom_reports_stay_out_of_logs_and_warnings(caplog, recwarn):
    # A JPEG with a JFIF marker labelled RGB: pydicom corrects the colour space and reports
    # it through a warning and its logger, quoting the tag value. Neither may leak.
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[:, :16] = (200, 100, 50)
    ds = dicom_dataset(rgb, "RGB")
    ds.PixelData = pydicom.encaps.encapsulate([pil_bytes(Image.fromarray(rgb), "JPEG")])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    caplog.set_level(logging.DEBUG)
    out = read_image(dicom_bytes(ds))
    assert abs(int(out.pixels[16, 4]) - luma((200, 100, 50))) <= 4
    assert "Photometric" not in caplog.text and SECRET not in caplog.text
    assert not [w for w in recwarn if "Photometric" in str(w.message)]


def test_dicom_bytes_same_as_path(tmp_path):
    data = dicom_bytes(dicom_dataset(gradient()))
    a, b = read_image(data), read_image(write(tmp_path, "x.dcm", data))
    np.testing.assert_array_equal(a.pixels, b.pixels)


def test_dicom_truncated_pixel_data():
    data = dicom_bytes(dicom_dataset(gradient()))
    with pytest.raises(ImageInputError) as exc:
        read_image(data[: len(data) - 500])
    assert_plain_message(exc)


# ----------------------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    "name, data",
    [
        ("empty.png", b""),
        ("empty.dcm", b""),
        ("text.png", b"Patient notes: nothing to see here.\n" * 20),
        ("page.jpg", b"<!DOCTYPE html><html><body><p>Not an image</p></body></html>\n"),
        (
            "drawing.jpg",
            (
                b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" '
                b'height="64"><rect width="64" height="64"/></svg>'
            ),
        ),
        ("fake.dcm", b"this is not dicom at all" * 10),
    ],
)
def test_not_an_image(tmp_path, name, data):
    with pytest.raises(ImageInputError) as exc:
        read_image(write(tmp_path, name, data))
    msg = assert_plain_message(exc)
    if data:
        assert "not an image file we can read" in msg
        assert "PNG, JPEG, BMP, TIFF, WebP or DICOM" in msg
    else:
        assert "empty" in msg


def noise(h: int = 128, w: int = 128) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w), dtype=np.uint8))


@pytest.mark.parametrize("fmt, name", [("PNG", "cut.png"), ("JPEG", "cut.jpg")])
def test_truncated(tmp_path, fmt, name):
    data = pil_bytes(noise(), fmt)
    with pytest.raises(ImageInputError) as exc:
        read_image(write(tmp_path, name, data[: len(data) // 2]))
    assert "incomplete or damaged" in assert_plain_message(exc)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("size", [(50_000, 50_000), (7_000, 7_000)])
def test_declared_huge_png_rejected_from_header(tmp_path, size):
    assert size[0] * size[1] > MAX_PIXELS
    path = write(tmp_path, "huge.png", declared_png(*size))
    start = time.perf_counter()
    with pytest.raises(ImageInputError) as exc:
        read_image(path)
    assert time.perf_counter() - start < 2.0
    assert "too large" in assert_plain_message(exc)


def test_declared_huge_dicom_rejected_before_decoding():
    ds = dicom_dataset(gradient())
    ds.Rows, ds.Columns = 10_000, 10_000  # pixel data far too short for this: never decoded
    with pytest.raises(ImageInputError, match="too large"):
        read_image(dicom_bytes(ds))


@pytest.mark.parametrize("size", [(1, 1), (3, 10_000), (10_000, 3), (MIN_SIDE - 1, 64)])
def test_too_small(tmp_path, size):
    path = write(tmp_path, "small.png", pil_bytes(Image.new("L", size, 128), "PNG"))
    with pytest.raises(ImageInputError) as exc:
        read_image(path)
    assert "too small" in assert_plain_message(exc)


def test_min_side_is_allowed():
    assert read_image(pil_bytes(Image.new("L", (MIN_SIDE, MIN_SIDE), 5), "PNG")).pixels.shape == (
        MIN_SIDE,
        MIN_SIDE,
    )


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(ImageInputError) as exc:
        read_image(tmp_path / "nope.png")
    msg = assert_plain_message(exc)
    assert "nope" not in msg  # no file names or paths in messages
    with pytest.raises(ImageInputError) as exc:
        read_image(tmp_path)
    assert "folder" in assert_plain_message(exc)


def test_other_pillow_formats_refused():
    data = pil_bytes(Image.fromarray(gradient()), "PPM")
    with pytest.raises(ImageInputError, match="not an image file we can read"):
        read_image(data)


def test_unexpected_errors_become_image_input_error(monkeypatch):
    from unet.io import reader

    def boom(*_args, **_kwargs):
        raise RuntimeError("decoder exploded with internal details")

    monkeypatch.setattr(reader, "_read_pillow", boom)
    with pytest.raises(ImageInputError) as exc:
        read_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    assert isinstance(exc.value.__cause__, RuntimeError)
    assert "internal details" not in assert_plain_message(exc)

    def oom(*_args, **_kwargs):
        raise MemoryError

    monkeypatch.setattr(reader, "_read_pillow", oom)
    with pytest.raises(ImageInputError) as exc:
        read_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    assert isinstance(exc.value.__cause__, MemoryError)

    def interrupt(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(reader, "_read_pillow", interrupt)
    with pytest.raises(KeyboardInterrupt):
        read_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)


def test_reader_does_not_import_tensorflow():
    import subprocess
    import sys

    code = "import sys, unet.io.reader, unet.io.dicom; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
