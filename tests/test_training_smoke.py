import json

from tests.helpers import write_image_mask_pairs
from training.run import main
from unet.model import load_model


def test_two_epoch_smoke_run_writes_a_loadable_model_and_card(tmp_path):
    data = write_image_mask_pairs(tmp_path / "data", 16)
    out = tmp_path / "runs"
    export = tmp_path / "export"
    rc = main(["--organ", "thyroid", "--data-dir", str(data), "--smoke", "--output-dir", str(out),
               "--export-dir", str(export), "--seed", "3"])
    assert rc == 0
    run_dir = next(out.iterdir())
    for name in ("split_manifest.json", "history.csv", "training_curves.png", "model.keras",
                 "evaluation.json", "card.json", "best.keras"):
        assert (run_dir / name).is_file(), name
    model = load_model(export / "thyroid.keras")
    assert model.input_shape == (None, 64, 64, 1)
    card = json.loads((export / "thyroid.json").read_text())
    assert card["organ"] == "thyroid" and card["training"]["epochs_run"] == 2
    assert card["dataset"]["file_count"] == 32
    assert card["training"]["seed"] == 3
    assert "dice_mean" in card["test_metrics"]["test"]
    manifest = json.loads((export / "thyroid_split.json").read_text())
    keys = [i["key"] for s in manifest["splits"].values() for i in s]
    assert sorted(keys) == sorted(f"images/{i}.png" for i in range(16))


def test_wrong_data_dir_exits_with_a_clear_error(tmp_path, capsys):
    rc = main(["--organ", "breast", "--data-dir", str(tmp_path), "--smoke"])
    assert rc == 2
    assert "Expected one of" in capsys.readouterr().err


def test_evaluate_cli_reports_a_wrong_folder_or_a_missing_manifest(tmp_path, capsys):
    from training.evaluate import main as evaluate_main

    assert evaluate_main(["--organ", "thyroid", "--data-dir", str(tmp_path / "absent")]) == 2
    assert "does not exist" in capsys.readouterr().err
    data = write_image_mask_pairs(tmp_path / "data", 1)
    rc = evaluate_main(["--organ", "thyroid", "--data-dir", str(data),
                        "--manifest", str(tmp_path / "no_such_split.json")])
    assert rc == 2
    assert "split manifest" in capsys.readouterr().err


def test_smoke_run_trains_on_the_training_splits_uncropped_frames_only(tmp_path):
    """The recipe's raw frames: the same cases as uncropped frames (matched by file name), those
    of the training split only, so validation and test stay unseen."""
    import cv2
    import numpy as np

    data = write_image_mask_pairs(tmp_path / "data", 16)
    raw = tmp_path / "raw"
    (raw / "image").mkdir(parents=True)
    (raw / "mask").mkdir()
    for i in range(16):  # the same case in a wider frame: a dark margin around the crop
        gray = cv2.imread(str(data / "images" / f"{i}.png"), cv2.IMREAD_GRAYSCALE)
        mask = cv2.imread(str(data / "masks" / f"{i}.png"), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(raw / "image" / f"{i}.PNG"), np.pad(gray, 24))
        cv2.imwrite(str(raw / "mask" / f"{i}.PNG"), np.pad(mask, 24))
    out, export = tmp_path / "runs", tmp_path / "export"
    rc = main(["--organ", "thyroid", "--data-dir", str(data), "--raw-data-dir", str(raw),
               "--smoke", "--output-dir", str(out), "--export-dir", str(export)])
    assert rc == 0
    card = json.loads((export / "thyroid.json").read_text())
    manifest = json.loads((export / "thyroid_split.json").read_text())
    assert card["training"]["raw_frames_in_training"] == len(manifest["splits"]["train"]) > 0
    assert "test_raw_frames" in card["test_metrics"]


def test_training_seed_changes_the_weights_but_not_the_split(tmp_path):
    import numpy as np

    data = write_image_mask_pairs(tmp_path / "data", 16)
    weights, manifests = [], []
    for training_seed in (1, 2):
        export = tmp_path / f"export{training_seed}"
        rc = main(["--organ", "thyroid", "--data-dir", str(data), "--smoke", "--seed", "3",
                   "--training-seed", str(training_seed), "--output-dir", str(tmp_path / "runs"),
                   "--export-dir", str(export)])
        assert rc == 0
        card = json.loads((export / "thyroid.json").read_text())
        assert (card["training"]["seed"], card["training"]["training_seed"]) == (3, training_seed)
        manifests.append(json.loads((export / "thyroid_split.json").read_text())["splits"])
        weights.append(load_model(export / "thyroid.keras").get_weights())
    assert manifests[0] == manifests[1]
    assert any(not np.array_equal(a, b) for a, b in zip(*weights, strict=True))
