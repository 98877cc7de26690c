import random
from collections import Counter
from pathlib import Path

import pytest

from conftest import REAL_DATA, requires_real_data
from lunggate.core.data import Record, scan_dataset
from lunggate.core.errors import DatasetError
from lunggate.core.paths import SPLIT_FILE
from lunggate.core.splits import make_split, read_split, select, write_split


def fake_records(n_per_class: int = 100) -> list[Record]:
    return [
        Record(f"{label}_{k:03d}", label, Path(f"{label}/{k}.png"), None)
        for label in ("COVID", "Lung_Opacity", "Normal", "Viral_Pneumonia")
        for k in range(n_per_class)
    ]


def test_split_is_deterministic_and_order_independent():
    records = fake_records()
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    assert make_split(records) == make_split(shuffled)


def test_split_is_stratified_70_15_15():
    split = make_split(fake_records())
    counts = Counter((rid.split("_0")[0], s) for rid, s in split.items())
    for label in ("COVID", "Lung_Opacity", "Normal", "Viral_Pneumonia"):
        assert abs(counts[(label, "train")] - 70) <= 1  # rounding per class
        assert abs(counts[(label, "val")] - 15) <= 1
        assert abs(counts[(label, "test")] - 15) <= 1


def test_split_round_trips_through_csv(tmp_path: Path):
    records = fake_records(20)
    split = make_split(records)
    write_split(tmp_path / "s.csv", records, split)
    assert read_split(tmp_path / "s.csv") == split


def test_select_rejects_unknown_split_and_unknown_ids():
    records = fake_records(20)
    split = make_split(records)
    with pytest.raises(DatasetError, match="unknown split 'dev'"):
        select(records, split, "dev")
    stranger = Record("stranger", "COVID", Path("x.png"), None)
    with pytest.raises(DatasetError, match="not in the split file"):
        select([*records, stranger], split, "test")


@requires_real_data
def test_committed_split_matches_the_corpus():
    """The shipped split file is what `lunggate lab split` makes from the corpus today."""
    records = scan_dataset(REAL_DATA)
    assert read_split(SPLIT_FILE) == make_split(records)
