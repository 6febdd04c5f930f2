"""The Batch tab's work, without a browser: several files and a zip, one row per image, a bad
file as a row with its error, progress, and one zip of masks, overlays and a CSV."""

from __future__ import annotations

import csv
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from tests import bad_inputs
from tests.app_fixtures import test_models, write_phantom
from unet.batch import CSV_FIELDS
from unet.inference.models import Segmenters
from webapp.batch_tab import batch_for_ui

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
    # two phantoms side by side: more than one lesion (for the trained breast model)
    pair = tmp_path / "pair.png"
    right = write_phantom(tmp_path, seed=2, name="right.png")[1]
    Image.fromarray(np.hstack([image, right])).save(pair)
    calls = []

    def progress(value, desc=""):
        calls.append(value)

    out = batch_for_ui(segmenters, [first, str(bad), str(bundle), str(pair)], "breast",
                       progress)
    assert set(out) == {"batch_status", "batch_table", "batch_gallery", "batch_download"}
    status, table = out["batch_status"], out["batch_table"]
    thumbnails, download = out["batch_gallery"], out["batch_download"]
    assert list(table["Image"]) == ["first.png", bad.name, "scans/inside.png", "pair.png"]
    rows = table.set_index("Image")
    assert rows.loc[bad.name, "Result"] == "error"
    assert "not an image file we can read" in rows.loc[bad.name, "Warnings"]
    for name in ("first.png", "scans/inside.png", "pair.png"):
        result = rows.loc[name, "Result"]
        if result.startswith("check the image first: "):  # beside a wrong-organ warning
            assert "look" in rows.loc[name, "Warnings"], rows.loc[name, "Warnings"]
        else:
            assert result in {"lesion found", "no lesion found"}
        lesions = int(rows.loc[name, "Lesions"])
        assert (lesions > 0) == bool(rows.loc[name, "Largest (long × short axis)"])
        if lesions:
            assert rows.loc[name, "Largest (long × short axis)"].endswith(" px")
        assert rows.loc[name, "Quality"] != ""
    assert "3 of 4 images segmented" in status and "1 could not be used" in status
    assert len(thumbnails) == 3 and max(thumbnails[0][0].shape[:2]) <= 256
    assert calls[0] == (0, 4) and calls[-1] == (4, 4)  # progress from start to end

    with zipfile.ZipFile(download.value if isinstance(download.value, str)
                         else download.value["path"]) as archive:
        names = set(archive.namelist())
        assert {"measurements.csv", "masks/001_first_mask.png", "overlays/001_first_overlay.png",
                "masks/003_inside_mask.png", "overlays/003_inside_overlay.png",
                "masks/004_pair_mask.png", "overlays/004_pair_overlay.png"} == names
        masks = {}
        for number, name in (("001", "first"), ("003", "inside"), ("004", "pair")):
            with archive.open(f"masks/{number}_{name}_mask.png") as fh:
                masks[name] = np.asarray(Image.open(fh))
        text = archive.read("measurements.csv").decode()
    mask = masks["first"]
    assert mask.shape == image.shape and set(np.unique(mask)) <= {0, 255}

    # The command line's CSV (unet.batch): numbers, one row per lesion (lesion 0: none found),
    # one row with the message for a file that could not be used.
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == CSV_FIELDS
    records = list(reader)
    assert list(dict.fromkeys(r["file"] for r in records)) == [
        "first.png", bad.name, "scans/inside.png", "pair.png"]
    error = [r for r in records if r["file"] == bad.name]
    assert len(error) == 1 and error[0]["status"] == "error"
    assert "not an image file we can read" in error[0]["message"]
    assert not error[0]["area_px"] and not error[0]["lesion"]  # no numbers for it
    for name, stem in (("first.png", "first"), ("scans/inside.png", "inside"),
                       ("pair.png", "pair")):
        rows = [r for r in records if r["file"] == name]
        assert {r["status"] for r in rows} == {"ok"} and {r["organ"] for r in rows} == {"breast"}
        lesions = int(table.set_index("Image").loc[name, "Lesions"])
        for r in rows:
            assert r["unit"] == "px" and not r["area_mm2"]  # no spacing: pixels only
            assert r["low_confidence"] in {"true", "false"}
            assert r["organ_warning"] in {"true", "false"}
            assert 0.0 <= float(r["confidence"]) <= 1.0 and 0.0 < float(r["threshold"]) < 1.0
            assert r["confidence_source"].split(" (")[0] in {"quality estimate: expected overlap",
                                               "quality estimate: chance of no lesion",
                                               "mirror agreement"}
        if lesions:
            assert [int(r["lesion"]) for r in rows] == list(range(1, lesions + 1))
            areas = [int(r["area_px"]) for r in rows]  # whole numbers of pixels
            assert areas == sorted(areas, reverse=True) and min(areas) > 0  # largest first
            for r in rows:
                assert float(r["longest_diameter_px"]) >= float(r["perpendicular_diameter_px"])
                assert 0.0 < float(r["image_fraction"]) <= 1.0
        else:
            assert len(rows) == 1 and rows[0]["lesion"] == "0" and not rows[0]["area_px"]
            assert rows[0]["message"] == "no lesion found"
            areas = []
        # the CSV's lesions are the zip's mask
        assert sum(areas) == int((masks[stem] == 255).sum())


def test_empty_batch_and_damaged_zip(segmenters, tmp_path):
    out = batch_for_ui(segmenters, [], "thyroid")
    assert "Add some images" in out["batch_status"] and out["batch_table"] is None
    assert out["batch_download"].interactive is False  # nothing to download
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    out = batch_for_ui(segmenters, [str(broken)], "thyroid")
    table = out["batch_table"]
    assert list(table["Result"]) == ["error"] and "damaged" in table["Warnings"][0]
    assert "0 of 1 image segmented" in out["batch_status"] and out["batch_gallery"] == []


def test_the_csv_says_what_its_confidence_is():
    """The CSV's confidence is an expected overlap, or for an empty answer the chance of no
    lesion, and beside an organ warning it is marked as not meaningful."""
    from unet.batch import confidence_source

    found = {"quality": 0.8, "confidence_meaning": "expected Dice overlap of the mask ...",
             "organ_warning": None}
    empty = {**found, "confidence_meaning": "quality estimate for an empty mask: ..."}
    assert confidence_source(found) == "quality estimate: expected overlap"
    assert confidence_source(empty) == "quality estimate: chance of no lesion"
    assert confidence_source({**found, "organ_warning": "This looks like a thyroid scan"}) == (
        "quality estimate: expected overlap (not meaningful: organ warning)")
    assert confidence_source({**found, "quality": None}) == "mirror agreement"
