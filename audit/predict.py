"""``lunggate predict``: the audit's run with another sink.

The images go through the local engine as an audit's do (decoded by the one reader,
analysed in batches, a file that cannot be read or analysed an entry with the
reason); instead of ``results.jsonl`` and a report, each entry becomes a JSON file
and its overlays beside the file's name under the output folder, and a line on the
terminal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from lunggate.audit.engines import LocalEngine
from lunggate.audit.entry import AuditEntry
from lunggate.audit.sources import Item
from lunggate.core.data import output_stem
from lunggate.pipeline.analyze import Pipeline


def summary(entry: AuditEntry) -> str:
    """The entry's line: the result's summary, or why the file has none."""
    name = Path(entry.path).name
    if entry.result is None:
        return f"{name}: ERROR, {entry.error}"
    return entry.result.summary(name)


def predict_files(
    pipeline: Pipeline,
    files: Sequence[Path],
    out: Path | None,
    as_json: bool = False,
    guided: bool = False,
    batch_size: int = 16,
    roots: Sequence[Path] = (),
) -> Iterator[str]:
    """Analyse the files ``batch_size`` at a time; yield each file's summary line (or
    its JSON) in order. With ``out``, write ``<stem>.json`` and the overlays (with a
    Guided Grad-CAM when ``guided``) named by ``output_stem`` under the folders ``roots``
    the files were found in."""
    items = [Item(str(path), path) for path in files]
    stems = {}
    if out is not None:
        stems = {i.key: Path(output_stem(out, i.file, roots)).relative_to(out) for i in items}
    engine = LocalEngine(pipeline, batch_size, lambda key: str(stems[key]), guided)
    for entries in engine.run(items, out):
        for entry in entries:
            row = entry.to_row()
            if out is not None and entry.result is not None:
                (out / f"{stems[entry.path]}.json").write_text(json.dumps(row, indent=2) + "\n")
            yield json.dumps(row) if as_json else summary(entry)
