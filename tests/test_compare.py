"""The comparison's pure parts (bootstrap intervals, the Markdown table) and a whole run."""

import json
from pathlib import Path

import numpy as np
import pytest

from lunggate.core import CLASS_NAMES
from lunggate.lab.burn_marks import BurnMarksConfig
from lunggate.lab.compare import (
    CompareConfig,
    bootstrap_ci,
    flip_stats,
    markdown,
    model_report,
)
from lunggate.segmentation.config import MarkRemovalConfig


def perfect(n_per_class: int = 10):
    labels = np.repeat(np.arange(4), n_per_class)
    return labels, np.eye(4)[labels] * 0.9 + 0.025


def test_bootstrap_of_a_perfect_model_is_a_point():
    labels, probs = perfect()
    ci = bootstrap_ci(labels, probs, rounds=50, seed=0)
    assert ci["accuracy"] == [1.0, 1.0] and ci["macro_f1"] == [1.0, 1.0]
    assert ci["sensitivity_COVID"] == [1.0, 1.0]


def test_bootstrap_interval_brackets_the_estimate_and_repeats():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 200)
    probs = rng.dirichlet(np.ones(4), 200)
    a = bootstrap_ci(labels, probs, rounds=200, seed=1)
    assert a == bootstrap_ci(labels, probs, rounds=200, seed=1)
    accuracy = (probs.argmax(-1) == labels).mean()
    assert a["accuracy"][0] <= accuracy <= a["accuracy"][1]


def fake_report() -> dict:
    labels, probs = perfect()
    scores = np.linspace(0.3, 1.0, len(labels))
    areas = np.full(len(labels), 0.5)  # chance level: half of the scores are below 0.65
    side = model_report(labels, probs, scores, areas, CompareConfig(bootstrap=20))
    return {
        "split": "test",
        "n": len(labels),
        "masked": side,
        "raw": side,
        "marks": {
            "masked": {
                "flip_rate": 0.01,
                "mean_abs_prob_change": 0.02,
                "flip_rate_fixed_masks": 0.005,
            },
            "raw": {"flip_rate": 0.2, "mean_abs_prob_change": 0.1, "flip_rate_fixed_masks": 0.19},
            "mask_dice_median": 0.99,
            "by_kind": {"letters": {"masked": 0.004, "raw": 0.123}},
            "more_seeds": {"2": {"masked": 0.012, "raw": 0.3}},
            "kinds": ["letters"],
            "seed": 1,
            "mask_variants_px": [-2, 0, 2],
        },
    }


def test_markdown_lists_every_metric_for_both_models():
    text = markdown(fake_report())
    assert "up to 2 px beyond it" in text  # what the grown mask variants can see
    for needle in (
        "accuracy",
        "macro-F1",
        "mark flip rate",
        "0.200",
        "gate leak",
        "0.190",
        "letters alone | 0.004 | 0.123",
        "over 2 layouts (seeds 1, 2): mean [min, max] | 0.011 [0.010, 0.012] | "
        "0.250 [0.200, 0.300]",
        *CLASS_NAMES,
    ):
        assert needle in text


def test_markdown_tables_the_chain_test_beside_the_films_as_read():
    report = fake_report()
    moved = {"accuracy": 0.75, "macro_f1": 0.7, "flip_rate": 0.25, "mean_abs_prob_change": 0.2}
    report["chain"] = {"JPEG quality 20": {"masked": moved, "raw": {**moved, "flip_rate": 0.5}}}
    text = markdown(report)
    assert "## Other imaging chains" in text
    assert "| as read | 1.000 / 1.000 | 1.000 / 1.000 |" in text
    assert "| JPEG quality 20 | 0.750 / 0.700, flips 0.250 | 0.750 / 0.700, flips 0.500 |" in text
    assert "Other imaging chains" not in markdown(fake_report())


def test_model_report_in_lung_summary():
    report = fake_report()["masked"]
    assert report["in_lung"]["median"] == pytest.approx(0.65)
    below = (np.linspace(0.3, 1.0, len(perfect()[0])) < 0.5).mean()
    assert report["in_lung"]["flagged_share"] == pytest.approx(below)
    assert 0 < below < 0.5


def test_flip_stats_count_changed_classes_and_probability_moves():
    before = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.6, 0.2, 0.1], [0.25, 0.25, 0.4, 0.1]])
    after = np.array([[0.6, 0.2, 0.1, 0.1], [0.1, 0.3, 0.5, 0.1], [0.25, 0.25, 0.4, 0.1]])
    stats = flip_stats(before, after)
    assert stats["flip_rate"] == pytest.approx(1 / 3)
    assert stats["mean_abs_prob_change"] == pytest.approx((0.1 + 0.3 + 0.0) / 3)
    assert flip_stats(before, before) == {"flip_rate": 0.0, "mean_abs_prob_change": 0.0}


