"""``lunggate predict``: analyse image files; write overlays and a JSON result per image."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from lunggate.core.errors import LunggateError
from lunggate.core.overlays import write_png
from lunggate.pipeline.analyze import Pipeline
from lunggate.pipeline.imageio import decode
from lunggate.pipeline.render import overlays


def predict_files(
    pipeline: Pipeline,
    files: Sequence[Path],
    out: Path | None,
    as_json: bool = False,
    guided: bool = False,
) -> Iterator[str]:
    """Analyse each file; yield its summary line (or JSON), writing outputs to ``out``
    (with a Guided Grad-CAM overlay when ``guided``)."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for path in files:
        try:
            image = decode(path.read_bytes()).pixels
        except LunggateError as exc:
            yield f"{path.name}: ERROR, {exc}"
            continue
        result = pipeline.analyze(image, guided)
        payload = {"file": str(path), **result.to_dict()}
        if out is not None:
            for kind, picture in overlays(image, result).items():
                write_png(out / f"{path.stem}_{kind}.png", picture)
            (out / f"{path.stem}.json").write_text(json.dumps(payload, indent=2) + "\n")
        yield json.dumps(payload) if as_json else result.summary(path.name)
