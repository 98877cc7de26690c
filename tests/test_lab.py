"""``lunggate lab``: each evaluation and the benchmark, end to end on tiny data."""

import csv
import json
from pathlib import Path

import pytest

from lunggate.cli import main
from lunggate.core.data import scan_dataset
from lunggate.core.splits import write_split


@pytest.fixture
def tiny_split(tiny_dataset: Path, tmp_path: Path) -> list[str]:
    """The tiny dataset's --data-root/--split-file, with every image in the test split."""
    records = scan_dataset(tiny_dataset)
    write_split(tmp_path / "split.csv", records, {r.id: "test" for r in records})
    return ["--data-root", str(tiny_dataset), "--split-file", str(tmp_path / "split.csv")]


def test_eval_seg_scores_the_split_against_its_masks(tiny_split, tmp_path, capsys):
    assert main(["lab", "eval-seg", *tiny_split, "--out", str(tmp_path / "r")]) == 0
    printed = json.loads(capsys.readouterr().out)
    report = json.loads((tmp_path / "r" / "segmentation.json").read_text())
    assert report["n"] == printed["n"] == 12 and report["split"] == "test"
    rows = list(csv.DictReader((tmp_path / "r" / "segmentation_per_image.csv").open()))
    assert len(rows) == 12
    dices = sorted(float(r["dice"]) for r in rows)
    assert report["dice"]["median"] == pytest.approx((dices[5] + dices[6]) / 2, abs=1e-4)
    assert (tmp_path / "r" / "segmentation_worst.png").is_file()


def test_eval_cls_reports_what_the_per_image_table_holds(tiny_split, tmp_path, capsys):
    assert main(["lab", "eval-cls", *tiny_split, "--out", str(tmp_path / "r")]) == 0
    report = json.loads((tmp_path / "r" / "classification_masked.json").read_text())
    rows = list(csv.DictReader((tmp_path / "r" / "classification_masked_per_image.csv").open()))
    assert report["n"] == len(rows) == 12
    right = sum(r["class"] == r["predicted"] for r in rows)
    assert report["accuracy"] == pytest.approx(right / 12)
    assert json.loads(capsys.readouterr().out)["accuracy"] == report["accuracy"]
    assert report["in_lung"]["cam_grid"] == [7, 7]
    for name in ("confusion", "roc", "lowest_in_lung"):
        assert (tmp_path / "r" / f"classification_masked_{name}.png").is_file()


def test_bench_times_every_stage_and_keeps_other_entries(tmp_path, capsys):
    out = tmp_path / "bench.json"
    out.write_text(json.dumps({"soak": {"requests": 1}}))
    assert main(["lab", "bench", "--repeats", "2", "--batch", "4", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["soak"] == {"requests": 1}  # a soak written before is kept
    for stage in ("segmentation", "decode", "classification", "end_to_end"):
        entry = report[stage]
        assert entry["repeats"] == 2 and entry["p50_ms"] > 0 and entry["batched_img_per_s"] > 0
        assert entry["batch_size"] == 4
    assert report["end_to_end"]["runtime"] == "litert"
    assert 0 <= report["end_to_end"]["one_pass_share"] <= 1  # what the timed answers cost
    assert report["tensorflow"]["classification_gradcam"]["p50_ms"] > 0
    # The seeds' bare classifier, timed in the same run, and how lunggate compares.
    seed = report["seed_004_baseline"]
    assert seed["p50_ms"] > 0 and seed["batch_size"] == 4
    ratio = report["end_to_end"]["batched_img_per_s"] / seed["batched_img_per_s"]
    assert seed["lunggate_throughput_ratio"] == pytest.approx(ratio, abs=1e-3)


def test_train_seg_trains_its_recipe(monkeypatch, capsys):
    seen = {}

    def fake_train(config, data_root, out, split_file, recipe=None):
        seen.update(config=config, recipe=recipe)
        return {"epochs": 0}

    monkeypatch.setattr("lunggate.segmentation.train.train_segmenter", fake_train)
    assert main(["lab", "train-seg", "--set", "epochs=7", "learning_rate=5e-4"]) == 0
    config = seen["config"]
    assert (config.epochs, config.learning_rate, config.marks) == (7, 5e-4, 0.5)
    assert config.unet.input_size == 128
    assert seen["recipe"] == "recipes/segmenter.toml epochs=7 learning_rate=5e-4"


def test_repeated_set_options_all_count(monkeypatch):
    seen = {}
    monkeypatch.setattr(
        "lunggate.segmentation.train.train_segmenter",
        lambda config, *a, **k: seen.update(config=config) or {},
    )
    assert main(["lab", "train-seg", "--set", "epochs=7", "--set", "learning_rate=5e-4"]) == 0
    assert (seen["config"].epochs, seen["config"].learning_rate) == (7, 5e-4)
