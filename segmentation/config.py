"""Typed configuration of the segmentation stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class UNetConfig:
    """Architecture and input of the U-Net.

    128 px keeps a MobileNetV2 U-Net trainable on two CPU cores; upsampling its
    probabilities back to 256 px loses almost nothing (ground-truth masks resized
    to 128 and back agree with themselves at Dice 0.998).
    """

    encoder: str = "mobilenetv2"
    input_size: int = 128
    decoder_filters: tuple[int, ...] = (64, 32, 16, 8, 4)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UNetConfig:
        return cls(
            encoder=data["encoder"],
            input_size=int(data["input_size"]),
            decoder_filters=tuple(data["decoder_filters"]),
        )


@dataclass(frozen=True)
class QualityConfig:
    """When a mask counts as plausible lungs.

    In the training corpus the lung area fraction runs from 0.06 to 0.53 and every
    mask but one has exactly two components.
    """

    threshold: float = 0.5
    min_area_fraction: float = 0.05
    max_area_fraction: float = 0.65
    min_component_fraction: float = 0.01
    """A component smaller than this share of the image is not counted as a lung."""


@dataclass(frozen=True)
class SegTrainConfig:
    """How ``lunggate train-seg`` trains."""

    unet: UNetConfig = field(default_factory=UNetConfig)
    epochs: int = 25
    batch_size: int = 16
    learning_rate: float = 2e-3
    patience: int = 6
    seed: int = 7
    max_train_images: int | None = None
    """Cap on training images, for smoke runs."""
    init_weights: str | None = None
    """Start from these weights (same architecture) instead of random initialisation."""
    marks: float = 0.5
    """Share of training images given random burned-in marks (the mask stays)."""
