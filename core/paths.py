"""Where the shipped files live: data/, recipes/ and reports/ beside the code.

In a checkout they are the repository's folders; an installed copy carries them as
package data (``lunggate.data``, ``lunggate.recipes``, ``lunggate.reports``), which
lands them at the same place relative to this module: one folder above ``core``.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
"""The checkout, or in an installed copy the ``lunggate`` package folder."""
IN_CHECKOUT = (ROOT / "pyproject.toml").is_file()
DATA_DIR = ROOT / "data"
MODELS_DIR = DATA_DIR / "models"
SAMPLES_DIR = DATA_DIR / "samples"
SPLIT_FILE = DATA_DIR / "splits" / "cxr4.csv"
REPORTS_DIR = ROOT / "reports"
RECIPES_DIR = ROOT / "recipes"
"""One TOML file per shipped model: the settings that trained it."""
CACHE_DIR = (
    ROOT / ".cache"
    if IN_CHECKOUT
    else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lunggate"
)
"""Derived files (U-Net masks of the corpus, compiled models): safe to delete. An
installed copy keeps them in the user's cache, not inside site-packages."""
_SHARED = (ROOT.parent if IN_CHECKOUT else Path.cwd().parent) / "shared" / "data"
DEFAULT_DATA_ROOT = _SHARED / "cxr4"
DEFAULT_EXTERNAL = _SHARED / "cxr-ext" / "manifest.csv"
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
