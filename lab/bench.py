"""``lunggate lab bench``: latency and throughput of each stage on this machine.

Results merge into ``reports/bench.json`` so that each stage's entry can be refreshed
on its own. Timing lives here, not in tests: a loaded CI machine must not fail a build.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from lunggate.audit.engines import Engine, LocalEngine
from lunggate.audit.entry import AuditEntry
from lunggate.classification.classifier import LungClassifier
from lunggate.core import CLASS_NAMES
from lunggate.core.data import image_files, read_gray
from lunggate.core.imageio import decode
from lunggate.core.paths import CLASSIFIER_WEIGHTS, SAMPLES_DIR
from lunggate.pipeline.analyze import Pipeline, PipelineConfig
from lunggate.segmentation.segmenter import UNetSegmenter


def time_stage(
    run: Callable[[Sequence], object],
    items: list,
    repeats: int,
    batch: int = 64,
) -> dict[str, float]:
    """p50/p95 of single-item calls and batched items per second.

    One warm-up call of each shape comes first, so graph tracing is not counted.
    """
    run(items[:1])
    singles = []
    for k in range(repeats):
        start = time.perf_counter()
        run([items[k % len(items)]])
        singles.append((time.perf_counter() - start) * 1000)
    batch_items = [items[k % len(items)] for k in range(batch)]
    run(batch_items)
    start = time.perf_counter()
    run(batch_items)
    elapsed = time.perf_counter() - start
    return {
        "p50_ms": round(float(np.percentile(singles, 50)), 2),
        "p95_ms": round(float(np.percentile(singles, 95)), 2),
        "batched_img_per_s": round(batch / elapsed, 1),
        "batch_size": batch,
        "repeats": repeats,
    }


def backbone_throughput(input_size: int = 160, batch: int = 16, steps: int = 4) -> dict:
    """Training and inference images/s of every registered backbone at ``input_size``.

    This is the budget that decides which backbones can be trained on this CPU at all.
    """
    from lunggate.classification.backbones import BACKBONES, build_classifier
    from lunggate.core.backend import keras

    x = np.random.default_rng(0).normal(size=(batch, input_size, input_size, 1)).astype("float32")
    y = np.eye(4, dtype="float32")[np.arange(batch) % 4]
    results = {}
    for name in sorted(BACKBONES):
        model = build_classifier(name, (input_size, input_size, 1), 4)
        model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
        model.train_on_batch(x, y)
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        train_rate = steps * batch / (time.perf_counter() - start)
        model.predict_on_batch(x)
        start = time.perf_counter()
        for _ in range(steps):
            model.predict_on_batch(x)
        results[name] = {
            "params": int(model.count_params()),
            "train_img_per_s": round(train_rate, 1),
            "infer_img_per_s": round(steps * batch / (time.perf_counter() - start), 1),
            "input_size": input_size,
        }
        keras.backend.clear_session()
    return results


def pipeline_stages(
    pipeline: Pipeline, uploads: list[bytes], repeats: int, batch: int = 64
) -> dict:
    """End to end from file bytes (decode, segment, classify, Grad-CAM, score) and per stage."""
    images = [decode(u).pixels for u in uploads]
    segmenter = pipeline.finder.segmenter
    pairs = list(zip(images, [f.mask for f in segmenter.segment(images)], strict=True))
    classifier = pipeline.classifier

    def classify(chunk):
        return classifier.predict(*zip(*chunk, strict=True))

    def explain(chunk):
        return classifier.explain(*zip(*chunk, strict=True))

    stages = {
        "decode": time_stage(lambda chunk: [decode(u) for u in chunk], uploads, repeats, batch),
        "classification": time_stage(classify, pairs, repeats, batch),
        "classification_gradcam": time_stage(explain, pairs, repeats, batch),
        "end_to_end": time_stage(
            lambda chunk: pipeline.analyze_batch([decode(u).pixels for u in chunk]),
            uploads,
            repeats,
            batch,
        ),
    }
    for stage in ("classification", "classification_gradcam"):
        stages[stage]["runtime"] = classifier.runtime
        stages[stage]["input_size"] = classifier.config.gate.input_size
    # The same networks through TensorFlow (weights given without a file: no LiteRT),
    # the runtime serving used before; the reason serving compiles to LiteRT.
    on_tensorflow = LungClassifier(classifier.model, classifier.config, classifier.answer)
    stages["tensorflow"] = {
        "classification_gradcam": time_stage(
            lambda chunk: on_tensorflow.explain(*zip(*chunk, strict=True)),
            pairs,
            repeats,
            batch,
        ),
        "segmentation": time_stage(
            UNetSegmenter(segmenter.model, segmenter.config).segment,
            images,
            repeats,
            batch,
        ),
    }
    stages["end_to_end"]["peak_rss_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    stages["end_to_end"]["runtime"] = classifier.runtime
    # The answer's cost depends on the films: a near tie takes the mask variants' passes.
    prepared, _ = classifier.prepare(*zip(*pairs, strict=True))
    clear = classifier.clear(classifier.logits(prepared))
    stages["end_to_end"]["one_pass_share"] = round(float(clear.mean()), 3)
    stages["end_to_end"]["includes"] = (
        "PNG decode, burned-in mark removal, segmentation, gating, classification, "
        "Grad-CAM, in-lung score"
    )
    return stages


def seed_baseline(uploads: list[bytes], repeats: int, batch: int = 64) -> dict:
    """The bare classifier a user compares lunggate against (the seeds' pipeline 004):
    MobileNetV2 at 224 px with random weights, from file bytes to the Grad-CAM of its
    answer on its last feature map, no segmentation. Run on TensorFlow, compiled once
    per batch shape (``tf.function``), so it is the fastest form of that pipeline."""
    import cv2

    from lunggate.core.backend import keras, tf

    model = keras.applications.MobileNetV2(input_shape=(224, 224, 3), weights=None, classes=4)
    features = keras.Model(model.input, [model.get_layer("out_relu").output, model.output])

    @tf.function(reduce_retracing=True)
    def explain(x):
        with tf.GradientTape() as tape:
            maps, probs = features(x, training=False)
            top = tf.reduce_max(probs, axis=-1)
        grads = tape.gradient(top, maps)
        weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        return probs, tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1))

    def run(chunk):
        grey = [
            cv2.resize(decode(u).pixels, (224, 224), interpolation=cv2.INTER_AREA) for u in chunk
        ]
        x = np.repeat(np.stack(grey)[..., None], 3, axis=-1).astype(np.float32) / 127.5 - 1.0
        return explain(tf.constant(x))

    return {
        **time_stage(run, uploads, repeats, batch),
        "runtime": "tensorflow",
        "includes": "PNG decode, resize to 224, MobileNetV2 forward, Grad-CAM on out_relu",
    }


class _Clocked:
    """An engine whose batches are timed as they arrive."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.name, self.writes_parquet = engine.name, engine.writes_parquet
        self.arrivals: list[tuple[float, int]] = []

    def run(self, items, out):
        for entries in self.engine.run(items, out):
            self.arrivals.append((time.perf_counter(), len(entries)))
            yield entries


def synthetic_entries(n: int, classes: Sequence[str] = CLASS_NAMES) -> Iterator[AuditEntry]:
    """``n`` labelled audit entries as the pipeline writes them, made without the
    networks (one in 97 unreadable), for measuring the report at any archive size."""
    rng = np.random.default_rng(0)
    model = {"name": "synthetic", "sha256": None, "runtime": "litert"}
    models = {
        "lunggate": "0",
        "segmenter": model,
        "classifier": model,
        "masked": True,
        "classes": list(classes),
    }
    for k in range(n):
        truth = classes[k % len(classes)]
        if k % 97 == 0:
            yield AuditEntry(path=f"bad/{k}.png", error="not a PNG", truth=truth)
            continue
        probs = rng.dirichlet(np.ones(len(classes)))
        score = float(rng.uniform(0.05, 0.9))
        row = {
            "path": f"ward_{k % 7}/study_{k:06d}.png",
            "status": "ok",
            "label": classes[int(probs.argmax())],
            "probabilities": dict(zip(classes, probs.round(4).tolist(), strict=True)),
            "mark_removal": {
                "enabled": True,
                "removed_fraction": 0.0,
                "segmented_twice": False,
                "carved_lung_fraction": 0.0,
            },
            "lung": {"area_fraction": 0.25, "components": 2, "ok": True},
            "attention": {
                "in_lung": round(score, 4),
                "lung_area_fraction": 0.25,
                "lift": round(score / 0.25, 3),
                "ceiling": 0.7,
                "flag": "outside_lungs" if score < 0.25 else None,
                "threshold": 0.25,
            },
            "familiarity": {
                "score": round(score * 3, 3),
                "threshold": 1.0,
                "unfamiliar": score < 0.33,
            },
            "models": models,
            "timings_ms": {},
            "overlays": {"gradcam": f"overlays/study_{k:06d}_gradcam.png"},
            "truth": truth,
        }
        yield AuditEntry.from_row(row)


def report_rows(n: int, out: Path) -> dict:
    """Write the report of ``n`` synthetic entries to ``out``; its time and this
    process's peak resident memory (run it in a fresh process: ``report_memory``)."""
    from lunggate.audit.report import write_reports

    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    write_reports(synthetic_entries(n), out, CLASS_NAMES, labelled=True, parquet=True)
    return {
        "rows": n,
        "seconds": round(time.perf_counter() - start, 2),
        "peak_rss_mb": _peak_rss_mb(),
    }


def _peak_rss_mb() -> float:
    """This process's peak resident memory since it started (``VmHWM``; ``ru_maxrss``
    would count the parent a subprocess was forked from)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def report_memory(sizes: Sequence[int]) -> dict:
    """The audit report of each size of synthetic archive, each built in a fresh
    process: its time and the driver's peak memory, and, where headless Chromium is
    installed, how long the page takes to show its first page of rows."""
    import subprocess
    import sys

    report: dict = {"sizes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            out = Path(tmp) / str(n)
            code = (
                "import json, sys; from pathlib import Path; "
                "from lunggate.lab.bench import report_rows; "
                f"print(json.dumps(report_rows({n}, Path(sys.argv[1]))))"
            )
            done = subprocess.run(
                [sys.executable, "-c", code, str(out)], capture_output=True, text=True, check=True
            )
            entry = json.loads(done.stdout.strip().splitlines()[-1])
            entry["first_page_s"] = _first_page_seconds(out / "report.html")
            report["sizes"][str(n)] = entry
    first, last = (report["sizes"][str(n)]["peak_rss_mb"] for n in (min(sizes), max(sizes)))
    report["peak_rss_growth_mb"] = round(last - first, 1)
    report["includes"] = (
        "synthetic labelled entries streamed through write_reports: CSV, JSON, Parquet, "
        "figures, the page and its row files; peak RSS of that process alone"
    )
    return report


def headless_chromium(profile: Path):
    """Debian's Chromium driven headless (``chromium`` and ``chromium-driver``), with
    its profile in ``profile``: a ``selenium`` WebDriver, for the caller to ``quit``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def _first_page_seconds(page: Path) -> float | None:
    """Seconds until headless Chromium shows the page's first table rows (None without
    Chromium and its driver)."""
    if shutil.which("chromedriver") is None:
        return None
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with tempfile.TemporaryDirectory() as profile:
        browser = headless_chromium(Path(profile))
        try:
            start = time.perf_counter()
            browser.get(page.as_uri())
            WebDriverWait(browser, 120).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, "#results tbody tr")
            )
            return round(time.perf_counter() - start, 2)
        finally:
            browser.quit()


