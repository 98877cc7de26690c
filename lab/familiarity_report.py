"""``lunggate lab eval-familiarity``: how well the familiarity score tells films lunggate
knows from films of other sources, and what setting the unfamiliar ones aside buys.

The pipeline's classifier scores cxr4's validation and test splits and an external
set. The report gives the share flagged unfamiliar on each, the ROC-AUC of the score
between the test split and the external set (pooled and per source), the accuracy of
familiar against unfamiliar external films, and a risk-coverage curve: the accuracy
left as the least familiar films are set aside.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score

from lunggate.classification.classifier import LungClassifier
from lunggate.classification.familiarity import energy
from lunggate.core import CLASS_NAMES
from lunggate.core.data import Record, read_gray
from lunggate.core.errors import ModelFileError
from lunggate.core.paths import CLASSIFIER_WEIGHTS, SPLIT_FILE
from lunggate.core.splits import split_records
from lunggate.lab.external import external_records, set_name
from lunggate.segmentation.finder import LungFinder

COVERAGES = (1.0, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5)
"""Shares of films kept, most familiar first, at which the curve's accuracy is listed."""


def risk_coverage(scores: np.ndarray, correct: np.ndarray) -> list[dict[str, float]]:
    """Accuracy of the most familiar ``coverage`` share of the films, per coverage."""
    order = np.argsort(-scores, kind="stable")
    out = []
    for coverage in COVERAGES:
        kept = order[: max(1, int(round(coverage * len(order))))]
        out.append({"coverage": coverage, "accuracy": float(correct[kept].mean())})
    return out


def _part(scores: np.ndarray, correct: np.ndarray, threshold: float) -> dict:
    unfamiliar = scores < threshold
    return {
        "n": int(len(scores)),
        "unfamiliar_share": float(unfamiliar.mean()),
        "accuracy": float(correct.mean()),
        "accuracy_familiar": float(correct[~unfamiliar].mean()) if (~unfamiliar).any() else None,
        "accuracy_unfamiliar": float(correct[unfamiliar].mean()) if unfamiliar.any() else None,
        "score_median": float(np.median(scores)),
    }


def _auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """ROC-AUC of the score telling ``inside`` films (higher) from ``outside`` ones."""
    y = np.r_[np.ones(len(inside)), np.zeros(len(outside))]
    return float(roc_auc_score(y, np.r_[inside, outside]))


def evaluate_familiarity(
    data_root: Path,
    external: Path,
    out: Path,
    split_file: Path = SPLIT_FILE,
    weights: Path = CLASSIFIER_WEIGHTS["masked"],
) -> dict:
    """Write ``familiarity.json``, ``.md`` and ``familiarity_risk_coverage.png`` to ``out``."""
    ext = external_records(external)
    val, test = split_records(data_root, split_file, "val", "test")
    classifier = LungClassifier.load(weights)
    threshold = classifier.familiarity_threshold
    if threshold is None:
        raise ModelFileError(f"{weights} has no familiarity threshold: retrain it with train-cls")
    finder = LungFinder.load()

    def run(records: list[Record], images, masks) -> tuple[np.ndarray, np.ndarray]:
        logits = classifier.answer_logits(images, masks, progress="familiarity")
        labels = np.array([CLASS_NAMES.index(r.label) for r in records])
        return energy(logits, classifier.temperature), logits.argmax(-1) == labels

    found = finder.find([read_gray(r.image) for r in ext])
    runs = {
        "val": run(val, *finder.dataset(val)),
        "test": run(test, *finder.dataset(test)),
        "external": run(ext, [f.image for f in found], [f.lungs.mask for f in found]),
    }
    sources = np.array([r.source or "(all)" for r in ext])
    ext_scores, ext_correct = runs["external"]
    report = {
        "weights_sha256": classifier.weights_sha256,
        "score": "energy: T * logsumexp(logits / T) at the answer's temperature",
        "threshold": threshold,
        "external": {"source": str(external), "name": set_name(external)},
        "splits": {k: _part(*v, threshold) for k, v in runs.items()},
        "per_source": {
            s: _part(ext_scores[sources == s], ext_correct[sources == s], threshold)
            for s in sorted(set(sources))
        },
        "auroc_test_vs_external": _auroc(runs["test"][0], ext_scores),
        "auroc_test_vs_source": {
            s: _auroc(runs["test"][0], ext_scores[sources == s]) for s in sorted(set(sources))
        },
        "risk_coverage": {k: risk_coverage(*runs[k]) for k in ("test", "external")},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "familiarity.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "familiarity.md").write_text(markdown(report))
    plot_risk_coverage(runs, out / "familiarity_risk_coverage.png")
    return report


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def markdown(report: dict) -> str:
    """The report as Markdown tables, every figure read from ``report``."""
    name = report["external"]["name"]
    lines = [
        f"# Familiarity: cxr4 against {name}",
        "",
        f"Written by `lunggate lab eval-familiarity`. Score: {report['score']}; a film is "
        f"unfamiliar below {report['threshold']:.3f}, which about 5 % of the validation "
        "split fall below.",
        "",
        f"ROC-AUC of the score, test split against {name} pooled: "
        f"**{report['auroc_test_vs_external']:.3f}**.",
        "",
        "| films | n | unfamiliar | accuracy | familiar | unfamiliar | ROC-AUC vs test |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = [(k, v, None) for k, v in report["splits"].items()]
    rows += [
        (f"{name}: {s}", v, report["auroc_test_vs_source"][s])
        for s, v in report["per_source"].items()
    ]
    for label, v, auc in rows:
        lines.append(
            f"| {label} | {v['n']} | {v['unfamiliar_share']:.3f} | {v['accuracy']:.3f} | "
            f"{_num(v['accuracy_familiar'])} | {_num(v['accuracy_unfamiliar'])} | {_num(auc)} |"
        )
    lines += [
        "",
        "## Risk and coverage",
        "",
        "Accuracy of the most familiar films as the least familiar are set aside "
        "(`familiarity_risk_coverage.png`).",
        "",
        "| coverage | " + " | ".join(report["risk_coverage"]) + " |",
        "|---|" + "---|" * len(report["risk_coverage"]),
    ]
    curves = list(report["risk_coverage"].values())
    for k, point in enumerate(curves[0]):
        cells = " | ".join(f"{c[k]['accuracy']:.3f}" for c in curves)
        lines.append(f"| {point['coverage']:.2f} | {cells} |")
    return "\n".join(lines) + "\n"


def plot_risk_coverage(runs: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> None:
    """Accuracy against the share of films kept, most familiar first, per image set."""
    fig = Figure(figsize=(6, 3.8))
    ax = fig.subplots()
    for name, (scores, correct) in runs.items():
        order = np.argsort(-scores, kind="stable")
        kept = np.arange(1, len(order) + 1)
        ax.plot(kept / len(order), np.cumsum(correct[order]) / kept, label=name)
    ax.set_xlabel("coverage (share of films kept, most familiar first)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0.05, 1.0)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
