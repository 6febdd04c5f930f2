"""What ``python -m training.trust`` fits on: the organs' split samples, synthetic
non-ultrasound pictures (negatives for the organ check), and each image's features from
the model (encoder features for the organ check, quality features per image)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from training.datasets import DatasetError, Sample, find_dataset, load_gray, load_mask
from training.manifest import select
from unet.inference.registry import ORGANS

# --------------------------------------------------------------------------- negatives

def synthetic_negatives(count: int, seed: int) -> list[np.ndarray]:
    """Gray pictures that are no ultrasound scan: photographs (smooth scenes with shapes and
    light noise), documents (text on paper), screenshots (flat panels, text), charts,
    noise, CT-like discs, and flat or gradient fields."""
    rng = np.random.default_rng(seed)
    out = []
    kinds = ("photo", "document", "screenshot", "chart", "noise", "ct", "gradient")
    font = cv2.FONT_HERSHEY_SIMPLEX
    for i in range(count):
        kind = kinds[i % len(kinds)]
        h, w = int(rng.integers(200, 800)), int(rng.integers(200, 900))
        if kind == "photo":
            low = rng.normal(0, 1, (max(2, h // 64), max(2, w // 64)))
            img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
            img = (img - img.min()) / (np.ptp(img) + 1e-6) * rng.uniform(120, 255)
            for _ in range(int(rng.integers(2, 9))):
                color = float(rng.uniform(0, 255))
                c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
                if rng.random() < 0.5:
                    cv2.circle(img, c, int(rng.integers(10, max(11, min(h, w) // 3))), color, -1)
                else:
                    cv2.rectangle(img, c, (int(rng.integers(0, w)), int(rng.integers(0, h))),
                                  color, -1)
            img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 3)))
            img = img + rng.normal(0, rng.uniform(1, 8), img.shape)
        elif kind in ("document", "screenshot"):
            img = np.full((h, w), int(rng.uniform(200, 255) if kind == "document"
                                      else rng.uniform(20, 240)), np.uint8)
            if kind == "screenshot":
                for _ in range(int(rng.integers(2, 6))):
                    p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
                    p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
                    cv2.rectangle(img, p1, p2, int(rng.uniform(0, 255)), -1)
            y = int(rng.integers(20, 40))
            ink = int(rng.uniform(0, 60)) if img.mean() > 128 else int(rng.uniform(190, 255))
            while y < h - 10:
                text = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz 0123456789.,"),
                                          int(rng.integers(10, 60))))
                cv2.putText(img, text, (int(rng.integers(5, 30)), y), font,
                            float(rng.uniform(0.4, 1.0)), ink, int(rng.integers(1, 3)))
                y += int(rng.integers(18, 40))
        elif kind == "chart":
            img = np.full((h, w), 255.0)
            xs = np.linspace(20, w - 20, 30).astype(int)
            ys = (h / 2 + np.cumsum(rng.normal(0, h / 30, 30))).clip(10, h - 10).astype(int)
            cv2.polylines(img, [np.stack([xs, ys], 1).astype(np.int32)], False, 0.0, 2)
            cv2.line(img, (20, h - 20), (w - 20, h - 20), 0.0, 2)
            cv2.line(img, (20, 20), (20, h - 20), 0.0, 2)
            for x0 in range(40, w - 40, max(20, w // 12)):
                cv2.rectangle(img, (x0, int(rng.integers(h // 3, h - 30))),
                              (x0 + max(5, w // 30), h - 21), float(rng.uniform(60, 200)), -1)
        elif kind == "noise":
            img = rng.uniform(0, 255, (h, w))
            if rng.random() < 0.5:
                img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 4)))
        elif kind == "ct":
            img = np.zeros((h, w))
            cv2.ellipse(img, (w // 2, h // 2), (int(w * rng.uniform(0.3, 0.45)),
                                                int(h * rng.uniform(0.3, 0.45))),
                        0, 0, 360, float(rng.uniform(80, 140)), -1)
            for _ in range(int(rng.integers(3, 10))):
                cv2.circle(img, (int(rng.integers(w // 4, 3 * w // 4)),
                                 int(rng.integers(h // 4, 3 * h // 4))),
                           int(rng.integers(5, max(6, min(h, w) // 8))),
                           float(rng.uniform(0, 255)), -1)
            img = cv2.GaussianBlur(img, (0, 0), 1.5) + rng.normal(0, 4, img.shape)
        else:
            yy, xx = np.mgrid[0:h, 0:w]
            img = (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1))
            img = (img - img.min()) / (np.ptp(img) + 1e-6) * 255
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


# --------------------------------------------------------------------------- data

def _manifest_keys(organ_key: str, manifest: str | None = None) -> dict[str, list[str]]:
    path = Path(manifest) if manifest else ORGANS[organ_key].weight_path.parent / \
        f"{organ_key}_split.json"
    try:
        data = json.loads(path.read_text())
        return {k: [i["key"] for i in v] for k, v in data["splits"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"Cannot read the split manifest {path} ({exc}).") from exc


def _split(data_dir: str, keys: dict[str, list[str]]) -> tuple[str, dict[str, list[Sample]]]:
    dataset = find_dataset(data_dir)
    return Path(data_dir).name, {s: select(dataset.samples, k) for s, k in keys.items()}


def _subsample(items: list, limit: int | None, seed: int = 0) -> list:
    if limit is None or len(items) <= limit:
        return items
    idx = np.sort(np.random.default_rng(seed).choice(len(items), limit, replace=False))
    return [items[i] for i in idx]


def _halves(samples: list[Sample]) -> tuple[list[Sample], list[Sample]]:
    """Split a folder outside the manifests in two by patient (``Sample.group`` where the
    layout knows it, else the file stem): the organ check fits on one half, is scored on the
    other."""
    import zlib

    def group(s):
        return getattr(s, "group", "") or Path(s.key).stem

    first = [s for s in samples if zlib.crc32(group(s).encode()) % 2 == 0]
    return first, [s for s in samples if zlib.crc32(group(s).encode()) % 2 == 1]


def _model_view(segmenter, gray: np.ndarray) -> np.ndarray:
    from unet.transforms.fov import Box, find_field_of_view
    from unet.transforms.preprocess import to_model_input

    box = (find_field_of_view(gray) if segmenter.organ.crop_field_of_view
           else Box(0, 0, gray.shape[0], gray.shape[1]))
    return to_model_input(gray[box.slice], segmenter.input_size)


def organ_features(segmenter, grays: list[np.ndarray], layer: str,
                   batch: int = 16) -> np.ndarray:
    """Organ-check feature vectors of frames, as inference computes them (batched)."""
    from unet.trust.organ_check import feature_vector, pooled_encoder_features

    rows = []
    for i in range(0, len(grays), batch):
        chunk = grays[i:i + batch]
        x = np.stack([_model_view(segmenter, g) for g in chunk])
        emb = pooled_encoder_features(segmenter.model, x, layer)
        rows.extend(feature_vector(e, g) for e, g in zip(emb, chunk, strict=True))
    return np.array(rows, np.float64)


def quality_row(segmenter, sample: Sample, layer: str) -> dict:
    from unet.trust.quality import dice, measure

    gray = load_gray(sample.image_path)
    truth = load_mask(sample, gray.shape)
    seg = segmenter.segment(gray)
    signals = measure(segmenter, seg, encoder_layer=layer)
    return {"key": sample.key, "stem": Path(sample.key).stem, "has_lesion": bool(truth.any()),
            "dice": dice(seg.mask(), truth), "features": signals.features,
            "organ_features": signals.organ_features.tolist()}
