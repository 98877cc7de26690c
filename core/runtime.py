"""Forward passes for serving: LiteRT (XNNPACK) for saved weights, TensorFlow otherwise.

On a small CPU, LiteRT's XNNPACK kernels run the shipped networks several times
faster than TensorFlow does (``lunggate lab bench`` times both) with the same outputs
(tests/test_runtime.py); that is what lets the pipeline average several networks and
mask variants per answer within its latency budget. Converting a model is slow, so
the flatbuffer is built locally (nothing is downloaded) once per weights file and
kept in ``.cache/litert``, named by the weights' SHA-256 and the converter's version.
Models without a weights file (training, tests) run through TensorFlow.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Protocol

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from lunggate.core.backend import keras, tf
from lunggate.core.paths import CACHE_DIR

LITERT_CACHE = CACHE_DIR / "litert"


class Forward(Protocol):
    """A model's inference: a float32 batch in, its outputs (in the model's order) out."""

    runtime: str

    def __call__(self, x: np.ndarray) -> list[np.ndarray]: ...


class TensorFlowForward:
    """The Keras model's own forward pass, traced once for every batch size."""

    runtime = "tensorflow"

    def __init__(self, model: keras.Model) -> None:
        spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
        self._call = tf.function(lambda x: model(x, training=False), input_signature=[spec])

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        out = self._call(tf.constant(x, tf.float32))
        return [o.numpy() for o in (out if isinstance(out, list | tuple) else [out])]


class LiteRTForward:
    """A LiteRT interpreter of a converted model; calls are serialized (it is not
    thread-safe), and XNNPACK spreads each call over ``threads`` cores (None: all the
    machine's; the Ray engine gives each actor one per CPU it holds)."""

    runtime = "litert"

    def __init__(
        self, flatbuffer: bytes, output_names: list[str], threads: int | None = None
    ) -> None:
        self.threads = threads or os.cpu_count()
        self._interpreter = Interpreter(model_content=flatbuffer, num_threads=self.threads)
        self._runner = self._interpreter.get_signature_runner()
        (self._input,) = self._runner.get_input_details()
        missing = set(output_names) - set(self._runner.get_output_details())
        if missing:
            raise ValueError(f"converted model lacks outputs {sorted(missing)}")
        self._outputs = output_names
        self._lock = threading.Lock()

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        with self._lock:
            out = self._runner(**{self._input: np.ascontiguousarray(x, np.float32)})
        return [out[name] for name in self._outputs]


def convert(model: keras.Model) -> bytes:
    """The model as a LiteRT flatbuffer (float32, no quantization)."""
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def serving_forward(
    model: keras.Model, key: str | None, threads: int | None = None, cache_dir: Path = LITERT_CACHE
) -> Forward:
    """LiteRT forward of ``model`` converted once and cached under ``key``.

    ``key`` names the weights (their SHA-256, plus a part name when one file holds
    several networks); ``None`` (unsaved weights) runs the model through TensorFlow.
    A damaged cache file is converted again. ``threads``: the interpreter's (None: all
    the machine's cores).
    """
    if key is None:
        return TensorFlowForward(model)
    path = cache_dir / f"{key}-tf{tf.__version__}.tflite"
    if path.is_file():
        try:
            return LiteRTForward(path.read_bytes(), model.output_names, threads)
        except (OSError, ValueError, RuntimeError):
            pass  # damaged or foreign: convert again below
    print(f"lunggate: compiling {key} for this CPU (once per weights file, ~30 s)", file=sys.stderr)
    flatbuffer = convert(model)
    try:
        # Written aside and renamed, so concurrent processes never read a half-written file.
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tflite")
        with os.fdopen(fd, "wb") as f:
            f.write(flatbuffer)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only install still serves, it just converts each run
        print(f"lunggate: cannot cache {path.name} ({exc.strerror})", file=sys.stderr)
    return LiteRTForward(flatbuffer, model.output_names, threads)
