"""DICOM input for :func:`unet.io.reader.read_image` (pydicom 3).

* Pixel data is decoded by pydicom's own decoders: native (uncompressed), RLE Lossless, and
  the JPEG / JPEG-LS / JPEG 2000 syntaxes that the installed plugins (pylibjpeg, openjpeg,
  libjpeg) support. pydicom already returns ``YBR_FULL`` / ``YBR_FULL_422`` data as RGB, and
  knows when a JPEG decoder did that conversion itself; anything still in YBR_FULL is
  converted with :func:`pydicom.pixels.convert_color_space`.
* Grayscale, by pydicom's own functions (``apply_modality_lut``, ``apply_voi_lut``): the
  Modality LUT Sequence, else Rescale Slope/Intercept; then the first VOI LUT of the VOI LUT
  Sequence, else the first window (Window Center/Width, with the VOI LUT Function), scaled to
  0..255; with neither, a linear min..max stretch to 0..255. Plain unsigned 8-bit data with no
  modality or VOI transform keeps its values, like an 8-bit PNG. A LUT that cannot be used
  (incomplete, unsupported depth) is ignored, as if absent. MONOCHROME1 is inverted so that
  higher values are darker, as intended.
* Colour (RGB, palette colour) becomes gray with the ITU-R BT.601 luma weights.
* Multi-frame data needs an explicit ``frame`` (counted from 0); only that frame is decoded.
* Pixel spacing, (row_mm, col_mm): first the Sequence of Ultrasound Regions (regions whose
  physical units are cm in both directions; the largest such region wins, the first on a tie),
  then Pixel Spacing (also inside the shared functional groups of enhanced multi-frame
  objects), then Imager Pixel Spacing; otherwise ``None``. Non-positive or non-finite values
  are ignored, never guessed.

No DICOM tag value is ever put into an error message or a log line.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from unet.errors import ImageInputError
from unet.io.image_basics import (
    MSG_DAMAGED,
    LoadedImage,
    check_frame,
    check_size,
    luminance,
    scale_to_uint8,
)

logger = logging.getLogger(__name__)

_UNIT_CM = 3  # Physical Units X/Y Direction code for centimetres (PS3.3 C.8.5.5.1.15)

MSG_NOT_DICOM = (
    "The file looks like DICOM but could not be read; it may be damaged or incomplete. "
    "Please export the image from the scanner or PACS again."
)
MSG_NO_IMAGE = (
    "The DICOM file contains no image (it may be a report or a structured document). "
    "Please upload a DICOM file that contains the ultrasound image."
)
MSG_COMPRESSED = (
    "The DICOM image is compressed in a way this demo cannot decode. "
    "Please export it uncompressed, or as PNG or JPEG, and upload it again."
)
MSG_COLOUR = (
    "The DICOM image uses a colour format this demo cannot read. "
    "Please export it as grayscale or RGB, or as PNG or JPEG."
)


MSG_FLOAT = (
    "The DICOM file stores its image as floating-point data, which this demo cannot read. "
    "Please export the image as PNG or JPEG."
)

# pydicom reports odd values through warnings and its loggers, quoting the values. While this
# module reads a file, those reports are dropped (in the reading thread only) so that no tag
# value reaches the application's logs.
_QUIET = threading.local()


class _DropWhileReading(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_QUIET, "active", False)


_DROP = _DropWhileReading()


@contextlib.contextmanager
def _quiet_pydicom() -> Iterator[None]:
    names = [n for n in list(logging.root.manager.loggerDict) if n.startswith("pydicom.")]
    for name in ("pydicom", *names):
        log = logging.getLogger(name)
        if _DROP not in log.filters:
            log.addFilter(_DROP)
    was_active = getattr(_QUIET, "active", False)
    _QUIET.active = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        _QUIET.active = was_active


def has_dicom_magic(data: bytes) -> bool:
    """True for a DICOM Part 10 file: 128-byte preamble followed by ``DICM``."""
    return len(data) >= 132 and data[128:132] == b"DICM"


def read_dicom(data: bytes, frame: int | None) -> LoadedImage:
    """Decode a file known to be DICOM (it has the ``DICM`` marker)."""
    with _quiet_pydicom():
        ds = _parse(data)
        if ds is None:
            raise ImageInputError(MSG_NOT_DICOM)
        return dataset_to_image(ds, frame)


def try_read_dicom(data: bytes, frame: int | None) -> LoadedImage | None:
    """Decode ``data`` as DICOM without a preamble, or return ``None`` if it is not DICOM.

    Used for ``.dcm`` files without the ``DICM`` marker and for files Pillow cannot
    identify. A parse is only trusted when it finds elements every DICOM image has.
    """
    with _quiet_pydicom():
        ds = _parse(data)
        if ds is None:
            return None
        if not any(k in ds for k in ("PixelData", "SOPClassUID", "Rows", "Modality")):
            return None
        return dataset_to_image(ds, frame)


def _parse(data: bytes) -> Any:
    import pydicom

    try:
        return pydicom.dcmread(io.BytesIO(data), force=True)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - pydicom raises many kinds of errors on bad input
        logger.info("DICOM parsing failed")
        return None


def dataset_to_image(ds: Any, frame: int | None) -> LoadedImage:
    """Turn a parsed pydicom dataset into a :class:`LoadedImage` (one frame)."""
    if "PixelData" not in ds:
        if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
            raise ImageInputError(MSG_FLOAT)
        raise ImageInputError(MSG_NO_IMAGE)
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        n_frames = int(ds.get("NumberOfFrames") or 1)
        bits_stored = int(ds.get("BitsStored") or ds.BitsAllocated)
    except Exception as exc:  # missing or malformed image description
        raise ImageInputError(MSG_NOT_DICOM) from exc
    check_size(cols, rows)  # before decoding anything
    n_frames = max(n_frames, 1)
    index = check_frame(frame, n_frames)

    arr, meta = _decode_frame(ds, index)
    if arr.ndim not in (2, 3) or arr.shape[:2] != (rows, cols):
        raise ImageInputError(MSG_DAMAGED)
    pi = str(meta.get("photometric_interpretation") or "").strip().upper()
    pixels = _to_gray(ds, arr, pi, bits_stored)
    return LoadedImage(
        pixels=pixels,
        spacing_mm=pixel_spacing_mm(ds),
        source_format="DICOM",
        bit_depth=bits_stored,
    )


def _transfer_syntax(ds: Any) -> Any:
    from pydicom.uid import (
        UID,
        ExplicitVRBigEndian,
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
    )

    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts:
        return UID(str(ts))
    implicit, little = ds.original_encoding  # how pydicom actually read the data set
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little is not False else ExplicitVRBigEndian


def _decode_frame(ds: Any, index: int) -> tuple[np.ndarray, dict]:
    from pydicom.pixels import get_decoder

    try:
        ts = _transfer_syntax(ds)
    except Exception as exc:
        raise ImageInputError(MSG_NOT_DICOM) from exc
    try:
        decoder = get_decoder(ts)
    except NotImplementedError as exc:  # unknown, private or unsupported transfer syntax
        raise ImageInputError(MSG_COMPRESSED) from exc
    if not decoder.is_available:
        raise ImageInputError(MSG_COMPRESSED)
    compressed = bool(getattr(ts, "is_compressed", False))
    try:
        arr, meta = decoder.as_array(ds, index=index)
    except MemoryError:
        raise
    except Exception as exc:
        logger.info("DICOM pixel decoding failed: %s", type(exc).__name__)
        raise ImageInputError(MSG_COMPRESSED if compressed else MSG_DAMAGED) from exc
    return np.asarray(arr), dict(meta)


def _to_gray(ds: Any, arr: np.ndarray, pi: str, bits_stored: int) -> np.ndarray:
    if pi in ("MONOCHROME1", "MONOCHROME2"):
        if arr.ndim != 2:
            raise ImageInputError(MSG_DAMAGED)
        gray = _grayscale_to_uint8(ds, arr, bits_stored)
        return (255 - gray) if pi == "MONOCHROME1" else gray
    if pi == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        if arr.ndim != 2:
            raise ImageInputError(MSG_DAMAGED)
        try:
            rgb = apply_color_lut(arr, ds)
        except Exception as exc:
            raise ImageInputError(MSG_COLOUR) from exc
        full = 255.0 if rgb.dtype.itemsize == 1 else 65535.0
        return _to_uint8(luminance(rgb) * (255.0 / full))
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ImageInputError(MSG_COLOUR)
    if pi in ("YBR_FULL", "YBR_FULL_422"):
        from pydicom.pixels import convert_color_space

        arr = convert_color_space(arr, "YBR_FULL", "RGB")
    elif pi not in ("RGB", "YBR_ICT", "YBR_RCT"):
        # YBR_ICT / YBR_RCT only occur with JPEG 2000, whose decoder returns RGB samples.
        raise ImageInputError(MSG_COLOUR)
    full = float(2 ** min(bits_stored, 16) - 1) if arr.dtype.itemsize > 1 else 255.0
    return _to_uint8(luminance(arr) * (255.0 / full))


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _number(value: Any) -> float | None:
    """First value of a (possibly multi-valued) numeric element as a finite float."""
    try:
        if value is None:
            return None
        if not isinstance(value, (str, bytes)) and hasattr(value, "__len__"):
            if len(value) == 0:
                return None
            value = value[0]
        out = float(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return out if math.isfinite(out) else None


def _grayscale_to_uint8(ds: Any, arr: np.ndarray, bits_stored: int) -> np.ndarray:
    """Stored values -> modality values (Modality LUT) -> shown values (VOI LUT) -> 0..255."""
    values, lut_bits, transformed = _modality(ds, arr)
    shown = _voi(ds, values)
    if shown is not None:
        return _to_uint8(shown)
    if not transformed and arr.dtype == np.uint8 and bits_stored <= 8:
        return np.ascontiguousarray(arr)  # plain 8-bit: keep values, as for an 8-bit PNG
    if lut_bits is None and not transformed:
        lut_bits = bits_stored
    return scale_to_uint8(values, bits=lut_bits)


def _view(ds: Any) -> Any:
    """A bare data set for pydicom's LUT functions, which read (and sometimes rewrite) elements
    of the data set they are given: only what they need, with values this module has checked.

    Bits Stored 8, unsigned, makes pydicom's windowing output range 0..255 (it takes the
    output range from these two elements); the transfer syntax tells it the byte order of
    LUT Data stored as OW."""
    from pydicom.dataset import Dataset, FileMetaDataset

    view = Dataset()
    view.file_meta = FileMetaDataset()
    view.file_meta.TransferSyntaxUID = _transfer_syntax(ds)
    view.PhotometricInterpretation = "MONOCHROME2"  # MONOCHROME1 is inverted afterwards
    view.BitsStored = 8
    view.PixelRepresentation = 0
    return view


def _lut(ds: Any, keyword: str, depths: tuple[int, ...]) -> tuple[Any, int, int, int] | None:
    """The first item of a Modality or VOI LUT Sequence as (element, entries, first stored
    value mapped, bits per entry) when it is complete and of a depth pydicom handles."""
    try:
        seq = ds.get(keyword)
        if not seq:
            return None
        item = seq[0]
        descriptor = item.get("LUTDescriptor")
        if descriptor is None or "LUTData" not in item or len(descriptor) != 3:
            return None
        entries, first, bits = (int(v) for v in descriptor)
    except Exception:  # noqa: BLE001 - a malformed optional element: no LUT
        logger.info("DICOM %s unusable; ignored", keyword)
        return None
    if bits not in depths:
        logger.info("DICOM %s unusable; ignored", keyword)
        return None
    return ds[keyword], entries or 2**16, first, bits


def _modality(ds: Any, arr: np.ndarray) -> tuple[np.ndarray, int | None, bool]:
    """PS3.3 C.11.1: the Modality LUT Sequence, else Rescale Slope/Intercept, applied by
    :func:`pydicom.pixels.apply_modality_lut`. Returns (values, bits of the LUT's output or
    None, whether the values were changed). An unusable LUT is ignored (logged, no values)."""
    from pydicom.pixels import apply_modality_lut

    lut = _lut(ds, "ModalityLUTSequence", (8, 16))
    if lut is not None:
        try:
            view = _view(ds)
            view["ModalityLUTSequence"] = lut[0]
            # int64: pydicom subtracts the first mapped value in the input's own type
            return apply_modality_lut(arr.astype(np.int64), view), lut[3], True
        except Exception:  # noqa: BLE001 - LUT Data shorter than stated, odd encoding ...
            logger.info("DICOM ModalityLUTSequence unusable; ignored")
    slope = _number(ds.get("RescaleSlope"))
    intercept = _number(ds.get("RescaleIntercept"))
    if slope is None or slope == 0:
        slope = 1.0
    if intercept is None:
        intercept = 0.0
    if slope == 1.0 and intercept == 0.0:
        return arr, None, False
    view = _view(ds)
    view.RescaleSlope = slope
    view.RescaleIntercept = intercept
    return apply_modality_lut(arr, view), None, True


_VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")


def _as_16_bit(item: Any) -> Any:
    """A LUT item with the same entries and input range, declared as 16 bits per entry."""
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset

    descriptor = item["LUTDescriptor"]
    out = Dataset()
    out.add(DataElement(descriptor.tag, descriptor.VR, [*list(descriptor.value)[:2], 16]))
    out.add(item["LUTData"])
    return out


def _voi(ds: Any, values: np.ndarray) -> np.ndarray | None:
    """PS3.3 C.11.2: the first VOI LUT of the VOI LUT Sequence, else the first window (Window
    Center/Width with the VOI LUT Function), applied by :func:`pydicom.pixels.apply_voi_lut`;
    as float 0..255, or ``None`` when the data set states neither (or only unusable ones)."""
    from pydicom.pixels import apply_voi_lut

    lut = _lut(ds, "VOILUTSequence", (8, *range(10, 17)))
    if lut is not None:
        element, entries, first, bits = lut
        # pydicom keeps each pixel's index into the LUT in the LUT's entry type, so an index
        # past 255 into an 8-bit LUT (of more than 256 entries) would wrap around: it is given
        # the same entries as 16-bit ones, and the inputs clamped to the LUT's input range
        # first, as the LUT itself does (PS3.3 C.11.2.1.1).
        index = np.floor(np.asarray(values, np.float64))
        index = np.clip(index, first, first + entries - 1).astype(np.int64)
        try:
            view = _view(ds)
            view.VOILUTSequence = [_as_16_bit(element.value[0])] if bits == 8 else element.value
            out = apply_voi_lut(index, view)
            return out.astype(np.float64) * (255.0 / (2.0**bits - 1.0))
        except Exception:  # noqa: BLE001 - LUT Data shorter than stated, odd encoding ...
            logger.info("DICOM VOILUTSequence unusable; window used instead")

    center = _number(ds.get("WindowCenter"))
    width = _number(ds.get("WindowWidth"))
    function = str(ds.get("VOILUTFunction") or "LINEAR").strip().upper()
    if function not in _VOI_FUNCTIONS:
        function = "LINEAR"  # unknown functions fall back to the default
    if center is None or width is None or width <= 0:
        return None
    if function == "LINEAR" and width < 1:
        return None  # PS3.3 C.11.2.1.2.1: width >= 1 for LINEAR
    view = _view(ds)
    view.WindowCenter = center
    view.WindowWidth = width
    view.VOILUTFunction = function
    return apply_voi_lut(values, view)


def _positive_pair(value: Any) -> tuple[float, float] | None:
    try:
        if value is None or len(value) < 2:
            return None
        row, col = float(value[0]), float(value[1])
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if all(math.isfinite(v) and v > 0 for v in (row, col)):
        return row, col
    return None


def pixel_spacing_mm(ds: Any) -> tuple[float, float] | None:
    """(row_mm, col_mm) per pixel as stated in the data set, or ``None``. Never guessed."""
    try:
        spacing = _ultrasound_region_spacing(ds)
    except Exception:  # noqa: BLE001 - a malformed optional element means "not stated"
        spacing = None
    if spacing is not None:
        return spacing
    for getter in (
        lambda: ds.get("PixelSpacing"),
        lambda: ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing,
        lambda: ds.get("ImagerPixelSpacing"),
    ):
        try:
            pair = _positive_pair(getter())
        except Exception:  # noqa: BLE001 - missing or malformed: try the next source
            pair = None
        if pair is not None:
            return pair
    return None


def _ultrasound_region_spacing(ds: Any) -> tuple[float, float] | None:
    regions = ds.get("SequenceOfUltrasoundRegions")
    if not regions:
        return None
    best: tuple[float, float] | None = None
    best_area = -1.0
    for region in regions:
        try:
            if int(region.get("PhysicalUnitsXDirection", -1)) != _UNIT_CM:
                continue
            if int(region.get("PhysicalUnitsYDirection", -1)) != _UNIT_CM:
                continue
            dx = _number(region.get("PhysicalDeltaX"))
            dy = _number(region.get("PhysicalDeltaY"))
        except (TypeError, ValueError, OverflowError):
            continue  # malformed unit codes: region not usable
        if dx is None or dy is None or dx <= 0 or dy <= 0:
            continue
        area = _region_area(region)
        if area > best_area:
            best, best_area = (dy * 10.0, dx * 10.0), area
    return best


def _region_area(region: Any) -> float:
    try:
        x0 = int(region.RegionLocationMinX0)
        y0 = int(region.RegionLocationMinY0)
        x1 = int(region.RegionLocationMaxX1)
        y1 = int(region.RegionLocationMaxY1)
    except (AttributeError, TypeError, ValueError, OverflowError):
        return 0.0
    return float(max(0, x1 - x0 + 1) * max(0, y1 - y0 + 1))
