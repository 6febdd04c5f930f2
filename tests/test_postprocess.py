import numpy as np
import pytest

from unet.transforms.postprocess import (
    clean_mask,
    component_at,
    fill_holes,
    largest_component,
    min_area_from_fraction,
)


def ring(size=60, outer=20, inner=8):
    yy, xx = np.mgrid[:size, :size]
    r2 = (yy - size // 2) ** 2 + (xx - size // 2) ** 2
    return (r2 <= outer**2) & (r2 > inner**2)


def test_holes_filled():
    probability = ring().astype(np.float32)
    filled = clean_mask(probability, 0.5)
    assert filled[30, 30]  # the hole
    assert filled.sum() > ring().sum()
    kept = clean_mask(probability, 0.5, fill_holes=False)
    assert not kept[30, 30]
    assert np.array_equal(kept, ring())


def test_open_region_not_filled():
    mask = np.zeros((30, 30), bool)
    mask[5:25, 5:8] = mask[5:25, 20:23] = True  # two bars: the space between touches outside
    assert np.array_equal(fill_holes(mask), mask)


def test_small_components_dropped():
    probability = np.zeros((50, 50), np.float32)
    probability[5:25, 5:25] = 0.9  # 400 px
    probability[40:43, 40:43] = 0.9  # 9 px
    mask = clean_mask(probability, 0.5, min_area_px=10)
    assert mask[10, 10] and not mask[41, 41]
    assert mask.sum() == 400
    assert clean_mask(probability, 0.5, min_area_px=0).sum() == 409


def test_diagonal_pixels_are_one_component():
    probability = np.zeros((10, 10))
    for i in range(2, 8):
        probability[i, i] = 1.0  # 6 pixels touching diagonally only
    assert clean_mask(probability, 0.5, min_area_px=6).sum() == 6


def test_threshold_boundary_inclusive():
    probability = np.array([[0.49, 0.5, 0.51]], dtype=np.float32)
    assert clean_mask(probability, 0.5).tolist() == [[False, True, True]]
    assert clean_mask(probability, 0.52).sum() == 0


def test_empty_and_bad_input():
    assert not clean_mask(np.zeros((8, 8)), 0.5, min_area_px=3).any()
    with pytest.raises(ValueError):
        clean_mask(np.zeros((2, 8, 8)), 0.5)


def test_min_area_from_fraction():
    assert min_area_from_fraction((100, 200), 0.002) == 40
    assert min_area_from_fraction((10, 10, 3), 0.0) == 0
    with pytest.raises(ValueError):
        min_area_from_fraction((10, 10), -0.1)


def test_the_component_at_a_point_or_the_nearest_one_within_reach():
    mask = np.zeros((40, 60), bool)
    mask[5:15, 5:15] = True  # 100 px
    mask[20:35, 30:50] = True  # 300 px
    np.testing.assert_array_equal(component_at(mask, (8, 10)), mask & (np.arange(60) < 20))
    assert not component_at(mask, (25, 25)).any()  # background, no reach
    near = component_at(mask, (25, 25), max_distance=6.0)  # 5 px left of the large one
    assert near.sum() == 300 and near[25, 30]
    assert not component_at(mask, (25, 25), max_distance=4.0).any()
    assert largest_component(mask).sum() == 300
    assert not largest_component(np.zeros((5, 5), bool)).any()
