"""Typed configuration of the classification stage; the defaults are what ships.

The shipped classifiers' recipes (``recipes/classifier_*.toml``) name only what
differs from these defaults: the raw twin's input kind.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from lunggate.core.errors import LunggateError

InputKind = Literal["masked", "raw", "lungs_hidden"]
Contrast = Literal["none", "clahe"]


@dataclass(frozen=True)
class GateConfig:
    """How an X-ray becomes classifier input.

    ``masked``: pixels outside the U-Net lung mask take the lungs' mean grey, and the
    lungs' bounding box (plus ``margin_fraction``) is cropped; cropping also removes the
    body-size cue that separates children from adults. The mask itself is kept, not
    a band around it: a band let marks burned in next to the lungs reach the
    classifier, which ``lunggate compare`` measures as the gate-leak flip rate.
    ``raw``: the whole image, for comparison. ``lungs_hidden``: the whole image with
    the lungs filled, for the control that measures how much of the label the data
    leaks outside the lungs.
    """

    input: InputKind = "masked"
    input_size: int = 224
    """224 px gives the explained feature map 7x7 cells (the backbone's stride is 32)."""
    margin_fraction: float = 0.04
    box_trim: float = 0.002
    """Share of mask pixels left beyond each side of the crop (``gating.lung_box``), so a
    thin spur the U-Net draws along a wire does not move the crop."""
    feather_px: int = 6
    """Ramp the mask's weight from 0 to 1 over this many pixels inside its border, so a
    boundary moving by a pixel changes the input by a fraction of the lungs' contrast."""
    contrast: Contrast = "clahe"
    """``clahe``: stretch the kept pixels' 1st-99th percentiles to full range, then
    contrast-limited adaptive histogram equalization, on the filled crop (so still a
    function of the pixels under the mask alone)."""

    @property
    def uses_masks(self) -> bool:
        """Whether the input is made from a lung mask (all kinds but ``raw``)."""
        return self.input != "raw"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture of the classifier: a registered backbone, pooled, then a linear head."""

    backbone: str = "efficientnet_lite0"
    gate: GateConfig = field(default_factory=GateConfig)
    dropout: float = 0.3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifierConfig:
        from lunggate.core.recipes import build

        return build(cls, data)


@dataclass(frozen=True)
class AnswerConfig:
    """How a trained classifier answers: inference settings, chosen on validation after
    training (``lunggate lab calibrate``), kept in the sidecar's ``answer`` apart from
    the training config."""

    temperature: float = 1.0
    """Calibration temperature of the answer's logits (training fits it to one pass)."""
    mask_variants_px: tuple[int, ...] = (-4, -2, 0, 2, 4)
    """Masked input: a near tie (``one_pass_margin``) answers with the mean logits over
    the lung mask grown by each of these pixels (negative: shrunk). The U-Net's boundary
    moves by a few pixels with anything burned in against a lung; an answer averaged
    over such moves changes less when it does. The mask as found (0) is always one: the
    Grad-CAM explains it. Ignored by raw-input models."""
    one_pass_margin: float = 2.0
    """Masked input: when the pass on the mask as found puts its two highest logits at
    least this far apart, that pass is the answer and the other variants are not run;
    only nearer ties are averaged. The mask variants steady near ties (a boundary moved
    by a pixel tips them over); a clear answer does not move, and skipping their passes
    is most of the pipeline's speed. 0: always one pass; infinity: always all variants."""
    familiarity_threshold: float | None = None
    """Energy score of the answer below which a film is unlike the training data
    (``familiarity.fit_threshold`` on the validation split, with the temperature);
    None: not fitted, and results carry no familiarity."""

    def __post_init__(self) -> None:
        if 0 not in self.mask_variants_px:
            raise LunggateError(
                f"mask variants {list(self.mask_variants_px)} must include 0 (the mask as "
                "found, which the Grad-CAM explains)"
            )
        if not self.one_pass_margin >= 0:
            raise LunggateError(f"one-pass margin must be 0 or more, got {self.one_pass_margin}")
        if not self.temperature > 0:
            raise LunggateError(f"temperature must be positive, got {self.temperature}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerConfig:
        from lunggate.core.recipes import build

        return build(cls, data)


@dataclass(frozen=True)
class ClsTrainConfig:
    """How ``lunggate lab train-cls`` trains: a warm-up of the head, then fine-tuning."""

    model: ClassifierConfig = field(default_factory=ClassifierConfig)
    epochs: int = 12
    """Fine-tuning epochs after the warm-up, over which the learning rate decays (cosine)."""
    batch_size: int = 32
    learning_rate: float = 3e-4
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
    """Continue from these weights (same architecture and gate) instead of ``pretrained``."""
    beat_init_weights: bool = True
    """A continued run keeps an epoch only when it beats ``init_weights`` on validation.
    False for a continuation that trains for what the validation split cannot show
    (films from other hospitals): it keeps the best of its own epochs."""
    pretrained: str | None = "imagenet"
    """The backbone's starting weights: ``imagenet`` (for ``backbones.PRETRAINED``), a
    local file, or None for random initialisation."""
    warmup_epochs: int = 1
    """Epochs that train the head alone on the frozen backbone, at ``warmup_learning_rate``:
    a random head's first gradients would otherwise wreck the pretrained features."""
    warmup_learning_rate: float = 1e-3
    trainable_from: str | None = "block3_expand"
    """After the warm-up, fine-tune this layer and all above it; the layers below keep
    their starting weights and batch-norm statistics (None: fine-tune everything).
    The early stages hold generic edge and texture filters, and freezing them halves
    the cost of a step on this CPU."""
    marks: float = 0.3
    """Share of training images given random burned-in marks, over the lungs too."""
    mixstyle: float = 0.0
    """Probability per batch that MixStyle (``classification.mixstyle``) mixes the channel
    statistics of training images at the backbone's style points; 0: never."""
