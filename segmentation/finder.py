"""Stage one, finding the lungs: marks painted over, U-Net, repaint, carve.

The mark removal and the U-Net depend on each other: the removal's fill decides
where the U-Net puts a lung's border, and the border decides which side of it a
fill should copy. So the lungs are found twice when a mark lies beyond them
(``MarkRemovalConfig.repaint``): once on the plain inpainting, then on the image whose
marks were painted again from the body around the first lungs. The marks' own
pixels are then carved out of the lungs (``MarkRemovalConfig.carve``).

For a whole dataset (training, evaluation) the masks are cached on disk per weights
file, mark-removal settings and runtime; the cleaned images are not stored but rebuilt
from the raw ones and the first pass's masks (``rebuild``), without the U-Net.
"""

from __future__ import annotations

import os
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from lunggate.core.data import Record, load_images
from lunggate.core.film_format import to_corpus_format
from lunggate.core.paths import CACHE_DIR, SEGMENTER_WEIGHTS
from lunggate.core.progress import chunks
from lunggate.segmentation.config import MarkRemovalConfig
from lunggate.segmentation.marks import carve_marks, remove_marks, repaint_beyond
from lunggate.segmentation.segmenter import LungSegmentation, UNetSegmenter

FIRST = "first:"
"""Cache key prefix of a repainted image's first-pass mask."""


@dataclass(frozen=True)
class Found:
    """One X-ray as the pipeline sees it."""

    image: np.ndarray
    """In the corpus format (``film_format``) and cleaned of marks: what the segmenter
    saw last and the classifier sees."""
    marked: np.ndarray
    """Bool mask of the pixels painted over."""
    lungs: LungSegmentation
    """The U-Net's lungs less the marks' own pixels (``carve_marks``); its quality
    judges the U-Net's answer, before the carve."""
    first: np.ndarray | None
    """The first pass's lung mask when the mark was painted again from it (else
    None): with the raw image it rebuilds ``image`` without the U-Net (``rebuild``)."""
    carved_fraction: float = 0.0
    """Share of the U-Net's lung pixels carved out as marks: a mark lay on a lung there."""
    timings_ms: dict[str, float] = field(default_factory=dict)
    """Per image: ``mark_removal`` (the resize to the corpus format included) and
    ``segmentation`` (both passes, repaint, carve)."""


