"""The trained classifier behind one object: gating, calibrated probabilities, Grad-CAM."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classification.backbones import build_classifier
from classification.calibration import softmax
from classification.config import ClassifierConfig
from classification.gating import Box, gate, grow, to_image
from classification.gradcam import GradCAM
from lunggate import CLASS_NAMES, modelfile
from lunggate.backend import keras, tf


@dataclass(frozen=True)
class Explained:
    """One image's prediction and its Grad-CAM at the image's own size."""

    logits: np.ndarray
    probabilities: np.ndarray
    class_index: int
    cam: np.ndarray
    box: Box
    """Where the classifier's input was cropped from."""


class LungClassifier:
    """Four-class classifier on gated X-rays, thread-safe once built.

    Args:
        model: Keras model from (N, S, S, 1) input to (N, 4) logits, or the members
            of an ensemble of such models (``config.members`` of them; their logits
            and Grad-CAMs are averaged).
        config: architecture and gating it was built with.
        temperature: calibration temperature fitted on the validation split.
        weights_sha256: identity of the weights file.
    """

    class_names: tuple[str, ...] = CLASS_NAMES

    def __init__(
        self,
        model: keras.Model | Sequence[keras.Model],
        config: ClassifierConfig,
        temperature: float = 1.0,
        weights_sha256: str | None = None,
        batch_size: int = 32,
    ) -> None:
        self.members = list(model) if isinstance(model, Sequence) else [model]
        self.model = self.members[0]
        self.config = config
        self.temperature = temperature
        self.weights_sha256 = weights_sha256
        self.batch_size = batch_size
        self.gradcams = [GradCAM(m) for m in self.members]
        self.cam_grid: tuple[int, int] = tuple(
            self.gradcams[0].grad_model.outputs[0].shape[1:3]
        )  # resolution of the explained feature map
        spec = tf.TensorSpec([None, *self.model.input_shape[1:]], tf.float32)
        self._forwards = [
            tf.function(lambda x, m=m: m(x, training=False), input_signature=[spec])
            for m in self.members
        ]

    @classmethod
    def load(cls, path: str | Path) -> LungClassifier:
        """Build the classifier its sidecar describes and load the weights file."""
        meta = modelfile.read_meta(path)
        config = ClassifierConfig.from_dict(meta["config"]["model"])
        members = [new_model(config) for _ in range(config.members)]
        dtypes = [w.dtype for w in members[0].get_weights()]
        arrays = modelfile.load(path, dtypes * config.members)
        for k, member in enumerate(members):
            member.set_weights(arrays[k * len(dtypes) : (k + 1) * len(dtypes)])
        return cls(members, config, float(meta.get("temperature", 1.0)), modelfile.sha256(path))

    @property
    def masked(self) -> bool:
        return self.config.gate.input == "masked"

    @property
    def name(self) -> str:
        return f"{self.config.backbone}_{self.config.gate.input}"

    @property
    def mask_variants(self) -> tuple[int, ...]:
        """Pixels each answer's lung mask is grown by (negative: shrunk); see ``GateConfig``."""
        return tuple(self.config.gate.mask_variants_px) if self.masked else (0,)

    def prepare(
        self,
        images: Sequence[np.ndarray],
        masks: Sequence[np.ndarray | None],
        grow_px: int = 0,
    ) -> tuple[np.ndarray, list[Box]]:
        """Gate each image (masks grown by ``grow_px``; a raw model ignores them) into a batch."""
        pairs = [
            gate(img, m if m is None or grow_px == 0 else grow(m, grow_px), self.config.gate)
            for img, m in zip(images, masks, strict=True)
        ]
        return np.stack([p[0] for p in pairs]), [p[1] for p in pairs]

    def logits(self, x: np.ndarray) -> np.ndarray:
        """(N, 4) logits of prepared input (the members' mean), batch by batch."""
        out = [
            np.mean([f(tf.constant(x[s : s + self.batch_size])).numpy() for f in self._forwards], 0)
            for s in range(0, len(x), self.batch_size)
        ]
        return np.concatenate(out) if out else np.zeros((0, len(self.class_names)), np.float32)

    def answer_logits(
        self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None]
    ) -> np.ndarray:
        """(N, 4) logits of the answer: the mean over the mask variants."""
        return self._answer(images, masks)[0]

    def _answer(
        self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None]
    ) -> tuple[np.ndarray, np.ndarray, list[Box]]:
        """The answer's logits, and the input and boxes of the mask as found (gated once)."""
        logits, found = [], None
        for r in self.mask_variants:
            x, boxes = self.prepare(images, masks, r)
            logits.append(self.logits(x))
            if r == 0:
                found = (x, boxes)
        x, boxes = found or self.prepare(images, masks)
        return np.mean(logits, axis=0), x, boxes

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities."""
        return softmax(logits, self.temperature)

    def predict(
        self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None]
    ) -> np.ndarray:
        """(N, 4) calibrated probabilities, without the backward pass Grad-CAM needs."""
        return self.probabilities(self.answer_logits(images, masks))

    def explain(
        self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None]
    ) -> list[Explained]:
        """Predictions with Grad-CAMs of the answer's class on the mask as found."""
        results: list[Explained] = []
        for s in range(0, len(images), self.batch_size):
            chunk, chunk_masks = images[s : s + self.batch_size], masks[s : s + self.batch_size]
            logits, x, boxes = self._answer(chunk, chunk_masks)
            chosen = logits.argmax(-1).astype(np.int32)
            cams = np.mean([gradcam(x, chosen)[0] for gradcam in self.gradcams], axis=0)
            probs = self.probabilities(logits)
            for img, box, cam, z, p, c in zip(
                chunk, boxes, cams, logits, probs, chosen, strict=True
            ):
                results.append(Explained(z, p, int(c), to_image(cam, box, img.shape[:2]), box))
        return results


def new_model(config: ClassifierConfig) -> keras.Model:
    """A randomly initialised classifier for ``config``."""
    size = config.gate.input_size
    return build_classifier(
        config.backbone, (size, size, 1), len(CLASS_NAMES), dropout=config.dropout
    )
