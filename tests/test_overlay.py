import time

import cv2
import numpy as np
import pytest

from unet.overlay import MODES, render_comparison, render_overlay
from unet.testing.phantom import make_phantom


@pytest.fixture(scope="module")
def scene():
    gray, mask = make_phantom(240, 320, seed=4, lesion_center=(120, 160), lesion_axes=(50, 35))
    probability = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 4)
    uncertainty = (4 * probability * (1 - probability)).astype(np.float32)
    return gray, mask, probability, uncertainty


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_returns_rgb(scene, mode):
    gray, _, probability, uncertainty = scene
    out = render_overlay(gray, probability, mode=mode, uncertainty=uncertainty)
    assert out.shape == gray.shape + (3,) and out.dtype == np.uint8
    assert not np.array_equal(out, np.repeat(gray[..., None], 3, axis=2))


def test_filled_changes_only_pixels_near_mask(scene):
    gray, _, probability, _ = scene
    out = render_overlay(gray, probability, mode="filled", threshold=0.5, opacity=0.5)
    changed = np.any(out != gray[..., None], axis=2)
    mask = probability >= 0.5
    near = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert changed.any()
    assert not (changed & ~near).any()
    assert changed[mask].mean() > 0.9


def test_opacity_zero_leaves_image_unchanged(scene):
    gray, _, probability, _ = scene
    out = render_overlay(gray, probability, mode="filled", opacity=0.0)
    assert np.array_equal(out, np.repeat(gray[..., None], 3, axis=2))


def test_threshold_changes_drawn_area(scene):
    gray, _, probability, _ = scene

    def drawn(threshold):
        out = render_overlay(gray, probability, mode="filled", threshold=threshold, opacity=0.6)
        return np.any(out != gray[..., None], axis=2).sum()

    assert drawn(0.2) > drawn(0.5) > drawn(0.8) > 0


def test_min_area_hides_small_components(scene):
    gray, _, probability, _ = scene
    speck = probability.copy()
    speck[5:8, 5:8] = 1.0
    shown = render_overlay(gray, speck, mode="filled", opacity=0.5)
    hidden = render_overlay(gray, speck, mode="filled", opacity=0.5, min_area_px=50)
    assert (shown[6, 6] != gray[6, 6]).any() and (hidden[6, 6] == gray[6, 6]).all()


def test_heatmap_transparent_where_probability_is_low(scene):
    gray, _, probability, _ = scene
    out = render_overlay(gray, probability, mode="heatmap", opacity=0.5)
    low = probability < 0.05
    assert np.array_equal(out[low], np.repeat(gray[low][:, None], 3, axis=1))


def test_bad_arguments(scene):
    gray, _, probability, _ = scene
    with pytest.raises(ValueError):
        render_overlay(gray, probability, mode="sparkles")
    with pytest.raises(ValueError):
        render_overlay(gray, probability, mode="uncertainty")
    with pytest.raises(ValueError):
        render_overlay(gray, probability[:10], mode="filled")


def test_comparison_colours(scene):
    gray, mask, _, _ = scene
    predicted = np.roll(mask, 20, axis=1)
    out = render_comparison(gray, predicted, mask, opacity=0.6)
    assert out.shape == gray.shape + (3,) and out.dtype == np.uint8
    overlap = predicted & mask
    inner = cv2.erode(overlap.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    red, green, blue = (out[inner][:, c].astype(int).mean() for c in range(3))
    assert red > blue + 40 and green > blue + 40  # yellow-ish
    truth_only = cv2.erode((mask & ~predicted).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    pixels = out[truth_only].astype(int)
    assert (pixels[:, 1] > pixels[:, 0]).mean() > 0.9  # green dominates


def test_render_speed_1024x768():
    gray, mask = make_phantom(768, 1024, seed=1)
    probability = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 6)
    uncertainty = (4 * probability * (1 - probability)).astype(np.float32)
    for mode in MODES:
        render_overlay(gray, probability, mode=mode, uncertainty=uncertainty)
        start = time.perf_counter()
        for _ in range(5):
            render_overlay(gray, probability, mode=mode, uncertainty=uncertainty)
        elapsed_ms = (time.perf_counter() - start) / 5 * 1000
        print(f"render_overlay {mode} 1024x768: {elapsed_ms:.1f} ms")


@pytest.mark.parametrize("mode", ["filled", "contour"])
def test_given_mask_draws_the_same_as_a_derived_one(scene, mode):
    from unet.transforms.postprocess import clean_mask

    gray, _, probability, _ = scene
    derived = render_overlay(gray, probability, mode=mode, threshold=0.6, min_area_px=30)
    mask = clean_mask(probability, 0.6, min_area_px=30)
    given = render_overlay(gray, probability, mode=mode, threshold=0.6, min_area_px=30, mask=mask)
    assert np.array_equal(given, derived)
    other = render_overlay(gray, probability, mode=mode, mask=np.zeros_like(mask))
    assert np.array_equal(other, np.repeat(gray[..., None], 3, axis=2))
