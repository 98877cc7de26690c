"""The trained U-Net behind one object: images in, lung masks at their own size out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from lunggate.core import modelfile
from lunggate.core.backend import keras
from lunggate.core.paths import SEGMENTER_WEIGHTS
from lunggate.core.runtime import serving_forward
from lunggate.segmentation.config import QualityConfig, UNetConfig
from lunggate.segmentation.model import build_unet, to_input
from lunggate.segmentation.plausibility import judge
from lunggate.segmentation.postprocess import LungQuality, assess, clean_mask


@dataclass(frozen=True)
class LungSegmentation:
    """The lungs found on one image: a bool mask of the image's size and its quality."""

    mask: np.ndarray
    quality: LungQuality


class UNetSegmenter:
    """Segments lung fields with a U-Net; thread-safe once built.

    Args:
        model: the Keras U-Net (its weights already set).
        config: the architecture it was built with (gives the input size).
        quality: thresholds for the plausibility check.
        weights_sha256: identity of the weights file, cited in reports.
        batch_size: images per forward pass.
    """

    name = "unet"

    def __init__(
        self,
        model: keras.Model,
        config: UNetConfig,
        quality: QualityConfig = QualityConfig(),
        weights_sha256: str | None = None,
        batch_size: int = 8,
        threads: int | None = None,
    ) -> None:
        self.model = model
        self.config = config
        self.quality = quality
        self.weights_sha256 = weights_sha256
        self.batch_size = batch_size
        self._forward = serving_forward(
            model, f"unet-{weights_sha256[:16]}" if weights_sha256 else None, threads
        )

    @property
    def runtime(self) -> str:
        """What runs the network: ``litert`` (saved weights) or ``tensorflow``."""
        return self._forward.runtime

    @classmethod
    def load(
        cls,
        path: str | Path = SEGMENTER_WEIGHTS,
        quality: QualityConfig = QualityConfig(),
        threads: int | None = None,
    ) -> UNetSegmenter:
        """Build the U-Net its sidecar describes and load the weights file; ``threads``:
        its interpreter's CPU threads (None: all the machine's)."""

        def build(described: dict) -> tuple[UNetConfig, keras.Model]:
            config = UNetConfig.from_dict(described["unet"])
            return config, build_unet(config)

        _, config, model = modelfile.restore(path, build)
        return cls(model, config, quality, modelfile.sha256(path), threads=threads)

    def predict_proba(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Lung probability maps, each resized back to its image's (H, W)."""
        probs: list[np.ndarray] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            (out,) = self._forward(to_input(chunk, self.config.input_size))
            for image, prob in zip(chunk, out[..., 0], strict=True):
                h, w = image.shape[:2]
                probs.append(cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR))
        return probs

    def segment(self, images: Sequence[np.ndarray]) -> list[LungSegmentation]:
        """Post-processed lung masks with their quality figures.

        Args:
            images: 2-D uint8 grey images of any size.
        """
        results = []
        for image, prob in zip(images, self.predict_proba(images), strict=True):
            mask = clean_mask(prob, self.quality.threshold)
            quality = assess(mask, self.quality)
            if quality.ok:
                seen = judge(image, mask, prob, self.quality)
                quality = replace(quality, ok=seen.ok, reason=seen.reason, plausibility=seen)
            results.append(LungSegmentation(mask, quality))
        return results
