import json

import cv2
import numpy as np
import pytest

from unet.measurements import measure_lesions


def disc(shape, center, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2


def ellipse(shape, center, semi_axes, angle_deg):
    """Pixels whose centres lie inside the ellipse (semi-axes along x, y before rotation)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    theta = np.deg2rad(angle_deg)
    dx, dy = xx - center[1], yy - center[0]
    u = dx * np.cos(theta) + dy * np.sin(theta)
    v = -dx * np.sin(theta) + dy * np.cos(theta)
    return (u / semi_axes[0]) ** 2 + (v / semi_axes[1]) ** 2 <= 1.0


def close(value, expected, tolerance):
    return abs(value - expected) <= tolerance * expected


def test_circle():
    mask = disc((200, 220), (100, 110), 40)
    result = measure_lesions(mask, mask * 0.8, None)
    (lesion,) = result.lesions
    assert close(lesion.longest_diameter_px, 80, 0.02)
    assert close(lesion.perpendicular_diameter_px, 80, 0.02)
    assert close(lesion.area_px, np.pi * 40**2, 0.02)
    assert lesion.centroid == pytest.approx((100, 110), abs=0.01)
    assert lesion.bbox == (60, 70, 141, 151)


def test_circle_drawn_with_opencv():
    mask = np.zeros((200, 200), np.uint8)
    cv2.circle(mask, (100, 100), 40, 1, -1)
    lesion = measure_lesions(mask > 0, mask.astype(np.float32), None).lesions[0]
    assert close(lesion.longest_diameter_px, 80, 0.02)
    assert close(lesion.perpendicular_diameter_px, 80, 0.02)


@pytest.mark.parametrize("angle", [0, 30, 75])
def test_rotated_ellipse(angle):
    mask = ellipse((300, 300), (150, 150), (60, 25), angle)
    lesion = measure_lesions(mask, mask.astype(np.float32), None).lesions[0]
    assert close(lesion.longest_diameter_px, 120, 0.03)
    assert close(lesion.perpendicular_diameter_px, 50, 0.03)


def test_rectangle_with_anisotropic_spacing():
    mask = np.zeros((100, 200), bool)
    mask[20:30, 40:140] = True  # 10 rows x 100 columns
    result = measure_lesions(mask, mask * 1.0, (0.1, 0.2))
    lesion = result.lesions[0]
    assert result.unit == "mm" and result.spacing_mm == (0.1, 0.2)
    assert lesion.area_px == 1000
    assert lesion.area_mm2 == pytest.approx(1000 * 0.1 * 0.2)
    # 100 columns x 0.2 mm = 20 mm wide, 10 rows x 0.1 mm = 1 mm high.
    assert lesion.longest_diameter_mm == pytest.approx(np.hypot(20.0, 1.0), rel=0.01)
    assert lesion.perpendicular_diameter_mm == pytest.approx(1.0, rel=0.03)
    assert lesion.longest_diameter_px == pytest.approx(np.hypot(100, 10), rel=0.02)


def test_anisotropic_spacing_is_not_a_plain_multiplication():
    # A tall thin bar: in pixels it is long vertically; with wide columns it stays vertical.
    mask = np.zeros((120, 60), bool)
    mask[10:110, 28:32] = True  # 100 rows x 4 columns
    lesion = measure_lesions(mask, mask * 1.0, (0.5, 2.0)).lesions[0]
    assert lesion.longest_diameter_mm == pytest.approx(np.hypot(50.0, 8.0), rel=0.02)
    assert lesion.perpendicular_diameter_mm == pytest.approx(8.0, rel=0.05)


def test_two_lesions_sorted_by_area_and_probabilities():
    mask = disc((200, 200), (50, 50), 10) | disc((200, 200), (140, 140), 30)
    probability = np.where(mask, 0.6, 0.0).astype(np.float32)
    probability[140, 140] = 0.95
    result = measure_lesions(mask, probability, None)
    assert [lesion.index for lesion in result.lesions] == [1, 2]
    big, small = result.lesions
    assert big.area_px > small.area_px
    assert big.centroid == pytest.approx((140, 140), abs=0.5)
    assert big.max_probability == pytest.approx(0.95)
    assert small.mean_probability == pytest.approx(0.6)
    assert big.image_fraction == pytest.approx(big.area_px / 40000)
    assert result.summary.startswith("2 lesions")


def test_each_lesion_says_whether_a_prompt_outlined_it():
    small, big = disc((200, 200), (50, 50), 10), disc((200, 200), (140, 140), 30)
    probability = np.zeros((200, 200), np.float32)
    plain = measure_lesions(small | big, probability, None)
    assert [lesion.outlined_by for lesion in plain.lesions] == ["model", "model"]
    # the small one drawn by a prompt: a touch of its pixels is enough, the big one stays
    touched = np.zeros_like(small)
    touched[50, 50] = True
    guided = measure_lesions(small | big, probability, None, prompted=touched)
    assert [lesion.outlined_by for lesion in guided.lesions] == ["model", "prompt"]
    assert guided.to_dict()["lesions"][1]["outlined_by"] == "prompt"


def test_empty_mask():
    result = measure_lesions(np.zeros((50, 60), bool), np.zeros((50, 60)), None)
    assert result.lesion_found is False
    assert result.lesions == []
    assert result.summary == "No lesion found"
    assert json.loads(json.dumps(result.to_dict()))["lesion_found"] is False


def test_to_dict_json_and_units():
    mask = disc((100, 100), (50, 50), 12)
    in_pixels = measure_lesions(mask, mask * np.float32(0.7), None)
    data = json.loads(json.dumps(in_pixels.to_dict()))
    assert data["unit"] == "px" and data["spacing_mm"] is None
    lesion = data["lesions"][0]
    assert lesion["area_mm2"] is None and lesion["longest_diameter_mm"] is None
    assert isinstance(lesion["area_px"], int) and isinstance(lesion["mean_probability"], float)
    assert lesion["bbox"] == [38, 38, 63, 63]
    assert in_pixels.summary.endswith(f"area {lesion['area_px']:,} px²")  # an area, in px²

    in_mm = measure_lesions(mask, mask * 0.7, (0.1, 0.1))
    data = json.loads(json.dumps(in_mm.to_dict()))
    assert data["unit"] == "mm" and data["spacing_mm"] == [0.1, 0.1]
    assert in_mm.summary.startswith("1 lesion: 2.5 x 2.5 mm, area")


def test_single_pixel_and_bad_input():
    mask = np.zeros((10, 10), bool)
    mask[4, 4] = True
    lesion = measure_lesions(mask, mask * 1.0, (0.2, 0.3)).lesions[0]
    assert lesion.longest_diameter_px == pytest.approx(1.0)
    assert lesion.area_mm2 == pytest.approx(0.06)
    with pytest.raises(ValueError):
        measure_lesions(mask, np.zeros((5, 5)), None)
    with pytest.raises(ValueError):
        measure_lesions(mask, mask * 1.0, (0.0, 0.1))
