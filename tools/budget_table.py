"""Budgeted rewrites at several accuracy budgets: a markdown table of speed-up vs accuracy.

    python tools/budget_table.py                       # ort-cpu threads=1 (+ openvino-cpu if installed)
    python tools/budget_table.py --targets ort-cpu:threads=1 --out out/budget_table.md

Models: the digits CNN (``examples/digits_cnn.onnx``, calibration and labels from
``examples/digits_test.npz``; GELU, SiLU, Mish sites) and a BERT-style post-LN encoder with erf
GELU (``tools/models.py`` ``bert_gelu``, 4 layers, 1x128x256; calibration: 16 seeded normal
samples, no labels, so its budgets are output cosine / relative L2), and the ResNet-style CNN
with Mish (``resnet_mish``, 10 sites, 1x3x224x224, 4 seeded normal images) where activations
are a large part of the time on ONNX Runtime (DESIGN.md section 6). Per model and target one
``Study`` (observe, fit data-aware rationals at (3,2) (4,3) (5,4) (7,6), measure each choice's
solo deviation and in-context latency) serves every budget; each chosen plan is measured whole
against the original, interleaved (``rewriter.cost`` harness), one run per distinct plan.
Speed-ups are ratios measured in one run; absolute times are not stable on shared machines.
As the CLI does, the study sees every batch but every 4th (``rewriter.calibrate.holdout``) and
the accuracy columns are measured on those held-out batches.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import sys
import time
from typing import Any

import numpy as np
import onnx

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from rewriter.accuracy import Study  # noqa: E402
from rewriter.accuracy.evaluate import Evaluator  # noqa: E402
from rewriter.accuracy.study import budget_labels  # noqa: E402
from rewriter.calibrate import as_calibration, holdout  # noqa: E402
from rewriter.cost import HarnessOptions, ModelCosts  # noqa: E402
from rewriter.ir import load_model, write_atomic  # noqa: E402
from rewriter.plan import plan_budget  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DIGITS_BUDGETS: list[dict[str, float]] = [
    {"max_drop": 0.0},
    {"max_drop": 0.5},
    {"max_drop": 2.0},
    {"min_cosine": 0.9999},
    {"min_cosine": 0.999},
]
BERT_BUDGETS: list[dict[str, float]] = [
    {"min_cosine": 0.99999},
    {"min_cosine": 0.9999},
    {"min_cosine": 0.999},
    {"max_rel_error": 0.05},
]


def _built(name: str) -> tuple[onnx.ModelProto, list[dict[str, np.ndarray]]]:
    """A ``tools/models.py`` model and seeded normal calibration batches (no labels)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from models import MODELS, build

    m = build(name)
    shape = MODELS[name][1]
    rng = np.random.default_rng(0)
    n, batch = (8, 2) if len(shape) == 3 else (4, 1)
    feeds = [{"input": rng.normal(0, 1, (batch, *shape[1:])).astype(np.float32)} for _ in range(n)]
    return m, feeds


def _short(choice: str) -> str:
    return (
        choice.replace("rational:", "R")
        .replace(":horner", "")
        .replace(":gated_x", "")
        .replace(":gated", "")
        .replace("standard:", "")
    )


def _plan_text(res: Any) -> str:
    counts: dict[str, int] = {}
    for d in res.replaced:
        k = _short(d.candidate.name)
        counts[k] = counts.get(k, 0) + 1
    return ", ".join(f"{v}x {k}" for k, v in sorted(counts.items())) or "(nothing)"


def _budget_text(b: dict[str, float]) -> str:
    names = {"max_drop": "drop <= {} pt", "min_cosine": "cos >= {}", "max_rel_error": "relL2 <= {}"}
    return ", ".join(names[k].format(v) for k, v in b.items())


def without_standard(st: Study) -> Study:
    """The same study with the standard activations removed from every site's candidates."""
    out = copy.copy(st)
    out.sites = [
        dataclasses.replace(s, candidates=[c for c in s.candidates if c.kind != "standard"])
        for s in st.sites
    ]
    return out


