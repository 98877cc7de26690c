"""What the pipeline needs of a classifier: the common interface of lunggate's own
(``LungClassifier``) and a user's Keras model (``UserClassifier``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from lunggate.classification.gating import Box


@dataclass(frozen=True)
class Explained:
    """One image's prediction and its Grad-CAM at the image's own size."""

    logits: np.ndarray
    probabilities: np.ndarray
    class_index: int
    cam: np.ndarray
    box: Box
    """Where the classifier's input was cropped from."""
    pooled: np.ndarray | None = None
    """The pooled features the head read, from the same pass (None where a user's
    model does not expose them)."""


class Classifier(Protocol):
    """Classifies cleaned X-rays given their lung masks and explains each answer."""

    class_names: tuple[str, ...]
    weights_sha256: str | None
    cam_grid: tuple[int, int]
    """The explained feature map's grid, which bounds how sharp its map can be."""

    @property
    def name(self) -> str: ...

    @property
    def runtime(self) -> str: ...

    @property
    def temperature(self) -> float: ...

    @property
    def familiarity_threshold(self) -> float | None:
        """Energy score below which a film is unlike the training data (None: no
        threshold was fitted, and results carry no familiarity)."""
        ...

    @property
    def masked(self) -> bool:
        """Whether the classifier sees the lungs only."""
        ...

    def explain(
        self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None]
    ) -> list[Explained]:
        """Answers with the Grad-CAM of each answer's class at the image's size."""
        ...

    def guided_gradcam(
        self,
        images: Sequence[np.ndarray],
        masks: Sequence[np.ndarray | None],
        explained: Sequence[Explained],
    ) -> list[np.ndarray]:
        """Guided Grad-CAM of each explained answer at the image's size."""
        ...
