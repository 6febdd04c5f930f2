"""What the training runs on, asked of whichever Keras backend is active (no TensorFlow needed)."""

from __future__ import annotations

import os
import platform

import keras


def accelerators() -> list[str]:
    """Names of the GPUs the active backend sees (empty on a CPU-only machine)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return [str(d.device_kind) for d in jax.devices() if d.platform == "gpu"]
    if backend == "tensorflow":
        import tensorflow as tf

        return [tf.config.experimental.get_device_details(g).get("device_name", g.name)
                for g in tf.config.list_physical_devices("GPU")]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def set_cpu_threads(threads: int) -> None:
    """Cap the CPU threads of TensorFlow's ops (other backends: set XLA/OMP flags yourself)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def hardware_summary() -> dict:
    backend = keras.backend.backend()
    version = "unknown"
    try:
        module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend, backend)
        version = __import__(module).__version__
    except ImportError:
        pass
    return {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "gpus": accelerators(), "platform": platform.platform(), "backend": backend,
            "backend_version": version, "keras": keras.__version__}
