"""``audit``: the CSV/JSON/HTML outputs, and resuming an interrupted run."""

import csv
import json
import shutil
from pathlib import Path

import pytest

from conftest import SAMPLES
from lunggate.audit.report import csv_columns
from lunggate.audit.run import audit
from lunggate.core import CLASS_NAMES
from lunggate.core.errors import LunggateError


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
    assert list(rows[0].keys()) == csv_columns(CLASS_NAMES, labelled=False)
    broken = next(r for r in rows if r["path"] == "broken.png")
    assert broken["status"] == "error" and "not a PNG" in broken["reason"]
    assert {r["mark_removal.segmented_twice"] for r in rows if r["status"] == "ok"} <= {
        "True",
        "False",
    }
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


def write_labels(root: Path, rows: list[tuple[str, str]]) -> Path:
    path = root.parent / "labels.csv"
    path.write_text("path,label\n" + "".join(f"{p},{label}\n" for p, label in rows))
    return path


def test_audit_with_labels_reports_a_confusion_matrix(tiny_pipeline, tmp_path):
    root = folder_of_studies(tmp_path)
    names = sorted(p.name for p in (root / "ward_a").iterdir())
    truth = [(f"ward_a/{n}", n.split("__")[0]) for n in names]
    truth.append(("broken.png", "Normal"))
    summary = audit(tiny_pipeline, root, tmp_path / "report", write_labels(root, truth))
    scored = summary["against_labels"]
    assert scored["labelled"] == 4 and scored["answered"] == 3 and scored["not_answered"] == 1
    matrix = scored["confusion_matrix"]
    assert matrix["classes"] == list(CLASS_NAMES)
    assert sum(map(sum, matrix["rows_true"])) == 3
    # Rows are the auditor's labels: each labelled class's row holds its images.
    for _, label in truth[:3]:
        assert sum(matrix["rows_true"][CLASS_NAMES.index(label)]) >= 1
    hits = sum(matrix["rows_true"][i][i] for i in range(len(CLASS_NAMES)))
    assert scored["accuracy"] == pytest.approx(hits / 3)
    # The macro-F1 averages over the classes the labels hold, not over every class.
    present = sorted({label for _, label in truth[:3]}, key=CLASS_NAMES.index)
    assert scored["macro_f1_classes"] == present
    f1 = [scored["per_class"][c]["f1"] for c in present]
    assert scored["macro_f1"] == pytest.approx(sum(f1) / len(present))
    rows = list(csv.DictReader((tmp_path / "report" / "results.csv").open()))
    assert rows[0]["truth"] and list(rows[0])[:2] == ["path", "truth"]
    html = (tmp_path / "report" / "report.html").read_text()
    assert 'id="confusion"' in html and "misclassified" in html
    assert f"over the {len(present)} classes your labels hold" in html
    assert summary["by_true_class"][truth[0][1]]["n"] >= 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("path,label\nward_a/x.png,Cancer\n", "'Cancer' is not one of the model's classes"),
        ("file,diagnosis\nx.png,COVID\n", "needs a header with label and path"),
        ("path,label\n", "lists no images"),
        ("path,label\n/elsewhere/x.png,COVID\n", "is not inside"),
    ],
)
def test_bad_labels_files_are_named(tiny_pipeline, tmp_path, content, message):
    root = folder_of_studies(tmp_path)
    labels = tmp_path / "labels.csv"
    labels.write_text(content)
    with pytest.raises(LunggateError, match=message):
        audit(tiny_pipeline, root, tmp_path / "report", labels)
    assert not (tmp_path / "report" / "results.jsonl").exists()


def test_an_audit_folder_of_another_model_is_not_mixed_in(tiny_pipeline, tmp_path):
    root = folder_of_studies(tmp_path)
    out = tmp_path / "report"
    audit(tiny_pipeline, root, out)
    jsonl = out / "results.jsonl"
    entries = [json.loads(line) for line in jsonl.read_text().splitlines()]
    for e in entries:
        if "models" in e:
            e["models"]["classifier"]["sha256"] = "f" * 64
    jsonl.write_text("".join(json.dumps(e) + "\n" for e in entries))
    with pytest.raises(LunggateError, match="holds an audit of another classifier"):
        audit(tiny_pipeline, root, out)


def test_a_manifest_is_audited_and_its_bad_rows_become_rows(tiny_pipeline, tmp_path):
    studies = folder_of_studies(tmp_path)
    good = sorted((studies / "ward_a").iterdir())
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "path,label\n"
        + "".join(f"studies/ward_a/{p.name},{p.name.split('__')[0]}\n" for p in good)
        + "studies/broken.png,Normal\nstudies/gone.png,\n"
    )
    summary = audit(tiny_pipeline, manifest, tmp_path / "report")
    assert summary["images"] == 5 and summary["status"] == {"ok": 3, "error": 2}
    assert summary["against_labels"]["labelled"] == 4
    rows = {r["path"]: r for r in csv.DictReader((tmp_path / "report" / "results.csv").open())}
    assert "does not exist" in rows["studies/gone.png"]["reason"]
    assert rows["studies/gone.png"]["truth"] == ""
    with pytest.raises(LunggateError, match="carries its own labels"):
        audit(tiny_pipeline, manifest, tmp_path / "r2", tmp_path / "labels.csv")


