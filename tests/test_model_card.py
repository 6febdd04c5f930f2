from types import SimpleNamespace

from unet.model_card import card_markdown
from unet.registry import get_organ


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
    assert "Dataset_BUSI_with_GT (busi, 10 files) + BUSBRA (busbra, 20 files)" in text
    assert "EfficientNet-Lite0 encoder" in text
    assert "| Test split: BUSBRA | 2 | 0.850 |" in text
    assert "| Test split: GE Logiq 5 | 1 | 0.900 |" in text
    one = {**card, "dataset": {"name": "thyroidultrasound", "layout": "p_image+p_mask",
                               "file_count": 4}}
    assert "thyroidultrasound (p_image+p_mask, 4 files)" in card_markdown(
        SimpleNamespace(card=one, source="file"), get_organ("thyroid"))
