"""Figures of the classification stage: training curves, confusion matrix, ROC curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def plot_history(history: list[dict], path: Path, title: str) -> None:
    """Loss and validation accuracy / macro-F1 per epoch."""
    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(10, 3.8))
    left, right = fig.subplots(1, 2)
    left.plot(epochs, [h["loss"] for h in history], label="train loss")
    left.plot(epochs, [h["val_loss"] for h in history], label="val loss")
    left.set_xlabel("epoch")
    left.legend()
    right.plot(epochs, [h["val_accuracy"] for h in history], label="val accuracy")
    right.plot(epochs, [h["val_macro_f1"] for h in history], label="val macro-F1")
    right.set_xlabel("epoch")
    right.legend()
    fig.suptitle(f"Training: {title}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def plot_confusion(matrix: np.ndarray, classes: list[str], path: Path, title: str) -> None:
    fig = Figure(figsize=(5.5, 4.8))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            color = "white" if matrix[i, j] > matrix.max() / 2 else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=color)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def plot_roc(
    curves: dict[str, tuple[np.ndarray, np.ndarray, float]], path: Path, title: str
) -> None:
    """One ROC curve per class: ``{name: (fpr, tpr, auc)}``."""
    fig = Figure(figsize=(5.5, 4.8))
    ax = fig.subplots()
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], "k:", linewidth=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
