import numpy as np
import pytest

from tests.helpers import texture
from training.augment import AugmentConfig, augment, lose_resolution
from training.lesion_free_crops import lesion_free_crop
from training.pipeline import CachedSplit, SegmentationBatches, draws_per_item, epoch_plan


def blob_pair(size=64):
    image = np.full((size, size), 0.2, np.float32)
    mask = np.zeros((size, size), np.float32)
    mask[20:36, 10:26] = 1.0
    image[mask > 0] = 0.9  # a bright square the mask outlines
    return image, mask


def test_geometry_is_shared_and_the_mask_stays_binary():
    image, mask = blob_pair()
    cfg = AugmentConfig(gain_range=(1, 1), contrast_range=(1, 1), gamma_range=(1, 1),
                        depth_gain=0.0, speckle_sigma=0.0, blur_probability=0.0)
    for seed in range(10):
        out_img, out_mask = augment(image, mask, cfg, np.random.default_rng(seed))
        assert set(np.unique(out_mask)) <= {0.0, 1.0}
        assert out_mask.sum() > 0.5 * mask.sum()
        inside = out_img[out_mask > 0].mean()
        outside = out_img[(out_mask == 0) & (out_img > 0)].mean()
        assert inside > 0.7 > 0.35 > outside  # the mask moved with the square


def test_augment_is_repeatable_per_seed_and_varies_across_seeds():
    image, mask = blob_pair()
    a = augment(image, mask, AugmentConfig(), np.random.default_rng(3))
    b = augment(image, mask, AugmentConfig(), np.random.default_rng(3))
    c = augment(image, mask, AugmentConfig(), np.random.default_rng(4))
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[0], c[0])
    assert a[0].dtype == np.float32 and 0.0 <= a[0].min() and a[0].max() <= 1.0


def test_lesion_free_crop_keeps_away_from_the_lesion():
    gray = np.arange(200 * 300, dtype=np.uint32).reshape(200, 300).astype(np.uint8)
    mask = np.zeros((200, 300), bool)
    mask[80:120, 200:250] = True  # lesion on the right: the crop is the left part
    crop = lesion_free_crop(gray, mask)
    assert crop is not None and crop.size >= 0.3 * gray.size
    assert np.array_equal(crop, gray[: crop.shape[0], : crop.shape[1]]) or crop.shape[0] < 200
    big = np.ones((200, 300), bool)
    assert lesion_free_crop(gray, big) is None  # nowhere to cut
    assert lesion_free_crop(gray, np.zeros_like(mask)) is None  # not a lesion image


def test_epoch_draws_lesion_free_images_more_often_and_adds_crops():
    masks = np.zeros((6, 8, 8), np.uint8)
    masks[:4, 2:5, 2:5] = 255  # 4 lesion images, 2 lesion-free
    split = CachedSplit(np.zeros((6, 8, 8), np.uint8), masks, [str(i) for i in range(6)])
    crops = CachedSplit(np.zeros((5, 8, 8), np.uint8), np.zeros((5, 8, 8), np.uint8),
                        [f"c{i}" for i in range(5)])
    plan = epoch_plan(split, crops, negative_repeat=3, crops_per_epoch=2,
                      rng=np.random.default_rng(0))
    assert len(plan) == 4 + 2 * 3 + 2
    assert sum(1 for src, i in plan if src == 0 and i == 5) == 3
    assert sum(1 for src, _ in plan if src == 1) == 2
    batches = SegmentationBatches(split, batch_size=4, training=True, crops=crops,
                                  negative_repeat=3, crops_per_epoch=2, seed=1)
    x, y = batches[0]
    assert x.shape == (4, 8, 8, 1) and y.shape == (4, 8, 8, 1)
    assert len(batches) == 3
    x2, _ = SegmentationBatches(split, batch_size=4, training=True, crops=crops,
                                negative_repeat=3, crops_per_epoch=2, seed=1)[0]
    assert np.array_equal(x, x2)  # repeatable


