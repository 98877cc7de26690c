"""``lunggate predict`` and ``lunggate segment``: the audit's run with other sinks.

The files a user names go through the local engine as an audit's images do (decoded
by the one reader, analysed in batches, a file that cannot be read or analysed an
entry with the reason). Instead of ``results.jsonl`` and a report, each entry's
outputs are written beside the file's name under the output folder
(``data.output_stem``: its path under the folder given), and a line goes to the
terminal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from lunggate.audit.engines import Analysis, LocalEngine
from lunggate.audit.entry import AuditEntry
from lunggate.audit.sources import Item
from lunggate.core.data import output_stem
from lunggate.core.overlays import write_png
from lunggate.pipeline.analyze import Pipeline


def _run(
    pipeline: Pipeline,
    files: Sequence[Path],
    out: Path | None,
    roots: Sequence[Path],
    analysis: Analysis,
    batch_size: int,
) -> Iterator[tuple[AuditEntry, Path | None]]:
    """Each file's entry, in order, with where its outputs go under ``out`` (None
    without ``out``); the engine has written its overlays there."""
    items = [Item(str(path), path) for path in files]
    stems: dict[str, Path] = {}
    if out is not None:
        stems = {i.key: Path(output_stem(out, i.file, roots)).relative_to(out) for i in items}
    engine = LocalEngine(pipeline, batch_size, lambda key: str(stems[key]), analysis)
    for entries in engine.run(items, out):
        for entry in entries:
            yield entry, None if out is None else out / stems[entry.path]


def _error(entry: AuditEntry) -> str:
    return f"{Path(entry.path).name}: ERROR, {entry.error}"


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
    Guided Grad-CAM when ``guided``) under the folders ``roots`` the files were found in."""
    analysis = partial(pipeline.analyze_batch, guided=guided)
    for entry, stem in _run(pipeline, files, out, roots, analysis, batch_size):
        row = entry.to_row()
        if stem is not None and entry.result is not None:
            Path(f"{stem}.json").write_text(json.dumps(row, indent=2) + "\n")
        if as_json:
            yield json.dumps(row)
        else:
            yield (
                _error(entry)
                if entry.result is None
                else entry.result.summary(Path(entry.path).name)
            )


def segment_files(
    pipeline: Pipeline, files: Sequence[Path], out: Path, roots: Sequence[Path] = ()
) -> Iterator[str]:
    """Find the lungs of each file (the masks the pipeline gates with: marks painted
    over and carved out); write ``<stem>_mask.png`` and ``<stem>_lungs.png``; yield a
    line each, in order."""
    for entry, stem in _run(pipeline, files, out, roots, pipeline.find_lungs, 16):
        if entry.result is None:
            yield _error(entry)
            continue
        result = entry.result
        write_png(Path(f"{stem}_mask.png"), result.mask.astype(np.uint8) * 255)
        lung = result.lung
        status = "ok" if lung.ok else f"REJECTED ({result.reason})"
        yield (
            f"{Path(entry.path).name}: lung area {lung.area_fraction:.2f}, "
            f"{lung.components} component(s), {status}"
        )
