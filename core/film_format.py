"""The format lunggate's networks learned from, and the way back to a user's film.

cxr4's films, and cxr-ext's, were made 256x256 with area interpolation, the aspect
squashed (their READMEs). A film at any other size shows the U-Net, the mark removal
and the classifier another scale: grain, edges, mark sizes and the mask's feathering all
change in pixels. Every film is brought to that format before the lungs are found
(``LungFinder.find``), and the maps of a result are taken back to the film's own size
for the user. Without it, the test split's films merely enlarged twofold (bicubic) were
called differently one time in five (``docs/experiments.md``, "A film's size").
"""

from __future__ import annotations

import cv2
import numpy as np

CORPUS_SIDE = 256
"""Side of the square films the networks were trained on."""


def to_corpus_format(image: np.ndarray) -> np.ndarray:
    """A 2-D grey image as cxr4's films were made: ``CORPUS_SIDE`` square, area-resized."""
    if image.shape == (CORPUS_SIDE, CORPUS_SIDE):
        return image
    return cv2.resize(image, (CORPUS_SIDE, CORPUS_SIDE), interpolation=cv2.INTER_AREA)


def to_shape(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A map made on the corpus-format film, resized to a film of ``shape`` (H, W):
    linear for a float map, and for a bool mask linear then halved, so its outline
    stays smooth rather than stepped."""
    if values.shape == tuple(shape[:2]):
        return values
    size = (shape[1], shape[0])
    resized = cv2.resize(values.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    return resized >= 0.5 if values.dtype == bool else resized
