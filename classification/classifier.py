"""The trained classifier behind one object: gating, calibrated probabilities, Grad-CAM."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from lunggate.classification.backbones import build_classifier
from lunggate.classification.calibration import softmax
from lunggate.classification.config import AnswerConfig, ClassifierConfig
from lunggate.classification.gating import Box, gate_batch, to_image
from lunggate.classification.gradcam import GuidedBackprop, guided_gradcam, pooled_linear_cam
from lunggate.classification.interface import Explained
from lunggate.core import CLASS_NAMES, modelfile
from lunggate.core.backend import keras
from lunggate.core.progress import chunks
from lunggate.core.runtime import serving_forward


class LungClassifier:
    """Four-class classifier on gated X-rays, thread-safe once built (a ``Classifier``).

    Args:
        model: Keras model from (N, S, S, 1) input to (N, 4) logits.
        config: architecture and gating it was built with.
        answer: how it answers: temperature and mask variants, fitted on validation.
        weights_sha256: identity of the weights file.
    """

    class_names: tuple[str, ...] = CLASS_NAMES

    def __init__(
        self,
        model: keras.Model,
        config: ClassifierConfig,
        answer: AnswerConfig = AnswerConfig(),
        weights_sha256: str | None = None,
        batch_size: int = 8,
        threads: int | None = None,
    ) -> None:
        self.model = model
        self.config = config
        self.answer = answer
        self.weights_sha256 = weights_sha256
        self.batch_size = batch_size
        # The network answers with its last feature map and logits in one forward pass;
        # the map and the head's weights give its Grad-CAM (``pooled_linear_cam``).
        self._forward = serving_forward(
            keras.Model(model.input, [model.get_layer("pool").input, model.output]),
            f"classifier-{weights_sha256[:16]}" if weights_sha256 else None,
            threads,
        )
        self._head = model.get_layer("logits").get_weights()[0]
        self._guided: GuidedBackprop | None = None  # built on the first request
        self._guided_lock = threading.Lock()
        self.cam_grid: tuple[int, int] = tuple(model.get_layer("pool").input_shape[1:3])

    @classmethod
    def load(cls, path: str | Path, threads: int | None = None) -> LungClassifier:
        """Build the classifier its sidecar describes and load the weights file;
        ``threads``: its interpreter's CPU threads (None: all the machine's)."""

        def build(described: dict) -> tuple[ClassifierConfig, keras.Model]:
            config = ClassifierConfig.from_dict(described["model"])
            return config, new_model(config)

        meta, config, model = modelfile.restore(path, build)
        answer = AnswerConfig.from_dict(meta.get("answer", {}))
        return cls(model, config, answer, modelfile.sha256(path), threads=threads)

    @property
    def runtime(self) -> str:
        """What runs the network: ``litert`` (saved weights) or ``tensorflow``."""
        return self._forward.runtime

    @property
    def masked(self) -> bool:
        return self.config.gate.input == "masked"

    @property
    def name(self) -> str:
        return f"{self.config.backbone}_{self.config.gate.input}"

    @property
    def temperature(self) -> float:
        return self.answer.temperature

    @property
    def familiarity_threshold(self) -> float | None:
        return self.answer.familiarity_threshold

    @property
    def mask_variants(self) -> tuple[int, ...]:
        """Pixels each answer's lung mask is grown by (negative: shrunk); see ``AnswerConfig``."""
        return tuple(self.answer.mask_variants_px) if self.masked else (0,)

    def prepare(
        self,
        images: Sequence[np.ndarray],
        masks: Sequence[np.ndarray | None],
        grow_px: int = 0,
    ) -> tuple[np.ndarray, list[Box]]:
        """Gate each image (masks grown by ``grow_px``; a raw model ignores them) into a
        batch, with its crop box (``gating.gate_batch``)."""
        return gate_batch(images, masks, self.config.gate, grow_px)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """(N, 4) logits of prepared input."""
        if not len(x):
            return np.zeros((0, len(self.class_names)), np.float32)
        return np.concatenate(
            [
                self._forward(x[s : s + self.batch_size])[1]
                for s in range(0, len(x), self.batch_size)
            ]
        )

    def clear(self, logits: np.ndarray) -> np.ndarray:
        """Which rows of one pass's logits (on the masks as found) are the answer as they
        stand: those whose two highest logits lie ``one_pass_margin`` or more apart, and
        every row of a model without mask variants."""
        if len(self.mask_variants) == 1:
            return np.ones(len(logits), bool)
        top_two = np.sort(logits, -1)[:, -2:]
        return top_two[:, 1] - top_two[:, 0] >= self.answer.one_pass_margin

    def _answer(
        self,
        images: Sequence[np.ndarray],
        masks: Sequence[np.ndarray | None],
        progress: str | None = None,
    ) -> Iterator[tuple[np.ndarray, np.ndarray, list[Box], np.ndarray]]:
        """Per chunk of images: the answer's logits, the Grad-CAM of its class on the
        mask as found, that mask's crop boxes and the pooled features of its pass.

        The chunk goes through the network once on the masks as found; only the films
        whose two highest logits lie nearer than ``one_pass_margin`` go through again,
        on the other mask variants in one batch, and answer with the mean over all.
        The map comes from the first pass (``pooled_linear_cam``), so explaining costs
        no extra pass. ``progress`` names a bar (on stderr, gone when done) that counts
        the images.
        """
        others = [r for r in self.mask_variants if r != 0]
        for s in chunks(len(images), self.batch_size, progress):
            chunk, chunk_masks = images[s : s + self.batch_size], masks[s : s + self.batch_size]
            x, boxes = self.prepare(chunk, chunk_masks)
            features, logits = self._forward(x)
            ties = np.flatnonzero(~self.clear(logits))
            if len(ties):
                tie_images, tie_masks = [chunk[i] for i in ties], [chunk_masks[i] for i in ties]
                batch = np.concatenate([self.prepare(tie_images, tie_masks, r)[0] for r in others])
                variants = self._forward(batch)[1].reshape(len(others), len(ties), -1)
                logits[ties] = (logits[ties] + variants.sum(0)) / (1 + len(others))
            cams = pooled_linear_cam(features, self._head[:, logits.argmax(-1)].T)
            yield logits, cams, boxes, features.mean((1, 2))

    def answer_logits(
        self,
        images: Sequence[np.ndarray],
        masks: Sequence[np.ndarray | None],
        progress: str | None = None,
    ) -> np.ndarray:
        """(N, 4) logits of the answer: one pass, or the mean over the mask variants
        for a near tie."""
        chunks = [logits for logits, *_ in self._answer(images, masks, progress)]
        if not chunks:
            return np.zeros((0, len(self.class_names)), np.float32)
        return np.concatenate(chunks)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities."""
        return softmax(logits, self.temperature)

    def predict(
        self,
        images: Sequence[np.ndarray],
        masks: Sequence[np.ndarray | None],
        progress: str | None = None,
    ) -> np.ndarray:
        """(N, 4) calibrated probabilities."""
        return self.probabilities(self.answer_logits(images, masks, progress))

    def explain(
        self,
        images: Sequence[np.ndarray],
        masks: Sequence[np.ndarray | None],
        progress: str | None = None,
    ) -> list[Explained]:
        """Predictions with the Grad-CAM of each answer's class at the image's size."""
        results: list[Explained] = []
        images = list(images)
        for logits, cams, boxes, pooled in self._answer(images, masks, progress):
            probs = self.probabilities(logits)
            for box, cam, z, p, f in zip(boxes, cams, logits, probs, pooled, strict=True):
                shape = images[len(results)].shape[:2]
                cam = to_image(cam, box, shape)
                results.append(Explained(z, p, int(z.argmax()), cam, box, f))
        return results

    def guided_gradcam(
        self,
        images: Sequence[np.ndarray],
        masks: Sequence[np.ndarray | None],
        explained: Sequence[Explained],
    ) -> list[np.ndarray]:
        """Guided Grad-CAM of each explained answer, a [0, 1] map at the image's size.

        Guided backpropagation of the answer's class through the gated input, times
        the answer's Grad-CAM. It sharpens the map to edges inside it and, being a
        gradient through every layer, runs on TensorFlow on request only: it costs
        several times the answer itself.
        """
        with self._guided_lock:
            if self._guided is None:
                self._guided = GuidedBackprop(self.model)
        x, boxes = self.prepare(images, masks)
        chosen = np.array([e.class_index for e in explained], np.int32)
        grads = self._guided(x, chosen)
        size = (x.shape[2], x.shape[1])
        maps = []
        for k, (image, box, e) in enumerate(zip(images, boxes, explained, strict=True)):
            cam = cv2.resize(e.cam[box.top : box.bottom, box.left : box.right], size)
            guided = guided_gradcam(grads[k : k + 1], cam[None])[0]
            maps.append(to_image(guided, box, image.shape[:2]))
        return maps


def new_model(config: ClassifierConfig, backbone_weights: str | None = None) -> keras.Model:
    """A classifier for ``config``: random head, backbone random or from ``backbone_weights``
    (``"imagenet"`` or a file; see ``backbones.build_backbone``)."""
    size = config.gate.input_size
    return build_classifier(
        config.backbone,
        (size, size, 1),
        len(CLASS_NAMES),
        dropout=config.dropout,
        weights=backbone_weights,
    )
