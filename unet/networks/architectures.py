"""The model builders an organ's registry entry can name, by name.

`build_model(architecture, input_size, **kwargs)` is how training, export and the teaching tab
build a network, so adding an architecture means adding a builder here.
"""

from __future__ import annotations

from unet.networks.box_prompt_unet import build_box_prompt_unet
from unet.networks.efficientnet_unet import build_efficientnet_unet
from unet.networks.unet import build_unet

ARCHITECTURES = {
    "unet": build_unet,  # the from-scratch U-Net (unet/networks/unet.py)
    "efficientnet_unet": build_efficientnet_unet,  # EfficientNet-Lite encoder, ImageNet init
    "box_prompt_unet": build_box_prompt_unet,  # the same with a user's box as a second channel
}


def build_model(architecture: str, input_size: int, **kwargs):
    try:
        builder = ARCHITECTURES[architecture]
    except KeyError:
        raise ValueError(f"architecture must be one of {sorted(ARCHITECTURES)}, "
                         f"got {architecture!r}") from None
    return builder(input_size, **kwargs)
