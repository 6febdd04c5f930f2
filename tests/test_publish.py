"""`python -m training.publish`: the dry run's model repo and Space folders, and the upload's
errors without network.

* The model repo's README.md is a Hub model card (``ModelCard.load``) whose ``model-index``
  carries each model's test Dice per data set, the same figures as the JSON cards.
* The Space folder holds exactly what the app needs (no tests, training code, docs or data) and
  runs: (slow) a copy of it, started with ``python app.py`` offline, answers ``/segment``.
* A dry run replaces its own earlier output, never a folder it did not write, and a failed one
  leaves nothing half-written.
* An upload that cannot reach the Hub is one line on stderr and exit code 2, never a traceback.

Nothing here touches the network or writes outside the test's temporary folders.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import ModelCard, SpaceCard
from PIL import Image

from tests.app_fixtures import free_port, write_phantom
from tests.helpers import ROOT
from training import publish

MODEL_REPO = "someone/unet-ultrasound"
SPACE_REPO = "someone/ultrasound-demo"
SPACE_ENTRIES = {"app.py", "requirements.txt", "unet", "webapp", "weights", "examples",
                 "README.md", ".gitattributes"}
APP_START_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> Path:
    """One dry run of both folders for the module (read-only for the tests)."""
    out = tmp_path_factory.mktemp("publish") / "out"
    assert publish.main(["--model-repo", MODEL_REPO, "--space-repo", SPACE_REPO,
                         "--dry-run", str(out)]) == 0
    return out


def json_cards(*, box: bool = False) -> dict[str, dict]:
    """The bundled automatic models' JSON cards (``box``: the prompted networks' instead), read here
    without the module's help."""
    cards = {p.stem: json.loads(p.read_text()) for p in sorted((ROOT / "weights").glob("*.json"))
             if p.with_suffix(".keras").is_file()}
    return {stem: card for stem, card in cards.items()
            if (card.get("architecture") == "box_prompt_unet") == box}


def pins(requirements: Path) -> dict[str, str]:
    """{package: version} of a requirements file's ``name==version`` lines."""
    found = {}
    for line in requirements.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if "==" in text:
            name, version = text.split("==", 1)
            found[name.strip().lower().replace("_", "-")] = version.strip()
    return found


def lfs_patterns(path: Path) -> set[str]:
    return {line.split()[0] for line in path.read_text().splitlines()
            if "filter=lfs" in line.split()}


# ---------------------------------------------------------------------------------- model repo


