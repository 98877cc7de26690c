"""An audit's outputs from its entries: ``results.csv``, ``results.json`` (and
``results.parquet``), figures and ``report.html``, the page an auditor works in.

The entries stream through once, whatever the archive's size: each is written to the
files as it comes, and what the summary needs is kept as it goes (``Tally``: counts,
the in-lung scores as floats, the labelled answers' probabilities), never the entries
themselves. So the memory an audit's report takes grows by a few numbers an image.
"""

from __future__ import annotations

import csv
import itertools
import json
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from lunggate.audit.entry import AuditEntry
from lunggate.audit.page import CASES_SHOWN, PageWriter
from lunggate.classification.metrics import classification_metrics
from lunggate.pipeline.result import table_columns, table_row


def csv_columns(classes: Sequence[str], labelled: bool) -> list[str]:
    """One row per image: its path, its label when the auditor gave them, then the
    result's fields (``result.table_columns``)."""
    return ["path", *(["truth"] if labelled else []), *table_columns(classes)]


class _Scores:
    """The in-lung scores and lifts of some entries, and how many there were."""

    def __init__(self) -> None:
        self.n, self.flagged = 0, 0
        self.in_lung, self.lift = array("d"), array("d")

    def add(self, e: AuditEntry) -> None:
        self.n += 1
        self.flagged += e.flagged
        a = e.attention
        if a is not None and a.in_lung is not None:
            self.in_lung.append(a.in_lung)
        if a is not None and a.lift is not None:
            self.lift.append(a.lift)

    def stats(self) -> dict:
        """Count, in-lung score and lift medians, and flagged count."""
        return {
            "n": self.n,
            "in_lung_median": float(np.median(self.in_lung)) if self.in_lung else None,
            "lift_median": float(np.median(self.lift)) if self.lift else None,
            "flagged": self.flagged,
        }


class Tally:
    """What the summary, the figures and the page's cards need, kept entry by entry."""

    def __init__(self, classes: Sequence[str]) -> None:
        self.classes = list(classes)
        self.all = _Scores()
        self.thresholds = array("d")
        self.by_label = {c: _Scores() for c in classes}
        self.by_truth = {c: _Scores() for c in classes}
        self.status: Counter[str] = Counter()
        self.labels: Counter[str] = Counter()
        self.unfamiliar = 0
        self.labelled = 0
        self.truth = array("i")
        self.probs = array("d")
        self.right = {"familiar": [0, 0], "unfamiliar": [0, 0]}
        """Per familiarity: answered labelled films, and how many were right."""
        self.flagged: list[AuditEntry] = []
        """The first flagged entries, drawn as cards (``CASES_SHOWN``); so ``rejected``."""
        self.rejected: list[AuditEntry] = []

    def add(self, e: AuditEntry) -> None:
        self.all.add(e)
        if e.attention is not None:
            self.thresholds.append(e.attention.threshold)
        if e.label in self.by_label:
            self.by_label[e.label].add(e)
        self.status[e.status] += 1
        if e.label:
            self.labels[e.label] += 1
        self.unfamiliar += bool(e.unfamiliar)
        if e.flagged and len(self.flagged) < CASES_SHOWN:
            self.flagged.append(e)
        if e.status != "ok" and len(self.rejected) < CASES_SHOWN:
            self.rejected.append(e)
        if not e.truth:
            return
        self.labelled += 1
        self.by_truth[e.truth].add(e)
        probabilities = None if e.result is None else e.result.probabilities
        if not probabilities:
            return
        self.truth.append(self.classes.index(e.truth))
        self.probs.extend(probabilities[c] for c in self.classes)
        if e.unfamiliar is not None:
            counts = self.right["unfamiliar" if e.unfamiliar else "familiar"]
            counts[0] += 1
            counts[1] += e.label == e.truth

    def labelled_metrics(self) -> dict | None:
        """Accuracy, macro-F1, per-class figures and the confusion matrix of the answered
        images that carry the auditor's label (``None`` without labels)."""
        if not self.labelled:
            return None
        answered = len(self.truth)
        out: dict = {
            "labelled": self.labelled,
            "answered": answered,
            "not_answered": self.labelled - answered,
        }
        if answered:
            for name, (n, right) in self.right.items():
                out[f"accuracy_{name}"] = right / n if n else None
                out[name] = n
            probs = np.frombuffer(self.probs, dtype=float).reshape(answered, len(self.classes))
            metrics = classification_metrics(np.asarray(self.truth), probs, self.classes)
            keys = ("accuracy", "macro_f1", "macro_f1_classes", "per_class")
            out.update({k: metrics[k] for k in keys})
            out["confusion_matrix"] = {
                "classes": self.classes,
                "rows_true": metrics["confusion_matrix"],
            }
        return out

    def summary(self, model: dict | None) -> dict:
        overall = self.all.stats()
        summary = {
            "images": self.all.n,
            "model": model,
            "status": dict(self.status),
            "labels": dict(self.labels),
            **{k: overall[k] for k in ("flagged", "in_lung_median", "lift_median")},
            "unfamiliar": self.unfamiliar,
            "by_predicted_class": {c: s.stats() for c, s in self.by_label.items()},
        }
        metrics = self.labelled_metrics()
        if metrics is not None:
            summary["by_true_class"] = {c: s.stats() for c, s in self.by_truth.items()}
            summary["against_labels"] = metrics
        return summary


