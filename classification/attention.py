"""The in-lung attention score: how much of a Grad-CAM's mass lies on the lungs.

A uniform map scores exactly the lung area fraction, so that fraction is reported
beside the score and is, by default, the threshold below which a prediction is flagged.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from lunggate.classification.gating import Box, to_image
from lunggate.core.errors import LunggateError


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


DEFAULT_ATTENTION_THRESHOLD: float | None = None
"""Chance level: flag a map that puts no more of its mass on the lungs than a uniform one.

A fixed share cannot be the default because the score a sharp, lung-shaped map can
reach is capped by the CAM's resolution (``resolution_ceiling``), while the chance
level is known per image: its lung area fraction. A fixed share may be passed instead.
"""


def check_threshold(threshold: float | None) -> None:
    """Reject a fixed threshold outside [0, 1] (``None``, chance level, is always valid)."""
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise LunggateError(f"attention threshold must be within [0, 1], got {threshold}")


def flag_threshold(threshold: float | None, lung_area_fraction: float) -> float:
    """The in-lung score below which a prediction is flagged (``None``: chance level)."""
    check_threshold(threshold)
    return float(lung_area_fraction if threshold is None else threshold)


def is_flagged(score: float, threshold: float) -> bool:
    """True when attention falls outside the lungs (``outside_lungs``)."""
    return not math.isnan(score) and score < threshold


def flags(scores: np.ndarray, areas: np.ndarray, threshold: float | None) -> np.ndarray:
    """Per image, whether its in-lung score is below its threshold (NaN is never flagged)."""
    check_threshold(threshold)
    limits = np.asarray(areas, np.float64) if threshold is None else np.float64(threshold)
    return ~np.isnan(scores) & (np.nan_to_num(scores, nan=1.0) < limits)


def threshold_label(threshold: float | None) -> str:
    """How reports name the threshold in use."""
    return "chance (lung area fraction)" if threshold is None else f"{threshold:g}"
