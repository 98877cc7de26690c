"""Recipe files: a shipped model's training settings as TOML, loaded into typed configs.

A recipe names only what it sets; every other field keeps its dataclass default.
``key=value`` overrides (dotted keys into nested configs, values in TOML syntax, bare
words taken as strings) let an experiment change one setting without a new file, and
the sidecar of what it trains records the resulting config in full.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from lunggate.core.errors import LunggateError

T = TypeVar("T")


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"model.gate.contrast=clahe"`` -> (["model", "gate", "contrast"], "clahe")."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise LunggateError(f"override {text!r} is not KEY=VALUE (e.g. epochs=8)")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return key.strip().split("."), parsed


def _fits(kind: Any, value: Any) -> bool:
    """Whether ``value`` is of the (simple) annotated type ``kind``."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Literal:
        return value in args
    if origin in (typing.Union, types.UnionType):
        return any(_fits(arg, value) for arg in args)
    if origin is tuple:
        return isinstance(value, tuple) and all(_fits(args[0], v) for v in value)
    if kind is type(None):
        return value is None
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind) if isinstance(kind, type) else True


def _admits_tuple(kind: Any) -> bool:
    """A tuple field, or an optional one (``tuple[int, int] | None``)."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return any(_admits_tuple(arg) for arg in typing.get_args(kind))
    return typing.get_origin(kind) is tuple


def build(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """A ``cls`` dataclass from nested dicts: unknown keys and values of the wrong type
    are errors, lists of a tuple field become tuples, nested dataclass fields are
    built the same way."""
    if not isinstance(data, dict):
        name = where.rstrip(".") or cls.__name__
        raise LunggateError(f"{name} must be a table of settings, not {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - fields)
    if unknown:
        raise LunggateError(
            f"unknown setting {where}{unknown[0]!r}; {cls.__name__} has {', '.join(sorted(fields))}"
        )
    values = {}
    for name, value in data.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            value = build(kind, value, f"{where}{name}.")
        elif isinstance(value, list) and _admits_tuple(kind):
            value = tuple(value)
        if not dataclasses.is_dataclass(kind) and not _fits(kind, value):
            raise LunggateError(f"setting {where}{name} must be {kind}, not {value!r}")
        values[name] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise LunggateError(f"{where or cls.__name__}: {exc}") from exc


def load_recipe(
    cls: type[T], path: str | Path | None, overrides: Sequence[str] = (), what: str = "recipe"
) -> T:
    """``cls`` from a recipe file (None: the defaults) with ``overrides`` applied.

    ``what`` names the file in error messages (a recipe, a model config).

    Raises:
        LunggateError: a missing or malformed file, a malformed override, an unknown key.
    """
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise LunggateError(f"{what} {path} does not exist")
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise LunggateError(f"{what} {path} is not valid TOML: {exc}") from exc
    for text in overrides:
        keys, value = parse_override(text)
        table = data
        for key in keys[:-1]:
            table = table.setdefault(key, {})
            if not isinstance(table, dict):
                raise LunggateError(f"override {text!r}: {key} is a value, not a table")
        table[keys[-1]] = value
    return build(cls, data)
