"""Command-line options that users' commands (``lunggate.cli``) and the lab's share."""

from __future__ import annotations

import argparse
from pathlib import Path

from lunggate.core.paths import DEFAULT_DATA_ROOT, SPLIT_FILE
from lunggate.segmentation.config import MarkRemovalConfig


def data_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-root",
        type=Path,
        default=DEFAULT_DATA_ROOT,
        help="dataset folder in the COVID-19 Radiography Database layout "
        f"(default {DEFAULT_DATA_ROOT})",
    )
    parser.add_argument(
        "--split-file",
        type=Path,
        default=SPLIT_FILE,
        help=f"the train/val/test assignment to use (default {SPLIT_FILE})",
    )


def threshold(parser: argparse.ArgumentParser) -> None:
    why = "(default: chance level, the image's own lung area fraction)"
    parser.add_argument("--threshold", type=float, help=f"flag in-lung shares below this {why}")


def mark_removal(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-marks",
        "--keep-burn-in",  # the name before 0.2, kept for one release
        dest="keep_marks",
        action="store_true",
        help="do not paint over burned-in marks (text, markers, wires) before segmenting "
        "(--keep-burn-in: the old name)",
    )


def mark_removal_config(args: argparse.Namespace) -> MarkRemovalConfig:
    return MarkRemovalConfig(enabled=not args.keep_marks)


def weights(parser: argparse.ArgumentParser, default: Path | None) -> None:
    where = default or "data/models/, by the model's input"
    parser.add_argument("--weights", type=Path, default=default, help=f"weights file ({where})")


def split(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))


def recipe(parser: argparse.ArgumentParser, default: Path, also: str = "") -> None:
    parser.add_argument(
        "--recipe", type=Path, default=default, help=f"TOML settings (default {default}{also})"
    )
    parser.add_argument(
        "--set",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="override recipe settings, e.g. epochs=4",
    )
