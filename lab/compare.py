"""``lunggate compare``: what lung gating buys and costs, measured on identical images.

For the masked and the raw model: accuracy, macro-F1, per-class sensitivity and
ROC-AUC with 95 % bootstrap intervals; the in-lung attention distribution; and the
counterfactual mark test (marks burned in outside the lungs; the share of
predictions that change class and the mean absolute change of the probability of the
originally predicted class); and the chain test (the films resampled, saved as JPEG,
equalised as other imaging chains do: accuracy, macro-F1 and the share of answers
that change). ``lunggate compare --external`` scores the
same models on films from other sources instead (``lab.external``).

Beside them, the lungs-hidden control (``CONTROLS``, when its weights are there): the
same recipe trained on the gate's complement, seeing only what lies outside the lungs.
What it scores is how much of the label the data leaks outside the lungs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

from lunggate.classification.attention import (
    DEFAULT_ATTENTION_THRESHOLD,
    in_lung_score,
    threshold_label,
)
from lunggate.classification.classifier import LungClassifier
from lunggate.classification.evaluate import attention_summary
from lunggate.classification.metrics import classification_metrics, interval95, macro_f1
from lunggate.classification.sanity import randomisation_test
from lunggate.core import CLASS_NAMES
from lunggate.core.data import load_images
from lunggate.core.film_format import to_corpus_format
from lunggate.core.overlays import to_rgb
from lunggate.core.paths import CLASSIFIER_WEIGHTS, SPLIT_FILE
from lunggate.core.splits import split_records
from lunggate.lab.burn_marks import BurnMarksConfig, burn_marks
from lunggate.lab.degrade import DEGRADATIONS
from lunggate.segmentation.config import MarkRemovalConfig
from lunggate.segmentation.finder import Found, LungFinder
from lunggate.segmentation.metrics import dice

CONTROLS = ("lungs_hidden",)
"""Models scored on the clean and external images only (not in the mark test)."""


@dataclass(frozen=True)
class CompareConfig:
    bootstrap: int = 1000
    seed: int = 7
    threshold: float | None = DEFAULT_ATTENTION_THRESHOLD
    marks: BurnMarksConfig = BurnMarksConfig()
    mark_removal: MarkRemovalConfig = MarkRemovalConfig()
    """The pipeline's mark removal, in front of both models; the mark test is
    also reported without it."""
    more_seeds: tuple[int, ...] = (1, 2, 3)
    """Mark layouts besides ``marks.seed`` the whole test is repeated with: on
    719 images one layout's flip rate moves by about half a point with where its
    marks happen to land, which a single figure hides."""
    randomisation_images: int = 32
    """Images (spread over the split) the explanations' randomisation test runs on."""
    degradations: tuple[str, ...] = tuple(DEGRADATIONS)
    """The chain test's degradations (``lab.degrade.DEGRADATIONS``), each a re-run."""


def bootstrap_ci(labels: np.ndarray, probs: np.ndarray, rounds: int, seed: int) -> dict:
    """95 % percentile intervals of accuracy, macro-F1, per-class sensitivity, macro AUC."""
    rng = np.random.default_rng(seed)
    k = len(CLASS_NAMES)
    samples: dict[str, list[float]] = {"accuracy": [], "macro_f1": [], "roc_auc_macro": []}
    samples.update({f"sensitivity_{c}": [] for c in CLASS_NAMES})
    for _ in range(rounds):
        idx = rng.integers(0, len(labels), len(labels))
        y, p = labels[idx], probs[idx]
        pred = p.argmax(-1)
        samples["accuracy"].append(float((pred == y).mean()))
        samples["macro_f1"].append(macro_f1(y, pred))
        aucs = [roc_auc_score(y == i, p[:, i]) for i in range(k) if 0 < (y == i).sum() < len(y)]
        samples["roc_auc_macro"].append(float(np.mean(aucs)))
        for i, c in enumerate(CLASS_NAMES):
            if (y == i).any():
                samples[f"sensitivity_{c}"].append(float((pred[y == i] == i).mean()))
    return {name: interval95(v) for name, v in samples.items() if v}


