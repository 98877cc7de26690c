"""The in-lung attention score: how much of a Grad-CAM's mass lies on the lungs.

A uniform map scores exactly the lung area fraction, so that fraction is reported
beside the score: attention is lung-focused only when the score clearly exceeds it.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from classification.gating import Box, to_image


def in_lung_score(cam: np.ndarray, mask: np.ndarray) -> float:
    """``sum(cam+ * mask) / sum(cam+)`` on same-sized arrays.

    Returns:
        A share in [0, 1]; NaN for a map with no positive mass (nothing to locate).
    """
    if cam.shape != mask.shape:
        raise ValueError(f"cam shape {cam.shape} differs from mask shape {mask.shape}")
    positive = np.clip(cam.astype(np.float64), 0, None)
    total = positive.sum()
    if total <= 0:
        return math.nan
    return float((positive * mask.astype(bool)).sum() / total)


def resolution_ceiling(mask: np.ndarray, box: Box, grid: tuple[int, int]) -> float:
    """The in-lung score of a perfect, lung-shaped map seen at the CAM's resolution.

    A Grad-CAM of a (h, w) feature map, upsampled to the image, cannot be sharper than
    the lung mask averaged onto that grid: this is the best score such a map can reach.
    """
    crop = mask[box.top : box.bottom, box.left : box.right].astype(np.float32)
    coarse = cv2.resize(crop, (grid[1], grid[0]), interpolation=cv2.INTER_AREA)
    return in_lung_score(to_image(coarse, box, mask.shape), mask)


def is_flagged(score: float, threshold: float) -> bool:
    """True when attention falls mostly outside the lungs (``outside_lungs``)."""
    return not math.isnan(score) and score < threshold