def test_a_data_set_drawn_twice_keeps_its_share_of_lesion_free_images():
    masks = np.zeros((6, 8, 8), np.uint8)
    masks[[0, 1, 3, 4], 2:5, 2:5] = 255  # items 2 and 5 are lesion-free
    sources = ["small", "small", "small", "large", "large", "large"]
    split = CachedSplit(np.zeros((6, 8, 8), np.uint8), masks, [str(i) for i in range(6)], sources)
    draws = draws_per_item(split, negative_repeat=3, dataset_repeat={"small": 2})
    assert draws.tolist() == [2, 2, 6, 1, 1, 3]
    plan = epoch_plan(split, None, negative_repeat=3, crops_per_epoch=0,
                      rng=np.random.default_rng(0), dataset_repeat={"small": 2})
    assert sorted(i for _, i in plan) == [0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 3, 4, 5, 5, 5]
    # without a repeat the epoch is the one the bundled weights were trained with
    plain = epoch_plan(split, None, negative_repeat=3, crops_per_epoch=0,
                       rng=np.random.default_rng(0))
    assert plain == epoch_plan(split, None, negative_repeat=3, crops_per_epoch=0,
                               rng=np.random.default_rng(0), dataset_repeat={})
    unnamed = CachedSplit(split.images, masks, split.keys)
    with pytest.raises(ValueError, match="data set"):
        draws_per_item(unnamed, negative_repeat=1, dataset_repeat={"small": 2})


def test_dataset_repeat_option_is_parsed_and_checked():
    from training.run import parse_args

    args = parse_args(["--organ", "breast", "--data-dir", "d",
                       "--dataset-repeat", "Dataset_BUSI_with_GT=2"])
    assert args.dataset_repeat == [("Dataset_BUSI_with_GT", 2)]
    for bad in ("BUSI", "BUSI=0", "=2", "BUSI=x"):
        with pytest.raises(SystemExit):
            parse_args(["--organ", "breast", "--data-dir", "d", "--dataset-repeat", bad])


def test_resolution_loss_removes_fine_texture_and_keeps_the_rest():
    rng = np.random.default_rng(0)
    image, mask = blob_pair(96)
    speckled = np.clip(image * (1 + 0.3 * rng.standard_normal(image.shape)), 0, 1).astype(
        np.float32)
    low = lose_resolution(speckled, 0.5)
    assert low.shape == speckled.shape and low.dtype == np.float32
    assert 0.0 <= low.min() and low.max() <= 1.0
    assert texture(low) < 0.3 * texture(speckled)  # the speckle's fine grain is gone
    inner = (slice(23, 33), slice(13, 23))  # the lesion's inside, away from its blurred edge
    assert abs(low[inner].mean() - speckled[inner].mean()) < 0.03  # the lesion is not
    # in augmentation: same geometry and mask as without it; the image loses detail
    on = AugmentConfig(resolution_loss_probability=1.0, resolution_loss_range=(0.5, 0.5))
    for seed in range(3):
        plain = augment(speckled, mask, AugmentConfig(), np.random.default_rng(seed))
        lossy = augment(speckled, mask, on, np.random.default_rng(seed))
        assert np.array_equal(plain[1], lossy[1])
        assert np.allclose(lose_resolution(plain[0], 0.5), lossy[0], atol=1e-6)


def test_no_resolution_loss_leaves_the_random_stream_alone():
    image, mask = blob_pair()
    off = AugmentConfig(resolution_loss_probability=0.0)
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    augment(image, mask, AugmentConfig(), rng_a)
    augment(image, mask, off, rng_b)
    assert rng_a.uniform() == rng_b.uniform()  # the next draw too: nothing extra was drawn


def test_resolution_loss_option_is_parsed_and_checked():
    from training.run import parse_args

    base = ["--organ", "breast", "--data-dir", "d"]
    assert parse_args(base).resolution_loss is None  # the recipe's
    assert parse_args([*base, "--resolution-loss", "0.3"]).resolution_loss == 0.3
    for bad in ("-0.1", "1.5", "x"):
        with pytest.raises(SystemExit):
            parse_args([*base, "--resolution-loss", bad])
