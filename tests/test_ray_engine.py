"""``audit --engine ray`` on a local Ray started by the tests: the same rows as the
local engine, Parquet, resumption, and a worker killed mid-run."""

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from conftest import SAMPLES

ray = pytest.importorskip("ray")

from lunggate.audit.ray_engine import RayEngine  # noqa: E402
from lunggate.audit.run import audit  # noqa: E402
from lunggate.pipeline.analyze import Pipeline, PipelineConfig  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline.load()


def manifest_of(tmp_path: Path, copies: int = 1) -> Path:
    """The samples (``copies`` times each), a file that is not an image and one that is
    missing, in a manifest with labels."""
    folder = tmp_path / "films"
    folder.mkdir()
    lines = ["path,label"]
    for k in range(copies):
        for p in SAMPLES:
            name = f"{k}_{p.name}"
            shutil.copy(p, folder / name)
            lines.append(f"films/{name},{p.name.split('__')[0]}")
    (folder / "notes.png").write_text("not an X-ray")
    lines += ["films/notes.png,Normal", "films/missing.png,COVID"]
    path = tmp_path / "manifest.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def rows(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["results"]


def _kill_a_worker_once_it_has_answered(jsonl: Path, killed: list[int]) -> None:
    deadline = time.time() + 240
    while time.time() < deadline:
        answered = jsonl.is_file() and len(jsonl.read_text().splitlines()) >= 2
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                title = cmdline.read_bytes().decode(errors="replace")
            except OSError:
                continue
            if answered and "MapBatches(Analyst)" in title:
                pid = int(cmdline.parent.name)
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.2)


def test_ray_survives_a_killed_worker_and_gives_the_local_engines_rows(
    local_ray, pipeline, tmp_path
):
    import pyarrow.parquet as pq

    manifest = manifest_of(tmp_path)
    local = audit(pipeline, manifest, tmp_path / "local")
    out = tmp_path / "ray"
    out.mkdir()
    killed: list[int] = []
    killer = threading.Thread(
        target=_kill_a_worker_once_it_has_answered, args=(out / "results.jsonl", killed)
    )
    killer.start()
    engine = RayEngine(PipelineConfig(), workers=1, batch_size=2)
    on_ray = audit(pipeline, manifest, out, engine=engine)
    killer.join()
    assert killed, "no worker was found to kill"
    # Nothing lost, nothing twice: every image once in the appended results.
    paths = [json.loads(line)["path"] for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(paths) == len(set(paths)) == on_ray["images"] == len(SAMPLES) + 2
    assert on_ray["engine"] == "ray"
    assert on_ray["status"] == local["status"] == {"ok": len(SAMPLES), "error": 2}
    assert (
        on_ray["against_labels"]["confusion_matrix"] == local["against_labels"]["confusion_matrix"]
    )
    by_path = {r["path"]: r for r in rows(tmp_path / "local")}
    for r in rows(out):
        mine = by_path[r["path"]]
        assert r["status"] == mine["status"] and r.get("label") == mine.get("label")
        if r["status"] == "ok":  # one thread against two may round apart, no more
            assert r["attention"]["in_lung"] == pytest.approx(mine["attention"]["in_lung"], 1e-3)
    missing = next(r for r in rows(out) if "missing" in r["path"])
    assert "does not exist" in missing["reason"]
    table = pq.read_table(out / "results.parquet").to_pylist()
    assert sorted(t["path"] for t in table) == sorted(by_path)
    assert {t["truth"] for t in table} >= {"COVID", "Normal"}


def test_a_rerun_on_ray_does_only_what_is_missing(local_ray, pipeline, tmp_path):
    manifest = manifest_of(tmp_path)
    out = tmp_path / "ray"
    audit(pipeline, manifest, out)  # the local engine's results, resumed on Ray
    jsonl = out / "results.jsonl"
    lines = jsonl.read_text().splitlines()
    jsonl.write_text("\n".join(lines[:3]) + "\n" + lines[3][:25])  # as a killed driver leaves it
    again = audit(pipeline, manifest, out, engine=RayEngine(PipelineConfig(), workers=1))
    assert again["analysed_now"] == len(lines) - 3
    paths = [r["path"] for r in rows(out)]
    assert len(paths) == len(set(paths)) == len(SAMPLES) + 2
    assert (out / "results.parquet").is_file()
