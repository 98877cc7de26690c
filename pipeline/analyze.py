"""The whole two-stage pipeline behind one call: ``Pipeline.analyze(image) -> Result``.

Paint over burned-in overlays (``segmentation.burnin``), segment the lungs, refuse
images without plausible lungs, classify the gated image, explain the prediction
with Grad-CAM and score how much of that explanation lies on the lungs. Models load
once per ``Pipeline``; ``analyze_batch`` shares forward passes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lunggate.classification.attention import (
    DEFAULT_ATTENTION_THRESHOLD,
    check_threshold,
    flag_threshold,
    in_lung_score,
    is_flagged,
)
from lunggate.classification.classifier import LungClassifier
from lunggate.core import CLASS_NAMES, __version__, modelfile
from lunggate.core.paths import CLASSIFIER_WEIGHTS, SEGMENTER_WEIGHTS
from lunggate.segmentation.burnin import remove_burn_in
from lunggate.segmentation.config import BurnInConfig
from lunggate.segmentation.find import find_lungs
from lunggate.segmentation.segmenter import UNetSegmenter

OUTSIDE_LUNGS = "outside_lungs"


@dataclass(frozen=True)
class PipelineConfig:
    """Which weights to load and when to flag a prediction."""

    segmenter_weights: Path = SEGMENTER_WEIGHTS
    classifier_weights: Path = CLASSIFIER_WEIGHTS["masked"]
    attention_threshold: float | None = DEFAULT_ATTENTION_THRESHOLD
    """A fixed in-lung share, or ``None`` for chance level (the image's lung area fraction)."""
    burn_in: BurnInConfig = BurnInConfig()


@dataclass
class Result:
    """What the pipeline says about one image.

    ``status`` is ``ok`` or ``rejected``; a rejected image has a ``reason`` and no
    label, probabilities or attention. ``mask`` (bool) and ``cam`` ([0, 1] float) are
    at the image's own size, and so is ``guided`` (Guided Grad-CAM, on request).
    ``burn_in`` says how much of the image was painted over as burned-in overlays
    before either stage saw it, and how much of the lungs was carved out of ``mask``
    because a mark lay on them.
    """

    status: str
    burn_in: dict[str, Any]
    lung: dict[str, Any]
    models: dict[str, Any]
    timings_ms: dict[str, float]
    mask: np.ndarray
    label: str | None = None
    probabilities: dict[str, float] | None = None
    attention: dict[str, Any] | None = None
    cam: np.ndarray | None = None
    guided: np.ndarray | None = None
    reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result without the arrays."""
        out = {
            "status": self.status,
            "reason": self.reason,
            "label": self.label,
            "probabilities": self.probabilities,
            "burn_in": self.burn_in,
            "lung": self.lung,
            "attention": self.attention,
            "models": self.models,
            "timings_ms": self.timings_ms,
        }
        out.update(self.extra)
        return out


class Pipeline:
    """Segmenter + classifier + bias check, loaded once and safe to share between threads."""

    def __init__(
        self,
        segmenter: UNetSegmenter,
        classifier: LungClassifier,
        attention_threshold: float | None = DEFAULT_ATTENTION_THRESHOLD,
        burn_in: BurnInConfig = BurnInConfig(),
    ) -> None:
        check_threshold(attention_threshold)
        self.segmenter = segmenter
        self.classifier = classifier
        self.attention_threshold = attention_threshold
        self.burn_in = burn_in
        self.models = {
            "lunggate": __version__,
            "segmenter": {
                "name": f"unet_{segmenter.config.encoder}_{segmenter.config.input_size}",
                "sha256": segmenter.weights_sha256,
                "runtime": segmenter.runtime,
            },
            "classifier": {
                "name": classifier.name,
                "sha256": classifier.weights_sha256,
                "temperature": classifier.temperature,
                "runtime": classifier.runtime,
            },
            "masked": classifier.masked,
            "classes": list(CLASS_NAMES),
        }

    @classmethod
    def load(cls, config: PipelineConfig = PipelineConfig()) -> Pipeline:
        """Both models, after checking both files: a damaged second file is reported
        before the first is compiled for this CPU, not after."""
        for path in (config.segmenter_weights, config.classifier_weights):
            modelfile.read_meta(path)
            modelfile.load(path)
        return cls(
            UNetSegmenter.load(config.segmenter_weights),
            LungClassifier.load(config.classifier_weights),
            config.attention_threshold,
            config.burn_in,
        )

    def analyze(self, image: np.ndarray, guided: bool = False) -> Result:
        """Run the pipeline on one 2-D uint8 grey image."""
        return self.analyze_batch([image], guided)[0]

    def analyze_batch(self, images: Sequence[np.ndarray], guided: bool = False) -> list[Result]:
        """Run the pipeline on many images, sharing forward passes.

        Timings are per image (the batch's stage time divided by its size). ``guided``
        adds each answer's Guided Grad-CAM (``Result.guided``), timed apart.
        """
        for k, image in enumerate(images):
            if image.ndim != 2 or image.dtype != np.uint8:
                raise ValueError(
                    f"image {k} must be 2-D uint8 grey, got {image.dtype} {image.shape}"
                )
        n = max(1, len(images))
        start = time.perf_counter()
        removed = [remove_burn_in(img, self.burn_in) for img in images]
        removal_ms = (time.perf_counter() - start) * 1000 / n
        start = time.perf_counter()
        lungs = find_lungs(self.segmenter, images, self.burn_in, removed)
        seg_ms = (time.perf_counter() - start) * 1000 / n
        cleaned = [f.image for f in lungs]
        found = [f.lungs for f in lungs]
        results: list[Result] = []
        accepted = [k for k, f in enumerate(found) if f.quality.ok]
        for seen in lungs:
            q = seen.lungs.quality
            p = q.plausibility
            reason = None
            if not q.ok:
                # An image judged not to be a chest X-ray says so; a bad mask says why.
                reason = q.reason if p is not None else f"no plausible lungs: {q.reason}"
            results.append(
                Result(
                    status="ok" if q.ok else "rejected",
                    reason=reason,
                    burn_in={
                        "enabled": self.burn_in.enabled,
                        "removed_fraction": round(float(seen.overlay.mean()), 4),
                        "segmented_twice": seen.first is not None,
                        "carved_lung_fraction": round(seen.carved_fraction, 4),
                    },
                    lung={
                        "area_fraction": round(q.area_fraction, 4),
                        "components": q.components,
                        "ok": q.ok,
                        "plausibility": None
                        if p is None
                        else {
                            "confidence": round(p.confidence, 4),
                            "texture": round(p.texture, 3),
                            "polarity": round(p.polarity, 4),
                            "ok": p.ok,
                        },
                    },
                    models=self.models,
                    timings_ms={
                        "burn_in_removal": round(removal_ms, 2),
                        "segmentation": round(seg_ms, 2),
                    },
                    mask=seen.lungs.mask,
                )
            )
        if not accepted:
            return results
        start = time.perf_counter()
        explained = self.classifier.explain(
            [cleaned[k] for k in accepted], [found[k].mask for k in accepted]
        )
        cls_ms = (time.perf_counter() - start) * 1000 / len(accepted)
        for k, e in zip(accepted, explained, strict=True):
            r = results[k]
            score = in_lung_score(e.cam, r.mask)
            threshold = flag_threshold(self.attention_threshold, r.lung["area_fraction"])
            flagged = is_flagged(score, threshold)
            r.label = CLASS_NAMES[e.class_index]
            r.probabilities = {
                c: round(float(p), 6) for c, p in zip(CLASS_NAMES, e.probabilities, strict=True)
            }
            r.cam = e.cam
            r.attention = {
                "in_lung": None if math.isnan(score) else round(score, 4),
                "lung_area_fraction": r.lung["area_fraction"],
                "flag": OUTSIDE_LUNGS if flagged else None,
                "threshold": round(threshold, 4),
            }
            r.timings_ms["classification_gradcam"] = round(cls_ms, 2)
        if guided:
            start = time.perf_counter()
            maps = self.classifier.guided_gradcam(
                [cleaned[k] for k in accepted], [found[k].mask for k in accepted], explained
            )
            guided_ms = (time.perf_counter() - start) * 1000 / len(accepted)
            for k, guided_map in zip(accepted, maps, strict=True):
                results[k].guided = guided_map
                results[k].timings_ms["guided_gradcam"] = round(guided_ms, 2)
        return results
