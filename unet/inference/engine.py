"""The app's inference engine: the Keras model converted to a TF Lite flatbuffer and run by the
LiteRT interpreter (``ai-edge-litert``) with the XNNPACK delegate on all usable CPU threads.

Why this engine: on the project's 2-core CPU the same graph runs faster through XNNPACK than
through TensorFlow's ``tf.function`` or ONNX Runtime (``python -m benchmarks.speed`` measures
the four side by side), and it gives the same probabilities (max difference to the Keras model
about 1e-5; ``tests/test_engine.py`` holds it within 1e-4 on the bundled weights).

Why ``ai-edge-litert`` rather than ``tf.lite.Interpreter``: TensorFlow deprecates its copy of the
interpreter in favour of LiteRT, which lives on as a separate package that needs no TensorFlow at
run time. The conversion itself still uses TensorFlow's converter (``tf.lite.TFLiteConverter``),
so the engine is used only where Keras runs on TensorFlow.

Where the flatbuffer comes from: shipped beside the ``.keras`` file
(``unet.inference.engine_bundle``:
the export writes ``<organ>.tflite`` for the segmenting batch, with a manifest naming the SHA-256
of the ``.keras`` it came from), so that a fresh host (a Hugging Face Space after each restart)
serves at once; batches of other sizes run through it in chunks. The ``.keras`` file stays the
source of truth: a flatbuffer that does not match it is ignored. Without a matching shipped one,
the engine converts the ``.keras`` file when a ``Segmenter`` loads it and caches the result on
disk, outside the repository, in ``$UNET_ENGINE_CACHE`` (default ``$XDG_CACHE_HOME/unet-litert``
or ``~/.cache/unet-litert``), keyed by the SHA-256 of the ``.keras`` file, the input shape, the
batch size and the TensorFlow / Keras / LiteRT versions. A model given in code (no file) is
converted in memory and not cached.

Without TensorFlow in the process: an engine made from a file alone (``LiteRTEngine(None,
weights=...)``, what the app does) reads the input size from the file's config
(``unet.inference.keras_file``) and, on a cache miss, converts in a child process (``python -m
unet.inference.engine``), so the app never imports TensorFlow or loads the Keras model to serve:
about
600 MB and 4 s less at start-up (measured). The child also stores the network's shape
(``unet.networks.network_shape.architecture``) beside the flatbuffers, for the app's architecture
text.
Where TensorFlow is already imported (training, tests), the conversion runs in-process.

Why a fixed batch size per flatbuffer: with a free batch dimension the converter computes the
output shape of each transposed convolution at run time (SHAPE, STRIDED_SLICE, PACK), which
XNNPACK does not take, so the graph splits into several delegate partitions with the default
kernels between them. With a fixed batch the whole graph is one XNNPACK partition. The engine
therefore keeps one interpreter per batch size: the test-time-augmentation batch is built up
front, and a batch of another size (the quality estimate's) runs in chunks through the shipped
flatbuffer where there is one, or is converted on its first use and kept, so any N works.

One interpreter must not be invoked from two threads at once, so calls are serialized by a lock
(the app serves concurrent requests; XNNPACK already uses every core for one call).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from unet.inference.conversion import (
    EngineUnavailable,
    convert,
    convert_file,
    file_sha256,
    package_version,
)

log = logging.getLogger(__name__)

NAME = "LiteRT + XNNPACK"
CACHE_ENV = "UNET_ENGINE_CACHE"
_FORMAT = 3  # bump when the conversion changes, so that old cache entries are not reused
CACHE_KEEP = 16  # flatbuffers kept in the cache, the most recently used (tests make many)
CONVERT_TIMEOUT_S = 900  # a child conversion of two batch sizes takes ~20 s on 2 cores


def _interpreter_class():
    """LiteRT's Python interpreter class (a seam: tests replace it to simulate its absence)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise EngineUnavailable(f"the LiteRT interpreter (ai-edge-litert) is not installed: "
                                f"{exc}") from exc
    return Interpreter


