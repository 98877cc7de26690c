"""Bool lung-mask morphology that both stages use: holes, components, growing and shrinking."""

from __future__ import annotations

import cv2
import numpy as np


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill every hole enclosed by a component (bool in, bool out)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros(mask.shape, np.uint8)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)


def keep_largest(mask: np.ndarray, n: int = 2) -> np.ndarray:
    """Keep the ``n`` largest 8-connected components of a bool mask."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    if count <= 1:
        return np.zeros(mask.shape, bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = 1 + np.argsort(-areas, kind="stable")[:n]
    return np.isin(labels, keep)


def grow(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow a bool mask by ``radius`` pixels (a disc); a negative radius shrinks it."""
    if radius == 0:
        return mask.astype(bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(radius) + 1,) * 2)
    morph = cv2.dilate if radius > 0 else cv2.erode
    return morph(mask.astype(np.uint8), kernel).astype(bool)
