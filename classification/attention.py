"""The in-lung attention score: how much of a Grad-CAM's mass lies on the lungs.

A uniform map scores exactly the lung area fraction, so that fraction is reported
beside the score: attention is lung-focused only when the score clearly exceeds it.
"""

from __future__ import annotations

import math

import numpy as np


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


def is_flagged(score: float, threshold: float) -> bool:
    """True when attention falls mostly outside the lungs (``outside_lungs``)."""
    return not math.isnan(score) and score < threshold
