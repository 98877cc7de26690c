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
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from lunggate.audit.engines import Engine, LocalEngine
from lunggate.audit.entry import AuditEntry
from lunggate.audit.report import write_reports
from lunggate.audit.sources import Source, read_source
from lunggate.core.errors import LunggateError
from lunggate.pipeline.analyze import Pipeline


def _done(jsonl: Path, mine: str | None, out: Path) -> dict[str, int]:
    """Where each image's entry starts in ``results.jsonl`` (the last whole line of a
    key wins; a line cut off by an interruption is simply redone). Only the offsets are
    kept, so resuming a 100,000-image audit holds no entries in memory.

    Raises:
        LunggateError: the folder holds an audit of another classifier than ``mine``.
    """
    if not jsonl.is_file():
        return {}
    done = {}
    with jsonl.open("rb") as f:
        while line := f.readline():
            start = f.tell() - len(line)
            try:
                row = json.loads(line)
                key = row["path"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
            theirs = ((row.get("models") or {}).get("classifier") or {}).get("sha256")
            if theirs is not None and theirs != mine:
                raise LunggateError(
                    f"{out} holds an audit of another classifier (sha256 {str(theirs)[:12]}); "
                    "choose a new --out to audit this one"
                )
            done[key] = start
    return done


def _last_byte(path: Path) -> bytes:
    with path.open("rb") as f:
        f.seek(-1, 2)
        return f.read(1)


def _entries(jsonl: Path, found: Source, done: dict[str, int]) -> Iterator[AuditEntry]:
    """The entries of ``found``'s images in its order, read one at a time from their
    offsets, with the auditor's labels."""
    with jsonl.open("rb") as f:
        for item in found.items:
            if item.key in done:
                f.seek(done[item.key])
                entry = AuditEntry.from_row(json.loads(f.readline()))
                yield entry.model_copy(update={"truth": found.labels.get(item.key)})


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
    done = _done(jsonl, pipeline.models.classifier.sha256, out)
    todo = [item for item in found.items if item.key not in done]
    engine = engine or LocalEngine(pipeline)
    total = len(found.items)
    with (
        jsonl.open("ab") as sink,
        tqdm(total=total, initial=total - len(todo), desc="audit", unit="img") as bar,
    ):
        if sink.tell() and _last_byte(jsonl) != b"\n":
            sink.write(b"\n")  # a line an interruption cut off stays a line of its own
        for entries in engine.run(todo, out):
            for entry in entries:
                done[entry.path] = sink.tell()
                sink.write((json.dumps(entry.to_row()) + "\n").encode())
            sink.flush()
            bar.update(len(entries))
    summary = write_reports(
        _entries(jsonl, found, done),
        out,
        classes,
        labelled=bool(found.labels),
        model=pipeline.models.model_dump(),
        parquet=engine.writes_parquet,
    )
    return {**summary, "analysed_now": len(todo), "engine": engine.name}
