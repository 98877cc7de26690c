"""Is this a frontal chest X-ray as lunggate was trained on? Signals that generalise.

Two lung-shaped components of plausible size (``postprocess.assess``) are not enough:
the U-Net finds two such blobs in a noise image, a checkerboard, a two-ellipse
cartoon, an inverted or a rotated film. What tells them apart:

- **confidence**: the U-Net's mean certainty, |2p - 1| over the image. On the
  training corpus's films it is sure almost everywhere; on anything unlike them
  (inverted, rotated, drawn) it hesitates over wide areas.
- **texture**: mean absolute fine detail (the image less its 2-px blur, at 256 px).
  A radiograph is smooth at that scale; noise and checkerboards are not.
- **polarity**: the lungs' mean grey level less that of the rest of their bounding
  box, in units of the full range. Air is dark on a film, so the lungs are darker
  than the mediastinum between them; on an inverted film they are not.

The thresholds (``QualityConfig``) were chosen on the validation split;
``lunggate lab eval-plausibility`` reports how many real X-rays they refuse and how many
transformed films and synthetic non-X-rays they catch.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lunggate.core.film_format import CORPUS_SIDE
from lunggate.segmentation.config import QualityConfig


@dataclass(frozen=True)
class Plausibility:
    """The three signals of one image and whether they pass (with why not)."""

    confidence: float
    texture: float
    polarity: float
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


def confidence(probability: np.ndarray) -> float:
    """Mean |2p - 1| of a probability map: 1 when sure everywhere, 0 when p = 0.5."""
    return float(np.abs(2.0 * probability - 1.0).mean())


def texture(image: np.ndarray) -> float:
    """Mean absolute fine detail in grey levels, at the corpus format's side whatever the
    image's size."""
    small = cv2.resize(
        image.astype(np.float32), (CORPUS_SIDE, CORPUS_SIDE), interpolation=cv2.INTER_AREA
    )
    return float(np.abs(small - cv2.GaussianBlur(small, (0, 0), 2.0)).mean())


def polarity(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean grey of the lungs less that of the rest of their bounding box, over 255.

    Negative on a film (air is dark); 0 when the box holds nothing but lungs.
    """
    if not mask.any():
        return 0.0
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    box = np.zeros_like(mask, dtype=bool)
    box[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = True
    rest = box & ~mask
    if not rest.any():
        return 0.0
    grey = image.astype(np.float32)
    return float((grey[mask].mean() - grey[rest].mean()) / 255.0)


def judge(
    image: np.ndarray, mask: np.ndarray, probability: np.ndarray, config: QualityConfig
) -> Plausibility:
    """The signals of an image (2-D uint8), its lung mask and the U-Net's probabilities."""
    figures = {
        "confidence": confidence(probability),
        "texture": texture(image),
        "polarity": polarity(image, mask),
    }
    reason = None
    if figures["confidence"] < config.min_confidence:
        reason = (
            f"not a chest X-ray as lunggate knows them: the lung segmentation is unsure "
            f"(confidence {figures['confidence']:.3f} < {config.min_confidence}); "
            "inverted, rotated or not a radiograph?"
        )
    elif figures["texture"] > config.max_texture:
        reason = (
            f"not a radiograph: fine detail {figures['texture']:.1f} grey levels "
            f"> {config.max_texture} (noise or a pattern?)"
        )
    elif figures["polarity"] > config.max_polarity:
        reason = (
            f"the lungs are brighter than their surroundings (polarity "
            f"{figures['polarity']:+.3f}): an inverted film?"
        )
    return Plausibility(**figures, reason=reason)
