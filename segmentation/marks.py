"""Burned-in marks found and painted over before either stage looks at the image.

Laterality letters, ECG-lead markers, wires and annotation text are drawn (or show
up) at or near full white, in small compact shapes. Lung tissue almost never is:
on the validation split 0.06 % of the U-Net's lung pixels reach 230. A U-Net sees
a white mark against a lung border as an edge and moves its boundary towards it,
and the lung-gated classifier reads that move; so the marks are inpainted from
their surroundings before segmentation, and the classifier sees the same cleaned
image. Once the lungs are found, a mark beyond them is painted again from the body
alone (``repaint_beyond``; ``segmentation.find`` runs both passes), and the marks'
own pixels are left out of the lung mask (``carve_marks``). Large bright
regions (shoulders, an over-exposed mediastinum) are left alone: only components up
to ``max_area_fraction`` of the image are marks.

What this does not catch: marks drawn in mid-grey, or a mark that merges with
a large bright region. The compare report states its mark test's figures with
and without this step.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from lunggate.core.masks import fill_holes, grow
from lunggate.segmentation.config import MarkRemovalConfig


def _pixels(fraction: float, shape: tuple[int, ...]) -> int:
    return max(1, int(round(fraction * max(shape))))


def mark_mask(image: np.ndarray, config: MarkRemovalConfig = MarkRemovalConfig()) -> np.ndarray:
    """Bool mask of the burned-in marks on a 2-D uint8 image (grown by the pad).

    A ring marker's dark core counts with its ring (holes are filled), unless the
    filled shape would exceed the size limit: a thin bright frame around the whole
    image must not turn the image into one mark.
    """
    limit = config.max_area_fraction * image.size
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        (image >= config.threshold).astype(np.uint8), 8
    )
    small = np.isin(labels, 1 + np.flatnonzero(stats[1:count, cv2.CC_STAT_AREA] <= limit))
    filled = fill_holes(small)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(filled.astype(np.uint8), 8)
    compact = np.isin(labels, 1 + np.flatnonzero(stats[1:count, cv2.CC_STAT_AREA] <= limit))
    marked = small | (filled & compact)
    if not marked.any():
        return marked
    side = 2 * _pixels(config.pad_fraction, image.shape) + 1
    return cv2.dilate(marked.astype(np.uint8), np.ones((side, side), np.uint8)).astype(bool)


def remove_marks(
    image: np.ndarray, config: MarkRemovalConfig = MarkRemovalConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """(cleaned copy of a 2-D uint8 image, bool mask of what was painted over).

    Pixels outside the mask are returned unchanged; with ``config.enabled`` off the
    image comes back as it is.
    """
    if not config.enabled:
        return image, np.zeros(image.shape, bool)
    marked = mark_mask(image, config)
    if not marked.any():
        return image, marked
    radius = _pixels(config.inpaint_fraction, image.shape)
    cleaned = cv2.inpaint(image, marked.astype(np.uint8), radius, cv2.INPAINT_TELEA)
    return cleaned, marked


def repaint_beyond(
    image: np.ndarray,
    cleaned: np.ndarray,
    marked: np.ndarray,
    lungs: np.ndarray,
    config: MarkRemovalConfig = MarkRemovalConfig(),
) -> np.ndarray:
    """``cleaned`` with the mark's pixels beyond ``lungs`` painted again from the body alone.

    The first inpainting fills a mark lying against a lung partly with lung, and the
    U-Net then grows the lung into the fill: under ``lunggate compare``'s marks,
    much of the mask's move on the validation split was such growth. Painted from
    the pixels beyond the lungs only, the fill looks like the body it hides. Marked
    pixels within ``config.inset_fraction`` inside the lungs' border count as beyond
    them, because the first mask already grew into the fill, and so do the lung
    pixels of that thin rim as sources; the rest of ``cleaned`` is returned unchanged.
    """
    inner = grow(lungs, -_pixels(config.inset_fraction, image.shape))
    beyond = marked & ~inner
    radius = _pixels(config.inpaint_fraction, image.shape)
    # Inpainting reads pixels up to ``radius`` away: marks farther from the lungs
    # were filled from the body already, and repainting them (an inpainting of the
    # whole lung field, the costly part) would give the same pixels.
    if not (beyond & grow(inner, radius + 1)).any():
        return cleaned
    body = cv2.inpaint(image, (marked | inner).astype(np.uint8), radius, cv2.INPAINT_TELEA)
    return np.where(beyond, body, cleaned)


def carve_marks(lungs: np.ndarray, marked: np.ndarray, config: MarkRemovalConfig) -> np.ndarray:
    """The lung mask without the pixels of the marks themselves.

    A mark is not lung, and its pixels hold what the inpainting drew: the U-Net's
    boundary there follows the fill (it grows a lung into a fill drawn partly from
    lung), and a classifier gated by such a mask reads invented pixels and the
    mask's move alike. The mark's outer rim (``carve_rim_fraction``) stays with
    the U-Net's answer: it lies over the anti-aliased edge, where a mark touching a
    lung covers real lung.
    """
    if not config.carve or not marked.any():
        return lungs
    marks = grow(marked, -_pixels(config.carve_rim_fraction, marked.shape))
    return lungs & ~marks


def remove_all(images: Sequence[np.ndarray], config: MarkRemovalConfig) -> list[np.ndarray]:
    """Cleaned copies of many images (the images themselves when disabled)."""
    return [remove_marks(img, config)[0] for img in images]
