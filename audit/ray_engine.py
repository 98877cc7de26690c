"""The Ray engine: an audit spread over a Ray cluster with Ray Data (``lunggate[ray]``).

Files are read and decoded in tasks; decoded images go to an actor pool in which each
actor loads the pipeline once and analyses a batch at a time (``map_batches``). The
entries stream back to the audit, which writes them down as they come, so a rerun
resumes; Ray restarts an actor that dies and retries its batch, and an output batch
reaches the audit once, so nothing is lost or counted twice.

Decoding tasks reserve no CPU (about a millisecond an image; as many at a time as
there are actors): each actor holds one CPU and runs its networks on one thread, so
``workers`` actors use ``workers`` cores.
Files are read and overlays written by the workers: on a cluster both the source and
the output folder must be on storage every node sees.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lunggate.audit.engines import analyze_decoded
from lunggate.audit.entry import AuditEntry
from lunggate.audit.sources import Item, decode_batch
from lunggate.core.errors import LunggateError
from lunggate.pipeline.analyze import Pipeline, PipelineConfig


def _ray():
    try:
        import ray
    except ImportError:
        raise LunggateError(
            "--engine ray needs Ray: pip install 'lunggate[ray]' (make test installs it)"
        ) from None
    return ray


class Analyst:
    """A Ray actor: the pipeline, loaded once, analysing decoded batches."""

    def __init__(self, config: PipelineConfig, out: str) -> None:
        self.pipeline = Pipeline.load(replace(config, threads=1))  # one CPU reserved
        self.out = Path(out)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        decoded, entries = [], []
        rows = zip(
            batch["key"],
            batch["pixels"],
            batch["height"],
            batch["width"],
            batch["reason"],
            strict=True,
        )
        for key, pixels, height, width, reason in rows:
            if reason:
                entries.append(AuditEntry(path=str(key), error=str(reason)))
            else:
                image = np.frombuffer(pixels, np.uint8).reshape(int(height), int(width))
                decoded.append((str(key), image))
        entries += analyze_decoded(self.pipeline, decoded, self.out)
        return {
            "key": np.array([e.path for e in entries], dtype=object),
            "entry": np.array([json.dumps(e.to_row()) for e in entries], dtype=object),
        }


@dataclass
class RayEngine:
    """Analyse on Ray: a local one started for the audit, or the cluster at ``address``.

    Args:
        config: what each actor loads (``Pipeline.load``).
        address: a running cluster (``ray://host:10001`` or ``auto``); None starts Ray
            on this machine for the audit and stops it afterwards.
        workers: actors in the pool; default one per CPU of the cluster.
        batch_size: images per actor call.
    """

    config: PipelineConfig
    address: str | None = None
    workers: int | None = None
    batch_size: int = 8
    name = "ray"
    writes_parquet = True

    def run(self, items: Sequence[Item], out: Path) -> Iterator[list[AuditEntry]]:
        ray = _ray()
        started = not ray.is_initialized()
        if started:
            try:
                ray.init(
                    address=self.address,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                    include_dashboard=False,
                )
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise LunggateError(f"cannot reach Ray at {self.address}: {exc}") from None
        try:
            yield from self._stream(ray, items, out)
        finally:
            if started:
                ray.shutdown()

    def _stream(self, ray, items: Sequence[Item], out: Path) -> Iterator[list[AuditEntry]]:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        workers = self.workers or cpus
        if not 1 <= workers <= cpus:
            raise LunggateError(f"--workers must be between 1 and the cluster's {cpus} CPUs")
        if not items:
            return
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the audit's own bar counts the images
        context.print_on_execution_start = False
        rows = [{"key": i.key, "file": str(i.file.resolve())} for i in items]
        blocks = min(max(workers, len(rows) // self.batch_size), 2000)  # every actor gets work
        dataset = ray.data.from_items(rows, override_num_blocks=blocks)
        # Decoding reserves no CPU, so the pool can hold them all; a pool of as many
        # decoding tasks as actors keeps Ray from starting a process per waiting block.
        dataset = dataset.map_batches(
            decode_batch,
            batch_size=self.batch_size,
            num_cpus=0,
            compute=ray.data.TaskPoolStrategy(size=workers),
        )
        dataset = dataset.map_batches(
            Analyst,
            fn_constructor_args=(self.config, str(out)),
            batch_size=self.batch_size,
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=1,  # Ray Data restarts a dead actor and retries its batch by default
        )
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            yield [AuditEntry.from_row(json.loads(e)) for e in batch["entry"]]
