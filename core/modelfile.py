"""Compact model files: float16 weights in a compressed ``.npz`` plus a JSON sidecar.

float16 halves the shipped size (weights stay small enough for git) at no measurable
cost in accuracy; the sidecar records the config and library versions that made the
weights, so a model file always says how it was built.
"""

from __future__ import annotations

import hashlib
import json
import platform
import zipfile
import zlib
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from lunggate.core.errors import ModelFileError

_VERSIONED = ("lunggate", "tensorflow", "tf-keras", "segmentation-models", "numpy")


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, the identity reports and results cite."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def sidecar(path: str | Path) -> Path:
    """The JSON file that describes a weights file."""
    return Path(path).with_suffix(".json")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def save(weights: list[np.ndarray], path: str | Path, meta: dict[str, Any]) -> str:
    """Write weights (float arrays stored as float16) and the sidecar; return the SHA-256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = [w.astype(np.float16) if w.dtype.kind == "f" else w for w in weights]
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, *stored)
    tmp.replace(path)  # a crash mid-write never leaves a half-written model behind
    digest = sha256(path)
    info = {"weights": path.name, "sha256": digest, "versions": library_versions(), **meta}
    sidecar(path).write_text(json.dumps(info, indent=2) + "\n")
    return digest


def read_meta(path: str | Path) -> dict[str, Any]:
    """The sidecar of a weights file."""
    side = sidecar(path)
    if not Path(path).is_file():
        raise ModelFileError(f"model file {path} does not exist; train it or pass another path")
    if not side.is_file():
        raise ModelFileError(f"model file {path} has no description {side}")
    try:
        meta = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{side} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise ModelFileError(f"{side} does not describe a model (no config)")
    return meta


def load(path: str | Path, dtypes: list[np.dtype] | None = None) -> list[np.ndarray]:
    """Read weights back, cast to the model's own dtypes (None: check the file only).

    Raises:
        ModelFileError: missing or unreadable file, or a different number of arrays.
    """
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        # Truncated, empty or foreign bytes: say so, not what NumPy would try next.
        raise ModelFileError(
            f"model weights {path} are damaged or not a lunggate weights file "
            f"({type(exc).__name__}); restore it from the repository (git checkout {path})"
        ) from exc
    if dtypes is None:
        return arrays
    if len(arrays) != len(dtypes):
        raise ModelFileError(
            f"{path} holds {len(arrays)} weight arrays but the model has {len(dtypes)}; "
            "its sidecar config does not match the file"
        )
    return [a.astype(d) for a, d in zip(arrays, dtypes, strict=True)]


def restore(path: str | Path, build: Callable[[dict[str, Any]], tuple[Any, Any]]) -> tuple:
    """(sidecar, config, Keras model with the file's weights) of a weights file.

    ``build`` turns the sidecar's ``config`` into (typed config, model to fill).

    Raises:
        ModelFileError: missing or damaged files, or a description that does not build
            a model the weights fit.
    """
    meta = read_meta(path)
    try:
        config, model = build(meta["config"])
        model.set_weights(load(path, [w.dtype for w in model.get_weights()]))
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{path} and its description {sidecar(path).name} do not make a model "
            f"({type(exc).__name__}: {exc}); restore both from the repository"
        ) from exc
    return meta, config, model
