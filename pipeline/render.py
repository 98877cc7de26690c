"""Pictures of a result: lung outline, Grad-CAM (and Guided Grad-CAM) overlays, as PNG."""

from __future__ import annotations

import cv2
import numpy as np

from lunggate.core.overlays import draw_outline, heatmap_overlay, to_rgb
from lunggate.pipeline.analyze import Result


def overlays(image: np.ndarray, result: Result, alpha: float = 0.4) -> dict[str, np.ndarray]:
    """``lungs`` (outline on the X-ray) and, when classified, ``gradcam`` (map + outline),
    and ``guided_gradcam`` when the result carries one."""
    pictures = {"lungs": draw_outline(to_rgb(image), result.mask)}
    for kind, heat in (("gradcam", result.cam), ("guided_gradcam", result.guided)):
        if heat is not None:
            pictures[kind] = draw_outline(heatmap_overlay(image, heat, alpha), result.mask)
    return pictures


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError("PNG encoding failed")
    return buffer.tobytes()
