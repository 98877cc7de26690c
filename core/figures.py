"""Figure helpers shared by the evaluation commands (matplotlib, no display)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def save_grid(
    panels: Sequence[tuple[np.ndarray, str]], path: Path, title: str, cols: int = 4
) -> None:
    """RGB pictures with captions in a grid of ``cols`` columns, saved as PNG."""
    rows = max(1, -(-len(panels) // cols))
    fig = Figure(figsize=(3 * cols, 3.3 * rows))
    axes = fig.subplots(rows, cols)
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, (picture, caption) in zip(np.ravel(axes), panels, strict=False):
        ax.imshow(picture)
        ax.set_title(caption, fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
