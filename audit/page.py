"""``report.html``, the page an auditor works in, from the audit's entries and summary.

The page is the Jinja2 template ``report.html.j2`` (autoescaped: a file name is text,
never markup) with ``report.js`` inlined. Its table's rows are not in the page: they
are written, as the entries stream by, to script files of ``ROWS_PER_PART`` rows
each beside it (``rows/part-00000.js``...), which the page loads as scripts (a page
opened from disk may load scripts beside it, not fetch data files). The table draws
one page of 50 rows at a time, sortable by any column and filtered by name, label,
outcome and familiarity; only the shown rows' thumbnails are loaded.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from lunggate.audit.entry import AuditEntry

if TYPE_CHECKING:
    from lunggate.audit.report import Tally

CASES_SHOWN = 24
"""Flagged and rejected cases drawn as cards; the table holds them all."""
ROWS_PER_PART = 5000
"""Table rows per script file: small enough to write as they come, few enough files."""
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
"""The columns of the page's table (``page_row``), as ``report.js`` reads them."""

_HERE = files("lunggate.audit")
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FunctionLoader(lambda name: _HERE.joinpath(name).read_text()),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def page_row(e: AuditEntry) -> list:
    """The page's table row of one image (``ROW_FIELDS``)."""
    a = e.attention
    r = e.result
    p = None if r is None or not r.probabilities else r.probabilities.get(r.label or "")
    familiarity = None if r is None else r.familiarity
    return [
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


def _script_json(value: object) -> str:
    """JSON safe inside a script file or element (no ``</script>`` can close it)."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


class PageWriter:
    """Writes the table's rows to script files as entries come (``add``), then the page
    that loads them (``write_page``). An earlier report's row files are removed first."""

    def __init__(self, out: Path) -> None:
        self.out, self.folder = out, out / "rows"
        self.parts: list[str] = []
        self._rows: list[list] = []

    def __enter__(self) -> PageWriter:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        return self

    def add(self, entry: AuditEntry) -> None:
        self._rows.append(page_row(entry))
        if len(self._rows) == ROWS_PER_PART:
            self._flush()

    def _flush(self) -> None:
        name = f"rows/part-{len(self.parts):05d}.js"
        (self.out / name).write_text(f"LUNGGATE_ROWS.push(...{_script_json(self._rows)});\n")
        self.parts.append(name)
        self._rows = []

    def __exit__(self, *exc: object) -> None:
        if self._rows or not self.parts:
            self._flush()

    def write_page(self, summary: dict, tally: Tally) -> None:
        """``report.html``, loading the row files written."""
        (self.out / "report.html").write_text(page(summary, tally, self.parts))


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _detail(entry: AuditEntry) -> str:
    """A card's line for an answered image."""
    a = entry.attention
    if a is None:
        return str(entry.label)
    return f"{entry.label}, in-lung {a.in_lung} (lift {a.lift}, lung area {a.lung_area_fraction})"


def page(summary: dict, tally: Tally, parts: Sequence[str]) -> str:
    """The audit as one HTML page beside its row files, figures and overlays."""
    by_class = [("predicted", summary["by_predicted_class"])]
    if "by_true_class" in summary:
        by_class.append(("true", summary["by_true_class"]))
    return _TEMPLATES.get_template("report.html.j2").render(
        summary={**summary, "against_labels": summary.get("against_labels")},
        classifier=(summary.get("model") or {}).get("classifier"),
        classes=list(tally.classes),
        by_class=by_class,
        flagged=tally.flagged,
        rejected=tally.rejected,
        totals={"flagged": tally.all.flagged, "rejected": tally.all.n - tally.status["ok"]},
        fields=_script_json(ROW_FIELDS),
        parts=parts,
        script=_HERE.joinpath("report.js").read_text(),
        num=_num,
        detail=_detail,
    )
