"""Sweep: `rewrite` with no flags (and with a target) over the models onnx ships for its own
backend tests (``onnx/backend/test/data/{pytorch-converted,pytorch-operator,simple}``, 140
small models from many exporters and opsets, IR 3 to 8), in this process. Prints one line per
run that did not exit 0 and the counts; no download (the files come with the onnx wheel).

    python tools/backend_sweep.py [--target ort-cpu:threads=1] [--no-target]

A run passes when it exits 0; one that exits 1 or 2 must have printed one line (no traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile

import onnx

from rewriter.cli import main as rewrite

SETS = ("pytorch-converted", "pytorch-operator", "simple")


def models() -> list[str]:
    root = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
    out = []
    for s in SETS:
        d = os.path.join(root, s)
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            path = os.path.join(d, name, "model.onnx")
            if os.path.isfile(path):
                out.append(path)
    return out


def run(path: str, extra: list[str], out: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = rewrite([path, *extra, "-o", out, "-q"])
    lines = [ln for ln in err.getvalue().splitlines() if ln and "note:" not in ln]
    return code, lines[-1] if lines else ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="ort-cpu:threads=1")
    p.add_argument("--no-target", action="store_true")
    a = p.parse_args(argv)
    runs = [[]] if a.no_target else [[], ["--target", a.target]]
    paths = models()
    ok = total = 0
    with tempfile.TemporaryDirectory() as d:
        for path in paths:
            name = os.path.basename(os.path.dirname(path))
            for extra in runs:
                total += 1
                code, line = run(path, extra, os.path.join(d, "out.onnx"))
                if code == 0:
                    ok += 1
                else:
                    print(f"[{code}] {name} {' '.join(extra)}: {line[:200]}")
    print(f"{ok} of {total} runs exited 0 ({len(paths)} models)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
