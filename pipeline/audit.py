"""``lunggate audit``: run a folder tree through the pipeline for an attention audit.

Results are appended image by image (``results.jsonl`` and ``results.csv``), so an
interrupted audit resumes where it stopped; ``results.json`` and ``report.html`` are
rebuilt from them at the end.
"""

from __future__ import annotations

import csv
import html
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from lunggate.core.data import image_files  # noqa: E402
from lunggate.core.errors import LunggateError  # noqa: E402
from lunggate.core.overlays import write_png  # noqa: E402
from lunggate.pipeline.analyze import Pipeline  # noqa: E402
from lunggate.pipeline.imageio import decode  # noqa: E402
from lunggate.pipeline.render import overlays  # noqa: E402
from lunggate.pipeline.result import TABLE_COLUMNS, table_row  # noqa: E402

CSV_COLUMNS = ["path", *TABLE_COLUMNS]
"""One row per image: its path, then the result's fields (``result.TABLE_COLUMNS``)."""


def csv_row(entry: dict) -> dict:
    """An audit entry (a result, or an unreadable file's status and reason) as a CSV row."""
    return {"path": entry["path"], **table_row(entry)}


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


def audit(pipeline: Pipeline, root: Path, out: Path, batch_size: int = 8) -> dict:
    """Analyse every image under ``root``; return the summary written to ``results.json``."""
    if not root.is_dir():
        raise LunggateError(f"audit folder {root} does not exist or is not a folder")
    files = image_files([root])
    out.mkdir(parents=True, exist_ok=True)
    (out / "overlays").mkdir(exist_ok=True)
    jsonl = out / "results.jsonl"
    done = _done(jsonl)
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
    entries = [done[str(f.relative_to(root))] for f in files if str(f.relative_to(root)) in done]
    return write_reports(entries, out)


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


def write_reports(entries: list[dict], out: Path) -> dict:
    """``results.csv``, ``results.json`` and ``report.html`` from all entries."""
    with (out / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(csv_row(e) for e in entries)
    scores = [
        e["attention"]["in_lung"]
        for e in entries
        if e.get("attention") and e["attention"].get("in_lung") is not None
    ]
    summary = {
        "images": len(entries),
        "status": dict(Counter(e["status"] for e in entries)),
        "labels": dict(Counter(e["label"] for e in entries if e.get("label"))),
        "flagged": sum(1 for e in entries if (e.get("attention") or {}).get("flag")),
        "in_lung_median": sorted(scores)[len(scores) // 2] if scores else None,
    }
    (out / "results.json").write_text(
        json.dumps({"summary": summary, "results": entries}, indent=2) + "\n"
    )
    _histogram(scores, entries, out / "in_lung_histogram.png")
    (out / "report.html").write_text(_html(summary, entries))
    return summary


def _histogram(scores: list[float], entries: list[dict], path: Path) -> None:
    thresholds = [e["attention"]["threshold"] for e in entries if e.get("attention")]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(scores, bins=20, range=(0, 1), color="#3478f6")
    if thresholds:
        line = float(np.median(thresholds))
        ax.axvline(line, color="#d2452b", linestyle="--", label=f"median threshold {line:.2f}")
        ax.legend()
    ax.set_xlabel("in-lung attention share")
    ax.set_ylabel("images")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _html(summary: dict, entries: list[dict]) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(str(k))}</td><td>{v}</td></tr>" for k, v in sorted(summary["labels"].items())
    )
    status = ", ".join(f"{esc(k)}: {v}" for k, v in sorted(summary["status"].items()))

    def card(e: dict) -> str:
        pics = "".join(
            f'<img src="{esc(p)}" alt="{esc(k)}" width="200">'
            for k, p in (e.get("overlays") or {}).items()
        )
        att = e.get("attention") or {}
        detail = e.get("reason") or (
            f"{e.get('label')}, in-lung {att.get('in_lung')}"
            f" (lung area {att.get('lung_area_fraction')})"
        )
        return f'<div class="case"><b>{esc(e["path"])}</b><br>{esc(str(detail))}<br>{pics}</div>'

    flagged = "".join(card(e) for e in entries if (e.get("attention") or {}).get("flag"))
    rejected = "".join(card(e) for e in entries if e["status"] != "ok")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>lunggate audit</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5rem}}.case{{display:inline-block;
margin:.5rem;vertical-align:top;font-size:.85rem}}td{{padding:0 1rem}}</style></head><body>
<h1>lunggate audit</h1><p>{summary["images"]} images; {status}; {summary["flagged"]} flagged
(attention mostly outside the lungs). Research use only, not for diagnosis.</p>
<h2>Predicted labels</h2><table>{rows}</table>
<h2>In-lung attention</h2><img src="in_lung_histogram.png" alt="in-lung score histogram">
<h2>Flagged ({summary["flagged"]})</h2>{flagged or "<p>none</p>"}
<h2>Rejected or unreadable</h2>{rejected or "<p>none</p>"}
</body></html>
"""