def model_report(labels, probs, scores, areas, config: CompareConfig) -> dict:
    """Metrics with intervals and the in-lung summary of one model on one image set."""
    metrics = classification_metrics(labels, probs)
    summary = attention_summary(scores, labels, areas, config.threshold)
    return {
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "sensitivity": {c: metrics["per_class"][c]["recall"] for c in CLASS_NAMES},
        "roc_auc": metrics["roc_auc"],
        "ci95": bootstrap_ci(labels, probs, config.bootstrap, config.seed),
        "in_lung": {k: summary[k] for k in ("median", "mean", "flagged_share", "threshold")},
        "n": int(len(labels)),
    }


class Comparison:
    """Both models and the lung finder, loaded once, run on any image set."""

    def __init__(self, config: CompareConfig = CompareConfig()) -> None:
        self.config = config
        self.finder = LungFinder.load(mark_removal=config.mark_removal)
        self.models = {k: LungClassifier.load(CLASSIFIER_WEIGHTS[k]) for k in ("masked", "raw")}
        self.controls = {
            k: LungClassifier.load(CLASSIFIER_WEIGHTS[k])
            for k in CONTROLS
            if CLASSIFIER_WEIGHTS[k].is_file()
        }
        self.bar = tqdm(desc="compare", unit="stage")

    def expect(self, stages: int) -> None:
        """Set how many stages the progress bar counts (the caller's run knows)."""
        self.bar.reset(total=stages)

    def stage(self, done: str) -> None:
        """Count a finished stage on the bar, saying which."""
        self.bar.set_postfix_str(done)
        self.bar.update()

    @property
    def everyone(self) -> dict[str, LungClassifier]:
        """The compared models and the controls."""
        return {**self.models, **self.controls}

    def run(self, images: list[np.ndarray], masks: list[np.ndarray]) -> dict[str, tuple]:
        """Per model and control: (probs, in-lung scores)."""
        out = {}
        for kind, model in self.everyone.items():
            explained = model.explain(images, masks, progress=kind)
            probs = np.stack([e.probabilities for e in explained])
            scores = np.array(
                [in_lung_score(e.cam, m) for e, m in zip(explained, masks, strict=True)]
            )
            out[kind] = (probs, scores)
            self.stage(f"{kind} on {len(images)} images")
        return out

    def randomisation(self, images: list[np.ndarray], masks: list[np.ndarray]) -> dict:
        """Per compared model, the randomisation test of its Grad-CAM on ``images``
        (``sanity.randomisation_test``)."""
        tests = {
            kind: randomisation_test(model.model, model.prepare(images, masks)[0]).to_dict()
            for kind, model in self.models.items()
        }
        self.stage("randomisation test")
        return tests

    def burn(
        self, images, masks, kinds: tuple[str, ...], seed: int | None = None
    ) -> list[np.ndarray]:
        """Copies of ``images`` with the marks ``kinds`` burned in outside ``masks``
        (laid out by ``seed``, the configured one by default)."""
        config = replace(self.config.marks, kinds=kinds)
        config = replace(config, seed=config.seed if seed is None else seed)
        return [
            burn_marks(img, m, config, index=k)
            for k, (img, m) in enumerate(zip(images, masks, strict=True))
        ]

    def rerun(
        self, images: list[np.ndarray], finder: LungFinder
    ) -> tuple[dict[str, np.ndarray], list[Found]]:
        """Run raw ``images`` through ``finder`` and the classifiers.

        Returns the probabilities per model and what each image became before them.
        """
        found = finder.find(images)
        cleaned, masks = [f.image for f in found], [f.lungs.mask for f in found]
        probs = {kind: model.predict(cleaned, masks, kind) for kind, model in self.models.items()}
        self.stage("a re-run")
        return probs, found

    def chain_test(self, originals, labels: np.ndarray, clean: dict) -> dict:
        """Per degradation, per model: accuracy, macro-F1 and how far the answers moved
        (``flip_stats``) when the whole pipeline runs on the degraded ``originals``."""
        result = {}
        for name in self.config.degradations:
            after, _ = self.rerun([DEGRADATIONS[name](image) for image in originals], self.finder)
            result[name] = {}
            for kind, probs in after.items():
                answers = probs.argmax(-1)
                result[name][kind] = {
                    "accuracy": float((answers == labels).mean()),
                    "macro_f1": macro_f1(labels, answers),
                    **flip_stats(clean[kind][0], probs),
                }
        return result

    def flip_rates(
        self, originals, masks, clean: dict, kinds: tuple[str, ...], seed: int | None = None
    ) -> dict[str, float]:
        """Per model: the share of answers that change when ``kinds`` (laid out by
        ``seed``) are burned into ``originals`` and the whole pipeline runs again."""
        after, _ = self.rerun(self.burn(originals, masks, kinds, seed), self.finder)
        return {kind: flip_stats(clean[kind][0], after[kind])["flip_rate"] for kind in after}

    def mark_test(self, originals, masks, clean: dict) -> tuple[dict, list, dict]:
        """Re-run the whole pipeline on mark-burned copies; each kind also on its own.

        ``originals`` are the images as read (marks are burned into those, outside
        ``masks``, the pipeline's masks of the clean images). The classifiers are also
        run on the burned images with the clean images' masks
        (``flip_rate_fixed_masks``): what gets through the gate itself, apart from what
        the marks do to the segmentation. ``without_mark_removal`` repeats the
        test with the mark removal switched off, on the same burned images.
        """
        kinds = self.config.marks.kinds
        mark_removal = self.config.mark_removal
        burned = self.burn(originals, masks, kinds)
        after, found = self.rerun(burned, self.finder)
        cleaned, new_masks = [f.image for f in found], [f.lungs.mask for f in found]
        result: dict = {}
        for kind, model in self.models.items():
            before = clean[kind][0]
            # A raw model ignores masks: its fixed-mask run is the re-run above.
            fixed = model.predict(cleaned, masks) if model.masked else after[kind]
            result[kind] = {
                **flip_stats(before, after[kind]),
                "flip_rate_fixed_masks": flip_stats(before, fixed)["flip_rate"],
            }
        result["mask_dice_median"] = float(
            np.median([dice(a, b) for a, b in zip(masks, new_masks, strict=True)])
        )
        result["more_seeds"] = {
            str(seed): self.flip_rates(originals, masks, clean, kinds, seed)
            for seed in self.config.more_seeds
        }
        result["by_kind"] = {
            kind: self.flip_rates(originals, masks, clean, (kind,)) for kind in kinds
        }
        if mark_removal.enabled:
            plain_masks = [f.mask for f in self.finder.segmenter.segment(originals)]
            plain_after, _ = self.rerun(burned, self.finder.without_mark_removal())
            result["without_mark_removal"] = {
                kind: flip_stats(model.predict(originals, plain_masks), plain_after[kind])
                for kind, model in self.models.items()
            }
        result["mark_removal"] = asdict(mark_removal)
        return result, burned, after


