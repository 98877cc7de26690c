"""Figure helpers shared by the evaluation commands (matplotlib, no display)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def save_grid(
    panels: Sequence[tuple[np.ndarray, str]], path: Path, title: str, cols: int = 4
) -> None:
    """RGB pictures with captions in a grid of ``cols`` columns, saved as PNG."""
    rows = max(1, -(-len(panels) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.3 * rows))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, (picture, caption) in zip(np.ravel(axes), panels, strict=False):
        ax.imshow(picture)
        ax.set_title(caption, fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
