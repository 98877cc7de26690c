"""From a lung probability map to a clean mask, and how plausible that mask is.

Pure functions on NumPy arrays, so that the pipeline's plausibility check can be tested
on hand-made masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lunggate.core.masks import fill_holes, keep_largest
from lunggate.segmentation.config import QualityConfig
from lunggate.segmentation.plausibility import Plausibility


@dataclass(frozen=True)
class LungQuality:
    """Simple figures of a lung mask that tell whether it looks like two lungs."""

    area_fraction: float
    components: int
    ok: bool
    reason: str | None = None
    plausibility: Plausibility | None = None
    """Whether the image looks like a frontal chest X-ray (``segmentation.plausibility``);
    judged only where the mask itself passed."""


def clean_mask(probability: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Threshold, keep the two largest components (the lungs), fill their holes."""
    return fill_holes(keep_largest(probability >= threshold, 2))


def count_components(mask: np.ndarray, min_fraction: float = 0.0) -> int:
    """Number of 8-connected components covering at least ``min_fraction`` of the image."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    areas = stats[1:count, cv2.CC_STAT_AREA]
    return int((areas >= min_fraction * mask.size).sum())


def assess(mask: np.ndarray, config: QualityConfig = QualityConfig()) -> LungQuality:
    """Area fraction, lung components and whether the mask is plausible (with why not)."""
    area = float(mask.mean())
    components = count_components(mask, config.min_component_fraction)
    reason = None
    if not config.min_area_fraction <= area <= config.max_area_fraction:
        reason = (
            f"lung area fraction {area:.3f} outside the plausible range "
            f"{config.min_area_fraction}-{config.max_area_fraction}"
        )
    elif components != 2:
        reason = f"found {components} lung component(s), expected 2"
    return LungQuality(area, components, reason is None, reason)
