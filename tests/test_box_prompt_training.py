"""The prompted networks' training command end to end on a small synthetic data set (--smoke:
one epoch at 64 px), for a box and for a click: it exports a loadable network with its
flatbuffer and a card whose test figures come from the app's own path, and `training.evaluate
--prompts` scores boxes and clicks through them."""

import hashlib
import json
import re
import sys

import numpy as np

from tests.helpers import ROOT, BackgroundRun, write_image_mask_pairs


def _inputs(folder, prompt="box"):
    data = write_image_mask_pairs(folder / "data", 12, 120, 140)
    keys = [f"images/{i}.png" for i in range(12)]
    parts = {"train": keys[:6], "val": keys[6:9], "test": keys[9:]}
    manifest = {"organ": "breast", "seed": 0, "grouping": "data: perceptual hash",
                "splits": {name: [{"key": k, "dataset": "data"} for k in part]
                           for name, part in parts.items()}}
    (folder / "split.json").write_text(json.dumps(manifest))
    module = "training.box_prompt_run" if prompt == "box" else "training.prompt_run"
    argv = [sys.executable, "-m", module, "--organ", "breast",
            "--data-dir", str(data), "--split", str(folder / "split.json"), "--smoke",
            "--output-dir", str(folder / "runs")]
    if prompt != "box":
        argv += ["--prompt", prompt]
    else:  # each training image drawn twice per epoch
        argv += ["--dataset-repeat", "data=2"]
    return argv, {"PYTHONPATH": str(ROOT)}


box_smoke = BackgroundRun("box_smoke", _inputs).fixture()
click_smoke = BackgroundRun("click_smoke", lambda folder: _inputs(folder, "click")).fixture()


def _exported(run):
    assert run.returncode == 0, run.output[-4000:]
    (run_dir,) = (run.folder / "runs").iterdir()
    return run_dir


def test_the_box_network_is_exported_with_its_card(box_smoke):
    import keras

    run_dir = _exported(box_smoke)
    model = keras.saving.load_model(run_dir / "breast_box.keras", compile=False)
    assert model.input_shape == (None, 64, 64, 2)
    assert (run_dir / "breast_box.tflite").is_file()
    card = json.loads((run_dir / "breast_box.json").read_text())
    assert card["architecture"] == "box_prompt_unet" and card["test"]["images"] == 3
    # the version names the organ, the prompt, the day and the file it was made as
    digest = hashlib.sha256((run_dir / "breast_box.keras").read_bytes()).hexdigest()[:8]
    assert re.fullmatch(rf"breast-box-\d{{8}}-{digest}", card["version"])
    figures = card["test"]["all"]
    assert set(figures) >= {"images", "automatic", "box", "box_cleared", "box_training_free",
                            "click", "click_cleared"}
    assert "box_removal_clicks_mean" in figures
    rows = json.loads((run_dir / "prompt_test.json").read_text())["rows"]
    assert len(rows) == 3
    assert abs(figures["box"]["dice_mean"] - np.mean([r["box"] for r in rows])) < 1e-3
    assert card["training"]["command"].startswith("python -m training.prompt_run")
    assert card["training"]["training_images"] == {"train": 6, "val": 3}
    assert card["training"]["dataset_repeat"] == {"data": 2}
    assert card["training"]["training_draws_per_epoch"] == 12


def test_evaluate_scores_boxes_and_clicks_through_the_app_path(box_smoke, tmp_path, capsys):
    from training.evaluate import main

    run_dir = _exported(box_smoke)
    data, split = box_smoke.folder / "data", box_smoke.folder / "split.json"
    for mode in ("box", "click"):
        out = tmp_path / f"{mode}.json"
        assert main(["--organ", "breast", "--data-dir", str(data), "--manifest", str(split),
                     "--prompts", mode, "--box-weights", str(run_dir / "breast_box.keras"),
                     "--out", str(out)]) == 0
        result = json.loads(out.read_text())
        assert result["modes"] == [mode] and len(result["rows"]) == 3
        assert all(0.0 <= r[mode] <= 1.0 and 0.0 <= r["automatic"] <= 1.0
                   for r in result["rows"])
    printed = capsys.readouterr().out
    assert "box network" in printed and "lesion images, click prompts" in printed


def test_the_click_network_is_exported_with_its_card_and_scores_clicks(click_smoke, tmp_path,
                                                                        capsys):
    import keras

    from training.evaluate import main

    run_dir = _exported(click_smoke)
    assert run_dir.name.startswith("breast-click-")
    model = keras.saving.load_model(run_dir / "breast_click.keras", compile=False)
    assert model.input_shape == (None, 64, 64, 2) and model.get_layer("click").trainable is False
    assert (run_dir / "breast_click.tflite").is_file()
    card = json.loads((run_dir / "breast_click.json").read_text())
    assert card["prompt"] == "click" and card["version"].startswith("breast-click-")
    assert set(card["test"]["all"]) == {"images", "automatic", "click", "click_cleared",
                                        "click_removal_clicks_mean", "click_training_free"}
    assert card["training"]["prompt"] == "click"
    # the windows it was trained for, read back by the app (SMOKE_BOX keeps the defaults)
    assert card["window"] == {"share": 0.35, "wide_share": 0.6, "lesion_factor": 2.2,
                              "training_share_range": [0.25, 0.7], "training_sized_draws": 0.0}
    assert "0.35x the image's shorter side" in card["input"]
    assert "2.2x that answer's larger side" in card["input"]
    data, split = click_smoke.folder / "data", click_smoke.folder / "split.json"
    out = tmp_path / "click.json"
    assert main(["--organ", "breast", "--data-dir", str(data), "--manifest", str(split),
                 "--prompts", "click", "--click-weights", str(run_dir / "breast_click.keras"),
                 "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 3 and all(0.0 <= r["click"] <= 1.0 for r in rows)
    assert "click prompts: click network" in capsys.readouterr().out


def test_a_prompt_run_on_a_wrong_folder_exits_with_one_clear_error(tmp_path, capsys):
    from training.prompt_run import main

    (tmp_path / "empty").mkdir()
    assert main(["--organ", "breast", "--prompt", "click", "--data-dir",
                 str(tmp_path / "empty"), "--output-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_a_prompt_run_repeating_a_data_set_not_given_names_it(tmp_path, capsys):
    from training.prompt_run import main

    data = write_image_mask_pairs(tmp_path / "data", 2, 60, 60)
    assert main(["--organ", "breast", "--data-dir", str(data), "--dataset-repeat", "BUSI=3",
                 "--output-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "BUSI" in err and "data" in err
    assert not (tmp_path / "runs").exists()  # nothing written
