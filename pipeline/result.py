"""What lunggate says about one image: the one typed result.

The JSON file ``predict`` writes, the API's response, the audit's rows and CSV
columns and the one-line summary are all derived from ``Result``: a field added here
appears in each of them (the API's OpenAPI schema too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, PrivateAttr

from lunggate.core import CLASS_NAMES

OUTSIDE_LUNGS = "outside_lungs"


class Plausibility(BaseModel):
    confidence: float = Field(description="the U-Net's mean certainty |2p - 1| (low: not a film)")
    texture: float = Field(description="mean fine detail in grey levels (high: noise, patterns)")
    polarity: float = Field(description="lungs' grey less their surroundings' (> 0: inverted)")
    ok: bool = Field(description="whether the image looks like a frontal chest X-ray")


class Lung(BaseModel):
    area_fraction: float = Field(description="share of the image the lung mask covers")
    components: int = Field(description="lung components found (2 expected)")
    ok: bool = Field(description="whether the mask looks like two plausible lungs")
    plausibility: Plausibility | None = Field(
        None, description="is it a chest X-ray? judged where the mask passed"
    )


class MarkRemoval(BaseModel):
    enabled: bool = Field(description="whether burned-in marks were painted over")
    removed_fraction: float = Field(
        description="share of the image inpainted as burned-in text, markers or wires "
        "before segmentation and classification"
    )
    segmented_twice: bool = Field(
        description="whether a mark beyond the lungs was painted again from the body "
        "alone and the lungs found a second time"
    )
    carved_lung_fraction: float = Field(
        description="share of the U-Net's lung pixels carved out of the mask because a "
        "burned-in mark lay on them: neither the classifier nor the in-lung score sees them"
    )


class Attention(BaseModel):
    """How much of the answer's Grad-CAM lies on the lungs, beside what chance and the
    map's resolution allow."""

    in_lung: float | None = Field(
        description="relevance mass accuracy (Quantus' name): the share of the positive "
        "Grad-CAM mass inside the lung mask; null if the map is empty"
    )
    lung_area_fraction: float = Field(description="chance: what a uniform map would score")
    lift: float | None = Field(
        description="in_lung / lung_area_fraction: how many times chance (1: no better)"
    )
    ceiling: float = Field(
        description="the best in_lung a map at the explained grid can reach on this mask: "
        "the lung mask itself averaged onto that grid"
    )
    flag: str | None = Field(description="'outside_lungs' when in_lung is below the threshold")
    threshold: float = Field(
        description="in-lung score below which the flag is set; by default the chance level, "
        "i.e. this image's lung_area_fraction (LUNGGATE_ATTENTION_THRESHOLD fixes it)"
    )


class Familiarity(BaseModel):
    """How close the film is, as the classifier sees it, to the films it learned from."""

    score: float = Field(
        description="higher is closer to the training films (see the README); comparable "
        "only between results of the same weights"
    )
    threshold: float = Field(
        description="the score below which a film is unfamiliar: about 5 % of the "
        "validation split's films fall below it"
    )
    unfamiliar: bool = Field(
        description="score < threshold: unlike the films lunggate learned from, so its "
        "answer deserves less trust (a familiar film can still be misread)"
    )


class ModelInfo(BaseModel):
    name: str
    sha256: str | None = Field(description="SHA-256 of the weights file")
    runtime: str = Field(description="'litert' (compiled for this CPU) or 'tensorflow'")
    temperature: float | None = Field(None, description="calibration temperature")


class Models(BaseModel):
    lunggate: str = Field(description="lunggate's version")
    segmenter: ModelInfo
    classifier: ModelInfo
    masked: bool = Field(description="whether the classifier sees the lungs only")
    classes: list[str]


