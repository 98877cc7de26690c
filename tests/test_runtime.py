"""Serving forward passes: LiteRT matches TensorFlow, and is converted once per weights."""

from pathlib import Path

import numpy as np
import pytest

from lunggate.core import runtime
from lunggate.core.backend import keras


def two_output_model() -> keras.Model:
    """A small conv net answering with its feature map and its logits, like a classifier."""
    inputs = keras.Input((16, 16, 1))
    features = keras.layers.Conv2D(4, 3, activation="relu", name="features")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    logits = keras.layers.Dense(3, name="logits")(pooled)
    return keras.Model(inputs, [features, logits], name="tiny")


def test_litert_gives_tensorflows_outputs_in_the_models_order(tmp_path: Path, keras_session):
    model = two_output_model()
    x = np.random.default_rng(0).random((5, 16, 16, 1)).astype(np.float32)
    lite = runtime.serving_forward(model, "tiny", cache_dir=tmp_path)
    reference = runtime.serving_forward(model, None)
    assert (lite.runtime, reference.runtime) == ("litert", "tensorflow")
    for ours, theirs in zip(lite(x), reference(x), strict=True):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert [o.shape for o in lite(x[:2])] == [(2, 14, 14, 4), (2, 3)]  # any batch size


def test_conversion_is_cached_and_a_damaged_cache_is_redone(
    tmp_path: Path, keras_session, monkeypatch
):
    model = two_output_model()
    x = np.ones((1, 16, 16, 1), np.float32)
    first = runtime.serving_forward(model, "tiny", cache_dir=tmp_path)(x)
    (cached,) = tmp_path.glob("tiny-*.tflite")

    def refuse(_):
        raise AssertionError("a cached model must not be converted again")

    with monkeypatch.context() as patch:
        patch.setattr(runtime, "convert", refuse)
        again = runtime.serving_forward(model, "tiny", cache_dir=tmp_path)(x)
    np.testing.assert_array_equal(first[1], again[1])

    cached.write_bytes(b"not a flatbuffer")  # as if a run died while writing
    redone = runtime.serving_forward(model, "tiny", cache_dir=tmp_path)(x)
    np.testing.assert_allclose(first[1], redone[1], atol=1e-6)
    assert cached.stat().st_size > 100


def test_a_litert_forward_refuses_a_model_without_the_named_outputs(tmp_path: Path, keras_session):
    flatbuffer = runtime.convert(two_output_model())
    with pytest.raises(ValueError, match="lacks outputs"):
        runtime.LiteRTForward(flatbuffer, ["features", "nowhere"])


def test_an_unwritable_cache_still_serves(tmp_path: Path, keras_session, capsys):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would go")
    forward = runtime.serving_forward(two_output_model(), "tiny", cache_dir=blocked / "litert")
    assert forward.runtime == "litert" and forward(np.ones((1, 16, 16, 1), np.float32))
    assert "cannot cache" in capsys.readouterr().err


def test_each_network_of_a_pipeline_runs_on_the_threads_its_config_gives():
    from lunggate.pipeline.analyze import Pipeline, PipelineConfig

    pipeline = Pipeline.load(PipelineConfig(threads=1))
    forwards = [pipeline.classifier._forward, pipeline.finder.segmenter._forward]
    assert [f.threads for f in forwards] == [1, 1]
