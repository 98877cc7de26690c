"""Dataset layer for the COVID-19 Radiography Database layout.

``<root>/<Class>/images/<name>.png`` with ``<root>/<Class>/masks/<name>.png`` beside
it, and optionally ``<root>/manifest.csv`` (columns ``id,class,image,mask``, paths
relative to the root). Folder names may use spaces ("Viral Pneumonia") as the
original database does.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lunggate.core import CLASS_NAMES
from lunggate.core.errors import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
UPLOAD_SUFFIXES = (*IMAGE_SUFFIXES, ".dcm")
"""What `predict`, `segment` and `audit` pick up from folders."""


@dataclass(frozen=True)
class Record:
    """One X-ray of the dataset: its id, class label and files."""

    id: str
    label: str
    image: Path
    mask: Path | None
    source: str = ""
    """Where the film came from, when the dataset says (a manifest's ``source`` column):
    external sets are scored per source."""


def _class_dir(root: Path, label: str) -> Path | None:
    for name in (label, label.replace("_", " ")):
        if (root / name).is_dir():
            return root / name
    return None


def scan_dataset(
    root: str | Path, require_masks: bool = True, all_classes: bool = True
) -> list[Record]:
    """List every image under ``root``, sorted by id.

    Raises:
        DatasetError: the root is missing, (with ``all_classes``) a class has no images,
            or (with ``require_masks``) an image has no mask.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"data root {root} does not exist; pass --data-root DIR")
    manifest = root / "manifest.csv"
    if manifest.is_file():
        records = _from_manifest(root, manifest)
    else:
        records = _from_folders(root, all_classes)
    for label in CLASS_NAMES if all_classes else ():
        if not any(r.label == label for r in records):
            raise DatasetError(f"class {label} has no images under {root}")
    if not records:
        raise DatasetError(f"no images under {root}")
    if require_masks:
        for r in records:
            if r.mask is None or not r.mask.is_file():
                raise DatasetError(f"image {r.image} has no lung mask (expected {r.mask})")
    return sorted(records, key=lambda r: r.id)


def _from_manifest(root: Path, manifest: Path) -> list[Record]:
    records = []
    with manifest.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = {"id", "class", "image"} - set(reader.fieldnames or ())
        if missing:
            raise DatasetError(f"{manifest} lacks column(s) {', '.join(sorted(missing))}")
        for row in reader:
            if row["class"] not in CLASS_NAMES:
                raise DatasetError(
                    f"{manifest}: unknown class {row['class']!r} for {row['id']}; "
                    f"expected one of {', '.join(CLASS_NAMES)}"
                )
            image = root / row["image"]
            if not image.is_file():
                raise DatasetError(f"{manifest} lists {image}, which does not exist")
            mask = root / row["mask"] if row.get("mask") else None
            records.append(Record(row["id"], row["class"], image, mask, row.get("source") or ""))
    return records


def _from_folders(root: Path, all_classes: bool = True) -> list[Record]:
    records = []
    for label in CLASS_NAMES:
        class_dir = _class_dir(root, label)
        if class_dir is None and not all_classes:
            continue
        if class_dir is None:
            raise DatasetError(f"class folder {root / label} is missing")
        images = sorted(
            p for p in (class_dir / "images").glob("*") if p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not images:
            raise DatasetError(f"class folder {class_dir} has no images in {class_dir / 'images'}")
        for image in images:
            mask = class_dir / "masks" / image.name
            records.append(Record(f"{label}__{image.stem}", label, image, mask))
    return records


def read_gray(path: str | Path) -> np.ndarray:
    """Read an image file as a 2-D uint8 array.

    Raises:
        DatasetError: the file is missing or not a decodable image.
    """
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DatasetError(f"cannot read {path} as an image")
    return image


def read_mask(path: str | Path) -> np.ndarray:
    """Read a lung mask file as a 2-D bool array (any non-zero pixel is lung)."""
    return read_gray(path) > 127


def load_images(paths: Sequence[Path], size: int | None = None) -> np.ndarray:
    """Read many grey images in parallel into one (N, H, W) uint8 array.

    Args:
        paths: image files; all must share one size unless ``size`` is given.
        size: resize every image to ``size`` x ``size`` (area interpolation).
    """

    def one(path: Path) -> np.ndarray:
        image = read_gray(path)
        if size is not None and image.shape != (size, size):
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        return image

    with ThreadPoolExecutor(max_workers=4) as pool:
        return np.stack(list(pool.map(one, paths)))


def image_files(inputs: Sequence[Path]) -> list[Path]:
    """Files as given, folders expanded (recursively) to the images they hold."""
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            files.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in UPLOAD_SUFFIXES))
        elif item.is_file():
            files.append(item)
        else:
            raise DatasetError(f"{item} does not exist")
    if not files:
        raise DatasetError(f"no images found in {', '.join(map(str, inputs))}")
    return files


def output_stem(out: Path, path: Path, roots: Sequence[Path]) -> str:
    """Where a file's outputs go under ``out``, less what each output appends: its path
    relative to the first of ``roots`` (the folders given) that holds it, so two files
    of one name in different subfolders never overwrite each other; a file given
    directly is named by its stem. The folder is made."""
    resolved = path.resolve()
    relative = Path(path.stem)
    for root in roots:
        root = root.resolve()
        if root.is_dir() and resolved.is_relative_to(root):
            relative = resolved.relative_to(root).with_suffix("")
            break
    (out / relative).parent.mkdir(parents=True, exist_ok=True)
    return str(out / relative)
