"""The randomisation test of the explanations, on tiny networks with known structure."""

import numpy as np

from lunggate.classification.sanity import blocks, map_correlation, randomisation_test
from lunggate.core.backend import keras


def tiny_net(size: int = 24) -> keras.Model:
    """Two conv blocks, pooling and a linear head, seeded so the test repeats."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((size, size, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="block1_conv")(inputs)
    x = keras.layers.BatchNormalization(name="block1_bn")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="block2_conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


def blobs(n: int = 6, size: int = 24) -> np.ndarray:
    """Bright discs at different places: maps with a clear peak to decorrelate from."""
    yy, xx = np.mgrid[:size, :size]
    rng = np.random.default_rng(0)
    out = np.zeros((n, size, size, 1), np.float32)
    for k in range(n):
        cy, cx = rng.uniform(5, size - 5, 2)
        out[k, ..., 0] = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 12.0)
    return out


def test_blocks_group_a_block_and_go_top_down(keras_session):
    names = [(name, [layer.name for layer in group]) for name, group in blocks(tiny_net(), 10)]
    assert names == [
        ("logits", ["logits"]),
        ("block2", ["block2_conv"]),
        ("block1", ["block1_bn", "block1_conv"]),
    ]
    capped = blocks(tiny_net(), 2)
    assert [name for name, _ in capped] == ["logits", "all the rest"]
    assert len(capped[1][1]) == 3  # the last step randomises every remaining layer


def test_map_correlation_of_a_map_with_itself_and_with_a_flat_map():
    grid = np.arange(16, dtype=np.float32).reshape(4, 4)
    assert map_correlation(grid, grid) == 1.0
    assert map_correlation(grid, grid[::-1, ::-1]) == -1.0
    assert map_correlation(grid, np.zeros((4, 4))) == 0.0


def test_a_randomised_networks_map_changes_and_the_model_is_untouched(keras_session):
    model = tiny_net()
    before = [w.copy() for w in model.get_weights()]
    result = randomisation_test(model, blobs(), seed=1)
    assert result.images == 6
    assert [s.layers for s in result.steps] == [1, 2, 4]
    # The head alone randomised: maps that still show evidence rank the cells otherwise.
    head = result.steps[0]
    assert head.flat_share < 1 and head.spearman_median < 0.5
    # Fully randomised, nothing of the trained model's ranking is left.
    assert result.steps[-1].spearman_median < 0.5
    assert all(s.spearman_median < 0.99 for s in result.steps)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    again = randomisation_test(model, blobs(), seed=1)
    assert again == result
