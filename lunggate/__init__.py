"""lunggate: a lung-segmentation-gated, explainable chest X-ray classifier.

One installed namespace over the checkout's folders (``pyproject.toml`` maps them):
``lunggate.core`` (``core/``, what the stages share), ``lunggate.segmentation``,
``lunggate.classification``, ``lunggate.pipeline`` and ``lunggate.api``. This
package itself is the roof: the command line (``cli``, users' commands; ``lab``,
training, evaluation and benchmarks), which is the only code that imports them all.
"""
