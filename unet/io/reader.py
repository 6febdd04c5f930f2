"""Read one uploaded ultrasound image into a 2-D 8-bit grayscale array.

Accepted formats: PNG, JPEG, BMP, TIFF, WebP and GIF (through Pillow) and DICOM (through
pydicom, see :mod:`unet.io.dicom`). Everything a user can get wrong about the file raises
:class:`unet.errors.ImageInputError` with a message written for a clinician; no message
contains pixel data, DICOM tag values or the file's name or path.

Limits
------
* At most ``MAX_PIXELS`` = 40,000,000 pixels (width x height). The size declared in the file
  header is checked *before* anything is decoded, so a file announcing an enormous image is
  rejected quickly and without allocating memory for it.
* Both sides must be at least ``MIN_SIDE`` = 16 pixels.
* Images whose pixels all have one value are returned as they are; the caller decides.

Conversions (all return ``uint8`` arrays of shape (height, width), at the original size)
----------------------------------------------------------------------------------------
* Colour (RGB, palette, YCbCr, CMYK) becomes gray with the ITU-R BT.601 luma weights
  ``0.299 R + 0.587 G + 0.114 B``, the same as OpenCV and Pillow's ``"L"`` mode. CMYK is
  converted through its embedded ICC profile when it has one, else with Pillow's conversion.
* Transparency (RGBA, LA, palette with transparency) is composited on black: transparent
  parts become black, like the background of an ultrasound image.
* 8-bit and 1-bit images keep their values (1-bit becomes 0 and 255).
* 16-bit and 32-bit integer or floating-point images are scaled linearly from the actual
  minimum..maximum of the data to 0..255, so a 12-bit image stored in 16 bits is neither all
  black nor saturated. A 16-bit image whose pixels are all equal is scaled by its bit range.
* EXIF orientation is applied, so the array is upright as a photo viewer would show it.

Multi-frame files (animated GIF/WebP/PNG, multi-page TIFF, multi-frame DICOM) need an explicit
choice: without ``frame`` they are rejected with a message saying how many frames there are.
``frame`` counts from 0. For a single-frame file ``frame`` may be ``None`` or 0. A JPEG with
extra MPO pictures (some cameras add them) is read as its primary picture.

Pixel spacing is returned only when the file states it (DICOM ultrasound regions or pixel
spacing); it is never guessed. Pillow's ``LOAD_TRUNCATED_IMAGES`` must stay ``False`` (this
module never changes it) so that cut-off files are rejected rather than filled with gray.
"""

from __future__ import annotations

import io
import logging
import os

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from unet.errors import ImageInputError
from unet.io.image_basics import (  # noqa: F401  (re-exported: the reader's public names)
    MAX_PIXELS,
    MIN_SIDE,
    MSG_DAMAGED,
    MSG_TOO_LARGE,
    LoadedImage,
    check_frame,
    check_size,
    luminance,
    scale_to_uint8,
)

logger = logging.getLogger(__name__)

# Pillow formats we open. Others Pillow knows (EPS, PSD, ICO, TGA ...) are refused on purpose:
# some call external programs and some are identified from very weak signatures.
_PILLOW_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF")
_DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")

MSG_NOT_IMAGE = (
    "This is not an image file we can read: PNG, JPEG, BMP, TIFF, WebP or DICOM. "
    "Please export the image in one of these formats and upload it again."
)
MSG_UNSUPPORTED_TIFF = (
    "This TIFF file stores its pixels in a way we cannot read (for example floating-point "
    "colour, or an unusual compression). Please export it as PNG, or as an 8- or 16-bit TIFF, "
    "and upload it again."
)
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
MSG_EMPTY = "The file is empty. Please upload the image again."


def read_image(source: str | os.PathLike | bytes, *, frame: int | None = None) -> LoadedImage:
    """Read an uploaded image file (a path or its bytes) into a :class:`LoadedImage`.

    ``frame`` chooses one frame (counting from 0) of a multi-frame file; it is required when
    the file has more than one frame. Raises :class:`ImageInputError` for any problem with the
    file itself; raises ``TypeError`` only for a wrong argument type (a programming error).
    """
    if frame is not None and (isinstance(frame, bool) or not isinstance(frame, (int, np.integer))):
        raise TypeError("frame must be an int or None")
    if frame is not None:
        frame = int(frame)
    data, name = _read_source(source)
    try:
        return _decode(data, name, frame)
    except ImageInputError:
        raise
    except MemoryError as exc:
        raise ImageInputError(
            "The image is too large to process on this computer. Please upload a smaller image."
        ) from exc
    except Exception as exc:  # anything unexpected from Pillow, pydicom or numpy
        logger.warning("image decoding failed: %s", type(exc).__name__)
        raise ImageInputError(MSG_DAMAGED) from exc


def _read_source(source: str | os.PathLike | bytes) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), ""
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError("source must be a path or the file's bytes")
    path = os.fspath(source)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if os.path.isdir(path):
        raise ImageInputError(
            "A folder was given instead of an image file. Please choose a single image file."
        )
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError as exc:
        raise ImageInputError(
            "The image file could not be found. Please check the file and upload it again."
        ) from exc
    except MemoryError as exc:
        raise ImageInputError(
            "The file is too large to process on this computer. Please upload a smaller image."
        ) from exc
    except OSError as exc:
        raise ImageInputError(
            "The image file could not be opened. Please check that it is readable and "
            "upload it again."
        ) from exc
    return data, os.path.basename(path)