def flip_stats(before: np.ndarray, after: np.ndarray) -> dict[str, float]:
    """How much (N, 4) probabilities moved: share of changed classes, and the mean
    absolute change of the probability of the class predicted before."""
    predicted = before.argmax(-1)
    rows = np.arange(len(before))
    return {
        "flip_rate": float((after.argmax(-1) != predicted).mean()),
        "mean_abs_prob_change": float(
            np.abs(after[rows, predicted] - before[rows, predicted]).mean()
        ),
    }


def compare(
    data_root: Path,
    split: str,
    out: Path,
    split_file: Path = SPLIT_FILE,
    config: CompareConfig = CompareConfig(),
) -> dict:
    """Write ``compare.json``, ``compare.md`` and figures to ``out``; return the JSON."""
    (records,) = split_records(data_root, split_file, split)
    # In the corpus format the lungs are found in, so marks are burned in at their masks' scale.
    originals = [to_corpus_format(image) for image in load_images([r.image for r in records])]
    labels = np.array([CLASS_NAMES.index(r.label) for r in records])
    comparison = Comparison(config)
    mark_runs = 1 + len(config.more_seeds) + len(config.marks.kinds) + config.mark_removal.enabled
    # Masks, each model, the randomisation test, each mark run, each chain run.
    comparison.expect(1 + len(comparison.everyone) + 1 + mark_runs + len(config.degradations))
    images, masks = comparison.finder.dataset(records, originals)
    comparison.stage("lung masks")
    clean = comparison.run(images, masks)
    areas = np.array([m.mean() for m in masks])
    report: dict = {"split": split, "n": len(records)}
    for kind, (probs, scores) in clean.items():
        report[kind] = model_report(labels, probs, scores, areas, config)
        report[kind]["weights_sha256"] = comparison.everyone[kind].weights_sha256
    report["controls"] = sorted(comparison.controls)
    picks = np.linspace(0, len(images) - 1, min(config.randomisation_images, len(images)))
    picks = np.unique(picks.astype(int))
    report["randomisation"] = comparison.randomisation(
        [images[k] for k in picks], [masks[k] for k in picks]
    )
    clean = {kind: clean[kind] for kind in comparison.models}
    report["marks"], burned, after = comparison.mark_test(originals, masks, clean)
    report["marks"]["kinds"] = list(config.marks.kinds)
    report["marks"]["seed"] = config.marks.seed
    report["marks"]["mask_variants_px"] = list(comparison.models["masked"].mask_variants)
    report["chain"] = comparison.chain_test(originals, labels, clean)
    comparison.bar.close()
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "compare.md").write_text(markdown(report))
    plot_in_lung(clean, areas, config.threshold, out / "in_lung_histogram.png")
    before = {kind: probs for kind, (probs, _) in clean.items()}
    plot_mark_examples(originals, burned, before, after, labels, out / "mark_examples.png")
    return report


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _ci(report: dict, key: str) -> str:
    lo, hi = report["ci95"].get(key, [float("nan")] * 2)
    return f"[{lo:.3f}, {hi:.3f}]"


