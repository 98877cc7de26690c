"""Typed configuration of the classification stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from lunggate.errors import LunggateError

InputKind = Literal["masked", "raw"]


@dataclass(frozen=True)
class GateConfig:
    """How an X-ray becomes classifier input.

    ``masked``: pixels outside the U-Net lung mask (optionally dilated by
    ``dilate_fraction`` of the image side) are zeroed and the lungs' bounding box (plus
    ``margin_fraction``) is cropped; cropping also removes the body-size cue that
    separates children from adults. The default keeps the mask itself: a 2 % band let
    artifacts burned in next to the lungs reach the classifier (and shift the input's
    standardization), which ``lunggate compare`` measures as the gate-leak flip rate.
    ``raw``: the whole image, for comparison.
    """

    input: InputKind = "masked"
    input_size: int = 160
    dilate_fraction: float = 0.0
    margin_fraction: float = 0.04
    box_trim: float = 0.0
    """Share of mask pixels left beyond each side of the crop (``gating.lung_box``)."""
    feather_px: int = 0
    """Ramp the mask's weight from 0 to 1 over this many pixels inside its border."""
    mask_variants_px: tuple[int, ...] = (0,)
    """Answer with the mean logits over the lung mask grown by each of these pixels
    (negative: shrunk). The U-Net's boundary moves by a few pixels with anything burned
    in against a lung; an answer averaged over such moves changes less when it does.
    The mask as found (0) is always one of them: the Grad-CAM explains it."""

    def __post_init__(self) -> None:
        if 0 not in self.mask_variants_px:
            raise LunggateError(
                f"mask variants {list(self.mask_variants_px)} must include 0 (the mask as "
                "found, which the Grad-CAM explains)"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture of the classifier: a registered backbone, pooled, then a linear head."""

    backbone: str = "mobilenetv2"
    gate: GateConfig = field(default_factory=GateConfig)
    dropout: float = 0.3
    members: int = 1
    """Networks of this architecture in one weights file whose logits are averaged:
    two differently trained networks rarely turn at the same small move of the mask."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifierConfig:
        gate = dict(data["gate"])
        gate["mask_variants_px"] = tuple(gate.get("mask_variants_px", (0,)))
        return cls(
            backbone=data["backbone"],
            gate=GateConfig(**gate),
            dropout=data["dropout"],
            members=int(data.get("members", 1)),
        )


@dataclass(frozen=True)
class ClsTrainConfig:
    """How ``lunggate train-cls`` trains."""

    model: ClassifierConfig = field(default_factory=ClassifierConfig)
    epochs: int = 25
    batch_size: int = 32
    learning_rate: float = 1e-3
    patience: int = 7
    seed: int = 11
    label_smoothing: float = 0.05
    max_train_images: int | None = None
    """Cap on training images, for smoke runs."""
    mask_jitter_px: int = 3
    """Masked input: grow or shrink each training mask by up to this many pixels."""
    mask_bites: int = 3
    """Masked input: then dent or bulge its border at up to this many points."""
    box_jitter_px: int = 8
    """Masked input: move each side of the lungs' crop by up to this many pixels."""
    init_weights: str | None = None
    """Continue from these weights (same architecture and gate) instead of random init."""
    marks: float = 0.3
    """Share of training images given random burned-in marks, over the lungs too."""
    consistency: float = 0.0
    """Masked input: weight of the penalty on two gates of one image answering apart
    (``train.paired_loss``); > 0 halves the distinct images per batch."""
    marked_twins: float = 0.0
    """Masked input, with consistency: share of pairs whose second view is the image
    with random marks burned in beyond its lungs, cleaned and segmented as the
    pipeline would (``train.marked_views``)."""

    def __post_init__(self) -> None:
        if self.consistency > 0 and self.batch_size % 2:
            raise LunggateError(f"consistency pairs need an even batch size, not {self.batch_size}")
        if self.marked_twins > 0 and (self.consistency <= 0 or self.model.gate.input != "masked"):
            raise LunggateError(
                "marked twins are the second view of consistency pairs of a masked model: "
                "they need --consistency > 0 and --input masked"
            )
        if not 0 <= self.marked_twins <= 1:
            raise LunggateError(f"marked twins is a share from 0 to 1, not {self.marked_twins}")
