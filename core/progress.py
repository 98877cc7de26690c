"""Progress bars for the long commands, on stderr, so their results stay on stdout."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def chunks(total: int, size: int, desc: str | None = None) -> Iterator[int]:
    """Start indices of ``size``-item chunks of ``total`` items.

    With ``desc``, a bar named so counts the items as each chunk is done and goes away
    at the end (the command's own bar, if any, stays).
    """
    with tqdm(total=total, desc=desc, unit="img", leave=False, disable=desc is None) as bar:
        for start in range(0, total, size):
            yield start
            bar.update(min(size, total - start))


def mapped(
    run: Callable[[Sequence[T]], list[R]], items: Sequence[T], size: int, desc: str
) -> list[R]:
    """``run`` over ``size``-item chunks of ``items``, its answers joined, with a bar."""
    return [r for s in chunks(len(items), size, desc) for r in run(items[s : s + size])]
