"""Acceptance: the real CLI on every zoo model with no flags, plain and with a target; one table.

    python tools/acceptance.py [--zoo DIR] [--out DIR] [--no-target] [--target T] [NAME ...]

Builds the zoo (tools/zoo.py) unless ``--zoo`` points at one already built, then runs, per model,
in a subprocess as a user would:

    rewrite MODEL -p pau_all -o OUT --report R.json
    rewrite MODEL -p pau_all --target ort-cpu:threads=1 -o OUT --report R.json

and prints one table: model, command, exit code, sites found/replaced, the worst output's
relative L2 error and its noise floor, outputs not checked, seconds, and the last stderr line when
the run failed. Exit code 0 only when every run exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import zoo  # tools/zoo.py: this script's folder is on sys.path when run as a script

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGET = "ort-cpu:threads=1"


@dataclass
class Row:
    model: str
    command: str
    code: int
    found: int | None
    replaced: int | None
    rel_l2: float | None
    floor: float | None
    unchecked: int | None
    seconds: float
    message: str


def run_one(model: str, out: str, extra: list[str], timeout: float = 900) -> Row:
    """One CLI run with a JSON report; the row of the table."""
    report = out.removesuffix(".onnx") + ".json"
    cmd = [sys.executable, "-m", "rewriter", model, "-p", "pau_all", "-o", out, "--report", report]
    cmd += extra
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        code, err = p.returncode, p.stderr
    except subprocess.TimeoutExpired:
        code, err = -1, f"timed out after {timeout:.0f} s"
    dt = time.perf_counter() - t
    lines = [ln.strip() for ln in err.splitlines() if ln.strip() and not ln.startswith("[")]
    found = replaced = unchecked = None
    rel = floor = None
    if os.path.exists(report):
        r = json.loads(pathlib.Path(report).read_text())
        sites = r.get("sites", [])
        found, replaced = len(sites), sum(bool(s.get("replaced")) for s in sites)
        v = r.get("verification") or {}
        outs = v.get("outputs", [])
        checked = [o for o in outs if o.get("checked", True)]
        unchecked = len(outs) - len(checked)
        if checked:
            worst = max(checked, key=lambda o: o["rel_l2"])
            rel, floor = worst["rel_l2"], worst.get("floor")
    cmd_name = "pau_all" + (
        f" --target {extra[extra.index('--target') + 1]}" if "--target" in extra else ""
    )
    name = pathlib.Path(model).stem
    return Row(
        name,
        cmd_name,
        code,
        found,
        replaced,
        rel,
        floor,
        unchecked,
        dt,
        lines[-1] if code and lines else "",
    )


def _fmt(v: Any, spec: str = ".2g") -> str:
    return "-" if v is None else format(v, spec)


def print_table(rows: list[Row]) -> None:
    print(
        "| model | command | exit | sites found / replaced | worst rel-L2 (noise floor) | outputs not checked | s | message |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        sites = "-" if r.found is None else f"{r.found} / {r.replaced}"
        err = "-" if r.rel_l2 is None else f"{r.rel_l2:.2g} ({_fmt(r.floor)})"
        msg = r.message.replace("|", "\\|")[:140]
        print(
            f"| {r.model} | {r.command} | {r.code} | {sites} | {err} | {_fmt(r.unchecked, 'd')} | {r.seconds:.1f} | {msg} |"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="zoo models (default all)")
    ap.add_argument("--zoo", help="folder of already built zoo models (NAME.onnx)")
    ap.add_argument("--out", help="folder for rewritten models and reports (default: temporary)")
    ap.add_argument("--no-target", action="store_true", help="skip the --target runs")
    ap.add_argument("--target", default=TARGET, help=f"the target of the second run ({TARGET})")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if a.zoo:
            names = a.names or sorted(p.stem for p in pathlib.Path(a.zoo).glob("*.onnx"))
            models = {n: os.path.join(a.zoo, f"{n}.onnx") for n in names}
        else:
            models = zoo.build_zoo(os.path.join(tmp, "zoo"), a.names or None)
        out = a.out or os.path.join(tmp, "out")
        os.makedirs(out, exist_ok=True)
        rows = []
        for name, path in models.items():
            for extra, tag in (([], "plain"), (["--target", a.target], "target")):
                if tag == "target" and a.no_target:
                    continue
                row = run_one(path, os.path.join(out, f"{name}.{tag}.onnx"), extra)
                rows.append(row)
                print(
                    f"  {name} {tag}: exit {row.code} in {row.seconds:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
    print_table(rows)
    ok = sum(r.code == 0 for r in rows)
    print(f"\n{ok} of {len(rows)} runs exited 0")
    return 0 if ok == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
