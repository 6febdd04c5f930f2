"""DICOM Modality LUT and VOI LUT Sequences (PS3.3 C.11.1, C.11.2), applied by pydicom's
``apply_modality_lut`` / ``apply_voi_lut`` in unet.io.dicom. Every file is built here.

The expected values are written out from the standard's definitions, not from pydicom: a LUT maps
the input ``first + i`` to entry ``i``, inputs below ``first`` to the first entry and inputs
past the last entry to the last; a VOI LUT's output spans 0..2**bits - 1 (here scaled to
0..255); the VOI LUT's input is the Modality LUT's (or the rescale's) output."""

import io

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset

from unet.io.dicom import read_dicom, try_read_dicom
from unet.testing.synthetic_dicom import dicom_bytes, lut_item, synthetic_dicom

ROWS = 16


def image(values, dtype=np.uint16) -> np.ndarray:
    """The values as one row, repeated ROWS times (one row per test value is enough)."""
    return np.tile(np.asarray(values, dtype), (ROWS, 1))


def first_row(ds) -> np.ndarray:
    out = read_dicom(dicom_bytes(ds), None)
    assert out.pixels.dtype == np.uint8 and out.pixels.shape == ds.pixel_array.shape
    assert np.all(out.pixels == out.pixels[0])
    return out.pixels[0].astype(int)


def lut_lookup(x, first: int, table) -> np.ndarray:
    table = np.asarray(table)
    return table[np.clip(np.asarray(x) - first, 0, len(table) - 1)]


