"""The presence term charges a confident blob on a lesion-free scan per image."""

import numpy as np
import pytest

from training.losses import BceDiceLoss, peak_probability, presence_loss


def _maps():
    truth = np.zeros((2, 32, 32, 1), "float32")
    truth[0, 8:20, 8:20] = 1.0  # a lesion image and a lesion-free scan
    quiet = np.full((2, 32, 32, 1), 0.02, "float32")
    quiet[0, 8:20, 8:20] = 0.95
    blob = quiet.copy()
    blob[1, 2:6, 2:6] = 0.97  # 16 confident pixels on the lesion-free scan
    return truth, quiet, blob


def test_peak_probability_is_the_top_pixels_mean():
    _, quiet, blob = _maps()
    assert np.asarray(peak_probability(blob)) == pytest.approx([0.95, 0.97], abs=1e-6)
    assert np.asarray(peak_probability(quiet)) == pytest.approx([0.95, 0.02], abs=1e-6)


def test_presence_term_charges_a_false_blob_far_more_than_pixel_bce():
    truth, quiet, blob = _maps()
    assert float(presence_loss(truth, blob)) > float(presence_loss(truth, quiet)) + 1.0
    plain, with_presence = BceDiceLoss(), BceDiceLoss(presence_weight=0.5)
    pixel_rise = float(plain(truth, blob)) - float(plain(truth, quiet))
    rise = float(with_presence(truth, blob)) - float(with_presence(truth, quiet))
    assert rise > 10 * pixel_rise


def test_loss_config_round_trip_keeps_the_presence_weight():
    loss = BceDiceLoss(presence_weight=0.5)
    again = BceDiceLoss.from_config(loss.get_config())
    truth, _, blob = _maps()
    assert again.presence_weight == 0.5
    assert float(again(truth, blob)) == pytest.approx(float(loss(truth, blob)))
