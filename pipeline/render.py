"""Pictures of a result: lung outline, Grad-CAM overlay, both as PNG bytes or files."""

from __future__ import annotations

import cv2
import numpy as np

from lunggate.overlays import draw_outline, heatmap_overlay, to_rgb
from pipeline.analyze import Result


def overlays(image: np.ndarray, result: Result, alpha: float = 0.4) -> dict[str, np.ndarray]:
    """``lungs`` (outline on the X-ray) and, when classified, ``gradcam`` (map + outline)."""
    pictures = {"lungs": draw_outline(to_rgb(image), result.mask)}
    if result.cam is not None:
        pictures["gradcam"] = draw_outline(heatmap_overlay(image, result.cam, alpha), result.mask)
    return pictures


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError("PNG encoding failed")
    return buffer.tobytes()
