"""Teaching material for the "How it works" tab: the U-Net's shape and its feature maps."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from unet.analysis import Analysis
from unet.inference.registry import OrganConfig
from unet.inference.segmenter import Segmenter
from unet.networks.network_shape import architecture, levels

# what the encoder is, by the registry's architecture name (unet/networks/architectures.py)
ENCODER_TEXT = {
    "unet": ("Its encoder is the classic U-Net's: two 3×3 convolutions per level, trained from "
             "scratch on ultrasound scans.", "convolutions, then the size is halved"),
    "efficientnet_unet": (
        "Its encoder (the left half) is **EfficientNet-{variant}**, an image classifier made "
        "for phones (Tan and Le 2019, the Lite variant without squeeze-and-excitation), whose "
        "weights started from ImageNet photos and were then trained on ultrasound; the decoder "
        "(the right half) is a U-Net's.",
        "inverted-residual blocks (depthwise convolutions), then the size is halved"),
}


def encoder_text(organ: OrganConfig) -> tuple[str, str]:
    """(a sentence naming the encoder, what an encoder level does) for the organ's network."""
    sentence, level = ENCODER_TEXT.get(organ.architecture, ENCODER_TEXT["unet"])
    variant = str(organ.model_kwargs.get("variant", "lite0")).replace("lite", "Lite")
    return sentence.format(variant=variant), level


def architecture_markdown(model, organ: OrganConfig) -> str:
    """The U-Net's shape as a text diagram and a table, read from the model itself (or from
    its :func:`unet.networks.network_shape.architecture` dict, which the engine keeps without
    Keras)."""
    arch = model if isinstance(model, dict) else architecture(model)
    enc, dec, bottom = arch["encoder"], arch["decoder"], arch["bottleneck"]

    def cell(s):
        return f"{s[0]}×{s[1]} ×{s[2]}"

    width = max(len(cell(s)) for s in enc) + 2
    by_size = {d[:2]: d for d in dec}
    lines = ["encoder (down)" + " " * (width + 14) + "decoder (up)"]
    for i, e in enumerate(enc):
        pad = " " * (2 * i)
        d = by_size.get(e[:2])
        arrow = "─" * max(4, 2 * (len(enc) - i) + 6) + "►" if d else ""
        lines.append(f"{pad}{cell(e):<{width}}{arrow} {cell(d) if d else ''}".rstrip())
    lines.append(" " * (2 * len(enc) + 2) + f"{cell(bottom)}  bottleneck")
    size = arch["input"]
    encoder_sentence, encoder_level = encoder_text(organ)
    rows = [f"| Input | {size[0]}×{size[1]} | {size[2]} | the image area, resized to a square |"]
    for i, s in enumerate(enc):
        rows.append(f"| Encoder level {i} | {s[0]}×{s[1]} | {s[2]} | {encoder_level} |")
    rows.append(f"| Bottleneck | {bottom[0]}×{bottom[1]} | {bottom[2]} | the coarsest, most "
                "abstract view |")
    sizes = [e[:2] for e in enc]
    for s in reversed(dec):
        level = sizes.index(s[:2]) if s[:2] in sizes else None
        skip = f", joined with encoder level {level} (skip)" if level is not None else ""
        name = f"Decoder level {level}" if level is not None else "Decoder level"
        rows.append(f"| {name} | {s[0]}×{s[1]} | {s[2]} | up-sampling{skip}, convolutions |")
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
        "encoder level straight to the decoder level of the same size. " + encoder_sentence,
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
    """A few layers to show: the first encoder level, a middle one, the bottleneck, a middle
    decoder level and the last decoder level (those that exist, without repeats)."""
    found = levels(model)
    enc, dec = [n for n, _ in found["encoder"]], [n for n, _ in found["decoder"]]
    wanted = [enc[0] if enc else None, enc[len(enc) // 2] if enc else None,
              found["bottleneck"][0], dec[-1] if dec else None]
    return tuple(dict.fromkeys(n for n in wanted if n))


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


def _layer_titles(model) -> dict[str, str]:
    """Layer name -> "Encoder level 0", "Bottleneck", "Decoder level 0" (decoder levels are
    numbered like the encoder level of their size)."""
    found = levels(model)
    titles = {name: f"Encoder level {i}" for i, (name, _) in enumerate(found["encoder"])}
    titles[found["bottleneck"][0]] = "Bottleneck"
    sizes = [shape[:2] for _, shape in found["encoder"]]
    for name, shape in found["decoder"]:
        titles[name] = (f"Decoder level {sizes.index(shape[:2])}" if shape[:2] in sizes
                        else "Decoder level")
    return titles


def colorize(values: np.ndarray, colormap: int = cv2.COLORMAP_VIRIDIS) -> np.ndarray:
    """A 2-D array min-max scaled and colour-mapped to RGB uint8."""
    values = values.astype(np.float32)
    lo, hi = float(values.min()), float(values.max())
    scaled = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    colored = cv2.applyColorMap((scaled * 255 + 0.5).astype(np.uint8), colormap)
    return cv2.cvtColor(colored, cv2.COLOR_BGR2RGB)


def probability_image(probability: np.ndarray, side: int | None = None) -> np.ndarray:
    """A probability map (0-1) as RGB uint8, dark 0 to yellow 1 (inferno), optionally enlarged
    to ``side`` pixels with nearest-neighbour."""
    scaled = (np.clip(probability, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    if side is not None:
        scaled = cv2.resize(scaled, (side, side), interpolation=cv2.INTER_NEAREST)
    return cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def feature_maps(analysis: Analysis, segmenter: Segmenter, *, per_layer: int = 4,
                 tile: int = 224) -> dict:
    """What the network sees, a few feature maps of each chosen layer, and what it outputs.

    One forward pass of the image itself (no mirror) through a sub-model of the organ's
    network. Channels shown are the ``per_layer`` most active ones (highest mean activation)
    of each layer. Returns ``{"input": RGB, "probability": RGB, "layers": [{"name", "title",
    "size": (h, w), "filters", "maps": [(RGB, caption), ...]}, ...], "area_size": (h, w)}``
    (the image area's size before it was resized to the square input); input and probability
    are at the network's resolution, the maps are enlarged to ``tile`` pixels with
    nearest-neighbour so that their real resolution stays visible.
    """
    from unet.transforms.preprocess import to_model_input

    seg = analysis.segmentation
    crop = analysis.image.pixels[seg.field_of_view.slice]
    x = to_model_input(crop, segmenter.input_size)[None]
    sub, names = _feature_model(segmenter)
    *outputs, probability = sub(x, training=False)
    layers = []
    titles = _layer_titles(segmenter.model)
    for name, out in zip(names, outputs, strict=True):
        act = np.asarray(out)[0]
        strongest = np.argsort(-act.mean(axis=(0, 1)), kind="stable")[:per_layer]
        maps = []
        for channel in strongest:
            image = cv2.resize(colorize(act[..., channel]), (tile, tile),
                               interpolation=cv2.INTER_NEAREST)
            maps.append((image, f"#{int(channel) + 1}"))  # the filter's number
        layers.append({"name": name, "title": titles.get(name, name),
                       "size": (int(act.shape[0]), int(act.shape[1])),
                       "filters": int(act.shape[-1]), "maps": maps})
    size = segmenter.input_size
    gray = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return {
        "input": cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB),
        "area_size": (int(crop.shape[0]), int(crop.shape[1])),  # (h, w) before resizing
        "layers": layers,
        "probability": probability_image(np.asarray(probability)[0, ..., 0]),
    }
