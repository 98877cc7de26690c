"""Building the U-Net and shaping its input."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from lunggate.core.backend import keras, sm
from lunggate.segmentation.config import UNetConfig


def build_unet(config: UNetConfig) -> keras.Model:
    """A randomly initialised ``segmentation_models`` U-Net: grey in, lung probability out.

    ``encoder_weights=None``: nothing is ever downloaded; weights come from our own files.
    """
    return sm.Unet(
        config.encoder,
        input_shape=(config.input_size, config.input_size, 1),
        encoder_weights=None,
        decoder_filters=config.decoder_filters,
        classes=1,
        activation="sigmoid",
    )


def standardize(images: np.ndarray) -> np.ndarray:
    """Per-image zero mean, unit variance: removes exposure differences between sites."""
    images = images.astype(np.float32)
    mean = images.mean(axis=(-2, -1), keepdims=True)
    std = images.std(axis=(-2, -1), keepdims=True)
    return (images - mean) / np.maximum(std, 1.0)


def to_input(images: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Grey uint8 images of any size -> (N, size, size, 1) float32 network input."""
    resized = [
        img
        if img.shape == (size, size)
        else cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        for img in images
    ]
    return standardize(np.stack(resized))[..., None]
