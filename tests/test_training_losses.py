"""The presence term charges a confident blob on a lesion-free scan per image; the per-image Dice
term counts every lesion image once, whatever its lesion's size; the Lovász term is each lesion
image's Jaccard loss, exactly on a hard mask."""

import numpy as np
import pytest

from training.losses import (
    BceDiceLoss,
    lovasz_jaccard_per_image_loss,
    peak_probability,
    presence_loss,
    soft_dice_loss,
    soft_dice_per_image_loss,
)


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


def _large_found_small_missed():
    truth = np.zeros((3, 32, 32, 1), "float32")
    truth[0, 2:30, 2:30] = 1.0  # a large lesion, outlined exactly
    truth[1, 10:13, 10:13] = 1.0  # a 9-pixel lesion, missed
    pred = np.zeros_like(truth)  # the third image is lesion-free and left empty
    pred[0] = truth[0]
    return truth, pred


def test_per_image_dice_counts_a_missed_small_lesion_as_one_image_of_two():
    truth, pred = _large_found_small_missed()
    assert float(soft_dice_loss(truth, pred)) < 0.02  # the batch Dice barely notices it
    # image 0 loses 0, image 1 loses 1 - 1 / (9 + 1) = 0.9 (smooth 1), the lesion-free one nothing
    assert float(soft_dice_per_image_loss(truth, pred)) == pytest.approx(0.45, abs=1e-3)


def test_per_image_dice_ignores_lesion_free_images():
    truth, pred = _large_found_small_missed()
    blob = pred.copy()
    blob[2, 0:8, 0:8] = 0.9  # a false blob on the lesion-free image
    assert float(soft_dice_per_image_loss(truth, blob)) == pytest.approx(
        float(soft_dice_per_image_loss(truth, pred)), abs=1e-6)
    assert float(soft_dice_per_image_loss(np.zeros_like(truth), blob)) == 0.0


def test_loss_config_round_trip_keeps_the_dice_mode():
    truth, pred = _large_found_small_missed()
    loss = BceDiceLoss(dice_per_image=True)
    again = BceDiceLoss.from_config(loss.get_config())
    assert again.dice_per_image is True
    assert float(again(truth, pred)) == pytest.approx(float(loss(truth, pred)))
    assert float(loss(truth, pred)) > float(BceDiceLoss()(truth, pred)) + 0.3


def _square(shape, top, left, side):
    out = np.zeros(shape, "float32")
    out[top:top + side, left:left + side] = 1.0
    return out


def test_lovasz_equals_one_minus_iou_per_image_on_hard_masks():
    truth = np.stack([_square((32, 32, 1), 8, 8, 12), _square((32, 32, 1), 4, 4, 6)])
    pred = np.stack([_square((32, 32, 1), 11, 8, 12), _square((32, 32, 1), 20, 20, 5)])
    inter = (truth * pred).sum(axis=(1, 2, 3))
    iou = inter / (truth.sum(axis=(1, 2, 3)) + pred.sum(axis=(1, 2, 3)) - inter)
    assert iou[0] == pytest.approx(108 / 180) and iou[1] == 0.0
    assert float(lovasz_jaccard_per_image_loss(truth, pred)) == pytest.approx(
        float(np.mean(1 - iou)), abs=1e-6)
    assert float(lovasz_jaccard_per_image_loss(truth, truth)) == pytest.approx(0.0, abs=1e-7)


def test_lovasz_ignores_lesion_free_images_and_falls_as_the_outline_improves():
    truth = np.stack([_square((32, 32, 1), 8, 8, 12), np.zeros((32, 32, 1), "float32")])
    loose = np.full_like(truth, 0.3)
    loose[0, 8:20, 8:20] = 0.6
    tighter = loose.copy()
    tighter[0, 8:20, 8:20] = 0.8  # more sure inside the lesion
    tighter[0, 2:6, 2:6] = 0.1  # less sure outside it
    junk = tighter.copy()
    junk[1] = 0.99  # a lesion-free image painted over
    assert float(lovasz_jaccard_per_image_loss(truth, tighter)) < float(
        lovasz_jaccard_per_image_loss(truth, loose))
    assert float(lovasz_jaccard_per_image_loss(truth, junk)) == pytest.approx(
        float(lovasz_jaccard_per_image_loss(truth, tighter)), abs=1e-6)
    assert float(lovasz_jaccard_per_image_loss(np.zeros_like(truth), junk)) == 0.0


def test_loss_config_round_trip_keeps_the_lovasz_weight():
    truth, pred = _large_found_small_missed()
    loss = BceDiceLoss(lovasz_weight=1.0)
    again = BceDiceLoss.from_config(loss.get_config())
    assert again.lovasz_weight == 1.0
    assert float(again(truth, pred)) == pytest.approx(float(loss(truth, pred)))
    # the missed 9-pixel lesion costs its whole Jaccard (1) for one of two lesion images
    assert float(loss(truth, pred)) == pytest.approx(float(BceDiceLoss()(truth, pred)) + 0.5,
                                                     abs=1e-3)


def test_loss_weight_options_are_parsed_and_checked():
    from training.run import parse_args

    base = ["--organ", "breast", "--data-dir", "d"]
    args = parse_args(base)
    assert (args.presence_weight, args.lovasz_weight) == (None, None)  # the recipe's
    args = parse_args([*base, "--presence-weight", "0.25", "--lovasz-weight", "0"])
    assert (args.presence_weight, args.lovasz_weight) == (0.25, 0.0)
    for option in ("--presence-weight", "--lovasz-weight"):
        for bad in ("-1", "x", "inf", "nan"):
            with pytest.raises(SystemExit):
                parse_args([*base, option, bad])
