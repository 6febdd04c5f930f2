"""Shared helpers for tests: small untrained models in place of the bundled weights, synthetic
data sets, and long child processes run in the background (``BackgroundRun``)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from unet.inference.registry import get_organ
from unet.inference.segmenter import Segmenter
from unet.networks.unet import build_unet


def small_organ(key: str = "breast", size: int = 64):
    """The organ's registry entry with a small input size, for fast tests."""
    return dataclasses.replace(get_organ(key), input_size=size,
                               model_kwargs=dict(depth=2, base_filters=4))


def fresh_segmenter(key: str = "breast", size: int = 64) -> Segmenter:
    organ = small_organ(key, size)
    return Segmenter(organ, model=build_unet(size, **organ.model_kwargs))


def write_image_mask_pairs(root, count: int, height: int = 80, width: int = 96):
    """A generic ``images/`` + ``masks/`` data set of ``count`` phantoms (seeds 0..count-1)."""
    from pathlib import Path

    import cv2
    import numpy as np

    from unet.testing.phantom import make_phantom

    root = Path(root)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(count):
        gray, mask = make_phantom(height, width, seed=i)
        cv2.imwrite(str(root / "images" / f"{i}.png"), gray)
        cv2.imwrite(str(root / "masks" / f"{i}.png"), mask.astype(np.uint8) * 255)
    return root


def keras_output(model, x):
    """The Keras model's own answer for a batch, as NumPy (the reference the engine must match)."""
    import keras

    return keras.ops.convert_to_numpy(model(x, training=False))


def texture(image):
    """Mean squared Laplacian: the fine detail an image holds (any dtype)."""
    import cv2
    import numpy as np

    return float(np.mean(cv2.Laplacian(np.asarray(image, np.float32), cv2.CV_32F) ** 2))


ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass
class Finished:
    """What a background run left: its exit status, its output (stdout and stderr) and its
    folder (its inputs and outputs, removed when the test session ends)."""

    returncode: int
    output: str
    folder: Path


class BackgroundRun:
    """A long child process (a training run, a check on another Keras backend) that some tests
    read. When collection ends, conftest prepares every run the selected tests need and a
    worker thread runs them one after another, beside the tests in the main process (which
    rarely keeps two cores busy); the test that reads one takes the session fixture of the
    same name, which waits for it (or starts it at once if the worker has not reached it).

    ``prepare(folder)`` writes the run's inputs into ``folder`` and returns (argv, extra
    environment variables). The command runs in the repository root with the environment as it
    was when collection ended (not a test's monkeypatched one). ``needs``: optional packages
    (importorskip'd by the fixture; without them the run is not started).
    """

    registry: dict[str, BackgroundRun] = {}
    _worker: threading.Thread | None = None
    _stopping = False

    def __init__(self, name: str, prepare: Callable[[Path], tuple[list[str], dict[str, str]]],
                 *, needs: tuple[str, ...] = (), timeout: float = 900):
        if name in self.registry:
            raise ValueError(f"two background runs named {name}")
        self.name, self.prepare, self.timeout, self.needs = name, prepare, timeout, needs
        self._lock = threading.Lock()
        self._command: tuple[list[str], dict[str, str]] | None = None
        self.folder: Path | None = None
        self.process: subprocess.Popen | None = None
        self._finished: Finished | None = None
        self.registry[name] = self

    def prepare_in(self, root: Path, environ: dict[str, str]) -> None:
        """Writes the inputs (in the main thread: ``prepare`` may use Keras)."""
        if self._command is None:
            root.mkdir(parents=True, exist_ok=True)
            self.folder = Path(tempfile.mkdtemp(prefix=f"{self.name}-", dir=root))
            argv, env = self.prepare(self.folder)
            self._command = argv, {**environ, **env}

    def start(self) -> None:
        with self._lock:
            if self.process is None and not BackgroundRun._stopping:
                argv, env = self._command
                with open(self.folder / "output.log", "wb") as log:
                    self.process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log,
                                                    stderr=subprocess.STDOUT)

    def wait(self, root: Path) -> Finished:
        """The finished run (prepared and started now, in ``root``, where collection did not)."""
        if self._finished is None:
            self.prepare_in(root, dict(os.environ))
            self.start()
            try:
                returncode = self.process.wait(self.timeout)
            except subprocess.TimeoutExpired:
                self.stop()
                raise
            output = (self.folder / "output.log").read_text(errors="replace")
            self._finished = Finished(returncode, output, self.folder)
        return self._finished

    def stop(self) -> None:
        """Ends the child process if it still runs (the session ends, or it timed out)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def fixture(self):
        """The session fixture (named after the run) that returns the ``Finished`` run."""
        import pytest

        def finished(tmp_path_factory):
            for module in self.needs:
                pytest.importorskip(module)
            return self.wait(tmp_path_factory.mktemp(self.name))

        return pytest.fixture(scope="session", name=self.name)(finished)

    @classmethod
    def run_in_background(cls, names: list[str], root: Path) -> None:
        """Prepares the named runs now and runs them one at a time in a worker thread."""
        import importlib.util

        environ = dict(os.environ)
        runs = []
        for name in names:
            run = cls.registry[name]
            if not all(importlib.util.find_spec(m) for m in run.needs):
                continue
            try:
                run.prepare_in(root, environ)
            except Exception:  # its fixture prepares it again, and the test fails with the error
                run._command = None
                continue
            runs.append(run)

        def work():
            for run in runs:
                run.start()
                if run.process is not None:
                    run.process.wait()

        cls._worker = threading.Thread(target=work, name="background-runs", daemon=True)
        cls._worker.start()

    @classmethod
    def stop_all(cls) -> None:
        cls._stopping = True
        for run in cls.registry.values():
            with run._lock:
                run.stop()


# For the child processes on Keras's JAX backend: XLA compiles every new shape, even each
# initializer of a model being loaded (their values are overwritten by the file's), and its
# backend optimisations take most of that time. The answers do not depend on them; the tests
# compare them with TensorFlow's and the LiteRT engine's.
XLA_QUICK_COMPILE = {"XLA_FLAGS": "--xla_backend_optimization_level=0"}
