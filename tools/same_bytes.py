"""Same input and options, same bytes: ``rewrite FILE -o OUT`` twice, each in a fresh process.

    python tools/same_bytes.py MODEL [MODEL ...] [--runs 2] [-- REWRITE OPTIONS]

Prints, per model, the exit codes and how many distinct outputs the runs wrote (1 is the
promise); exits 1 when any model wrote more than one. The README's TensorFlow section
measured 10 TF-family files with it (each gave two outputs before the conversion was made
deterministic, one after).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--runs", type=int, default=2)
    a = ap.parse_args(argv)
    differ = 0
    with tempfile.TemporaryDirectory() as d:
        for model in a.models:
            digests, codes = set(), []
            for k in range(a.runs):
                out = os.path.join(d, f"run{k}.onnx")
                cmd = [sys.executable, "-m", "rewriter", model, "-o", out, "-q", *extra]
                codes.append(subprocess.run(cmd, capture_output=True, check=False).returncode)
                if os.path.exists(out):
                    with open(out, "rb") as f:
                        digests.add(hashlib.sha256(f.read()).hexdigest())
                    os.remove(out)
            differ += len(digests) > 1
            print(f"{model}: exit {codes}, {len(digests)} distinct output(s)", flush=True)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
