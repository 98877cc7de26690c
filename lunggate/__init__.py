"""lunggate: a lung-segmentation-gated, explainable chest X-ray classifier.

The stages live in the top-level packages ``segmentation``, ``classification``,
``pipeline`` and ``api``; this package holds what they share (dataset layer,
split, model files, command line).
"""

__version__ = "0.1.0"

CLASS_NAMES: tuple[str, ...] = ("COVID", "Lung_Opacity", "Normal", "Viral_Pneumonia")
"""The four classes, in the one order used by every model, report and API."""
