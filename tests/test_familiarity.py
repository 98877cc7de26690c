"""The familiarity score: known answers, its threshold, the result and its report."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import SAMPLES
from lunggate.classification.config import AnswerConfig
from lunggate.classification.familiarity import energy, fit_threshold
from lunggate.core.data import read_gray
from lunggate.lab.familiarity_report import COVERAGES, markdown, risk_coverage


def test_energy_is_the_temperatures_logsumexp():
    logits = np.array([[0.0, 0.0, 0.0, 0.0], [10.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(energy(logits, 1.0), [np.log(4), 10 + np.log(1 + 3 * np.exp(-10))])
    np.testing.assert_allclose(energy(logits, 2.0)[0], 2 * np.log(4))
    # More evidence for some class is more familiar.
    assert energy(logits, 1.0)[1] > energy(logits, 1.0)[0]


def test_threshold_leaves_the_asked_share_below_it():
    scores = np.arange(200.0)
    threshold = fit_threshold(scores)
    assert (scores < threshold).mean() == pytest.approx(0.05, abs=0.005)


def test_fit_answer_fits_the_temperature_then_the_threshold():
    from lunggate.classification.train import fit_answer

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 400)
    logits = rng.normal(size=(400, 4)) + 3 * np.eye(4)[labels]
    answer = fit_answer(logits, labels, AnswerConfig(mask_variants_px=(0,)))
    below = energy(logits, answer.temperature) < answer.familiarity_threshold
    assert below.mean() == pytest.approx(0.05, abs=0.01)


def test_results_say_when_a_film_is_unfamiliar(tiny_pipeline):
    image = read_gray(SAMPLES[0])
    classifier = tiny_pipeline.classifier
    before = classifier.answer
    try:
        classifier.answer = replace(before, familiarity_threshold=None)
        assert tiny_pipeline.analyze(image).familiarity is None  # no threshold fitted
        for threshold, unfamiliar in ((-1e6, False), (1e6, True)):
            classifier.answer = replace(before, familiarity_threshold=threshold)
            r = tiny_pipeline.analyze(image)
            assert r.familiarity.unfamiliar is unfamiliar
            assert r.familiarity.threshold == threshold
            assert ("unlike the training data" in r.summary("x")) is unfamiliar
            assert r.to_dict()["familiarity"]["unfamiliar"] is unfamiliar
    finally:
        classifier.answer = before


def test_risk_coverage_keeps_the_most_familiar_first():
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0, -2.0, -3.0, -4.0])
    correct = np.array([1, 1, 1, 1, 1, 0, 1, 0, 0, 0], bool)
    curve = {p["coverage"]: p["accuracy"] for p in risk_coverage(scores, correct)}
    assert set(curve) == set(COVERAGES)
    assert curve[1.0] == 0.6 and curve[0.5] == 1.0 and curve[0.7] == pytest.approx(6 / 7)


def test_markdown_gives_every_source_and_the_curve():
    part = {
        "n": 10,
        "unfamiliar_share": 0.1,
        "accuracy": 0.8,
        "accuracy_familiar": 0.85,
        "accuracy_unfamiliar": None,
        "score_median": 1.0,
    }
    curve = risk_coverage(np.arange(10.0), np.ones(10, bool))
    report = {
        "score": "energy",
        "threshold": 1.5,
        "external": {"name": "ext", "source": "x.csv"},
        "splits": {"val": part, "test": part, "external": part},
        "per_source": {"a": part},
        "auroc_test_vs_external": 0.61,
        "auroc_test_vs_source": {"a": 0.7},
        "risk_coverage": {"test": curve, "external": curve},
    }
    text = markdown(report)
    assert "pooled: **0.610**" in text and "| ext: a | 10 | 0.100 |" in text
    assert "| 0.50 | 1.000 | 1.000 |" in text and "n/a" in text


@pytest.mark.slow
def test_familiarity_report_end_to_end(tiny_dataset: Path, tmp_path: Path):
    from lunggate.classification.classifier import new_model
    from lunggate.classification.config import ClassifierConfig, GateConfig
    from lunggate.core import modelfile
    from lunggate.core.data import scan_dataset
    from lunggate.core.errors import ModelFileError
    from lunggate.core.splits import write_split
    from lunggate.lab.familiarity_report import evaluate_familiarity

    config = ClassifierConfig(backbone="cnnx", gate=GateConfig(input_size=32))
    weights = tmp_path / "masked.npz"
    answer = AnswerConfig(familiarity_threshold=0.5)
    meta = {"config": {"model": config.to_dict()}, "answer": answer.__dict__}
    modelfile.save(new_model(config).get_weights(), weights, meta)
    records = scan_dataset(tiny_dataset)
    write_split(
        tmp_path / "split.csv",
        records,
        {r.id: ("val" if k % 2 else "test") for k, r in enumerate(records)},
    )
    out = tmp_path / "r"
    report = evaluate_familiarity(tiny_dataset, tiny_dataset, out, tmp_path / "split.csv", weights)
    assert report["threshold"] == 0.5
    assert report["splits"]["external"]["n"] == len(records)
    assert 0 <= report["auroc_test_vs_external"] <= 1
    assert json.loads((out / "familiarity.json").read_text()) == report
    assert (out / "familiarity_risk_coverage.png").stat().st_size > 0
    modelfile.save(
        new_model(config).get_weights(), weights, {"config": {"model": config.to_dict()}}
    )
    with pytest.raises(ModelFileError, match="no familiarity threshold"):
        evaluate_familiarity(tiny_dataset, tiny_dataset, out, tmp_path / "split.csv", weights)
