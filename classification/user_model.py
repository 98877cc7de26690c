"""A user's own Keras classifier behind lunggate's ``Classifier`` interface.

Auditors mostly audit models they did not build. Given the model file (``.keras``,
``.h5`` or a SavedModel folder, from tf-keras or Keras 3) and a small TOML config of
its class names and preprocessing, lunggate explains its answers with Grad-CAM on its
last convolutional map (found automatically) and scores them against its own lung
masks, as for its own models.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from lunggate.classification.calibration import softmax
from lunggate.classification.gating import Box, to_image
from lunggate.classification.gradcam import GradCAM
from lunggate.classification.interface import Explained
from lunggate.core import modelfile
from lunggate.core.backend import keras
from lunggate.core.errors import LunggateError, ModelFileError
from lunggate.core.recipes import load_recipe

_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


@dataclass(frozen=True)
class UserModelConfig:
    """How a user's model reads an X-ray: the TOML file given with ``--model-config``."""

    class_names: tuple[str, ...]
    """One per output unit, in the model's order."""
    input_size: tuple[int, int] | None = None
    """(height, width) the model takes; default what its input layer says."""
    channels: int | None = None
    """1 or 3 (the grey image repeated); default what its input layer says."""
    scale: Literal["unit", "symmetric", "imagenet", "none"] = "unit"
    """Pixels 0..255 to ``unit`` 0..1, ``symmetric`` -1..1, ``imagenet`` (0..1 less
    ImageNet's mean, over its standard deviation) or ``none`` (kept 0..255)."""
    input: Literal["raw", "masked"] = "raw"
    """``masked``: the model was trained on lungs only, outside them set to 0."""
    output: Literal["logits", "probabilities"] = "logits"
    """What the model's last layer gives: logits are turned into probabilities by softmax."""
    layer: str | None = None
    """The feature layer to explain; default the last one with a 4-D output."""

    @classmethod
    def read(cls, path: Path) -> UserModelConfig:
        return load_recipe(cls, path, what="model config")


def read_keras_model(path: Path):
    """A Keras model from ``path``: tf-keras first (``.h5``, SavedModel, its ``.keras``),
    then Keras 3 (``.keras`` files of TensorFlow 2.16 and newer)."""
    if not path.exists():
        raise ModelFileError(f"model {path} does not exist")
    if path.is_file() and path.suffix.lower() not in (".keras", ".h5", ".hdf5"):
        raise ModelFileError(f"model {path} is not a .keras or .h5 file or a SavedModel folder")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises anything from any depth
        failure = exc
    if path.is_file() and path.suffix.lower() == ".keras":
        import keras as keras3

        try:
            return keras3.saving.load_model(path, compile=False)
        except Exception as exc:  # noqa: BLE001
            failure = exc
    text = str(failure).strip()
    reason = text.splitlines()[0] if text else type(failure).__name__
    raise ModelFileError(f"model {path} could not be read as a Keras model: {reason}")


def file_sha256(path: Path) -> str:
    """SHA-256 of a model file (``modelfile.sha256``), or of a SavedModel folder's files
    and their names, in name order."""
    if path.is_file():
        return modelfile.sha256(path)
    digest = hashlib.sha256()
    for part in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(part.relative_to(path)).encode())
        digest.update(part.read_bytes())
    return digest.hexdigest()


class UserClassifier:
    """A user's Keras classifier, explained with Grad-CAM (a ``Classifier``).

    Args:
        model: maps (N, H, W, C) float input to (N, classes) logits or probabilities.
        config: its class names and preprocessing.
        name: what results call it (the file's name).
        weights_sha256: identity of the model file.
    """

    runtime = "tensorflow"
    temperature = 1.0
    familiarity_threshold = None  # nothing is known of the films it learned from

    def __init__(
        self,
        model,
        config: UserModelConfig,
        name: str = "user_model",
        weights_sha256: str | None = None,
        batch_size: int = 8,
    ) -> None:
        shape = tuple(model.input_shape)
        if len(shape) != 4:
            raise ModelFileError(
                f"model {name} takes input of shape {shape}; lunggate audits image "
                "classifiers with (batch, height, width, channels) input"
            )
        units = model.output_shape[-1]
        if units != len(config.class_names):
            raise LunggateError(
                f"model {name} has {units} outputs but its config names "
                f"{len(config.class_names)} classes ({', '.join(config.class_names)})"
            )
        self.size = config.input_size or shape[1:3]
        self.channels = config.channels or shape[3]
        if None in self.size or self.channels not in (1, 3):
            raise LunggateError(
                f"model {name}: set input_size (height, width) and channels (1 or 3) in "
                f"its config; its input layer says {shape[1:]}"
            )
        self.model = model
        self.config = config
        self.class_names = tuple(config.class_names)
        self._name = name
        self.weights_sha256 = weights_sha256
        self.batch_size = batch_size
        try:
            self._gradcam = GradCAM(model, config.layer)
        except ValueError as exc:
            raise LunggateError(f"model {name}: {exc}") from None
        self.cam_grid: tuple[int, int] = tuple(self._gradcam.grad_model.outputs[0].shape[1:3])

    @classmethod
    def load(cls, model_path: Path, config_path: Path) -> UserClassifier:
        config = UserModelConfig.read(config_path)
        return cls(read_keras_model(model_path), config, model_path.name, file_sha256(model_path))

    @property
    def name(self) -> str:
        return self._name

    @property
    def masked(self) -> bool:
        return self.config.input == "masked"

    def prepare(
        self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None]
    ) -> tuple[np.ndarray, list[Box]]:
        """The model's input for each image (masked when its config says so), with the
        whole image as its box."""
        height, width = self.size
        batch, boxes = [], []
        for image, mask in zip(images, masks, strict=True):
            pixels = image if not self.masked or mask is None else np.where(mask, image, 0)
            small = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA)
            batch.append(np.repeat(small[..., None], self.channels, axis=-1))
            boxes.append(Box(0, image.shape[0], 0, image.shape[1]))
        x = np.stack(batch).astype(np.float32)
        return self._scale(x), boxes

    def _scale(self, x: np.ndarray) -> np.ndarray:
        scale = self.config.scale
        if scale == "unit":
            return x / 255.0
        if scale == "symmetric":
            return x / 127.5 - 1.0
        if scale == "imagenet":
            mean, std = _IMAGENET_MEAN[: self.channels], _IMAGENET_STD[: self.channels]
            return (x / 255.0 - mean) / std
        return x

    def explain(
        self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None]
    ) -> list[Explained]:
        """Answers with the Grad-CAM of each answer's class at the image's size."""
        results: list[Explained] = []
        for s in range(0, len(images), self.batch_size):
            chunk = list(images[s : s + self.batch_size])
            x, boxes = self.prepare(chunk, masks[s : s + self.batch_size])
            cams, scores, chosen = self._gradcam(x)
            probs = scores if self.config.output == "probabilities" else softmax(scores, 1.0)
            for image, box, cam, z, p, k in zip(
                chunk, boxes, cams, scores, probs, chosen, strict=True
            ):
                results.append(Explained(z, p, int(k), to_image(cam, box, image.shape[:2]), box))
        return results

    def guided_gradcam(
        self,
        images: Sequence[np.ndarray],
        masks: Sequence[np.ndarray | None],
        explained: Sequence[Explained],
    ) -> list[np.ndarray]:
        """Not offered: guided backpropagation swaps the network's ReLUs, which only
        lunggate's own architectures are known to allow."""
        raise LunggateError(
            f"Guided Grad-CAM is offered for lunggate's own models, not {self.name}"
        )
