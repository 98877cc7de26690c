"""``lunggate predict``: analyse image files; write overlays and a JSON result per image."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from lunggate.core.data import output_stem
from lunggate.core.errors import LunggateError
from lunggate.core.imageio import read_image
from lunggate.core.overlays import write_png
from lunggate.pipeline.analyze import Pipeline
from lunggate.pipeline.render import overlays


def predict_files(
    pipeline: Pipeline,
    files: Sequence[Path],
    out: Path | None,
    as_json: bool = False,
    guided: bool = False,
    batch_size: int = 16,
    roots: Sequence[Path] = (),
) -> Iterator[str]:
    """Analyse the files ``batch_size`` at a time (one pipeline batch each); yield each
    file's summary line (or JSON) in order, writing outputs to ``out`` (with a Guided
    Grad-CAM overlay when ``guided``), named by ``output_stem`` under the folders
    ``roots`` the files were found in. A file that cannot be read yields its error line
    and the others go on."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        decoded: list[np.ndarray | str] = []
        for path in chunk:
            try:
                decoded.append(read_image(path))
            except LunggateError as exc:
                decoded.append(f"{path.name}: ERROR, {exc}")
        for path, image, result in zip(
            chunk, decoded, pipeline.analyze_some(decoded, guided), strict=True
        ):
            if isinstance(result, str):
                yield result
                continue
            payload = {"path": str(path), **result.to_dict()}
            if out is not None:
                stem = output_stem(out, path, roots)
                for kind, picture in overlays(image, result).items():
                    write_png(Path(f"{stem}_{kind}.png"), picture)
                Path(f"{stem}.json").write_text(json.dumps(payload, indent=2) + "\n")
            yield json.dumps(payload) if as_json else result.summary(path.name)
