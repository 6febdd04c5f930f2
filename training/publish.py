"""`python -m training.publish`: put the bundled models and the app on the Hugging Face Hub.

    python -m training.publish --model-repo USER/NAME --space-repo USER/NAME --dry-run out/
    python -m training.publish --model-repo USER/NAME --space-repo USER/NAME [--private]

Two folders are built from the working tree:

* the **model repo**: every ``weights/*.keras``, ``*.tflite`` and ``*.json`` (weights, engine
  flatbuffers and their manifests, model cards, split manifests; new models added to
  ``weights/`` come along by themselves) and a ``README.md`` in the Hub's model-card format,
  written from the JSON cards (``model-index`` holds each model's test Dice per data set);
* the **Space**: exactly what ``python app.py`` needs: ``app.py``, the packages ``unet/`` and
  ``webapp/`` (no tests, no caches), ``weights/`` (without the split manifests, which only
  training reads), ``examples/``, a ``requirements.txt`` without the training module's own
  packages (``TRAINING_ONLY``), a ``README.md`` with the Space's front matter and a
  ``.gitattributes`` that sends the binaries through LFS.

``--dry-run DIR`` writes them to ``DIR/model`` and ``DIR/space`` and uploads nothing (the folder
to look at, or to push with git). Without it each folder is uploaded with
``HfApi.create_repo(exist_ok=True)`` and ``HfApi.upload_folder`` (large files go through LFS).
Errors a user can fix (a missing file, a folder this tool did not write, no network, no token)
are one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from unet.inference.public_data import DATA, DataSet, published_name

REPO_ROOT = Path(__file__).resolve().parent.parent

# What the model repo carries from weights/: a glob, so that a model added beside the others
# (breast_box.keras and its card, say) is published without a change here.
WEIGHT_PATTERNS = ("*.keras", "*.tflite", "*.json")
# What the Space carries, and nothing else (the tests check the list).
SPACE_FILES = ("app.py",)
SPACE_PACKAGES = ("unet", "webapp")
SPACE_DATA = ("weights", "examples")
# Files of weights/ that only training and evaluation read (which scan went to which split):
# the model repo carries them, the Space does not.
TRAINING_ONLY_WEIGHTS = ("*_split.json",)
# Packages requirements.txt pins for the training module alone (statistics, figures): the
# Space's requirements.txt leaves them out (nothing the app imports needs them; the tests run
# the Space with them hidden).
TRAINING_ONLY = ("scipy", "matplotlib")
# Names never copied out of a package: test code and caches are no part of the running app.
SKIPPED_NAMES = {"__pycache__", "tests", "testing", ".pytest_cache", ".ruff_cache"}
# Imports that would break the Space: these packages are not shipped with it.
NOT_SHIPPED = ("training", "tests", "benchmarks", "unet.testing")
# Git pushes to the Hub refuse binary files outside LFS: the models, and the example images.
LFS_PATTERNS = ("*.keras", "*.tflite", "*.png")
# Marks a dry-run folder as this tool's, so that a second dry run may replace it.
MARKER = ".publish-dry-run"

# The repository declares no licence for its code or weights; the data sets have their own
# terms (DATA below). "other" is the Hub's value for that; the card's text says what it means.
LICENSE = "other"
LICENSE_NAME = "no-licence-declared"
LICENSE_FILE = "LICENSE.md"  # the model repo's; the front matter's license_link points to it
SHORT_DESCRIPTION = "Tumour segmentation in breast and thyroid ultrasound"  # Hub limit: 60


class PublishError(RuntimeError):
    """Something the user can fix: a missing file, a folder this tool did not write, or the Hub
    out of reach. ``main`` prints it as one line and exits with 2."""


def network_errors() -> tuple[type[BaseException], ...]:
    """What a failed Hub call raises: ``OSError`` (no token, offline mode, HTTP errors of the
    Hub, timeouts) and the HTTP client's own transport errors, which are not ``OSError``s
    (``huggingface_hub.errors.HTTPError`` is that client's base class)."""
    from huggingface_hub import errors

    client_error = getattr(errors, "HTTPError", None)
    return (OSError,) + ((client_error,) if isinstance(client_error, type) else ())


# ----------------------------------------------------------------------------------- the cards


def model_cards(weights_dir: Path) -> dict[str, dict]:
    """{stem: card} for every model in ``weights_dir``: a JSON file beside a ``.keras`` file of
    the same stem that carries test figures (split manifests and engine manifests do not)."""
    cards = {}
    for path in sorted(weights_dir.glob("*.json")):
        if not path.with_suffix(".keras").is_file():
            continue
        try:
            card = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise PublishError(f"cannot read the model card {path}: {exc}") from exc
        if isinstance(card, dict) and isinstance(card.get("test_metrics"), dict):
            cards[path.stem] = card
    if not cards:
        raise PublishError(f"no model card (<name>.json beside <name>.keras) in {weights_dir}")
    return cards


def prompt_cards(weights_dir: Path) -> dict[str, dict]:
    """{stem: card} of the prompted networks (``<organ>_box.json``, ``<organ>_click.json``
    beside its ``.keras``)."""
    cards = {}
    for path in sorted([*weights_dir.glob("*_box.json"), *weights_dir.glob("*_click.json")]):
        try:
            card = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise PublishError(f"cannot read the model card {path}: {exc}") from exc
        if path.with_suffix(".keras").is_file() and isinstance(card.get("test"), dict):
            cards[path.stem] = card
    return cards


def prompt_section(cards: dict[str, dict]) -> list[str]:
    """The prompted networks' test figures beside the automatic model's, from their cards."""
    if not cards:
        return []
    names = (("automatic", "automatic"), ("box", "box network"),
             ("box_cleared", "box network, other marks cleared"),
             ("box_training_free", "box, automatic model only"), ("click", "click"),
             ("click_cleared", "click, other marks cleared"),
             ("click_training_free", "click, automatic model only"))
    lines = ["## Guided by the user: the prompted networks", "",
             "`<organ>_box.keras` outlines the lesion inside a user's box, `<organ>_click.keras` "
             "the lesion under a user's click (each a 2-channel window: the image and the "
             "prompt). Test split lesion images, the user simulated from the expert outline "
             "(each box side moved by up to 10 %; a click on the lesion's most interior "
             "point); mean Dice (95 % bootstrap interval) and the share below 0.5:", ""]
    for stem, card in cards.items():
        test = card["test"]
        # a box network's card measured the click answered by the automatic model
        box_card = card.get("prompt", "box") == "box"
        shown = [(k, "click, automatic model only" if box_card and k == "click" else n)
                 for k, n in names if k in (test.get("all") or {})]
        lines += [f"### {stem} (`{card.get('version')}`)", "",
                  "| set | images | " + " | ".join(n for _, n in shown) + " |",
                  "|---|---|" + "---|" * len(shown)]
        blocks = [("all", test["all"]), *(test.get("per_dataset") or {}).items(),
                  *(test.get("per_scanner") or {}).items()]
        for name, block in blocks:
            cells = " | ".join(
                f"{_interval(block[k]['dice_mean'], block[k].get('dice_ci95'), _number)}; "
                f"{_percent(block[k]['below_0_5'])} %" for k, _ in shown)
            lines.append(f"| {published_name(name)} | {block['images']} | {cells} |")
        t = card.get("training") or {}
        lines += ["", f"Command: `{portable_command(t.get('command', 'not recorded'))}`; "
                  "training loop "
                  f"{_duration(t.get('train_seconds'))}, {t.get('epochs', '?')} epochs.", ""]
    return lines


def card_datasets(card: dict) -> list[tuple[str, DataSet]]:
    """The card's data sets as (name in the card, DataSet); unknown names keep their own."""
    entries = card.get("dataset") or []
    entries = [entries] if isinstance(entries, dict) else entries
    names = [e.get("name") for e in entries if isinstance(e, dict) and e.get("name")]
    return [(n, DATA.get(n, DataSet(n, n.lower(), "see its publisher", ""))) for n in names]


def test_sets(card: dict) -> list[tuple[str, str, str, dict]]:
    """(card key, data set label, model-index dataset type, figures) for the card's test sets
    per data set: the whole test split, each data set's part of it (``test:<name>``, only when
    there are several), and the uncropped scanner frames (``test_raw_frames``). Per-scanner
    figures stay in the JSON card."""
    metrics = card["test_metrics"]
    datasets = card_datasets(card)
    label = " + ".join(d.label for _, d in datasets) or "test split"
    key = "+".join(d.key for _, d in datasets) or "test"
    raw = isinstance(metrics.get("test_raw_frames"), dict)
    out = []
    if isinstance(metrics.get("test"), dict):
        out.append(("test", label + (" crops" if raw else ""), key, metrics["test"]))
    if len(datasets) > 1:
        for name, data in datasets:
            if isinstance(metrics.get(f"test:{name}"), dict):
                out.append((f"test:{name}", data.label, data.key, metrics[f"test:{name}"]))
    if raw:
        out.append(("test_raw_frames", f"{label} uncropped scanner frames", f"{key}-frames",
                    metrics["test_raw_frames"]))
    return [row for row in out if row[3].get("dice_mean") is not None]


def organ_name(stem: str, card: dict) -> str:
    """'Breast', or 'Breast (breast_box)' for a second model of the same organ."""
    organ = str(card.get("organ") or stem)
    return organ.capitalize() + ("" if stem == organ else f" ({stem})")


def eval_results(cards: dict[str, dict]) -> list:
    """One ``EvalResult`` per model and test set: the mean Dice over lesion images, as the card
    has it (the figure the README's and the app's tables round)."""
    from huggingface_hub import EvalResult

    results = []
    for stem, card in cards.items():
        for _, label, key, figures in test_sets(card):
            results.append(EvalResult(
                task_type="image-segmentation",
                task_name=f"{organ_name(stem, card)} lesion segmentation",
                dataset_type=key, dataset_name=label, dataset_config=stem, dataset_split="test",
                metric_type="dice", metric_name="Mean Dice over lesion images",
                metric_value=figures["dice_mean"]))
    return results


def _number(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _percent(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _interval(value, interval, show, unit: str = "") -> str:
    """'0.746 (0.684-0.803)', '7.1 % (3.3-14.7 %)', or the figure alone where the card has no
    interval."""
    if value is None:
        return "n/a"
    if not interval or len(interval) != 2:
        return show(value) + unit
    return f"{show(value)}{unit} ({show(interval[0])}-{show(interval[1])}{unit})"


def _duration(seconds) -> str:
    if not isinstance(seconds, int | float):
        return "not recorded"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _hardware(training: dict) -> str:
    hw = training.get("hardware") or {}
    gpus = ", ".join(map(str, hw.get("gpus") or [])) or "no GPU"
    return (f"{hw.get('cpu_count', '?')} CPU cores ({hw.get('cpu', '?')}), {gpus}; Keras "
            f"{hw.get('keras', '?')} on {hw.get('backend', '?')} {hw.get('backend_version', '')}"
            ).strip()


def results_table(cards: dict[str, dict]) -> list[str]:
    """Markdown rows: each model's test sets with Dice, missed lesions and, where the set has
    lesion-free scans, how many of them got a mask; 95 % intervals from the card."""
    lines = ["| model (card version) | test set | lesion images | Dice (95 % interval) | "
             "lesions missed (95 % interval) | lesion-free scans marked (95 % interval) |",
             "|---|---|---|---|---|---|"]
    for stem, card in cards.items():
        first = True
        for _, label, _, m in test_sets(card):
            model = f"{organ_name(stem, card)} (`{card.get('version')}`)" if first else ""
            free = (_interval(m.get("false_positive_rate_lesion_free"),
                              m.get("false_positive_rate_lesion_free_ci95"), _percent, " %")
                    + f" of {m['lesion_free_images']}") if m.get("lesion_free_images") else "-"
            dice = _interval(m.get("dice_mean"), m.get("dice_mean_ci95"), _number)
            missed = _interval(m.get("missed_lesion_rate"), m.get("missed_lesion_rate_ci95"),
                               _percent, " %")
            lines.append(f"| {model} | {label} | {m.get('lesion_images', 'n/a')} | {dice} | "
                         f"{missed} | {free} |")
            first = False
    return lines


def portable_command(command: str) -> str:
    """A card's command as a reader would type it: each path argument with its folders elided
    (``/home/me/data/BUSBRA`` -> ``PATH/BUSBRA``), as the README writes them; the builder's
    own folders say nothing to a reader and are not theirs to publish."""
    return " ".join(f"PATH/{Path(token).name}" if "/" in token and not token.startswith("-")
                    else token for token in command.split())


def training_section(cards: dict[str, dict]) -> list[str]:
    lines = ["## Training", ""]
    for stem, card in cards.items():
        t = card.get("training") or {}
        split = (card.get("split") or {}).get("counts") or {}
        lines += [f"### {organ_name(stem, card)}", "",
                  f"- Network: {card.get('architecture', '?')} "
                  f"({card.get('parameters', '?'):,} parameters), input "
                  f"{t.get('image_size', '?')} px; start: {card.get('encoder_init', '?')}",
                  "- Split (images): " + ", ".join(f"{k} {v}" for k, v in split.items())
                  + f"; {(card.get('split') or {}).get('grouping', '')}",
                  f"- Command: `{portable_command(t.get('command', 'not recorded'))}`",
                  f"- Hardware: {_hardware(t)}",
                  f"- Training loop: {_duration(t.get('train_seconds'))}, "
                  f"{t.get('epochs_run', '?')} epochs"]
        if t.get("re_exported_with"):
            lines.append(f"- Exported with: `{portable_command(t['re_exported_with'])}`")
        if t.get("note"):
            lines.append(f"- Note: {t['note']}")
        lines.append("")
    return lines


def model_card_text(cards: dict[str, dict], model_repo: str, space_repo: str | None,
                    prompted: dict[str, dict] | None = None) -> str:
    """The model repo's README.md: the Hub's front matter, then the card, from the JSON cards."""
    from huggingface_hub import ModelCard, ModelCardData

    organs = list(dict.fromkeys(str(c.get("organ")) for c in cards.values() if c.get("organ")))
    data = ModelCardData(
        license=LICENSE, license_name=LICENSE_NAME, license_link=LICENSE_FILE,
        library_name="keras",
        pipeline_tag="image-segmentation",
        tags=["ultrasound", "medical-imaging", "segmentation", "u-net", *organs, "efficientnet",
              "tflite"],
        model_name=model_repo.split("/")[-1], eval_results=eval_results(cards))
    used = {name: d for card in cards.values() for name, d in card_datasets(card)}
    files = [f"| `{stem}.keras` | {organ_name(stem, c)}: `{c.get('version')}`, Keras 3, "
             f"float32 |" for stem, c in cards.items()]
    body = [
        f"# {' and '.join(organs).capitalize()} ultrasound tumour segmentation (U-Net)", "",
        "U-Nets on an EfficientNet-Lite0 encoder that outline the tumour in a "
        + " or ".join(organs) + " ultrasound image." + (
            f" The app that serves them is the Space `{space_repo}`." if space_repo else ""),
        "", "> **Research and teaching demo. Not a medical device. Not for diagnosis.**", "",
        "| file | what it is |", "|---|---|", *files,
        "| `<model>.tflite`, `<model>.tflite.json` | the same network as a TF Lite flatbuffer "
        "(the app's LiteRT engine) and the SHA-256 of the `.keras` file it was made from |",
        "| `<model>.json` | the full model card: data, split, training, operating point, test "
        "figures per data set and scanner, quality estimate and organ check |",
        "| `<model>_split.json` | which file (by name, no image) went to train, validation or "
        "test |", "",
        "```python",
        "import keras",
        "from huggingface_hub import hf_hub_download",
        f"path = hf_hub_download(\"{model_repo}\", \"{next(iter(cards))}.keras\")",
        "model = keras.saving.load_model(path, compile=False)  # 1-channel standardized input",
        "```", "",
        "The app downloads `<organ>.keras` from here when `UNET_<ORGAN>_HUB_REPO` names this "
        "repo (`UNET_HUB_REVISION` pins a commit or tag); the input's preprocessing, the "
        "operating point and the clean-up are in the app's code and in `<model>.json`.", "",
        "## Intended use", "",
        "A research and teaching demo: to show how a U-Net segments ultrasound lesions, what its "
        "figures mean and where it fails. Not a medical device; not for diagnosis, screening or "
        "any decision about a patient.", "",
        "## Data and licences", "",
        *[f"- **{d.label}**: {d.licence}." for d in used.values()], "",
        "Per model (image and mask files used):", "",
        *[f"- {organ_name(stem, c)}: " + ", ".join(
            f"{d.label} ({e.get('file_count', '?')} files)" for (_, d), e in zip(
                card_datasets(c), _dataset_entries(c), strict=True)) for stem, c in cards.items()],
        "", f"No licence is declared for the weights or the code (the front matter's "
        f"`license: {LICENSE}`); whoever uses them follows the data sets' terms above. No "
        "training image is in this repo.", "",
        *training_section(cards),
        "## Results", "",
        "Held-out test splits (patients and near-duplicate images kept on one side), each image "
        "at its original resolution through the app's inference path; mean Dice over lesion "
        "images with 95 % bootstrap intervals, rates with Wilson intervals (from the JSON "
        "cards):", "",
        *results_table(cards), "",
        *prompt_section(prompted or {}),
        "## Limitations", "",
        "- Trained on public data sets from a few scanners; other scanners, presets and "
        "patients may give wrong masks without warning.",
        "- The operating point was chosen on the validation split; the test figures are the "
        "only ones measured on unseen images.",
        *[f"- {organ_name(stem, c)}: {text}" for stem, c in cards.items()
          for text in (c.get("limitations") or [])], "",
        "## Citation", "",
        "Cite the data sets the models were trained on:", "",
        *[f"- **{d.label}**: {d.citation}" for d in used.values() if d.citation], "",
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body)).content


def licence_text(cards: dict[str, dict]) -> str:
    """The model repo's LICENSE.md (the front matter's ``license_link``): that no licence is
    declared, and the terms of the data sets the weights were trained on."""
    used = {name: d for card in cards.values() for name, d in card_datasets(card)}
    return "\n".join([
        "# Licence", "",
        "No licence is declared for these weights or for the code that made them. Whoever uses "
        "them follows the terms of the data sets they were trained on:", "",
        *[f"- **{d.label}**: {d.licence}. Cite: {d.citation}" for d in used.values()], "",
        "Research and teaching demo. Not a medical device. Not for diagnosis.", ""])


def space_requirements(requirements: str) -> str:
    """The repository's requirements.txt for the Space: the same pins without the packages only
    the training module needs (``TRAINING_ONLY``), and without its comments (they speak of
    training and GPUs)."""
    kept = []
    for line in requirements.splitlines():
        text = line.split("#", 1)[0].strip()
        name = re.split(r"[\s<>=!~\[;]", text, maxsplit=1)[0].lower().replace("_", "-")
        if text and name not in TRAINING_ONLY:
            kept.append(text)
    return ("# The Space's packages: the repository's requirements.txt without the training "
            "module's own (" + ", ".join(TRAINING_ONLY) + "); written by python -m "
            "training.publish.\n" + "\n".join(kept) + "\n")


def _dataset_entries(card: dict) -> list[dict]:
    entries = card.get("dataset") or []
    entries = [entries] if isinstance(entries, dict) else entries
    return [e for e in entries if isinstance(e, dict) and e.get("name")]


def gradio_pin(requirements: Path) -> str:
    """The gradio version pinned in requirements.txt (the Space's ``sdk_version`` must match)."""
    for line in requirements.read_text().splitlines():
        found = re.fullmatch(r"\s*gradio\s*==\s*([\w.]+)\s*(#.*)?", line)
        if found:
            return found.group(1)
    raise PublishError(f"{requirements} pins no gradio version (gradio==X.Y.Z)")


def space_card_text(repo_root: Path, model_repo: str | None, space_repo: str | None) -> str:
    """The Space's README.md: its configuration (title and colours from the repository's own
    README front matter) and a short text for its visitors."""
    from huggingface_hub import SpaceCardData, metadata_load

    own = metadata_load(repo_root / "README.md") or {}
    data = SpaceCardData(
        title=own.get("title", "Ultrasound Tumour Segmentation (U-Net)"),
        emoji=own.get("emoji", "🩺"), colorFrom=own.get("colorFrom", "indigo"),
        colorTo=own.get("colorTo", "gray"), sdk="gradio",
        sdk_version=gradio_pin(repo_root / "requirements.txt"),
        python_version=str(own.get("python_version", "3.11")), app_file="app.py",
        pinned=False, license=LICENSE, short_description=SHORT_DESCRIPTION,
        models=[model_repo] if model_repo else None)
    client = space_repo or "USER/SPACE"
    body = [
        f"# {data.title}", "",
        "Outline the tumour in a breast or thyroid ultrasound image with a U-Net. Choose the "
        "organ, upload an image (PNG, JPEG, BMP, TIFF, WebP, GIF or DICOM) or click an example, "
        "and read the mask over the image, the lesion's size, how far to trust the result, and "
        "download the mask, the overlay and a JSON report. When the outline is wrong, guide it "
        "with a box or clicks. Other tabs: how the network works, many images at once, and "
        "each model's card.", "",
        "> **Research and teaching demo. Not a medical device. Not for diagnosis.** Uploads are "
        "deleted within about 20 minutes.", "",
        "The same segmentation as an API:", "",
        "```python",
        "from gradio_client import Client, handle_file",
        f"client = Client(\"{client}\")",
        "mask, overlay, report = client.predict(handle_file(\"scan.png\"), \"breast\", None,",
        "                                       api_name=\"/segment\")",
        "```", "",
        ("The models, their test figures and training data: the model repo "
         f"`{model_repo}`." if model_repo else
         "The models, their test figures and training data: the model cards in `weights/`."),
        "The example scans come from the public BUS-BRA and DDTI data sets "
        "(`examples/ATTRIBUTION.md`).", "",
    ]
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body)


# ---------------------------------------------------------------------------------- the folders


def gitattributes() -> str:
    return "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS)


def _wanted(path: Path, root: Path) -> bool:
    """Not a cache, a test folder, a hidden file or a compiled file. (Not by a ``test_`` prefix:
    ``unet/transforms/test_time_augmentation.py`` is app code.)"""
    parts = path.relative_to(root).parts
    return not (any(p in SKIPPED_NAMES or p.startswith(".") for p in parts)
                or path.name == "conftest.py" or path.suffix in (".pyc", ".pyo"))


def copy_tree(src: Path, dst: Path) -> None:
    """Copies the files of ``src`` that the app may read (see ``_wanted``) to ``dst``."""
    if not src.is_dir():
        raise PublishError(f"{src} is missing")
    for path in sorted(src.rglob("*")):
        if path.is_file() and _wanted(path, src):
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def unshipped_imports(folder: Path) -> list[str]:
    """'file:line' for every import of a package the Space does not carry (training, tests,
    benchmarks, unet.testing) or does not install (``TRAINING_ONLY``): such an import, even
    inside a function, fails on the Space."""
    names = "|".join(re.escape(n) for n in NOT_SHIPPED + TRAINING_ONLY)
    pattern = re.compile(rf"^\s*(from|import)\s+({names})(\.|\s|$)")
    found = []
    for path in sorted(folder.rglob("*.py")):
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if pattern.match(line):
                found.append(f"{path.relative_to(folder)}:{number}")
    return found


def build_model_folder(repo_root: Path, folder: Path, model_repo: str,
                       space_repo: str | None) -> None:
    """The model repo's files: weights/*.keras, *.tflite, *.json, README.md, .gitattributes."""
    weights = repo_root / "weights"
    cards = model_cards(weights)
    folder.mkdir(parents=True)
    for pattern in WEIGHT_PATTERNS:
        for path in sorted(weights.glob(pattern)):
            shutil.copy2(path, folder / path.name)
    (folder / "README.md").write_text(model_card_text(cards, model_repo, space_repo,
                                                      prompt_cards(weights)))
    (folder / LICENSE_FILE).write_text(licence_text(cards))
    (folder / ".gitattributes").write_text(gitattributes())


def build_space_folder(repo_root: Path, folder: Path, model_repo: str | None,
                       space_repo: str | None) -> None:
    """The Space's files (SPACE_FILES, SPACE_PACKAGES, SPACE_DATA, README.md, .gitattributes);
    refuses a tree whose app code imports a package the Space does not carry."""
    folder.mkdir(parents=True)
    for name in SPACE_FILES:
        if not (repo_root / name).is_file():
            raise PublishError(f"{repo_root / name} is missing")
        shutil.copy2(repo_root / name, folder / name)
    for name in SPACE_PACKAGES + SPACE_DATA:
        copy_tree(repo_root / name, folder / name)
    for pattern in TRAINING_ONLY_WEIGHTS:
        for path in (folder / "weights").glob(pattern):
            path.unlink()
    requirements = repo_root / "requirements.txt"
    if not requirements.is_file():
        raise PublishError(f"{requirements} is missing")
    (folder / "requirements.txt").write_text(space_requirements(requirements.read_text()))
    bad = unshipped_imports(folder)
    if bad:
        raise PublishError("the app imports code the Space does not carry ("
                           + ", ".join(NOT_SHIPPED + TRAINING_ONLY) + "): " + ", ".join(bad))
    (folder / "README.md").write_text(space_card_text(repo_root, model_repo, space_repo))
    (folder / ".gitattributes").write_text(gitattributes())


def build(repo_root: Path, root: Path, model_repo: str | None,
          space_repo: str | None) -> dict[str, Path]:
    """Builds the requested folders under ``root``: {"model": root/model, "space": root/space}.
    A file that cannot be read or written (disk full, no permission) is a PublishError."""
    parts = {}
    try:
        if model_repo:
            build_model_folder(repo_root, root / "model", model_repo, space_repo)
            parts["model"] = root / "model"
        if space_repo:
            build_space_folder(repo_root, root / "space", model_repo, space_repo)
            parts["space"] = root / "space"
    except OSError as exc:
        raise PublishError(f"could not write the folders under {root}: {exc}") from exc
    return parts


# ------------------------------------------------------------------------------------ dry run


def _ours(out_dir: Path) -> set[str]:
    """The parts of ``out_dir`` an earlier dry run wrote (its marker lists them)."""
    try:
        return set(json.loads((out_dir / MARKER).read_text()).get("parts", []))
    except (OSError, ValueError, AttributeError):
        return set()


def check_replaceable(out_dir: Path, parts) -> None:
    """An existing non-empty ``out_dir/<part>`` is replaced only if this tool wrote it."""
    ours = _ours(out_dir)
    for part in parts:
        target = out_dir / part
        if target.exists() and part not in ours and (not target.is_dir()
                                                      or any(target.iterdir())):
            raise PublishError(f"{target} exists and was not written by training.publish "
                               f"(no {MARKER} naming it in {out_dir}): remove it or choose "
                               "another --dry-run folder")


def dry_run(repo_root: Path, out_dir: Path, model_repo: str | None,
            space_repo: str | None) -> dict[str, Path]:
    """Writes the folders to ``out_dir/model`` and ``out_dir/space``: built in a temporary
    folder beside ``out_dir`` and renamed into place at the end, so that a failure leaves the
    earlier dry run (or nothing) rather than a half-written one."""
    out_dir = out_dir.resolve()
    wanted = [p for p, repo in (("model", model_repo), ("space", space_repo)) if repo]
    check_replaceable(out_dir, wanted)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-publish-", dir=out_dir.parent))
    except OSError as exc:
        raise PublishError(f"cannot write beside {out_dir}: {exc}") from exc
    try:
        built = build(repo_root, staging / "new", model_repo, space_repo)
        out_dir.mkdir(exist_ok=True)
        check_replaceable(out_dir, built)  # again: another process may have written meanwhile
        (staging / "old").mkdir()
        for part, folder in built.items():
            if (out_dir / part).exists():
                (out_dir / part).rename(staging / "old" / part)
            folder.rename(out_dir / part)
        marker = staging / MARKER
        marker.write_text(json.dumps({"tool": "python -m training.publish",
                                      "parts": sorted(_ours(out_dir) | set(built))}) + "\n")
        os.replace(marker, out_dir / MARKER)
    except OSError as exc:
        raise PublishError(f"could not write {out_dir}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {part: out_dir / part for part in built}


# ------------------------------------------------------------------------------------- upload


def upload(folder: Path, repo_id: str, repo_type: str, *, private: bool, message: str,
           api) -> str:
    """Creates the repo if needed and commits the folder in one commit; returns its URL.

    The Space's files are mirrored (``delete_patterns="*"``: a module removed here is removed
    there, or it would still be imported); the model repo only gains and updates files."""
    kwargs = {"space_sdk": "gradio"} if repo_type == "space" else {}
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, **kwargs)
    api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type=repo_type,
                      commit_message=message,
                      delete_patterns="*" if repo_type == "space" else None)
    prefix = "spaces/" if repo_type == "space" else ""
    return f"https://huggingface.co/{prefix}{repo_id}"