def markdown(report: dict) -> str:
    """The comparison as a Markdown table, every figure read from ``report``."""
    m, r = report["masked"], report["raw"]
    lines = [
        f"# Masked vs raw on the {report['split']} split (n = {report['n']})",
        "",
        "Written by `lunggate compare`; 95 % bootstrap intervals in brackets.",
        "",
        "| metric | masked | raw |",
        "|---|---|---|",
        f"| accuracy | {m['accuracy']:.3f} {_ci(m, 'accuracy')} | "
        f"{r['accuracy']:.3f} {_ci(r, 'accuracy')} |",
        f"| macro-F1 | {m['macro_f1']:.3f} {_ci(m, 'macro_f1')} | "
        f"{r['macro_f1']:.3f} {_ci(r, 'macro_f1')} |",
        f"| ROC-AUC (macro) | {m['roc_auc']['macro']:.3f} {_ci(m, 'roc_auc_macro')} | "
        f"{r['roc_auc']['macro']:.3f} {_ci(r, 'roc_auc_macro')} |",
    ]
    for c in CLASS_NAMES:
        key = f"sensitivity_{c}"
        lines.append(
            f"| sensitivity {c} | {m['sensitivity'][c]:.3f} {_ci(m, key)} | "
            f"{r['sensitivity'][c]:.3f} {_ci(r, key)} |"
        )
    a = report["marks"]
    lines += [
        f"| in-lung attention, median | {m['in_lung']['median']:.3f} | "
        f"{r['in_lung']['median']:.3f} |",
        f"| flagged share (in-lung below {m['in_lung']['threshold']}) | "
        f"{m['in_lung']['flagged_share']:.3f} | {r['in_lung']['flagged_share']:.3f} |",
        f"| mark flip rate | {a['masked']['flip_rate']:.3f} | {a['raw']['flip_rate']:.3f} |",
        f"| mark flip rate, clean images' masks (gate leak only) | "
        f"{a['masked']['flip_rate_fixed_masks']:.3f} | {a['raw']['flip_rate_fixed_masks']:.3f} |",
        f"| mark mean abs. change of p(predicted class) | "
        f"{a['masked']['mean_abs_prob_change']:.3f} | {a['raw']['mean_abs_prob_change']:.3f} |",
    ]
    if a.get("more_seeds"):
        spread = {
            kind: [a[kind]["flip_rate"], *(rates[kind] for rates in a["more_seeds"].values())]
            for kind in ("masked", "raw")
        }
        lines.append(
            f"| mark flip rate over {len(spread['masked'])} layouts (seeds "
            f"{', '.join([str(a['seed']), *a['more_seeds']])}): mean [min, max] | "
            + " | ".join(f"{np.mean(v):.3f} [{min(v):.3f}, {max(v):.3f}]" for v in spread.values())
            + " |"
        )
    lines += [
        f"| flip rate, {kind} alone | {rates['masked']:.3f} | {rates['raw']:.3f} |"
        for kind, rates in a["by_kind"].items()
    ]
    off = a.get("without_mark_removal")
    if off:
        lines += [
            f"| mark flip rate without mark removal | {off['masked']['flip_rate']:.3f} | "
            f"{off['raw']['flip_rate']:.3f} |",
            f"| mean abs. change of p(predicted class) without mark removal | "
            f"{off['masked']['mean_abs_prob_change']:.3f} | "
            f"{off['raw']['mean_abs_prob_change']:.3f} |",
        ]
    lines += [
        "",
        f"Marks ({', '.join(a['kinds'])}; seed {a['seed']}) are burned in outside the U-Net "
        "lung mask only; the whole pipeline, segmentation included, is re-run on them. "
        "The gate-leak row keeps the clean images' masks: the masked model's input depends "
        "only on the pixels under the mask (after mark removal, whose repainting of a "
        "mark's rim may reach lung pixels right against it), and on those up to "
        f"{max(a['mask_variants_px'])} px beyond it, as its answer averages over masks grown "
        "by up to that much (marks here may lie right against the mask). "
        "The layouts row repeats the whole test with other seeds: the same kinds of "
        "mark, placed elsewhere. "
        f"The U-Net's masks on the burned images match the clean ones at median Dice "
        f"{a['mask_dice_median']:.3f}: the masked model's flips come from the "
        "segmentation moving.",
    ]
    if off:
        lines += [
            "",
            "Both models sit behind the pipeline's burned-in mark removal: small shapes "
            f"at grey level {a['mark_removal']['threshold']} or above (up to "
            f"{a['mark_removal']['max_area_fraction']:.0%} of the image) are inpainted before "
            "segmentation and classification, and their own pixels are left out of the "
            "lung mask. This test's marks are drawn at 235-255, "
            "which that step is built to catch, so the rows without it show what lung "
            "gating alone holds against marks it does not remove (mid-grey marks, "
            "marks merged with bright anatomy).",
        ]
    lines += chain_markdown(report)
    lines += randomisation_markdown(report.get("randomisation", {}))
    for kind in report.get("controls", []):
        c = report[kind]
        lines += [
            "",
            f"## Control: {kind.replace('_', ' ')}",
            "",
            "The same recipe trained on the gate's complement: the lungs filled, only what "
            "lies outside them visible. What it scores, the data gives away outside the "
            "lungs (burned-in marks, body size and age, positioning, the source hospital).",
            "",
            f"| metric | {kind} | masked |",
            "|---|---|---|",
            f"| accuracy | {c['accuracy']:.3f} {_ci(c, 'accuracy')} | {m['accuracy']:.3f} |",
            f"| macro-F1 | {c['macro_f1']:.3f} {_ci(c, 'macro_f1')} | {m['macro_f1']:.3f} |",
            f"| in-lung attention, median | {_num(c['in_lung']['median'])} | "
            f"{_num(m['in_lung']['median'])} |",
        ]
    return "\n".join(lines) + "\n"


