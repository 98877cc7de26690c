"""Recipe files: TOML into the typed configs, overrides, and errors that name the setting."""

from pathlib import Path

import pytest

from lunggate.classification.config import ClassifierConfig, ClsTrainConfig, GateConfig
from lunggate.core.errors import LunggateError
from lunggate.core.paths import CLASSIFIER_RECIPES
from lunggate.core.recipes import load_recipe, parse_override


def test_the_shipped_recipes_differ_in_the_input_alone():
    masked = load_recipe(ClsTrainConfig, CLASSIFIER_RECIPES["masked"])
    raw = load_recipe(ClsTrainConfig, CLASSIFIER_RECIPES["raw"])
    assert masked == ClsTrainConfig()  # the code's defaults are what ships
    assert raw.model.gate.input == "raw"
    assert raw.model.gate == GateConfig(input="raw")
    assert raw.model.backbone == masked.model.backbone and raw.epochs == masked.epochs


@pytest.mark.parametrize(
    ("text", "keys", "value"),
    [
        ("epochs=4", ["epochs"], 4),
        ("model.gate.contrast=none", ["model", "gate", "contrast"], "none"),
        ("learning_rate=1e-4", ["learning_rate"], 1e-4),
        ('pretrained="x.pth"', ["pretrained"], "x.pth"),
        ("trainable_from=block5_expand", ["trainable_from"], "block5_expand"),
    ],
)
def test_overrides_take_toml_values_or_bare_words(text, keys, value):
    assert parse_override(text) == (keys, value)


def test_overrides_apply_on_top_of_the_file(tmp_path: Path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('epochs = 3\n[model.gate]\ninput = "raw"\ninput_size = 64\n')
    config = load_recipe(ClsTrainConfig, recipe, ["model.gate.input_size=96", "seed=5"])
    assert (config.epochs, config.seed) == (3, 5)
    assert config.model.gate == GateConfig(input="raw", input_size=96)
    assert isinstance(config.model, ClassifierConfig)


@pytest.mark.parametrize(
    ("content", "overrides", "message"),
    [
        ("epochs = ", [], "not valid TOML"),
        ("epoch = 3", [], "unknown setting 'epoch'"),
        ("[model]\nbackbon = 'x'", [], "unknown setting model.'backbon'"),
        ("model = 3", [], "model must be a table"),
        ("", ["epochs"], "not KEY=VALUE"),
        ("epochs = 3", ["epochs.x=3"], "epochs is a value"),
        ("", ["epochs.x=3"], "setting epochs must be"),
        ('epochs = "ten"', [], "setting epochs must be"),
        ("[model.gate]\ncontrast = 'sepia'", [], "setting model.gate.contrast must be"),
    ],
)
def test_bad_recipes_are_one_clear_error(tmp_path: Path, content, overrides, message):
    recipe = tmp_path / "r.toml"
    recipe.write_text(content)
    with pytest.raises(LunggateError, match=message):
        load_recipe(ClsTrainConfig, recipe, overrides)


def test_a_missing_recipe_is_named(tmp_path: Path):
    with pytest.raises(LunggateError, match="does not exist"):
        load_recipe(ClsTrainConfig, tmp_path / "none.toml")
