"""An audit's outputs from its entries: ``results.csv``, ``results.json``, figures and
``report.html``, the page an auditor works in.

The page carries every image's row as JSON and draws one page of the table at a time
(sortable by any column, filtered by name, label and outcome), so it opens in a
second at 10,000 images: only the shown page's thumbnails are loaded.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from lunggate.audit.entry import AuditEntry
from lunggate.audit.page import page
from lunggate.classification.metrics import classification_metrics
from lunggate.pipeline.result import table_columns, table_row


def csv_columns(classes: Sequence[str], labelled: bool) -> list[str]:
    """One row per image: its path, its label when the auditor gave them, then the
    result's fields (``result.table_columns``)."""
    return ["path", *(["truth"] if labelled else []), *table_columns(classes)]


def _scores(entries: Sequence[AuditEntry], key: str = "in_lung") -> list[float]:
    """The entries' attention figure ``key`` (in-lung score, lift, threshold), where
    they have one."""
    values = (getattr(e.attention, key) for e in entries if e.attention is not None)
    return [v for v in values if v is not None]


def _attention_stats(entries: Sequence[AuditEntry]) -> dict:
    """Count, in-lung score and lift medians, and flagged count of some entries."""
    scores, lifts = _scores(entries), _scores(entries, "lift")
    return {
        "n": len(entries),
        "in_lung_median": float(np.median(scores)) if scores else None,
        "lift_median": float(np.median(lifts)) if lifts else None,
        "flagged": sum(e.flagged for e in entries),
    }


def _by_class(entries: Sequence[AuditEntry], key: str, classes: Sequence[str]) -> dict:
    """``_attention_stats`` of the entries per value of ``key`` (``label``, the
    predicted class, or ``truth``)."""
    return {c: _attention_stats([e for e in entries if getattr(e, key) == c]) for c in classes}


def labelled_metrics(entries: Sequence[AuditEntry], classes: Sequence[str]) -> dict | None:
    """Accuracy, macro-F1, per-class figures and the confusion matrix of the answered
    images that carry the auditor's label (``None`` without labels)."""
    labelled = [e for e in entries if e.truth]
    if not labelled:
        return None
    answered = [e for e in labelled if e.result is not None and e.result.probabilities]
    out: dict = {
        "labelled": len(labelled),
        "answered": len(answered),
        "not_answered": len(labelled) - len(answered),
    }
    if answered:
        for name, part in (
            ("familiar", [e for e in answered if e.unfamiliar is False]),
            ("unfamiliar", [e for e in answered if e.unfamiliar]),
        ):
            out[f"accuracy_{name}"] = _accuracy(part)
            out[name] = len(part)
        truth = np.array([classes.index(e.truth) for e in answered])
        probs = np.array([[e.result.probabilities[c] for c in classes] for e in answered])
        metrics = classification_metrics(truth, probs, classes)
        keys = ("accuracy", "macro_f1", "macro_f1_classes", "per_class")
        out.update({k: metrics[k] for k in keys})
        out["confusion_matrix"] = {
            "classes": list(classes),
            "rows_true": metrics["confusion_matrix"],
        }
    return out


def _accuracy(entries: Sequence[AuditEntry]) -> float | None:
    """Share of ``entries`` whose answer is their label (None when there are none)."""
    if not entries:
        return None
    return sum(e.label == e.truth for e in entries) / len(entries)


def summarize(entries: Sequence[AuditEntry], classes: Sequence[str], model: dict | None) -> dict:
    overall = _attention_stats(entries)
    summary = {
        "images": len(entries),
        "model": model,
        "status": dict(Counter(e.status for e in entries)),
        "labels": dict(Counter(e.label for e in entries if e.label)),
        **{k: overall[k] for k in ("flagged", "in_lung_median", "lift_median")},
        "unfamiliar": sum(bool(e.unfamiliar) for e in entries),
        "by_predicted_class": _by_class(entries, "label", classes),
    }
    metrics = labelled_metrics(entries, classes)
    if metrics is not None:
        summary["by_true_class"] = _by_class(entries, "truth", classes)
        summary["against_labels"] = metrics
    return summary


def write_reports(
    entries: Sequence[AuditEntry],
    out: Path,
    classes: Sequence[str],
    model: dict | None = None,
    parquet: bool = False,
) -> dict:
    """``results.csv``, ``results.json``, the figures and ``report.html`` from all
    entries (and ``results.parquet``, the CSV's table, when ``parquet``); returns the
    summary. ``model`` names what answered (``Models`` as a dict)."""
    labelled = any(e.truth for e in entries)
    columns = csv_columns(classes, labelled)
    flat = [e.to_row() for e in entries]
    rows = [
        {
            "path": e.path,
            **table_row(row, columns[1:]),
            **({"truth": e.truth or ""} if labelled else {}),
        }
        for e, row in zip(entries, flat, strict=True)
    ]
    with (out / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    if parquet:
        _parquet(rows, columns, out / "results.parquet")
    summary = summarize(entries, classes, model)
    (out / "results.json").write_text(
        json.dumps({"summary": summary, "results": flat}, indent=2) + "\n"
    )
    _histogram(entries, out / "in_lung_histogram.png")
    _by_class_plot(entries, classes, labelled, out / "attention_by_class.png")
    (out / "report.html").write_text(page(summary, entries, classes))
    return summary


def _parquet(rows: list[dict], columns: list[str], path: Path) -> None:
    """The CSV's table as Parquet, blanks as nulls (pyarrow comes with ``lunggate[ray]``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    nulls = [{c: None if r[c] == "" else r[c] for c in columns} for r in rows]
    pq.write_table(pa.Table.from_pylist(nulls), path)


def _histogram(entries: Sequence[AuditEntry], path: Path) -> None:
    scores = _scores(entries)
    thresholds = _scores(entries, "threshold")
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    ax.hist(scores, bins=20, range=(0, 1), color="#3478f6")
    if thresholds:
        line = float(np.median(thresholds))
        ax.axvline(line, color="#d2452b", linestyle="--", label=f"median threshold {line:.2f}")
        ax.legend()
    ax.set_xlabel("in-lung attention share (relevance mass accuracy)")
    ax.set_ylabel("images")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def _by_class_plot(
    entries: Sequence[AuditEntry], classes: Sequence[str], labelled: bool, path: Path
) -> None:
    """Box plots of the in-lung score per predicted class (and per true class)."""
    keys = [("label", "predicted class"), *([("truth", "true class")] if labelled else [])]
    fig = Figure(figsize=(6.5 * len(keys), 3.4))
    axes = fig.subplots(1, len(keys), squeeze=False)
    for ax, (key, title) in zip(axes[0], keys, strict=True):
        data = [_scores([e for e in entries if getattr(e, key) == c]) for c in classes]
        ax.boxplot([d or [np.nan] for d in data], showfliers=True)
        ax.set_xticks(
            range(1, len(classes) + 1),
            [f"{c}\n(n={len(d)})" for c, d in zip(classes, data, strict=True)],
            fontsize=8,
        )
        ax.set_ylim(0, 1)
        ax.set_ylabel("in-lung attention share")
        ax.set_title(f"by {title}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
