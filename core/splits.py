"""The one train/val/test split that every stage and report shares.

Stratified by class with a fixed seed and written to a committed CSV, so that the
test images never change between runs, models or machines.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from sklearn.model_selection import train_test_split

from lunggate.core.data import Record, scan_dataset
from lunggate.core.errors import DatasetError

SPLITS = ("train", "val", "test")
SPLIT_SEED = 20261123


def make_split(
    records: Sequence[Record], val: float = 0.15, test: float = 0.15, seed: int = SPLIT_SEED
) -> dict[str, str]:
    """Assign each record id to train, val or test, stratified by class.

    The result depends only on the ids, labels and seed, not on the input order.
    """
    ordered = sorted(records, key=lambda r: r.id)
    ids = [r.id for r in ordered]
    labels = [r.label for r in ordered]
    rest_ids, test_ids, rest_labels, _ = train_test_split(
        ids, labels, test_size=test, stratify=labels, random_state=seed
    )
    train_ids, val_ids = train_test_split(
        rest_ids, test_size=val / (1 - test), stratify=rest_labels, random_state=seed
    )
    assignment = dict.fromkeys(train_ids, "train")
    assignment.update(dict.fromkeys(val_ids, "val"))
    assignment.update(dict.fromkeys(test_ids, "test"))
    return dict(sorted(assignment.items()))


def write_split(path: str | Path, records: Sequence[Record], assignment: dict[str, str]) -> None:
    """Write ``id,class,split`` rows, sorted by id."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "class", "split"])
        for r in sorted(records, key=lambda r: r.id):
            writer.writerow([r.id, r.label, assignment[r.id]])


def read_split(path: str | Path) -> dict[str, str]:
    """Read a split file into ``{id: split}``."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"split file {path} does not exist; run `lunggate lab split`")
    with path.open(newline="") as f:
        return {row["id"]: row["split"] for row in csv.DictReader(f)}


def select(records: Sequence[Record], assignment: dict[str, str], split: str) -> list[Record]:
    """The records of one split.

    Raises:
        DatasetError: unknown split name, or records the split file does not know
            (the data root is not the one the split was made for).
    """
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    unknown = [r.id for r in records if r.id not in assignment]
    if unknown:
        raise DatasetError(
            f"{len(unknown)} image(s) are not in the split file (e.g. {unknown[0]}); "
            "is --data-root the dataset the split was made for?"
        )
    return [r for r in records if assignment[r.id] == split]


def split_records(data_root: str | Path, split_file: str | Path, *names: str) -> list[list[Record]]:
    """The records of each named split of the dataset at ``data_root``, in that order."""
    records = scan_dataset(data_root)
    assignment = read_split(split_file)
    return [select(records, assignment, name) for name in names]
