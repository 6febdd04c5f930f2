"""The training command end to end on a small synthetic data set (``--smoke``: 2 epochs, 64 px,
the small U-Net: the pipeline under test is the same for every architecture, and tracing the
EfficientNet encoder's training step alone takes TensorFlow over a minute on a 2-core CPU; the
encoder's port, its ImageNet weights and its conversion for the engine have their own tests).

Two runs serve the tests, each trained once per session as ``python -m training`` in a child
process that starts when collection ends, beside the other tests (``tests.helpers.BackgroundRun``):

* ``smoke_run``: the plain run (split seed 3), its epochs' weights kept; read by the tests of
  its files, of averaging its epochs, and as the other training seed's reference.
* ``second_run``: the same data and split seed with training seed 1, the per-image Dice and the
  Lovász losses, a recipe that averages its last epochs, uncropped frames and extra training
  data.
"""

import json
import sys

import pytest

from tests.helpers import ROOT, BackgroundRun, write_image_mask_pairs
from training.recipes import SMOKE
from training.run import main
from unet.networks.unet import load_model

SMOKE_ARGS = ["--organ", "thyroid", "--smoke", "--architecture", "unet", "--seed", "3"]


def _smoke_inputs(folder):
    data = write_image_mask_pairs(folder / "data", 16)
    argv = [sys.executable, "-m", "training", *SMOKE_ARGS, "--data-dir", str(data),
            "--output-dir", str(folder / "runs"), "--export-dir", str(folder / "export"),
            "--keep-epoch-weights"]
    return argv, {"PYTHONPATH": str(ROOT)}


# the recipe of the second run: SMOKE averaging its last 2 epochs (Recipe.average_last_epochs)
_SECOND_RUN = """
import dataclasses, sys
from training import recipes
recipes.SMOKE = dataclasses.replace(recipes.SMOKE, average_last_epochs=2)
from training.run import main
sys.exit(main(sys.argv[1:]))
"""


def _second_inputs(folder):
    """The same 16 cases (so the same split), their uncropped frames (the same cases in a wider
    frame: a dark margin around the crop, matched by file name) and another data set's lesion
    images."""
    import cv2
    import numpy as np

    data = write_image_mask_pairs(folder / "data", 16)
    raw = folder / "raw"
    (raw / "image").mkdir(parents=True)
    (raw / "mask").mkdir()
    for i in range(16):
        gray = cv2.imread(str(data / "images" / f"{i}.png"), cv2.IMREAD_GRAYSCALE)
        mask = cv2.imread(str(data / "masks" / f"{i}.png"), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(raw / "image" / f"{i}.PNG"), np.pad(gray, 24))
        cv2.imwrite(str(raw / "mask" / f"{i}.PNG"), np.pad(mask, 24))
    extra = write_image_mask_pairs(folder / "breast", 6)
    argv = [sys.executable, "-c", _SECOND_RUN, *SMOKE_ARGS, "--data-dir", str(data),
            "--output-dir", str(folder / "runs"), "--export-dir", str(folder / "export"),
            "--training-seed", "1", "--dice-per-image", "--lovasz-weight", "0.5",
            "--presence-weight", "0.25", "--raw-data-dir", str(raw),
            "--extra-training-data", str(extra), "--extra-training-images", "4"]
    return argv, {"PYTHONPATH": str(ROOT)}


smoke_training = BackgroundRun("smoke_training", _smoke_inputs).fixture()
second_training = BackgroundRun("second_training", _second_inputs).fixture()


def _run_folders(run):
    """(run folder, export folder) of a finished background run; fails with its output."""
    assert run.returncode == 0, run.output[-4000:]
    return next((run.folder / "runs").iterdir()), run.folder / "export"


@pytest.fixture
def smoke_run(smoke_training):
    return _run_folders(smoke_training)


@pytest.fixture
def second_run(second_training):
    return _run_folders(second_training)


def test_two_epoch_smoke_run_writes_a_loadable_model_and_card(smoke_run):
    run_dir, export = smoke_run
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
    assert card["architecture"] == "unet"  # --architecture over the organ's own
    assert "dice_mean" in card["test_metrics"]["test"]
    assert "weight_average" not in card["training"]
    manifest = json.loads((export / "thyroid_split.json").read_text())
    keys = [i["key"] for s in manifest["splits"].values() for i in s]
    assert sorted(keys) == sorted(f"images/{i}.png" for i in range(16))


def test_export_of_the_mean_of_two_epochs(smoke_run, tmp_path):
    """--average-epochs exports the element-wise mean of the saved epochs, says so in the card,
    and scores it as any export (operating point on validation, test metrics)."""
    from training.export import main as export_main

    run_dir, _ = smoke_run
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


def test_a_recipe_that_averages_its_last_epochs_exports_their_mean(second_run, tmp_path):
    """Recipe.average_last_epochs: the default command itself exports the mean of the last N
    epochs (their weights kept without --keep-epoch-weights), and the card says which."""
    from training.export import main as export_main

    run_dir, export = second_run
    card = json.loads((export / "thyroid.json").read_text())
    assert card["training"]["weight_average"]["epochs"] == [1, 2]
    assert_mean_of_epochs(load_model(export / "thyroid.keras"), run_dir, (1, 2))
    # re-exporting the run exports the same mean, not its best checkpoint
    assert export_main(["--run-dir", str(run_dir), "--export-dir", str(tmp_path / "again")]) == 0
    assert_mean_of_epochs(load_model(tmp_path / "again" / "thyroid.keras"), run_dir, (1, 2))


def test_average_of_epochs_the_run_did_not_save_is_a_clear_error(smoke_run, tmp_path, capsys):
    from training.export import main as export_main

    run_dir, _ = smoke_run
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


def test_smoke_run_trains_on_the_training_splits_uncropped_frames_only(second_run):
    """The recipe's raw frames: the same cases as uncropped frames (matched by file name), those
    of the training split only, so validation and test stay unseen. The run also takes a fixed
    subset of another data set's lesion images as extra training data: the card counts them,
    and they enter no split."""
    _, export = second_run
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


def test_training_seed_changes_the_weights_but_not_the_split(smoke_run, second_run):
    """Against the shared run (split seed 3, so training seed 3): training seed 1 on the same
    split seed draws the same split and trains different weights. That run also takes the
    per-image Dice and the Lovász losses from the command line, and the card says which losses
    each used."""
    import keras
    import numpy as np

    first_run, first = smoke_run
    second_run_dir, export = second_run
    cards = [json.loads((d / "thyroid.json").read_text()) for d in (first, export)]
    assert [(c["training"]["seed"], c["training"]["training_seed"]) for c in cards] == [(3, 3),
                                                                                          (3, 1)]
    assert [c["training"]["dice_loss"] for c in cards] == ["batch", "per lesion image"]
    assert [c["training"].get("lovasz_weight") for c in cards] == [None, 0.5]
    assert [c["training"]["presence_weight"] for c in cards] == [SMOKE.presence_weight, 0.25]
    manifests = [json.loads((d / "thyroid_split.json").read_text())["splits"]
                 for d in (first, export)]
    assert manifests[0] == manifests[1]
    # the first epoch's weights (the second run exports a mean of epochs, the first its best)
    weights = []
    for run_dir in (first_run, second_run_dir):
        model = keras.saving.load_model(run_dir / "best.keras", compile=False)
        model.load_weights(str(run_dir / "epochs" / "epoch_01.weights.h5"))
        weights.append(model.get_weights())
    assert any(not np.array_equal(a, b) for a, b in zip(*weights, strict=True))
