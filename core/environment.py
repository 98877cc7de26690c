"""Environment variables read as settings, with one error for a malformed one."""

from __future__ import annotations

import os

from lunggate.core.errors import LunggateError

ATTENTION_THRESHOLD = "LUNGGATE_ATTENTION_THRESHOLD"
"""A fixed in-lung score below which an answer is flagged, for every command and the API."""


def env_float(name: str) -> float | None:
    """A float environment variable, or None when unset; a clear error when malformed."""
    value = os.environ.get(name)
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise LunggateError(f"{name} must be a number, got {value!r}") from None
