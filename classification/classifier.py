"""The trained classifier behind one object: gating, calibrated probabilities, Grad-CAM."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from classification.backbones import build_classifier
from classification.calibration import softmax
from classification.config import ClassifierConfig
from classification.gating import Box, gate, to_image
from classification.gradcam import GuidedBackprop, guided_gradcam, pooled_linear_cam
from lunggate import CLASS_NAMES, modelfile
from lunggate.backend import keras
from lunggate.runtime import serving_forward
from segmentation.postprocess import grow


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
        batch_size: int = 8,
    ) -> None:
        self.members = list(model) if isinstance(model, Sequence) else [model]
        self.model = self.members[0]
        self.config = config
        self.temperature = temperature
        self.weights_sha256 = weights_sha256
        self.batch_size = batch_size
        # Each member answers with its last feature map and logits in one forward pass;
        # the map and the head's weights give its Grad-CAM (``pooled_linear_cam``).
        self._forwards = [
            serving_forward(
                keras.Model(m.input, [m.get_layer("pool").input, m.output], name=f"{m.name}_{k}"),
                f"classifier-{weights_sha256[:16]}-{k}" if weights_sha256 else None,
            )
            for k, m in enumerate(self.members)
        ]
        self._heads = [m.get_layer("logits").get_weights()[0] for m in self.members]
        self._guided: list[GuidedBackprop] | None = None  # built on the first request
        self._guided_lock = threading.Lock()
        self.cam_grid: tuple[int, int] = tuple(self.model.get_layer("pool").input_shape[1:3])

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
    def runtime(self) -> str:
        """What runs the networks: ``litert`` (saved weights) or ``tensorflow``."""
        return self._forwards[0].runtime

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
        """(N, 4) logits of prepared input: the members' mean."""
        if not len(x):
            return np.zeros((0, len(self.class_names)), np.float32)
        return np.concatenate(
            [
                np.mean([forward(x[s : s + self.batch_size])[1] for forward in self._forwards], 0)
                for s in range(0, len(x), self.batch_size)
            ]
        )

    def _variants(
        self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None]
    ) -> tuple[np.ndarray, list[Box]]:
        """(V, N, S, S, 1) input for each mask variant, the mask as found first, and its boxes."""
        order = (0, *(r for r in self.mask_variants if r != 0))
        prepared = [self.prepare(images, masks, r) for r in order]
        return np.stack([x for x, _ in prepared]), prepared[0][1]

    def _answer(
        self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None]
    ) -> Iterator[tuple[np.ndarray, np.ndarray, list[Box]]]:
        """Per chunk of images: the answer's logits (mean over members and mask variants),
        the Grad-CAM of its class on the mask as found (members' mean), and the boxes.

        All variants of a chunk go through each member in one pass; the maps come from
        the same pass (``pooled_linear_cam``), so explaining costs no extra pass.
        """
        for s in range(0, len(images), self.batch_size):
            chunk, chunk_masks = images[s : s + self.batch_size], masks[s : s + self.batch_size]
            x, boxes = self._variants(chunk, chunk_masks)
            runs = [forward(x.reshape(-1, *x.shape[2:])) for forward in self._forwards]
            n = len(chunk)
            logits = np.mean([z for _, z in runs], axis=0).reshape(len(x), n, -1).mean(0)
            chosen = logits.argmax(-1)
            cams = np.mean(
                [
                    pooled_linear_cam(features[:n], head[:, chosen].T)
                    for (features, _), head in zip(runs, self._heads, strict=True)
                ],
                axis=0,
            )
            yield logits, cams, boxes

    def answer_logits(
        self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None]
    ) -> np.ndarray:
        """(N, 4) logits of the answer: the mean over members and mask variants."""
        chunks = [logits for logits, _, _ in self._answer(images, masks)]
        if not chunks:
            return np.zeros((0, len(self.class_names)), np.float32)
        return np.concatenate(chunks)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities."""
        return softmax(logits, self.temperature)

    def predict(
        self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None]
    ) -> np.ndarray:
        """(N, 4) calibrated probabilities."""
        return self.probabilities(self.answer_logits(images, masks))

    def explain(
        self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None]
    ) -> list[Explained]:
        """Predictions with Grad-CAMs of the answer's class on the mask as found."""
        results: list[Explained] = []
        images = list(images)
        for logits, cams, boxes in self._answer(images, masks):
            probs = self.probabilities(logits)
            for box, cam, z, p in zip(boxes, cams, logits, probs, strict=True):
                shape = images[len(results)].shape[:2]
                results.append(Explained(z, p, int(z.argmax()), to_image(cam, box, shape), box))
        return results

    def guided_gradcam(
        self,
        images: Sequence[np.ndarray],
        masks: Sequence[np.ndarray | None],
        explained: Sequence[Explained],
    ) -> list[np.ndarray]:
        """Guided Grad-CAM of each explained answer, a [0, 1] map at the image's size.

        Guided backpropagation of the answer's class through the gated input (the
        mask as found; the members' mean), times the answer's Grad-CAM. It sharpens
        the map to edges inside it and, being a gradient through every layer, runs on
        TensorFlow on request only: it costs several times the answer itself.
        """
        with self._guided_lock:
            if self._guided is None:
                self._guided = [GuidedBackprop(m) for m in self.members]
        x, boxes = self.prepare(images, masks)
        chosen = np.array([e.class_index for e in explained], np.int32)
        grads = np.mean([guided(x, chosen) for guided in self._guided], axis=0)
        size = (x.shape[2], x.shape[1])
        maps = []
        for k, (image, box, e) in enumerate(zip(images, boxes, explained, strict=True)):
            cam = cv2.resize(e.cam[box.top : box.bottom, box.left : box.right], size)
            guided = guided_gradcam(grads[k : k + 1], cam[None])[0]
            maps.append(to_image(guided, box, image.shape[:2]))
        return maps


def new_model(config: ClassifierConfig) -> keras.Model:
    """A randomly initialised classifier for ``config``."""
    size = config.gate.input_size
    return build_classifier(
        config.backbone, (size, size, 1), len(CLASS_NAMES), dropout=config.dropout
    )
