"""Typed configuration of the segmentation stage."""

from __future__ import annotations

import hashlib
import json
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
    min_confidence: float = 0.92
    """The U-Net's mean certainty below which an image is not a film it knows
    (``plausibility``; 2 of 719 validation X-rays fall below it)."""
    max_texture: float = 10.0
    """Fine detail (grey levels) above which an image is not a radiograph (validation
    X-rays reach 8.3)."""
    max_polarity: float = 0.0
    """Lungs brighter than their surroundings by more than this: an inverted film
    (validation X-rays reach -0.025)."""


@dataclass(frozen=True)
class MarkRemovalConfig:
    """Which pixels count as a burned-in mark, and how it is painted over.

    Sizes are fractions of the image's longer side so they mean the same at 256 px
    and at a detector's 3,000 px.
    """

    enabled: bool = True
    threshold: int = 230
    """Grey level (uint8) from which a pixel may belong to a mark."""
    max_area_fraction: float = 0.03
    """Largest mark component, as a share of the image's pixels (a 44 px square at 256)."""
    pad_fraction: float = 0.008
    """Grow each mark by this much (2 px at 256): anti-aliased edges fall below
    the threshold but still carry the mark's outline."""
    inpaint_fraction: float = 0.012
    """Neighbourhood the inpainting draws on (3 px at 256)."""
    repaint: bool = True
    """Segment twice: the inpainting fills a mark lying against a lung partly from
    the lung, and the U-Net grows the lung into that fill. Once the lungs are found,
    the mark's pixels beyond them are painted again from the body alone, and the
    U-Net looks again (``segmentation.find``)."""
    inset_fraction: float = 0.004
    """Marked pixels this far inside the first mask's border count as beyond the
    lungs too (1 px at 256): the first pass has already grown into the fill."""
    carve: bool = True
    """Leave the marks' own pixels out of the lung mask (``burnin.carve_marks``): where a
    mark was, the U-Net's boundary answers to the inpainting, and a gate that kept the
    fill would hand the classifier pixels the removal invented."""
    carve_rim_fraction: float = 0.004
    """The painted-over region less a rim this wide is carved (1 px at 256, the outer
    half of the pad): the rim's pixels may be lung the mark only lay against."""

    def tag(self) -> str:
        """Short fingerprint, so cached masks of cleaned images name their settings."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class SegTrainConfig:
    """How ``lunggate lab train-seg`` trains."""

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
    mark_removal: MarkRemovalConfig = field(default_factory=MarkRemovalConfig)
    """Mark removal applied to training and validation images after augmentation,
    as serving applies it before the U-Net: the U-Net learns on what it will see."""
