"""Lung gating: from an X-ray and its lung mask to the classifier's input, and back.

The classifier sees a crop; ``Box`` remembers where the crop came from, so that a
Grad-CAM computed on the crop can be placed back onto the full image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from classification.config import GateConfig


@dataclass(frozen=True)
class Box:
    """A crop of the image: rows ``top:bottom``, columns ``left:right``."""

    top: int
    bottom: int
    left: int
    right: int


def lung_box(mask: np.ndarray, margin_fraction: float) -> Box:
    """Bounding box of the mask plus a margin, clipped to the image; whole image if empty."""
    h, w = mask.shape
    rows, cols = np.any(mask, axis=1), np.any(mask, axis=0)
    if not rows.any():
        return Box(0, h, 0, w)
    top, bottom = np.argmax(rows), h - np.argmax(rows[::-1])
    left, right = np.argmax(cols), w - np.argmax(cols[::-1])
    m = int(round(margin_fraction * max(h, w)))
    return Box(max(0, top - m), min(h, bottom + m), max(0, left - m), min(w, right + m))


def grow(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow a bool mask by ``radius`` pixels (a disc); a negative radius shrinks it."""
    if radius == 0:
        return mask.astype(bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(radius) + 1,) * 2)
    morph = cv2.dilate if radius > 0 else cv2.erode
    return morph(mask.astype(np.uint8), kernel).astype(bool)


def dilate(mask: np.ndarray, fraction: float) -> np.ndarray:
    """Grow a bool mask by ``fraction`` of the image's longer side."""
    return grow(mask, int(round(fraction * max(mask.shape))))


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


def gate(
    image: np.ndarray,
    mask: np.ndarray | None,
    config: GateConfig,
    shift: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> tuple[np.ndarray, Box]:
    """One grey uint8 image (and its lung mask, for ``masked``) -> (S, S, 1) float32 input.

    Values are standardized over the kept pixels; gated-out pixels are exactly 0.
    Gated-out pixels are replaced at the image's own resolution, before resizing: a
    resize first would blend a marker lying against the lung border into the kept
    rim. They take the mean of the kept pixels, which standardizes to the same 0 as
    the gated-out area, so the resize draws no dark rim along the mask's outline
    (that rim would hand the classifier the mask's shape as its strongest edge). So
    the input is a function of the pixels under the mask alone, whatever is burned
    in around them.

    ``shift`` moves the sides of a masked crop (training only): the U-Net's box moves
    by a few pixels when a mark touches a lung, which rescales the whole input.
    """
    h, w = image.shape
    if config.input == "raw":
        box, keep = Box(0, h, 0, w), np.ones((h, w), bool)
    else:
        if mask is None:
            raise ValueError("masked input needs a lung mask")
        keep = dilate(mask, config.dilate_fraction)
        box = shift_box(lung_box(keep, config.margin_fraction), shift, image.shape)
        inside = image[keep]
        image = np.where(keep, image, inside.mean() if inside.size else 0.0)
    crop = image[box.top : box.bottom, box.left : box.right].astype(np.float32)
    keep = keep[box.top : box.bottom, box.left : box.right]
    size = (config.input_size, config.input_size)
    crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    keep = cv2.resize(keep.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    values = crop[keep] if keep.any() else crop.ravel()
    x = (crop - values.mean()) / max(float(values.std()), 1.0)
    x[~keep] = 0.0
    return x[..., None], box


def to_image(cam: np.ndarray, box: Box, shape: tuple[int, int]) -> np.ndarray:
    """Place a crop-sized map back onto a zero canvas of the full image's (H, W)."""
    canvas = np.zeros(shape, np.float32)
    size = (box.right - box.left, box.bottom - box.top)
    canvas[box.top : box.bottom, box.left : box.right] = cv2.resize(
        cam.astype(np.float32), size, interpolation=cv2.INTER_LINEAR
    )
    return canvas