def _decode(data: bytes, name: str, frame: int | None) -> LoadedImage:
    if not data:
        raise ImageInputError(MSG_EMPTY)
    from unet.io import dicom  # imported here: pydicom is only loaded when needed

    if dicom.has_dicom_magic(data):
        return dicom.read_dicom(data, frame)
    if name.lower().endswith(_DICOM_SUFFIXES):
        loaded = dicom.try_read_dicom(data, frame)
        if loaded is not None:
            return loaded
        return _read_pillow(data, frame, dicom_fallback=False)
    return _read_pillow(data, frame, dicom_fallback=True)


# ---------------------------------------------------------------------------------- Pillow


def _read_pillow(data: bytes, frame: int | None, *, dicom_fallback: bool) -> LoadedImage:
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        logger.warning("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on: cut-off files may pass")
    try:
        im = Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS)
    except Image.DecompressionBombError as exc:
        # Pillow's own guard fired from the header alone: far over our limit anyway.
        raise ImageInputError(MSG_TOO_LARGE) from exc
    except UnidentifiedImageError as exc:
        if dicom_fallback:
            from unet.io import dicom

            loaded = dicom.try_read_dicom(data, frame)
            if loaded is not None:
                return loaded
        if data[:4] in _TIFF_SIGNATURES:  # a TIFF header, but pixels Pillow cannot decode
            raise ImageInputError(MSG_UNSUPPORTED_TIFF) from exc
        raise ImageInputError(MSG_NOT_IMAGE) from exc
    with im:
        return _from_pillow(im, data, frame)


def _from_pillow(im: Image.Image, data: bytes, frame: int | None) -> LoadedImage:
    fmt = (im.format or "").upper()
    check_size(*im.size)  # header only: nothing decoded yet
    n_frames = 1 if fmt == "MPO" else int(getattr(im, "n_frames", 1) or 1)
    index = check_frame(frame, n_frames)
    if index:
        im.seek(index)
        check_size(*im.size)
    try:
        im.load()
    except OSError as exc:  # "image file is truncated", broken streams, decoder errors
        raise ImageInputError(MSG_DAMAGED) from exc
    bit_depth = _pillow_bit_depth(im, data, fmt)
    try:
        upright = ImageOps.exif_transpose(im)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not reject a good image
        logger.warning("ignoring unreadable EXIF orientation")
        upright = im
    if upright is None:
        upright = im
    pixels = _pillow_to_gray(upright, bit_depth)
    check_size(pixels.shape[1], pixels.shape[0])
    return LoadedImage(
        pixels=pixels,
        spacing_mm=None,
        source_format="JPEG" if fmt == "MPO" else fmt,
        bit_depth=bit_depth,
    )


def _pillow_bit_depth(im: Image.Image, data: bytes, fmt: str) -> int:
    mode = im.mode
    if fmt == "PNG" and len(data) > 24 and data[12:16] == b"IHDR" and data[24] == 16:
        return 16  # 16-bit colour PNGs are reduced to 8 bits by Pillow; report the original
    if fmt == "TIFF":
        bits = getattr(im, "tag_v2", {}).get(258)  # BitsPerSample
        if isinstance(bits, tuple) and bits:
            bits = max(bits)
        if isinstance(bits, int) and 0 < bits <= 64:
            return bits
    if mode == "1":
        return 1
    if mode.startswith("I;16"):
        return 16
    if mode in ("I", "F"):
        return 32
    return 8


def _pillow_to_gray(im: Image.Image, bit_depth: int) -> np.ndarray:
    mode = im.mode
    if mode == "L":
        return np.array(im, dtype=np.uint8)
    if mode == "1":
        return np.array(im.convert("L"), dtype=np.uint8)
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.array(im)
        if arr.ndim != 2:
            raise ImageInputError(MSG_DAMAGED)
        return scale_to_uint8(arr, bits=min(bit_depth, 32) if mode != "F" else None)
    if mode == "CMYK":
        return np.array(_cmyk_to_rgb(im).convert("L"), dtype=np.uint8)
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        mode == "P" and "transparency" in im.info
    )
    if has_alpha:
        rgba = im.convert("RGBA")
        black = Image.new("RGB", rgba.size, (0, 0, 0))
        black.paste(rgba, mask=rgba.getchannel("A"))
        return np.array(black.convert("L"), dtype=np.uint8)
    try:
        return np.array(im.convert("RGB").convert("L"), dtype=np.uint8)
    except ValueError as exc:  # a colour mode Pillow cannot convert
        raise ImageInputError(
            "The image uses a colour format this demo cannot read. "
            "Please export it as an ordinary grayscale or colour PNG or JPEG."
        ) from exc


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    """CMYK to RGB through the embedded ICC profile if any, else Pillow's formula."""
    icc = im.info.get("icc_profile")
    if icc:
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
        except Exception:  # noqa: BLE001 - no littlecms or a broken profile: plain formula
            logger.info("CMYK ICC conversion unavailable; using the plain formula")
    return im.convert("RGB")
