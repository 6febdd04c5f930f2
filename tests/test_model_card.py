from types import SimpleNamespace

from unet.inference.registry import get_organ
from webapp.model_card import card_markdown


def test_card_with_several_data_sets_and_per_scanner_metrics():
    card = {
        "version": "breast-x", "architecture": "efficientnet_unet", "encoder_init": "ImageNet",
        "dataset": [{"name": "Dataset_BUSI_with_GT", "layout": "busi", "file_count": 10},
                    {"name": "BUSBRA", "layout": "busbra", "file_count": 20}],
        "test_metrics": {"test": {"images": 3, "dice_mean": 0.8},
                         "test:BUSBRA": {"images": 2, "dice_mean": 0.85},
                         "test:GE Logiq 5": {"images": 1, "dice_mean": 0.9}},
    }
    text = card_markdown(SimpleNamespace(card=card, source="file"), get_organ("breast"))
    assert ("BUSI (folder Dataset_BUSI_with_GT, busi, 10 files) + BUS-BRA (folder BUSBRA, "
            "busbra, 20 files)") in text
    assert "EfficientNet-Lite0 encoder" in text
    assert "| Test split: BUS-BRA | 2 | 0.850 |" in text  # the name its paper gives it
    assert "| Test split: GE Logiq 5 | 1 | 0.900 |" in text
    one = {**card, "dataset": {"name": "thyroidultrasound", "layout": "p_image+p_mask",
                               "file_count": 4}}
    assert "DDTI (folder thyroidultrasound, p_image+p_mask, 4 files)" in card_markdown(
        SimpleNamespace(card=one, source="file"), get_organ("thyroid"))


def test_card_shows_the_95_percent_intervals_where_the_card_has_them():
    card = {"test_metrics": {
        "test:BUSI": {"images": 112, "dice_mean": 0.746, "dice_mean_ci95": [0.684, 0.803],
                      "missed_lesion_rate": 0.071, "missed_lesion_rate_ci95": [0.033, 0.147],
                      "false_positive_rate_lesion_free": 0.0714,
                      "false_positive_rate_lesion_free_ci95": [0.0198, 0.2264]},
        "test:old": {"images": 5, "dice_mean": 0.5}}}
    text = card_markdown(SimpleNamespace(card=card, source="file"), get_organ("breast"))
    assert "| Test split: BUSI | 112 | 0.746 (0.684-0.803) |" in text
    assert "| 7.1 (3.3-14.7) | 7.1 (2.0-22.6) |" in text
    assert "| Test split: old | 5 | 0.500 |" in text  # a card without intervals reads as before
    assert "95 % interval" in text


def test_card_lists_its_own_measured_limitations_under_the_general_ones():
    card = {"version": "breast-x",
            "limitations": ["Axillary lymph-node scans: found 0 of 4 on validation.",
                            "Second limit."]}
    text = card_markdown(SimpleNamespace(card=card, source="file"), get_organ("breast"))
    limits = text.split("#### Limits", 1)[1]
    assert "\n- Axillary lymph-node scans: found 0 of 4 on validation." in limits
    assert "\n- Second limit." in limits
    assert limits.index("not a medical device") < limits.index("Axillary")
    one = card_markdown(SimpleNamespace(card={"limitations": "One limit."}, source="file"),
                        get_organ("breast"))
    assert "\n- One limit." in one.split("#### Limits", 1)[1]
