import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from unet.inference.registry import get_organ
from unet.networks.unet import build_unet
from unet.predict import main
from unet.testing.phantom import make_phantom
from unet.testing.synthetic_dicom import synthetic_dicom, write_dicom


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A real (untrained) model file in place of the bundled weights (a small plain U-Net,
    whatever architecture the registry names: the CLI must run any Keras segmentation model)."""
    organ = get_organ("breast")
    path = tmp_path_factory.mktemp("w") / "m.keras"
    build_unet(organ.input_size, depth=3, base_filters=8).save(path)
    return path


def test_folder_of_png_and_dicom_with_one_bad_file(tmp_path, weights):
    data = tmp_path / "Dataset_BUSI_with_GT"
    (data / "benign").mkdir(parents=True)
    (data / "malignant").mkdir()
    g1, m1 = make_phantom(90, 120, seed=1)
    cv2.imwrite(str(data / "benign" / "benign (3).png"), g1)
    cv2.imwrite(str(data / "benign" / "benign (3)_mask.png"), m1.astype(np.uint8) * 255)
    g2, _ = make_phantom(100, 80, seed=2)
    write_dicom(data / "malignant" / "case.dcm", synthetic_dicom(g2, pixel_spacing_mm=0.1))
    (data / "malignant" / "broken.png").write_text("this is not an image")
    out = tmp_path / "out"

    rc = main(["--organ", "breast", str(data), "--out", str(out), "--overlay",
               "--weights", str(weights), "--no-progress"])

    assert rc == 1  # one file failed, the others ran
    mask = cv2.imread(str(out / "benign" / "benign (3)_mask.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == g1.shape and set(np.unique(mask)) <= {0, 255}
    assert not (out / "benign" / "benign (3)_mask_mask.png").exists()  # masks are not inputs
    overlay = cv2.imread(str(out / "benign" / "benign (3)_overlay.png"))
    # the image at its own size, and below it the legend band the app's download has too
    assert overlay.shape[1:] == (g1.shape[1], 3) and overlay.shape[0] > g1.shape[0]
    band = overlay[g1.shape[0]:]
    assert np.median(band) == 24 and band.max() > 200  # dark, with light text
    dmask = cv2.imread(str(out / "malignant" / "case_mask.png"), cv2.IMREAD_UNCHANGED)
    assert dmask.shape == g2.shape
    rows = list(csv.DictReader(open(out / "measurements.csv")))
    status = {r["file"].split("/")[-1]: r for r in rows}
    assert status["broken.png"]["status"] == "error" and status["broken.png"]["message"]
    assert status["case.dcm"]["status"] == "ok" and status["case.dcm"]["unit"] == "mm"
    assert status["benign (3).png"]["unit"] == "px"
    assert not list(out.rglob("*.tmp.png"))


def test_all_good_exit_zero_and_single_file(tmp_path, weights):
    g, _ = make_phantom(64, 64, seed=5)
    f = tmp_path / "one.png"
    cv2.imwrite(str(f), g)
    assert main(["--organ", "thyroid", str(f), "--out", str(tmp_path / "o"), "--weights",
                 str(weights), "--no-progress"]) == 0
    assert (tmp_path / "o" / "one_mask.png").is_file()


def test_bad_arguments(tmp_path, weights):
    assert main(["--organ", "liver", "x.png", "--out", str(tmp_path)]) == 2
    assert main(["--organ", "breast", str(tmp_path / "empty"), "--out", str(tmp_path)]) == 2


def _card_for(model_path, *, warn: bool):
    """A model card with a fitted-looking quality estimate and organ check (synthetic numbers):
    the estimate follows the TTA agreement; the organ check calls every image "other" when
    ``warn``, else the selected organ."""
    import keras

    from unet.trust.organ_check import IMAGE_STAT_NAMES, OrganCheck, encoder_layer_name
    from unet.trust.quality import FEATURES, QualityModel

    model = keras.saving.load_model(model_path, compile=False)
    layer = encoder_layer_name(model)
    n = 2 * int(model.get_layer(layer).output.shape[-1]) + len(IMAGE_STAT_NAMES)
    coef = np.zeros(len(FEATURES))
    coef[FEATURES.index("tta_dice_mean")] = 1.0
    quality = QualityModel(FEATURES, np.full(len(FEATURES), 0.5), np.ones(len(FEATURES)), coef,
                           0.0, 0.6)
    classes = ("breast", "thyroid", "other")
    bias = np.array([0.0, 0.0, 5.0]) if warn else np.array([5.0, 0.0, 0.0])
    check = OrganCheck("breast", classes, layer, np.zeros(n), np.ones(n),
                       np.zeros((n, 3)), bias, 0.5)
    return {"version": "test-card", "quality_estimate": quality.to_card(),
            "organ_check": check.to_card()}


@pytest.mark.parametrize("warn", [False, True])
def test_csv_carries_quality_low_confidence_and_organ_warning(tmp_path, weights, warn):
    import json
    import shutil

    model_path = tmp_path / "w" / "breast_test.keras"
    model_path.parent.mkdir()
    shutil.copy(weights, model_path)
    model_path.with_suffix(".json").write_text(json.dumps(_card_for(model_path, warn=warn)))
    for seed in (1, 2):
        g, _ = make_phantom(90, 120, seed=seed)
        cv2.imwrite(str(tmp_path / f"scan{seed}.png"), g)
    (tmp_path / "bad.png").write_text("not an image")
    out = tmp_path / "out"

    rc = main(["--organ", "breast", str(tmp_path / "scan1.png"), str(tmp_path / "scan2.png"),
               str(tmp_path / "bad.png"), "--out", str(out), "--weights", str(model_path),
               "--no-progress"])

    assert rc == 1
    with open(out / "measurements.csv", newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames
        rows = list(reader)
    for column in ("confidence", "low_confidence", "organ_warning"):
        assert column in header
    ok = [r for r in rows if r["status"] == "ok"]
    assert {r["file"].split("/")[-1] for r in ok} == {"scan1.png", "scan2.png"}
    for r in ok:
        q = float(r["confidence"])
        assert 0.0 <= q <= 1.0
        assert r["low_confidence"] == ("true" if q < 0.6 else "false")
        assert r["organ_warning"] == ("true" if warn else "false")
        assert ("ultrasound" in r["organ_warning_text"]) == warn
    bad = [r for r in rows if r["status"] == "error"]
    assert len(bad) == 1 and bad[0]["confidence"] == "" and bad[0]["organ_warning"] == ""


def test_the_cli_reads_every_file_type_the_app_accepts(tmp_path, weights):
    """One list of upload suffixes (unet.io.uploads): every type the app's upload accepts is
    found in a folder and segmented by the CLI; mask files beside them are not."""
    from PIL import Image

    from unet.io.uploads import UPLOAD_SUFFIXES
    from webapp.settings import UPLOAD_TYPES

    assert set(UPLOAD_TYPES) == set(UPLOAD_SUFFIXES)
    folder = tmp_path / "in"
    folder.mkdir()
    gray, mask = make_phantom(72, 88, seed=7)
    for suffix in UPLOAD_SUFFIXES:
        path = folder / f"scan{suffix.replace('.', '_')}{suffix}"
        if suffix in (".dcm", ".dicom", ".dic"):
            write_dicom(path, synthetic_dicom(gray))
        else:
            Image.fromarray(gray).save(path, format=Image.registered_extensions()[suffix])
    Image.fromarray(mask.astype(np.uint8) * 255).save(folder / "scan_png_mask.png")
    out = tmp_path / "out"
    assert main(["--organ", "breast", str(folder), "--out", str(out), "--weights",
                 str(weights), "--no-progress"]) == 0
    rows = list(csv.DictReader(open(out / "measurements.csv")))
    assert sorted({r["file"] for r in rows}) == sorted(
        str(folder / f"scan{s.replace('.', '_')}{s}") for s in UPLOAD_SUFFIXES)
    assert all(r["status"] == "ok" and r["organ"] == "breast" for r in rows)
    for suffix in UPLOAD_SUFFIXES:
        written = cv2.imread(str(out / f"scan{suffix.replace('.', '_')}_mask.png"),
                             cv2.IMREAD_UNCHANGED)
        assert written is not None and written.shape == gray.shape
    assert not list(out.glob("*mask_mask*"))


def test_zip_input_and_numbers_in_the_csv(tmp_path, weights):
    """A zip of scans is unpacked (masks inside skipped); the CSV holds numbers, not text."""
    import zipfile

    gray, mask = make_phantom(90, 110, seed=11)
    ok, png = cv2.imencode(".png", gray)
    ok2, mask_png = cv2.imencode(".png", mask.astype(np.uint8) * 255)
    archive = tmp_path / "scans.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("case1/a.png", png.tobytes())
        z.writestr("case1/a_mask.png", mask_png.tobytes())
        z.writestr("../../escape.png", png.tobytes())  # never written outside --out
    out = tmp_path / "out"
    assert main(["--organ", "breast", str(archive), "--out", str(out), "--weights",
                 str(weights), "--no-progress", "--threshold", "0.3"]) == 0
    rows = list(csv.DictReader(open(out / "measurements.csv")))
    assert {r["file"] for r in rows} == {"case1/a.png", "../../escape.png"}
    assert (out / "case1" / "a_mask.png").is_file() and (out / "escape_mask.png").is_file()
    assert not (tmp_path / "escape_mask.png").exists()
    for r in rows:
        assert float(r["threshold"]) == 0.3 and 0 <= float(r["confidence"]) <= 1
        assert r["confidence_source"].split(" (")[0] in {"quality estimate: expected overlap",
                                           "quality estimate: chance of no lesion",
                                           "mirror agreement"}
        if int(r["lesion"]) > 0:
            int(r["area_px"]), float(r["longest_diameter_px"])  # numbers, not "68 × 39 px"


def test_a_box_guides_the_mask_of_one_image(tmp_path, weights):
    """--box: the mask is the user-guided one (nothing outside the box is added), the CSV says
    so through the file's rows; a box off the image is a clear error for that image; prompts
    with several images are refused."""
    g, _ = make_phantom(96, 128, seed=6)
    f = tmp_path / "one.png"
    cv2.imwrite(str(f), g)
    auto_out, box_out = tmp_path / "auto", tmp_path / "box"
    base = ["--organ", "breast", str(f), "--weights", str(weights), "--no-progress"]
    assert main([*base, "--out", str(auto_out)]) == 0
    assert main([*base, "--out", str(box_out), "--box", "40,30,90,70"]) == 0
    auto = cv2.imread(str(auto_out / "one_mask.png"), cv2.IMREAD_UNCHANGED) > 0
    boxed = cv2.imread(str(box_out / "one_mask.png"), cv2.IMREAD_UNCHANGED) > 0
    outside = boxed.copy()
    outside[30:70, 40:90] = False
    assert not (outside & ~auto).any()
    assert main([*base, "--out", str(tmp_path / "bad"), "--box", "500,500,600,600"]) == 1
    rows = list(csv.DictReader(open(tmp_path / "bad" / "measurements.csv")))
    assert rows[0]["status"] == "error" and "2 pixels" in rows[0]["message"]
    assert main(["--organ", "breast", str(f), str(f), "--out", str(tmp_path / "two"),
                 "--weights", str(weights), "--box", "1,1,9,9"]) == 2
    assert main([*base, "--out", str(tmp_path / "x"), "--click", "oops"]) == 2


def test_a_prompts_file_guides_some_images_and_names_bad_rows(tmp_path, weights, capsys):
    """--prompts FILE.csv: rows per file (boxes and clicks), images without a row run
    automatically, measurements.csv says which were prompted; a prompt outside its image fails
    that image only, naming its row; a malformed row is a clear error naming it."""
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    for name, seed in (("a.png", 1), ("sub/b.png", 2), ("c.png", 3)):
        g, _ = make_phantom(96, 128, seed=seed)
        cv2.imwrite(str(folder / name), g)
    prompts = tmp_path / "prompts.csv"
    prompts.write_text("file,x_min,y_min,x_max,y_max,x,y,label\n"
                       "a.png,40,30,90,70,,,\n"
                       "sub/b.png,,,,,60,50,1\n"
                       "sub/b.png,,,,,5,5,0\n"
                       "c.png,500,500,600,600,,,\n")
    out = tmp_path / "out"
    rc = main(["--organ", "breast", str(folder), "--out", str(out), "--weights", str(weights),
               "--no-progress", "--prompts", str(prompts), "--overlay"])
    assert rc == 1  # c.png's box lies outside it; the others ran
    # the overlay shows the box that guided it, as the app's download does
    from unet.overlay_legend import PROMPT_COLORS

    shown = cv2.cvtColor(cv2.imread(str(out / "a_overlay.png")), cv2.COLOR_BGR2RGB)
    edge = shown[30, 45:85].astype(int)  # the box's top side, y 30, x 40-90
    assert (np.abs(edge - PROMPT_COLORS["box"]).sum(axis=1) < 60).mean() > 0.8
    rows = {Path(r["file"]).name: r for r in csv.DictReader(open(out / "measurements.csv"))}
    assert rows["a.png"]["prompted"] == "true" and rows["b.png"]["prompted"] == "true"
    # each lesion row says whose outline it is: a.png's box drew one
    every = list(csv.DictReader(open(out / "measurements.csv")))
    assert "prompt" in {r["outlined_by"] for r in every if r["file"].endswith("a.png")}
    assert rows["c.png"]["status"] == "error" and "prompts.csv row 5" in rows["c.png"]["message"]
    assert (out / "a_mask.png").is_file() and (out / "sub" / "b_mask.png").is_file()

    plain = tmp_path / "plain.csv"
    plain.write_text("file,x,y,label\nsomething_else.png,1,1,1\n")
    assert main(["--organ", "breast", str(folder), "--out", str(tmp_path / "o2"), "--weights",
                 str(weights), "--no-progress", "--prompts", str(plain)]) == 0
    rows = list(csv.DictReader(open(tmp_path / "o2" / "measurements.csv")))
    assert {r["prompted"] for r in rows} == {"false"}  # no row for them: automatic

    bad = tmp_path / "bad.csv"
    bad.write_text("file,x,y,label\na.png,10,oops,1\nc.png,5,5,1\n,1,1,1\nc.png,5,5,7\n")
    assert main(["--organ", "breast", str(folder), "--out", str(tmp_path / "o3"), "--weights",
                 str(weights), "--no-progress", "--prompts", str(bad)]) == 2
    assert not (tmp_path / "o3").exists()  # refused before anything was written
    # every malformed row named at once (row 3 is fine), to be mended in one go
    said = capsys.readouterr().err
    assert "bad.csv rows 2, 4, 5 are not understood" in said and "Nothing was segmented" in said

    # the files written have the permissions any file the user writes gets
    probe = out / "probe.txt"
    probe.write_text("x")
    assert (out / "a_mask.png").stat().st_mode & 0o777 == probe.stat().st_mode & 0o777
    assert (out / "measurements.csv").stat().st_mode & 0o777 == probe.stat().st_mode & 0o777
