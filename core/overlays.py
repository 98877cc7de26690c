"""Drawing helpers for the figures and overlays every stage writes."""

from __future__ import annotations

import cv2
import numpy as np

GREEN = (0, 200, 0)
RED = (230, 40, 40)
YELLOW = (255, 220, 0)


def to_rgb(gray: np.ndarray) -> np.ndarray:
    """A 2-D uint8 image as (H, W, 3) RGB."""
    return np.repeat(gray[..., None], 3, axis=-1)


def draw_outline(
    rgb: np.ndarray,
    mask: np.ndarray,
    color: tuple[int, int, int] = YELLOW,
    thickness: int | None = None,
) -> np.ndarray:
    """A copy of ``rgb`` with the outline of a bool mask drawn on it.

    The line width scales with the image (1 px per 256 px of the shorter side).
    """
    if thickness is None:
        thickness = max(1, min(rgb.shape[:2]) // 256)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = np.ascontiguousarray(rgb).copy()
    cv2.drawContours(out, contours, -1, color, thickness)
    return out


def write_png(path, rgb_or_gray: np.ndarray) -> None:
    """Write an RGB or grey uint8 array as PNG (OpenCV wants BGR)."""
    image = rgb_or_gray if rgb_or_gray.ndim == 2 else cv2.cvtColor(rgb_or_gray, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")


def heatmap_overlay(gray: np.ndarray, cam: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    """A [0, 1] map as a JET colour map blended over a grey image; ``alpha`` is the map's weight."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within [0, 1], got {alpha}")
    heat = cv2.applyColorMap(np.uint8(np.clip(cam, 0, 1) * 255), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(heat, alpha, to_rgb(gray), 1.0 - alpha, 0.0)