class Result(BaseModel):
    """One image's answer. A rejected image has a ``reason`` and no label,
    probabilities or attention.

    The maps ride along outside the data (``mask``, ``cam``, ``guided``, at the image's
    own size) for the overlays; they are not part of any serialized form.
    """

    status: Literal["ok", "rejected"] = Field(
        description="'ok', or 'rejected' when no plausible lungs were found"
    )
    reason: str | None = None
    label: str | None = None
    probabilities: dict[str, float] | None = Field(None, description="calibrated, class -> p")
    mark_removal: MarkRemoval
    lung: Lung
    attention: Attention | None = None
    familiarity: Familiarity | None = Field(
        None, description="null for a rejected image or a classifier without statistics"
    )
    models: Models
    timings_ms: dict[str, float]

    _mask: np.ndarray = PrivateAttr()
    _cam: np.ndarray | None = PrivateAttr(None)
    _guided: np.ndarray | None = PrivateAttr(None)

    @property
    def mask(self) -> np.ndarray:
        """Bool lung mask the classifier gated with and the score was taken on, at the
        film's size as sent (found on its corpus-format copy, ``core.film_format``)."""
        return self._mask

    @property
    def cam(self) -> np.ndarray | None:
        """[0, 1] Grad-CAM of the answer's class."""
        return self._cam

    @property
    def guided(self) -> np.ndarray | None:
        """[0, 1] Guided Grad-CAM, on request."""
        return self._guided

    def attach(
        self,
        mask: np.ndarray | None = None,
        cam: np.ndarray | None = None,
        guided: np.ndarray | None = None,
    ) -> None:
        """Set the maps that are given."""
        if mask is not None:
            self._mask = mask
        if cam is not None:
            self._cam = cam
        if guided is not None:
            self._guided = guided

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result without the maps."""
        return self.model_dump(mode="json")

    def summary(self, name: str) -> str:
        """One human line."""
        if self.status != "ok":
            return f"{name}: REJECTED, {self.reason}"
        att = self.attention
        p = (self.probabilities or {})[self.label or ""]
        if att is None or att.in_lung is None:
            return f"{name}: {self.label} (p={p:.2f}), no attention to score"
        flag = f" FLAG {att.flag}" if att.flag else ""
        unlike = (
            ", unlike the training data" if self.familiarity and self.familiarity.unfamiliar else ""
        )
        return (
            f"{name}: {self.label} (p={p:.2f}), in-lung attention {att.in_lung:.2f} = "
            f"{att.lift:.1f}x chance {att.lung_area_fraction:.2f}, ceiling {att.ceiling:.2f}"
            f"{unlike}{flag}"
        )


TABLE_SKIPS = ("models", "timings_ms")
"""Parts of a result that are the same for every row (models) or vary in shape (timings)."""


def _columns(model: type[BaseModel], classes: Sequence[str], prefix: str = "") -> list[str]:
    out = []
    for name, info in model.model_fields.items():
        if not prefix and name in TABLE_SKIPS:
            continue
        kinds = getattr(info.annotation, "__args__", (info.annotation,))
        kind = next((t for t in kinds if t is not type(None)), info.annotation)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            out += _columns(kind, classes, f"{prefix}{name}.")
        elif name == "probabilities":
            out += [f"{prefix}{name}.{c}" for c in classes]
        else:
            out.append(prefix + name)
    return out


def table_columns(classes: Sequence[str] = CLASS_NAMES) -> list[str]:
    """A result as one table row: every field, nested names joined by dots, one
    probability column per class of the model that answered."""
    return _columns(Result, classes)


TABLE_COLUMNS: list[str] = table_columns()
"""The table columns of lunggate's own models' results."""


def table_row(payload: dict[str, Any], columns: Sequence[str] = TABLE_COLUMNS) -> dict[str, Any]:
    """``Result.to_dict()`` (or part of it) flattened onto ``columns``; blanks for
    what it lacks (a rejected image's attention, an unreadable file's everything)."""
    flat: dict[str, Any] = {}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{prefix}{k}.")
        else:
            flat[prefix[:-1]] = value

    walk(payload, "")
    return {c: "" if flat.get(c) is None else flat[c] for c in columns}
