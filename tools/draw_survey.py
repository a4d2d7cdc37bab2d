"""How far `rewrite`'s verdict holds on inputs it did not judge: further draws, as it judges them.

    python tools/draw_survey.py [--more 20] [--tolerance 1e-2] [--jobs 2] MODEL ...

Per ONNX model, as a user runs it: ``rewrite MODEL -o OUT --report R.json`` (no flags, in a
subprocess; timed). Then, where a model was written, the written model is judged against the
original on ``--more`` draws of generated inputs past the ones ``rewrite`` judged (the same
generator, the same sizes, seeds after its own: ``ModelInputs.draw``), each draw as verification
judges one (``rewriter.verify.compare``, noise floor measured, ``Deviation.exceeds``). One row
per model: exit code, seconds, sites replaced of found, the draws ``rewrite`` judged, the worst
rel-L2 it reported, and how many of the further draws are outside ``--tolerance`` (the worst of
them).

A rewrite verified on a few draws of noise is outside on others where its outputs sit on a
sigmoid's tail (text detectors' maps, wake-word scores): this counts how often. The further
draws start after those ``rewrite`` judged (3, or 12 where it judged 12), so two checkouts
compared side by side judge a model they both widen, or neither, on the same draws.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's rewriter, in-process as in the subprocess


def survey(model: str, more: int, tolerance: float) -> dict[str, Any]:
    """One row: ``rewrite`` with no flags, then the written model on ``more`` further draws."""
    import onnx

    from rewriter.cli.common import model_inputs
    from rewriter.ir import load_model
    from rewriter.verify import compare

    row: dict[str, Any] = {"model": pathlib.Path(model).name}
    with tempfile.TemporaryDirectory(prefix="draws-") as tmp:
        out, rep = os.path.join(tmp, "out.onnx"), os.path.join(tmp, "r.json")
        cmd = [sys.executable, "-m", "rewriter", model, "-o", out, "--report", rep]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
        row["seconds"] = time.perf_counter() - t0
        row["code"] = proc.returncode
        lines = proc.stderr.strip().splitlines()
        row["message"] = lines[-1][:100] if proc.returncode and lines else ""
        if not os.path.exists(rep):
            return row
        report = json.loads(pathlib.Path(rep).read_text())
        sites = report.get("sites", [])
        row["found"] = len(sites)
        row["replaced"] = sum(1 for s in sites if s.get("replaced"))
        ver = report.get("verification") or {}
        row["draws"] = ver.get("draws", 1)
        worst = max((o.get("rel_l2") or 0.0 for o in ver.get("outputs", [])), default=0.0)
        row["rel_l2"] = worst
        if not os.path.exists(out) or not row["replaced"]:
            return row
        original, written = load_model(model), onnx.load(out)  # as the command loads it
        try:
            inputs = model_inputs(argparse.Namespace(model=model), original)
        except Exception as e:  # noqa: BLE001 - one model's row says why, the others go on
            row["message"] = f"further draws not made: {str(e).splitlines()[0][:80]}"
            return row
        if not inputs.generated:
            return row
        draw = inputs.draw(original)
        start = row["draws"]
        outside, worst_more = 0, 0.0
        for k in range(start, start + more):
            try:
                d = compare(original, written, draw(k), "generated")
            except Exception:  # noqa: BLE001 - the original refuses that draw: not counted
                continue
            outside += bool(d.exceeds(tolerance))
            w = d.worst
            worst_more = max(worst_more, w.rel_l2 if w is not None else 0.0)
        row["outside"], row["worst_more"] = outside, worst_more
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--more", type=int, default=20, help="further draws judged (default 20)")
    ap.add_argument("--tolerance", type=float, default=1e-2, help="as rewrite's (default 1e-2)")
    ap.add_argument("--jobs", type=int, default=1, help="models surveyed at once")
    ap.add_argument("--json", help="also write the rows here")
    a = ap.parse_args(argv)
    with ProcessPoolExecutor(a.jobs) as pool:
        rows = list(
            pool.map(functools.partial(survey, more=a.more, tolerance=a.tolerance), a.models)
        )
    head = f"{'model':48} code  secs  repl/found draws  rel-L2    outside  worst further"
    print(head)
    for r in rows:
        rep = f"{r.get('replaced', '-')}/{r.get('found', '-')}"
        out = f"{r['outside']}/{a.more}" if "outside" in r else "-"
        print(
            f"{r['model'][:48]:48} {r['code']:4} {r['seconds']:5.1f} {rep:>10} "
            f"{r.get('draws', '-')!s:>5}  {r.get('rel_l2', 0.0):.2e}  {out:>7}  "
            f"{r.get('worst_more', 0.0):.2e} {r['message']}"
        )
    total = sum(r.get("outside", 0) for r in rows)
    judged = sum(a.more for r in rows if "outside" in r)
    print(f"outside on {total} of {judged} further draws; {sum(r['seconds'] for r in rows):.0f} s")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
