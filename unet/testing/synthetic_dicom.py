"""Synthetic ultrasound DICOM files (fake tags, phantom pixels) for examples, tests and benchmarks.

One builder for every place that needs a DICOM upload, so they all exercise the same tags the
reader looks at: the pixel data, Pixel Spacing and the Sequence of Ultrasound Regions.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

CM = 3  # PhysicalUnitsXDirection code for centimetres
SYNTHETIC_PATIENT = ("SYNTHETIC^PHANTOM", "SYNTHETIC")


def ultrasound_region(max_x: int, max_y: int, delta_x: float, delta_y: float, unit: int = CM):
    """One item of the Sequence of Ultrasound Regions: a 2-D tissue region from (0, 0) to
    (max_x, max_y) with ``delta_x`` / ``delta_y`` physical units per pixel (``unit`` 3 is cm)."""
    from pydicom.dataset import Dataset

    region = Dataset()
    region.RegionSpatialFormat = 1
    region.RegionDataType = 1
    region.RegionFlags = 0
    region.RegionLocationMinX0 = 0
    region.RegionLocationMinY0 = 0
    region.RegionLocationMaxX1 = int(max_x)
    region.RegionLocationMaxY1 = int(max_y)
    region.PhysicalUnitsXDirection = unit
    region.PhysicalUnitsYDirection = unit
    region.PhysicalDeltaX = delta_x
    region.PhysicalDeltaY = delta_y
    return region


def lut_item(first_mapped: int, values, bits: int = 16, *, as_ow: bool = False):
    """One item of a Modality or VOI LUT Sequence (PS3.3 C.11.1, C.11.2): ``values[i]`` is the
    output for the input ``first_mapped + i`` (inputs below map to the first entry, above to the
    last); ``bits`` per entry. ``as_ow`` stores LUT Data as OW bytes (little endian), the way
    implicit-VR files and many scanners store it, instead of a list of US values."""
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset

    values = [int(v) for v in values]
    item = Dataset()
    # US, or SS for a negative first input (signed stored values, PS3.3 C.11.1.1.1)
    vr = "SS" if first_mapped < 0 else "US"
    item.add(DataElement(0x00283002, vr, [len(values) % 65536, int(first_mapped), int(bits)]))
    if as_ow:
        item.add(DataElement(0x00283006, "OW", np.asarray(values, "<u2").tobytes()))
    else:
        item.add(DataElement(0x00283006, "US", values))
    return item


def synthetic_dicom(
    pixels: np.ndarray,
    photometric: str = "MONOCHROME2",
    *,
    bits_stored: int | None = None,
    multiframe: bool = False,
    pixel_spacing_mm: float | None = None,
    region_spacing_mm: float | None = None,
    patient: tuple[str, str] = SYNTHETIC_PATIENT,
    modality_lut=None,
    voi_lut=None,
):
    """An ultrasound DICOM data set (explicit VR little endian) holding ``pixels``.

    ``pixels``: (H, W), (H, W, 3) for RGB, or (frames, H, W) with ``multiframe``.
    ``pixel_spacing_mm`` sets Pixel Spacing; ``region_spacing_mm`` states the spacing the way
    scanners do, in a Sequence of Ultrasound Regions covering the whole image (in cm).
    ``patient`` is the (name, id) written into the tags; always fake.
    ``modality_lut`` / ``voi_lut``: a :func:`lut_item` to put in a Modality LUT Sequence /
    VOI LUT Sequence.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import (
        ExplicitVRLittleEndian,
        UltrasoundImageStorage,
        UltrasoundMultiFrameImageStorage,
        generate_uid,
    )

    pixels = np.ascontiguousarray(pixels)
    sop = UltrasoundMultiFrameImageStorage if multiframe else UltrasoundImageStorage
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.PatientName, ds.PatientID = patient
    ds.set_pixel_data(pixels, photometric, bits_stored or pixels.dtype.itemsize * 8)
    if pixel_spacing_mm is not None:
        ds.PixelSpacing = [pixel_spacing_mm, pixel_spacing_mm]
    if region_spacing_mm is not None:
        rows, cols = (pixels.shape[-3:-1] if photometric == "RGB" else pixels.shape[-2:])
        cm = region_spacing_mm / 10.0
        ds.SequenceOfUltrasoundRegions = Sequence([ultrasound_region(cols - 1, rows - 1, cm, cm)])
    if modality_lut is not None:
        ds.ModalityLUTSequence = Sequence([modality_lut])
    if voi_lut is not None:
        ds.VOILUTSequence = Sequence([voi_lut])
    return ds


def dicom_bytes(ds) -> bytes:
    """The data set as a DICOM Part 10 file in memory."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def write_dicom(path: Path, ds) -> Path:
    """Write the data set as a DICOM Part 10 file; returns the path."""
    path = Path(path)
    path.write_bytes(dicom_bytes(ds))
    return path
