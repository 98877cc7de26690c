"""U-Net masks for a whole dataset, computed once per weights file and cached on disk.

The classifier is trained and evaluated on the masks users will get (the U-Net's),
not on the reference masks; segmenting 4,800 images every run would waste minutes.
Masks of images cleaned of burned-in overlays are cached apart, under the cleaning's
settings.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lunggate.data import Record, load_images, read_gray
from lunggate.paths import REPO_ROOT
from segmentation.burnin import BurnInConfig, remove_all
from segmentation.segmenter import UNetSegmenter

CACHE_DIR = REPO_ROOT / ".cache"


def predicted_masks(
    segmenter: UNetSegmenter,
    records: Sequence[Record],
    burn_in: BurnInConfig,
    cache_dir: Path = CACHE_DIR,
) -> list[np.ndarray]:
    """Bool lung masks for ``records`` (segmented after ``burn_in``), cached per weights file."""
    cleaned = f"_burnin{burn_in.tag()}" if burn_in.enabled else ""
    path = cache_dir / f"masks_{(segmenter.weights_sha256 or 'unsaved')[:16]}{cleaned}.npz"
    cached: dict[str, np.ndarray] = {}
    if path.is_file() and segmenter.weights_sha256:
        try:
            with np.load(path) as data:
                cached = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            cached = {}  # a damaged cache is only lost time: recompute it

    missing = [r for r in records if r.id not in cached]
    for start in range(0, len(missing), 256):
        chunk = missing[start : start + 256]
        found = segmenter.segment(remove_all([read_gray(r.image) for r in chunk], burn_in))
        cached.update((r.id, f.mask) for r, f in zip(chunk, found, strict=True))
    if missing and segmenter.weights_sha256:
        # Written aside and renamed, so concurrent runs never read a half-written file.
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **cached)
        os.replace(tmp, path)
    return [cached[r.id] for r in records]


def images_and_masks(
    segmenter: UNetSegmenter, records: Sequence[Record], burn_in: BurnInConfig
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """What the pipeline's classifier sees for ``records``: cleaned images and their masks."""
    images = remove_all(list(load_images([r.image for r in records])), burn_in)
    return images, predicted_masks(segmenter, records, burn_in)
