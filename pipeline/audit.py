"""``lunggate audit``: run a folder tree through the pipeline for an attention audit.

Results are appended image by image to ``results.jsonl``, so an interrupted audit
resumes where it stopped; the CSV, JSON and HTML report are rebuilt from them at the
end (``report.write_reports``). With the auditor's labels (a CSV of ``path,label``)
the report also scores the answers against them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from lunggate.core.data import image_files
from lunggate.core.errors import LunggateError
from lunggate.core.overlays import write_png
from lunggate.pipeline.analyze import Pipeline
from lunggate.pipeline.imageio import decode
from lunggate.pipeline.render import overlays
from lunggate.pipeline.report import write_reports


def read_labels(path: Path, root: Path, classes: Sequence[str]) -> dict[str, str]:
    """The auditor's labels: a CSV with ``path`` (relative to the audited folder, or
    absolute inside it) and ``label`` (one of the model's classes) columns."""
    if not path.is_file():
        raise LunggateError(f"labels file {path} does not exist")
    labels: dict[str, str] = {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if not {"path", "label"} <= set(reader.fieldnames or ()):
            raise LunggateError(f"labels file {path} needs a header with path and label columns")
        for k, row in enumerate(reader):
            where = f"labels file {path} row {k + 2}"
            if row["label"] not in classes:
                raise LunggateError(
                    f"{where}: label {row['label']!r} is not one of the model's classes "
                    f"({', '.join(classes)})"
                )
            image = Path(row["path"] or "")
            if image.is_absolute():
                try:
                    image = image.relative_to(root.resolve())
                except ValueError:
                    raise LunggateError(f"{where}: {image} is not inside {root}") from None
            labels[image.as_posix()] = row["label"]
    if not labels:
        raise LunggateError(f"labels file {path} lists no images")
    return labels


def _same_model(done: dict[str, dict], pipeline: Pipeline, out: Path) -> None:
    """An output folder resumes only the audit of the same classifier."""
    mine = pipeline.models.classifier.sha256
    for entry in done.values():
        theirs = ((entry.get("models") or {}).get("classifier") or {}).get("sha256")
        if theirs is not None and theirs != mine:
            raise LunggateError(
                f"{out} holds an audit of another classifier (sha256 {str(theirs)[:12]}); "
                "choose a new --out to audit this one"
            )


def _done(jsonl: Path) -> dict[str, dict]:
    if not jsonl.is_file():
        return {}
    done = {}
    for line in jsonl.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut off by an interruption is simply redone
        done[entry["path"]] = entry
    return done


def audit(
    pipeline: Pipeline,
    root: Path,
    out: Path,
    labels: Path | None = None,
    batch_size: int = 8,
) -> dict:
    """Analyse every image under ``root``; return the summary written to ``results.json``.

    ``labels`` (a CSV of path,label) adds the auditor's labels to the rows and the
    scores against them to the report.
    """
    if not root.is_dir():
        raise LunggateError(f"audit folder {root} does not exist or is not a folder")
    files = image_files([root])
    classes = pipeline.models.classes
    truth = read_labels(labels, root, classes) if labels is not None else {}
    out.mkdir(parents=True, exist_ok=True)
    (out / "overlays").mkdir(exist_ok=True)
    jsonl = out / "results.jsonl"
    done = _done(jsonl)
    _same_model(done, pipeline, out)
    todo = [f for f in files if str(f.relative_to(root)) not in done]
    with (
        jsonl.open("a") as sink,
        tqdm(total=len(files), initial=len(files) - len(todo), desc="audit", unit="img") as bar,
    ):
        for start in range(0, len(todo), batch_size):
            for entry in _analyze_chunk(pipeline, root, todo[start : start + batch_size], out):
                sink.write(json.dumps(entry) + "\n")
                done[entry["path"]] = entry
            sink.flush()
            bar.update(len(todo[start : start + batch_size]))
    entries = []
    for f in files:
        rel = f.relative_to(root).as_posix()
        if rel in done:
            entries.append({**done[rel], "truth": truth.get(rel)} if truth else done[rel])
    return write_reports(entries, out, classes, pipeline.models.model_dump())


def _analyze_chunk(pipeline: Pipeline, root: Path, files: Sequence[Path], out: Path) -> list[dict]:
    decoded, entries = [], {}
    for path in files:
        rel = str(path.relative_to(root))
        try:
            decoded.append((rel, decode(path.read_bytes()).pixels))
        except (LunggateError, OSError) as exc:
            entries[rel] = {"path": rel, "status": "error", "reason": str(exc)}
    results = pipeline.analyze_batch([img for _, img in decoded]) if decoded else []
    for (rel, image), result in zip(decoded, results, strict=True):
        stem = rel.replace("/", "__").rsplit(".", 1)[0]
        pictures = overlays(image, result)
        for kind, picture in pictures.items():
            write_png(out / "overlays" / f"{stem}_{kind}.png", picture)
        entries[rel] = {
            "path": rel,
            **result.to_dict(),
            "overlays": {k: f"overlays/{stem}_{k}.png" for k in pictures},
        }
    return [entries[str(p.relative_to(root))] for p in files]
