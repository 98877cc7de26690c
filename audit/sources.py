"""What an audit reads: a folder tree of X-rays, or a CSV manifest of paths (and labels),
and each item read and decoded.

Each image is named by its key: its path relative to the folder, or its path as the
manifest writes it. Keys are what results, resumption and labels are matched on.
Nothing here imports TensorFlow, so the Ray engine's decoding tasks start light.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lunggate.core.data import image_files
from lunggate.core.errors import LunggateError
from lunggate.core.imageio import read_image


@dataclass(frozen=True)
class Item:
    key: str
    """The image's name in the results."""
    file: Path


@dataclass(frozen=True)
class Source:
    items: tuple[Item, ...]
    labels: dict[str, str]
    """The auditor's label per key (a manifest's ``label`` column or ``--labels``)."""


def _read_csv(path: Path, what: str, needed: set[str]) -> list[dict[str, str]]:
    if not path.is_file():
        raise LunggateError(f"{what} {path} does not exist")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if not needed <= set(reader.fieldnames or ()):
            raise LunggateError(
                f"{what} {path} needs a header with {' and '.join(sorted(needed))} columns"
            )
        rows = list(reader)
    if not rows:
        raise LunggateError(f"{what} {path} lists no images")
    return rows


def _check_label(label: str, classes: Sequence[str], where: str) -> str:
    if label not in classes:
        raise LunggateError(
            f"{where}: label {label!r} is not one of the model's classes ({', '.join(classes)})"
        )
    return label


def read_labels(path: Path, root: Path, classes: Sequence[str]) -> dict[str, str]:
    """The auditor's labels for a folder: a CSV with ``path`` (relative to the folder,
    or absolute inside it) and ``label`` (one of the model's classes) columns."""
    labels: dict[str, str] = {}
    for k, row in enumerate(_read_csv(path, "labels file", {"path", "label"})):
        where = f"labels file {path} row {k + 2}"
        image = Path(row["path"] or "")
        if image.is_absolute():
            try:
                image = image.relative_to(root.resolve())
            except ValueError:
                raise LunggateError(f"{where}: {image} is not inside {root}") from None
        labels[image.as_posix()] = _check_label(row["label"], classes, where)
    return labels


def read_source(source: Path, classes: Sequence[str], labels: Path | None = None) -> Source:
    """A folder (searched recursively) or a ``.csv`` manifest with a ``path`` column
    (relative to the manifest's folder, or absolute) and optionally ``label``."""
    if source.is_dir():
        items = tuple(Item(f.relative_to(source).as_posix(), f) for f in image_files([source]))
        truth = read_labels(labels, source, classes) if labels is not None else {}
        return Source(items, truth)
    if source.suffix.lower() != ".csv":
        raise LunggateError(
            f"audit source {source} is neither a folder nor a .csv manifest of paths"
        )
    if labels is not None:
        raise LunggateError("a manifest carries its own labels (a label column); drop --labels")
    rows = _read_csv(source, "manifest", {"path"})
    items, truth = [], {}
    for k, row in enumerate(rows):
        key = (row["path"] or "").strip()
        if not key:
            raise LunggateError(f"manifest {source} row {k + 2}: empty path")
        items.append(Item(key, source.parent / key))
        if row.get("label"):
            truth[key] = _check_label(row["label"], classes, f"manifest {source} row {k + 2}")
    if len({i.key for i in items}) != len(items):
        raise LunggateError(f"manifest {source} lists an image twice")
    return Source(tuple(items), truth)


def decode_item(item: Item) -> tuple[np.ndarray | None, str | None]:
    """The image's grey pixels, or why it cannot be read."""
    try:
        return read_image(item.file), None
    except LunggateError as exc:
        return None, str(exc)


def decode_batch(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The Ray engine's decoding task: read and decode each file of a batch of ``key``
    and ``file`` columns; pixels travel as bytes with their shape, or a reason."""
    pixels, heights, widths, reasons = [], [], [], []
    for key, file in zip(batch["key"], batch["file"], strict=True):
        image, reason = decode_item(Item(str(key), Path(str(file))))
        pixels.append(b"" if image is None else image.tobytes())
        heights.append(0 if image is None else image.shape[0])
        widths.append(0 if image is None else image.shape[1])
        reasons.append(reason or "")
    return {
        "key": batch["key"],
        "pixels": np.array(pixels, dtype=object),
        "height": np.array(heights),
        "width": np.array(widths),
        "reason": np.array(reasons, dtype=object),
    }
