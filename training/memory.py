"""glibc's allocator, tuned back for training.

TensorFlow's generator dataset (what Keras feeds a `PyDataset` through on that backend) sets
glibc's M_TRIM_THRESHOLD to 128 KB when it starts ("Memory patch applied" in the log). Setting it
also freezes M_MMAP_THRESHOLD (128 KB by default, 32 MB at most), so the large buffers of a
training step (a batch's feature maps are tens of MB) are each a fresh mmap, page-faulted in and
handed back after use: measured on this project's 2-core machine, a
training step of 16 images at 224 px took 4.35 s with that setting (3.6 s of it in the kernel,
1.2 M page faults per step) and 2.52 s with large buffers kept on the heap and reused. The breast
CPU run before this fix spent as much time in the kernel as in the model (user 5,889 s, system
5,502 s, 1.7 billion minor page faults).

`keep_buffers()` sets both thresholds high, so freed buffers stay for the next step; the
`KeepAllocatorBuffers` callback does it at the start of every epoch (after the dataset's patch).
Only glibc has `mallopt`: elsewhere they do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import keras

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
KEEP_BYTES = 1 << 30  # buffers up to 1 GB come from the heap; up to 1 GB of free heap is kept


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") else None
    except OSError:
        return None


def keep_buffers() -> bool:
    """Keep freed training buffers on the heap for reuse; True when glibc took the settings."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, KEEP_BYTES))


class KeepAllocatorBuffers(keras.callbacks.Callback):
    """Re-applies `keep_buffers()` once the data pipeline has started, every epoch."""

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            keep_buffers()

    def on_test_begin(self, logs=None):
        keep_buffers()
