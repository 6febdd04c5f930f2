"""A recipe's stages and --resume: a two-stage smoke recipe (its U-Net has dropout) trained in
one go, and the same cut inside its first stage and again where that stage ends
(--stop-after-epochs) and continued with --resume each time, end with the same weights, bit for
bit; the card lists the stages and the one command."""

import json
import sys

import numpy as np

from tests.helpers import ROOT, BackgroundRun, write_image_mask_pairs
from training.stages import SCORE

# the smoke recipe in two stages; the second hands on the mean of its last epoch's weights
_TWO_STAGES = """
import dataclasses, sys
from training import recipes
recipes.SMOKE = dataclasses.replace(recipes.SMOKE, stages=(
    recipes.Stage("first", 2, 2e-3),
    recipes.Stage("second", 1, 1e-3, dice_per_image=True, average_last_epochs=1)))
from training.run import main
sys.exit(main(sys.argv[1:]))
"""
ARGS = ["--organ", "thyroid", "--smoke", "--architecture", "unet", "--seed", "3"]

# cut after one epoch (inside the first stage), resumed and cut again after one more epoch
# (where the first stage ends), then resumed to the end: three processes
_CUT_THEN_RESUME = """
import subprocess, sys
from pathlib import Path
script, out = sys.argv[1], Path(sys.argv[2])
rc = subprocess.call([sys.executable, "-c", script, *sys.argv[3:], "--stop-after-epochs", "1"])
if rc:
    sys.exit(rc)
(run,) = [p for p in (out / "runs").iterdir() if p.is_dir()]
backup = run / "stage1-first" / "backup"
print("resuming", run, "backup:", sorted(p.name for p in backup.iterdir()), flush=True)
rc = subprocess.call([sys.executable, "-c", script, "--resume", str(run),
                      "--stop-after-epochs", "1"])
if rc:
    sys.exit(rc)
print("at the stage boundary:", sorted(p.name for p in run.iterdir() if p.is_dir()),
      "stage 1 done:", (run / "stage1-first" / "stage.json").is_file(), flush=True)
sys.exit(subprocess.call([sys.executable, "-c", script, "--resume", str(run)]))
"""


def _inputs(folder, cut: bool):
    data = write_image_mask_pairs(folder / "data", 16)
    args = [*ARGS, "--data-dir", str(data), "--output-dir", str(folder / "runs"),
            "--export-dir", str(folder / "export")]
    if cut:
        return ([sys.executable, "-c", _CUT_THEN_RESUME, _TWO_STAGES, str(folder), *args],
                {"PYTHONPATH": str(ROOT)})
    return [sys.executable, "-c", _TWO_STAGES, *args], {"PYTHONPATH": str(ROOT)}


whole_run = BackgroundRun("whole_run", lambda f: _inputs(f, cut=False)).fixture()
cut_run = BackgroundRun("cut_run", lambda f: _inputs(f, cut=True)).fixture()


def _weights(folder):
    import keras

    model = keras.saving.load_model(folder / "export" / "thyroid.keras", compile=False)
    return model.get_weights()


def test_stages_run_in_order_and_the_card_lists_them(whole_run):
    assert whole_run.returncode == 0, whole_run.output[-4000:]
    out = whole_run.output
    assert out.index("stage 1/2 (first)") < out.index("stage 2/2 (second)")
    card = json.loads((whole_run.folder / "export" / "thyroid.json").read_text())
    stages = card["training"]["stages"]
    assert [(s["name"], s["epochs_run"], s["dice_loss"]) for s in stages] == [
        ("first", 2, "batch"), ("second", 1, "per lesion image")]
    assert stages[0]["handed_on"].startswith("best checkpoint")
    # the second stage hands on the mean of its epoch unless that scores below what it received
    second = stages[1]
    own = second.get("own_result", second)
    assert own["handed_on"] == "mean of epochs 1-1"
    assert second[SCORE] == max(own[SCORE], stages[0][SCORE])
    assert ("own_result" in second) == (own[SCORE] < stages[0][SCORE])
    assert card["training"][SCORE] == second[SCORE]
    assert card["training"]["epochs_run"] == 3
    assert "re_exported_with" not in card["training"]
    assert card["training"]["command"].startswith("python -m training --organ thyroid")
    (run,) = (whole_run.folder / "runs").iterdir()
    for stage in ("stage1-first", "stage2-second"):
        assert (run / stage / "stage.json").is_file()
        assert not (run / stage / "backup").exists()  # a finished stage keeps no backup


def test_a_cut_run_resumed_ends_with_the_weights_of_an_uninterrupted_one(whole_run, cut_run):
    assert cut_run.returncode == 0, cut_run.output[-4000:]
    assert "stopped as asked (--stop-after-epochs 1)" in cut_run.output
    assert "latest.weights.h5" in cut_run.output.split("resuming", 1)[1].splitlines()[0]
    # the second part stopped where the first stage ended, before the second began
    assert "at the stage boundary: ['stage1-first'] stage 1 done: True" in cut_run.output
    assert cut_run.output.count("stopped as asked") == 2
    whole, cut = _weights(whole_run.folder), _weights(cut_run.folder)
    assert len(whole) == len(cut)
    for a, b in zip(whole, cut, strict=True):
        np.testing.assert_array_equal(a, b)
    card = json.loads((cut_run.folder / "export" / "thyroid.json").read_text())
    assert "--stop-after-epochs" not in card["training"]["command"]
    assert "--resume" not in card["training"]["command"]
    assert [s["epochs_run"] for s in card["training"]["stages"]] == [2, 1]


def test_resume_needs_a_run_folder(tmp_path, capsys):
    import pytest

    from training.run import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--resume", str(tmp_path)])
    assert "not a run folder" in capsys.readouterr().err