def publish(repo_root: Path, model_repo: str | None, space_repo: str | None, *,
            private: bool) -> list[str]:
    """Builds the folders in a temporary directory and uploads them (the model first: the Space
    names it); returns the repos' URLs. A failed Hub call is a PublishError saying which repo
    and what was already uploaded."""
    import huggingface_hub

    api = huggingface_hub.HfApi()
    done: list[str] = []
    with tempfile.TemporaryDirectory(prefix="unet-publish-") as tmp:
        built = build(repo_root, Path(tmp), model_repo, space_repo)
        versions = ", ".join(str(c.get("version")) for c in
                             model_cards(repo_root / "weights").values())
        for part, repo_id, repo_type, message in (
                ("model", model_repo, "model", f"Upload the models ({versions})"),
                ("space", space_repo, "space", f"Upload the app (models {versions})")):
            if part not in built:
                continue
            try:
                done.append(upload(built[part], repo_id, repo_type, private=private,
                                   message=message, api=api))
            except network_errors() as exc:
                already = f" (already uploaded: {', '.join(done)})" if done else ""
                reason = (str(exc).strip().splitlines() or ["no message"])[0].rstrip(".")
                raise PublishError(
                    f"could not upload the {part} to the Hub repo {repo_id}: "
                    f"{type(exc).__name__}: {reason}{already}. Check the network "
                    "and your token (`hf auth login`, or HF_TOKEN), or write the folders with "
                    "--dry-run DIR and push them with git") from exc
    return done


