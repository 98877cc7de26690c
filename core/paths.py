"""Where the shipped files live: the repository's own data/ and reports/ folders."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "data"
MODELS_DIR = DATA_DIR / "models"
SAMPLES_DIR = DATA_DIR / "samples"
SPLIT_FILE = DATA_DIR / "splits" / "cxr4.csv"
REPORTS_DIR = REPO_ROOT / "reports"
RECIPES_DIR = REPO_ROOT / "recipes"
"""One TOML file per shipped model: the settings that trained it."""
CACHE_DIR = REPO_ROOT / ".cache"
"""Derived files (U-Net masks of the corpus, compiled models): safe to delete."""
DEFAULT_DATA_ROOT = REPO_ROOT.parent / "shared" / "data" / "cxr4"
DEFAULT_EXTERNAL = REPO_ROOT.parent / "shared" / "data" / "cxr-ext" / "manifest.csv"
"""Films from other sources, for choosing between recipes and for reporting only."""
SEGMENTER_WEIGHTS = MODELS_DIR / "unet_mobilenetv2_128.npz"
SEGMENTER_RECIPE = RECIPES_DIR / "segmenter.toml"
CLASSIFIER_RECIPES = {
    "masked": RECIPES_DIR / "classifier_masked.toml",
    "raw": RECIPES_DIR / "classifier_raw.toml",
    "lungs_hidden": RECIPES_DIR / "classifier_lungs_hidden.toml",
}
CLASSIFIER_WEIGHTS = {
    "masked": MODELS_DIR / "classifier_masked.npz",
    "raw": MODELS_DIR / "classifier_raw.npz",
    "lungs_hidden": MODELS_DIR / "classifier_lungs_hidden.npz",
}