def test_model_card_loads_with_the_hub_metadata(dry_run):
    card = ModelCard.load(dry_run / "model" / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "keras"
    assert data["pipeline_tag"] == "image-segmentation"
    assert data["license"] == "other" and data["license_name"]
    # "other" needs a link to the terms: a file of the model repo that states them
    licence = (dry_run / "model" / data["license_link"]).read_text()
    assert "No licence is declared" in licence
    for name in ("BUSI", "BUS-BRA", "DDTI"):
        assert f"- **{name}**: " in licence
    assert {"ultrasound", "medical-imaging", "segmentation", "u-net", "breast",
            "thyroid"} <= set(data["tags"])
    assert "datasets" not in data  # no Hub data set holds BUSI, BUS-BRA or DDTI
    assert data["model-index"][0]["name"] == MODEL_REPO.split("/")[1]
    # the card's sections
    for heading in ("## Intended use", "## Data and licences", "## Training", "## Results",
                    "## Limitations", "## Citation"):
        assert heading in card.text
    assert "Not a medical device" in card.text
    # the commands as a reader types them, without the builder's own folders
    assert "PATH/Dataset_BUSI_with_GT" in card.text and "PATH/thyroidultrasound" in card.text
    assert "/work/" not in card.text and "../shared" not in card.text


def test_model_index_carries_the_cards_test_dice_per_data_set(dry_run):
    results = ModelCard.load(dry_run / "model" / "README.md").data.eval_results
    got = {(r.dataset_config, r.dataset_name): r.metric_value for r in results}
    assert {r.metric_type for r in results} == {"dice"}
    assert {r.dataset_split for r in results} == {"test"}
    cards = json_cards()
    breast, thyroid = cards["breast"]["test_metrics"], cards["thyroid"]["test_metrics"]
    assert got[("breast", "BUSI + BUS-BRA")] == breast["test"]["dice_mean"]
    assert got[("breast", "BUSI")] == breast["test:Dataset_BUSI_with_GT"]["dice_mean"]
    assert got[("breast", "BUS-BRA")] == breast["test:BUSBRA"]["dice_mean"]
    assert got[("thyroid", "DDTI crops")] == thyroid["test"]["dice_mean"]
    assert got[("thyroid", "DDTI uncropped scanner frames")] == \
        thyroid["test_raw_frames"]["dice_mean"]
    # every model in weights/ (a new one included) is there, with its own card's figures only
    for stem, card in cards.items():
        values = {v for (config, _), v in got.items() if config == stem}
        assert card["test_metrics"]["test"]["dice_mean"] in values
        assert values <= {m.get("dice_mean") for m in card["test_metrics"].values()}


def test_the_model_card_shows_each_prompted_networks_figures(dry_run):
    text = (dry_run / "model" / "README.md").read_text()
    prompted = json_cards(box=True)
    assert set(prompted) >= {"breast_box", "thyroid_box"}
    for stem, card in prompted.items():
        section = text.split(f"### {stem} (`{card['version']}`)", 1)[1].split("###", 1)[0]
        assert f"| all | {card['test']['images']} | " in section
        # data sets by the names people call them, as in the Results table, not by folder
        for folder in card["test"].get("per_dataset") or {}:
            assert f"| {publish.published_name(folder)} | " in section
        assert "| Dataset_BUSI_with_GT |" not in section and "| BUSBRA |" not in section
        prompt = card.get("prompt", "box")
        assert f"{card['test']['all'][prompt]['dice_mean']:.3f}" in section


def test_model_folder_holds_the_weights_cards_and_readme(dry_run):
    weights = ROOT / "weights"
    expected = {p.name for pattern in ("*.keras", "*.tflite", "*.json")
                for p in weights.glob(pattern)}
    assert {"breast.keras", "breast.tflite", "breast.tflite.json", "breast_split.json",
            "breast.json", "thyroid.keras", "thyroid.json"} <= expected
    assert {p.name for p in (dry_run / "model").iterdir()} == expected | {
        "README.md", ".gitattributes", publish.LICENSE_FILE}
    for name in expected:
        assert (dry_run / "model" / name).read_bytes() == (weights / name).read_bytes()
    assert {"*.keras", "*.tflite"} <= lfs_patterns(dry_run / "model" / ".gitattributes")


# --------------------------------------------------------------------------------------- Space


def test_space_folder_holds_exactly_the_app(dry_run):
    space = dry_run / "space"
    assert {p.name for p in space.iterdir()} == SPACE_ENTRIES
    paths = [p.relative_to(space) for p in space.rglob("*")]
    for path in paths:
        assert not {"tests", "training", "docs", "benchmarks", "testing", "__pycache__",
                    ".ci"} & set(path.parts), path
        assert path.suffix != ".pyc", path
    # every module of the app's packages, and the data the app reads, all of it
    for package in ("unet", "webapp"):
        for source in (ROOT / package).rglob("*.py"):
            relative = source.relative_to(ROOT)
            if "testing" not in relative.parts:
                assert (space / relative).is_file(), relative
    for folder in ("weights", "examples"):
        shipped = {p.relative_to(ROOT) for p in (ROOT / folder).rglob("*") if p.is_file()}
        if folder == "weights":  # the split manifests are training's, not the app's
            shipped = {p for p in shipped if not p.name.endswith("_split.json")}
        assert shipped == {p.relative_to(space) for p in (space / folder).rglob("*")
                           if p.is_file()}
    assert (space / "examples" / "ATTRIBUTION.md").is_file()
    assert not list(space.rglob("*_split.json"))
    # the repository's pins, less the training module's own packages
    ours, theirs = pins(ROOT / "requirements.txt"), pins(space / "requirements.txt")
    assert set(publish.TRAINING_ONLY) <= set(ours)
    assert theirs == {k: v for k, v in ours.items() if k not in publish.TRAINING_ONLY}
    assert "training" not in (space / "requirements.txt").read_text().replace(
        "training module", "").replace("training.publish", "")
    assert publish.unshipped_imports(space) == []  # nothing imports training, tests ...
    assert {"*.keras", "*.tflite"} <= lfs_patterns(space / ".gitattributes")


def test_space_readme_is_the_spaces_configuration(dry_run):
    card = SpaceCard.load(dry_run / "space" / "README.md")
    data = card.data.to_dict()
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().split()
                if "==" in line)
    assert data["sdk"] == "gradio" and data["sdk_version"] == pins["gradio"]
    assert data["app_file"] == "app.py" and data["pinned"] is False
    assert {"title", "emoji", "colorFrom", "colorTo", "license"} <= set(data)
    assert 0 < len(data["short_description"]) <= 60  # the Hub's limit
    assert data["models"] == [MODEL_REPO]
    assert "Not a medical device" in card.text and MODEL_REPO in card.text


