"""Lung gating: from an X-ray and its lung mask to the classifier's input, and back.

The classifier sees a crop; ``Box`` remembers where the crop came from, so that a
Grad-CAM computed on the crop can be placed back onto the full image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from lunggate.classification.config import GateConfig
from lunggate.core.masks import grow


@dataclass(frozen=True)
class Box:
    """A crop of the image: rows ``top:bottom``, columns ``left:right``."""

    top: int
    bottom: int
    left: int
    right: int


def lung_box(mask: np.ndarray, margin_fraction: float, trim: float = 0.0) -> Box:
    """Bounding box of the mask plus a margin, clipped to the image; whole image if empty.

    ``trim`` leaves out that share of the mask's pixels beyond each side, so a thin
    spur (a wire the U-Net followed out of a lung) does not move the box: the extreme
    row or column jumps with one stray pixel, a quantile moves with the mass.
    """
    h, w = mask.shape
    total = int(mask.sum())
    if total == 0:
        return Box(0, h, 0, w)
    cut = trim * total

    def span(counts: np.ndarray) -> tuple[int, int]:
        below = np.cumsum(counts)
        return int(np.searchsorted(below, cut, side="right")), int(
            np.searchsorted(below, total - cut, side="left") + 1
        )

    top, bottom = span(mask.sum(axis=1))
    left, right = span(mask.sum(axis=0))
    m = int(round(margin_fraction * max(h, w)))
    return Box(max(0, top - m), min(h, bottom + m), max(0, left - m), min(w, right + m))


def feather(mask: np.ndarray, width_px: int) -> np.ndarray:
    """Float weight of a bool mask rising from 0 outside to 1 at ``width_px`` inside it.

    A hard mask turns a one-pixel move of the U-Net's boundary into a full-contrast
    change of the input along the whole outline; a ramp turns it into a change of
    ``1 / width_px`` of that. Pixels outside the mask stay exactly 0.
    """
    if width_px <= 0:
        return mask.astype(np.float32)
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    return np.minimum(distance / width_px, 1.0).astype(np.float32)


def shift_box(box: Box, shift: tuple[int, int, int, int], shape: tuple[int, ...]) -> Box:
    """Move each side of ``box`` (top, bottom, left, right) by ``shift`` pixels, within the image.

    A side never crosses its opposite: the box keeps at least one row and column.
    """
    h, w = shape[:2]
    top = min(max(0, box.top + shift[0]), h - 1)
    bottom = max(min(h, box.bottom + shift[1]), top + 1)
    left = min(max(0, box.left + shift[2]), w - 1)
    right = max(min(w, box.right + shift[3]), left + 1)
    return Box(top, bottom, left, right)


def equalize(crop: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """White balance and CLAHE of a float crop in grey levels, over its kept pixels.

    Films from other hospitals differ in exposure and windowing far more than in
    anatomy: stretching the kept pixels' 1st-99th percentiles to 0-255 removes the
    global part, CLAHE (clip 2, 8x8 tiles) the regional part.
    """
    inside = crop[keep] if keep.any() else crop.ravel()
    low, high = np.percentile(inside, (1, 99))
    stretched = np.clip((crop - low) * 255.0 / max(high - low, 1.0), 0, 255).astype(np.uint8)
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    return clahe.apply(stretched).astype(np.float32)


def gate(
    image: np.ndarray,
    mask: np.ndarray | None,
    config: GateConfig,
    shift: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> tuple[np.ndarray, Box]:
    """One grey uint8 image (and its lung mask, for ``masked``) -> (S, S, 1) float32 input.

    Values are standardized over the kept pixels (weighted by the feathered mask when
    ``config.feather_px`` > 0, and multiplied by it); gated-out pixels are exactly 0.
    Gated-out pixels are replaced at the image's own resolution, before resizing: a
    resize first would blend a marker lying against the lung border into the kept
    rim. They take the mean of the kept pixels, which standardizes to the same 0 as
    the gated-out area, so the resize draws no dark rim along the mask's outline
    (that rim would hand the classifier the mask's shape as its strongest edge). So
    the input is a function of the pixels under the mask alone, whatever is burned
    in around them.

    ``lungs_hidden`` is the gate turned inside out: the whole image with the lungs
    filled, for the control model that sees only what lies outside them.

    ``shift`` moves the sides of a masked crop (training only): the U-Net's box moves
    by a few pixels when a mark touches a lung, which rescales the whole input.
    """
    h, w = image.shape
    if config.input == "raw":
        box, keep = Box(0, h, 0, w), np.ones((h, w), bool)
    else:
        if mask is None:
            raise ValueError(f"{config.input} input needs a lung mask")
        if config.input == "masked":
            keep = mask.astype(bool)
            trimmed = lung_box(keep, config.margin_fraction, config.box_trim)
            box = shift_box(trimmed, shift, image.shape)
        else:
            box, keep = Box(0, h, 0, w), ~mask.astype(bool)
        kept = image[keep]
        image = np.where(keep, image, kept.mean() if kept.size else 0.0)
    crop = image[box.top : box.bottom, box.left : box.right].astype(np.float32)
    keep = keep[box.top : box.bottom, box.left : box.right]
    if config.contrast == "clahe":
        crop = equalize(crop, keep)
    size = (config.input_size, config.input_size)
    crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    if config.input != "raw" and config.feather_px > 0:
        weight = cv2.resize(feather(keep, config.feather_px), size, interpolation=cv2.INTER_AREA)
    else:
        weight = cv2.resize(keep.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        weight = weight.astype(np.float32)
    if not weight.any():
        weight = np.ones_like(crop)
    mean = float(np.average(crop, weights=weight))
    std = float(np.sqrt(np.average((crop - mean) ** 2, weights=weight)))
    x = weight * (crop - mean) / max(std, 1.0)
    return x[..., None].astype(np.float32), box


def gate_batch(
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray | None],
    config: GateConfig,
    grow_px: int = 0,
) -> tuple[np.ndarray, list[Box]]:
    """``gate`` each image (its mask grown by ``grow_px``; raw input ignores masks) into
    one (N, S, S, 1) batch, with each crop's box."""
    pairs = [
        gate(image, m if m is None or grow_px == 0 else grow(m, grow_px), config)
        for image, m in zip(images, masks, strict=True)
    ]
    return np.stack([x for x, _ in pairs]), [box for _, box in pairs]


def to_image(cam: np.ndarray, box: Box, shape: tuple[int, int]) -> np.ndarray:
    """Place a crop-sized map back onto a zero canvas of the full image's (H, W)."""
    canvas = np.zeros(shape, np.float32)
    size = (box.right - box.left, box.bottom - box.top)
    canvas[box.top : box.bottom, box.left : box.right] = cv2.resize(
        cam.astype(np.float32), size, interpolation=cv2.INTER_LINEAR
    )
    return canvas