def run(targets: list[str], models: list[str], db: str, log: Any) -> list[str]:
    rows = [
        "| model | target | budget | choices | plan (replaced sites) | predicted | measured speed-up (95% CI) | held-out accuracy (base) | held-out cosine | rel L2 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in models:
        if name == "digits":
            model: Any = onnx.load(os.path.join(ROOT, "examples", "digits_cnn.onnx"))
            cal: Any = os.path.join(ROOT, "examples", "digits_test.npz")
            labels: Any = "labels"
            budgets = DIGITS_BUDGETS
        else:
            model, cal = _built({"bert": "bert_gelu"}.get(name, name))
            labels, budgets = None, BERT_BUDGETS
        for target in targets:
            t0 = time.perf_counter()
            lat = ModelCosts(
                model,
                target,
                db,
                log=log,
                harness=HarnessOptions(time_cap=3.0),
                whole_harness=HarnessOptions(
                    precision=0.02, time_cap=8.0, min_rounds=10, warmup_cap=1.5
                ),
            )
            # as the CLI does: the search sees the fit part, the budget is verified on the rest
            c = as_calibration(cal, load_model(model))
            split = holdout(c, budget_labels(labels, None, c))
            base_held = (
                Evaluator(model, "pau_all", split.check, split.check_labels).base_accuracy
                if split.check is not None
                else None
            )
            st = Study(
                model,
                "pau_all",
                split.fit,
                labels=split.fit_labels,
                allow_standard=True,
                latency=lat,
                log=log,
            )
            log(f"{name} on {target}: study {time.perf_counter() - t0:.1f} s")
            for b, (kind, s) in (
                (b, k)
                for b in budgets
                for k in (("rationals", without_standard(st)), ("+standard", st))
            ):
                res = plan_budget(
                    model, "pau_all", target, cal, study=s, split=split, progress=False, **b
                )
                w = res.whole
                meas = (
                    f"x{w.speedup:.3f} ({w.speedup_lo:.3f}-{w.speedup_hi:.3f})"
                    if w
                    else "x1 (unchanged)"
                )
                if res.backed_off:
                    meas += f"; backed off {len(res.backed_off)}"
                bs = res.budget
                held = bs.check if bs.check is not None else bs.deviation
                acc = (
                    f"{held.accuracy:.2f}% ({base_held:.2f}%)"
                    if held.accuracy is not None and base_held is not None
                    else "-"
                )
                rows.append(
                    f"| {name} | {target} | {_budget_text(b)} | {kind} | {_plan_text(res)} | "
                    f"x{bs.predicted_speedup:.3f} | {meas} | {acc} | {held.cosine:.6f} | {held.rel_l2:.1e} |"
                )
                log(rows[-1])
            log(f"{name} on {target}: {time.perf_counter() - t0:.1f} s")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--targets",
        default=None,
        help="comma list (default ort-cpu:threads=1, plus openvino-cpu:threads=1 when installed)",
    )
    ap.add_argument("--models", default="digits,bert,resnet_mish")
    ap.add_argument(
        "--db", default=":memory:", help="latency database (default: in memory, measure afresh)"
    )
    ap.add_argument("--out", default=None, help="also write the markdown table here")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    if a.targets:
        targets = a.targets.split(",")
    else:
        from rewriter.cost import installed_targets

        targets = ["ort-cpu:threads=1"] + (
            ["openvino-cpu:threads=1"] if "openvino-cpu" in installed_targets() else []
        )
    log = (
        (lambda s: None)
        if a.quiet
        else (lambda s: print(f"[budget_table] {s}", file=sys.stderr, flush=True))
    )
    t0 = time.perf_counter()
    rows = run(targets, a.models.split(","), a.db, log)
    text = "\n".join(rows) + f"\n\n({time.perf_counter() - t0:.0f} s)\n"
    print(text)
    if a.out:
        write_atomic(a.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
