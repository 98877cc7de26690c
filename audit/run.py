"""``lunggate audit``: run a folder tree or a manifest through the pipeline for an
attention audit, on this machine or on Ray.

Entries are appended as they are done to ``results.jsonl``, whichever engine runs, so
an interrupted audit resumes where it stopped and nothing is done twice; the CSV,
JSON (and, from Ray, Parquet) results and the HTML report are rebuilt from them at
the end (``report.write_reports``). With the auditor's labels (a manifest's label
column or ``--labels``) the report also scores the answers against them.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError
from tqdm import tqdm

from lunggate.audit.engines import Engine, LocalEngine
from lunggate.audit.entry import AuditEntry
from lunggate.audit.report import write_reports
from lunggate.audit.sources import read_source
from lunggate.core.errors import LunggateError
from lunggate.pipeline.analyze import Pipeline


def _done(jsonl: Path) -> dict[str, AuditEntry]:
    if not jsonl.is_file():
        return {}
    done = {}
    for line in jsonl.read_text().splitlines():
        try:
            entry = AuditEntry.from_row(json.loads(line))
        except (json.JSONDecodeError, KeyError, TypeError, ValidationError):
            continue  # a line cut off by an interruption is simply redone
        done[entry.path] = entry
    return done


def _same_model(done: dict[str, AuditEntry], pipeline: Pipeline, out: Path) -> None:
    """An output folder resumes only the audit of the same classifier."""
    mine = pipeline.models.classifier.sha256
    for entry in done.values():
        theirs = None if entry.result is None else entry.result.models.classifier.sha256
        if theirs is not None and theirs != mine:
            raise LunggateError(
                f"{out} holds an audit of another classifier (sha256 {str(theirs)[:12]}); "
                "choose a new --out to audit this one"
            )


def audit(
    pipeline: Pipeline,
    source: Path,
    out: Path,
    labels: Path | None = None,
    engine: Engine | None = None,
) -> dict:
    """Analyse every image of ``source`` (a folder, or a CSV manifest of paths) and
    return the summary written to ``results.json``.

    Args:
        pipeline: what answers; with another engine, what checks the model files and
            the output folder before the engine starts.
        labels: for a folder, a CSV of path,label scored in the report.
        engine: ``LocalEngine(pipeline)`` by default.
    """
    classes = pipeline.models.classes
    found = read_source(source, classes, labels)
    out.mkdir(parents=True, exist_ok=True)
    (out / "overlays").mkdir(exist_ok=True)
    jsonl = out / "results.jsonl"
    done = _done(jsonl)
    _same_model(done, pipeline, out)
    todo = [item for item in found.items if item.key not in done]
    engine = engine or LocalEngine(pipeline)
    total = len(found.items)
    with (
        jsonl.open("a") as sink,
        tqdm(total=total, initial=total - len(todo), desc="audit", unit="img") as bar,
    ):
        for entries in engine.run(todo, out):
            for entry in entries:
                sink.write(json.dumps(entry.to_row()) + "\n")
                done[entry.path] = entry
            sink.flush()
            bar.update(len(entries))
    entries = [
        done[item.key].model_copy(update={"truth": found.labels.get(item.key)})
        for item in found.items
        if item.key in done
    ]
    summary = write_reports(
        entries, out, classes, pipeline.models.model_dump(), parquet=engine.writes_parquet
    )
    return {**summary, "analysed_now": len(todo), "engine": engine.name}
