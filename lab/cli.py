"""``lunggate lab``: the commands that make and measure the models.

Training from recipe files, evaluation on the corpus's splits, calibration of the
answer, the plausibility check's report and the benchmarks. Users' commands are in
``lunggate.cli``; each handler here imports its stage when it runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lunggate.core.paths import (
    CLASSIFIER_RECIPES,
    CLASSIFIER_WEIGHTS,
    DEFAULT_DATA_ROOT,
    DEFAULT_EXTERNAL,
    REPORTS_DIR,
    ROOT,
    SEGMENTER_RECIPE,
    SEGMENTER_WEIGHTS,
    SPLIT_FILE,
)
from lunggate.lab import options


def recipe_name(recipe: Path, overrides: list[str]) -> str:
    """How a sidecar names the recipe: the file, relative to the checkout, and overrides."""
    path = recipe.resolve()
    name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(recipe)
    return " ".join([name, *overrides])


def cmd_split(args: argparse.Namespace) -> None:
    from lunggate.core.data import scan_dataset
    from lunggate.core.splits import make_split, write_split

    records = scan_dataset(args.data_root)
    assignment = make_split(records)
    write_split(args.out, records, assignment)
    counts = {s: sum(v == s for v in assignment.values()) for s in ("train", "val", "test")}
    print(f"wrote {args.out}: {counts}")


def cmd_train_seg(args: argparse.Namespace) -> None:
    from lunggate.core.recipes import load_recipe
    from lunggate.segmentation.config import SegTrainConfig
    from lunggate.segmentation.train import train_segmenter

    config = load_recipe(SegTrainConfig, args.recipe, args.set)
    result = train_segmenter(
        config, args.data_root, args.out, args.split_file, recipe_name(args.recipe, args.set)
    )
    print(json.dumps(result))


def cmd_eval_seg(args: argparse.Namespace) -> None:
    from lunggate.segmentation.evaluate import evaluate_segmenter
    from lunggate.segmentation.segmenter import UNetSegmenter

    report = evaluate_segmenter(
        UNetSegmenter.load(args.weights), args.data_root, args.split, args.out, args.split_file
    )
    print(json.dumps({k: report[k] for k in ("dice", "iou", "n")}))


def cmd_train_cls(args: argparse.Namespace) -> None:
    from lunggate.classification.config import ClsTrainConfig
    from lunggate.classification.train import train_classifier
    from lunggate.core.recipes import load_recipe
    from lunggate.segmentation.finder import LungFinder

    config = load_recipe(ClsTrainConfig, args.recipe, args.set)
    out = args.out or CLASSIFIER_WEIGHTS[config.model.gate.input]
    result = train_classifier(
        config,
        LungFinder.load() if config.model.gate.uses_masks else None,
        args.data_root,
        out,
        args.split_file,
        recipe=recipe_name(args.recipe, args.set),
    )
    print(json.dumps(result))


def cmd_calibrate(args: argparse.Namespace) -> None:
    from lunggate.classification.train import calibrate
    from lunggate.segmentation.finder import LungFinder

    weights = args.weights or CLASSIFIER_WEIGHTS["masked"]
    result = calibrate(
        weights, tuple(args.mask_variants), LungFinder.load(), args.data_root, args.split_file
    )
    print(json.dumps(result))


def cmd_eval_cls(args: argparse.Namespace) -> None:
    from lunggate.classification.classifier import LungClassifier
    from lunggate.classification.evaluate import evaluate_classifier
    from lunggate.segmentation.finder import LungFinder

    classifier = LungClassifier.load(args.weights or CLASSIFIER_WEIGHTS[args.input])
    report = evaluate_classifier(
        classifier,
        LungFinder.load(mark_removal=options.mark_removal_config(args)),
        args.data_root,
        args.split,
        args.out,
        args.split_file,
        args.threshold,
    )
    keys = ("accuracy", "macro_f1", "n")
    print(json.dumps({k: report[k] for k in keys} | {"in_lung": report["in_lung"]["median"]}))


def cmd_eval_plausibility(args: argparse.Namespace) -> None:
    from lunggate.segmentation.finder import LungFinder
    from lunggate.segmentation.plausibility_report import evaluate_plausibility

    report = evaluate_plausibility(
        LungFinder.load(args.weights), args.data_root, args.out, args.split_file
    )
    print(json.dumps({s: r["wrongly_rejected_share"] for s, r in report["real_xrays"].items()}))


def cmd_eval_familiarity(args: argparse.Namespace) -> None:
    from lunggate.lab.familiarity_report import evaluate_familiarity

    weights = args.weights or CLASSIFIER_WEIGHTS["masked"]
    report = evaluate_familiarity(args.data_root, args.external, args.out, args.split_file, weights)
    keys = ("threshold", "auroc_test_vs_external")
    print(json.dumps({k: report[k] for k in keys}))


def cmd_bench(args: argparse.Namespace) -> None:
    from lunggate.lab.bench import run_bench

    report = run_bench(
        args.out, args.repeats, args.backbones, args.audit, args.batch, args.report_rows
    )
    if args.soak:
        from lunggate.lab.soak import soak

        report["soak"] = soak(rounds=30, per_round=96, clients=16)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def add_lab(sub: argparse._SubParsersAction) -> None:
    """The ``lab`` group and its commands."""
    lab = sub.add_parser(
        "lab", help="make and measure the models: training, evaluation, calibration, benchmarks"
    )
    cmds = lab.add_subparsers(dest="lab_command", metavar="COMMAND", required=True)

    p = cmds.add_parser("split", help="write the stratified train/val/test split file")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT, help="dataset folder")
    p.add_argument("--out", type=Path, default=SPLIT_FILE, help=f"split CSV (default {SPLIT_FILE})")
    p.set_defaults(func=cmd_split)

    p = cmds.add_parser("train-seg", help="train the lung U-Net from a recipe file")
    p.add_argument("--out", type=Path, default=SEGMENTER_WEIGHTS, help="weights file (.npz)")
    options.data_root(p)
    options.recipe(p, SEGMENTER_RECIPE)
    p.set_defaults(func=cmd_train_seg)

    p = cmds.add_parser("eval-seg", help="Dice/IoU of the U-Net on a split, worst cases figure")
    options.data_root(p)
    options.split(p)
    options.weights(p, SEGMENTER_WEIGHTS)
    p.add_argument("--out", type=Path, default=REPORTS_DIR, help="report folder")
    p.set_defaults(func=cmd_eval_seg)

    p = cmds.add_parser("train-cls", help="train the four-class classifier from a recipe file")
    options.data_root(p)
    options.recipe(p, CLASSIFIER_RECIPES["masked"], f"; the raw twin: {CLASSIFIER_RECIPES['raw']}")
    p.add_argument("--out", type=Path, default=None, help="weights file (default data/models/)")
    p.set_defaults(func=cmd_train_cls)

    p = cmds.add_parser(
        "calibrate",
        help="set a masked model's mask variants; refit its temperature and familiarity threshold",
    )
    options.data_root(p)
    options.weights(p, None)
    p.add_argument(
        "--mask-variants",
        type=int,
        nargs="+",
        required=True,
        metavar="PX",
        help="answer with the mean over the lung mask grown by each of these pixels "
        "(negative shrinks; 0 must be one)",
    )
    p.set_defaults(func=cmd_calibrate)

    p = cmds.add_parser("eval-cls", help="metrics, calibration and in-lung attention on a split")
    options.data_root(p)
    p.add_argument("--input", choices=sorted(CLASSIFIER_WEIGHTS), default="masked")
    options.split(p)
    options.weights(p, None)
    options.threshold(p)
    options.mark_removal(p)
    p.add_argument("--out", type=Path, default=REPORTS_DIR, help="report folder")
    p.set_defaults(func=cmd_eval_cls)

    p = cmds.add_parser(
        "eval-familiarity",
        help="the familiarity score on the splits and an external set: ROC-AUC, flagged "
        "shares, risk-coverage",
    )
    options.data_root(p)
    options.weights(p, None)
    p.add_argument(
        "--external",
        type=Path,
        default=DEFAULT_EXTERNAL,
        help=f"films from other sources, a folder or CSV (default {DEFAULT_EXTERNAL})",
    )
    p.add_argument("--out", type=Path, default=REPORTS_DIR, help="report folder")
    p.set_defaults(func=cmd_eval_familiarity)

    p = cmds.add_parser(
        "eval-plausibility",
        aliases=["eval-gate"],
        help="X-rays the plausibility check refuses, fakes it catches",
    )
    options.data_root(p)
    options.weights(p, SEGMENTER_WEIGHTS)
    p.add_argument("--out", type=Path, default=REPORTS_DIR / "plausibility.json")
    p.set_defaults(func=cmd_eval_plausibility)

    p = cmds.add_parser("bench", help="inference latency and throughput on this machine")
    p.add_argument("--out", type=Path, default=REPORTS_DIR / "bench.json")
    p.add_argument("--repeats", type=int, default=50, help="single-image calls to time")
    p.add_argument("--batch", type=int, default=64, help="images per batched call to time")
    p.add_argument(
        "--backbones",
        action="store_true",
        help="also measure training/inference speed of every registered backbone",
    )
    p.add_argument(
        "--soak",
        action="store_true",
        help="also serve on loopback under 16 clients for 2,880 requests: memory and latency",
    )
    p.add_argument(
        "--audit",
        type=int,
        default=0,
        metavar="N",
        help="also time `audit` on N images with each engine (local, ray)",
    )
    p.add_argument(
        "--report-rows",
        type=int,
        nargs="+",
        default=[],
        metavar="N",
        help="also build the audit report of N synthetic rows (each N in a fresh process): "
        "time, peak memory, and the page's first rows in headless Chromium",
    )
    p.set_defaults(func=cmd_bench)
