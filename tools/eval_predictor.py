"""Evaluate the latency predictors (rewriter.cost.predict) on what this machine offers.

    python tools/eval_predictor.py --db /tmp/pred.sqlite            # fill (~5 min on 2 cores) + evaluate
    python tools/eval_predictor.py --db /tmp/pred.sqlite --no-fill  # evaluate an existing database

Fill: per target (ort-cpu threads=1 and 2, openvino-cpu, torch-eager; torch-inductor with
--inductor), probe fingerprint, then a small sweep: synthetic producer+activation sites
(``rewriter.cost.bench.synthetic_site_model``) x functions, every candidate of
``candidates_for(extra_degrees=(3,2),(4,3), allow_standard=True, max_error=inf)`` measured
interleaved against keep by ``rewriter.cost.CostModel`` (short harness).

Evaluate (printed as README tables):

* shapes held out (leave one shape out, every target): share of latency and ratio predictions
  within +-10%, mean Spearman rank correlation of the candidates of a site;
* targets held out (leave one target out) with 0 and 10 measurements on the held-out target:
  ratio within +-10%, Spearman, and for pruning to the top-k predicted candidates (k = 1, 2):
  share of candidate measurements saved and share of sites whose pruned decision equals the
  full search's decision (``rewriter.plan.decide`` on the measured ratios).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rewriter.cost.predict.dataset import load_samples  # noqa: E402
from rewriter.cost.predict.evaluate import loto, print_tables, shape_cv  # noqa: E402
from rewriter.cost.predict.fingerprint import load_probes, probe_fingerprint, store_probes  # noqa: E402
from rewriter.ir import write_atomic  # noqa: E402

TARGETS = ("ort-cpu:threads=1", "ort-cpu:threads=2", "openvino-cpu", "torch-eager")
FUNCTIONS = ("gelu", "gelu_tanh", "silu", "mish", "tanh", "sigmoid", "softplus")
SIZES = (
    "matmul:1x16x64x256",
    "matmul:1x32x128x512",
    "matmul:1x64x128x1024",
    "conv:1x8x16x16",
    "conv:1x16x32x32",
    "conv:1x32x32x32",
)


def fill(
    db_path: str,
    targets: list[str],
    sizes: tuple[str, ...],
    functions: tuple[str, ...],
    time_cap: float,
) -> None:
    from rewriter.api import find_sites
    from rewriter.candidates import candidates_for
    from rewriter.cost import CostModel, HarnessOptions, LatencyDB, cut_site, get_target
    from rewriter.cost.bench import parse_size, synthetic_site_model

    db = LatencyDB(db_path)
    for spec in targets:
        t0 = time.perf_counter()
        t = get_target(spec)
        fp = probe_fingerprint(t)
        store_probes(db.path, fp)
        cm = CostModel(
            t, db, HarnessOptions(time_cap=time_cap, warmup_cap=0.2, min_rounds=6, precision=0.03)
        )
        for size in sizes:
            kind, dims = parse_size(size)
            for fn in functions:
                m = synthetic_site_model(kind, dims, fn)
                for s in find_sites(m, "pau_all"):
                    if (
                        t.name == "torch-inductor"
                    ):  # one compiled graph per candidate: dynamo's recompile limit
                        import torch

                        torch._dynamo.reset()
                    cands = candidates_for(
                        s,
                        (5, 4),
                        extra_degrees=((3, 2), (4, 3)),
                        max_error=float("inf"),
                        allow_standard=True,
                    )
                    cm.site_costs(cut_site(m, s), cands)
        print(
            f"filled {spec}: probes {fp['seconds']:.1f} s, {cm.measured} measured / {cm.reused} reused, {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
    db.close()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", default="/tmp/pau_predict_eval.sqlite")
    p.add_argument("--no-fill", action="store_true")
    p.add_argument(
        "--inductor",
        action="store_true",
        help="also torch-inductor (compiles every candidate: slow)",
    )
    p.add_argument("--time-cap", type=float, default=0.4, help="seconds per micro-model comparison")
    p.add_argument("--json", help="write the tables' numbers here")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    if not a.no_fill:
        fill(
            a.db,
            list(TARGETS) + (["torch-inductor"] if a.inductor else []),
            SIZES,
            FUNCTIONS,
            a.time_cap,
        )
    samples = load_samples(a.db)
    probes = load_probes(a.db)
    print(
        f"{len(samples)} samples, {len({s.site + s.tkey for s in samples})} site contexts, {len(probes)} probed targets"
    )
    nonkeep = [x for x in samples if x.candidate != "keep"]
    floor = sum(x.ratio_hi <= 1.1 * x.ratio and x.ratio_lo >= 0.9 * x.ratio for x in nonkeep) / max(
        len(nonkeep), 1
    )
    print(
        f"noise floor: {floor:.0%} of measured ratios have their own 95% CI within +-10% of the median"
    )
    res = {
        "shapes": shape_cv(samples, probes),
        "targets": loto(samples, probes, few=(0, 10)),
        "noise_floor": floor,
    }
    print_tables(res)
    if a.json:
        write_atomic(a.json, json.dumps(res, indent=1))
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
