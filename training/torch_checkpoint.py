"""Read a legacy (non-zip) PyTorch checkpoint into NumPy arrays without importing torch.

The legacy format is a sequence of pickles followed by raw storage data:
magic number, protocol version, system info, the state dict (tensors refer to storages by a
persistent id), the list of storage keys; then for each key, in that order, an 8-byte little-endian
element count followed by the storage's raw little-endian data.
Tensors are rebuilt as NumPy views that honour the pickled size, stride and offset (some tensors
are not contiguous), then copied into C-contiguous arrays.
"""

from __future__ import annotations

import pickle
import struct
from collections import OrderedDict
from pathlib import Path

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C

_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class CheckpointError(ValueError):
    """The file is not a legacy PyTorch checkpoint this reader understands."""


class _Storage:
    def __init__(self, key: str, dtype, size: int):
        self.key, self.dtype, self.size = key, np.dtype(dtype), size
        self.data: np.ndarray | None = None


class _PendingTensor:
    """A tensor whose storage bytes come after the pickles."""

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def materialize(self) -> np.ndarray:
        base = self.storage.data
        if base is None:
            raise CheckpointError(f"storage {self.storage.key} has no data")
        if not self.size:
            return np.array(base[self.offset])
        item = base.itemsize
        view = np.lib.stride_tricks.as_strided(
            base[self.offset:], shape=self.size, strides=[s * item for s in self.stride])
        return np.ascontiguousarray(view)


def _rebuild_tensor(storage, storage_offset, size, stride, *_args):
    return _PendingTensor(storage, int(storage_offset), tuple(size), tuple(stride))


class _StorageType:
    def __init__(self, name: str):
        self.name = name


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, storages: dict):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module.startswith("torch") and name in _DTYPES:
            return _StorageType(name)
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return lambda data, *_a: data
        raise CheckpointError(f"unexpected object {module}.{name} in the checkpoint")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, size = pid[:5]
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise CheckpointError(f"unsupported persistent id {pid[:2]}")
        if key not in self.storages:
            self.storages[key] = _Storage(key, _DTYPES[storage_type.name], int(size))
        return self.storages[key]


def read_legacy_checkpoint(path: str | Path) -> OrderedDict[str, np.ndarray]:
    """name -> float32/int array, in the checkpoint's own order."""
    storages: dict[str, _Storage] = {}
    with open(path, "rb") as f:
        try:
            magic = pickle.load(f)
        except Exception as exc:  # a zip checkpoint or another file
            raise CheckpointError(f"{path} is not a legacy PyTorch checkpoint") from exc
        if magic != MAGIC_NUMBER:
            raise CheckpointError(f"{path} is not a legacy PyTorch checkpoint (bad magic)")
        pickle.load(f)  # protocol version
        pickle.load(f)  # system info (byte order, type sizes)
        state = _Unpickler(f, storages).load()
        keys = pickle.load(f)
        for key in keys:
            (count,) = struct.unpack("<q", f.read(8))
            st = storages[key]
            raw = f.read(count * st.dtype.itemsize)
            if len(raw) != count * st.dtype.itemsize:
                raise CheckpointError(f"{path} ends inside storage {key}")
            st.data = np.frombuffer(raw, dtype=st.dtype.newbyteorder("<")).astype(st.dtype)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state dict")
    out: OrderedDict[str, np.ndarray] = OrderedDict()
    for name, value in state.items():
        if isinstance(value, _PendingTensor):
            out[name] = value.materialize()
    return out
