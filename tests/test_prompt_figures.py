"""The figures told beside a guided answer come from the card that measured prompts outlined
the same way (``unet.inference.prompt_figures``): the network's own column, its training-free
column, the box card's click column where no click network is bundled, and none where a kind
of prompt was answered both ways or nothing measured it."""

import json
from types import SimpleNamespace

from unet.inference.prompt_figures import prompt_test_figures
from webapp.summary import prompt_figure_text


def _block(dice):
    return {"dice_mean": dice, "dice_ci95": [dice - 0.02, dice + 0.02], "below_0_5": 0.01}


def _card(version, **columns):
    return {"version": version, "test": {
        "all": {"images": 40, **{k: _block(v) for k, v in columns.items()}},
        "per_dataset": {"A": {"images": 30, **{k: _block(v - 0.01) for k, v in columns.items()}},
                        "B": {"images": 10, **{k: _block(v + 0.03) for k, v in columns.items()}}}}}


BOX = SimpleNamespace(card=_card("box-9", box=0.91, box_training_free=0.85, click=0.78))
CLICK = SimpleNamespace(card=_card("click-9", click=0.87, click_training_free=0.80))


def test_each_way_of_outlining_takes_its_own_column():
    both = SimpleNamespace(box_network=BOX, click_network=CLICK)
    figures = prompt_test_figures(both, {"box": ["network"], "click": ["network", "network"]})
    assert figures["box"]["dice_mean"] == 0.91 and figures["box"]["card_version"] == "box-9"
    assert figures["click"]["dice_mean"] == 0.87 and figures["click"]["images"] == 40
    assert figures["click"]["per_dataset"] == {"A": 0.86, "B": 0.9}
    fallback = prompt_test_figures(both, {"box": ["training-free"], "click": ["training-free"]})
    assert fallback["box"]["dice_mean"] == 0.85 and fallback["click"]["dice_mean"] == 0.80


def test_without_a_click_network_a_click_takes_the_box_cards_click_column(tmp_path):
    (tmp_path / "thyroid_box.json").write_text(json.dumps(BOX.card))
    box_only = SimpleNamespace(box_network=BOX, click_network=None,
                               box_weights=tmp_path / "thyroid_box.keras")
    figures = prompt_test_figures(box_only, {"box": [], "click": ["training-free"]})
    assert set(figures) == {"click"} and figures["click"]["dice_mean"] == 0.78
    assert figures["click"]["card_version"] == "box-9"


def test_no_figure_where_nothing_measured_the_way_a_prompt_was_outlined():
    none = SimpleNamespace(box_network=None, click_network=None)
    assert prompt_test_figures(none, {"box": ["training-free"], "click": ["training-free"]}) == {}
    both = SimpleNamespace(box_network=BOX, click_network=CLICK)
    mixed = prompt_test_figures(both, {"box": ["network", "training-free"], "click": []})
    assert mixed == {}  # two boxes answered two ways: neither column describes them
    assert prompt_figure_text({"prompted_outline_test": mixed}) == ""


def test_the_summary_says_the_figures_in_words():
    both = SimpleNamespace(box_network=BOX, click_network=CLICK)
    figures = prompt_test_figures(both, {"box": ["network"], "click": ["network"]})
    text = prompt_figure_text({"prompted_outline_test": figures})
    assert "held-back test scans" in text
    assert ("from a box drawn close around the lesion (each side within 10 % of its size) "
            "matched the expert's with Dice 0.91 on average (0.90-0.94 by data set)") \
        in text
    assert "from a click on the lesion's middle, 0.87 (0.86-0.90 by data set)" in text
