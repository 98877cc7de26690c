"""Progress bars for the long commands, on stderr, so their results stay on stdout."""

from __future__ import annotations

from collections.abc import Iterator

from tqdm import tqdm


def chunks(total: int, size: int, desc: str | None = None) -> Iterator[int]:
    """Start indices of ``size``-item chunks of ``total`` items.

    With ``desc``, a bar named so counts the items as each chunk is done and goes away
    at the end (the command's own bar, if any, stays).
    """
    with tqdm(total=total, desc=desc, unit="img", leave=False, disable=desc is None) as bar:
        for start in range(0, total, size):
            yield start
            bar.update(min(size, total - start))