def usable_threads() -> int:
    """Every CPU this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "unet-litert"


def prune_cache(folder: Path, keep: int | None = None) -> None:
    """Delete all but the ``keep`` most recently used flatbuffers (and network facts) in
    ``folder``."""
    keep = CACHE_KEEP if keep is None else keep
    for pattern in ("*.tflite", "*.json"):
        entries = []
        for path in Path(folder).glob(pattern):
            try:
                entries.append((path.stat().st_mtime, path))
            except OSError:
                continue
        entries.sort(reverse=True)
        for _, path in entries[keep:]:
            try:
                path.unlink()
            except OSError as exc:
                log.debug("engine cache %s not pruned: %s", path, exc)


def _keras_on_tensorflow_here() -> bool:
    """Keras is imported in this process and runs on TensorFlow (so converting here is cheap)."""
    keras = sys.modules.get("keras")
    if keras is None:
        return False
    try:
        return keras.backend.backend() == "tensorflow"
    except AttributeError:
        return False


def _convert_in_child(weights: Path, batch_sizes, feature_layer: str | None) -> tuple[dict, dict]:
    """({batch size: flatbuffer}, architecture) converted by ``python -m unet.inference.engine``
    in a
    child process, so that TensorFlow never enters this one."""
    with tempfile.TemporaryDirectory(prefix="unet-convert-") as tmp:
        cmd = [sys.executable, "-m", "unet.inference.engine", str(weights), "--out", tmp,
               "--batch-sizes", *map(str, batch_sizes)]
        if feature_layer:
            cmd += ["--feature-layer", feature_layer]
        env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
        root = Path(__file__).resolve().parents[2]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True,
                                  timeout=CONVERT_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EngineUnavailable(f"the conversion did not run: {exc}") from exc
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise EngineUnavailable(f"the conversion failed ({tail[0]})")
        folder = Path(tmp)
        contents = {int(n): (folder / f"b{int(n)}.tflite").read_bytes() for n in batch_sizes}
        return contents, _architecture_from_json(
            json.loads((folder / "architecture.json").read_text()))


def _architecture_from_json(arch: dict) -> dict:
    """Shapes back to tuples, as ``unet.networks.network_shape.architecture`` gives them."""
    out = dict(arch)
    for key in ("input", "bottleneck", "output"):
        out[key] = tuple(arch[key])
    for key in ("encoder", "decoder"):
        out[key] = [tuple(s) for s in arch[key]]
    return out


class LiteRTEngine:
    """``engine(x)``: the model's output for a float32 batch ``x`` of any size, via LiteRT.

    ``weights``: the ``.keras`` file the model was loaded from; its hash keys the disk cache
    (None: a model given in code, converted in memory only). ``batch_sizes``: converted now.
    ``feature_layer``: also output that layer (``run_with_features``), in the same pass.
    """

    name = NAME

    def __init__(self, model=None, *, weights: str | Path | None = None,
                 batch_sizes: tuple[int, ...] = (2,), threads: int | None = None,
                 cache_dir: str | Path | None = None, feature_layer: str | None = None):
        if model is None and weights is None:
            raise ValueError("LiteRTEngine needs a model or a .keras file")
        if model is not None:
            import keras

            if keras.backend.backend() != "tensorflow":
                raise EngineUnavailable(f"Keras backend is {keras.backend.backend()!r}; the "
                                        "conversion needs TensorFlow")
            self.input_shape = tuple(int(d) for d in model.input_shape[1:])
        else:
            from unet.inference.keras_file import UnreadableModelFile, read_facts

            try:
                self.input_shape = read_facts(weights).input_shape
            except UnreadableModelFile as exc:
                raise EngineUnavailable(str(exc)) from exc
        self._interpreter_cls = _interpreter_class()
        self.model = model
        self.feature_layer = feature_layer
        self.threads = int(threads or usable_threads())
        self._weights = Path(weights) if weights is not None else None
        self._weights_sha = file_sha256(self._weights) if self._weights is not None else None
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._runners: dict[int, tuple] = {}
        self._converted: dict[int, bytes] = {}  # from a child conversion, until first used
        self._architecture: dict | None = None
        self._lock = threading.Lock()
        self.conversions = 0  # flatbuffers converted (not read from the cache), for tests
        # the flatbuffer shipped beside the .keras file (unet.inference.engine_bundle)
        self._bundle = None
        if self._weights is not None:
            from unet.inference import engine_bundle

            self._bundle = engine_bundle.read(
                self._weights, weights_sha256=self._weights_sha, input_shape=self.input_shape,
                feature_layer=feature_layer)
            if self._bundle is not None and self._bundle.architecture:
                self._architecture = _architecture_from_json(self._bundle.architecture)
        sizes = sorted({self._run_size(int(n)) for n in batch_sizes})
        missing = [n for n in sizes if not self._is_cached(n) and not self._is_bundled(n)]
        if missing and self._in_child():
            self._convert_elsewhere(missing)
        for n in sizes:
            self._runner(n)

    # ---------------------------------------------------------------------- flatbuffers

    def _cache_path(self, batch_size: int | None) -> Path | None:
        """The cache file of one batch size's flatbuffer (None: the network's shape, JSON)."""
        if self._weights_sha is None:
            return None
        key = "|".join([
            str(_FORMAT), self._weights_sha, "x".join(map(str, self.input_shape)),
            str(batch_size), self.feature_layer or "", package_version("tensorflow"),
            package_version("tensorflow-cpu"), package_version("keras"),
            package_version("ai-edge-litert")])
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        if batch_size is None:
            return self.cache_dir / f"{self._weights.stem}-architecture-{digest}.json"
        return self.cache_dir / f"{self._weights.stem}-b{batch_size}-{digest}.tflite"

    def _is_cached(self, batch_size: int) -> bool:
        path = self._cache_path(batch_size)
        return path is not None and path.is_file()

    def _is_bundled(self, batch_size: int) -> bool:
        return self._bundle is not None and self._bundle.batch_size == batch_size

    def _run_size(self, batch_size: int) -> int:
        """The flatbuffer batch a batch of ``batch_size`` runs through: its own when it is at
        hand without converting (or there is no shipped one), else the shipped one, in chunks."""
        if (self._bundle is None or batch_size in self._runners or batch_size in self._converted
                or self._is_cached(batch_size) or self._is_bundled(batch_size)):
            return batch_size
        return self._bundle.batch_size

    def _in_child(self) -> bool:
        """Convert in a child process: a file without a model, and no Keras on TensorFlow here."""
        return self.model is None and not _keras_on_tensorflow_here()

    def _convert_elsewhere(self, batch_sizes) -> None:
        contents, arch = _convert_in_child(self._weights, batch_sizes, self.feature_layer)
        self.conversions += len(contents)
        self._converted.update(contents)
        for n, content in contents.items():
            self._store(n, content)
        self._keep_architecture(arch)

    def _keep_architecture(self, arch: dict) -> None:
        self._architecture = arch
        path = self._cache_path(None)
        if path is not None:
            self._write_atomic(path, json.dumps(arch).encode())

    def architecture(self) -> dict | None:
        """The network's shape (``unet.networks.network_shape.architecture``), without loading
        Keras when
        it was stored beside the flatbuffers; None when it is not known here."""
        if self._architecture is None:
            path = self._cache_path(None)
            try:
                if path is not None and path.is_file():
                    self._architecture = _architecture_from_json(json.loads(path.read_text()))
            except (OSError, ValueError) as exc:
                log.debug("engine cache %s unreadable: %s", path, exc)
        if self._architecture is None and self.model is not None:
            from unet.networks.network_shape import architecture

            self._keep_architecture(architecture(self.model))
        return self._architecture

    def _load_model(self):
        import keras

        self.model = keras.saving.load_model(self._weights, compile=False)
        return self.model

    def _flatbuffer(self, batch_size: int) -> bytes | None:
        if self._is_bundled(batch_size):
            return self._bundle.content
        path = self._cache_path(batch_size)
        if path is not None and path.is_file():
            try:
                content = path.read_bytes()
                os.utime(path)  # recently used: kept by prune_cache
                return content
            except OSError as exc:
                log.debug("engine cache %s unreadable: %s", path, exc)
        return None

    def _store(self, batch_size: int, content: bytes) -> None:
        path = self._cache_path(batch_size)
        if path is not None and self._write_atomic(path, content):
            prune_cache(path.parent)

    @staticmethod
    def _write_atomic(path: Path, content: bytes) -> bool:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(content)
                os.replace(tmp, path)  # atomic: a concurrent reader sees all or nothing
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:  # a read-only home: convert again next time
            log.debug("engine cache %s not written: %s", path, exc)
            return False
        return True

    def _interpreter(self, content: bytes):
        interpreter = self._interpreter_cls(model_content=content, num_threads=self.threads)
        interpreter.allocate_tensors()
        return interpreter

    def _runner(self, batch_size: int) -> tuple:
        runner = self._runners.get(batch_size)
        if runner is not None:
            return runner
        content = self._converted.pop(batch_size, None) or self._flatbuffer(batch_size)
        interpreter = None
        if content is not None:
            try:
                interpreter = self._interpreter(content)
            except (ValueError, RuntimeError) as exc:  # a damaged cache file: convert again
                log.debug("engine cache for batch %d unusable: %s", batch_size, exc)
        if interpreter is None:
            if self._in_child():
                self._convert_elsewhere([batch_size])
                content = self._converted.pop(batch_size)
            else:
                content = convert(self.model if self.model is not None else self._load_model(),
                                  batch_size, self.feature_layer)
                self.conversions += 1
                self._store(batch_size, content)
            interpreter = self._interpreter(content)
        (inp,) = interpreter.get_input_details()
        expected = (batch_size, *self.input_shape)
        if tuple(inp["shape"]) != expected:
            raise RuntimeError(f"flatbuffer input {tuple(inp['shape'])}, expected {expected}")
        # the probability map has the input's spatial size; the features (if any) are smaller
        outputs = sorted(interpreter.get_output_details(),
                         key=lambda d: tuple(d["shape"][1:3]) != tuple(expected[1:3]))
        if len(outputs) != (2 if self.feature_layer else 1):
            raise RuntimeError(f"flatbuffer has {len(outputs)} outputs")
        runner = (interpreter, inp["index"], outputs[0]["index"],
                  outputs[1]["index"] if self.feature_layer else None)
        self._runners[batch_size] = runner
        return runner

    # -------------------------------------------------------------------------- running

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.run_with_features(x)[0]

    def run_with_features(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(the model's output, ``feature_layer``'s output or None) for one batch, one pass."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"input {x.shape[1:]}, the model takes {self.input_shape}")
        n = int(x.shape[0])
        with self._lock:
            size = self._run_size(n)
            if size == n:
                return self._invoke(self._runner(n), x)
            # chunks of the shipped batch size, the last one padded with zeros
            runner = self._runner(size)
            parts = []
            for start in range(0, n, size):
                chunk = x[start:start + size]
                padded = np.zeros((size, *self.input_shape), np.float32)
                padded[:len(chunk)] = chunk
                out, feat = self._invoke(runner, padded)
                parts.append((out[:len(chunk)], None if feat is None else feat[:len(chunk)]))
        out = np.concatenate([p[0] for p in parts])
        feats = None if parts[0][1] is None else np.concatenate([p[1] for p in parts])
        return out, feats

    @staticmethod
    def _invoke(runner: tuple, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        interpreter, inp, out, feat = runner
        interpreter.set_tensor(inp, x)
        interpreter.invoke()
        # get_tensor copies: safe after the lock is released
        return (interpreter.get_tensor(out),
                None if feat is None else interpreter.get_tensor(feat))

    @property
    def batch_sizes(self) -> list[int]:
        return sorted(self._runners)

    def fully_delegated(self, batch_size: int) -> bool | None:
        """True when XNNPACK runs the whole graph at this batch size: one delegate partition
        that reads the model's input and writes its output (a partition is convex, so no
        TF Lite kernel runs in between). None when the interpreter does not say."""
        with self._lock:
            interpreter, inp, out, feat = self._runner(batch_size)
            try:
                ops = interpreter._get_ops_details()  # noqa: SLF001 - no public equivalent
            except AttributeError:
                return None
        delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
        outs = [out] if feat is None else [out, feat]
        return (len(delegates) == 1 and inp in list(delegates[0]["inputs"])
                and all(o in list(delegates[0]["outputs"]) for o in outs))


def main(argv=None) -> int:
    """``python -m unet.inference.engine WEIGHTS --out DIR --batch-sizes 2 4``: the child
    conversion."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batch-sizes", type=int, nargs="+", required=True)
    parser.add_argument("--feature-layer")
    args = parser.parse_args(argv)
    convert_file(args.weights, args.batch_sizes, args.feature_layer, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
