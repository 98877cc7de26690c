"""Several trained classifiers of one architecture in one weights file (``lunggate ensemble``).

Networks trained apart disagree most on the images near a tie between two classes,
the images a small move of the lung mask turns; averaging their logits steadies
those answers. The members share one weights file (so reports and results cite
one SHA-256) and one sidecar that records where each member came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from classification.classifier import new_model
from classification.config import ClassifierConfig
from lunggate import modelfile
from lunggate.errors import ModelFileError

_MEMBER_KEYS = ("chosen_from", "epoch", "val_macro_f1", "val_accuracy", "history", "config")


def combine(weights: Sequence[Path], out: Path) -> str:
    """Write the classifiers in ``weights`` as one ensemble to ``out``; return its SHA-256.

    The ensemble answers with the members' mean logits; its temperature is 1 until
    ``lunggate calibrate`` fits it on validation.

    Raises:
        ModelFileError: fewer than two files, a file that is itself an ensemble, or
            members whose architecture or gate differ.
    """
    if len(weights) < 2:
        raise ModelFileError("an ensemble needs at least two weights files")
    metas = [modelfile.read_meta(w) for w in weights]
    configs = [ClassifierConfig.from_dict(m["config"]["model"]) for m in metas]
    for path, config in zip(weights, configs, strict=True):
        if config.members != 1:
            raise ModelFileError(f"{path} is already an ensemble of {config.members}")
        if config != configs[0]:
            raise ModelFileError(
                f"{path} differs from {weights[0]} in architecture or gate; "
                "ensemble members must share both"
            )
    dtypes = [w.dtype for w in new_model(configs[0]).get_weights()]
    arrays = [a for w in weights for a in modelfile.load(w, dtypes)]
    members = [
        {"weights": Path(w).name, "sha256": modelfile.sha256(w)}
        | {k: m[k] for k in _MEMBER_KEYS if k in m}
        for w, m in zip(weights, metas, strict=True)
    ]
    config = dict(metas[0]["config"])
    config["model"] = replace(configs[0], members=len(weights)).to_dict()
    shared = {k: metas[0][k] for k in ("kind", "class_names", "segmenter_sha256") if k in metas[0]}
    meta = {**shared, "config": config, "members": members}
    return modelfile.save(arrays, out, meta)
