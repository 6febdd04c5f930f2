import json

import pytest

from tests.helpers import write_image_mask_pairs
from training.recipes import SMOKE
from training.run import main
from unet.networks.unet import load_model


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One two-epoch thyroid smoke run (split seed 3), its epochs' weights kept; shared by the
    tests below so CI trains it once. Returns (data, run folder, export folder)."""
    tmp = tmp_path_factory.mktemp("smoke")
    data = write_image_mask_pairs(tmp / "data", 16)
    out, export = tmp / "runs", tmp / "export"
    rc = main(["--organ", "thyroid", "--data-dir", str(data), "--smoke", "--output-dir", str(out),
               "--export-dir", str(export), "--seed", "3", "--keep-epoch-weights"])
    assert rc == 0
    return data, next(out.iterdir()), export


def test_two_epoch_smoke_run_writes_a_loadable_model_and_card(smoke_run):
    _, run_dir, export = smoke_run
    for name in ("split_manifest.json", "history.csv", "training_curves.png", "model.keras",
                 "evaluation.json", "card.json", "best.keras", "epochs/epoch_01.weights.h5",
                 "epochs/epoch_02.weights.h5"):
        assert (run_dir / name).is_file(), name
    model = load_model(export / "thyroid.keras")
    assert model.input_shape == (None, 64, 64, 1)
    card = json.loads((export / "thyroid.json").read_text())
    assert card["organ"] == "thyroid" and card["training"]["epochs_run"] == 2
    assert card["dataset"]["file_count"] == 32
    assert card["training"]["seed"] == 3
    assert "dice_mean" in card["test_metrics"]["test"]
    assert "weight_average" not in card["training"]
    manifest = json.loads((export / "thyroid_split.json").read_text())
    keys = [i["key"] for s in manifest["splits"].values() for i in s]
    assert sorted(keys) == sorted(f"images/{i}.png" for i in range(16))


def test_export_of_the_mean_of_two_epochs(smoke_run, tmp_path):
    """--average-epochs exports the element-wise mean of the saved epochs, says so in the card,
    and scores it as any export (operating point on validation, test metrics)."""
    from training.export import main as export_main

    _, run_dir, _ = smoke_run
    rc = export_main(["--run-dir", str(run_dir), "--average-epochs", "1-2",
                      "--export-dir", str(tmp_path)])
    assert rc == 0
    card = json.loads((tmp_path / "thyroid.json").read_text())
    assert card["training"]["weight_average"]["epochs"] == [1, 2]
    assert "dice_mean" in card["test_metrics"]["test"]
    assert_mean_of_epochs(load_model(tmp_path / "thyroid.keras"), run_dir, (1, 2))


def assert_mean_of_epochs(model, run_dir, epochs):
    import keras
    import numpy as np

    reference = keras.saving.load_model(run_dir / "best.keras", compile=False)
    saved = []
    for e in epochs:
        reference.load_weights(str(run_dir / "epochs" / f"epoch_{e:02d}.weights.h5"))
        saved.append([w.astype(np.float64) for w in reference.get_weights()])
    exported = model.get_weights()
    assert len(exported) == len(saved[0])
    assert any(not np.allclose(a, b) for a, b in zip(*saved, strict=True))
    for got, *each in zip(exported, *saved, strict=True):
        np.testing.assert_allclose(got, np.mean(each, axis=0), rtol=1e-6, atol=1e-7)


def test_a_recipe_that_averages_its_last_epochs_exports_their_mean(tmp_path, monkeypatch):
    """Recipe.average_last_epochs: the default command itself exports the mean of the last N
    epochs (their weights kept without --keep-epoch-weights), and the card says which."""
    import dataclasses

    from training import recipes

    monkeypatch.setattr(recipes, "SMOKE", dataclasses.replace(recipes.SMOKE,
                                                              average_last_epochs=2))
    data = write_image_mask_pairs(tmp_path / "data", 16)
    out, export = tmp_path / "runs", tmp_path / "export"
    rc = main(["--organ", "thyroid", "--data-dir", str(data), "--smoke", "--output-dir", str(out),
               "--export-dir", str(export)])
    assert rc == 0
    card = json.loads((export / "thyroid.json").read_text())
    assert card["training"]["weight_average"]["epochs"] == [1, 2]
    run_dir = next(out.iterdir())
    assert_mean_of_epochs(load_model(export / "thyroid.keras"), run_dir, (1, 2))
    # re-exporting the run exports the same mean, not its best checkpoint
    from training.export import main as export_main

    assert export_main(["--run-dir", str(run_dir), "--export-dir", str(tmp_path / "again")]) == 0
    assert_mean_of_epochs(load_model(tmp_path / "again" / "thyroid.keras"), run_dir, (1, 2))


def test_average_of_epochs_the_run_did_not_save_is_a_clear_error(smoke_run, tmp_path, capsys):
    from training.export import main as export_main

    _, run_dir, _ = smoke_run
    for epochs, message in (("2-3", "epoch_03.weights.h5"), ("3-2", "1 <= FIRST <= LAST")):
        rc = export_main(["--run-dir", str(run_dir), "--average-epochs", epochs,
                          "--export-dir", str(tmp_path)])
        assert rc == 2
        assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing exported


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
    of the training split only, so validation and test stay unseen. The run also takes a fixed
    subset of another data set's lesion images as extra training data: the card counts them,
    and they enter no split."""
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
    extra = write_image_mask_pairs(tmp_path / "breast", 6)
    rc = main(["--organ", "thyroid", "--data-dir", str(data), "--raw-data-dir", str(raw),
               "--smoke", "--output-dir", str(out), "--export-dir", str(export),
               "--extra-training-data", str(extra), "--extra-training-images", "4"])
    assert rc == 0
    card = json.loads((export / "thyroid.json").read_text())
    manifest = json.loads((export / "thyroid_split.json").read_text())
    assert card["training"]["raw_frames_in_training"] == len(manifest["splits"]["train"]) > 0
    assert "test_raw_frames" in card["test_metrics"]
    assert card["training"]["extra_training_data"] == {"breast": 4}
    assert {i["dataset"] for split in manifest["splits"].values() for i in split} == {"data"}


