"""How an audit's images get analysed: the local engine, and the steps every engine
shares (decoding an item, analysing decoded images into result entries).

An engine takes the items still to do and yields ``AuditEntry`` objects (a result, or
why an image has none) as they are done; the audit writes them down, so whatever
engine ran, a rerun resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from lunggate.audit.entry import AuditEntry
from lunggate.audit.sources import Item, decode_item
from lunggate.core.overlays import write_png
from lunggate.pipeline.analyze import Pipeline
from lunggate.pipeline.render import overlays


class Engine(Protocol):
    name: str
    writes_parquet: bool

    def run(self, items: Sequence[Item], out: Path) -> Iterator[list[AuditEntry]]:
        """Entries for ``items``, a batch at a time, in any order."""
        ...


def analyze_decoded(
    pipeline: Pipeline, decoded: Sequence[tuple[str, np.ndarray]], out: Path
) -> list[AuditEntry]:
    """Entries for decoded images (key, pixels), with their overlays written to
    ``out/overlays``. A batch that fails is retried image by image, so one image the
    pipeline cannot handle becomes a row with the reason, not a failed audit."""
    if not decoded:
        return []
    try:
        results = pipeline.analyze_batch([pixels for _, pixels in decoded])
    except Exception as exc:  # noqa: BLE001 - isolated below, image by image
        if len(decoded) == 1:
            why = f"analysis failed: {type(exc).__name__}: {exc}"
            return [AuditEntry(path=decoded[0][0], error=why)]
        return [e for one in decoded for e in analyze_decoded(pipeline, [one], out)]
    entries = []
    for (key, image), result in zip(decoded, results, strict=True):
        stem = key.replace("/", "__").rsplit(".", 1)[0]
        files = {}
        for kind, picture in overlays(image, result).items():
            files[kind] = f"overlays/{stem}_{kind}.png"
            write_png(out / files[kind], picture)
        entries.append(AuditEntry(path=key, result=result, overlays=files))
    return entries


class LocalEngine:
    """One pipeline in this process, a batch of images at a time."""

    name = "local"
    writes_parquet = False

    def __init__(self, pipeline: Pipeline, batch_size: int = 8) -> None:
        self.pipeline = pipeline
        self.batch_size = batch_size

    def run(self, items: Sequence[Item], out: Path) -> Iterator[list[AuditEntry]]:
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            decoded, entries = [], []
            for item in chunk:
                pixels, reason = decode_item(item)
                if reason is None:
                    decoded.append((item.key, pixels))
                else:
                    entries.append(AuditEntry(path=item.key, error=reason))
            yield entries + analyze_decoded(self.pipeline, decoded, out)
