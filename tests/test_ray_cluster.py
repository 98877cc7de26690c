"""``audit --engine ray`` across several Ray nodes on this machine (``ray.cluster_utils``:
a head and two worker nodes, each its own raylet), one of them removed mid-run."""

import json
import threading
import time
from pathlib import Path

import pytest

from conftest import SAMPLES

ray = pytest.importorskip("ray")
pq = pytest.importorskip("pyarrow.parquet")

from ray.cluster_utils import Cluster  # noqa: E402

from lunggate.audit.ray_engine import RayEngine  # noqa: E402
from lunggate.audit.run import audit  # noqa: E402
from lunggate.pipeline.analyze import Pipeline, PipelineConfig  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture
def three_nodes():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
    yield cluster, workers
    ray.shutdown()
    cluster.shutdown()


def folder_of(tmp_path: Path, copies: int) -> Path:
    folder = tmp_path / "films"
    folder.mkdir()
    for k in range(copies):
        for p in SAMPLES:
            (folder / f"{k}_{p.name}").write_bytes(p.read_bytes())
    (folder / "notes.png").write_text("not an X-ray")
    return folder


def _remove_once_answered(cluster, node, jsonl: Path, removed: list) -> None:
    deadline = time.time() + 300
    while time.time() < deadline:
        if jsonl.is_file() and len(jsonl.read_text().splitlines()) >= 2:
            cluster.remove_node(node)
            removed.append(node)
            return
        time.sleep(0.2)


def test_an_audit_across_three_nodes_loses_one_and_keeps_every_image_once(three_nodes, tmp_path):
    cluster, workers = three_nodes
    folder = folder_of(tmp_path, copies=3)
    one_thread = PipelineConfig(threads=1)  # as each actor runs, so answers match exactly
    local = audit(Pipeline.load(one_thread), folder, tmp_path / "local")
    out = tmp_path / "cluster"
    out.mkdir()
    removed: list = []
    remover = threading.Thread(
        target=_remove_once_answered, args=(cluster, workers[0], out / "results.jsonl", removed)
    )
    remover.start()
    engine = RayEngine(one_thread, batch_size=2)
    try:
        summary = audit(Pipeline.load(one_thread), folder, out, engine=engine)
    except Exception:  # noqa: BLE001 - a run that a lost node stops is resumed below
        summary = audit(Pipeline.load(one_thread), folder, out, engine=engine)
    remover.join()
    assert removed, "no node was removed during the run"
    expected = 3 * len(SAMPLES) + 1
    appended = [
        json.loads(line)["path"] for line in (out / "results.jsonl").read_text().splitlines()
    ]
    assert len(appended) == len(set(appended)) == expected == summary["images"]
    table = pq.read_table(out / "results.parquet").to_pylist()
    assert sorted(t["path"] for t in table) == sorted(set(appended))
    with (out / "results.csv").open() as f:
        assert len(f.read().splitlines()) == expected + 1
    ours = {r["path"]: r for r in json.loads((out / "results.json").read_text())["results"]}
    theirs = {
        r["path"]: r
        for r in json.loads((tmp_path / "local" / "results.json").read_text())["results"]
    }
    assert summary["status"] == local["status"]
    assert ours.keys() == theirs.keys()
    for path, row in ours.items():
        assert row["status"] == theirs[path]["status"] and row.get("label") == theirs[path].get(
            "label"
        )
        for c, p in (row.get("probabilities") or {}).items():
            assert p == pytest.approx(theirs[path]["probabilities"][c], abs=1e-5)
