"""Auditing a user's own Keras classifier: loading, Grad-CAM on its last conv map,
and ``lunggate audit --model`` end to end on models saved in the test."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import SAMPLES
from lunggate.classification.user_model import UserClassifier, UserModelConfig, read_keras_model
from lunggate.cli import main
from lunggate.core.backend import keras
from lunggate.core.errors import LunggateError

CLASSES = ("left", "right")


def left_right_model(size: int = 32) -> keras.Model:
    """Class 0's logit is the brightness of the input, class 1's its negative: the map of
    class 0 lies where the image is bright, and its last conv map is 16x16."""
    inputs = keras.Input((size, size, 1))
    x = keras.layers.Conv2D(1, 1, activation="relu", kernel_initializer="ones", name="conv")(inputs)
    x = keras.layers.MaxPooling2D(2, name="down")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(2, kernel_initializer=keras.initializers.Constant([[1.0, -1.0]]))(x)
    return keras.Model(inputs, out)


def config(**changes) -> UserModelConfig:
    return UserModelConfig(class_names=CLASSES, **changes)


def test_the_map_is_found_on_the_last_conv_map_and_lies_where_the_evidence_is(keras_session):
    model = UserClassifier(left_right_model(), config())
    assert model.cam_grid == (16, 16)
    image = np.zeros((64, 80), np.uint8)
    image[:, :40] = 200  # bright left half of a non-square image
    (answer,) = model.explain([image], [None])
    assert answer.class_index == 0 and answer.probabilities.sum() == pytest.approx(1.0)
    assert answer.cam.shape == image.shape
    assert answer.cam[:, :36].sum() > 10 * answer.cam[:, 44:].sum()


def test_preprocessing_follows_the_config(keras_session):
    white = [np.full((32, 32), 255, np.uint8)]
    half = np.zeros((32, 32), bool)
    half[:, :16] = True
    assert model_input(config(scale="symmetric"), white).max() == pytest.approx(1.0)
    assert model_input(config(scale="none"), white).max() == 255.0
    masked = model_input(config(input="masked"), white, [half])
    assert masked[0, :, :16].min() == 1.0 and masked[0, :, 16:].max() == 0.0


def model_input(cfg: UserModelConfig, images, masks=None) -> np.ndarray:
    x, _ = UserClassifier(left_right_model(), cfg).prepare(images, masks or [None] * len(images))
    return x


def test_a_config_that_does_not_fit_the_model_is_named(keras_session):
    with pytest.raises(LunggateError, match="has 2 outputs but its config names 3 classes"):
        UserClassifier(left_right_model(), UserModelConfig(class_names=("a", "b", "c")))
    with pytest.raises(LunggateError, match="nowhere"):
        UserClassifier(left_right_model(), config(layer="nowhere"))


@pytest.mark.parametrize("name", ["tiny.h5", "tiny_savedmodel", "tiny.keras"])
def test_tf_keras_files_load(keras_session, tmp_path, name):
    path = tmp_path / name
    left_right_model().save(path)
    assert read_keras_model(path).output_shape == (None, 2)


def test_a_keras3_file_loads_and_is_explained(tmp_path):
    path = tmp_path / "keras3.keras"
    script = (
        "import keras\n"
        "i = keras.Input((32, 32, 3))\n"
        "x = keras.layers.Conv2D(4, 3, activation='relu', name='conv')(i)\n"
        "o = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))\n"
        f"keras.Model(i, o).save({str(path)!r})\n"
    )
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, capture_output=True)
    model = UserClassifier(read_keras_model(path), config())
    assert model.channels == 3 and model.cam_grid == (30, 30)
    noise = np.random.default_rng(0).integers(0, 255, (40, 40), np.uint8)
    (answer,) = model.explain([noise], [None])
    assert answer.cam.shape == (40, 40) and 0 <= answer.cam.min() <= answer.cam.max() <= 1


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not a model", "could not be read as a Keras model"), (b"x", "not a .keras or .h5 file")],
)
def test_unreadable_models_are_named(tmp_path, content, message):
    path = tmp_path / ("model.h5" if message.startswith("could") else "model.onnx")
    path.write_bytes(content)
    with pytest.raises(LunggateError, match=message):
        read_keras_model(path)


def test_audit_model_runs_a_users_classifier_end_to_end(keras_session, tmp_path, capsys):
    model = tmp_path / "tiny.h5"
    left_right_model().save(model)
    cfg = tmp_path / "tiny.toml"
    cfg.write_text('class_names = ["left", "right"]\ninput_size = [32, 32]\n')
    root = tmp_path / "studies"
    root.mkdir()
    for p in SAMPLES[:2]:
        shutil.copy(p, root / p.name)
    labels = tmp_path / "labels.csv"
    labels.write_text(f"path,label\n{SAMPLES[0].name},left\n{SAMPLES[1].name},right\n")
    out = tmp_path / "report"
    args = ["audit", str(root), "--out", str(out), "--model", str(model)]
    assert main([*args, "--model-config", str(cfg), "--labels", str(labels)]) == 0
    data = json.loads((out / "results.json").read_text())
    summary = data["summary"]
    assert summary["model"]["classifier"]["name"] == "tiny.h5"
    assert summary["model"]["classes"] == ["left", "right"]
    assert summary["against_labels"]["confusion_matrix"]["classes"] == ["left", "right"]
    for result in data["results"]:
        assert set(result["probabilities"]) == {"left", "right"}
        assert result["attention"]["ceiling"] <= 1 and result["attention"]["lift"] is not None
    header = (out / "results.csv").read_text().splitlines()[0]
    assert "probabilities.left" in header and "probabilities.COVID" not in header
    capsys.readouterr()
    assert main(args) == 2
    assert "--model needs --model-config" in capsys.readouterr().err


def test_config_file_errors_are_named(tmp_path: Path):
    cfg = tmp_path / "m.toml"
    cfg.write_text('class_names = ["a", "b"]\nscale = "zscore"\n')
    with pytest.raises(LunggateError, match="scale must be"):
        UserModelConfig.read(cfg)
    with pytest.raises(LunggateError, match="model config .* does not exist"):
        UserModelConfig.read(tmp_path / "missing.toml")
