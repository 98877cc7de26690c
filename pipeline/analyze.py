"""The whole two-stage pipeline behind one call: ``Pipeline.analyze(image) -> Result``.

Find the lungs (``LungFinder``: marks painted over, U-Net, repaint, carve), refuse
images without plausible lungs, classify the gated image and explain the answer with
Grad-CAM, and score how much of that explanation lies on the lungs. Models load once
per ``Pipeline``; ``analyze_batch`` shares forward passes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from lunggate.classification.attention import (
    DEFAULT_ATTENTION_THRESHOLD,
    check_threshold,
    flag_threshold,
    in_lung_score,
    is_flagged,
    resolution_ceiling,
)
from lunggate.classification.classifier import LungClassifier
from lunggate.classification.familiarity import energy
from lunggate.classification.interface import Classifier
from lunggate.classification.user_model import UserClassifier
from lunggate.core import __version__, modelfile
from lunggate.core.errors import LunggateError
from lunggate.core.film_format import to_shape
from lunggate.core.paths import CLASSIFIER_WEIGHTS, SEGMENTER_WEIGHTS
from lunggate.pipeline.result import (
    OUTSIDE_LUNGS,
    Attention,
    Familiarity,
    Lung,
    MarkRemoval,
    ModelInfo,
    Models,
    Plausibility,
    Result,
)
from lunggate.segmentation.config import MarkRemovalConfig
from lunggate.segmentation.finder import Found, LungFinder

T = TypeVar("T")


@dataclass(frozen=True)
class PipelineConfig:
    """Which weights to load and when to flag a prediction."""

    segmenter_weights: Path = SEGMENTER_WEIGHTS
    classifier_weights: Path = CLASSIFIER_WEIGHTS["masked"]
    attention_threshold: float | None = DEFAULT_ATTENTION_THRESHOLD
    """A fixed in-lung share, or ``None`` for chance level (the image's lung area fraction)."""
    mark_removal: MarkRemovalConfig = MarkRemovalConfig()
    user_model: Path | None = None
    """A user's Keras classifier to audit in place of ``classifier_weights``."""
    user_model_config: Path | None = None
    """Its class names and preprocessing (``UserModelConfig``), required with it."""
    threads: int | None = None
    """CPU threads each network runs on (None: all the machine's cores). The Ray engine
    gives each actor one per CPU it reserves."""


class Pipeline:
    """Lung finder + classifier + bias check, loaded once and safe to share between threads.

    Reads as its stages run: decode (the caller's), find the lungs, classify and
    explain, score the explanation against the lungs.
    """

    def __init__(
        self,
        finder: LungFinder,
        classifier: Classifier,
        attention_threshold: float | None = DEFAULT_ATTENTION_THRESHOLD,
    ) -> None:
        check_threshold(attention_threshold)
        self.finder = finder
        self.classifier = classifier
        self.attention_threshold = attention_threshold
        segmenter = finder.segmenter
        self.models = Models(
            lunggate=__version__,
            segmenter=ModelInfo(
                name=f"unet_{segmenter.config.encoder}_{segmenter.config.input_size}",
                sha256=segmenter.weights_sha256,
                runtime=segmenter.runtime,
            ),
            classifier=ModelInfo(
                name=classifier.name,
                sha256=classifier.weights_sha256,
                runtime=classifier.runtime,
                temperature=classifier.temperature,
            ),
            masked=classifier.masked,
            classes=list(classifier.class_names),
        )

    @classmethod
    def load(cls, config: PipelineConfig = PipelineConfig()) -> Pipeline:
        """Both models, after checking both files: a damaged second file is reported
        before the first is compiled for this CPU, not after."""
        if config.user_model is not None and config.user_model_config is None:
            raise LunggateError(
                "--model needs --model-config: a TOML file with the model's class_names "
                "(and, when its input layer does not say, input_size, channels; see the README)"
            )
        ours = config.user_model is None
        for path in (config.segmenter_weights, *([config.classifier_weights] if ours else [])):
            modelfile.read_meta(path)
            modelfile.load(path)
        classifier: Classifier = (
            LungClassifier.load(config.classifier_weights, config.threads)
            if ours
            else UserClassifier.load(config.user_model, config.user_model_config)
        )
        return cls(
            LungFinder.load(config.segmenter_weights, config.mark_removal, config.threads),
            classifier,
            config.attention_threshold,
        )

    def analyze(self, image: np.ndarray, guided: bool = False) -> Result:
        """Run the pipeline on one 2-D uint8 grey image."""
        return self.analyze_batch([image], guided)[0]

    def analyze_some(
        self, items: Sequence[np.ndarray | T], guided: bool = False
    ) -> list[Result | T]:
        """``analyze_batch`` on the images among ``items``, as one batch; anything else
        (a caller's reason a file could not be decoded) stays in its place."""
        images = [x for x in items if isinstance(x, np.ndarray)]
        results = iter(self.analyze_batch(images, guided) if images else [])
        return [next(results) if isinstance(x, np.ndarray) else x for x in items]

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
        found = self.finder.find(images)
        results = [self._found(f) for f in found]
        accepted = [k for k, f in enumerate(found) if f.lungs.quality.ok]
        if accepted:
            self._classify([results[k] for k in accepted], [found[k] for k in accepted], guided)
        for r, image in zip(results, images, strict=True):
            # Found and scored on the corpus-format film; shown on the film as sent.
            r.attach(
                **{
                    kind: to_shape(picture, image.shape)
                    for kind, picture in (("mask", r.mask), ("cam", r.cam), ("guided", r.guided))
                    if picture is not None
                }
            )
        return results

    def _classify(self, results: list[Result], found: list[Found], guided: bool) -> None:
        """Classify and explain films whose lungs were accepted, filling in their results."""
        cleaned = [f.image for f in found]
        masks = [f.lungs.mask for f in found]
        start = time.perf_counter()
        explained = self.classifier.explain(cleaned, masks)
        cls_ms = (time.perf_counter() - start) * 1000 / len(found)
        names = self.classifier.class_names
        for r, e in zip(results, explained, strict=True):
            score = in_lung_score(e.cam, r.mask)
            threshold = flag_threshold(self.attention_threshold, r.lung.area_fraction)
            r.label = names[e.class_index]
            r.probabilities = {
                c: round(float(p), 6) for c, p in zip(names, e.probabilities, strict=True)
            }
            r.attach(cam=e.cam)
            area = r.lung.area_fraction
            r.attention = Attention(
                in_lung=None if math.isnan(score) else round(score, 4),
                lung_area_fraction=area,
                lift=None if math.isnan(score) or area == 0 else round(score / area, 3),
                ceiling=round(resolution_ceiling(r.mask, e.box, self.classifier.cam_grid), 4),
                flag=OUTSIDE_LUNGS if is_flagged(score, threshold) else None,
                threshold=round(threshold, 4),
            )
            r.familiarity = self._familiarity(e.logits)
            r.timings_ms["classification_gradcam"] = round(cls_ms, 2)
        if guided:
            start = time.perf_counter()
            maps = self.classifier.guided_gradcam(cleaned, masks, explained)
            guided_ms = (time.perf_counter() - start) * 1000 / len(found)
            for r, guided_map in zip(results, maps, strict=True):
                r.attach(guided=guided_map)
                r.timings_ms["guided_gradcam"] = round(guided_ms, 2)

    def _familiarity(self, logits: np.ndarray) -> Familiarity | None:
        """How close the film is to the training films (``classification.familiarity``),
        where the classifier has a threshold for it."""
        threshold = self.classifier.familiarity_threshold
        if threshold is None:
            return None
        score = float(energy(logits[None], self.classifier.temperature)[0])
        return Familiarity(
            score=round(score, 4), threshold=round(threshold, 4), unfamiliar=score < threshold
        )

    def _found(self, seen: Found) -> Result:
        """The result as far as the lung finder's answer goes: rejected, or waiting for
        the classifier."""
        q = seen.lungs.quality
        p = q.plausibility
        reason = None
        if not q.ok:
            # An image judged not to be a chest X-ray says so; a bad mask says why.
            reason = q.reason if p is not None else f"no plausible lungs: {q.reason}"
        result = Result(
            status="ok" if q.ok else "rejected",
            reason=reason,
            mark_removal=MarkRemoval(
                enabled=self.finder.mark_removal.enabled,
                removed_fraction=round(float(seen.marked.mean()), 4),
                segmented_twice=seen.first is not None,
                carved_lung_fraction=round(seen.carved_fraction, 4),
            ),
            lung=Lung(
                area_fraction=round(q.area_fraction, 4),
                components=q.components,
                ok=q.ok,
                plausibility=None
                if p is None
                else Plausibility(
                    confidence=round(p.confidence, 4),
                    texture=round(p.texture, 3),
                    polarity=round(p.polarity, 4),
                    ok=p.ok,
                ),
            ),
            models=self.models,
            timings_ms=dict(seen.timings_ms),
        )
        result.attach(mask=seen.lungs.mask)
        return result
