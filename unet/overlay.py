"""Overlays of a segmentation on the ultrasound image.

Renderers take the cached arrays (grey image, probability map, uncertainty map), never a model,
so a change of mode, threshold or opacity re-renders in milliseconds. Outputs are RGB uint8.
"""

from __future__ import annotations

import cv2
import numpy as np

from unet.transforms.postprocess import clean_mask

__all__ = [
    "MODES",
    "COMPARISON_COLORS",
    "render_overlay",
    "render_comparison",
    "contour_thickness",
]

MODES = ("filled", "contour", "heatmap", "uncertainty")

# Colours of render_comparison, for a legend next to the image.
COMPARISON_COLORS: dict[str, tuple[int, int, int]] = {
    "ground truth only (missed)": (40, 200, 40),
    "prediction only (false alarm)": (230, 40, 230),
    "overlap (agreement)": (255, 220, 0),
}
_TRUTH_ONLY, _PREDICTION_ONLY, _OVERLAP = COMPARISON_COLORS.values()

# Heat and uncertainty maps are transparent below this value.
_MAP_FLOOR = 0.05


def contour_thickness(shape: tuple[int, ...], *, thin: bool = False) -> int:
    """Line thickness in pixels for an image of ``shape``: about 1/300 of the shorter side.

    ``thin`` halves it (the outline drawn around a filled mask). Never below 1.
    """
    side = min(int(shape[0]), int(shape[1]))
    thickness = max(1, round(side / 300))
    return max(1, thickness // 2) if thin else thickness


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    gray = np.asarray(gray)
    if gray.ndim != 2:
        raise ValueError(f"gray must be a 2-D image, got shape {gray.shape}")
    if gray.dtype != np.uint8:
        gray = np.clip(gray, 0, 255).astype(np.uint8)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)


