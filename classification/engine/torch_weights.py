"""Read a PyTorch state dict (legacy serialisation) without importing torch.

The pickle inside a .pth file can name any callable, so loading one with
pickle is running code from the file.  This reader admits only what a state
dict of float tensors needs (an OrderedDict, tensor rebuilding, the storage
types) and refuses everything else; the file's SHA-256 is checked first.
"""

from __future__ import annotations

import collections
import hashlib
import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
}


class UnsafeWeightsFile(ValueError):
    pass


@dataclass
class _Storage:
    key: str
    dtype: np.dtype[Any]
    numel: int
    data: NDArray[Any] | None = None


@dataclass
class _Tensor:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def materialise(self) -> NDArray[Any]:
        assert self.storage.data is not None
        base = self.storage.data[self.offset :]
        strides = tuple(s * base.itemsize for s in self.stride)
        return np.lib.stride_tricks.as_strided(base, self.size, strides).copy()


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any) -> _Tensor:
    return _Tensor(storage, offset, tuple(size), tuple(stride))


class _StorageType:
    def __init__(self, name: str) -> None:
        self.name = name


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase) -> None:
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) in (("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor")):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafeWeightsFile(f"the weights file asks for {module}.{name}, which a state dict never needs")

    def persistent_load(self, pid: Any) -> _Storage:
        kind, storage_type, key, _location, numel = pid[:5]
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise UnsafeWeightsFile(f"unexpected persistent id {kind!r}")
        storage = self.storages.setdefault(key, _Storage(key, _STORAGE_DTYPES[storage_type.name], int(numel)))
        return storage


def load_state_dict(path: Path, sha256: str) -> dict[str, NDArray[Any]]:
    """The named tensors of a legacy-format .pth file, as numpy arrays."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise UnsafeWeightsFile(f"{path.name} has SHA-256 {digest}, expected {sha256}")
    stream = io.BytesIO(data)
    header = [_RestrictedUnpickler(stream).load() for _ in range(3)]  # magic, protocol, system info
    if header[0] != _LEGACY_MAGIC:
        raise UnsafeWeightsFile("not a legacy PyTorch serialisation")
    unpickler = _RestrictedUnpickler(stream)
    state = unpickler.load()
    keys = _RestrictedUnpickler(stream).load()
    for key in keys:
        storage = unpickler.storages[key]
        (count,) = struct.unpack("<q", stream.read(8))
        if count != storage.numel:
            raise UnsafeWeightsFile(f"storage {key} holds {count} values, its header said {storage.numel}")
        raw = stream.read(count * storage.dtype.itemsize)
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return {name: tensor.materialise() for name, tensor in state.items() if isinstance(tensor, _Tensor)}
