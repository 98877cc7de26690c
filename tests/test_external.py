"""Cross-source evaluation: reading external sets, the scores per source, the report."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from lunggate.core import CLASS_NAMES
from lunggate.core.errors import DatasetError
from lunggate.lab.external import (
    ExternalConfig,
    external_records,
    markdown,
    scores,
    set_name,
    source_probe,
)


def test_external_csv_is_read_relative_to_itself(tmp_path: Path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((64, 64), np.uint8))
    (tmp_path / "ext.csv").write_text("path,label,source\na.png,COVID,sbu\n")
    (record,) = external_records(tmp_path / "ext.csv")
    assert record.label == "COVID" and record.image == (tmp_path / "a.png").resolve()
    assert record.source == "sbu"


def test_a_dataset_manifest_reads_as_an_external_csv(tmp_path: Path):
    # cxr-ext's manifest names its columns id,class,image,...,source.
    (tmp_path / "Normal" / "images").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "Normal" / "images" / "n1.png"), np.zeros((64, 64), np.uint8))
    (tmp_path / "manifest.csv").write_text(
        "id,class,image,mask,source\nNormal__nih__n1,Normal,Normal/images/n1.png,,nih\n"
    )
    (record,) = external_records(tmp_path / "manifest.csv")
    assert (record.id, record.label, record.source) == ("Normal__nih__n1", "Normal", "nih")
    # The same folder read as a dataset folder: classes may be missing there too.
    (folder,) = external_records(tmp_path)
    assert (folder.id, folder.source) == ("Normal__nih__n1", "nih")
    assert set_name(tmp_path / "manifest.csv") == set_name(tmp_path) == tmp_path.name
    assert set_name(tmp_path / "manifest.csv").startswith("test_a_dataset")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("path,label\na.png,Flu\n", "label 'Flu'"),
        ("path,label\nmissing.png,COVID\n", "does not exist"),
        ("name,label\na.png,COVID\n", "no path"),
        ("path,label\n", "lists no images"),
    ],
)
def test_external_csv_rejects_bad_rows(tmp_path: Path, content, words):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((64, 64), np.uint8))
    (tmp_path / "ext.csv").write_text(content)
    with pytest.raises(DatasetError, match=words):
        external_records(tmp_path / "ext.csv")


def test_external_must_be_folder_or_csv(tmp_path: Path):
    with pytest.raises(DatasetError, match="neither a dataset folder nor a CSV"):
        external_records(tmp_path / "nothing.txt")


def test_scores_count_only_the_classes_present():
    # Three classes present; the model answers Viral_Pneumonia (absent) on one film.
    labels = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 3, 1, 1, 2, 2])
    probs = np.eye(4)[pred] * 0.9 + 0.025
    s = scores(labels, probs, rounds=50, seed=0)
    assert s["macro_f1_classes"] == ["COVID", "Lung_Opacity", "Normal"]
    # COVID F1 2/3 (recall 1/2, precision 1), the other two 1: mean over three, not four.
    assert s["macro_f1"] == pytest.approx((2 / 3 + 1 + 1) / 3)
    assert s["recall_COVID"] == 0.5 and s["recall_Normal"] == 1.0
    assert "recall_Viral_Pneumonia" not in s and "auroc_Viral_Pneumonia" not in s
    assert s["called"] == {"COVID": 1, "Lung_Opacity": 2, "Normal": 2, "Viral_Pneumonia": 1}
    lo, hi = s["ci95"]["accuracy"]
    assert s["accuracy"] == pytest.approx(5 / 6) and lo <= s["accuracy"] <= hi


def test_scores_of_a_one_class_source_give_its_recall_and_no_auroc():
    labels = np.zeros(4, int)
    probs = np.eye(4)[[0, 0, 1, 0]]
    s = scores(labels, probs, rounds=20, seed=0)
    assert s["accuracy"] == s["recall_COVID"] == 0.75
    assert not any(k.startswith("auroc") for k in s)


def test_source_probe_finds_a_shifted_source_and_not_a_shuffled_one():
    rng = np.random.default_rng(0)
    inside = rng.normal(size=(120, 8))
    config = ExternalConfig()
    assert source_probe(inside, rng.normal(size=(120, 8)) + 1.5, config) > 0.95
    assert source_probe(inside, rng.normal(size=(120, 8)), config) < 0.65


def test_markdown_names_the_classes_and_every_source():
    labels = np.array([0, 0, 2, 2])
    probs = np.eye(4)[[0, 1, 2, 2]]
    part = scores(labels, probs, rounds=10, seed=0)
    model = {
        "pooled": part,
        "per_source": {"a": scores(labels[:2], probs[:2], 10, 0), "b": part},
        "test_split": part,
        "source_probe_auroc": 0.61,
    }
    report = {
        "source": "x.csv",
        "name": "x",
        "n": 4,
        "classes": ["COVID", "Normal"],
        "sources": {"a": 2, "b": 2},
        "per_source_class": {"a": {"COVID": 2}, "b": {"COVID": 2, "Normal": 2}},
        "models": {"masked": model, "raw": model},
    }
    text = markdown(report)
    assert "macro-F1 is over these 2 classes" in text
    assert "| recall_COVID | 0.500" in text and "| a | COVID | 2 | 0.500" in text
    assert "| b | Normal | 2 | 1.000" in text
    assert "source probe" in text and "0.610" in text


@pytest.mark.slow
def test_external_report_end_to_end(tiny_dataset: Path, tmp_path: Path, monkeypatch):
    from dataclasses import asdict

    from lunggate.classification.classifier import new_model
    from lunggate.classification.config import AnswerConfig, ClassifierConfig, GateConfig
    from lunggate.core import modelfile
    from lunggate.core.data import scan_dataset
    from lunggate.core.paths import CLASSIFIER_WEIGHTS
    from lunggate.core.splits import write_split
    from lunggate.lab.external import evaluate_external

    for kind in ("masked", "raw", "lungs_hidden"):  # tiny random models of each input
        config = ClassifierConfig(backbone="cnnx", gate=GateConfig(input=kind, input_size=32))
        path = tmp_path / f"{kind}.npz"
        meta = {"config": {"model": config.to_dict()}, "answer": asdict(AnswerConfig())}
        modelfile.save(new_model(config).get_weights(), path, meta)
        monkeypatch.setitem(CLASSIFIER_WEIGHTS, kind, path)
    records = scan_dataset(tiny_dataset)
    write_split(tmp_path / "split.csv", records, {r.id: "test" for r in records})
    # Two sources, three classes (no Viral_Pneumonia), paths relative to the CSV.
    rows = [
        f"{r.image.relative_to(tiny_dataset)},{r.label},{'one' if k % 2 else 'two'}"
        for k, r in enumerate(x for x in records if x.label != "Viral_Pneumonia")
    ]
    (tiny_dataset / "ext.csv").write_text("path,label,source\n" + "\n".join(rows) + "\n")
    report = evaluate_external(
        tiny_dataset / "ext.csv",
        tmp_path / "reports",
        tiny_dataset,
        tmp_path / "split.csv",
        ExternalConfig(bootstrap=10, probe_folds=2),
    )
    assert report["name"] == "ext" and report["n"] == len(rows)
    assert report["classes"] == [c for c in CLASS_NAMES if c != "Viral_Pneumonia"]
    assert report["sources"] == {"one": len(rows) // 2, "two": len(rows) - len(rows) // 2}
    assert set(report["models"]) == {"masked", "raw", "lungs_hidden"}
    for model in report["models"].values():
        assert model["pooled"]["macro_f1_classes"] == report["classes"]
        assert sum(s["n"] for s in model["per_source"].values()) == len(rows)
        assert model["test_split"]["n"] == len(records)
        assert 0 <= model["source_probe_auroc"] <= 1
    written = tmp_path / "reports" / "external_ext.json"
    assert json.loads(written.read_text()) == report
    assert "## Per source" in written.with_suffix(".md").read_text()
