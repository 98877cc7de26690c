"""``lunggate eval-seg``: Dice and IoU of the shipped U-Net against the reference masks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lunggate import CLASS_NAMES  # noqa: E402
from lunggate.data import load_images, read_mask, scan_dataset  # noqa: E402
from lunggate.overlays import GREEN, RED, draw_outline, to_rgb  # noqa: E402
from lunggate.paths import SPLIT_FILE  # noqa: E402
from lunggate.splits import read_split, select  # noqa: E402
from segmentation.metrics import dice, iou  # noqa: E402
from segmentation.segmenter import UNetSegmenter  # noqa: E402


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
    records = select(scan_dataset(data_root), read_split(split_file), split)
    images = list(load_images([r.image for r in records]))
    truths = [read_mask(r.mask) for r in records]
    found = segmenter.segment(images)
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
    plot_cases(
        [(images[k], truths[k], found[k].mask, f"{labels[k]}\nDice {dices[k]:.3f}") for k in worst],
        out_dir / f"{stem}_worst.png",
    )
    return report


def plot_cases(cases: list[tuple[np.ndarray, np.ndarray, np.ndarray, str]], path: Path) -> None:
    """A grid of images with reference (green) and predicted (red) lung outlines."""
    cols = 4
    rows = max(1, -(-len(cases) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.3 * rows))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, (image, truth, pred, title) in zip(np.ravel(axes), cases, strict=False):
        ax.imshow(draw_outline(draw_outline(to_rgb(image), truth, GREEN), pred, RED))
        ax.set_title(title, fontsize=9)
    fig.suptitle("Worst cases: reference outline green, U-Net outline red")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
