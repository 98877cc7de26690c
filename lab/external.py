"""``lunggate compare --external``: the masked, raw and lungs-hidden models on films from
other sources, side by side, pooled and per source.

A model trained on cxr4 can score well there by recognising cxr4's sources; on films
from elsewhere only what it learned of the disease carries over. Every figure is given
pooled and per source (a source that holds one class scores only that class's recall),
with 95 % bootstrap intervals. The macro-F1 averages over the classes present in the
labels (cxr-ext has no Viral_Pneumonia film; a Viral_Pneumonia answer is simply an
error). Beside each model stands the source probe: how well a linear model on its
pooled features tells the external films from cxr4's test split (cross-validated
ROC-AUC; 0.5 would mean the features do not show where a film came from).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lunggate.classification.metrics import interval95, macro_f1, present_classes
from lunggate.core import CLASS_NAMES
from lunggate.core.data import Record, read_gray, scan_dataset
from lunggate.core.errors import DatasetError
from lunggate.core.paths import SPLIT_FILE
from lunggate.core.splits import split_records
from lunggate.lab.compare import Comparison


@dataclass(frozen=True)
class ExternalConfig:
    bootstrap: int = 1000
    seed: int = 7
    probe_folds: int = 5
    probe_c: float = 0.05
    """Inverse L2 strength of the source probe's logistic regression (standardised
    features): strong enough that 1,280 features on about 1,800 films do not simply
    memorise them."""


def _column(row: dict[str, str], names: tuple[str, ...]) -> str | None:
    return next((row[n] for n in names if row.get(n)), None)


def external_records(path: Path) -> list[Record]:
    """An external set: a folder in the dataset layout (with or without a manifest), or
    a CSV whose rows give a film (``path``, or a dataset manifest's ``image``), its
    ``label`` (or ``class``) and optionally its ``source``, paths relative to the CSV.
    Classes may be missing; every row must name one of lunggate's.

    Raises:
        DatasetError: the set does not exist or is not a folder or CSV, a row with an
            unknown label or a missing file, or no rows at all.
    """
    if path.is_dir():
        return scan_dataset(path, require_masks=False, all_classes=False)
    if path.suffix.lower() != ".csv":
        raise DatasetError(f"external set {path} is neither a dataset folder nor a CSV file")
    if not path.is_file():
        raise DatasetError(f"external set {path} does not exist")
    records = []
    with path.open(newline="") as f:
        for k, row in enumerate(csv.DictReader(f)):
            label, film = _column(row, ("label", "class")), _column(row, ("path", "image"))
            if label not in CLASS_NAMES:
                raise DatasetError(
                    f"{path} row {k + 2}: label {label!r} is not one of {', '.join(CLASS_NAMES)}"
                )
            if film is None:
                raise DatasetError(f"{path} row {k + 2}: no path (a 'path' or 'image' column)")
            image = (path.parent / film).resolve()
            if not image.is_file():
                raise DatasetError(f"{path} row {k + 2}: {image} does not exist")
            name = row.get("id") or f"ext_{k}"
            records.append(Record(name, label, image, None, row.get("source") or ""))
    if not records:
        raise DatasetError(f"{path} lists no images")
    return records


def set_name(path: Path) -> str:
    """What the report files are named after: the folder, or the CSV (its folder's name
    when it is that folder's ``manifest.csv``)."""
    path = path.resolve()
    if path.is_dir():
        return path.name
    return path.parent.name if path.stem == "manifest" else path.stem


def scores(labels: np.ndarray, probs: np.ndarray, rounds: int, seed: int) -> dict:
    """Accuracy, macro-F1 over the classes present, per-class recall and one-vs-rest
    ROC-AUC of the present classes (where the set also holds other classes), each with a
    95 % percentile bootstrap interval; and which class the films were called."""
    present = present_classes(labels)
    pred = probs.argmax(-1)

    def figures(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
        guess = p.argmax(-1)
        out = {"accuracy": float((guess == y).mean()), "macro_f1": macro_f1(y, guess)}
        for i in present:
            if (y == i).any():
                out[f"recall_{CLASS_NAMES[i]}"] = float((guess[y == i] == i).mean())
            if 0 < (y == i).sum() < len(y):
                out[f"auroc_{CLASS_NAMES[i]}"] = float(roc_auc_score(y == i, p[:, i]))
        return out

    point = figures(labels, probs)
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {k: [] for k in point}
    for _ in range(rounds):
        idx = rng.integers(0, len(labels), len(labels))
        for key, value in figures(labels[idx], probs[idx]).items():
            samples[key].append(value)
    called = np.bincount(pred, minlength=len(CLASS_NAMES))
    return {
        "n": int(len(labels)),
        **point,
        "ci95": {k: interval95(v) for k, v in samples.items() if v},
        "macro_f1_classes": [CLASS_NAMES[i] for i in present],
        "called": {c: int(called[i]) for i, c in enumerate(CLASS_NAMES)},
    }


def source_probe(inside: np.ndarray, outside: np.ndarray, config: ExternalConfig) -> float:
    """Cross-validated ROC-AUC of a logistic regression telling ``outside`` features
    from ``inside`` ones: fitted afresh here, a diagnostic never shipped."""
    x = np.concatenate([inside, outside])
    y = np.r_[np.zeros(len(inside)), np.ones(len(outside))]
    folds = StratifiedKFold(config.probe_folds, shuffle=True, random_state=config.seed)
    probe = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=config.probe_c, max_iter=3000, class_weight="balanced"),
    )
    p = cross_val_predict(probe, x, y, cv=folds, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))


