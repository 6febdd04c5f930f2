import numpy as np
import pytest

from unet.testing.phantom import make_phantom, make_scanner_frame


def test_deterministic_by_seed():
    image_a, mask_a = make_phantom(seed=3)
    image_b, mask_b = make_phantom(seed=3)
    image_c, _ = make_phantom(seed=4)
    assert np.array_equal(image_a, image_b)
    assert np.array_equal(mask_a, mask_b)
    assert not np.array_equal(image_a, image_c)


def test_types_and_shapes():
    image, mask = make_phantom(200, 300, seed=1)
    assert image.shape == (200, 300) and image.dtype == np.uint8
    assert mask.shape == (200, 300) and mask.dtype == bool


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mask_area_matches_ellipse(seed):
    axes = (50.0, 30.0)
    _, mask = make_phantom(256, 320, seed=seed, lesion_center=(128, 160), lesion_axes=axes)
    expected = np.pi * axes[0] * axes[1]
    assert abs(mask.sum() - expected) / expected < 0.05


def test_ellipse_orientation_and_center():
    _, mask = make_phantom(
        256, 320, seed=0, lesion_center=(100, 200), lesion_axes=(60, 20), angle_deg=0
    )
    ys, xs = np.nonzero(mask)
    assert abs(ys.mean() - 100) < 2 and abs(xs.mean() - 200) < 2
    assert np.ptp(xs) > 2.5 * np.ptp(ys)  # wide, not tall, at angle 0


@pytest.mark.parametrize("seed", [0, 5, 9])
def test_lesion_darker_than_surroundings(seed):
    image, mask = make_phantom(seed=seed)
    assert mask.any()
    ring = np.zeros_like(mask)
    ys, xs = np.nonzero(mask)
    ring[max(ys.min() - 15, 0) : ys.max() + 15, max(xs.min() - 15, 0) : xs.max() + 15] = True
    ring &= ~mask
    assert image[mask].mean() < 0.75 * image[ring].mean()


def test_no_lesion():
    image, mask = make_phantom(seed=2, lesion=False)
    assert not mask.any()
    assert image.std() > 5  # still speckled


@pytest.mark.parametrize("two_views", [False, True])
def test_scanner_frame_layout(two_views):
    frame, mask, box = make_scanner_frame(seed=1, two_views=two_views)
    y0, x0, y1, x1 = box
    assert frame.shape == mask.shape == (480, 640)
    assert mask.any() and not mask[:y0].any() and not mask[:, x1:].any()
    outside = frame.copy()
    outside[y0:y1, x0:x1] = 0
    assert outside.max() > 200  # text and annotations drawn outside the field of view
    if two_views:
        from cv2 import connectedComponents

        count, _ = connectedComponents(mask.astype(np.uint8))
        assert count - 1 == 2  # one lesion per view