def _check_map(name: str, values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    values = np.asarray(values)
    if values.shape != tuple(shape):
        raise ValueError(f"{name} shape {values.shape} does not match the image shape {shape}")
    return values


def _blend_where(
    base: np.ndarray, layer: np.ndarray, where: np.ndarray, opacity: float
) -> np.ndarray:
    """``base`` with ``layer`` blended in at ``opacity`` where ``where`` is True."""
    if opacity <= 0 or not where.any():
        return base
    blended = cv2.addWeighted(base, 1.0 - opacity, layer, opacity, 0.0)
    return cv2.copyTo(blended, where.astype(np.uint8), base)


def _solid(shape: tuple[int, int], color) -> np.ndarray:
    """An HxWx3 uint8 image of one RGB colour (cv2.merge of planes is faster than broadcasting)."""
    return cv2.merge([np.full(shape, int(c), dtype=np.uint8) for c in color])


def _draw_contours(image: np.ndarray, mask: np.ndarray, color, thickness: int) -> None:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    if contours:
        cv2.drawContours(image, contours, -1, tuple(int(c) for c in color), thickness)


def _color_map(values: np.ndarray, vmax: float, colormap: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB colour-mapped ``values / vmax`` (clipped to [0, 1]) and its normalised values."""
    normalised = np.clip(values.astype(np.float32) / np.float32(vmax), 0.0, 1.0)
    indices = (normalised * 255.0 + 0.5).astype(np.uint8)
    colored = cv2.applyColorMap(indices, colormap)
    return cv2.cvtColor(colored, cv2.COLOR_BGR2RGB), normalised


def render_overlay(
    gray: np.ndarray,
    probability: np.ndarray,
    *,
    mode: str,
    threshold: float = 0.5,
    opacity: float = 0.4,
    uncertainty: np.ndarray | None = None,
    min_area_px: int = 0,
    min_peak: float = 0.0,
    color: tuple[int, int, int] = (255, 64, 64),
    uncertainty_max: float = 1.0,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """The segmentation drawn on the image, as RGB uint8 HxWx3.

    Modes (see ``MODES``):
        ``filled``: the mask (``postprocess.clean_mask(probability, threshold, min_area_px)``)
            tinted with ``color`` at ``opacity``, with a thin outline; opacity 0 gives the
            plain image.
        ``contour``: only the mask outline, thickness scaled to the image size.
        ``heatmap``: the probability colour-mapped (inferno), blended at ``opacity`` where it
            is at least 0.05 (transparent elsewhere).
        ``uncertainty``: ``uncertainty`` (required) colour-mapped (viridis) over
            ``[0, uncertainty_max]``, blended at ``opacity`` where it is at least 5 % of
            ``uncertainty_max``.

    Args:
        gray: HxW uint8 image.
        probability: HxW lesion probability in [0, 1].
        mode: one of ``MODES``.
        threshold: probability threshold of the mask.
        opacity: 0 (invisible) to 1 (opaque) for fills and colour maps.
        uncertainty: HxW uncertainty map, needed for the ``uncertainty`` mode.
        min_area_px: mask components smaller than this are not drawn.
        min_peak: mask components whose peak probability is below this are not drawn.
        color: RGB colour of the mask.
        uncertainty_max: uncertainty value shown with the top colour of the map.
        mask: the already cleaned HxW mask for these settings, when the caller has it (saves
            recomputing it); otherwise it is derived from ``probability``.
    """
    if mode not in MODES:
        raise ValueError(f"unknown overlay mode {mode!r}; expected one of {MODES}")
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    image = _gray_to_rgb(gray)
    probability = _check_map("probability", probability, image.shape[:2])

    if mode in ("filled", "contour"):
        if mask is None:
            mask = clean_mask(probability, threshold, min_area_px=min_area_px, min_peak=min_peak)
        else:
            mask = _check_map("mask", mask, image.shape[:2]).astype(bool)
        if mode == "filled":
            if opacity <= 0:
                return image
            layer = _solid(image.shape[:2], color)
            image = _blend_where(image, layer, mask, opacity)
            _draw_contours(image, mask, color, contour_thickness(image.shape, thin=True))
        else:
            _draw_contours(image, mask, color, contour_thickness(image.shape))
        return image

    if mode == "heatmap":
        layer, values = _color_map(probability, 1.0, cv2.COLORMAP_INFERNO)
        return _blend_where(image, layer, values >= _MAP_FLOOR, opacity)

    if uncertainty is None:
        raise ValueError("the 'uncertainty' mode needs an uncertainty map")
    if not uncertainty_max > 0:
        raise ValueError(f"uncertainty_max must be positive, got {uncertainty_max}")
    uncertainty = _check_map("uncertainty", uncertainty, image.shape[:2])
    layer, values = _color_map(uncertainty, uncertainty_max, cv2.COLORMAP_VIRIDIS)
    return _blend_where(image, layer, values >= _MAP_FLOOR, opacity)


def render_comparison(
    gray: np.ndarray,
    predicted: np.ndarray,
    truth: np.ndarray,
    *,
    opacity: float = 0.4,
) -> np.ndarray:
    """Prediction against ground truth, as RGB uint8 HxWx3.

    Regions are tinted at ``opacity``: overlap yellow, truth only (missed) green, prediction
    only (false alarm) magenta (see ``COMPARISON_COLORS``). The truth outline is drawn in
    green and the prediction outline in magenta on top, so both borders stay visible.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    image = _gray_to_rgb(gray)
    predicted = _check_map("predicted", predicted, image.shape[:2]).astype(bool)
    truth = _check_map("truth", truth, image.shape[:2]).astype(bool)

    layer = np.zeros_like(image)
    layer[truth & ~predicted] = _TRUTH_ONLY
    layer[predicted & ~truth] = _PREDICTION_ONLY
    layer[predicted & truth] = _OVERLAP
    image = _blend_where(image, layer, predicted | truth, opacity)
    thickness = contour_thickness(image.shape)
    _draw_contours(image, truth, _TRUTH_ONLY, thickness)
    _draw_contours(image, predicted, _PREDICTION_ONLY, thickness)
    return image
