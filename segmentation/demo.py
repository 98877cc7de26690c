"""``lunggate segment``: lung masks and outline overlays for image files.

The masks are the ones the pipeline gates with (``LungFinder``: marks painted
over, marks carved out), so what a user inspects here is what the classifier saw.
Files are read as ``predict`` reads them (``imageio.read_image``: DICOM too, large
films shrunk) and their outputs named the same way (``data.output_stem``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from lunggate.core.data import image_files, output_stem
from lunggate.core.errors import LunggateError
from lunggate.core.film_format import to_shape
from lunggate.core.imageio import read_image
from lunggate.core.overlays import draw_outline, to_rgb, write_png
from lunggate.segmentation.config import MarkRemovalConfig
from lunggate.segmentation.finder import LungFinder


def segment_files(
    inputs: Sequence[Path],
    out: Path,
    weights: Path,
    mark_removal: MarkRemovalConfig = MarkRemovalConfig(),
) -> Iterator[str]:
    """Write ``<name>_mask.png`` and ``<name>_lungs.png`` per image, under its path
    relative to the folder given; yield a summary line each."""
    files = image_files(inputs)
    finder = LungFinder.load(weights, mark_removal)
    for path in files:
        try:
            image = read_image(path)
        except LunggateError as exc:
            yield f"{path.name}: ERROR, {exc}"
            continue
        found = finder.find([image])[0].lungs
        mask = to_shape(found.mask, image.shape)
        stem = output_stem(out, path, inputs)
        write_png(Path(f"{stem}_mask.png"), mask.astype(np.uint8) * 255)
        write_png(Path(f"{stem}_lungs.png"), draw_outline(to_rgb(image), mask))
        q = found.quality
        status = "ok" if q.ok else f"REJECTED ({q.reason})"
        yield f"{path.name}: lung area {q.area_fraction:.2f}, {q.components} component(s), {status}"
