"""``lunggate select-backbone``: compare trained candidates on validation macro-F1.

Candidates are compared at an equal budget (the same number of epochs, the fewest
any candidate ran), read from the training history each weights file's sidecar keeps,
so that a longer run does not win by having had more time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from lunggate import modelfile
from lunggate.errors import ModelFileError


def select_backbone(weights: Sequence[Path], out: Path) -> dict:
    """Write ``out`` with each candidate's validation macro-F1 at equal epochs and the winner."""
    histories = {}
    for path in weights:
        meta = modelfile.read_meta(path)
        if not meta.get("history"):
            raise ModelFileError(f"{path} has no training history; was it written by train-cls?")
        model = meta["config"]["model"]
        histories[f"{model['backbone']}_{model['gate']['input']}"] = (path, meta["history"])
    budget = min(len(h) for _, h in histories.values())
    candidates = {}
    for name, (path, history) in histories.items():
        seen = history[:budget]
        best = max(seen, key=lambda row: row["val_macro_f1"])
        candidates[name] = {
            "weights": str(path),
            "epochs_run": len(history),
            f"best_val_macro_f1_within_{budget}_epochs": best["val_macro_f1"],
            "best_epoch": best["epoch"],
            "seconds_for_budget": seen[-1]["seconds"],
            "best_val_macro_f1_overall": max(r["val_macro_f1"] for r in history),
        }
    key = f"best_val_macro_f1_within_{budget}_epochs"
    report = {
        "budget_epochs": budget,
        "criterion": key,
        "candidates": candidates,
        "chosen": max(candidates, key=lambda n: candidates[n][key]),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report