def write_reports(
    entries: Iterable[AuditEntry],
    out: Path,
    classes: Sequence[str],
    labelled: bool,
    model: dict | None = None,
    parquet: bool = False,
) -> dict:
    """``results.csv``, ``results.json``, the figures and ``report.html`` from the
    entries, streamed once (and ``results.parquet``, the CSV's table, when
    ``parquet``); returns the summary. ``labelled``: whether the auditor gave labels
    (the CSV then has a ``truth`` column); ``model`` names what answered (``Models``
    as a dict)."""
    columns = csv_columns(classes, labelled)
    tally = Tally(classes)
    kinds: dict[str, set[type]] = {c: set() for c in columns}
    with (
        (out / "results.csv").open("w", newline="") as table,
        (out / "results.json.part").open("w") as results,
        PageWriter(out) as rows,
    ):
        writer = csv.DictWriter(table, columns)
        writer.writeheader()
        results.write('{"results": [')
        for k, e in enumerate(entries):
            flat = e.to_row()
            row = {
                "path": e.path,
                **({"truth": e.truth or ""} if labelled else {}),
                **table_row(flat, columns[1 + labelled :]),
            }
            for c, v in row.items():
                if v != "":
                    kinds[c].add(type(v))
            writer.writerow(row)
            results.write(("\n" if k == 0 else ",\n") + json.dumps(flat))
            rows.add(e)
            tally.add(e)
        summary = tally.summary(model)
        results.write('\n],\n"summary": ' + json.dumps(summary, indent=2) + "}\n")
    (out / "results.json.part").replace(out / "results.json")
    if parquet:
        _parquet(out / "results.csv", kinds, out / "results.parquet")
    _histogram(tally, out / "in_lung_histogram.png")
    _by_class_plot(tally, labelled, out / "attention_by_class.png")
    rows.write_page(summary, tally)
    return summary


def _parquet(table: Path, kinds: dict[str, set[type]], path: Path, chunk: int = 5000) -> None:
    """The CSV's table as Parquet, blanks as nulls, each column typed by the values it
    held, read back a chunk at a time (pyarrow comes with ``lunggate[ray]``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def arrow(seen: set[type]) -> tuple[Any, Any]:
        if seen == {bool}:
            return pa.bool_(), lambda v: v == "True"
        if seen == {int}:
            return pa.int64(), int
        if seen and seen <= {int, float}:
            return pa.float64(), float
        return pa.string(), str

    types = {c: arrow(seen) for c, seen in kinds.items()}
    schema = pa.schema([(c, t) for c, (t, _) in types.items()])
    with table.open(newline="") as f, pq.ParquetWriter(path, schema) as writer:
        reader = csv.DictReader(f)
        while batch := list(itertools.islice(reader, chunk)):
            columns = {
                c: [None if r[c] == "" else parse(r[c]) for r in batch]
                for c, (_, parse) in types.items()
            }
            writer.write_table(pa.table(columns, schema=schema))


def _histogram(tally: Tally, path: Path) -> None:
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    ax.hist(tally.all.in_lung, bins=20, range=(0, 1), color="#3478f6")
    if tally.thresholds:
        line = float(np.median(tally.thresholds))
        ax.axvline(line, color="#d2452b", linestyle="--", label=f"median threshold {line:.2f}")
        ax.legend()
    ax.set_xlabel("in-lung attention share (relevance mass accuracy)")
    ax.set_ylabel("images")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def _by_class_plot(tally: Tally, labelled: bool, path: Path) -> None:
    """Box plots of the in-lung score per predicted class (and per true class)."""
    parts = [("predicted class", tally.by_label), *([("true class", tally.by_truth)] * labelled)]
    fig = Figure(figsize=(6.5 * len(parts), 3.4))
    axes = fig.subplots(1, len(parts), squeeze=False)
    for ax, (title, groups) in zip(axes[0], parts, strict=True):
        data = [list(groups[c].in_lung) for c in tally.classes]
        ax.boxplot([d or [np.nan] for d in data], showfliers=True)
        ax.set_xticks(
            range(1, len(tally.classes) + 1),
            [f"{c}\n(n={len(d)})" for c, d in zip(tally.classes, data, strict=True)],
            fontsize=8,
        )
        ax.set_ylim(0, 1)
        ax.set_ylabel("in-lung attention share")
        ax.set_title(f"by {title}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
