"""lunggate: a lung-segmentation-gated, explainable chest X-ray classifier.

One installed namespace over the checkout's folders (``pyproject.toml`` maps them):
``lunggate.core`` (``core/``, what the stages share), ``lunggate.segmentation``,
``lunggate.classification``, ``lunggate.pipeline`` (what answers one image),
``lunggate.audit`` (many images and their report), ``lunggate.api`` and
``lunggate.lab`` (training, studies, benchmarks and the ``lunggate lab`` commands).
This package itself is the roof: users' command line (``cli``), the only code that
imports them all.
"""