def test_unshipped_imports_are_found(tmp_path):
    (tmp_path / "lazy.py").write_text("def f():\n    from training.recipes import x\n")
    (tmp_path / "fine.py").write_text("import trainingwheels\nfrom unet.io import reader\n")
    (tmp_path / "stats.py").write_text("import numpy\nfrom scipy import stats\n")
    assert publish.unshipped_imports(tmp_path) == ["lazy.py:2", "stats.py:2"]


def test_space_requirements_leave_out_the_training_packages():
    text = ("# comment on training\ntensorflow-cpu==2.21.0  # inline\nscipy==1.0\n"
            "matplotlib>=3\ngradio==6.31.0\n")
    lines = publish.space_requirements(text).splitlines()
    assert lines[1:] == ["tensorflow-cpu==2.21.0", "gradio==6.31.0"]
    assert lines[0].startswith("# ")


# ------------------------------------------------------------------------------------ dry runs


def test_dry_run_replaces_its_own_folder_but_never_a_foreign_one(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "model").mkdir(parents=True)
    (out / "model" / "mine.txt").write_text("not the tool's")
    assert publish.main(["--model-repo", MODEL_REPO, "--dry-run", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not written by training.publish" in err
    assert (out / "model" / "mine.txt").read_text() == "not the tool's"

    shutil.rmtree(out / "model")
    assert publish.main(["--model-repo", MODEL_REPO, "--dry-run", str(out)]) == 0
    (out / "model" / "stale.txt").write_text("left by hand")
    assert publish.main(["--model-repo", MODEL_REPO, "--dry-run", str(out)]) == 0
    assert not (out / "model" / "stale.txt").exists()
    assert (out / "model" / "README.md").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left


def test_failed_dry_run_leaves_the_earlier_one(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    assert publish.main(["--model-repo", MODEL_REPO, "--dry-run", str(out)]) == 0
    before = sorted(p.name for p in (out / "model").iterdir())

    def broken(*args, **kwargs):
        raise publish.PublishError("the card could not be written")

    monkeypatch.setattr(publish, "model_card_text", broken)  # after the weights are copied
    assert publish.main(["--model-repo", MODEL_REPO, "--dry-run", str(out)]) == 2
    assert "the card could not be written" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "model").iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# -------------------------------------------------------------------------------------- upload


class Unreachable:
    """HfApi without network: every call raises ``error``; records what was asked."""

    def __init__(self, error: BaseException, fail_on: str = "model"):
        self.error, self.fail_on, self.calls = error, fail_on, []

    def create_repo(self, repo_id, *, repo_type=None, **kwargs):
        self.calls.append(("create_repo", repo_id, repo_type, kwargs))
        if repo_type == self.fail_on:
            raise self.error

    def upload_folder(self, *, repo_id, folder_path, repo_type=None, **kwargs):
        self.calls.append(("upload_folder", repo_id, repo_type,
                           sorted(p.name for p in Path(folder_path).iterdir())))


def transport_error() -> BaseException:
    """The HTTP client's own connection error (not an OSError)."""
    httpx2 = pytest.importorskip("httpx2")
    return httpx2.ConnectError("[Errno -3] Temporary failure in name resolution")


@pytest.mark.parametrize("make_error", [
    lambda: OSError("[Errno 101] Network is unreachable"),
    transport_error,
], ids=["os-error", "transport-error"])
def test_upload_without_network_is_one_clear_error(monkeypatch, capsys, make_error):
    import huggingface_hub

    api = Unreachable(make_error())
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda *a, **k: api)
    code = publish.main(["--model-repo", MODEL_REPO, "--space-repo", SPACE_REPO, "--private"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"error: could not upload the model to the Hub repo {MODEL_REPO}")
    assert [c[0] for c in api.calls] == ["create_repo"]  # nothing after the failure
    assert api.calls[0][3]["private"] is True and api.calls[0][3]["exist_ok"] is True


def test_upload_sends_both_folders_and_names_what_was_done_when_the_space_fails(monkeypatch,
                                                                                 capsys):
    import huggingface_hub

    api = Unreachable(OSError("503 Service Unavailable"), fail_on="space")
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda *a, **k: api)
    assert publish.main(["--model-repo", MODEL_REPO, "--space-repo", SPACE_REPO]) == 2
    err = capsys.readouterr().err
    assert f"Hub repo {SPACE_REPO}" in err and f"huggingface.co/{MODEL_REPO}" in err
    created, uploaded, space = api.calls
    assert created[:3] == ("create_repo", MODEL_REPO, "model")
    assert uploaded[:3] == ("upload_folder", MODEL_REPO, "model")
    assert "README.md" in uploaded[3] and "breast.keras" in uploaded[3]
    assert space[:3] == ("create_repo", SPACE_REPO, "space")
    assert space[3]["space_sdk"] == "gradio"


def test_offline_upload_through_the_real_client_exits_2(tmp_path):
    """The real HfApi with HF_HUB_OFFLINE=1 (set before it is imported): no traceback."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), TMPDIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "training.publish", "--model-repo", MODEL_REPO],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: could not upload the model") and \
        "Traceback" not in done.stderr


def test_a_repo_id_must_be_user_slash_name(capsys):
    with pytest.raises(SystemExit) as exit_info:
        publish.main(["--model-repo", "no-slash", "--dry-run", "x"])
    assert exit_info.value.code == 2 and "USER/NAME" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        publish.main(["--dry-run", "x"])  # neither repo


# --------------------------------------------------------------------- the Space runs (slow)


KERAS_WITHOUT_TRAINING_PACKAGES = """
try:
    import scipy
except ModuleNotFoundError as exc:
    assert "blocked for this test" in str(exc)
    print("hidden")
import keras, numpy as np
model = keras.saving.load_model("weights/breast.keras", compile=False)
print(model.predict(np.zeros((1, 224, 224, 1), "float32"), verbose=0).shape)
"""


@pytest.mark.slow
def test_space_copy_starts_and_segments(dry_run, tmp_path):
    """The Space folder on its own (no training/, tests/ or repository beside it), started as a
    Space starts it, answers /segment with a mask of the image's size."""
    from gradio_client import Client, handle_file

    space = tmp_path / "space"
    shutil.copytree(dry_run / "space", space)
    image_path, image, _ = write_phantom(tmp_path, seed=5, height=200, width=260)
    port = free_port()
    # as on a Space, where the packages its requirements.txt leaves out are not installed
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(ROOT / "tests" / "blocked_imports"),
               BLOCKED_IMPORTS=",".join(publish.TRAINING_ONLY))
    # hidden indeed; and the Keras model the teaching tab loads still loads and runs
    hidden = subprocess.run([sys.executable, "-c", KERAS_WITHOUT_TRAINING_PACKAGES], cwd=space,
                            env=env, capture_output=True, text=True, timeout=300)
    assert hidden.returncode == 0, hidden.stderr[-3000:]
    assert hidden.stdout.split() == ["hidden", "(1,", "224,", "224,", "1)"], hidden.stdout
    env.update(HF_HUB_OFFLINE="1", GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
               GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    log_path = tmp_path / "app.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=space, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        answer, last_error = None, ""
        deadline = time.monotonic() + APP_START_TIMEOUT_S
        while answer is None and time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text(errors="replace")[-3000:]
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False,
                                download_files=str(tmp_path / "downloads"))
                answer = client.predict(handle_file(image_path), "breast", None,
                                        api_name="/segment")
            except Exception as exc:  # noqa: BLE001 - not up yet: try again
                last_error = f"{type(exc).__name__}: {exc}"
                time.sleep(1.0)
        assert answer is not None, f"no answer in {APP_START_TIMEOUT_S} s ({last_error})"
        mask_path, _, report = answer
        mask = np.asarray(Image.open(mask_path))
        assert mask.shape == image.shape
        assert set(np.unique(mask).tolist()) <= {0, 255}
        assert report["model_version"].startswith("breast-")  # the bundled trained model
        log_text = log_path.read_text(errors="replace")
        assert "Traceback" not in log_text, log_text[-3000:]
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
