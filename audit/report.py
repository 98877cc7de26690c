"""An audit's outputs from its entries: ``results.csv``, ``results.json``, figures and
``report.html``, the page an auditor works in.

The page carries every image's row as JSON and draws one page of the table at a time
(sortable by any column, filtered by name, label and outcome), so it opens in a
second at 10,000 images: only the shown page's thumbnails are loaded.
"""

from __future__ import annotations

import csv
import html
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from lunggate.classification.metrics import classification_metrics
from lunggate.pipeline.result import table_columns, table_row

SCRIPT = Path(__file__).with_name("report.js")
"""The page's table code, inlined so the report is one file beside its pictures."""
CASES_SHOWN = 24
"""Flagged and rejected cases drawn as cards; the table holds them all."""


def csv_columns(classes: Sequence[str], labelled: bool) -> list[str]:
    """One row per image: its path, its label when the auditor gave them, then the
    result's fields (``result.table_columns``)."""
    return ["path", *(["truth"] if labelled else []), *table_columns(classes)]


def _attention(entry: dict) -> dict:
    return entry.get("attention") or {}


def _scores(entries: list[dict], key: str = "in_lung") -> list[float]:
    """The entries' attention figure ``key`` (in-lung score or lift), where they have one."""
    return [a[key] for a in map(_attention, entries) if a.get(key) is not None]


def _attention_stats(entries: list[dict]) -> dict:
    """Count, in-lung score and lift medians, and flagged count of some entries."""
    scores, lifts = _scores(entries), _scores(entries, "lift")
    return {
        "n": len(entries),
        "in_lung_median": float(np.median(scores)) if scores else None,
        "lift_median": float(np.median(lifts)) if lifts else None,
        "flagged": sum(1 for a in map(_attention, entries) if a.get("flag")),
    }


def _by_class(entries: list[dict], key: str, classes: Sequence[str]) -> dict:
    """``_attention_stats`` of the entries per value of ``key`` (a predicted or true class)."""
    return {c: _attention_stats([e for e in entries if e.get(key) == c]) for c in classes}


def labelled_metrics(entries: list[dict], classes: Sequence[str]) -> dict | None:
    """Accuracy, macro-F1, per-class figures and the confusion matrix of the answered
    images that carry the auditor's label (``None`` without labels)."""
    labelled = [e for e in entries if e.get("truth")]
    if not labelled:
        return None
    answered = [e for e in labelled if e.get("probabilities")]
    out: dict = {
        "labelled": len(labelled),
        "answered": len(answered),
        "not_answered": len(labelled) - len(answered),
    }
    if answered:
        familiar = [e for e in answered if e.get("familiarity") and not _unfamiliar(e)]
        unfamiliar = [e for e in answered if _unfamiliar(e)]
        for name, part in (("familiar", familiar), ("unfamiliar", unfamiliar)):
            out[f"accuracy_{name}"] = _accuracy(part)
            out[name] = len(part)
        truth = np.array([classes.index(e["truth"]) for e in answered])
        probs = np.array([[e["probabilities"][c] for c in classes] for e in answered])
        metrics = classification_metrics(truth, probs, classes)
        keys = ("accuracy", "macro_f1", "macro_f1_classes", "per_class")
        out.update({k: metrics[k] for k in keys})
        out["confusion_matrix"] = {
            "classes": list(classes),
            "rows_true": metrics["confusion_matrix"],
        }
    return out


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _unfamiliar(entry: dict) -> bool:
    return bool((entry.get("familiarity") or {}).get("unfamiliar"))


def _accuracy(entries: list[dict]) -> float | None:
    """Share of ``entries`` whose answer is their label (None when there are none)."""
    if not entries:
        return None
    return sum(e["label"] == e["truth"] for e in entries) / len(entries)


def summarize(entries: list[dict], classes: Sequence[str], model: dict | None) -> dict:
    overall = _attention_stats(entries)
    summary = {
        "images": len(entries),
        "model": model,
        "status": dict(Counter(e["status"] for e in entries)),
        "labels": dict(Counter(e["label"] for e in entries if e.get("label"))),
        **{k: overall[k] for k in ("flagged", "in_lung_median", "lift_median")},
        "unfamiliar": sum(_unfamiliar(e) for e in entries),
        "by_predicted_class": _by_class(entries, "label", classes),
    }
    metrics = labelled_metrics(entries, classes)
    if metrics is not None:
        summary["by_true_class"] = _by_class(entries, "truth", classes)
        summary["against_labels"] = metrics
    return summary


