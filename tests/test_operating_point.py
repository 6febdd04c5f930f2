import json

import numpy as np

from unet.inference.registry import get_organ
from unet.inference.segmenter import Segmenter
from unet.networks.unet import build_unet
from unet.transforms.postprocess import clean_mask, remove_faint_components


def test_faint_components_are_dropped_bright_ones_kept():
    prob = np.zeros((40, 40), np.float32)
    prob[5:15, 5:15] = 0.55  # a faint blob: above threshold, peak 0.55
    prob[20:35, 20:35] = 0.6
    prob[27, 27] = 0.97  # a lesion with a confident core
    mask = clean_mask(prob, 0.5, min_peak=0.9)
    assert not mask[5:15, 5:15].any() and mask[20:35, 20:35].all()
    assert clean_mask(prob, 0.5, min_peak=0.0)[5:15, 5:15].all()
    assert not remove_faint_components(prob > 0.5, prob, 0.99).any()


def test_segmenter_takes_the_operating_point_from_the_card(tmp_path):
    organ = get_organ("thyroid")
    path = tmp_path / "thyroid.keras"
    build_unet(32, depth=2, base_filters=4).save(path)
    card = {"version": "thyroid-test", "inference": {
        "threshold": 0.6, "min_lesion_area_fraction": 0.01, "min_peak_probability": 0.8}}
    path.with_suffix(".json").write_text(json.dumps(card))
    # the card is read whichever engine runs the model: the Keras one spares a conversion
    seg = Segmenter(organ, weights=path, engine="keras")
    assert (seg.threshold, seg.min_area_fraction, seg.min_peak) == (0.6, 0.01, 0.8)
    assert seg.version == "thyroid-test"
    result = seg.segment(np.full((50, 60), 90, np.uint8))
    assert result.threshold == 0.6 and result.min_peak == 0.8 and result.min_area_px == 30
