"""Acceptance: the real CLI on every zoo model with no flags, plain and with a target; one table.

    python tools/acceptance.py [--zoo DIR] [--out DIR] [--no-target] [--target T] [--subcommands]
                               [NAME ...]

Builds the zoo (tools/zoo.py) unless ``--zoo`` points at one already built, then runs, per model,
in a subprocess as a user would:

    rewrite MODEL -p pau_all -o OUT --report R.json
    rewrite MODEL -p pau_all --target ort-cpu:threads=1 -o OUT --report R.json

and prints one table: model, command, exit code, sites found/replaced, the worst output's
relative L2 error and its noise floor, outputs not checked, seconds, and the last stderr line when
the run failed. Exit code 0 only when every run exits 0. ``--subcommands`` also runs every other
subcommand with no flags, as a user tries them: ``plan MODEL``, ``map MODEL -o M.html``, ``bench
MODEL OUT``, ``finetune OUT --teacher MODEL -o T`` (layer-wise and ``--mode distill``) and
``explain MODEL --rule silu``.
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


def _label(model: str) -> str:
    """The model's row name: its stem; a TFLite file or a TorchScript archive beside an ONNX one
    of the same stem (a package shipping both) keeps its suffix."""
    p = pathlib.Path(model)
    return p.name if p.suffix != ".onnx" and p.with_suffix(".onnx").exists() else p.stem


def run_one(model: str, out: str, extra: list[str], timeout: float = 900) -> Row:
    """One CLI run with a JSON report; the row of the table."""
    report = out.removesuffix(".onnx") + ".json"
    code, message, dt = _cli(
        [model, "-p", "pau_all", "-o", out, "--report", report, *extra], timeout
    )
    found = replaced = unchecked = None
    rel = floor = None
    if os.path.exists(report):
        r = json.loads(pathlib.Path(report).read_text())
        sites = r.get("sites", [])
        found, replaced = len(sites), sum(bool(s.get("replaced")) for s in sites)
        v = r.get("verification") or {}
        outs = v.get("outputs", [])
        # judged as the tool judges: an output that picks otherwise is compared by agreement
        # (its rel-L2 over boxes in another order is no error), what it picks by as values
        checked = [
            o for o in outs if o.get("checked", True) and o.get("role") not in ("picks", "index")
        ]
        unchecked = sum(
            1
            for o in outs
            if not o.get("checked", True) and o.get("role") not in ("index", "aside")
        )
        if checked:
            worst = max(checked, key=lambda o: o["rel_l2"])
            rel, floor = worst["rel_l2"], worst.get("floor")
    cmd_name = "pau_all" + (
        f" --target {extra[extra.index('--target') + 1]}" if "--target" in extra else ""
    )
    name = _label(model)
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
        message,
    )


def _cli(args: list[str], timeout: float) -> tuple[int, str, float]:
    """``rewrite ARGS`` in a subprocess: exit code, the last stderr line when it failed
    (progress lines ``[tag] ...`` aside), seconds."""
    t = time.perf_counter()
    try:
        p = subprocess.run(
            [sys.executable, "-m", "rewriter", *args],
            capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        )  # fmt: skip
        code, err = p.returncode, p.stderr
    except subprocess.TimeoutExpired:
        code, err = -1, f"timed out after {timeout:.0f} s"
    lines = [ln.strip() for ln in err.splitlines() if ln.strip() and not ln.startswith("[")]
    return code, lines[-1] if code and lines else "", time.perf_counter() - t


def run_subcommand(model: str, label: str, args: list[str], timeout: float = 900) -> Row:
    """``rewrite ARGS`` as a user types it; the row says its exit code and last stderr line."""
    code, message, dt = _cli(args, timeout)
    return Row(_label(model), label, code, None, None, None, None, None, dt, message)


def subcommands(model: str, out: str, stem: str) -> list[tuple[str, list[str]]]:
    """(label, arguments) of every other subcommand with no flags, on ``model`` and on ``out``,
    the model the plain run wrote."""
    return [
        ("plan", ["plan", model]),
        ("map", ["map", model, "-o", f"{stem}.map.html"]),
        ("bench", ["bench", model, out]),
        ("finetune", ["finetune", out, "--teacher", model, "-o", f"{stem}.tuned.onnx"]),
        ("finetune --mode distill", ["finetune", out, "--teacher", model, "--mode", "distill",
                                     "-o", f"{stem}.distilled.onnx"]),
        ("explain --rule silu", ["explain", model, "--rule", "silu"]),
    ]  # fmt: skip


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
    ap.add_argument("--subcommands", action="store_true",
                    help="also plan, map, bench, finetune (both modes) and explain, no flags")  # fmt: skip
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if a.zoo:
            # ONNX files, TFLite ones (tools/packaged_models.py copies MediaPipe's),
            # torch.export programs (tools/hf_families.py --pt2) and TorchScript archives
            # (.pt, .jit: Silero VAD's); a package shipping two forms of one model (basic-pitch,
            # Silero VAD) has both run, the other by file name
            files = [
                p
                for p in sorted(pathlib.Path(a.zoo).iterdir())
                if p.suffix in (".onnx", ".tflite", ".pt2", ".pt", ".jit")
            ]
            found = {_label(str(p)): str(p) for p in files}
            names = a.names or sorted(found)
            models = {n: found.get(n, os.path.join(a.zoo, f"{n}.onnx")) for n in names}
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
            written = os.path.join(out, f"{name}.plain.onnx")
            if a.subcommands and os.path.exists(written):
                for label, args in subcommands(path, written, os.path.join(out, name)):
                    row = run_subcommand(path, label, args)
                    rows.append(row)
                    print(f"  {name} {label}: exit {row.code} in {row.seconds:.1f} s",
                          file=sys.stderr, flush=True)  # fmt: skip
    print_table(rows)
    ok = sum(r.code == 0 for r in rows)
    print(f"\n{ok} of {len(rows)} runs exited 0")
    return 0 if ok == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
