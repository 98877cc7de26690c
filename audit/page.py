"""``report.html``, the page an auditor works in, from the audit's entries and summary.

The page is the Jinja2 template ``report.html.j2`` (autoescaped: a file name is text,
never markup) with ``report.js`` inlined, so the report is one file beside its
pictures. It carries every image's row as JSON and draws one page of the table at a
time (sortable by any column, filtered by name, label and outcome), so it opens in a
second at 10,000 images: only the shown page's thumbnails are loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files

import jinja2

from lunggate.audit.entry import AuditEntry

CASES_SHOWN = 24
"""Flagged and rejected cases drawn as cards; the table holds them all."""
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
"""The columns of the page's table (``table_rows``), as ``report.js`` reads them."""

_HERE = files("lunggate.audit")
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FunctionLoader(lambda name: _HERE.joinpath(name).read_text()),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_TEMPLATES.policies["json.dumps_kwargs"] = {"separators": (",", ":")}  # 10,000 rows stay small


def table_rows(entries: Sequence[AuditEntry]) -> list[list]:
    """The page's table, one compact row per image (``ROW_FIELDS``)."""
    rows = []
    for e in entries:
        a = e.attention
        r = e.result
        p = None if r is None or not r.probabilities else r.probabilities.get(r.label or "")
        familiarity = None if r is None else r.familiarity
        rows.append(
            [
                e.path,
                e.truth or "",
                e.label or "",
                None if p is None else round(p, 3),
                None if a is None else a.in_lung,
                None if a is None else a.lift,
                None if a is None else a.ceiling,
                "flagged" if e.flagged else e.status,
                e.reason or "",
                e.overlays.get("gradcam", ""),
                None if familiarity is None else familiarity.score,
                "" if familiarity is None else "unfamiliar" if e.unfamiliar else "familiar",
            ]
        )
    return rows


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _detail(entry: AuditEntry) -> str:
    """A card's line for an answered image."""
    a = entry.attention
    if a is None:
        return str(entry.label)
    return f"{entry.label}, in-lung {a.in_lung} (lift {a.lift}, lung area {a.lung_area_fraction})"


def page(summary: dict, entries: Sequence[AuditEntry], classes: Sequence[str]) -> str:
    """The audit as one self-contained HTML page (figures and overlays beside it)."""
    by_class = [("predicted", summary["by_predicted_class"])]
    if "by_true_class" in summary:
        by_class.append(("true", summary["by_true_class"]))
    return _TEMPLATES.get_template("report.html.j2").render(
        summary={**summary, "against_labels": summary.get("against_labels")},
        classifier=(summary.get("model") or {}).get("classifier"),
        classes=list(classes),
        by_class=by_class,
        flagged=[e for e in entries if e.flagged],
        rejected=[e for e in entries if e.status != "ok"],
        rows={"fields": ROW_FIELDS, "rows": table_rows(entries)},
        script=_HERE.joinpath("report.js").read_text(),
        cases_shown=CASES_SHOWN,
        num=_num,
        detail=_detail,
    )
