"""Deprecated: the web app's helpers moved to modules named after what they hold.

* :mod:`unet.segmenters` - the organs' models (``Segmenters``, ``ModelUnavailableError``)
* :mod:`unet.scratch` - the per-request temporary folder
* :mod:`unet.result` - one upload's cached result and its rendering
* :mod:`unet.inputs`, :mod:`unet.ground_truth`, :mod:`unet.downloads`
* :mod:`unet.teaching`, :mod:`unet.model_card`, :mod:`unet.examples`

These names are re-exported here only so that older callers keep working; new code imports
them from their own modules.
"""

from unet.segmenters import ModelUnavailableError, Segmenters, default_threshold, is_trained

__all__ = ["ModelUnavailableError", "Segmenters", "default_threshold", "is_trained"]
