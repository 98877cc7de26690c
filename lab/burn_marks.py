"""Synthetic burned-in marks, drawn outside the lung fields only.

The counterfactual test of lung gating: an X-ray with laterality letters, ECG-lead
markers, a wire or tube and a corner text block added *outside* the lungs shows the
same disease, so a model that reads the lungs should not change its answer. Every
pixel inside the protected lung mask is left exactly as it was, and a seed fixes
every choice, so the test repeats bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lunggate.core.masks import grow

KINDS = ("letters", "markers", "wire", "text_block")
WORDS = ("L", "R", "AP", "PORTABLE")


@dataclass(frozen=True)
class BurnMarksConfig:
    """Which marks to burn in and how the lungs are protected."""

    kinds: tuple[str, ...] = KINDS
    protect_margin: float = 0.0
    """Grow the protected lung mask by this share of the image side."""
    seed: int = 20261123


def _font_scale(size: int) -> float:
    return size / 256 * 0.9


def _letters(layer: np.ndarray, rng: np.random.Generator) -> None:
    h, w = layer.shape
    for word in rng.choice(WORDS, size=2, replace=False):
        scale = _font_scale(min(h, w)) * rng.uniform(0.8, 1.4)
        x, y = int(rng.uniform(0.02, 0.75) * w), int(rng.uniform(0.08, 0.3) * h)
        cv2.putText(
            layer,
            str(word),
            (x, y),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            255,
            max(1, int(2 * scale)),
            cv2.LINE_AA,
        )


def _markers(layer: np.ndarray, rng: np.random.Generator) -> None:
    h, w = layer.shape
    radius = max(3, int(0.03 * min(h, w)))
    for _ in range(3):
        center = (int(rng.uniform(0.05, 0.95) * w), int(rng.uniform(0.05, 0.95) * h))
        cv2.circle(layer, center, radius, 255, -1, cv2.LINE_AA)
        cv2.circle(layer, center, max(1, radius // 2), 90, -1, cv2.LINE_AA)


def _wire(layer: np.ndarray, rng: np.random.Generator) -> None:
    h, w = layer.shape
    t = np.linspace(0, 1, 40)
    x0, x1 = rng.uniform(0.1, 0.9, size=2) * w
    bend = rng.uniform(-0.2, 0.2) * w
    xs = x0 + (x1 - x0) * t + bend * np.sin(np.pi * t)
    ys = t * h
    points = np.stack([xs, ys], axis=1).astype(np.int32)
    cv2.polylines(layer, [points], False, 235, max(1, int(0.008 * min(h, w))), cv2.LINE_AA)


def _text_block(layer: np.ndarray, rng: np.random.Generator) -> None:
    h, w = layer.shape
    scale = _font_scale(min(h, w)) * 0.45
    lines = [f"ID {rng.integers(100000, 999999)}", "2020-04-01 09:13", "SUPINE  110 kVp"]
    corner_right, corner_bottom = rng.integers(0, 2, size=2)
    step = int(14 * scale / 0.4)
    for k, text in enumerate(lines):
        x = int(0.62 * w) if corner_right else int(0.02 * w)
        y = int(0.9 * h) + k * step - 2 * step if corner_bottom else int(0.05 * h) + k * step
        cv2.putText(layer, text, (x, y), cv2.FONT_HERSHEY_PLAIN, scale * 2, 255, 1, cv2.LINE_AA)


_DRAW = {"letters": _letters, "markers": _markers, "wire": _wire, "text_block": _text_block}


def burn_marks(
    image: np.ndarray,
    lung_mask: np.ndarray,
    config: BurnMarksConfig = BurnMarksConfig(),
    index: int = 0,
) -> np.ndarray:
    """A copy of ``image`` with marks outside ``lung_mask``.

    Args:
        image: 2-D uint8 X-ray.
        lung_mask: bool mask of the same shape; these pixels never change.
        config: which marks, the protection margin and the seed.
        index: mixed into the seed so each image of a set gets its own layout.
    """
    if image.shape != lung_mask.shape:
        raise ValueError(f"image {image.shape} and lung mask {lung_mask.shape} differ in shape")
    unknown = set(config.kinds) - set(_DRAW)
    if unknown:
        raise ValueError(f"unknown mark kind(s) {sorted(unknown)}; choose from {KINDS}")
    rng = np.random.default_rng([config.seed, index])
    layer = np.zeros(image.shape, np.uint8)
    for kind in config.kinds:
        _DRAW[kind](layer, rng)
    protected = lung_mask.astype(bool)
    if config.protect_margin > 0:
        protected = grow(protected, max(1, int(config.protect_margin * max(image.shape))))
    drawn = (layer > 0) & ~protected
    out = image.copy()
    out[drawn] = layer[drawn]
    return out
