"""The organ check: encoder layer choice, a fitted classifier on synthetic data, the card."""

import json

import cv2
import keras
import numpy as np
import pytest

from tests.helpers import fresh_segmenter
from training.trust_data import organ_features, synthetic_negatives
from training.trust_fit import fit_organ_check
from unet.inference.registry import get_organ
from unet.testing.phantom import make_phantom
from unet.trust import organ_check as OC
from unet.trust.quality import assess

S = 64


def _document(h=300, w=420, seed=0):
    rng = np.random.default_rng(seed)
    page = np.full((h, w), 245, np.uint8)
    for i, y in enumerate(range(30, h - 10, 26)):
        text = "".join(rng.choice(list("abcdefghij klmnop 0123"), 30 - i % 7))
        cv2.putText(page, text, (12, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 20, 1)
    return page


def test_encoder_layer_is_named_or_the_deepest():
    inp = keras.Input((32, 32, 1))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="down")(inp)
    enc = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="encoder_features")(x)
    deeper = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="deeper")(enc)
    up = keras.layers.UpSampling2D(8, name="up")(deeper)
    out = keras.layers.Conv2D(1, 1, activation="sigmoid", name="probability")(up)
    named = keras.Model(inp, out)
    assert OC.encoder_layer_name(named) == "encoder_features"

    unnamed = fresh_segmenter("breast", S).model
    name = OC.encoder_layer_name(unnamed)
    area = int(np.prod(unnamed.get_layer(name).output.shape[1:3]))
    smallest = min(int(np.prod(la.output.shape[1:3])) for la in unnamed.layers
                   if len(la.output.shape) == 4)
    assert area == smallest
    f = OC.pooled_encoder_features(unnamed, np.zeros((2, S, S, 1), np.float32))
    assert f.shape == (2, 2 * unnamed.get_layer(name).output.shape[-1])


def test_image_statistics_tell_a_scan_from_a_document():
    scan, _ = make_phantom(200, 260, seed=1)
    s_scan, s_doc = OC.image_statistics(scan), OC.image_statistics(_document())
    assert s_scan.shape == (len(OC.IMAGE_STAT_NAMES),) and np.isfinite(s_scan).all()
    flat = OC.IMAGE_STAT_NAMES.index("flat_fraction")
    assert s_doc[flat] > s_scan[flat] + 0.3


@pytest.fixture(scope="module")
def fitted():
    """A check fitted on phantoms (breast), flipped-contrast phantoms (thyroid) and synthetic
    non-ultrasound pictures, through a small untrained model: independent of the weights."""
    seg = fresh_segmenter("breast", S)
    layer = OC.encoder_layer_name(seg.model)
    breast = [make_phantom(120, 160, seed=i)[0] for i in range(24)]
    thyroid = [255 - make_phantom(160, 120, seed=100 + i)[0] for i in range(24)]
    feats = {"breast": organ_features(seg, breast, layer),
             "thyroid": organ_features(seg, thyroid, layer),
             OC.OTHER: organ_features(seg, synthetic_negatives(42, 1), layer)}
    return seg, fit_organ_check("breast", layer, feats, 1e-2)


def test_fitted_check_flags_a_document_and_passes_a_scan(fitted):
    seg, check = fitted
    layer = check.layer
    doc = organ_features(seg, [_document(seed=5)], layer)[0]
    flagged, text, probs = check.verdict(doc)
    assert flagged and text.startswith("This does not look like an ultrasound scan")
    assert probs[OC.OTHER] == max(probs.values())
    scan = organ_features(seg, [make_phantom(120, 160, seed=77)[0]], layer)[0]
    flagged, text, _ = check.verdict(scan)
    assert not flagged and text is None


def test_card_round_trip_and_assess_warns(fitted, tmp_path):
    seg, check = fitted
    card = json.loads(json.dumps({OC.CARD_KEY: check.to_card()}))
    loaded = OC.OrganCheck.from_card(card)
    x = organ_features(seg, [_document(seed=6)], check.layer)[0]
    np.testing.assert_allclose(loaded.probabilities(x), check.probabilities(x), atol=1e-4)
    assert OC.OrganCheck.from_card({}) is None

    seg.card = card
    result = assess(seg, seg.segment(_document(seed=7)))
    assert result.quality is None  # no quality estimate in this card
    assert result.organ_warning and "ultrasound" in result.organ_warning


def test_warning_words():
    assert OC.warning_text("thyroid", "breast").startswith(
        "This looks like a thyroid scan: switch to the thyroid model?")
    assert "does not look like an ultrasound scan" in OC.warning_text(OC.OTHER, "breast")


@pytest.mark.parametrize("organ", ["breast", "thyroid"])
def test_bundled_check_if_fitted_flags_a_document(organ):
    card = json.loads(get_organ(organ).card_path.read_text())
    if OC.OrganCheck.from_card(card) is None:
        pytest.skip(f"the {organ} card has no fitted organ check")
    from unet.inference.segmenter import Segmenter

    seg = Segmenter(organ)
    result = assess(seg, seg.segment(_document(seed=8)))
    assert result.organ_warning is not None


def test_margin_holds_each_validation_set_under_the_share_with_confidence():
    from training.intervals import wilson_upper
    from training.trust_fit import _margin_for

    rng = np.random.default_rng(0)
    odds = np.concatenate([rng.uniform(1, 5, 90), -rng.uniform(0.5, 4, 10)])  # 10 % below 0
    m = _margin_for(odds, 0.05)
    flagged = int((odds < -m).sum())
    assert wilson_upper(flagged, len(odds)) <= 0.05 < wilson_upper(flagged + 1, len(odds))
    assert 0 < flagged < 10  # some stay flagged: the margin is the smallest that qualifies
    assert _margin_for(np.abs(odds), 0.05) == 0.0  # nothing flagged at margin 0: no margin
