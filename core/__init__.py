"""What every stage shares: the classes, datasets and splits, model files, runtime.

The ground floor of lunggate (installed as ``lunggate.core``): it imports no stage.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lunggate")
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0+unknown"

CLASS_NAMES: tuple[str, ...] = ("COVID", "Lung_Opacity", "Normal", "Viral_Pneumonia")
"""The four classes, in the one order used by every model, report and API."""
