"""Per model and target: original vs ``rewrite -p pau_all --target T``, the ReLU limit, gain capture.

For each model of ``tools/models.py`` and each target, ``rewriter.plan.plan_sites`` chooses the candidates
(measured in context, database in a temporary file unless ``--db``), then original, planned and
ReLU-limit models are measured interleaved in one run. Gain capture is
(t_orig - t_planned) / (t_orig - t_relu). Torch targets get the static-batch exports.

    python tools/bench_models.py [--models resnet_mish,...] [--targets ort-cpu,...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from models import MODELS, build  # noqa: E402

from rewriter.cost import HarnessOptions, installed_targets  # noqa: E402
from rewriter.cost.bench import bench_models, relu_model  # noqa: E402
from rewriter.plan import plan_sites  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--targets", default=None)
    ap.add_argument("--db", default=None)
    ap.add_argument(
        "--time-cap", type=float, default=8.0, help="seconds per whole-model comparison"
    )
    a = ap.parse_args(argv)
    targets = a.targets.split(",") if a.targets else installed_targets()
    db = a.db or os.path.join(tempfile.mkdtemp(), "latency.sqlite")
    print(
        "| model | target | sites replaced | original ms (IQR) | planned ms (IQR) | speed-up [95% CI] | ReLU limit | gain capture | choices |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in a.models.split(","):
        for tn in targets:
            m = build(name, dynamic=not tn.startswith("torch"))
            res = plan_sites(
                m,
                f"{tn}:threads=1",
                db=db,
                progress=False,
                harness=HarnessOptions(time_cap=1.5, warmup_cap=0.5),
                whole_harness=HarnessOptions(time_cap=a.time_cap / 2, warmup_cap=1.0),
            )
            c = bench_models(
                {"orig": m, "plan": res.model, "relu": relu_model(m)},
                f"{tn}:threads=1",
                time_cap=a.time_cap,
            )
            to, tp, tr = (c.stats[k].median for k in ("orig", "plan", "relu"))
            r = c.ratios["plan"]
            # capture means something only when something was replaced and ReLU is faster
            cap = (to - tp) / (to - tr) if res.replaced and to - tr > 1e-12 else None
            cap_text = "-" if cap is None else f"{cap:.0%}"
            choices = sorted({d.candidate.name for d in res.replaced})
            print(
                f"| {name} | {tn} | {len(res.replaced)}/{len(res.decisions)} | {to * 1e3:.2f} ({c.stats['orig'].iqr * 1e3:.2f}) | "
                f"{tp * 1e3:.2f} ({c.stats['plan'].iqr * 1e3:.2f}) | x{r.speedup:.3f} [{1 / r.hi:.3f}, {1 / r.lo:.3f}] | "
                f"x{to / tr:.3f} | {cap_text} | {', '.join(choices) or '-'} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