def rebuild(
    image: np.ndarray, first: np.ndarray | None, config: MarkRemovalConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(cleaned image, marked) of a raw image, given the first pass's lungs if repainted."""
    cleaned, marked = remove_marks(image, config)
    if first is not None:
        cleaned = repaint_beyond(image, cleaned, marked, first, config)
    return cleaned, marked


class LungFinder:
    """The lung-finding stage: the U-Net and the mark removal around it.

    Args:
        segmenter: the U-Net.
        mark_removal: the mark removal's settings.
        cache_dir: where ``dataset`` keeps the masks of a corpus.
    """

    def __init__(
        self,
        segmenter: UNetSegmenter,
        mark_removal: MarkRemovalConfig = MarkRemovalConfig(),
        cache_dir: Path = CACHE_DIR,
    ) -> None:
        self.segmenter = segmenter
        self.mark_removal = mark_removal
        self.cache_dir = cache_dir

    @classmethod
    def load(
        cls,
        weights: str | Path = SEGMENTER_WEIGHTS,
        mark_removal: MarkRemovalConfig = MarkRemovalConfig(),
        threads: int | None = None,
    ) -> LungFinder:
        return cls(UNetSegmenter.load(weights, threads=threads), mark_removal)

    def without_mark_removal(self) -> LungFinder:
        """The same U-Net on the images as they are."""
        return LungFinder(self.segmenter, replace(self.mark_removal, enabled=False), self.cache_dir)

    def find(self, images: Sequence[np.ndarray]) -> list[Found]:
        """Bring each raw 2-D uint8 image to the corpus format, paint over its marks and
        segment it (twice where that changes anything)."""
        n = max(1, len(images))
        start = time.perf_counter()
        images = [to_corpus_format(image) for image in images]
        removed = [remove_marks(img, self.mark_removal) for img in images]
        removal_ms = (time.perf_counter() - start) * 1000 / n
        start = time.perf_counter()
        cleaned = [c for c, _ in removed]
        found = self.segmenter.segment(cleaned)
        first: list[np.ndarray | None] = [None] * len(images)
        if self.mark_removal.enabled and self.mark_removal.repaint:
            first = self._repaint(images, [m for _, m in removed], cleaned, found)
        out = []
        for c, (_, marked), f, m in zip(cleaned, removed, found, first, strict=True):
            lungs = carve_marks(f.mask, marked, self.mark_removal)
            carved = 0.0
            if lungs is not f.mask:  # share of the U-Net's lungs the marks took
                carved = float((f.mask & ~lungs).sum()) / max(1, int(f.mask.sum()))
            out.append(Found(c, marked, LungSegmentation(lungs, f.quality), m, carved))
        seg_ms = (time.perf_counter() - start) * 1000 / n
        for f in out:
            f.timings_ms.update(mark_removal=round(removal_ms, 2), segmentation=round(seg_ms, 2))
        return out

    def _repaint(
        self,
        images: Sequence[np.ndarray],
        marks: list[np.ndarray],
        cleaned: list[np.ndarray],
        found: list[LungSegmentation],
    ) -> list[np.ndarray | None]:
        """Paint each mark again from the body around the first lungs and segment
        the images that changed again (``cleaned`` and ``found`` updated in place);
        return the first pass's masks of those (None elsewhere)."""
        first: list[np.ndarray | None] = [None] * len(images)
        for k, (image, marked, f) in enumerate(zip(images, marks, found, strict=True)):
            if marked.any():
                repainted = repaint_beyond(image, cleaned[k], marked, f.mask, self.mark_removal)
                if not np.array_equal(repainted, cleaned[k]):
                    cleaned[k], first[k] = repainted, f.mask
        again = [k for k, m in enumerate(first) if m is not None]
        for k, f in zip(again, self.segmenter.segment([cleaned[k] for k in again]), strict=True):
            found[k] = f
        return first

    def dataset(
        self, records: Sequence[Record], originals: Sequence[np.ndarray] | None = None
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """What the classifier sees for ``records``: cleaned images and lung masks.

        The masks are cached per weights file, mark-removal settings and runtime (LiteRT and
        TensorFlow may round a boundary pixel apart, and reports must use the masks the
        pipeline itself computes). ``originals``, one raw image per record, spares
        reading them again.
        """
        segmenter, mark_removal = self.segmenter, self.mark_removal
        tag = f"_marks{mark_removal.tag()}" if mark_removal.enabled else ""
        weights = (segmenter.weights_sha256 or "unsaved")[:16]
        path = self.cache_dir / f"masks_{weights}_{segmenter.runtime}{tag}.npz"
        cached: dict[str, np.ndarray] = {}
        if path.is_file() and segmenter.weights_sha256:
            try:
                with np.load(path) as data:
                    cached = {k: data[k] for k in data.files}
            except (OSError, ValueError, EOFError, zipfile.BadZipFile):
                cached = {}  # a damaged cache is only lost time: recompute it

        raw = originals if originals is not None else load_images([r.image for r in records])
        raw = [to_corpus_format(image) for image in raw]
        images: list[np.ndarray] = [np.empty(0)] * len(records)
        missing = []
        for i, r in enumerate(records):
            if r.id in cached:
                images[i] = rebuild(raw[i], cached.get(FIRST + r.id), mark_removal)[0]
            else:
                missing.append(i)
        for start in chunks(len(missing), 64, "lung masks"):
            chunk = missing[start : start + 64]
            for i, f in zip(chunk, self.find([raw[i] for i in chunk]), strict=True):
                images[i], cached[records[i].id] = f.image, f.lungs.mask
                if f.first is not None:
                    cached[FIRST + records[i].id] = f.first
        if missing and segmenter.weights_sha256:
            # Written aside and renamed, so concurrent runs never read a half-written file.
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, **cached)
            os.replace(tmp, path)
        return images, [cached[r.id] for r in records]