def linear_window(x, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 (LINEAR), output range 0..255."""
    x = np.asarray(x, np.float64)
    y = ((x - (center - 0.5)) / (width - 1) + 0.5) * 255
    y = np.where(x <= center - 0.5 - (width - 1) / 2, 0, y)
    y = np.where(x > center - 0.5 + (width - 1) / 2, 255, y)
    return np.rint(np.clip(y, 0, 255)).astype(int)


def stretch(values) -> np.ndarray:
    v = np.asarray(values, np.float64)
    return np.rint((v - v.min()) * 255 / (v.max() - v.min())).astype(int)


STORED = np.arange(100)


def test_modality_lut_replaces_the_stored_values():
    table = STORED**2  # a non-linear modality LUT
    ds = synthetic_dicom(image(STORED), bits_stored=12, modality_lut=lut_item(0, table))
    row = first_row(ds)
    np.testing.assert_array_equal(row, stretch(table))  # no window: min..max of the LUT's output
    assert not np.array_equal(row, stretch(STORED))  # what the stored values alone would give


def test_modality_lut_first_mapped_value_clamps_and_feeds_the_window():
    table = 1000 + 10 * np.arange(50)  # inputs 20..69 -> 1000..1490
    ds = synthetic_dicom(image(STORED), bits_stored=12, modality_lut=lut_item(20, table))
    ds.WindowCenter, ds.WindowWidth = 1245, 301
    modality = lut_lookup(STORED, 20, table)
    assert modality[0] == 1000 and modality[-1] == 1490  # below and past the LUT
    np.testing.assert_array_equal(first_row(ds), linear_window(modality, 1245, 301))
    # the window on the stored values (0..99) would leave the image black
    assert linear_window(STORED, 1245, 301).max() == 0 < first_row(ds).max()


def test_modality_lut_is_preferred_to_rescale():
    table = 4000 - 40 * STORED  # decreasing: the LUT, not the rescale, decides the order
    ds = synthetic_dicom(image(STORED), bits_stored=12, modality_lut=lut_item(0, table))
    ds.RescaleSlope, ds.RescaleIntercept = 2, 5
    np.testing.assert_array_equal(first_row(ds), stretch(table))


def test_voi_lut_8bit_maps_12bit_values_including_those_past_its_end():
    stored = np.arange(0, 4096, 41)  # 12-bit values, far past the LUT's 1024 entries
    table = np.rint(255 * np.sqrt(np.arange(1024) / 1023)).astype(int)
    ds = synthetic_dicom(image(stored), bits_stored=12, voi_lut=lut_item(1000, table, bits=8))
    row = first_row(ds)
    np.testing.assert_array_equal(row, lut_lookup(stored, 1000, table))
    assert np.all(row[stored >= 1000 + 1023] == 255) and np.all(row[stored < 1000] == 0)


def test_voi_lut_on_8bit_data_with_inputs_outside_the_stored_range():
    stored = np.arange(0, 256, 5)
    above = lut_item(300, [40, 50, 60], bits=8)  # every 8-bit value is below its first input
    ds = synthetic_dicom(image(stored, np.uint8), voi_lut=above)
    np.testing.assert_array_equal(first_row(ds), np.full(stored.shape, 40))
    ds = synthetic_dicom(image(stored), bits_stored=16, voi_lut=lut_item(-5, [7, 8], bits=8))
    np.testing.assert_array_equal(first_row(ds), np.full(stored.shape, 8))


def test_voi_lut_16bit_output_range_is_scaled_to_8_bits():
    stored = np.arange(0, 4096, 41)
    table = 65535 - 64 * np.arange(1024)  # an inverting VOI LUT over 0..1023, 16-bit entries
    ds = synthetic_dicom(image(stored), bits_stored=12, voi_lut=lut_item(0, table, bits=16))
    expected = np.rint(lut_lookup(stored, 0, table) * 255 / 65535).astype(int)
    np.testing.assert_array_equal(first_row(ds), expected)


def test_voi_lut_takes_the_rescaled_values_and_is_preferred_to_the_window():
    table = 255 - 2 * np.arange(100)  # inputs 1000..1099
    ds = synthetic_dicom(image(STORED), bits_stored=12, voi_lut=lut_item(1000, table, bits=8))
    ds.RescaleSlope, ds.RescaleIntercept = 1, 1000
    ds.WindowCenter, ds.WindowWidth = 1050, 10  # present, but the VOI LUT is used
    np.testing.assert_array_equal(first_row(ds), table)


def test_modality_and_voi_lut_together_then_monochrome1_inverts():
    modality = 500 + 3 * STORED  # 500..797
    voi = np.rint(np.linspace(0, 255, 300)).astype(int)  # inputs 500..799
    ds = synthetic_dicom(image(STORED), "MONOCHROME1", bits_stored=12,
                         modality_lut=lut_item(0, modality), voi_lut=lut_item(500, voi, bits=8))
    expected = 255 - lut_lookup(lut_lookup(STORED, 0, modality), 500, voi)
    np.testing.assert_array_equal(first_row(ds), expected)


def test_lut_data_stored_as_ow_and_in_implicit_vr_files():
    table = STORED**2
    voi = np.arange(0, 256, 16)  # 16 entries over inputs 4000..4015, 8-bit

    def dataset(as_ow):
        return synthetic_dicom(image(STORED), bits_stored=12,
                               modality_lut=lut_item(0, table, as_ow=as_ow),
                               voi_lut=lut_item(4000, voi, bits=8, as_ow=as_ow))
    expected = lut_lookup(lut_lookup(STORED, 0, table), 4000, voi)
    np.testing.assert_array_equal(first_row(dataset(False)), expected)
    np.testing.assert_array_equal(first_row(dataset(True)), expected)
    ds = dataset(False)
    ds.file_meta = FileMetaDataset()
    buf = io.BytesIO()  # no preamble, no file meta: LUT Data comes back as OW bytes
    pydicom.dcmwrite(buf, ds, implicit_vr=True, little_endian=True)
    out = try_read_dicom(buf.getvalue(), None)
    assert out is not None
    np.testing.assert_array_equal(out.pixels[0], expected)


def test_a_modality_lut_of_an_unsupported_depth_is_ignored_as_before():
    # a Modality LUT has 8 or 16 bits per entry (PS3.3 C.11.1.1.1)
    item = lut_item(0, STORED**2, bits=12)
    ds = synthetic_dicom(image(STORED), bits_stored=12, modality_lut=item)
    np.testing.assert_array_equal(first_row(ds), stretch(STORED))


def test_lut_data_shorter_than_its_descriptor_is_ignored():
    item = lut_item(0, STORED**2)
    item.LUTData = item.LUTData[:10]  # the descriptor still says 100 entries
    ds = synthetic_dicom(image(STORED), bits_stored=12, modality_lut=item)
    np.testing.assert_array_equal(first_row(ds), stretch(STORED))
    voi = lut_item(0, np.arange(100), bits=8)
    voi.LUTData = voi.LUTData[:10]
    ds = synthetic_dicom(image(STORED), bits_stored=12, voi_lut=voi)
    ds.WindowCenter, ds.WindowWidth = 50, 41  # the window is used instead
    np.testing.assert_array_equal(first_row(ds), linear_window(STORED, 50, 41))


def test_plain_8bit_without_luts_keeps_its_values():
    arr = image(np.arange(20, 120), np.uint8)
    np.testing.assert_array_equal(first_row(synthetic_dicom(arr)), np.arange(20, 120))
