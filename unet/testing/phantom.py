"""Synthetic ultrasound-like images with a known lesion mask.

Used by the tests (no real patient image ever goes into the repository) and as the app's
labelled synthetic examples. Everything is deterministic given ``seed``.

Conventions: points are ``(y, x)`` in pixels, ellipse axes are ``(semi_axis_x, semi_axis_y)``
before rotation and ``angle_deg`` rotates the ellipse like ``cv2.ellipse`` does (clockwise on
screen, because image rows grow downwards).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["make_phantom", "make_scanner_frame"]


def _smooth_field(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """A smooth random field in [-1, 1]: a coarse random grid, upsampled bicubically."""
    coarse = rng.uniform(-1.0, 1.0, size=(cells, max(2, round(cells * width / height))))
    field = cv2.resize(coarse.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(field, -1.0, 1.0)


def _speckle(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Fully developed speckle: the magnitude of blurred complex Gaussian noise (Rayleigh).

    The blur is wider laterally than axially, like a real point-spread function. Mean is 1.
    """
    real = rng.standard_normal((height, width)).astype(np.float32)
    imag = rng.standard_normal((height, width)).astype(np.float32)
    real = cv2.GaussianBlur(real, (0, 0), sigmaX=1.4, sigmaY=0.7)
    imag = cv2.GaussianBlur(imag, (0, 0), sigmaX=1.4, sigmaY=0.7)
    magnitude = np.sqrt(real * real + imag * imag)
    return magnitude / max(float(magnitude.mean()), 1e-6)


