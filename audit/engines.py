"""How images get analysed in bulk: the local engine, and the steps every engine
shares (decoding an item, analysing decoded images into result entries).

An engine takes the items still to do and yields ``AuditEntry`` objects (a result, or
why an image has none) as they are done; the caller's sink writes them down (the
audit's ``results.jsonl``, ``predict``'s file per image), so whatever engine ran, an
audit's rerun resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
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


Layout = Callable[[str], str]
"""An image's key -> where its overlays go, relative to the output folder (whose
folders the caller has made), less the ``_<kind>.png`` each picture appends."""


def audit_layout(key: str) -> str:
    """The audit's: one flat ``overlays/`` folder (which the audit makes), the key's
    folders joined by ``__``."""
    return "overlays/" + key.replace("/", "__").rsplit(".", 1)[0]


def analyze_decoded(
    pipeline: Pipeline,
    decoded: Sequence[tuple[str, np.ndarray]],
    out: Path | None,
    layout: Layout = audit_layout,
    guided: bool = False,
) -> list[AuditEntry]:
    """Entries for decoded images (key, pixels), with their overlays (and the Guided
    Grad-CAM's when ``guided``) written under ``out`` as ``layout`` names them (none when
    ``out`` is None). A batch that fails is retried image by image, so one image the
    pipeline cannot handle becomes an entry with the reason, not a failed run."""
    if not decoded:
        return []
    try:
        results = pipeline.analyze_batch([pixels for _, pixels in decoded], guided)
    except Exception as exc:  # noqa: BLE001 - isolated below, image by image
        if len(decoded) == 1:
            why = f"analysis failed: {type(exc).__name__}: {exc}"
            return [AuditEntry(path=decoded[0][0], error=why)]
        return [e for one in decoded for e in analyze_decoded(pipeline, [one], out, layout, guided)]
    entries = []
    for (key, image), result in zip(decoded, results, strict=True):
        files = {}
        if out is not None:
            stem = layout(key)
            for kind, picture in overlays(image, result).items():
                files[kind] = f"{stem}_{kind}.png"
                write_png(out / files[kind], picture)
        entries.append(AuditEntry(path=key, result=result, overlays=files))
    return entries


class LocalEngine:
    """One pipeline in this process, a batch of images at a time, each batch's entries
    in the items' order (``layout`` and ``guided``: see ``analyze_decoded``)."""

    name = "local"
    writes_parquet = False

    def __init__(
        self,
        pipeline: Pipeline,
        batch_size: int = 8,
        layout: Layout = audit_layout,
        guided: bool = False,
    ) -> None:
        self.pipeline = pipeline
        self.batch_size = batch_size
        self.layout, self.guided = layout, guided

    def run(self, items: Sequence[Item], out: Path | None) -> Iterator[list[AuditEntry]]:
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            decoded, entries = [], {}
            for item in chunk:
                pixels, reason = decode_item(item)
                if reason is None:
                    decoded.append((item.key, pixels))
                else:
                    entries[item.key] = AuditEntry(path=item.key, error=reason)
            for entry in analyze_decoded(self.pipeline, decoded, out, self.layout, self.guided):
                entries[entry.path] = entry
            yield [entries[item.key] for item in chunk]
