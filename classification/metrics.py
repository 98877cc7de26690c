"""Classification metrics for the four-class reports."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score, roc_curve

from lunggate.core import CLASS_NAMES


def classification_metrics(
    labels: np.ndarray, probs: np.ndarray, class_names: Sequence[str] = CLASS_NAMES
) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/specificity/F1/support, confusion
    matrix (rows true, columns predicted) and one-vs-rest ROC-AUC (of the classes
    present and absent in ``labels``: an empty dict when none is).

    The macro-F1 averages over the classes present in ``labels`` (named in
    ``macro_f1_classes``): a class with no film has an F1 of 0 whatever the model
    does, and averaging it in would only say the set lacks it. Predictions of an
    absent class still count, as errors, in the present classes' precision and recall.
    """
    pred = probs.argmax(-1)
    k = len(class_names)
    cm = confusion_matrix(labels, pred, labels=range(k))
    per_class = {}
    for i, name in enumerate(class_names):
        tp = cm[i, i]
        fp, fn = cm[:, i].sum() - tp, cm[i, :].sum() - tp
        tn = cm.sum() - tp - fp - fn
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        per_class[name] = {
            "precision": float(precision),
            "recall": float(recall),
            "specificity": float(tn / (tn + fp)) if tn + fp else 0.0,
            "f1": float(2 * precision * recall / (precision + recall))
            if precision + recall
            else 0.0,
            "support": int(cm[i, :].sum()),
        }
    onehot = np.eye(k)[labels]
    present = [i for i in range(k) if 0 < onehot[:, i].sum() < len(labels)]
    auc = {class_names[i]: float(roc_auc_score(onehot[:, i], probs[:, i])) for i in present}
    return {
        "accuracy": float((pred == labels).mean()),
        "macro_f1": macro_f1(labels, pred),
        "macro_f1_classes": [class_names[i] for i in present_classes(labels)],
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "roc_auc": {
            "per_class": auc,
            "micro": float(roc_auc_score(onehot[:, present], probs[:, present], average="micro")),
            "macro": float(np.mean(list(auc.values()))),
        }
        if present
        else {},
    }


def present_classes(labels: np.ndarray) -> list[int]:
    """The class indices ``labels`` holds, in order."""
    return sorted({int(v) for v in labels})


def macro_f1(labels: np.ndarray, pred: np.ndarray) -> float:
    """Macro-F1 over the classes present in ``labels`` (see ``classification_metrics``)."""
    present = present_classes(labels)
    return float(f1_score(labels, pred, average="macro", labels=present, zero_division=0))


def interval95(values: Sequence[float]) -> list[float]:
    """The 2.5th and 97.5th percentiles of bootstrap ``values``: a 95 % interval."""
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def roc_curves(
    labels: np.ndarray, probs: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Per-class one-vs-rest ROC curves for plotting."""
    onehot = np.eye(len(CLASS_NAMES))[labels]
    curves = {}
    for i, name in enumerate(CLASS_NAMES):
        if 0 < onehot[:, i].sum() < len(labels):
            fpr, tpr, _ = roc_curve(onehot[:, i], probs[:, i])
            curves[name] = (fpr, tpr, float(roc_auc_score(onehot[:, i], probs[:, i])))
    return curves