# --------------------------------------------------------------------------------------- main


def repo_id(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*", text) or ".." in text:
        raise argparse.ArgumentTypeError(f"expected USER/NAME, got {text!r}")
    return text


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m training.publish",
        description="Upload the bundled models (a model repo) and the app (a Gradio Space) to "
                    "the Hugging Face Hub, or write what would be uploaded (--dry-run).")
    p.add_argument("--model-repo", type=repo_id, metavar="USER/NAME",
                   help="the model repo: weights/*.keras, *.tflite, *.json and a model card")
    p.add_argument("--space-repo", type=repo_id, metavar="USER/NAME",
                   help="the Space: the app, its packages, weights and examples (files no "
                        "longer in the app are deleted from the Space)")
    p.add_argument("--private", action="store_true", help="create the repos as private")
    p.add_argument("--dry-run", type=Path, metavar="DIR",
                   help="write DIR/model and DIR/space instead of uploading (the repo names "
                        "are still needed: the cards name them; any USER/NAME will do)")
    args = p.parse_args(argv)
    if not (args.model_repo or args.space_repo):
        p.error("give --model-repo, --space-repo or both")
    return args


def main(argv=None, repo_root: Path = REPO_ROOT) -> int:
    args = parse_args(argv)
    try:
        if args.dry_run is not None:
            for part, folder in dry_run(repo_root, args.dry_run, args.model_repo,
                                        args.space_repo).items():
                print(f"{part}: {folder}")
            return 0
        for url in publish(repo_root, args.model_repo, args.space_repo, private=args.private):
            print(f"uploaded {url}")
        return 0
    except PublishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
