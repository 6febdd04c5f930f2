"""Choose the operating point (threshold, minimum lesion area, minimum peak probability) on the
validation split, never on the test split.

The rule for declaring an image lesion-free: after thresholding, a component is a lesion only if
it covers at least `min_lesion_area_fraction` of the image and its peak probability reaches
`min_peak_probability`. Among a small grid of such rules, the one with the best mean Dice over
validation images with a lesion is chosen, subject to a false-positive rate on lesion-free
validation images of at most MAX_FALSE_POSITIVE_RATE (when the split has lesion-free images).
"""

from __future__ import annotations

import itertools

import numpy as np

from training.datasets import Sample, load_gray, load_mask
from training.metrics import dice
from unet.transforms.postprocess import clean_mask, min_area_from_fraction

MAX_FALSE_POSITIVE_RATE = 0.10  # a margin under the 0.15 target, as validation is small
THRESHOLDS = (0.4, 0.5, 0.6)
MIN_AREA_FRACTIONS = (0.001, 0.002, 0.005, 0.01)
MIN_PEAKS = (0.0, 0.7, 0.8, 0.9, 0.95)


def calibrate(segmenter, samples: list[Sample]) -> dict:
    """Sweep the grid on the samples' full-resolution probability maps (one model run each)."""
    cache = []
    for s in samples:
        gray = load_gray(s.image_path)
        truth = load_mask(s, gray.shape)
        cache.append((truth, segmenter.segment(gray).probability))
    lesion = [c for c in cache if c[0].any()]
    free = [c for c in cache if not c[0].any()]
    results = []
    for t, area, peak in itertools.product(THRESHOLDS, MIN_AREA_FRACTIONS, MIN_PEAKS):

        def predict(prob, t=t, area=area, peak=peak):
            return clean_mask(prob, t, min_area_px=min_area_from_fraction(prob.shape, area),
                              min_peak=peak)

        d = float(np.mean([dice(truth, predict(prob)) for truth, prob in lesion])) if lesion else 0
        fp = float(np.mean([predict(prob).any() for _, prob in free])) if free else None
        results.append({"threshold": t, "min_lesion_area_fraction": area,
                        "min_peak_probability": peak, "val_dice": d, "val_fp_rate": fp})
    allowed = [r for r in results
               if r["val_fp_rate"] is None or r["val_fp_rate"] <= MAX_FALSE_POSITIVE_RATE]
    if allowed:
        # best Dice; among near-ties (within 0.005) the simplest rule (lowest peak, area)
        top = max(r["val_dice"] for r in allowed)
        near = [r for r in allowed if r["val_dice"] >= top - 0.005]
        best = min(near, key=lambda r: (r["min_peak_probability"], r["min_lesion_area_fraction"],
                                        abs(r["threshold"] - 0.5)))
    else:
        best = min(results, key=lambda r: (r["val_fp_rate"], -r["val_dice"]))
    return {**best, "rule": "validation split, grid search", "grid_size": len(results),
            "max_false_positive_rate": MAX_FALSE_POSITIVE_RATE,
            "validation_images": len(cache), "validation_lesion_free": len(free)}


def apply_operating_point(segmenter, point: dict) -> None:
    segmenter.threshold = float(point["threshold"])
    segmenter.min_area_fraction = float(point["min_lesion_area_fraction"])
    segmenter.min_peak = float(point["min_peak_probability"])
