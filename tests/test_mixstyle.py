"""MixStyle: the film's channel statistics mixed between training images, nothing else."""

import numpy as np
import pytest


@pytest.fixture
def batch(keras_session):
    rng = np.random.default_rng(0)
    # Four films of one content, each with its own style (channel means and spreads).
    content = rng.normal(size=(1, 8, 8, 3)).astype(np.float32)
    means = rng.normal(scale=3, size=(4, 1, 1, 3)).astype(np.float32)
    spreads = rng.uniform(0.5, 2.0, size=(4, 1, 1, 3)).astype(np.float32)
    return content * spreads + means


def test_it_passes_its_input_through_outside_training_or_at_p_zero(batch):
    from lunggate.classification.mixstyle import MixStyle

    np.testing.assert_array_equal(MixStyle(p=1.0)(batch, training=False).numpy(), batch)
    np.testing.assert_array_equal(MixStyle(p=0.0)(batch, training=True).numpy(), batch)


def test_in_training_it_moves_the_style_and_keeps_the_content(batch):
    from lunggate.classification.mixstyle import MixStyle
    from lunggate.core.backend import keras

    keras.utils.set_random_seed(3)
    out = MixStyle(p=1.0, alpha=1.0)(batch, training=True).numpy()
    assert np.isfinite(out).all()

    def style(x):
        return x.mean(axis=(1, 2)), x.std(axis=(1, 2))

    def content(x):
        mean, std = style(x)
        return (x - mean[:, None, None]) / std[:, None, None]

    assert not np.allclose(style(out)[0], style(batch)[0], atol=1e-3)  # styles moved
    np.testing.assert_allclose(content(out), content(batch), atol=1e-3)  # content stayed
    mean, std = style(out)
    low, high = style(batch)[0].min(axis=0), style(batch)[0].max(axis=0)
    assert ((mean >= low - 1e-4) & (mean <= high + 1e-4)).all()  # mixed among the batch's


def test_the_classifier_carries_it_at_its_style_points_and_loads_shipped_weights(keras_session):
    from lunggate.classification.classifier import LungClassifier
    from lunggate.classification.mixstyle import MixStyle
    from lunggate.core.paths import CLASSIFIER_WEIGHTS

    model = LungClassifier.load(CLASSIFIER_WEIGHTS["masked"]).model
    points = [layer for layer in model.layers if isinstance(layer, MixStyle)]
    assert [layer.name for layer in points] == ["block2_mixstyle", "block4_mixstyle"]
    assert all(layer.p == 0 for layer in points)  # a loaded model never mixes
