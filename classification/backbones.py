"""The backbone registry: every swappable feature extractor behind one factory.

Nothing is downloaded: ``weights="imagenet"`` is accepted only by backbones whose
ImageNet weights come with a pinned package (``PRETRAINED``); the others are built
from scratch (``weights=None``) or from a local weights file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lunggate.classification.cnnx import build_cnnx
from lunggate.classification.efficientnet_lite import build_efficientnet_lite0
from lunggate.core.backend import keras
from lunggate.core.errors import LunggateError

Shape = tuple[int, int, int]
Factory = Callable[[Shape, str | None], keras.Model]


def _application(constructor: Callable[..., keras.Model]) -> Factory:
    def build(input_shape: Shape, weights: str | None) -> keras.Model:
        return constructor(input_shape=input_shape, include_top=False, weights=weights)

    return build


def _custom(builder: Callable[[Shape], keras.Model]) -> Factory:
    def build(input_shape: Shape, weights: str | None) -> keras.Model:
        model = builder(input_shape)
        if weights:
            model.load_weights(weights)
        return model

    return build


GATE_TO_IMAGENET = 0.5
"""The gate's input is standardized (about -2 to 2 over the lungs); ImageNet's is -1 to 1."""


def _lite0(input_shape: Shape, weights: str | None) -> keras.Model:
    return build_efficientnet_lite0(input_shape, weights, input_scale=GATE_TO_IMAGENET)


apps = keras.applications
BACKBONES: dict[str, Factory] = {
    "mobilenetv2": _application(apps.MobileNetV2),
    "resnet50v2": _application(apps.ResNet50V2),
    "densenet121": _application(apps.DenseNet121),
    "vgg16": _application(apps.VGG16),
    "efficientnetb0": _application(apps.EfficientNetB0),
    "cnnx": _custom(build_cnnx),
    "efficientnet_lite0": _lite0,
}
PRETRAINED = frozenset({"efficientnet_lite0"})
"""Backbones whose ``weights="imagenet"`` a pinned package carries (no download)."""


def build_backbone(name: str, input_shape: Shape, weights: str | Path | None = None) -> keras.Model:
    """A feature extractor whose output is the last convolutional feature map.

    Raises:
        LunggateError: unknown name (the message lists the valid ones), ImageNet weights
            asked of a backbone that would have to download them, or missing weights file.
    """
    if name not in BACKBONES:
        raise LunggateError(
            f"unknown backbone {name!r}; choose one of {', '.join(sorted(BACKBONES))}"
        )
    if weights == "imagenet":
        if name not in PRETRAINED:
            raise LunggateError(
                f"backbone {name!r} has no ImageNet weights installed (they would be "
                f"downloaded); pretrained backbones: {', '.join(sorted(PRETRAINED))}"
            )
    elif weights is not None and not Path(weights).is_file():
        raise LunggateError(f"backbone weights file {weights} does not exist")
    return BACKBONES[name](input_shape, None if weights is None else str(weights))


def build_classifier(
    name: str,
    input_shape: Shape,
    n_classes: int,
    dropout: float = 0.3,
    weights: str | Path | None = None,
) -> keras.Model:
    """Backbone -> global average pooling -> dropout -> linear logits (no softmax).

    Logits, not probabilities, come out: Grad-CAM differentiates the class score and the
    calibration temperature divides the logits.
    """
    backbone = build_backbone(name, input_shape, weights)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(backbone.output)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(n_classes, name="logits")(x)
    return keras.Model(backbone.input, logits, name=f"{name}_classifier")
