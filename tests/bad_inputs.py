"""A generated corpus of bad (and good-but-unusual) upload files, for the robustness tests.

Every function takes a folder, writes one file into it and returns the file's path. Nothing here
is a real patient image: pictures come from :mod:`unet.testing.phantom`, DICOM tags are obviously
fake.

* ``BAD``: files every entry point must refuse with a clear :class:`unet.errors.ImageInputError`
  message (reader), an "error" row and exit code 1 (CLI) or an error shown to the user (app).
* ``GOOD_UNUSUAL``: unusual but valid files that must work everywhere.
* :func:`over_upload_limit` writes a *valid* PNG padded past a byte limit (the app's
  ``max_file_size``), so that only the size can be the reason it is refused.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from unet.testing.synthetic_dicom import dicom_bytes, synthetic_dicom

PATIENT_NAME = "Qwertz^Privacyprobe"  # fake patient name: must never reach a message or log
PATIENT_ID = "PRIVACY-ID-0042"


# ----------------------------------------------------------------------------------- helpers


def phantom(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """A small synthetic ultrasound picture (uint8, H x W)."""
    from unet.testing.phantom import make_phantom

    image, _ = make_phantom(height, width, seed=seed)
    return image


def _pil_bytes(im: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _write(folder: Path, name: str, data: bytes) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def declared_png(width: int, height: int, idat: bytes | None = None) -> bytes:
    """A grayscale PNG written chunk by chunk whose header declares ``width`` x ``height``.

    The image data is a few compressed bytes, so the file is tiny whatever it declares.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    if idat is None:
        idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def dicom_dataset(pixels: np.ndarray, *, multiframe: bool = False,
                  spacing_mm: float | None = None):
    """An ultrasound DICOM data set holding ``pixels`` with the fake patient tags above; with
    ``spacing_mm``, a Sequence of Ultrasound Regions states that spacing (as scanners do)."""
    return synthetic_dicom(pixels, multiframe=multiframe, region_spacing_mm=spacing_mm,
                           patient=(PATIENT_NAME, PATIENT_ID))


# ------------------------------------------------------------------------------- bad files


def zero_byte(folder: Path) -> Path:
    return _write(folder, "zero_byte.png", b"")


def text_as_png(folder: Path) -> Path:
    return _write(folder, "notes.png", b"Patient notes, not an image.\n" * 20)


