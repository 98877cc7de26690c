"""Grad-CAM and Guided Grad-CAM on tiny models with known answers."""

import numpy as np
import pytest

from lunggate.classification.gradcam import (
    GradCAM,
    GuidedBackprop,
    guided_gradcam,
    last_feature_layer,
    pooled_linear_cam,
)
from lunggate.core.backend import keras


def quadrant_model(size: int = 16) -> keras.Model:
    """Class 0's logit sees only the top-left quadrant, class 1's only the bottom-right."""
    half = size // 2
    quadrants = np.zeros((1, size, size, 2), np.float32)
    quadrants[0, :half, :half, 0] = 1
    quadrants[0, half:, half:, 1] = 1
    inputs = keras.Input((size, size, 1))
    x = keras.layers.Conv2D(2, 1, activation="relu", kernel_initializer="ones", name="conv")(inputs)
    x = keras.layers.Lambda(lambda t: t * quadrants, name="features")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    logits = keras.layers.Dense(2, use_bias=False, kernel_initializer="identity")(x)
    return keras.Model(inputs, logits)


def test_last_feature_layer_is_the_last_4d_output(keras_session):
    assert last_feature_layer(quadrant_model()).name == "features"


def test_last_feature_layer_finds_a_nested_backbone(keras_session):
    inner = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Conv2D(3, 3)], name="backbone")
    inputs = keras.Input((16, 16, 1))
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(inner(inputs)))
    model = keras.Model(inputs, out)
    assert last_feature_layer(model).name == "backbone"
    cams, _, _ = GradCAM(model)(np.random.default_rng(0).random((2, 16, 16, 1), np.float32))
    assert cams.shape == (2, 14, 14)


def test_cam_lands_in_the_quadrant_the_class_depends_on(keras_session):
    x = np.random.default_rng(1).random((1, 16, 16, 1)).astype(np.float32) + 0.1
    cams, logits, chosen = GradCAM(quadrant_model())(np.repeat(x, 2, 0), np.array([0, 1]))
    assert chosen.tolist() == [0, 1] and logits.shape == (2, 2)
    assert cams[0, :8, :8].sum() > 0 and cams[0].sum() == pytest.approx(cams[0, :8, :8].sum())
    assert cams[1, 8:, 8:].sum() > 0 and cams[1].sum() == pytest.approx(cams[1, 8:, 8:].sum())
    assert cams.max() == pytest.approx(1.0)


def test_default_class_is_the_prediction(keras_session):
    x = np.zeros((1, 16, 16, 1), np.float32)
    x[0, 8:, 8:] = 1  # only the bottom-right quadrant is bright: class 1 wins
    _, logits, chosen = GradCAM(quadrant_model())(x)
    assert chosen[0] == 1 == logits[0].argmax()


def test_all_zero_evidence_gives_an_all_zero_map(keras_session):
    cams, _, _ = GradCAM(quadrant_model())(np.zeros((1, 16, 16, 1), np.float32))
    assert np.isfinite(cams).all() and not cams.any()


def test_guided_gradcam_shape_finiteness_and_untouched_model(keras_session):
    model = quadrant_model()
    x = np.random.default_rng(2).random((2, 16, 16, 1)).astype(np.float32) - 0.5
    before = model.predict(x, verbose=0)
    guided = GuidedBackprop(model)(x, np.array([0, 1]))
    assert guided.shape == x.shape and np.isfinite(guided).all()
    cams, _, _ = GradCAM(model)(x, np.array([0, 1]))
    combined = guided_gradcam(guided, cams)  # feature map is at input resolution here
    assert combined.shape == (2, 16, 16) and np.isfinite(combined).all()
    assert combined.max() <= 1.0
    np.testing.assert_allclose(model.predict(x, verbose=0), before)


def test_a_pooled_linear_head_needs_no_backward_pass(keras_session):
    from lunggate.classification.backbones import build_classifier

    model = build_classifier("cnnx", (64, 64, 1), 4)
    x = np.random.default_rng(5).standard_normal((3, 64, 64, 1)).astype(np.float32)
    chosen = np.array([0, 2, 3], np.int32)
    cams, _, _ = GradCAM(model)(x, chosen)
    features = keras.Model(model.input, model.get_layer("pool").input)(x).numpy()
    kernel = model.get_layer("logits").get_weights()[0]
    assert cams.max() == pytest.approx(1.0)
    np.testing.assert_allclose(pooled_linear_cam(features, kernel[:, chosen].T), cams, atol=1e-5)
