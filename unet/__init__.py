"""U-Net tumour segmentation for breast and thyroid ultrasound: from an uploaded file to a mask,
measurements and overlays. No UI and no training code lives here.

The pipeline's stages are its sub-packages: ``io`` (read a file), ``transforms`` (field of view,
pre- and post-processing, test-time augmentation), ``networks`` (the architectures),
``inference`` (organ registry, weights, engine, segmenter, model cache), ``trust`` (quality
estimate, organ check); then ``measurements`` and ``overlay``. ``analysis`` joins them for one
upload, ``batch`` for many, ``predict`` is the command line.

    from unet import analyze
    analysis = analyze("scan.png", "breast")
    analysis.report(mm_per_pixel=0.1)
"""

from unet.errors import ImageInputError


def analyze(source, organ=None, **kwargs):
    """Read, segment and assess one image: see :func:`unet.analysis.analyze`."""
    from unet.analysis import analyze as _analyze

    return _analyze(source, organ, **kwargs)


__all__ = ["ImageInputError", "analyze"]
