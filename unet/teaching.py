"""Teaching material for the "How it works" tab: the U-Net's shape and its feature maps."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from unet.analysis import Analysis
from unet.registry import OrganConfig
from unet.segmenter import Segmenter


def architecture(model) -> dict:
    """Levels of a U-Net built by :func:`unet.model.build_unet`: sizes and filter counts."""
    def shape(name):
        out = model.get_layer(name).output.shape
        return int(out[1]), int(out[2]), int(out[3])

    names = {layer.name for layer in model.layers}
    depth = sum(1 for n in names if n.startswith("enc") and n.endswith("_relu2"))
    return {
        "input": tuple(int(v) for v in model.input_shape[1:]),
        "encoder": [shape(f"enc{i}_relu2") for i in range(depth)],
        "bottleneck": shape("bottleneck_relu2"),
        "decoder": [shape(f"dec{i}_relu2") for i in range(depth)],
        "output": tuple(int(v) for v in model.output_shape[1:]),
        "parameters": int(model.count_params()),
        "layers": len(model.layers),
    }


def architecture_markdown(model, organ: OrganConfig) -> str:
    """The U-Net's shape as a text diagram and a table, read from the model itself."""
    arch = architecture(model)
    enc, dec, bottom = arch["encoder"], arch["decoder"], arch["bottleneck"]

    def cell(s):
        return f"{s[0]}×{s[1]} ×{s[2]}"

    width = max(len(cell(s)) for s in enc) + 2
    lines = ["encoder (down)" + " " * (width + 14) + "decoder (up)"]
    for i, (e, d) in enumerate(zip(enc, dec, strict=True)):
        pad = " " * (2 * i)
        arrow = "─" * max(4, 2 * (len(enc) - i) + 6) + "►"
        lines.append(f"{pad}{cell(e):<{width}}{arrow} {cell(d)}")
    lines.append(" " * (2 * len(enc) + 2) + f"{cell(bottom)}  bottleneck")
    size = arch["input"]
    rows = [f"| Input | {size[0]}×{size[1]} | {size[2]} | the image, resized |"]
    for i, s in enumerate(enc):
        rows.append(f"| Encoder level {i} | {s[0]}×{s[1]} | {s[2]} | two 3×3 convolutions, "
                    "then max-pooling halves the size |")
    rows.append(f"| Bottleneck | {bottom[0]}×{bottom[1]} | {bottom[2]} | the coarsest, most "
                "abstract view |")
    for i in reversed(range(len(dec))):
        s = dec[i]
        rows.append(f"| Decoder level {i} | {s[0]}×{s[1]} | {s[2]} | up-sampling, joined with "
                    f"encoder level {i} (skip), two 3×3 convolutions |")
    out = arch["output"]
    rows.append(f"| Output | {out[0]}×{out[1]} | {out[2]} | lesion probability per pixel "
                "(sigmoid) |")
    return "\n".join([
        f"### The {organ.display_name} U-Net",
        "",
        f"{len(enc)} levels down, a bottleneck and {len(dec)} levels up; "
        f"{arch['parameters']:,} trainable numbers (weights). The left half (encoder) shrinks "
        "the image and learns *what* is there; the right half (decoder) grows it back and "
        "decides *where*. The arrows are skip connections: they hand the fine detail of each "
        "encoder level straight to the decoder level of the same size.",
        "",
        "```text",
        *lines,
        "```",
        "",
        "| Stage | Size (px) | Filters | What happens |",
        "|---|---|---|---|",
        *rows,
    ])


_feature_models: dict[str, tuple[object, object, tuple[str, ...]]] = {}
_feature_lock = threading.Lock()


def feature_layers(model) -> tuple[str, ...]:
    """A few encoder and decoder layers to show: enc0, a middle encoder level, the bottleneck,
    a middle decoder level and dec0 (those that exist)."""
    names = {layer.name for layer in model.layers}
    depth = sum(1 for n in names if n.startswith("enc") and n.endswith("_relu2"))
    mid = depth // 2
    wanted = ["enc0_relu2", f"enc{mid}_relu2", "bottleneck_relu2", "dec0_relu2"]
    return tuple(dict.fromkeys(n for n in wanted if n in names))


def _feature_model(segmenter: Segmenter):
    """The sub-model from the input to the chosen layers, cached per organ (and model)."""
    import keras

    key = segmenter.organ.key
    with _feature_lock:
        cached = _feature_models.get(key)
        if cached is not None and cached[0] is segmenter.model:
            return cached[1], cached[2]
        names = feature_layers(segmenter.model)
        outputs = [segmenter.model.get_layer(n).output for n in names]
        sub = keras.Model(segmenter.model.input, [*outputs, segmenter.model.output])
        _feature_models[key] = (segmenter.model, sub, names)
        return sub, names


_LAYER_TITLES = {"enc": "Encoder level", "dec": "Decoder level"}


def _layer_title(name: str) -> str:
    if name.startswith("bottleneck"):
        return "Bottleneck"
    return f"{_LAYER_TITLES[name[:3]]} {name[3:].split('_')[0]}"


def colorize(values: np.ndarray, colormap: int = cv2.COLORMAP_VIRIDIS) -> np.ndarray:
    """A 2-D array min-max scaled and colour-mapped to RGB uint8."""
    values = values.astype(np.float32)
    lo, hi = float(values.min()), float(values.max())
    scaled = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    colored = cv2.applyColorMap((scaled * 255 + 0.5).astype(np.uint8), colormap)
    return cv2.cvtColor(colored, cv2.COLOR_BGR2RGB)


def feature_maps(analysis: Analysis, segmenter: Segmenter, *, per_layer: int = 4,
                 tile: int = 160) -> dict:
    """What the network sees, a few feature maps of each chosen layer, and what it outputs.

    One forward pass of the image itself (no mirror) through a sub-model of the organ's
    network. Channels shown are the ``per_layer`` most active ones (highest mean activation)
    of each layer. Returns ``{"input": RGB, "probability": RGB, "layers": [{"name", "title",
    "size": (h, w), "filters", "maps": [(RGB, caption), ...]}, ...]}``; input and probability
    are at the network's resolution, the maps are enlarged to ``tile`` pixels with
    nearest-neighbour so that their real resolution stays visible.
    """
    from unet.preprocess import to_model_input

    seg = analysis.segmentation
    crop = analysis.image.pixels[seg.field_of_view.slice]
    x = to_model_input(crop, segmenter.input_size)[None]
    sub, names = _feature_model(segmenter)
    *outputs, probability = sub(x, training=False)
    layers = []
    for name, out in zip(names, outputs, strict=True):
        act = np.asarray(out)[0]
        strongest = np.argsort(-act.mean(axis=(0, 1)), kind="stable")[:per_layer]
        maps = []
        for channel in strongest:
            image = cv2.resize(colorize(act[..., channel]), (tile, tile),
                               interpolation=cv2.INTER_NEAREST)
            maps.append((image, f"filter #{int(channel) + 1}"))
        layers.append({"name": name, "title": _layer_title(name),
                       "size": (int(act.shape[0]), int(act.shape[1])),
                       "filters": int(act.shape[-1]), "maps": maps})
    size = segmenter.input_size
    gray = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    probability = np.clip(np.asarray(probability)[0, ..., 0], 0.0, 1.0)
    heat = cv2.applyColorMap((probability * 255 + 0.5).astype(np.uint8), cv2.COLORMAP_INFERNO)
    return {
        "input": cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB),
        "layers": layers,
        "probability": cv2.cvtColor(heat, cv2.COLOR_BGR2RGB),
    }
