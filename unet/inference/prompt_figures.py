"""What a guided outline is worth: the test figures the cards measured for the way the user's
prompts were outlined, told beside a guided answer (the quality estimate is the automatic
mask's, so without these the user has no figure for the outline they see).

The figures are the test split's, with the user simulated from the expert outline (a box with
every side moved by up to 10 % of its size, a click on the lesion's most interior point;
``training/prompt_evaluation.py``):

* a box outlined by the box network: the box network's card, column ``box``; by the training-
  free path (no box network bundled, or it found nothing): ``box_training_free`` where a box
  card measured it;
* a lesion click outlined by the click network: the click network's card, column ``click``; by
  the training-free path: its card's ``click_training_free``, or, where the organ bundles no
  click network, the box card's ``click`` (measured through the app's path, which then was the
  training-free one).

Prompts of one kind answered both ways (a network and, where it found nothing, the fallback)
get no figure: neither column describes them.
"""

from __future__ import annotations

from unet.inference.settings import read_card

KINDS = ("box", "click")


def _column(segmenter, kind: str, path: str) -> tuple[dict, str] | None:
    """(the card, the column) that measured prompts of ``kind`` outlined by ``path``."""
    network = getattr(segmenter, f"{kind}_network", None)
    if path == "network":
        return None if network is None else (network.card, kind)
    if network is not None:
        return network.card, f"{kind}_training_free"
    # no network of the kind: the box card measured the training-free path (read from the file:
    # a click does not load the box network just for its card)
    card = read_card(getattr(segmenter, "box_weights", None))
    return (card, "box_training_free" if kind == "box" else "click") if card else None


def prompt_test_figures(segmenter, used: dict[str, list[str]]) -> dict:
    """Per prompt kind used ("box", "click"), the test figures of that way of outlining it:
    ``{"dice_mean", "dice_ci95", "below_0_5", "images", "per_dataset": {name: dice_mean},
    "card_version"}`` (the card that measured them); a kind without a measured figure is left
    out."""
    figures = {}
    for kind in KINDS:
        paths = set(used.get(kind) or ())
        if len(paths) != 1:
            continue
        found = _column(segmenter, kind, paths.pop())
        if found is None:
            continue
        card, column = found
        test = card.get("test") if isinstance(card, dict) else None
        block = (test or {}).get("all") or {}
        if not isinstance(block.get(column), dict):
            continue
        figures[kind] = {
            **{k: block[column].get(k) for k in ("dice_mean", "dice_ci95", "below_0_5")},
            "images": block.get("images"),
            "per_dataset": {name: part[column]["dice_mean"]
                            for name, part in (test.get("per_dataset") or {}).items()
                            if isinstance(part.get(column), dict)},
            "card_version": card.get("version"),
        }
    return figures
