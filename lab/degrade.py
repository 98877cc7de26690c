"""What other imaging chains do to a film, for the chain test of ``lunggate compare``.

Films reach lunggate through chains it never saw: scanners and archives that store a
smaller image and enlarge it again, JPEG exports, global contrast equalisation. None
of them changes the disease on the film, so an answer that moves with them reads the
chain, not the lungs. Nor does the size a film is sent at: an archive's full-size
export of the same film must get the same answer. Each degradation is a fixed,
deterministic function of the grey image, so the test repeats bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Degradation = Callable[[np.ndarray], np.ndarray]


def resampled(side: int) -> Degradation:
    """Shrunk to ``side`` px (area averaging) and enlarged back (bilinear)."""

    def apply(image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        small = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)

    return apply


def enlarged(side: int) -> Degradation:
    """Enlarged to ``side`` px square (bicubic): the same film sent at a larger size."""

    def apply(image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC)

    return apply


def jpeg(quality: int) -> Degradation:
    """Saved as a JPEG of ``quality`` and read back."""

    def apply(image: np.ndarray) -> np.ndarray:
        _, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        return cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)

    return apply


DEGRADATIONS: dict[str, Degradation] = {
    "resampled to 96 px": resampled(96),
    "resampled to 128 px": resampled(128),
    "JPEG quality 50": jpeg(50),
    "JPEG quality 20": jpeg(20),
    "histogram equalised": cv2.equalizeHist,
    "enlarged to 512 px": enlarged(512),
    "enlarged to 1024 px": enlarged(1024),
}
"""The chain test's degradations, by the name its report gives them."""
