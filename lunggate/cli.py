"""The ``lunggate`` command line: users' commands up front, the lab behind ``lunggate lab``.

Heavy imports (TensorFlow) happen inside the handlers, so ``--help`` stays instant.
Every ``LunggateError`` becomes a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from lunggate.core.errors import LunggateError
from lunggate.core.paths import REPORTS_DIR, SEGMENTER_WEIGHTS
from lunggate.lab import options
from lunggate.lab.cli import add_lab
from lunggate.stderr import without_native_noise

if TYPE_CHECKING:  # loaded by the handlers, so --help stays instant
    from lunggate.pipeline.analyze import Pipeline, PipelineConfig


def cmd_segment(args: argparse.Namespace) -> None:
    from lunggate.segmentation.demo import segment_files

    for line in segment_files(
        args.inputs, args.out, args.weights, options.mark_removal_config(args)
    ):
        print(line)


def _config(args: argparse.Namespace) -> PipelineConfig:
    """The shipped pipeline with the user's threshold (``--threshold``, else
    ``LUNGGATE_ATTENTION_THRESHOLD``) and mark-removal choice, and the user's own
    classifier in place of lunggate's when ``--model`` names one."""
    from lunggate.core.environment import ATTENTION_THRESHOLD, env_float
    from lunggate.pipeline.analyze import PipelineConfig

    threshold = args.threshold if args.threshold is not None else env_float(ATTENTION_THRESHOLD)
    return PipelineConfig(
        attention_threshold=threshold,
        mark_removal=options.mark_removal_config(args),
        user_model=getattr(args, "model", None),
        user_model_config=getattr(args, "model_config", None),
    )


def _pipeline(args: argparse.Namespace) -> Pipeline:
    from lunggate.pipeline.analyze import Pipeline

    return Pipeline.load(_config(args))


def cmd_predict(args: argparse.Namespace) -> None:
    from lunggate.audit.predict import predict_files
    from lunggate.core.data import image_files

    files = image_files(args.inputs)
    lines = predict_files(
        _pipeline(args), files, args.out, args.json, args.guided, roots=args.inputs
    )
    for line in lines:
        print(line, flush=True)


def cmd_audit(args: argparse.Namespace) -> None:
    from lunggate.audit.run import audit
    from lunggate.core.data import image_files

    # A missing or empty source fails before the models load.
    if args.source.is_dir():
        image_files([args.source])
    elif not args.source.is_file():
        raise LunggateError(f"audit source {args.source} does not exist")
    if args.labels is not None and not args.labels.is_file():
        raise LunggateError(f"labels file {args.labels} does not exist")
    if args.engine == "local" and (args.address is not None or args.workers is not None):
        raise LunggateError("--address and --workers are for --engine ray")
    engine = None
    if args.engine == "ray":
        from lunggate.audit.ray_engine import RayEngine

        engine = RayEngine(_config(args), args.address, args.workers)
    summary = audit(_pipeline(args), args.source, args.out, args.labels, engine)
    keys = ("images", "analysed_now", "status", "flagged", "in_lung_median", "lift_median")
    brief = {k: summary[k] for k in keys}
    scored = summary.get("against_labels") or {}
    brief.update({k: scored[k] for k in ("accuracy", "macro_f1") if k in scored})
    print(json.dumps(brief))
    print(f"report: {args.out / 'report.html'}")


def cmd_compare(args: argparse.Namespace) -> None:
    if args.external is not None:
        from lunggate.lab.external import ExternalConfig, evaluate_external, set_name

        out = args.out or REPORTS_DIR
        config = ExternalConfig(bootstrap=args.bootstrap)
        report = evaluate_external(args.external, out, args.data_root, args.split_file, config)
        brief = {
            kind: {k: round(m["pooled"][k], 3) for k in ("accuracy", "macro_f1")}
            for kind, m in report["models"].items()
        }
        print(json.dumps({"n": report["n"], **brief}))
        print(f"report: {out / f'external_{set_name(args.external)}.md'}")
        return
    from lunggate.lab.compare import CompareConfig, compare

    out = args.out or REPORTS_DIR / "compare"
    config = CompareConfig(bootstrap=args.bootstrap)
    report = compare(args.data_root, args.split, out, args.split_file, config)
    print(json.dumps({k: report[k] for k in ("split", "n", "marks")}))
    print(f"report: {out / 'compare.md'}")