def write_reports(
    entries: list[dict],
    out: Path,
    classes: Sequence[str],
    model: dict | None = None,
    parquet: bool = False,
) -> dict:
    """``results.csv``, ``results.json``, the figures and ``report.html`` from all
    entries (and ``results.parquet``, the CSV's table, when ``parquet``); returns the
    summary. ``model`` names what answered (``Models`` as a dict)."""
    labelled = any(e.get("truth") for e in entries)
    columns = csv_columns(classes, labelled)
    rows = [
        {"path": e["path"], **table_row(e, columns[1:]), **_truth(e, labelled)} for e in entries
    ]
    with (out / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    if parquet:
        _parquet(rows, columns, out / "results.parquet")
    summary = summarize(entries, classes, model)
    (out / "results.json").write_text(
        json.dumps({"summary": summary, "results": entries}, indent=2) + "\n"
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


def _truth(entry: dict, labelled: bool) -> dict:
    return {"truth": entry.get("truth") or ""} if labelled else {}


def _histogram(entries: list[dict], path: Path) -> None:
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


def _by_class_plot(entries: list[dict], classes: Sequence[str], labelled: bool, path: Path) -> None:
    """Box plots of the in-lung score per predicted class (and per true class)."""
    keys = [("label", "predicted class"), *([("truth", "true class")] if labelled else [])]
    fig = Figure(figsize=(6.5 * len(keys), 3.4))
    axes = fig.subplots(1, len(keys), squeeze=False)
    for ax, (key, title) in zip(axes[0], keys, strict=True):
        data = [_scores([e for e in entries if e.get(key) == c]) for c in classes]
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


def table_rows(entries: list[dict]) -> list[list]:
    """The page's table, one compact row per image (``ROW_FIELDS``)."""
    rows = []
    for e in entries:
        a = _attention(e)
        p = (e.get("probabilities") or {}).get(e.get("label") or "")
        outcome = "flagged" if a.get("flag") else e["status"]
        rows.append(
            [
                e["path"],
                e.get("truth") or "",
                e.get("label") or "",
                None if p is None else round(p, 3),
                a.get("in_lung"),
                a.get("lift"),
                a.get("ceiling"),
                outcome,
                e.get("reason") or "",
                (e.get("overlays") or {}).get("gradcam") or "",
                (e.get("familiarity") or {}).get("score"),
                "unfamiliar" if _unfamiliar(e) else "familiar" if e.get("familiarity") else "",
            ]
        )
    return rows


ROW_FIELDS = (
    "path",
    "truth",
    "label",
    "p",
    "in_lung",
    "lift",
    "ceiling",
    "outcome",
    "reason",
    "thumb",
    "familiarity",
    "familiar",
)


def _cards(entries: list[dict]) -> str:
    esc = html.escape

    def card(e: dict) -> str:
        pics = "".join(
            f'<img src="{esc(p)}" alt="{esc(k)}" width="200" loading="lazy">'
            for k, p in (e.get("overlays") or {}).items()
        )
        a = _attention(e)
        detail = e.get("reason") or (
            f"{e.get('label')}, in-lung {a.get('in_lung')} (lift {a.get('lift')}, "
            f"lung area {a.get('lung_area_fraction')})"
        )
        return f'<div class="case"><b>{esc(e["path"])}</b><br>{esc(str(detail))}<br>{pics}</div>'

    shown = "".join(card(e) for e in entries[:CASES_SHOWN])
    more = len(entries) - CASES_SHOWN
    note = f"<p>{more} more: filter the table below.</p>" if more > 0 else ""
    return (shown + note) or "<p>none</p>"


def _metrics_html(metrics: dict | None, classes: Sequence[str]) -> str:
    if metrics is None:
        return ""
    esc = html.escape
    head = (
        f"<h2>Against your labels</h2><p>{metrics['labelled']} labelled images, "
        f"{metrics['answered']} answered ({metrics['not_answered']} rejected or unreadable)."
    )
    if "accuracy" not in metrics:
        return head + "</p>"
    cm = metrics["confusion_matrix"]["rows_true"]
    header = "".join(f"<th>{esc(c)}</th>" for c in classes)
    body = "".join(
        f"<tr><th>{esc(c)}</th>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>"
        for c, row in zip(classes, cm, strict=True)
    )
    per_class = "".join(
        f"<tr><td>{esc(c)}</td><td>{m['precision']:.3f}</td><td>{m['recall']:.3f}</td>"
        f"<td>{m['f1']:.3f}</td><td>{m['support']}</td></tr>"
        for c, m in metrics["per_class"].items()
    )
    return (
        f"{head} Accuracy <b>{metrics['accuracy']:.3f}</b>, macro-F1 "
        f"<b>{metrics['macro_f1']:.3f}</b> over the {len(metrics['macro_f1_classes'])} "
        f"classes your labels hold ({esc(', '.join(metrics['macro_f1_classes']))}). "
        f"Familiar films: {metrics['familiar']}, accuracy {_num(metrics['accuracy_familiar'])}; "
        f"unlike the training data: {metrics['unfamiliar']}, accuracy "
        f"{_num(metrics['accuracy_unfamiliar'])}.</p>"
        f"<h3>Confusion matrix (rows: your label, columns: predicted)</h3>"
        f'<table id="confusion" class="grid"><tr><th></th>{header}</tr>{body}</table>'
        '<h3>Per class</h3><table class="grid"><tr><th>class</th><th>precision</th>'
        f"<th>recall</th><th>F1</th><th>support</th></tr>{per_class}</table>"
    )


def _class_table(summary: dict, classes: Sequence[str]) -> str:
    parts = [("predicted", summary["by_predicted_class"])]
    if "by_true_class" in summary:
        parts.append(("true", summary["by_true_class"]))
    head = "".join(
        f"<th>{w}: n</th><th>{w}: in-lung median</th><th>{w}: lift median</th><th>{w}: flagged</th>"
        for w, _ in parts
    )
    body = "".join(
        f"<tr><td>{html.escape(c)}</td>"
        + "".join(
            f"<td>{d[c]['n']}</td><td>{_num(d[c]['in_lung_median'])}</td>"
            f"<td>{_num(d[c]['lift_median'])}</td><td>{d[c]['flagged']}</td>"
            for _, d in parts
        )
        + "</tr>"
        for c in classes
    )
    return f'<table id="by-class" class="grid"><tr><th>class</th>{head}</tr>{body}</table>'


def _json_for_script(value: object) -> str:
    """JSON safe inside a ``<script>`` element."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def page(summary: dict, entries: list[dict], classes: Sequence[str]) -> str:
    """The audit as one self-contained HTML page (figures and overlays beside it)."""
    esc = html.escape
    status = ", ".join(f"{esc(k)}: {v}" for k, v in sorted(summary["status"].items()))
    model = summary.get("model") or {}
    classifier = model.get("classifier") or {}
    who = (
        (
            f"Classifier {esc(str(classifier.get('name')))} (sha256 "
            f"{esc(str(classifier.get('sha256'))[:12])})."
        )
        if classifier
        else ""
    )
    median = summary["in_lung_median"]
    lift = summary["lift_median"]
    flagged = [e for e in entries if _attention(e).get("flag")]
    rejected = [e for e in entries if e["status"] != "ok"]
    options = "".join(f"<option>{esc(c)}</option>" for c in classes)
    rows = {"fields": ROW_FIELDS, "rows": table_rows(entries)}
    labelled = "against_labels" in summary
    truth_filter = (
        f'<select id="truth"><option value="">any true label</option>{options}</select>'
        if labelled
        else ""
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>lunggate audit</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5rem;max-width:80rem}}
.case{{display:inline-block;margin:.5rem;vertical-align:top;font-size:.85rem}}
.grid td,.grid th{{padding:.15rem .6rem;border-bottom:1px solid #ddd;text-align:right}}
#results{{border-collapse:collapse;font-size:.85rem;width:100%}}
#results th{{cursor:pointer;background:#f1f3f6;position:sticky;top:0;text-align:left}}
#results td{{padding:.1rem .4rem;border-bottom:1px solid #eee}}
#results th.asc::after{{content:" \\25B2"}}#results th.desc::after{{content:" \\25BC"}}
.flagged{{color:#b3261e}}.rejected,.error{{color:#7a5b00}}.miss{{background:#fff4e5}}
#controls>*{{margin-right:.5rem}}</style></head><body>
<h1>lunggate audit</h1>
<p id="counts">{summary["images"]} images; {status}; {summary["flagged"]} flagged (attention
mostly outside the lungs); {summary["unfamiliar"]} unlike the training data. {who} Research
use only, not for diagnosis.</p>
<p>A film <i>unlike the training data</i> scores below the familiarity threshold, under
which about 5 % of lunggate's validation films fall: its answer deserves less trust. A
familiar film can still be misread.</p>
<p>The in-lung score is relevance mass accuracy: the share of the Grad-CAM's positive mass
on the lung mask. Chance is the lung area fraction; <i>lift</i> is the score over chance
(1 = no better than chance) and <i>ceiling</i> the highest score the explained map's grid
allows. Median score {_num(median)}, median lift
{"n/a" if lift is None else f"{lift:.2f}"}.</p>
{_metrics_html(summary.get("against_labels"), classes)}
<h2>Attention per class</h2>{_class_table(summary, classes)}
<img src="attention_by_class.png" alt="in-lung score per class">
<img src="in_lung_histogram.png" alt="in-lung score histogram">
<h2>Flagged ({len(flagged)})</h2>{_cards(flagged)}
<h2>Rejected or unreadable ({len(rejected)})</h2>{_cards(rejected)}
<h2>Every image</h2>
<div id="controls"><input id="search" placeholder="path contains"
><select id="label"><option value="">any predicted label</option>{options}</select
>{truth_filter}<select id="outcome"><option value="">any outcome</option><option>ok</option
><option>flagged</option><option>rejected</option><option>error</option
>{"<option>misclassified</option>" if labelled else ""}</select
><select id="familiar"><option value="">any familiarity</option><option>familiar</option
><option>unfamiliar</option></select
><button id="prev">&larr; previous</button><span id="page"></span
><button id="next">next &rarr;</button><span id="shown"></span></div>
<table id="results"><thead><tr></tr></thead><tbody></tbody></table>
<script id="rows" type="application/json">{_json_for_script(rows)}</script>
<script>{SCRIPT.read_text()}</script>
</body></html>
"""
