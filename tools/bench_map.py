"""The accuracy side of ``rewrite map`` and the budget search: every candidate of every site
evaluated alone, each model run whole or only downstream of its site.

    python tools/bench_map.py [MODEL.onnx ...] [--zoo DIR] [--rounds 2]
        [--threads | --switch | --site-cuts | --page]

Without models, the zoo's (``tools/zoo.py``, built unless ``--zoo`` names a folder of them)
``DEFAULT`` ones. Per model, one ``Study`` finds the sites and fits their candidates; then,
interleaved ``rounds`` times, a fresh ``Evaluator`` per mode runs the original on the
calibration batches and evaluates every candidate alone (what the map's per-site numbers and
the budget search's table run), timed from the evaluator's construction to the last deviation.
Prints the medians per mode, their ratio, the share of candidates run as cuts, and the largest
difference between the two modes' numbers (relative L2 and cosine, per candidate: ONNX Runtime
fuses differently across a cut, which moves the last bits).

``--threads``: instead, every candidate evaluated alone (cuts on), one after another
(``Evaluator.deviations(workers=1)``) against in threads (``rewriter.procs.worker_count``),
interleaved ``rounds`` times; prints the medians, their ratio and whether every number is the
same.

``--switch``: instead, every candidate evaluated alone as its own model (emitted, cut, in
threads: ``Evaluator.deviations``) against as runs of one switch model (``Evaluator.solos``,
``rewriter/emit/switch.py``), interleaved ``rounds`` times; prints the medians, their ratio and
the largest difference between the two modes' numbers (fusions differ in the switch model).

``--site-cuts``: instead, every candidate evaluated alone as runs of one switch model, all on
its one cut (downstream of every site) against each site's on its own cut (the part below it,
``Evaluator.solos``), interleaved ``rounds`` times; prints the medians, their ratio, how many
sites ran on their own cut and the largest difference between the two modes' numbers.

``--page``: instead, the map's page of each model (``rewriter.report.render_html``), its site
plots drawn one after another here (``PAU_REWRITER_WORKERS=1``) and in worker processes,
interleaved ``rounds`` times; prints the medians, their ratio and whether the pages are the
same string.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import zoo  # tools/zoo.py: this script's folder is on sys.path when run as a script

from rewriter.accuracy.evaluate import Evaluator
from rewriter.accuracy.study import Study
from rewriter.calibrate import as_calibration
from rewriter.ir import load_model

DEFAULT = ["yolo_silu", "mobilenet_hswish", "bert_dynamo", "vit_torchscript", "gpt2_dynamo",
           "crnn_lstm", "clip_dynamo"]  # fmt: skip


def _evaluate(st: Study, downstream: bool) -> tuple[float, Evaluator, dict]:
    t0 = time.perf_counter()
    ev = Evaluator(st.model, st.pipeline, st.cal, st.labels, downstream=downstream)
    ev.prepare([{s.name: s.candidates[1]} for s in st.sites if len(s.candidates) > 1])
    got = {(s.name, c.name): ev.deviation({s.name: c}) for s in st.sites for c in s.candidates}
    return time.perf_counter() - t0, ev, got


def bench(path: str, rounds: int) -> None:
    m = load_model(path)
    st = Study(m, "pau_all", as_calibration(None, m))
    if not st.sites:
        print(f"{os.path.basename(path)}: no site")
        return
    times: dict[bool, list[float]] = {True: [], False: []}
    last: dict[bool, tuple[Evaluator, dict]] = {}
    for _ in range(rounds):
        for mode in (False, True):
            dt, ev, got = _evaluate(st, mode)
            times[mode].append(dt)
            last[mode] = (ev, got)
    (cut_ev, a), (_, b) = last[True], last[False]
    d_rel = max(abs(a[k].rel_l2 - b[k].rel_l2) for k in a)
    d_cos = max(abs(a[k].cosine - b[k].cosine) for k in a)
    whole, cut = statistics.median(times[False]), statistics.median(times[True])
    runs = cut_ev.runs
    print(
        f"{os.path.basename(path):40s} {len(st.sites):4d} sites {sum(runs.values()):4d} runs"
        f"  whole {whole:7.1f} s  cut {cut:7.1f} s  x{whole / cut:5.2f}"
        f"  cuts {runs['cut']}/{sum(runs.values())}"
        f"  largest difference: rel-L2 {d_rel:.1e}, cosine {d_cos:.1e}",
        flush=True,
    )


def _side_by_side(path: str, what: str, rounds: int, modes: dict[str, Callable[[], Any]]) -> None:
    """Run the two ``modes`` interleaved ``rounds`` times; print their medians, their ratio
    and whether their results are equal."""
    times: dict[str, list[float]] = {k: [] for k in modes}
    out: dict[str, Any] = {}
    for _ in range(rounds):
        for k, run in modes.items():
            t0 = time.perf_counter()
            out[k] = run()
            times[k].append(time.perf_counter() - t0)
    (a, ta), (b, tb) = ((k, statistics.median(v)) for k, v in times.items())
    print(
        f"{os.path.basename(path):40s} {what}  {a} {ta:6.1f} s  {b} {tb:6.1f} s  x{ta / tb:5.2f}"
        f"  same: {out[a] == out[b]}",
        flush=True,
    )


def bench_threads(path: str, rounds: int) -> None:
    from rewriter.procs import worker_count

    m = load_model(path)
    st = Study(m, "pau_all", as_calibration(None, m))
    solo = [{s.name: c} for s in st.sites for c in s.candidates]

    def evaluate(workers: int) -> list[dict]:
        ev = Evaluator(st.model, st.pipeline, st.cal, st.labels)
        ev.prepare([{s.name: s.candidates[1]} for s in st.sites if len(s.candidates) > 1])
        return [d.to_dict() for d in ev.deviations(solo, workers=workers)]

    n = worker_count()
    modes = {"one by one": lambda: evaluate(1), f"{n} threads": lambda: evaluate(n)}
    _side_by_side(path, f"{len(st.sites):4d} sites {len(solo):4d} evaluations", rounds, modes)


def _two_evaluators(
    path: str, rounds: int, modes: dict[str, Callable[[Study], Evaluator]], count: str = ""
) -> None:
    """Every candidate of every site evaluated alone by each of the two ``modes`` (a prepared
    ``Evaluator``), interleaved ``rounds`` times; prints the medians, their ratio, ``count``
    (an attribute of the evaluator, its largest value) and the largest difference between the
    two modes' numbers."""
    m = load_model(path)
    st = Study(m, "pau_all", as_calibration(None, m))
    solo = [{s.name: c} for s in st.sites for c in s.candidates]
    times: dict[str, list[float]] = {k: [] for k in modes}
    got: dict[str, list[Any]] = {}
    most = 0
    for _ in range(rounds):
        for mode, make in modes.items():
            t0 = time.perf_counter()
            ev = make(st)
            got[mode] = ev.deviations(solo)
            times[mode].append(time.perf_counter() - t0)
            most = max(most, getattr(ev, count, 0)) if count else 0
    (a, ta), (b, tb) = ((k, statistics.median(v)) for k, v in times.items())
    d_rel = max(abs(x.rel_l2 - y.rel_l2) for x, y in zip(got[a], got[b], strict=True))
    d_cos = max(abs(x.cosine - y.cosine) for x, y in zip(got[a], got[b], strict=True))
    counted = f"  {count} {most}/{len(st.sites)}" if count else ""
    print(
        f"{os.path.basename(path):40s} {len(st.sites):4d} sites {len(solo):4d} evaluations"
        f"  {a} {ta:7.1f} s  {b} {tb:7.1f} s  x{ta / tb:5.2f}{counted}"
        f"  largest difference: rel-L2 {d_rel:.1e}, cosine {d_cos:.1e}",
        flush=True,
    )


