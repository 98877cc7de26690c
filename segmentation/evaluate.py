"""``lunggate lab eval-seg``: Dice and IoU of the shipped U-Net against the reference masks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from lunggate.core import CLASS_NAMES
from lunggate.core.data import load_images, read_mask
from lunggate.core.figures import save_grid
from lunggate.core.overlays import GREEN, RED, draw_outline, to_rgb
from lunggate.core.paths import SPLIT_FILE
from lunggate.core.progress import mapped
from lunggate.core.splits import split_records
from lunggate.segmentation.metrics import dice, iou
from lunggate.segmentation.segmenter import UNetSegmenter


def summarize(values: list[float], labels: list[str]) -> dict:
    """Mean, median and per-class mean of a per-image metric."""
    arr = np.asarray(values)
    per_class = {
        c: float(arr[[lab == c for lab in labels]].mean()) for c in CLASS_NAMES if c in labels
    }
    return {
        "mean": float(arr.mean()),
        "median": float(np.median(arr)),
        "min": float(arr.min()),
        "per_class": per_class,
    }


def evaluate_segmenter(
    segmenter: UNetSegmenter,
    data_root: Path,
    split: str,
    out_dir: Path,
    split_file: Path = SPLIT_FILE,
) -> dict:
    """Score one split and write ``segmentation[_split].json``, a per-image CSV and a figure.

    Returns:
        The report written to JSON.
    """
    (records,) = split_records(data_root, split_file, split)
    images = list(load_images([r.image for r in records]))
    truths = [read_mask(r.mask) for r in records]
    found = mapped(segmenter.segment, images, 64, "segment")
    dices = [dice(f.mask, t) for f, t in zip(found, truths, strict=True)]
    ious = [iou(f.mask, t) for f, t in zip(found, truths, strict=True)]
    labels = [r.label for r in records]
    report = {
        "split": split,
        "dice": summarize(dices, labels),
        "iou": summarize(ious, labels),
        "n": len(records),
        "quality_rejected": int(sum(not f.quality.ok for f in found)),
        "weights_sha256": segmenter.weights_sha256,
        "config": segmenter.config.to_dict(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "segmentation" if split == "test" else f"segmentation_{split}"
    (out_dir / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    with (out_dir / f"{stem}_per_image.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "class", "dice", "iou", "area_fraction", "components", "ok"])
        for r, d, i, fnd in zip(records, dices, ious, found, strict=True):
            q = fnd.quality
            writer.writerow(
                [
                    r.id,
                    r.label,
                    f"{d:.4f}",
                    f"{i:.4f}",
                    f"{q.area_fraction:.4f}",
                    q.components,
                    q.ok,
                ]
            )
    worst = np.argsort(dices)[:8]
    save_grid(
        [
            (
                draw_outline(draw_outline(to_rgb(images[k]), truths[k], GREEN), found[k].mask, RED),
                f"{labels[k]}\nDice {dices[k]:.3f}",
            )
            for k in worst
        ],
        out_dir / f"{stem}_worst.png",
        "Worst cases: reference outline green, U-Net outline red",
    )
    return report