@pytest.mark.slow
@pytest.mark.parametrize("removal", [True, False])
def test_compare_end_to_end_writes_every_part(
    tiny_dataset: Path, tmp_path: Path, removal: bool, monkeypatch
):
    from dataclasses import asdict

    from lunggate.classification.classifier import new_model
    from lunggate.classification.config import AnswerConfig, ClassifierConfig, GateConfig
    from lunggate.core import modelfile
    from lunggate.core.data import scan_dataset
    from lunggate.core.paths import CLASSIFIER_WEIGHTS
    from lunggate.core.splits import write_split
    from lunggate.lab.compare import compare

    # A tiny lungs-hidden control, so its rows are written whatever data/models holds.
    hidden = ClassifierConfig(backbone="cnnx", gate=GateConfig(input="lungs_hidden", input_size=32))
    control = tmp_path / "hidden.npz"
    meta = {"config": {"model": hidden.to_dict()}, "answer": asdict(AnswerConfig())}
    modelfile.save(new_model(hidden).get_weights(), control, meta)
    monkeypatch.setitem(CLASSIFIER_WEIGHTS, "lungs_hidden", control)

    records = scan_dataset(tiny_dataset)
    write_split(tmp_path / "split.csv", records, {r.id: "test" for r in records})
    out = tmp_path / "compare"
    report = compare(
        tiny_dataset,
        "test",
        out,
        split_file=tmp_path / "split.csv",
        config=CompareConfig(
            bootstrap=10,
            mark_removal=MarkRemovalConfig(enabled=removal),
            more_seeds=(BurnMarksConfig().seed, 5),
            randomisation_images=2,
            degradations=("JPEG quality 20",),
        ),
    )
    assert report["n"] == len(records)
    assert report["controls"] == ["lungs_hidden"]
    for kind in ("masked", "raw"):  # the explanations' sanity check, one row per step
        test = report["randomisation"][kind]
        assert test["images"] == 2 and test["steps"][-1]["randomised"] == "all the rest"
    lo, hi = report["lungs_hidden"]["ci95"]["macro_f1"]
    assert lo <= report["lungs_hidden"]["macro_f1"] <= hi
    assert report["lungs_hidden"]["weights_sha256"] == modelfile.sha256(control)
    assert "lungs_hidden" not in report["marks"]  # scored on clean images only
    assert "## Control: lungs hidden" in (out / "compare.md").read_text()
    for kind in ("masked", "raw"):
        assert set(report[kind]) >= {"accuracy", "macro_f1", "sensitivity", "roc_auc", "ci95"}
        burned = report["marks"][kind]
        flips = burned["flip_rate"] * len(records)  # a share of the images
        assert flips == pytest.approx(round(flips)) and burned["mean_abs_prob_change"] >= 0
    if removal:
        # Repainting a mark's anti-aliased rim may touch lung pixels right against it,
        # so the gate leak is measured, not zero; the test without removal is reported.
        leaks = report["marks"]["masked"]["flip_rate_fixed_masks"] * len(records)
        assert leaks == pytest.approx(round(leaks))
        assert set(report["marks"]["without_mark_removal"]) == {"masked", "raw"}
        assert "without mark removal" in (out / "compare.md").read_text()
    else:
        assert report["marks"]["masked"]["flip_rate_fixed_masks"] == 0
        assert "without_mark_removal" not in report["marks"]
    assert report["marks"]["mark_removal"]["enabled"] is removal
    assert report["marks"]["mask_variants_px"] == [-4, -2, 0, 2, 4]  # the shipped default
    assert set(report["marks"]["by_kind"]) == set(report["marks"]["kinds"])
    assert list(report["chain"]) == ["JPEG quality 20"]  # the config's, in its order
    for kind in ("masked", "raw"):
        chained = report["chain"]["JPEG quality 20"][kind]
        assert 0 <= chained["accuracy"] <= 1 and 0 <= chained["macro_f1"] <= 1
        flips = chained["flip_rate"] * len(records)
        assert flips == pytest.approx(round(flips))
    assert "| JPEG quality 20 |" in (out / "compare.md").read_text()
    # The test's own layout again gives its own figures; another is a figure too.
    again = report["marks"]["more_seeds"]
    assert set(again) == {str(BurnMarksConfig().seed), "5"}
    for kind in ("masked", "raw"):
        assert again[str(BurnMarksConfig().seed)][kind] == report["marks"][kind]["flip_rate"]
        share = again["5"][kind] * len(records)
        assert share == pytest.approx(round(share))
    assert json.loads((out / "compare.json").read_text()) == report
    for name in ("compare.md", "in_lung_histogram.png", "mark_examples.png"):
        assert (out / name).stat().st_size > 0


def test_markdown_reports_the_randomisation_test_per_step():
    report = fake_report()
    step = {"layers": 1, "spearman_median": 0.12, "spearman_p90": 0.4, "flat_share": 0.25}
    report["randomisation"] = {
        kind: {"images": 32, "steps": [{"randomised": "logits", **step}]}
        for kind in ("masked", "raw")
    }
    text = markdown(report)
    assert "model-parameter randomisation" in text and "on 32 images" in text
    assert "| logits | 1 | 0.12 [0.40], flat 0.25 | 0.12 [0.40], flat 0.25 |" in text
    assert "randomisation" not in markdown(fake_report())