def test_extra_training_data_that_is_also_a_data_dir_is_a_clear_error(tmp_path, capsys):
    data = write_image_mask_pairs(tmp_path / "data", 4)
    rc = main(["--organ", "thyroid", "--data-dir", str(data), "--smoke",
               "--output-dir", str(tmp_path / "runs"), "--extra-training-data", str(data)])
    assert rc == 2
    assert "give it once" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # refused before a run folder was written


def test_training_seed_changes_the_weights_but_not_the_split(smoke_run, tmp_path):
    """Against the shared run (split seed 3, so training seed 3): training seed 1 on the same
    split seed draws the same split and trains different weights. That run also takes the
    per-image Dice and the Lovász losses from the command line, and the card says which losses
    each used."""
    import numpy as np

    data, _, first = smoke_run
    export = tmp_path / "export"
    rc = main(["--organ", "thyroid", "--data-dir", str(data), "--smoke", "--seed", "3",
               "--training-seed", "1", "--output-dir", str(tmp_path / "runs"),
               "--export-dir", str(export), "--dice-per-image", "--lovasz-weight", "0.5",
               "--presence-weight", "0.25"])
    assert rc == 0
    cards = [json.loads((d / "thyroid.json").read_text()) for d in (first, export)]
    assert [(c["training"]["seed"], c["training"]["training_seed"]) for c in cards] == [(3, 3),
                                                                                          (3, 1)]
    assert [c["training"]["dice_loss"] for c in cards] == ["batch", "per lesion image"]
    assert [c["training"].get("lovasz_weight") for c in cards] == [None, 0.5]
    assert [c["training"]["presence_weight"] for c in cards] == [SMOKE.presence_weight, 0.25]
    manifests = [json.loads((d / "thyroid_split.json").read_text())["splits"]
                 for d in (first, export)]
    assert manifests[0] == manifests[1]
    weights = [load_model(d / "thyroid.keras").get_weights() for d in (first, export)]
    assert any(not np.array_equal(a, b) for a, b in zip(*weights, strict=True))
