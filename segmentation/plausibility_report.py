"""``lunggate lab eval-plausibility``: how often the plausibility check refuses real X-rays, and
how often it catches what is not a frontal chest X-ray.

Real X-rays are the validation and test splits. What should be refused: those films
inverted and rotated by 90, 180 and 270 degrees, and synthetic non-X-rays (noise at
several sizes, checkerboards, two-ellipse cartoons, a grey ramp). Everything goes
through the pipeline's own lung finding (mark removal, U-Net, quality check).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from lunggate.core.data import load_images
from lunggate.core.paths import SPLIT_FILE
from lunggate.core.progress import mapped
from lunggate.core.splits import split_records
from lunggate.segmentation.finder import LungFinder

TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "inverted": lambda image: 255 - image,
    "rotated_90": lambda image: np.ascontiguousarray(np.rot90(image, 1)),
    "rotated_180": lambda image: np.ascontiguousarray(np.rot90(image, 2)),
    "rotated_270": lambda image: np.ascontiguousarray(np.rot90(image, 3)),
}


def synthetic_non_xrays(count: int, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """``count`` images of each kind that is plainly not a radiograph."""
    rng = np.random.default_rng(seed)
    kinds: dict[str, list[np.ndarray]] = {"noise": [], "checkerboard": [], "cartoon": []}
    for _ in range(count):
        side = int(rng.integers(256, 1025))
        kinds["noise"].append(rng.integers(0, 256, (side, side), dtype=np.uint8))
        cell = int(rng.integers(4, 64))
        yy, xx = np.mgrid[:256, :256]
        kinds["checkerboard"].append((((yy // cell + xx // cell) % 2) * 255).astype(np.uint8))
        cartoon = np.full((256, 256), int(rng.integers(120, 220)), np.uint8)
        for cx in (0.3, 0.7):
            axes = (int(256 * rng.uniform(0.1, 0.18)), int(256 * rng.uniform(0.25, 0.35)))
            cv2.ellipse(
                cartoon, (int(cx * 256), 128), axes, 0, 0, 360, int(rng.integers(20, 100)), -1
            )
        if rng.random() < 0.5:
            cartoon = cv2.add(cartoon, rng.integers(0, 20, cartoon.shape, dtype=np.uint8))
        kinds["cartoon"].append(cartoon)
    kinds["ramp"] = [np.tile(np.linspace(0, 255, 256).astype(np.uint8), (256, 1))]
    return kinds


def refusals(finder: LungFinder, images: Sequence[np.ndarray]) -> list[str | None]:
    """The pipeline's reason to refuse each image (None: accepted)."""
    found = mapped(finder.find, images, 64, "plausibility")
    return [None if f.lungs.quality.ok else f.lungs.quality.reason for f in found]


def _why(reasons: list[str | None]) -> dict[str, int]:
    """How many refusals of each kind (the reason with its figures left out)."""
    kinds = (re.sub(r"\d[\d.]*", "#", r.split(":")[0]) for r in reasons if r)
    return dict(Counter(kinds))


def evaluate_plausibility(
    finder: LungFinder,
    data_root: Path,
    out: Path,
    split_file: Path = SPLIT_FILE,
    per_kind: int = 40,
) -> dict:
    """Write ``out`` (JSON): refused real X-rays per split, caught negatives per kind."""
    quality = finder.segmenter.quality
    report: dict = {
        "thresholds": {
            "min_confidence": quality.min_confidence,
            "max_texture": quality.max_texture,
            "max_polarity": quality.max_polarity,
            "chosen_on": "val",
        },
        "real_xrays": {},
        "negatives": {},
    }
    films = []
    for split in ("val", "test"):
        (records,) = split_records(data_root, split_file, split)
        images = list(load_images([r.image for r in records]))
        reasons = refusals(finder, images)
        refused = [r.id for r, why in zip(records, reasons, strict=True) if why]
        report["real_xrays"][split] = {
            "n": len(records),
            "wrongly_rejected": len(refused),
            "wrongly_rejected_share": round(len(refused) / len(records), 4),
            "reasons": _why(reasons),
            "ids": refused,
        }
        films += images[: per_kind * 5 // 2]  # films from both splits for the transforms
    for name, transform in TRANSFORMS.items():
        report["negatives"][name] = _caught(finder, [transform(f) for f in films])
    for name, images in synthetic_non_xrays(per_kind).items():
        report["negatives"][name] = _caught(finder, images)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report


def _caught(finder: LungFinder, images: list[np.ndarray]) -> dict:
    reasons = refusals(finder, images)
    caught = sum(r is not None for r in reasons)
    return {
        "n": len(images),
        "caught": caught,
        "caught_share": round(caught / len(images), 4),
        "reasons": _why(reasons),
    }
