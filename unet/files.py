"""Writing result files: whole or not at all. Each file is written under a temporary name in its
own folder, then renamed over the target (``os.replace`` is atomic on one file system), so a
crash or a full disk never leaves a half-written mask, report or weight file behind."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image


def _process_umask() -> int:
    """The process's umask (read once, at import: setting it to read it is not thread-safe)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# a finished file gets the permissions open() would give it (mkstemp's are owner-only)
FILE_MODE = 0o666 & ~_process_umask()


def write_atomic(path: str | Path, content: bytes | str) -> Path:
    """Write ``content`` (bytes, or text as UTF-8) to ``path`` atomically; returns the path.
    The file gets the permissions a plain ``open(path, "w")`` would give it (``FILE_MODE``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def png_bytes(array: np.ndarray) -> bytes:
    """Lossless PNG without metadata; (H, W) uint8 as 8-bit grey, (H, W, 3) uint8 as RGB."""
    buffer = io.BytesIO()
    # compress_level 1: lossless like any level, several times faster to write than the default
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def write_png(path: str | Path, array: np.ndarray) -> Path:
    """:func:`png_bytes` written atomically to ``path``; (H, W, 3) arrays are RGB."""
    return write_atomic(path, png_bytes(array))


def mask_png(mask: np.ndarray) -> np.ndarray:
    """A bool mask as the 0/255 uint8 image every mask download is."""
    return np.where(mask, 255, 0).astype(np.uint8)