def _timed_audit(pipeline: Pipeline, folder: Path, out: Path, engine: Engine) -> dict:
    """One audit of ``folder``: images per second over the whole run and steady (from
    the first batch back to the last), and the start-up before the first batch."""
    from lunggate.audit.run import audit

    clocked = _Clocked(engine)
    start = time.perf_counter()
    summary = audit(pipeline, folder, out, engine=clocked)
    wall = time.perf_counter() - start
    (first, n_first), (last, _) = clocked.arrivals[0], clocked.arrivals[-1]
    images = summary["images"]
    return {
        "images": images,
        "img_per_s": round(images / wall, 2),
        "steady_img_per_s": round((images - n_first) / max(last - first, 1e-9), 2),
        "start_up_s": round(first - start, 1),
    }


def audit_throughput(images: int, nodes: Sequence[int] = (1, 2)) -> dict:
    """``lunggate audit`` on ``images`` copies of the samples with each engine: the
    local one, Ray started on this machine, and Ray on a cluster of this machine's
    ``nodes`` worker nodes (``ray.cluster_utils``: a raylet each, one CPU each, a head
    that runs no actor), so what the worker nodes add can be read off."""
    import ray
    from ray.cluster_utils import Cluster

    from lunggate.audit.ray_engine import RayEngine

    files = image_files([SAMPLES_DIR])
    report: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "films"
        folder.mkdir()
        for k in range(images):
            shutil.copy(files[k % len(files)], folder / f"{k:06d}_{files[k % len(files)].name}")
        pipeline = Pipeline.load()
        workers = os.cpu_count() or 1
        report["local"] = _timed_audit(pipeline, folder, Path(tmp) / "local", LocalEngine(pipeline))
        engine = RayEngine(PipelineConfig(), workers=workers)
        report["ray"] = {
            **_timed_audit(pipeline, folder, Path(tmp) / "ray", engine),
            "workers": workers,
        }
        for n in nodes:
            cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
            for _ in range(n):
                cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
            try:
                engine = RayEngine(PipelineConfig(), workers=n)
                timed = _timed_audit(pipeline, folder, Path(tmp) / f"nodes{n}", engine)
            finally:
                ray.shutdown()
                cluster.shutdown()
            per_worker = round(timed["steady_img_per_s"] / n, 2)
            report[f"ray_{n}_worker_nodes"] = {**timed, "steady_img_per_s_per_worker": per_worker}
    report["includes"] = (
        "reading, decoding, the whole pipeline, overlays and results written; the Ray "
        "engines' start-up includes starting Ray (or the cluster's nodes) on this machine"
    )
    return report