def evaluate_external(
    source: Path,
    out: Path,
    data_root: Path,
    split_file: Path = SPLIT_FILE,
    config: ExternalConfig = ExternalConfig(),
) -> dict:
    """Score every model of ``compare`` on ``source``, beside cxr4's test split; write
    ``external_<name>.json`` and ``.md`` to ``out``; return the JSON."""
    records = external_records(source)
    (test,) = split_records(data_root, split_file, "test")
    comparison = Comparison()
    comparison.expect(2 + 2 * len(comparison.everyone))  # both sets' masks; two runs a model
    labels = np.array([CLASS_NAMES.index(r.label) for r in records])
    test_labels = np.array([CLASS_NAMES.index(r.label) for r in test])
    found = comparison.finder.find([read_gray(r.image) for r in records])
    images, masks = [f.image for f in found], [f.lungs.mask for f in found]
    comparison.stage("external lung masks")
    test_images, test_masks = comparison.finder.dataset(test)
    comparison.stage("test lung masks")
    sources = np.array([r.source or "(all)" for r in records])
    report: dict = {
        "source": str(source),
        "name": set_name(source),
        "n": len(records),
        "classes": sorted({r.label for r in records}, key=CLASS_NAMES.index),
        "sources": {s: int((sources == s).sum()) for s in sorted(set(sources))},
        "per_source_class": {
            s: {
                c: int(((sources == s) & (labels == i)).sum())
                for i, c in enumerate(CLASS_NAMES)
                if ((sources == s) & (labels == i)).any()
            }
            for s in sorted(set(sources))
        },
        "models": {},
    }
    for kind, model in comparison.everyone.items():
        explained = model.explain(images, masks, progress=f"{kind}, external")
        comparison.stage(f"{kind} on the external set")
        inside = model.explain(test_images, test_masks, progress=f"{kind}, test split")
        comparison.stage(f"{kind} on the test split")
        probs = np.stack([e.probabilities for e in explained])
        test_probs = np.stack([e.probabilities for e in inside])
        report["models"][kind] = {
            "weights_sha256": model.weights_sha256,
            "pooled": scores(labels, probs, config.bootstrap, config.seed),
            "per_source": {
                s: scores(labels[sources == s], probs[sources == s], config.bootstrap, config.seed)
                for s in report["sources"]
            },
            "test_split": scores(test_labels, test_probs, config.bootstrap, config.seed),
            "source_probe_auroc": source_probe(
                np.stack([e.pooled for e in inside]),
                np.stack([e.pooled for e in explained]),
                config,
            ),
        }
    comparison.bar.close()
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"external_{report['name']}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(report))
    return report


def _cell(s: dict, key: str) -> str:
    if key not in s:
        return "n/a"
    lo, hi = s["ci95"].get(key, [float("nan")] * 2)
    return f"{s[key]:.3f} [{lo:.3f}, {hi:.3f}]"


def markdown(report: dict) -> str:
    """The external report as Markdown tables, every figure read from ``report``."""
    kinds = list(report["models"])
    pooled = {k: report["models"][k]["pooled"] for k in kinds}
    present = report["classes"]
    head = "| metric | " + " | ".join(k.replace("_", " ") for k in kinds) + " |"
    rule = "|---|" + "---|" * len(kinds)
    lines = [
        f"# External set {report['name']}: {report['n']} films",
        "",
        f"Written by `lunggate compare --external {report['source']}`. 95 % bootstrap "
        "intervals in brackets. Sources: "
        + ", ".join(f"{s} {n}" for s, n in report["sources"].items())
        + f". Classes present: {', '.join(present)}; the macro-F1 is over these "
        f"{len(present)} classes, and an answer of any other class counts as an error.",
        "",
        "## Pooled",
        "",
        head,
        rule,
    ]
    keys = ["accuracy", "macro_f1", *(f"recall_{c}" for c in present)]
    keys += [f"auroc_{c}" for c in present if any(f"auroc_{c}" in s for s in pooled.values())]
    for key in keys:
        lines.append(f"| {key} | " + " | ".join(_cell(pooled[k], key) for k in kinds) + " |")
    lines.append(
        "| source probe (ROC-AUC, external vs cxr4 test) | "
        + " | ".join(f"{report['models'][k]['source_probe_auroc']:.3f}" for k in kinds)
        + " |"
    )
    lines += [
        "",
        "## Per source",
        "",
        "Recall of each class a source holds (its accuracy, where it holds one); 'called' "
        f"counts the answers of the {kinds[0].replace('_', ' ')} model on the whole source.",
        "",
        "| source | class | n | " + " | ".join(k.replace("_", " ") for k in kinds) + " | called |",
        "|---|---|---|" + "---|" * (len(kinds) + 1),
    ]
    for s in report["sources"]:
        first = report["models"][kinds[0]]["per_source"][s]
        said = ", ".join(f"{c} {v}" for c, v in first["called"].items() if v)
        for c in present:
            key = f"recall_{c}"
            if key not in first:
                continue
            n = report["per_source_class"][s][c]
            cells = [_cell(report["models"][k]["per_source"][s], key) for k in kinds]
            lines.append(f"| {s} | {c} | {n} | " + " | ".join(cells) + f" | {said} |")
    lines += ["", "## Beside cxr4's test split", "", head, rule]
    for key in ("accuracy", "macro_f1"):
        cells = [
            f"{_cell(report['models'][k]['test_split'], key)} (external "
            f"{pooled[k][key] - report['models'][k]['test_split'][key]:+.3f})"
            for k in kinds
        ]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
