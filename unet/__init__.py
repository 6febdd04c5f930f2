"""U-Net tumour segmentation for breast and thyroid ultrasound: from an uploaded file to a mask,
measurements and overlays. No UI and no training code lives here."""

from unet.errors import ImageInputError

__all__ = ["ImageInputError"]