def _lesion_mask(
    height: int,
    width: int,
    center: tuple[float, float],
    axes: tuple[float, float],
    angle_deg: float,
    rng: np.random.Generator,
    irregularity: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean lesion mask and the normalised radius ``r`` (``r <= 1`` is inside).

    The border is an ellipse whose radius is modulated by a few low harmonics of relative
    amplitude ``irregularity`` (zero mean, so the area stays close to ``pi * a * b``).
    """
    cy, cx = center
    ax, ay = axes
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    theta = np.deg2rad(angle_deg)
    dx, dy = xx - cx, yy - cy
    # Rotate the image coordinates into the ellipse frame (cv2.ellipse convention).
    u = dx * np.cos(theta) + dy * np.sin(theta)
    v = -dx * np.sin(theta) + dy * np.cos(theta)
    radius = np.sqrt((u / ax) ** 2 + (v / ay) ** 2)
    phi = np.arctan2(v / ay, u / ax)
    wobble = np.zeros_like(phi)
    for harmonic in (3, 5, 7):
        amplitude = irregularity * rng.uniform(0.3, 1.0) / np.sqrt(harmonic / 3)
        wobble += amplitude * np.cos(harmonic * phi + rng.uniform(0, 2 * np.pi))
    normalised = radius / (1.0 + wobble)
    return normalised <= 1.0, normalised


def make_phantom(
    height: int = 256,
    width: int = 320,
    *,
    seed: int = 0,
    lesion: bool = True,
    lesion_center: tuple[float, float] | None = None,
    lesion_axes: tuple[float, float] | None = None,
    angle_deg: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """An ultrasound-like B-mode image with one hypoechoic (dark) elliptical lesion.

    The image is multiplicative Rayleigh speckle on a smooth tissue background that gets
    darker with depth, with a few bright horizontal layers (skin, fascia) near the top. The
    lesion is darker than its surroundings, has a slightly irregular border and, depending on
    the seed, posterior acoustic enhancement or shadowing below it.

    Args:
        height, width: image size in pixels.
        seed: all randomness comes from ``numpy.random.default_rng(seed)``.
        lesion: False gives a lesion-free image and an all-False mask.
        lesion_center: ``(y, x)`` in pixels; random in the middle of the image when None.
        lesion_axes: ``(semi_axis_x, semi_axis_y)`` in pixels before rotation; random when None.
        angle_deg: rotation like ``cv2.ellipse``; random in [-20, 20] when None.

    Returns:
        ``(image, mask)``: uint8 ``(height, width)`` image and bool ``(height, width)`` mask
        that is exactly the darkened lesion region.
    """
    if height < 16 or width < 16:
        raise ValueError(f"phantom must be at least 16x16 pixels, got {height}x{width}")
    rng = np.random.default_rng(seed)

    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    # Tissue echogenicity: smooth texture, depth-dependent attenuation, bright superficial layers.
    tissue = 0.75 + 0.22 * _smooth_field(rng, height, width, cells=6)
    tissue *= 1.05 - 0.5 * rows
    for _ in range(int(rng.integers(2, 5))):
        depth = rng.uniform(0.03, 0.3)
        thickness = rng.uniform(0.006, 0.02)
        wave = 0.01 * _smooth_field(rng, 1, width, cells=2)[0]
        layer = np.exp(-0.5 * ((rows - depth - wave[None, :]) / thickness) ** 2)
        tissue += rng.uniform(0.4, 0.9) * layer

    mask = np.zeros((height, width), dtype=bool)
    if lesion:
        if lesion_axes is None:
            semi_x = rng.uniform(0.1, 0.2) * width
            lesion_axes = (semi_x, semi_x * rng.uniform(0.5, 0.85))
        if lesion_center is None:
            lesion_center = (
                rng.uniform(0.4, 0.6) * height,
                rng.uniform(0.35, 0.65) * width,
            )
        if angle_deg is None:
            angle_deg = float(rng.uniform(-20.0, 20.0))
        mask, radius = _lesion_mask(
            height, width, lesion_center, lesion_axes, angle_deg, rng, irregularity=0.03
        )
        # Dark inside, with a narrow transition so the border is not a perfect step.
        darkness = np.clip((1.08 - radius) / 0.16, 0.0, 1.0)
        contrast = rng.uniform(0.3, 0.45)
        tissue *= 1.0 - (1.0 - contrast) * darkness
        # Posterior acoustic enhancement (cysts) or shadowing (solid, attenuating lesions).
        effect = rng.choice(["enhancement", "shadow", "none"])
        if effect != "none":
            cy, cx = lesion_center
            half_width = max(lesion_axes) * 0.8
            cols = np.arange(width, dtype=np.float32)[None, :]
            band = np.exp(-0.5 * ((cols - cx) / max(half_width * 0.6, 1.0)) ** 2)
            below = np.clip((np.arange(height, dtype=np.float32)[:, None] - cy) / height, 0, 1)
            below = (below > 0) * np.exp(-below * 3.0)
            gain = 0.35 if effect == "enhancement" else -0.45
            tissue *= 1.0 + gain * band * below * (~mask)

    image = tissue * _speckle(rng, height, width)
    # Mild compression into the display range (tissue around 60-90 grey levels, like B-mode
    # thyroid / breast images), kept a little above black.
    image = 80.0 * np.power(image, 0.8) + 4.0
    image = np.clip(image, 0.0, 255.0).astype(np.uint8)
    return image, mask


# Fake, obviously synthetic annotation strings (never real patient data).
_TOP_TEXT = ("ABC 12MHz", "SYNTH-0042", "2000/01/01 12:00", "THY L12-5")
_PANEL_TEXT = ("P100", "12L6", "9.0", "31fps", "DR65", "2DG", "92")
_BOTTOM_TEXT = ("DER", "IZQ", "ISTMO", "RT LOBE TRANS", "LT UOQ")


def _put_text(frame: np.ndarray, text: str, org: tuple[int, int], scale: float, value: int) -> None:
    cv2.putText(frame, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, value, 1, lineType=cv2.LINE_AA)


def _fov_shape_mask(height: int, width: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Where the ultrasound image is visible inside its bounding box (linear or convex probe)."""
    if kind == "rectangle":
        return np.ones((height, width), dtype=bool)
    shape = np.zeros((height, width), dtype=np.uint8)
    inset = int(width * rng.uniform(0.15, 0.25))
    polygon = np.array(
        [[inset, 0], [width - 1 - inset, 0], [width - 1, height - 1], [0, height - 1]],
        dtype=np.int32,
    )
    cv2.fillPoly(shape, [polygon], 1)
    return shape.astype(bool)


def make_scanner_frame(
    height: int = 480,
    width: int = 640,
    *,
    seed: int = 0,
    two_views: bool = False,
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """A synthetic scanner screenshot: a phantom pasted into a black frame with annotations.

    Around the field of view there is white text (fake settings and labels), a depth scale
    with tick marks and numbers, a grey-scale bar, a small logo box and a flat grey side panel
    with text and icons. The field of view is rectangular (linear probe) or trapezoidal
    (convex probe). With ``two_views`` two phantoms sit side by side with a small gap.

    Returns:
        ``(frame, mask, box)``: uint8 ``(height, width)`` frame, bool lesion mask in frame
        coordinates (all lesions) and the field-of-view box ``(y0, x0, y1, x1)`` (exclusive
        ends) covering all pasted views.
    """
    if height < 200 or width < 300:
        raise ValueError(f"scanner frame must be at least 300x200 pixels, got {width}x{height}")
    rng = np.random.default_rng(seed)
    frame = np.zeros((height, width), dtype=np.uint8)
    mask = np.zeros((height, width), dtype=bool)

    panel_width = int(width * rng.uniform(0.12, 0.16))
    panel_left = bool(rng.integers(0, 2))
    left_margin = int(width * 0.09) + (panel_width if panel_left else 0)
    right_margin = int(width * 0.05) + (0 if panel_left else panel_width)
    top, bottom = int(height * 0.1), int(height * 0.12)

    fov_y0 = top + int(rng.integers(0, int(height * 0.03) + 1))
    fov_height = height - bottom - fov_y0 - int(rng.integers(0, int(height * 0.04) + 1))
    available = width - left_margin - right_margin
    if two_views:
        gap = int(rng.integers(4, 12))
        view_width = int(min(available - gap, available * rng.uniform(0.92, 1.0)) // 2)
        view_widths = [view_width, view_width]
        total_width = 2 * view_width + gap
    else:
        gap = 0
        view_widths = [int(available * rng.uniform(0.75, 0.95))]
        total_width = view_widths[0]
    fov_x0 = left_margin + int(rng.integers(0, available - total_width + 1))
    kind = "rectangle" if two_views or rng.uniform() < 0.6 else "trapezoid"

    # Side panel: flat grey with text and small icons.
    panel_x0 = 0 if panel_left else width - panel_width
    panel_value = int(rng.integers(50, 90))
    frame[:, panel_x0 : panel_x0 + panel_width] = panel_value
    for i, text in enumerate(_PANEL_TEXT):
        _put_text(frame, text, (panel_x0 + 6, 40 + i * 22), 0.42, 235)
    for i in range(3):
        y = height - 60 - i * 40
        cv2.rectangle(frame, (panel_x0 + 8, y), (panel_x0 + 28, y + 20), 200, 1)
        cv2.circle(frame, (panel_x0 + 45, y + 10), 8, 220, -1)

    # Top text line and bottom label, both outside the field of view.
    text_x = left_margin
    for text in rng.choice(_TOP_TEXT, size=2, replace=False):
        _put_text(frame, str(text), (text_x, int(height * 0.06)), 0.45, 255)
        text_x += int(width * 0.25)
    _put_text(frame, str(rng.choice(_BOTTOM_TEXT)), (fov_x0 + 10, height - 15), 0.5, 255)

    # Depth scale left of the field of view: a line with ticks and depth numbers.
    scale_x = max(fov_x0 - 12, (panel_width if panel_left else 0) + 20)
    cv2.line(frame, (scale_x, fov_y0), (scale_x, fov_y0 + fov_height - 1), 180, 1)
    for i, y in enumerate(np.linspace(fov_y0, fov_y0 + fov_height - 1, 6).astype(int)):
        cv2.line(frame, (scale_x - 5, int(y)), (scale_x, int(y)), 255, 1)
        _put_text(frame, str(i), (scale_x - 18, int(y) + 4), 0.35, 255)

    # Grey-scale bar (a thin vertical gradient) in the left margin.
    bar_x = (panel_width if panel_left else 0) + 4
    bar_y0, bar_y1 = int(height * 0.35), int(height * 0.6)
    gradient = np.linspace(255, 0, bar_y1 - bar_y0).astype(np.uint8)[:, None]
    frame[bar_y0:bar_y1, bar_x : bar_x + 8] = gradient

    # Small logo box in the top corner opposite the panel.
    logo_x = width - panel_width - 50 if not panel_left else width - 50
    cv2.rectangle(frame, (logo_x, 6), (logo_x + 40, 26), 255, 1)
    _put_text(frame, "US", (logo_x + 8, 22), 0.45, 255)

    # Paste the views last, so annotations never overlap the field of view.
    x = fov_x0
    for view, view_width in enumerate(view_widths):
        image, lesion_mask = make_phantom(
            fov_height,
            view_width,
            seed=int(rng.integers(0, 2**31 - 1)) + view,
            lesion_center=(
                fov_height * rng.uniform(0.4, 0.6),
                view_width * rng.uniform(0.4, 0.6),
            ),
        )
        visible = _fov_shape_mask(fov_height, view_width, kind, rng)
        region = (slice(fov_y0, fov_y0 + fov_height), slice(x, x + view_width))
        frame[region] = np.where(visible, image, 0)
        mask[region] = lesion_mask & visible
        x += view_width + gap
    box = (fov_y0, fov_x0, fov_y0 + fov_height, fov_x0 + total_width)
    return frame, mask, box
