"""``audit``: the CSV/JSON/HTML outputs, and resuming an interrupted run."""

import csv
import json
import shutil
from pathlib import Path

from conftest import SAMPLES
from lunggate.pipeline.audit import CSV_COLUMNS, audit


def folder_of_studies(tmp_path: Path) -> Path:
    root = tmp_path / "studies"
    (root / "ward_a").mkdir(parents=True)
    for p in SAMPLES[:3]:
        shutil.copy(p, root / "ward_a" / p.name)
    (root / "broken.png").write_bytes(b"not an image")
    return root


def test_audit_writes_csv_json_and_html(tiny_pipeline, tmp_path):
    root = folder_of_studies(tmp_path)
    summary = audit(tiny_pipeline, root, tmp_path / "report")
    assert summary["images"] == 4 and summary["status"] == {"ok": 3, "error": 1}
    rows = list(csv.DictReader((tmp_path / "report" / "results.csv").open()))
    assert list(rows[0].keys()) == CSV_COLUMNS
    broken = next(r for r in rows if r["path"] == "broken.png")
    assert broken["status"] == "error" and "not a PNG" in broken["reason"]
    assert {r["burn_in.segmented_twice"] for r in rows if r["status"] == "ok"} <= {"True", "False"}
    data = json.loads((tmp_path / "report" / "results.json").read_text())
    # The CSV is the JSON result flattened: the same figures under dotted names.
    first = next(r for r in data["results"] if r["status"] == "ok")
    row = next(r for r in rows if r["path"] == first["path"])
    assert float(row["attention.in_lung"]) == first["attention"]["in_lung"]
    assert float(row["probabilities.COVID"]) == first["probabilities"]["COVID"]
    assert float(row["lung.plausibility.confidence"]) == first["lung"]["plausibility"]["confidence"]
    assert len(data["results"]) == 4
    html = (tmp_path / "report" / "report.html").read_text()
    assert "in_lung_histogram.png" in html and "broken.png" in html
    ok = next(r for r in data["results"] if r["status"] == "ok")
    assert (tmp_path / "report" / ok["overlays"]["gradcam"]).is_file()


def test_interrupted_audit_resumes_without_redoing(tiny_pipeline, tmp_path):
    root = folder_of_studies(tmp_path)
    out = tmp_path / "report"
    audit(tiny_pipeline, root, out)
    jsonl = out / "results.jsonl"
    lines = jsonl.read_text().splitlines()
    jsonl.write_text("\n".join(lines[:2]) + "\n" + lines[2][:20])  # cut mid-line, as a kill would
    calls = []
    original = tiny_pipeline.analyze_batch

    def counting(images):
        calls.append(len(images))
        return original(images)

    tiny_pipeline.analyze_batch = counting
    try:
        summary = audit(tiny_pipeline, root, out)
    finally:
        del tiny_pipeline.analyze_batch
    assert summary["images"] == 4
    assert sum(calls) <= 2  # only the unfinished images were analysed again
    assert len(json.loads((out / "results.json").read_text())["results"]) == 4
