"""A compact CNN in the spirit of CNN-X: parallel 3x3/5x5/9x9 branches per block.

Each block looks at three receptive-field sizes at once (fine texture, mid-size
opacities, large consolidations), normalizes, and downsamples with average and max
pooling side by side. About 1.5M parameters, small enough to train from scratch here.
"""

from __future__ import annotations

from lunggate.core.backend import keras

L = keras.layers


def _branch(x, filters: int, kernel: int, name: str):
    # A 9x9 kernel is factored into 1x9 and 9x1 to keep the parameter count small.
    if kernel >= 9:
        x = L.Conv2D(filters, (1, kernel), padding="same", use_bias=False, name=f"{name}_a")(x)
        return L.Conv2D(filters, (kernel, 1), padding="same", use_bias=False, name=f"{name}_b")(x)
    return L.Conv2D(filters, kernel, padding="same", use_bias=False, name=name)(x)


def _block(x, filters: int, index: int):
    name = f"block{index}"
    branches = [_branch(x, filters, k, f"{name}_k{k}") for k in (3, 5, 9)]
    x = L.Concatenate(name=f"{name}_concat")(branches)
    x = L.BatchNormalization(name=f"{name}_bn")(x)
    x = L.ReLU(name=f"{name}_relu")(x)
    avg = L.AveragePooling2D(2, name=f"{name}_avgpool")(x)
    mx = L.MaxPooling2D(2, name=f"{name}_maxpool")(x)
    return L.Concatenate(name=f"{name}_pool")([avg, mx])


def build_cnnx(input_shape: tuple[int, int, int], widths: tuple[int, ...] = (16, 32, 48, 56)):
    """Feature extractor: (H, W, C) image -> (H/32, W/32, 256) feature map."""
    inputs = keras.Input(input_shape)
    x = L.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU(name="stem_relu")(x)
    for i, width in enumerate(widths, start=1):
        x = _block(x, width, i)
    x = L.Conv2D(256, 1, use_bias=False, name="head_conv")(x)
    x = L.BatchNormalization(name="head_bn")(x)
    x = L.ReLU(name="head_relu")(x)
    return keras.Model(inputs, x, name="cnnx")
