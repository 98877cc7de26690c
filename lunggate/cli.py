"""The ``lunggate`` command line: one subcommand per task, each with ``--help``.

Heavy imports (TensorFlow) happen inside the handlers, so ``--help`` stays instant.
Every ``LunggateError`` becomes a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from lunggate.classification.config import ClsTrainConfig
from lunggate.core.errors import LunggateError
from lunggate.core.paths import (
    CLASSIFIER_RECIPES,
    CLASSIFIER_WEIGHTS,
    DEFAULT_DATA_ROOT,
    REPO_ROOT,
    REPORTS_DIR,
    SPLIT_FILE,
)
from lunggate.core.paths import SEGMENTER_WEIGHTS as SEG_WEIGHTS
from lunggate.segmentation.config import BurnInConfig, SegTrainConfig


def _data_root(parser: argparse.ArgumentParser) -> None:
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


def _marks_arg(parser: argparse.ArgumentParser, default: float) -> None:
    parser.add_argument(
        "--marks",
        type=float,
        default=default,
        help="share of training images given random burned-in marks (0 turns them off)",
    )


def _init_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--init",
        type=Path,
        default=None,
        help="continue from these weights (same architecture); never saves worse ones",
    )


def _threshold_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="flag predictions whose in-lung attention share is below this "
        "(default: chance level, the image's own lung area fraction)",
    )


def _burn_in_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-burn-in",
        action="store_true",
        help="do not paint over burned-in text, markers and wires before segmenting",
    )


def _burn_in(args: argparse.Namespace) -> BurnInConfig:
    return BurnInConfig(enabled=not args.keep_burn_in)


def cmd_split(args: argparse.Namespace) -> None:
    from lunggate.core.data import scan_dataset
    from lunggate.core.splits import make_split, write_split

    records = scan_dataset(args.data_root)
    assignment = make_split(records)
    write_split(args.out, records, assignment)
    counts = {s: sum(v == s for v in assignment.values()) for s in ("train", "val", "test")}
    print(f"wrote {args.out}: {counts}")


def cmd_train_seg(args: argparse.Namespace) -> None:
    from lunggate.segmentation.config import UNetConfig
    from lunggate.segmentation.train import train_segmenter

    config = SegTrainConfig(
        unet=UNetConfig(input_size=args.input_size),
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        max_train_images=args.max_images,
        init_weights=str(args.init) if args.init else None,
        marks=args.marks,
        burn_in=_burn_in(args),
    )
    print(json.dumps(train_segmenter(config, args.data_root, args.out, args.split_file)))


def cmd_eval_seg(args: argparse.Namespace) -> None:
    from lunggate.segmentation.evaluate import evaluate_segmenter
    from lunggate.segmentation.segmenter import UNetSegmenter

    report = evaluate_segmenter(
        UNetSegmenter.load(args.weights), args.data_root, args.split, args.out, args.split_file
    )
    print(json.dumps({k: report[k] for k in ("dice", "iou", "n")}))


def cmd_calibrate(args: argparse.Namespace) -> None:
    from lunggate.classification.train import set_mask_variants

    weights = args.weights or CLASSIFIER_WEIGHTS["masked"]
    result = set_mask_variants(weights, tuple(args.mask_variants), args.data_root, args.split_file)
    print(json.dumps(result))


def cmd_eval_gate(args: argparse.Namespace) -> None:
    from lunggate.segmentation.gate_report import evaluate_gate
    from lunggate.segmentation.segmenter import UNetSegmenter

    report = evaluate_gate(
        UNetSegmenter.load(args.weights), args.data_root, args.out, args.split_file
    )
    print(json.dumps({s: r["wrongly_rejected_share"] for s, r in report["real_xrays"].items()}))


def _recipe_name(recipe: Path, overrides: list[str]) -> str:
    """How a sidecar names the recipe: the file, relative to the checkout, and overrides."""
    path = recipe.resolve()
    name = str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(recipe)
    return " ".join([name, *overrides])


def cmd_train_cls(args: argparse.Namespace) -> None:
    from lunggate.classification.train import train_classifier
    from lunggate.core.recipes import load_recipe

    config = load_recipe(ClsTrainConfig, args.recipe, args.set)
    out = args.out or CLASSIFIER_WEIGHTS[config.model.gate.input]
    result = train_classifier(
        config, args.data_root, out, args.split_file, recipe=_recipe_name(args.recipe, args.set)
    )
    print(json.dumps(result))


def cmd_eval_cls(args: argparse.Namespace) -> None:
    from lunggate.classification.classifier import LungClassifier
    from lunggate.classification.evaluate import evaluate_classifier

    classifier = LungClassifier.load(args.weights or CLASSIFIER_WEIGHTS[args.input])
    report = evaluate_classifier(
        classifier,
        args.data_root,
        args.split,
        args.out,
        args.split_file,
        args.threshold,
        _burn_in(args),
    )
    keys = ("accuracy", "macro_f1", "n")
    print(
        json.dumps({**{k: report[k] for k in keys}, "in_lung_median": report["in_lung"]["median"]})
    )


def cmd_segment(args: argparse.Namespace) -> None:
    from lunggate.segmentation.demo import segment_files

    for line in segment_files(args.inputs, args.out, args.weights, _burn_in(args)):
        print(line)


def cmd_predict(args: argparse.Namespace) -> None:
    from lunggate.core.data import image_files
    from lunggate.pipeline.analyze import Pipeline, PipelineConfig
    from lunggate.pipeline.predict import predict_files

    files = image_files(args.inputs)
    pipeline = Pipeline.load(
        PipelineConfig(attention_threshold=args.threshold, burn_in=_burn_in(args))
    )
    for line in predict_files(pipeline, files, args.out, args.json, args.guided):
        print(line, flush=True)


def cmd_audit(args: argparse.Namespace) -> None:
    from lunggate.core.data import image_files
    from lunggate.pipeline.analyze import Pipeline, PipelineConfig
    from lunggate.pipeline.audit import audit

    image_files([args.folder])  # a missing or empty folder fails before the models load
    pipeline = Pipeline.load(
        PipelineConfig(attention_threshold=args.threshold, burn_in=_burn_in(args))
    )
    summary = audit(pipeline, args.folder, args.out)
    print(json.dumps(summary))
    print(f"report: {args.out / 'report.html'}")


def cmd_compare(args: argparse.Namespace) -> None:
    from lunggate.pipeline.compare import CompareConfig, compare

    config = CompareConfig(bootstrap=args.bootstrap)
    report = compare(args.data_root, args.split, args.out, args.external, args.split_file, config)
    print(json.dumps({k: report[k] for k in ("split", "n", "artifacts")}))
    print(f"report: {args.out / 'compare.md'}")


def cmd_serve(args: argparse.Namespace) -> None:
    from lunggate.api.app import ApiConfig, create_app
    from lunggate.api.server import serve
    from lunggate.pipeline.analyze import Pipeline

    config = ApiConfig.from_env()
    # Loaded before the server starts, so a damaged model file is one line, not a
    # traceback from inside the server's start-up.
    serve(create_app(config, Pipeline.load(config.pipeline)), args.host, args.port)


def cmd_bench(args: argparse.Namespace) -> None:
    from lunggate.pipeline.bench import run_bench

    print(json.dumps(run_bench(args.out, args.repeats, args.backbones, args.soak), indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lunggate", description="Lung-gated, explainable chest X-ray classification."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("split", help="write the stratified train/val/test split file")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT, help="dataset folder")
    p.add_argument("--out", type=Path, default=SPLIT_FILE, help=f"split CSV (default {SPLIT_FILE})")
    p.set_defaults(func=cmd_split)

    p = sub.add_parser("train-seg", help="train the lung U-Net (best-on-validation checkpoint)")
    _data_root(p)
    p.add_argument("--out", type=Path, default=SEG_WEIGHTS, help="weights file to write (.npz)")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (cosine decay)")
    p.add_argument("--input-size", type=int, default=128, help="network input size in pixels")
    _marks_arg(p, SegTrainConfig.marks)
    _burn_in_arg(p)
    _init_arg(p)
    p.add_argument("--max-images", type=int, default=None, help="cap training images (smoke runs)")
    p.set_defaults(func=cmd_train_seg)

    p = sub.add_parser(
        "eval-seg", help="Dice/IoU of the U-Net on a split, with a worst-cases figure"
    )
    _data_root(p)
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--weights", type=Path, default=SEG_WEIGHTS)
    p.add_argument("--out", type=Path, default=REPORTS_DIR, help="report folder")
    p.set_defaults(func=cmd_eval_seg)

    p = sub.add_parser(
        "calibrate",
        help="set a masked classifier's mask variants; refit its temperature on validation",
    )
    _data_root(p)
    p.add_argument("--weights", type=Path, default=None, help="weights file (default data/models/)")
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

    p = sub.add_parser(
        "eval-gate",
        help="real X-rays the plausibility gate refuses (val, test) and non-X-rays it catches",
    )
    _data_root(p)
    p.add_argument("--weights", type=Path, default=SEG_WEIGHTS)
    p.add_argument("--out", type=Path, default=REPORTS_DIR / "plausibility.json")
    p.set_defaults(func=cmd_eval_gate)

    p = sub.add_parser("train-cls", help="train the four-class classifier from a recipe file")
    _data_root(p)
    p.add_argument(
        "--recipe",
        type=Path,
        default=CLASSIFIER_RECIPES["masked"],
        help=f"TOML settings (default {CLASSIFIER_RECIPES['masked']}; "
        f"the raw twin: {CLASSIFIER_RECIPES['raw']})",
    )
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override recipe settings, e.g. epochs=4 model.gate.contrast=clahe",
    )
    p.add_argument("--out", type=Path, default=None, help="weights file (default data/models/)")
    p.set_defaults(func=cmd_train_cls)

    p = sub.add_parser("eval-cls", help="metrics, calibration and in-lung attention on a split")
    _data_root(p)
    p.add_argument("--input", choices=("masked", "raw"), default="masked")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--weights", type=Path, default=None, help="weights file (default data/models/)")
    _threshold_arg(p)
    _burn_in_arg(p)
    p.add_argument("--out", type=Path, default=REPORTS_DIR, help="report folder")
    p.set_defaults(func=cmd_eval_cls)

    p = sub.add_parser("segment", help="segment image files or folders; write masks and overlays")
    p.add_argument("inputs", nargs="+", type=Path, help="image files or folders of images")
    p.add_argument("--out", type=Path, default=Path("outputs"))
    p.add_argument("--weights", type=Path, default=SEG_WEIGHTS)
    _burn_in_arg(p)
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("predict", help="run the whole pipeline on image files (PNG, JPEG, DICOM)")
    p.add_argument("inputs", nargs="+", type=Path, help="image files or folders of images")
    p.add_argument("--out", type=Path, default=None, help="write overlays and JSON results here")
    p.add_argument("--json", action="store_true", help="print the JSON result instead of a summary")
    p.add_argument(
        "--guided",
        action="store_true",
        help="also write <name>_guided_gradcam.png (Guided Grad-CAM; slower)",
    )
    _threshold_arg(p)
    _burn_in_arg(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "audit", help="analyse a folder tree; write results.csv/json and report.html"
    )
    p.add_argument("folder", type=Path, help="folder of X-rays (searched recursively)")
    p.add_argument("--out", type=Path, required=True, help="report folder (resumes if it exists)")
    _threshold_arg(p)
    _burn_in_arg(p)
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("compare", help="masked vs raw model: metrics, attention, artifact test")
    _data_root(p)
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument(
        "--external",
        type=Path,
        default=None,
        help="external set: a folder in the dataset layout or a CSV of path,label",
    )
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap rounds for the CIs")
    p.add_argument("--out", type=Path, default=REPORTS_DIR / "compare")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("serve", help="start the REST API and web viewer")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("bench", help="measure inference latency and throughput on this machine")
    p.add_argument("--out", type=Path, default=REPORTS_DIR / "bench.json")
    p.add_argument("--repeats", type=int, default=50, help="single-image calls to time")
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
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], None] = args.func
    try:
        handler(args)
    except LunggateError as exc:
        print(f"lunggate {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lunggate {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
