"""An organ's model card (data, test metrics, operating point, limits) as Markdown."""

from __future__ import annotations

from unet.inference.public_data import published_name
from unet.inference.registry import OrganConfig
from unet.inference.segmenter import Segmenter


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _percent(value, *, unit: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{100 * float(value):.1f}" + (" %" if unit else "")


def _with_interval(value, interval, show) -> str:
    """'0.746 (0.684-0.803)': the figure, shown by ``show``, and its 95 % interval where the card
    has one."""
    if value is None or not interval or len(interval) != 2:
        return show(value)
    return f"{show(value)} ({show(interval[0])}-{show(interval[1])})"


_SET_NAMES = {"test": "Test split", "test_raw_frames": "Test split, uncropped scanner frames"}
_ARCHITECTURES = {"efficientnet_unet": "U-Net on an EfficientNet-Lite0 encoder",
                  "unet": "U-Net trained from scratch"}


def _data_text(data: dict) -> str:
    """'DDTI (folder thyroidultrasound, p_image+p_mask, 1082 files)' for a known public data
    set; an unknown one by its folder's name."""
    folder = data.get("name")
    details = f"{_fmt(data.get('layout'))}, {_fmt(data.get('file_count'))} files"
    name = published_name(folder) if isinstance(folder, str) else folder
    return (f"{_fmt(folder)} ({details})" if name == folder
            else f"{name} (folder {folder}, {details})")


def _set_name(key: str) -> str:
    """`test:BUSBRA` -> 'Test split: BUS-BRA' (per data set or scanner)."""
    if key in _SET_NAMES:
        return _SET_NAMES[key]
    if key.startswith("test:"):
        name = key.split(":", 1)[1]
        return "Test split: " + published_name(name)
    return key


_PROMPT_COLUMNS = (("automatic", "Automatic"), ("box", "Box"),
                   ("box_training_free", "Box, automatic model only"), ("click", "Click"),
                   ("click_training_free", "Click, automatic model only"))


def prompt_lines(segmenter: Segmenter) -> list[str]:
    """The prompted networks' cards: how a user's box and click score on the test split, beside
    the automatic answer; [] where the organ bundles none."""
    lines = []
    for prompt in ("box", "click"):
        weights = getattr(segmenter, f"{prompt}_weights", None)
        if weights is not None and weights.is_file():
            lines += _prompt_card_lines(prompt, weights)
    return lines


def _prompt_card_lines(prompt: str, weights) -> list[str]:
    from unet.inference.settings import read_card

    card = read_card(weights)
    test = card.get("test") or {}
    if not test.get("all"):
        return []
    # in a box network's card, "click" is the click answered by the automatic model (measured
    # there before a click network existed): named so, beside the click network's own table
    columns = [(k, "Click, automatic model only" if (k, prompt) == ("click", "box") else name)
               for k, name in _PROMPT_COLUMNS if k in test["all"]]

    def row(name, block):
        cells = " | ".join(
            f"{_with_interval(block[k]['dice_mean'], block[k].get('dice_ci95'), _fmt)}; "
            f"{_percent(block[k]['below_0_5'], unit=True)} below 0.5" for k, _ in columns)
        return f"| {name} | {block['images']} | {cells} |"

    lines = ["", f"#### When you guide the outline ({prompt} network `{weights.name}`, version "
             f"`{_fmt(card.get('version'))}`)", "",
             "Dice on the test split's lesion images, with the user simulated from the expert "
             "outline: a box around each lesion with every side moved by up to 10 % of its "
             "size, or a click on its most interior point. In brackets: 95 % bootstrap "
             "interval.", "",
             "| Set | Images | " + " | ".join(name for _, name in columns) + " |",
             "|---|---|" + "---|" * len(columns), row("All", test["all"])]
    for group in ("per_dataset", "per_scanner"):
        lines += [row(published_name(name), block)
                  for name, block in (test.get(group) or {}).items()]
    return lines


def card_markdown(segmenter: Segmenter | None, organ: OrganConfig,
                  problem: str | None = None) -> str:
    """The organ's model card (data, test metrics, limits) as Markdown."""
    title = f"### Model card: {organ.display_name}"
    limits = [
        "#### Limits",
        "- A research and teaching demo, **not a medical device and not for diagnosis**.",
        "- Trained on public data sets (see Data); scanners, presets and patients unlike them may "
        "give wrong masks without warning.",
        "- The quality estimate predicts the overlap with an expert outline from the model's own "
        "signals; it is fitted on validation images and is not a guarantee.",
        "- Sizes are in millimetres only when the DICOM file states its pixel spacing or you type "
        "a scale; otherwise they are in pixels.",
    ]
    if segmenter is None:
        return "\n".join([title, "", f"**Not available:** {problem or 'no model loaded.'}", "",
                          *limits])
    card = segmenter.card or {}
    if not card:
        return "\n".join([
            title, "",
            f"**No model card found.** Weights: {segmenter.source}. Without a card this is "
            "most likely an untrained model: its masks are meaningless.", "", *limits])
    lines = [title, "", f"- **Version:** `{_fmt(card.get('version'))}`",
             f"- **Weights:** {segmenter.source}",
             f"- **Intended use:** {_fmt(card.get('intended_use'))}"]
    data = card.get("dataset") or []
    data = [data] if isinstance(data, dict) else data  # one data set, or several (breast)
    if data:
        lines.append("- **Data:** " + " + ".join(
            _data_text(d) for d in data if isinstance(d, dict)))
    if card.get("architecture"):
        network = _ARCHITECTURES.get(card["architecture"], card["architecture"])
        lines.append(f"- **Network:** {network}; encoder initialised from "
                     f"{_fmt(card.get('encoder_init'))}")
    split = card.get("split") or {}
    counts = split.get("counts") or {}
    if counts:
        lines.append("- **Split (images):** " + ", ".join(f"{k} {v}" for k, v in counts.items())
                     + (f"; grouped by {split['grouping']}" if split.get("grouping") else ""))
    if card.get("parameters"):
        lines.append(f"- **Parameters:** {int(card['parameters']):,}")
    inference = card.get("inference") or {}
    if inference:
        lines.append(f"- **Inference:** input {_fmt(inference.get('input_size'))} px, default "
                     f"threshold {_fmt(inference.get('threshold'), 2)}, test-time augmentation "
                     f"{', '.join(inference.get('test_time_augmentation') or []) or 'none'}")
        point = inference.get("operating_point") or {}
        if point:
            area = point.get("min_lesion_area_fraction")
            lines.append(
                f"- **Operating point** (chosen on the validation split, never on test): "
                f"threshold {_fmt(point.get('threshold'), 2)}, smallest lesion "
                f"{'n/a' if area is None else f'{100 * area:.1f} %'} of the image, minimum "
                f"peak probability {_fmt(point.get('min_peak_probability'), 2)}; validation "
                f"Dice {_fmt(point.get('val_dice'))}, false alarms on lesion-free validation "
                f"images {_percent(point.get('val_fp_rate'), unit=True)}")
    metrics = card.get("test_metrics") or {}
    if metrics:
        lines += ["", "#### Test metrics (held-out test split)", "",
                  "| Set | Images | Dice (mean, 0-1) | IoU (mean, 0-1) | Precision (0-1) | "
                  "Recall (0-1) | HD95 (px) | Missed lesions (%) | False alarms on lesion-free "
                  "images (%) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, m in metrics.items():
            if not isinstance(m, dict):
                continue
            dice, missed, alarms = (
                _with_interval(m.get(key), m.get(f"{key}_ci95"), show)
                for key, show in (("dice_mean", _fmt), ("missed_lesion_rate", _percent),
                                  ("false_positive_rate_lesion_free", _percent)))
            lines.append(
                f"| {_set_name(name)} | {_fmt(m.get('images'))} | {dice} | "
                f"{_fmt(m.get('iou_mean'))} | "
                f"{_fmt(m.get('precision_mean'))} | {_fmt(m.get('recall_mean'))} | "
                f"{_fmt(m.get('hd95_px_mean'), 1)} | {missed} | {alarms} |")
        if any(isinstance(m, dict) and m.get("dice_mean_ci95") for m in metrics.values()):
            lines += ["", "In brackets: the 95 % interval (Dice: bootstrap over the set's "
                      "images; shares: Wilson score). A set of tens of images pins a figure "
                      "down only that far."]
    lines += prompt_lines(segmenter)
    extra = card.get("limitations") or card.get("limits")
    if isinstance(extra, str):
        limits.append(f"- {extra}")
    elif isinstance(extra, list):
        limits += [f"- {item}" for item in extra]
    return "\n".join([*lines, "", *limits])
