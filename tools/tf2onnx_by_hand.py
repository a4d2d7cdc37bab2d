"""`.tflite` files converted to ONNX by tf2onnx's own command line, as a user does it, then
`rewrite MODEL.onnx --dry-run` on each: the sites an ONNX file someone converted themselves
has (the tool's own conversion of the `.tflite` is another matter: it moves Reshapes and
broadcast constants and writes selects as `Where`).

    python tools/tf2onnx_by_hand.py DIR OUT   # DIR: e.g. make_jax_models.py --acts DIR

For each ``DIR/*.tflite``: ``python -m tf2onnx.convert --tflite F --output OUT/NAME.onnx
--opset 17``, then one line: the file, the exit code of ``rewrite --dry-run``, the sites
(function and rule; ``identified`` for sites found by their values) and the error line if
any. Needs the ``[tflite]`` extra (tf2onnx). The README quotes what it printed for the jax.nn
table's 28 ``.tflite`` files.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import pathlib
import subprocess
import sys


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", type=pathlib.Path, help="folder of .tflite files")
    p.add_argument("out", type=pathlib.Path, help="folder for the .onnx files and reports")
    a = p.parse_args()
    from rewriter.cli import main as rewrite

    a.out.mkdir(parents=True, exist_ok=True)
    for f in sorted(a.src.glob("*.tflite")):
        onnx_path = a.out / (f.stem + ".onnx")
        conv = subprocess.run(
            [sys.executable, "-m", "tf2onnx.convert", "--tflite", str(f), "--output",
             str(onnx_path), "--opset", "17"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if conv.returncode != 0:
            print(f"{f.name}: tf2onnx failed: {conv.stderr.strip().splitlines()[-1:]}")
            continue
        report = a.out / (f.stem + ".json")
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            rc = rewrite([str(onnx_path), "--dry-run", "--report", str(report)])
        sites = []
        if report.exists():
            sites = [(s["function"], s["rule"]) for s in json.loads(report.read_text())["sites"]]
        err = next((ln for ln in buf.getvalue().splitlines() if "error:" in ln), "")
        print(f"{f.name}: exit {rc} sites {sites} {err[:160]}".rstrip(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