def _solos(st: Study, **options: Any) -> Evaluator:
    ev = Evaluator(st.model, st.pipeline, st.cal, st.labels, **options)
    assert ev.solos({s.name: s.candidates for s in st.sites}), "no switch model"
    return ev


def _each(st: Study) -> Evaluator:
    ev = Evaluator(st.model, st.pipeline, st.cal, st.labels)
    ev.prepare([{s.name: s.candidates[1]} for s in st.sites if len(s.candidates) > 1])
    return ev


def bench_switch(path: str, rounds: int) -> None:
    _two_evaluators(path, rounds, {"one model each": _each, "switch": _solos})


def bench_site_cuts(path: str, rounds: int) -> None:
    modes = {
        "one cut": lambda st: _solos(st, site_cuts=False),
        "site cuts": lambda st: _solos(st),
    }
    _two_evaluators(path, rounds, modes, count="own_cuts")


def bench_page(path: str, rounds: int) -> None:
    from rewriter.plan.sitemap import sensitivity_map
    from rewriter.procs import worker_count
    from rewriter.report import render_html

    mp = sensitivity_map(path, "pau_all", None, progress=False)
    saved = os.environ.get("PAU_REWRITER_WORKERS")

    def render(workers: int) -> str:
        os.environ["PAU_REWRITER_WORKERS"] = str(workers)
        return render_html(mp)

    n = worker_count()
    try:
        modes = {"here": lambda: render(1), f"{n} workers": lambda: render(n)}
        _side_by_side(path, f"{len(mp.sites):4d} sites, page", rounds, modes)
    finally:
        if saved is None:
            os.environ.pop("PAU_REWRITER_WORKERS", None)
        else:
            os.environ["PAU_REWRITER_WORKERS"] = saved


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", help="ONNX files (default: the zoo's DEFAULT)")
    p.add_argument("--zoo", help="folder of already built zoo models (NAME.onnx)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--page", action="store_true", help="time the page's plots instead")
    p.add_argument("--threads", action="store_true", help="time evaluations in threads instead")
    p.add_argument("--switch", action="store_true",
                   help="time one model each against one switch model instead")  # fmt: skip
    p.add_argument("--site-cuts", action="store_true",
                   help="time the switch model's one cut against each site's own instead")  # fmt: skip
    a = p.parse_args(argv)
    paths = a.models
    if not paths:
        folder = a.zoo or tempfile.mkdtemp(prefix="zoo-")
        if not a.zoo:
            zoo.build_zoo(folder, DEFAULT)
        paths = [os.path.join(folder, f"{n}.onnx") for n in DEFAULT]
    failed = 0
    for path in paths:
        try:
            pick = bench_page if a.page else bench_threads if a.threads else bench
            pick = bench_site_cuts if a.site_cuts else pick
            (bench_switch if a.switch else pick)(path, a.rounds)
        except Exception as e:  # one model's failure is one line; the others still run
            failed += 1
            print(f"{os.path.basename(path)}: failed: {type(e).__name__}: {e}"[:300], flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