def truncated_png(folder: Path) -> Path:
    data = _pil_bytes(Image.fromarray(phantom(seed=1)), "PNG")
    return _write(folder, "cut_png.png", data[: len(data) // 2])


def truncated_jpeg(folder: Path) -> Path:
    data = _pil_bytes(Image.fromarray(phantom(seed=2)), "JPEG", quality=90)
    return _write(folder, "cut_jpeg.jpg", data[: len(data) // 2])


def png_bomb(folder: Path) -> Path:
    """Declares 50000 x 50000 pixels (2.5 gigapixels) in a file of about a hundred bytes."""
    return _write(folder, "bomb.png", declared_png(50_000, 50_000))


def pixel_limit_png(folder: Path) -> Path:
    """A real, complete PNG just over the reader's MAX_PIXELS (8000 x 5001 black pixels)."""
    from unet.io.reader import MAX_PIXELS

    width = 8000
    height = MAX_PIXELS // width + 1
    scanline = b"\x00" + bytes(width)  # filter byte + one row of black pixels
    idat = zlib.compress(scanline * height, 9)
    return _write(folder, "over_pixel_limit.png", declared_png(width, height, idat))


def one_pixel(folder: Path) -> Path:
    return _write(folder, "one_pixel.png", _pil_bytes(Image.new("L", (1, 1), 128), "PNG"))


def thin_strip(folder: Path) -> Path:
    """3 pixels wide, 10000 high."""
    strip = np.tile(np.arange(3, dtype=np.uint8) * 80, (10_000, 1))
    return _write(folder, "strip_3x10000.png", _pil_bytes(Image.fromarray(strip), "PNG"))


def animated_gif(folder: Path) -> Path:
    frames = [Image.fromarray(phantom(64, 64, seed=s)) for s in range(3)]
    data = _pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    return _write(folder, "clip.gif", data)


def html_as_jpeg(folder: Path) -> Path:
    html = (b"<!DOCTYPE html><html><head><title>scan</title></head><body>"
            b"<script>alert(1)</script><img src=x onerror=alert(2)></body></html>")
    return _write(folder, "page.jpg", html)


def svg_as_jpeg(folder: Path) -> Path:
    svg = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="200" '
           b'height="200"><script>alert(1)</script><circle cx="100" cy="100" r="50"/></svg>')
    return _write(folder, "drawing.jpg", svg)


def dicom_without_pixels(folder: Path) -> Path:
    ds = dicom_dataset(phantom(64, 80, seed=3))
    del ds.PixelData
    return _write(folder, "no_pixels.dcm", dicom_bytes(ds))


def dicom_unknown_transfer_syntax(folder: Path) -> Path:
    """The file meta names a transfer syntax UID that does not exist."""
    data = dicom_bytes(dicom_dataset(phantom(64, 80, seed=4)))
    native = b"1.2.840.10008.1.2.1\x00"
    assert native in data
    return _write(folder, "unknown_syntax.dcm", data.replace(native, b"1.2.840.10008.9.9.9\x00", 1))


def dicom_mislabelled_transfer_syntax(folder: Path) -> Path:
    """Says RLE Lossless (compressed), but the pixel data is plain uncompressed bytes."""
    data = dicom_bytes(dicom_dataset(phantom(64, 80, seed=5)))
    native = b"1.2.840.10008.1.2.1\x00"
    rle = b"1.2.840.10008.1.2.5\x00"  # same length: the header's group length stays valid
    assert native in data
    return _write(folder, "wrong_syntax.dcm", data.replace(native, rle, 1))


def dicom_multiframe(folder: Path) -> Path:
    """A 3-frame cine loop: refused without an explicit frame choice."""
    frames = np.stack([phantom(64, 80, seed=s) for s in range(3)])
    ds = dicom_dataset(frames, multiframe=True)
    ds.NumberOfFrames = 3
    return _write(folder, "cine.dcm", dicom_bytes(ds))


BAD: dict[str, Callable[[Path], Path]] = {
    "zero_byte": zero_byte,
    "text_as_png": text_as_png,
    "truncated_png": truncated_png,
    "truncated_jpeg": truncated_jpeg,
    "png_bomb_50000": png_bomb,
    "over_pixel_limit": pixel_limit_png,
    "one_pixel": one_pixel,
    "strip_3x10000": thin_strip,
    "animated_gif": animated_gif,
    "html_as_jpeg": html_as_jpeg,
    "svg_as_jpeg": svg_as_jpeg,
    "dicom_no_pixels": dicom_without_pixels,
    "dicom_unknown_syntax": dicom_unknown_transfer_syntax,
    "dicom_wrong_syntax": dicom_mislabelled_transfer_syntax,
    "dicom_multiframe": dicom_multiframe,
}


def over_upload_limit(folder: Path, limit_bytes: int) -> Path:
    """A valid PNG followed by padding so that the file is ``limit_bytes + 1`` bytes long.

    PNG readers stop at IEND, so the reader accepts this file: only an upload-size check
    refuses it.
    """
    data = _pil_bytes(Image.fromarray(phantom(seed=6)), "PNG")
    pad = max(0, limit_bytes + 1 - len(data))
    path = Path(folder) / "over_upload_limit.png"
    Path(folder).mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
        chunk = bytes(1 << 20)
        while pad > 0:
            fh.write(chunk[: min(pad, len(chunk))])
            pad -= min(pad, len(chunk))
    return path


# ------------------------------------------------------------------- good but unusual files


def png_16bit(folder: Path) -> Path:
    img = phantom(seed=10).astype(np.uint16) * 257 // 4 + 1000  # 16-bit, not full range
    return _write(folder, "deep_16bit.png", _pil_bytes(Image.fromarray(img), "PNG"))


def png_rgba(folder: Path) -> Path:
    gray = phantom(seed=11)
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    rgba[:8, :8, 3] = 0  # a transparent corner
    return _write(folder, "with_alpha.png", _pil_bytes(Image.fromarray(rgba, "RGBA"), "PNG"))


def png_palette(folder: Path) -> Path:
    rgb = Image.fromarray(phantom(seed=12)).convert("RGB")
    pal = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    return _write(folder, "palette.png", _pil_bytes(pal, "PNG"))


def jpeg_cmyk(folder: Path) -> Path:
    cmyk = Image.fromarray(phantom(seed=13)).convert("RGB").convert("CMYK")
    return _write(folder, "cmyk.jpg", _pil_bytes(cmyk, "JPEG", quality=95))


GOOD_UNUSUAL: dict[str, Callable[[Path], Path]] = {
    "png_16bit": png_16bit,
    "png_rgba": png_rgba,
    "png_palette": png_palette,
    "jpeg_cmyk": jpeg_cmyk,
}

GOOD_SHAPE = (96, 128)  # (height, width) of every GOOD_UNUSUAL file


def good_png(folder: Path, name: str = "good.png", height: int = 96, width: int = 128,
             seed: int = 20) -> Path:
    """An ordinary 8-bit grayscale PNG."""
    return _write(folder, name, _pil_bytes(Image.fromarray(phantom(height, width, seed)), "PNG"))


def dicom_with_patient(folder: Path, name: str = "patient.dcm", height: int = 96,
                       width: int = 128) -> Path:
    """A valid single-frame ultrasound DICOM carrying PATIENT_NAME and a 0.1 mm spacing."""
    ds = dicom_dataset(phantom(height, width, seed=21), spacing_mm=0.1)
    return _write(folder, name, dicom_bytes(ds))


def write_all(folder: Path, corpus: dict[str, Callable[[Path], Path]]) -> dict[str, Path]:
    return {key: make(folder) for key, make in corpus.items()}
