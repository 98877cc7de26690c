"""From raw X-rays to what both stages see: overlays painted over, lungs found.

The overlay removal and the U-Net depend on each other: the removal's fill decides
where the U-Net puts a lung's border, and the border decides which side of it a
fill should copy. So the lungs are found twice when an overlay lies beyond them
(``BurnInConfig.repaint``): once on the plain inpainting, then on the image whose
overlay was painted again from the body around the first lungs. The marks' own
pixels are then carved out of the lungs (``BurnInConfig.carve``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lunggate.segmentation.burnin import carve_marks, remove_burn_in, repaint_beyond
from lunggate.segmentation.config import BurnInConfig
from lunggate.segmentation.segmenter import LungSegmentation, UNetSegmenter


@dataclass(frozen=True)
class Found:
    """One X-ray as the pipeline sees it."""

    image: np.ndarray
    """Cleaned of overlays: what the segmenter saw last and the classifier sees."""
    overlay: np.ndarray
    """Bool mask of the pixels painted over."""
    lungs: LungSegmentation
    """The U-Net's lungs less the marks' own pixels (``carve_marks``); its quality
    judges the U-Net's answer, before the carve."""
    first: np.ndarray | None
    """The first pass's lung mask when the overlay was painted again from it (else
    None): with the raw image it rebuilds ``image`` without the U-Net (``rebuild``)."""
    carved_fraction: float = 0.0
    """Share of the U-Net's lung pixels carved out as marks: a mark lay on a lung there."""


def rebuild(
    image: np.ndarray, first: np.ndarray | None, config: BurnInConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(cleaned image, overlay) of a raw image, given the first pass's lungs if repainted."""
    cleaned, overlay = remove_burn_in(image, config)
    if first is not None:
        cleaned = repaint_beyond(image, cleaned, overlay, first, config)
    return cleaned, overlay


def find_lungs(
    segmenter: UNetSegmenter,
    images: Sequence[np.ndarray],
    config: BurnInConfig,
    removed: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
) -> list[Found]:
    """Paint over each image's overlays and segment it (twice where that changes anything).

    Args:
        segmenter: the U-Net.
        images: raw 2-D uint8 grey images.
        config: the overlay removal's settings.
        removed: ``remove_burn_in`` of each image when the caller has it already.
    """
    if removed is None:
        removed = [remove_burn_in(img, config) for img in images]
    cleaned = [c for c, _ in removed]
    found = segmenter.segment(cleaned)
    first: list[np.ndarray | None] = [None] * len(images)
    if config.enabled and config.repaint:
        for k, (image, (_, overlay), f) in enumerate(zip(images, removed, found, strict=True)):
            if overlay.any():
                repainted = repaint_beyond(image, cleaned[k], overlay, f.mask, config)
                if not np.array_equal(repainted, cleaned[k]):
                    cleaned[k], first[k] = repainted, f.mask
        again = [k for k, m in enumerate(first) if m is not None]
        for k, f in zip(again, segmenter.segment([cleaned[k] for k in again]), strict=True):
            found[k] = f
    out = []
    for c, (_, overlay), f, m in zip(cleaned, removed, found, first, strict=True):
        lungs = carve_marks(f.mask, overlay, config)
        carved = 0.0 if lungs is f.mask else float((f.mask & ~lungs).sum() / max(1, f.mask.sum()))
        out.append(Found(c, overlay, LungSegmentation(lungs, f.quality), m, carved))
    return out
