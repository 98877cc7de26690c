"""U-Net masks for a whole dataset, computed once per weights file and cached on disk.

The classifier is trained and evaluated on the masks users will get (the U-Net's),
not on the reference masks; segmenting 4,800 images every run would waste minutes.
Masks of images cleaned of burned-in overlays are cached apart, under the cleaning's
settings, and so are masks from each runtime.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lunggate.data import Record, load_images, read_gray
from lunggate.paths import CACHE_DIR
from segmentation.burnin import BurnInConfig, remove_all
from segmentation.segmenter import UNetSegmenter


def predicted_masks(
    segmenter: UNetSegmenter,
    records: Sequence[Record],
    burn_in: BurnInConfig,
    cache_dir: Path = CACHE_DIR,
    cleaned_images: Sequence[np.ndarray] | None = None,
) -> list[np.ndarray]:
    """Bool lung masks for ``records`` (segmented after ``burn_in``), cached per weights file.

    ``cleaned_images``, one per record and already through ``burn_in``, spares a
    caller that holds them reading and cleaning the missing ones again.
    """
    cleaned = f"_burnin{burn_in.tag()}" if burn_in.enabled else ""
    weights = (segmenter.weights_sha256 or "unsaved")[:16]
    # The runtime is part of the name: LiteRT and TensorFlow may round a boundary pixel
    # apart, and reports must use the masks the pipeline itself computes.
    path = cache_dir / f"masks_{weights}_{segmenter.runtime}{cleaned}.npz"
    cached: dict[str, np.ndarray] = {}
    if path.is_file() and segmenter.weights_sha256:
        try:
            with np.load(path) as data:
                cached = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            cached = {}  # a damaged cache is only lost time: recompute it

    missing = [i for i, r in enumerate(records) if r.id not in cached]
    for start in range(0, len(missing), 256):
        chunk = missing[start : start + 256]
        if cleaned_images is None:
            images = remove_all([read_gray(records[i].image) for i in chunk], burn_in)
        else:
            images = [cleaned_images[i] for i in chunk]
        found = segmenter.segment(images)
        cached.update((records[i].id, f.mask) for i, f in zip(chunk, found, strict=True))
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
    return images, predicted_masks(segmenter, records, burn_in, cleaned_images=images)
