"""Overlap metrics between a predicted and a reference mask (pure NumPy)."""

import numpy as np


def _check(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if pred.shape != target.shape:
        raise ValueError(f"pred shape {pred.shape} differs from target shape {target.shape}")
    return pred.astype(bool), target.astype(bool)


def dice(pred: np.ndarray, target: np.ndarray) -> float:
    """2|A∩B| / (|A|+|B|); two empty masks agree perfectly (1.0)."""
    pred, target = _check(pred, target)
    total = pred.sum() + target.sum()
    return 1.0 if total == 0 else float(2 * np.logical_and(pred, target).sum() / total)


def iou(pred: np.ndarray, target: np.ndarray) -> float:
    """|A∩B| / |A∪B|; two empty masks agree perfectly (1.0)."""
    pred, target = _check(pred, target)
    union = np.logical_or(pred, target).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, target).sum() / union)