def chain_markdown(report: dict) -> list[str]:
    """The chain test's table (none when it did not run)."""
    tests = report.get("chain")
    if not tests:
        return []
    lines = [
        "",
        "## Other imaging chains",
        "",
        "The same films as another chain would deliver them (`lab.degrade`): the whole "
        "pipeline re-run on each degraded copy. The disease on a film does not change "
        "with them, so an answer that moves reads the chain (the scanner's fine grain, "
        "the archive's compression), not the lungs. Accuracy / macro-F1, and the share "
        "of answers that changed.",
        "",
        "| films | masked | raw |",
        "|---|---|---|",
        "| as read | "
        + " | ".join(
            f"{report[k]['accuracy']:.3f} / {report[k]['macro_f1']:.3f}" for k in ("masked", "raw")
        )
        + " |",
    ]
    for name, by_model in tests.items():
        cells = [
            f"{m['accuracy']:.3f} / {m['macro_f1']:.3f}, flips {m['flip_rate']:.3f}"
            for m in (by_model["masked"], by_model["raw"])
        ]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return lines


def randomisation_markdown(tests: dict) -> list[str]:
    """The randomisation test's table: per step, each model's median and 90th-percentile
    rank correlation with its trained maps, and the share of maps gone flat."""
    if not tests:
        return []
    kinds = list(tests)
    first = tests[kinds[0]]
    lines = [
        "",
        "## Sanity check of the explanations: model-parameter randomisation",
        "",
        f"Layers randomised from the top down, one block more per row, on {first['images']} "
        "images; the cells give the Spearman correlation of the Grad-CAM with the trained "
        "model's, median [90th percentile], and the share of maps gone flat (counted as 0). "
        "A map that explains the model loses its likeness at once (Adebayo et al. 2018).",
        "",
        "| randomised down to | layers | " + " | ".join(kinds) + " |",
        "|---|---|" + "---|" * len(kinds),
    ]
    for k, step in enumerate(first["steps"]):
        cells = []
        for kind in kinds:
            s = tests[kind]["steps"][k]
            cells.append(
                f"{s['spearman_median']:.2f} [{s['spearman_p90']:.2f}], flat {s['flat_share']:.2f}"
            )
        lines.append(f"| {step['randomised']} | {step['layers']} | " + " | ".join(cells) + " |")
    return lines