def test_an_image_the_pipeline_fails_on_is_a_row_not_a_failed_audit(tiny_pipeline, tmp_path):
    import numpy as np

    from lunggate.core.imageio import decode

    root = folder_of_studies(tmp_path)
    poison = decode(sorted((root / "ward_a").iterdir())[0].read_bytes()).pixels
    original = tiny_pipeline.analyze_batch

    def fragile(images, guided=False):
        if any(np.array_equal(img, poison) for img in images):
            raise RuntimeError("codec bug")
        return original(images, guided)

    tiny_pipeline.analyze_batch = fragile
    try:
        summary = audit(tiny_pipeline, root, tmp_path / "report")
    finally:
        del tiny_pipeline.analyze_batch
    assert summary["status"] == {"ok": 2, "error": 2}  # the broken file and the poisoned one
    data = json.loads((tmp_path / "report" / "results.json").read_text())
    failed = [r for r in data["results"] if "analysis failed" in (r.get("reason") or "")]
    assert len(failed) == 1 and "RuntimeError: codec bug" in failed[0]["reason"]


def test_audit_counts_unfamiliar_films_and_scores_them_apart(tiny_pipeline, tmp_path):
    from dataclasses import replace

    root = folder_of_studies(tmp_path)
    names = sorted(p.name for p in (root / "ward_a").iterdir())
    labels = write_labels(root, [(f"ward_a/{n}", n.split("__")[0]) for n in names])
    classifier = tiny_pipeline.classifier
    before = classifier.answer
    classifier.answer = replace(before, familiarity_threshold=1e6)  # every film unfamiliar
    try:
        summary = audit(tiny_pipeline, root, tmp_path / "report", labels)
    finally:
        classifier.answer = before
    assert summary["unfamiliar"] == 3
    scored = summary["against_labels"]
    assert (scored["familiar"], scored["unfamiliar"]) == (0, 3)
    assert scored["accuracy_unfamiliar"] == pytest.approx(scored["accuracy"])
    assert scored["accuracy_familiar"] is None
    rows = list(csv.DictReader((tmp_path / "report" / "results.csv").open()))
    assert {r["familiarity.unfamiliar"] for r in rows if r["status"] == "ok"} == {"True"}
    html = (tmp_path / "report" / "report.html").read_text()
    assert "3 unlike the training data" in html and 'id="familiar"' in html


def test_an_entry_survives_its_row_and_the_jsonl_keeps_the_flat_layout(tiny_pipeline, tmp_path):
    from lunggate.audit.entry import AuditEntry

    out = tmp_path / "report"
    audit(tiny_pipeline, folder_of_studies(tmp_path), out)
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    ok = next(r for r in rows if r["status"] == "ok")
    bad = next(r for r in rows if r["status"] == "error")
    assert {"path", "label", "probabilities", "attention", "overlays"} <= ok.keys()
    assert set(bad) == {"path", "status", "reason"}
    for row in (ok, bad):
        entry = AuditEntry.from_row(row)
        assert entry.to_row() == row and entry.status == row["status"]
    entry = AuditEntry.from_row(ok)
    assert entry.label == ok["label"] and entry.attention.in_lung == ok["attention"]["in_lung"]
    assert (
        AuditEntry.from_row(bad).reason == bad["reason"] and AuditEntry.from_row(bad).label is None
    )


@pytest.mark.slow
def test_an_audit_killed_mid_run_and_rerun_ends_with_every_image_once(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    root = tmp_path / "studies"
    root.mkdir()
    for k in range(6):
        for p in SAMPLES:
            shutil.copy(p, root / f"{k}_{p.name}")
    out = tmp_path / "report"
    command = [sys.executable, "-m", "lunggate.cli", "audit", str(root), "--out", str(out)]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    jsonl = out / "results.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and run.poll() is None:
        if jsonl.is_file() and len(jsonl.read_text().splitlines()) >= 8:
            os.kill(run.pid, signal.SIGKILL)  # as a crash or an out-of-memory kill would
            break
        time.sleep(0.05)
    run.wait()
    assert run.returncode == -signal.SIGKILL, "the audit ended before it could be killed"
    assert len(jsonl.read_text().splitlines()) < 6 * len(SAMPLES)
    assert subprocess.run(command, capture_output=True).returncode == 0
    paths = [json.loads(line)["path"] for line in jsonl.read_text().splitlines()]
    assert sorted(paths) == sorted(set(paths)) == sorted(f.name for f in root.iterdir())
    rows = json.loads((out / "results.json").read_text())["results"]
    assert sorted(r["path"] for r in rows) == sorted(paths)


def test_the_report_streams_its_rows_to_script_files_and_types_the_parquet(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    from lunggate.audit.report import write_reports
    from lunggate.lab.bench import synthetic_entries

    out = tmp_path / "report"
    out.mkdir()
    (out / "rows").mkdir()
    (out / "rows" / "part-00007.js").write_text("stale")  # an earlier, larger report's
    summary = write_reports(
        synthetic_entries(12_000), out, CLASS_NAMES, labelled=True, parquet=True
    )
    assert summary["images"] == 12_000 and summary["status"]["error"] == 124
    parts = sorted(p.name for p in (out / "rows").iterdir())
    assert parts == ["part-00000.js", "part-00001.js", "part-00002.js"]
    html = (out / "report.html").read_text()
    assert all(f'src="rows/{p}"' in html for p in parts) and "study_000001" not in html
    assert (out / "rows" / "part-00002.js").read_text().count('"ward_') == 2_000 - 20
    table = pq.read_table(out / "results.parquet")
    assert table.num_rows == 12_000
    types = {f.name: str(f.type) for f in table.schema}
    assert types["probabilities.COVID"] == "double" and types["lung.components"] == "int64"
    assert types["mark_removal.enabled"] == "bool" and types["label"] == "string"
    assert json.loads((out / "results.json").read_text())["summary"] == summary
