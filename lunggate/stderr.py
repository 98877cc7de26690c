"""TensorFlow's and LiteRT's start-up chatter kept off the user's terminal.

On a CPU machine every command would begin with lines from TensorFlow's native
libraries (oneDNN, CUDA drivers not found, cuInit failed, the XNNPACK delegate):
none is about the user's input, and Python cannot silence them, since they are
written to file descriptor 2 by C++ before any Python setting applies. While a
command runs, descriptor 2 is therefore a pipe whose lines are passed on to the real
stderr unless they are one of those known lines; everything else, warnings and
errors included, still appears, in order.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

NOISE = re.compile(
    rb"All log messages before absl::InitializeLog|oneDNN custom operations are on"
    rb"|Could not find cuda drivers|failed call to cuInit|Created TensorFlow Lite XNNPACK"
    rb"|This TensorFlow binary is optimized|Unable to register cu(DNN|FFT|BLAS) factory"
)
LINE_END = re.compile(rb"[\r\n]")


def _pump(source: int, sink: int) -> None:
    """Copy ``source`` to ``sink`` line by line (``\\r`` ends a line too, for progress
    bars), leaving out the known noise."""
    pending = b""
    while chunk := os.read(source, 65536):
        pending += chunk
        start = 0
        for end in LINE_END.finditer(pending):
            line = pending[start : end.end()]
            if not NOISE.search(line):
                os.write(sink, line)
            start = end.end()
        pending = pending[start:]
    if pending and not NOISE.search(pending):
        os.write(sink, pending)
    os.close(source)


@contextmanager
def without_native_noise() -> Iterator[None]:
    """Filter descriptor 2 while the block runs (see the module's docstring)."""
    sys.stderr.flush()
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    pump = threading.Thread(target=_pump, args=(read_end, real), daemon=True)
    pump.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)  # the pipe's last writer closes: the pump drains and ends
        pump.join(timeout=10)
        os.close(real)