def cmd_serve(args: argparse.Namespace) -> None:
    from lunggate.api.app import ApiConfig, create_app
    from lunggate.api.server import serve
    from lunggate.pipeline.analyze import Pipeline

    config = ApiConfig.from_env()
    # Loaded before the server starts, so a damaged model file is one line, not a
    # traceback from inside the server's start-up.
    serve(create_app(config, Pipeline.load(config.pipeline)), args.host, args.port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lunggate", description="Lung-gated, explainable chest X-ray classification."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("predict", help="run the whole pipeline on image files (PNG, JPEG, DICOM)")
    p.add_argument("inputs", nargs="+", type=Path, help="image files or folders of images")
    p.add_argument("--out", type=Path, default=None, help="write overlays and JSON results here")
    p.add_argument("--json", action="store_true", help="print the JSON result instead of a summary")
    p.add_argument(
        "--guided",
        action="store_true",
        help="also write <name>_guided_gradcam.png (Guided Grad-CAM; slower)",
    )
    options.threshold(p)
    options.mark_removal(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("segment", help="segment image files or folders; write masks and overlays")
    p.add_argument("inputs", nargs="+", type=Path, help="image files or folders of images")
    p.add_argument("--out", type=Path, default=Path("outputs"))
    p.add_argument("--weights", type=Path, default=SEGMENTER_WEIGHTS)
    options.mark_removal(p)
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser(
        "audit", help="analyse a folder tree; write results.csv/json and report.html"
    )
    p.add_argument(
        "source",
        type=Path,
        help="folder of X-rays (searched recursively), or a CSV manifest of path[,label]",
    )
    p.add_argument("--out", type=Path, required=True, help="report folder (resumes if it exists)")
    p.add_argument(
        "--labels",
        type=Path,
        default=None,
        help="CSV of path,label: the report adds accuracy, confusion matrix, per-class figures",
    )
    p.add_argument(
        "--model",
        type=Path,
        default=None,
        help="audit your own Keras classifier (.keras, .h5 or SavedModel folder) instead",
    )
    p.add_argument(
        "--model-config",
        type=Path,
        default=None,
        help="TOML of --model's class_names and preprocessing (see the README)",
    )
    p.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this process; ray: a Ray Data actor pool (pip install 'lunggate[ray]')",
    )
    p.add_argument("--address", default=None, help="Ray cluster to join (default: start one)")
    p.add_argument("--workers", type=int, default=None, help="Ray actors (default: one per CPU)")
    options.threshold(p)
    options.mark_removal(p)
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("compare", help="masked vs raw model: metrics, attention, mark test")
    options.data_root(p)
    options.split(p)
    p.add_argument(
        "--external",
        type=Path,
        default=None,
        help="score the models on this set instead of the split's mark test: a "
        "folder in the dataset layout or a CSV of path,label[,source] (a dataset "
        "manifest's image,class,source also works); writes external_<name>.{json,md}",
    )
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap rounds for the CIs")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"report folder (default {REPORTS_DIR / 'compare'}; with --external {REPORTS_DIR})",
    )
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("serve", help="start the REST API and web viewer")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)

    add_lab(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], None] = args.func
    name = " ".join(filter(None, (args.command, getattr(args, "lab_command", None))))
    try:
        with without_native_noise():
            handler(args)
    except LunggateError as exc:
        print(f"lunggate {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lunggate {name}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
