"""``lunggate lab eval-cls``: the classifier as users run it (U-Net masks), with its bias check.

Writes ``classification_<input>.json`` with accuracy, macro-F1, per-class figures,
ROC-AUC, calibration error before and after temperature scaling and the in-lung
attention summary, plus a per-image CSV and figures.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lunggate.classification.attention import (
    DEFAULT_ATTENTION_THRESHOLD,
    flags,
    in_lung_score,
    resolution_ceiling,
    threshold_label,
)
from lunggate.classification.calibration import expected_calibration_error, softmax
from lunggate.classification.classifier import LungClassifier
from lunggate.classification.metrics import classification_metrics, roc_curves
from lunggate.classification.plots import plot_confusion, plot_roc
from lunggate.core import CLASS_NAMES
from lunggate.core.figures import save_grid
from lunggate.core.overlays import draw_outline, heatmap_overlay
from lunggate.core.paths import SPLIT_FILE
from lunggate.core.splits import split_records

if TYPE_CHECKING:  # handed in by the caller (``lunggate lab eval-cls``)
    from lunggate.segmentation.finder import LungFinder


def attention_summary(
    scores: np.ndarray, labels: np.ndarray, areas: np.ndarray, threshold: float | None
) -> dict:
    """Mean, median, 10th percentile and flagged share of in-lung scores, and the median
    lift over chance (score over lung area fraction), overall and per class."""
    flagged = flags(scores, areas, threshold)
    valid = ~np.isnan(scores)

    def stats(sel: np.ndarray) -> dict:
        s = scores[sel & valid]
        if not len(s):
            empty = ("mean", "median", "p10", "lift_median", "flagged_share")
            return {**dict.fromkeys(empty), "n": 0}
        return {
            "mean": float(s.mean()),
            "median": float(np.median(s)),
            "lift_median": float(np.median(s / areas[sel & valid])),
            "p10": float(np.percentile(s, 10)),
            "flagged_share": float(flagged[sel & valid].mean()),
            "n": int(len(s)),
        }

    overall = stats(np.ones(len(scores), bool))
    per_class = {c: stats(labels == i) for i, c in enumerate(CLASS_NAMES)}
    return {
        **overall,
        "threshold": threshold_label(threshold),
        "no_attention": int((~valid).sum()),
        "per_class": per_class,
    }


def evaluate_classifier(
    classifier: LungClassifier,
    finder: LungFinder,
    data_root: Path,
    split: str,
    out_dir: Path,
    split_file: Path = SPLIT_FILE,
    threshold: float | None = DEFAULT_ATTENTION_THRESHOLD,
) -> dict:
    """Score one split end to end as the pipeline runs: ``finder``'s cleaned images and
    masks, gating, calibrated probabilities, Grad-CAM."""
    (records,) = split_records(data_root, split_file, split)
    images, masks = finder.dataset(records)
    explained = classifier.explain(images, masks, progress="classify")
    labels = np.array([CLASS_NAMES.index(r.label) for r in records])
    logits = np.stack([e.logits for e in explained])
    probs = np.stack([e.probabilities for e in explained])
    scores = np.array([in_lung_score(e.cam, m) for e, m in zip(explained, masks, strict=True)])
    areas = np.array([m.mean() for m in masks])
    ceilings = np.array(
        [
            resolution_ceiling(m, e.box, classifier.cam_grid)
            for e, m in zip(explained, masks, strict=True)
        ]
    )
    kind = classifier.config.gate.input
    report = {
        "input": kind,
        "backbone": classifier.config.backbone,
        "split": split,
        **classification_metrics(labels, probs),
        "ece": {
            "before": expected_calibration_error(softmax(logits), labels),
            "after": expected_calibration_error(probs, labels),
            "temperature": classifier.temperature,
        },
        "in_lung": {
            **attention_summary(scores, labels, areas, threshold),
            "lung_area_fraction_mean": float(areas.mean()),
            "resolution_ceiling_median": float(np.median(ceilings)),
            "cam_grid": list(classifier.cam_grid),
        },
        "n": len(records),
        "weights_sha256": classifier.weights_sha256,
        "segmenter_sha256": finder.segmenter.weights_sha256,
        "mark_removal": asdict(finder.mark_removal),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"classification_{kind}" + ("" if split == "test" else f"_{split}")
    (out_dir / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    with (out_dir / f"{stem}_per_image.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "id",
                "class",
                "predicted",
                *[f"p_{c}" for c in CLASS_NAMES],
                "in_lung",
                "lung_area_fraction",
            ]
        )
        for r, p, s, a in zip(records, probs, scores, areas, strict=True):
            writer.writerow(
                [
                    r.id,
                    r.label,
                    CLASS_NAMES[int(p.argmax())],
                    *[f"{v:.4f}" for v in p],
                    f"{s:.4f}",
                    f"{a:.4f}",
                ]
            )
    title = f"{classifier.name}, {split} split"
    plot_confusion(
        np.array(report["confusion_matrix"]),
        list(CLASS_NAMES),
        out_dir / f"{stem}_confusion.png",
        title,
    )
    plot_roc(roc_curves(labels, probs), out_dir / f"{stem}_roc.png", title)
    lowest = np.argsort(np.nan_to_num(scores, nan=2.0))[:8]
    save_grid(
        [
            (
                draw_outline(heatmap_overlay(images[k], explained[k].cam), masks[k]),
                f"{records[k].label} -> {CLASS_NAMES[explained[k].class_index]}\n"
                f"in-lung {scores[k]:.2f}",
            )
            for k in lowest
        ],
        out_dir / f"{stem}_lowest_in_lung.png",
        f"Lowest in-lung attention: {title}",
    )
    return report
