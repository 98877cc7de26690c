"""U-Net masks for a whole dataset, computed once per weights file and cached on disk.

The classifier is trained and evaluated on the masks users will get (the U-Net's),
not on the reference masks; segmenting 4,800 images every run would waste minutes.
Masks of images cleaned of burned-in overlays are cached apart, under the cleaning's
settings, and so are masks from each runtime. The cleaned images are not stored:
they are rebuilt from the raw ones, with the first pass's masks of the images whose
overlays were painted again (``segmentation.find``).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lunggate.core.data import Record, load_images
from lunggate.core.paths import CACHE_DIR
from lunggate.segmentation.config import BurnInConfig
from lunggate.segmentation.find import find_lungs, rebuild
from lunggate.segmentation.segmenter import UNetSegmenter

FIRST = "first:"
"""Key prefix of a repainted image's first-pass mask."""


def images_and_masks(
    segmenter: UNetSegmenter,
    records: Sequence[Record],
    burn_in: BurnInConfig,
    cache_dir: Path = CACHE_DIR,
    originals: Sequence[np.ndarray] | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """What the pipeline's classifier sees for ``records``: cleaned images and lung masks.

    Masks are cached per weights file (and the first pass's masks of repainted
    images, which rebuild the cleaned images without the U-Net: ``find.rebuild``).
    ``originals``, one raw image per record, spares reading them again.
    """
    tag = f"_burnin{burn_in.tag()}" if burn_in.enabled else ""
    weights = (segmenter.weights_sha256 or "unsaved")[:16]
    # The runtime is part of the name: LiteRT and TensorFlow may round a boundary pixel
    # apart, and reports must use the masks the pipeline itself computes.
    path = cache_dir / f"masks_{weights}_{segmenter.runtime}{tag}.npz"
    cached: dict[str, np.ndarray] = {}
    if path.is_file() and segmenter.weights_sha256:
        try:
            with np.load(path) as data:
                cached = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            cached = {}  # a damaged cache is only lost time: recompute it

    raw = list(originals if originals is not None else load_images([r.image for r in records]))
    images: list[np.ndarray] = [np.empty(0)] * len(records)
    missing = []
    for i, r in enumerate(records):
        if r.id in cached:
            images[i] = rebuild(raw[i], cached.get(FIRST + r.id), burn_in)[0]
        else:
            missing.append(i)
    for start in range(0, len(missing), 256):
        chunk = missing[start : start + 256]
        found = find_lungs(segmenter, [raw[i] for i in chunk], burn_in)
        for i, f in zip(chunk, found, strict=True):
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
