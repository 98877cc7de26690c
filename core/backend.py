"""The one place that selects the Keras flavour and imports segmentation_models.

segmentation_models 1.0.1 only works with the legacy (tf-keras 2.x) Keras, so
``TF_USE_LEGACY_KERAS`` and ``SM_FRAMEWORK`` must be set before TensorFlow is first
imported. Every module that needs Keras imports it from here.
"""

import contextlib
import io
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("SM_FRAMEWORK", "tf.keras")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

# segmentation_models prints its framework choice on import; keep imports silent.
with contextlib.redirect_stdout(io.StringIO()):
    import segmentation_models as sm  # noqa: E402

__all__ = ["keras", "sm", "tf"]
