"""``lunggate segment``: lung masks and outline overlays for image files.

The masks are the ones the pipeline gates with (``LungFinder``: overlays painted
over, marks carved out), so what a user inspects here is what the classifier saw.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from lunggate.core.data import image_files, read_gray
from lunggate.core.errors import LunggateError
from lunggate.core.overlays import draw_outline, to_rgb, write_png
from lunggate.segmentation.config import BurnInConfig
from lunggate.segmentation.finder import LungFinder


def segment_files(
    inputs: Sequence[Path], out: Path, weights: Path, burn_in: BurnInConfig = BurnInConfig()
) -> Iterator[str]:
    """Write ``<stem>_mask.png`` and ``<stem>_lungs.png`` per image; yield a summary line each."""
    files = image_files(inputs)
    finder = LungFinder.load(weights, burn_in)
    out.mkdir(parents=True, exist_ok=True)
    for path in files:
        try:
            image = read_gray(path)
        except LunggateError as exc:
            yield f"{path.name}: ERROR, {exc}"
            continue
        found = finder.find([image])[0].lungs
        write_png(out / f"{path.stem}_mask.png", found.mask.astype(np.uint8) * 255)
        write_png(out / f"{path.stem}_lungs.png", draw_outline(to_rgb(image), found.mask))
        q = found.quality
        status = "ok" if q.ok else f"REJECTED ({q.reason})"
        yield f"{path.name}: lung area {q.area_fraction:.2f}, {q.components} component(s), {status}"
