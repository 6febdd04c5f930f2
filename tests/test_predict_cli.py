import csv

import cv2
import numpy as np
import pytest

from unet.model import build_unet
from unet.phantom import make_phantom
from unet.predict import main
from unet.registry import get_organ
from unet.synthetic_dicom import synthetic_dicom, write_dicom


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A real (untrained) model file in place of the bundled weights."""
    organ = get_organ("breast")
    path = tmp_path_factory.mktemp("w") / "m.keras"
    build_unet(organ.input_size, **organ.model_kwargs).save(path)
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
    assert overlay.shape == (*g1.shape, 3)
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