def run_bench(
    out: Path,
    repeats: int = 50,
    backbones: bool = False,
    audit_images: int = 0,
    batch: int = 64,
    report_sizes: Sequence[int] = (),
) -> dict:
    """Time the shipped models on the bundled sample X-rays and update ``out``.

    Entries other runs wrote (the server soak of ``lunggate lab bench --soak``) are kept.
    """
    files = image_files([SAMPLES_DIR])
    images = [read_gray(p) for p in files]
    segmenter = UNetSegmenter.load()
    report = json.loads(out.read_text()) if out.is_file() else {}
    report["machine"] = {
        "cpus": os.cpu_count(),
        "processor": platform.machine(),
        "python": platform.python_version(),
    }
    report["segmentation"] = {
        **time_stage(segmenter.segment, images, repeats, batch),
        "runtime": segmenter.runtime,
        "input_size": segmenter.config.input_size,
        "includes": "resize, U-Net forward, upsampling, threshold, two largest components, "
        "fill holes",
    }
    if CLASSIFIER_WEIGHTS["masked"].is_file():
        uploads = [p.read_bytes() for p in files]
        report.update(pipeline_stages(Pipeline.load(), uploads, repeats, batch))
        seed = seed_baseline(uploads, repeats, batch)
        ours = report["end_to_end"]
        seed["lunggate_throughput_ratio"] = round(
            ours["batched_img_per_s"] / seed["batched_img_per_s"], 3
        )
        seed["lunggate_p50_ratio"] = round(ours["p50_ms"] / seed["p50_ms"], 3)
        report["seed_004_baseline"] = seed
    if backbones:
        report["backbones"] = backbone_throughput()
    if audit_images:
        report["audit"] = audit_throughput(audit_images)
    if report_sizes:
        report["audit_report"] = report_memory(report_sizes)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report