def plot_in_lung(clean: dict, areas: np.ndarray, threshold: float | None, path: Path) -> None:
    fig = Figure(figsize=(6.5, 3.6))
    ax = fig.subplots()
    for kind, (_, scores) in clean.items():
        ax.hist(scores[~np.isnan(scores)], bins=25, range=(0, 1), alpha=0.6, label=kind)
    line = float(np.median(areas)) if threshold is None else threshold
    ax.axvline(line, color="k", linestyle="--", label=f"threshold {threshold_label(threshold)}")
    ax.set_xlabel("in-lung attention share")
    ax.set_ylabel("images")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def plot_mark_examples(images, burned, before, after, labels, path: Path, n: int = 4) -> None:
    """Clean and marked versions side by side with both models' predictions.

    ``before`` and ``after`` map each model to its (N, 4) probabilities.
    """
    picks = np.linspace(0, len(images) - 1, n).astype(int)
    fig = Figure(figsize=(6, 3.1 * n))
    axes = fig.subplots(n, 2)
    for row, k in enumerate(picks):
        for col, (img, run) in enumerate(((images[k], before), (burned[k], after))):
            ax = axes[row, col]
            ax.imshow(to_rgb(img))
            ax.axis("off")
            pred = {kind: CLASS_NAMES[int(run[kind][k].argmax())] for kind in run}
            ax.set_title(
                f"{'clean' if col == 0 else 'marks'} (true {CLASS_NAMES[labels[k]]})\n"
                f"masked: {pred['masked']}, raw: {pred['raw']}",
                fontsize=8,
            )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
