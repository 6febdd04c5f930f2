"""The Batch tab's work, without a browser: several files and a zip, one row per image, a bad
file as a row with its error, progress, and one zip of masks, overlays and a CSV."""

from __future__ import annotations

import csv
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

import app
from tests import bad_inputs
from tests.app_fixtures import test_models, write_phantom
from unet.inference.models import Segmenters

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:gradio.helpers")


@pytest.fixture(scope="module")
def segmenters():
    return Segmenters(test_models().segmenters)


def test_batch_of_files_and_a_zip(segmenters, tmp_path):
    first, image, _ = write_phantom(tmp_path, seed=1, name="first.png")
    second = write_phantom(tmp_path, seed=2, height=200, width=260, name="second.png")[0]
    bad = bad_inputs.text_as_png(tmp_path)
    bundle = tmp_path / "more.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.write(second, "scans/inside.png")
        archive.write(second, "scans/inside_mask.png")  # masks are skipped
        archive.writestr("notes.txt", "not an image")  # so are other files
    calls = []

    def progress(value, desc=""):
        calls.append(value)

    status, table, thumbnails, download = app.batch_for_ui(
        segmenters, [first, str(bad), str(bundle)], "breast", progress)
    assert list(table["Image"]) == ["first.png", bad.name, "scans/inside.png"]
    rows = table.set_index("Image")
    assert rows.loc[bad.name, "Result"] == "error"
    assert "not an image file we can read" in rows.loc[bad.name, "Warnings"]
    for name in ("first.png", "scans/inside.png"):
        assert rows.loc[name, "Result"] in {"lesion found", "no lesion found"}
        lesions = int(rows.loc[name, "Lesions"])
        assert (lesions > 0) == bool(rows.loc[name, "Largest (longest × perpendicular)"])
        if lesions:
            assert rows.loc[name, "Largest (longest × perpendicular)"].endswith(" px")
        assert rows.loc[name, "Quality"] != ""
    assert "2 of 3 images segmented" in status and "1 could not be used" in status
    assert len(thumbnails) == 2 and max(thumbnails[0][0].shape[:2]) <= 256
    assert calls[0] == (0, 3) and calls[-1] == (3, 3)  # progress from start to end

    with zipfile.ZipFile(download.value if isinstance(download.value, str)
                         else download.value["path"]) as archive:
        names = set(archive.namelist())
        assert {"measurements.csv", "masks/001_first_mask.png", "overlays/001_first_overlay.png",
                "masks/003_inside_mask.png", "overlays/003_inside_overlay.png"} == names
        with archive.open("masks/001_first_mask.png") as fh:
            mask = np.asarray(Image.open(fh))
        assert mask.shape == image.shape and set(np.unique(mask)) <= {0, 255}
        records = list(csv.DictReader(io.StringIO(archive.read("measurements.csv").decode())))
    assert [r["status"] for r in records] == ["ok", "error", "ok"]
    assert {"quality", "low_confidence", "organ_warning", "lesion_count", "unit"} <= set(
        records[0])
    assert records[0]["low_confidence"] in {"true", "false"} and records[0]["unit"] == "px"
    assert records[1]["error"] and not records[1]["lesion_count"]


def test_empty_batch_and_damaged_zip(segmenters, tmp_path):
    status, table, *_ = app.batch_for_ui(segmenters, [], "thyroid")
    assert "Add some images" in status and table is None
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    status, table, thumbnails, _ = app.batch_for_ui(segmenters, [str(broken)], "thyroid")
    assert list(table["Result"]) == ["error"] and "damaged" in table["Warnings"][0]
    assert "0 of 1 image segmented" in status and thumbnails == []
