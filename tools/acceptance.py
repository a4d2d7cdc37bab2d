"""Acceptance: the real CLI on every zoo model, with no flags but the pipeline; one table.

    python tools/acceptance.py [--zoo DIR] [--out DIR] [NAME ...]

Builds the zoo (tools/zoo.py) unless ``--zoo`` points at one already built, then runs
``python -m rewriter.cli MODEL -p pau_all -o OUT`` per model in a subprocess and prints: model,
exit code, the last stderr line (stdout's when stderr is empty), seconds. Exit code 0 only when
every model exits 0. The lead extends this (more pipelines, --target, report checks).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _zoo():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("zoo", ROOT / "tools" / "zoo.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def run_one(
    model: str, out: str, pipeline: str = "pau_all", inputs: str | None = None, timeout: float = 600
) -> tuple[int, str, float]:
    """(exit code, last non-empty stderr line, seconds) of one CLI run."""
    cmd = [sys.executable, "-m", "rewriter.cli", model, "-p", pipeline, "-o", out]
    cmd += ["--inputs", inputs] if inputs else []
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {timeout:.0f} s", time.perf_counter() - t
    dt = time.perf_counter() - t
    lines = [ln.strip() for ln in (p.stderr or p.stdout).splitlines() if ln.strip()]
    return p.returncode, lines[-1] if lines else "", dt


def _run_generated(model: str, out: str, pipeline: str) -> tuple[int, str, float]:
    """The CLI run with ``--inputs`` from ``generate_inputs`` (its time included)."""
    import numpy as np
    import onnx

    from rewriter.inputs import generate_inputs

    t = time.perf_counter()
    try:
        feeds = generate_inputs(onnx.load(model)).feeds
    except Exception as e:  # InputError: the one line a user would see
        return 2, f"generate_inputs: {e}", time.perf_counter() - t
    npz = out.removesuffix(".onnx") + ".inputs.npz"
    np.savez(npz, **feeds)
    rc, last, _ = run_one(model, out, pipeline, inputs=npz)
    return rc, last, time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="zoo models (default all)")
    ap.add_argument("--zoo", help="folder of already built zoo models (NAME.onnx)")
    ap.add_argument("--out", help="folder for rewritten models (default: a temporary folder)")
    ap.add_argument("-p", "--pipeline", default="pau_all")
    ap.add_argument(
        "--generated-inputs",
        action="store_true",
        help="also run with --inputs written by rewriter.inputs.generate_inputs (until it is wired in)",
    )
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if a.zoo:
            names = a.names or sorted(p.stem for p in pathlib.Path(a.zoo).glob("*.onnx"))
            models = {n: os.path.join(a.zoo, f"{n}.onnx") for n in names}
        else:
            models = _zoo().build_zoo(os.path.join(tmp, "zoo"), a.names or None)
        out = a.out or os.path.join(tmp, "out")
        os.makedirs(out, exist_ok=True)
        rows = []
        for name, path in models.items():
            rc, last, dt = run_one(path, os.path.join(out, f"{name}.onnx"), a.pipeline)
            rows.append((name, rc, last, dt))
            print(f"  {name}: exit {rc} in {dt:.1f} s", file=sys.stderr, flush=True)
            if a.generated_inputs:
                rc, last, dt = _run_generated(
                    path, os.path.join(out, f"{name}.gen.onnx"), a.pipeline
                )
                rows.append((f"{name} +gen", rc, last, dt))
    w = max((len(r[0]) for r in rows), default=5)
    print(f"| {'model':{w}s} | exit | {'seconds':>7s} | last stderr line |")
    print(f"|{'-' * (w + 2)}|------|---------|------------------|")
    for name, rc, last, dt in rows:
        cell = last.replace("|", "\\|")[:160]
        print(f"| {name:{w}s} | {rc:4d} | {dt:7.1f} | {cell} |")
    ok = sum(r[1] == 0 for r in rows)
    print(f"\n{ok} of {len(rows)} models rewritten and verified (pipeline {a.pipeline})")
    return 0 if ok == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
