"""The ``rewrite`` command line.

    rewrite model.onnx -p pau_all -o out.onnx [--degrees 5,4] [--form auto] [--report r.json]
    rewrite model.onnx -p pau_all --dry-run
    rewrite explain model.onnx --rule gelu_erf
    rewrite --list

Errors print one line on stderr (``rewrite: error: ...``) and exit non-zero: 2 for usage errors,
1 for a bad model or a failed verification. The input file is never modified; the output is
written atomically after it passed verification. Set ``PAU_REWRITER_DEBUG=1`` for tracebacks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from rewriter.errors import RewriterError, UsageError

# Subcommands live in their own modules; each is ``main(argv) -> int`` raising RewriterError for
# bad input. Imported lazily so that `rewrite model.onnx ...` loads none of them.
SUBCOMMANDS: dict[str, str] = {
    "explain": "rewriter.cli:explain_main",
    "finetune": "rewriter.refit:main",
    "bench": "rewriter.cost.cli:bench_main",
    "profile": "rewriter.cost.cli:profile_main",
    "db": "rewriter.cost.cli:db_main",
    "db export": "rewriter.predict.cli:db_export_main",
    "db import": "rewriter.predict.cli:db_import_main",
    "plan": "rewriter.predict.cli:plan_main",
    "map": "rewriter.accuracy.cli:map_main",
}


class Parser(argparse.ArgumentParser):
    """argparse that raises ``UsageError`` (one line, exit 2) instead of printing usage; shared by
    every subcommand."""

    def error(self, message: str) -> NoReturn:  # one line, exit 2
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def degrees_arg(text: str) -> tuple[int, int]:
    """argparse type for ``--degrees M,N``."""
    try:
        m, n = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--degrees wants M,N such as 5,4, got {text!r}") from None
    if m < 1 or n < 1 or m > 12 or n > 12:
        raise argparse.ArgumentTypeError(f"--degrees {text}: M and N must be between 1 and 12")
    return m, n


def _main_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="rewrite",
        description="Rewrite activation subgraphs of an ONNX model into rational functions (PAU).",
    )
    p.add_argument("model", nargs="?", help="input .onnx model (never modified)")
    p.add_argument(
        "-p",
        "--pipeline",
        default="pau_all",
        help="comma list of pipelines/passes (default pau_all; see --list)",
    )
    p.add_argument(
        "-o", "--output", help="output .onnx path (written atomically after verification)"
    )
    p.add_argument(
        "--degrees", type=degrees_arg, default=(5, 4), help="rational degrees M,N (default 5,4)"
    )
    p.add_argument(
        "--form", default="auto", help="rational form: auto, pau, pau_b, ... (default auto)"
    )
    p.add_argument("--dry-run", action="store_true", help="find and report sites; write no model")
    p.add_argument("--report", help="write a JSON report here")
    p.add_argument(
        "--tolerance",
        type=float,
        default=1e-2,
        help="max relative L2 output error before refusing to write (default 1e-2)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="write the output even when verification exceeds --tolerance",
    )
    p.add_argument("--inputs", help=".npz of inputs keyed by input name, for verification")
    p.add_argument(
        "--patterns", action="append", default=[], help="extra rule file (.py or .toml); repeatable"
    )
    p.add_argument(
        "--rtol",
        type=float,
        default=1e-4,
        help="relative tolerance for pattern constants (default 1e-4)",
    )
    p.add_argument(
        "--target",
        help="choose per site by measured latency on this target, e.g. ort-cpu:threads=1, openvino-cpu, torch-inductor",
    )
    p.add_argument(
        "--db", help="latency database (SQLite) for --target (default in the user cache folder)"
    )
    p.add_argument(
        "--max-site-error",
        type=float,
        help="with --target: largest approximation error a site may take (default: the form's own bound)",
    )
    p.add_argument(
        "--allow-standard",
        action="store_true",
        help="with --target: also consider cheaper standard activations (ReLU, HardSwish, ...)",
    )
    p.add_argument("--list", action="store_true", help="print pipelines and rules, then exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no tables, only errors")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="also print per-rule match counts and time"
    )
    from rewriter.accuracy.cli import add_budget_options

    add_budget_options(p)  # --calibration, --labels, --max-drop, --min-cosine, --max-rel-error
    return p


def _explain_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="rewrite explain",
        description="Why a rule does or does not match: the best near-miss per candidate node.",
    )
    p.add_argument("model")
    p.add_argument("--rule", required=True, help="rule name (see `rewrite --list`)")
    p.add_argument("--patterns", action="append", default=[], help="extra rule file (.py or .toml)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        for words in (2, 1):  # two-word subcommands (`db export`) first
            name = " ".join(args[:words])
            if len(args) >= words and name in SUBCOMMANDS:
                import importlib

                module, func = SUBCOMMANDS[name].split(":")
                return int(getattr(importlib.import_module(module), func)(args[words:]))
        return _rewrite(_main_parser().parse_args(args))
    except RewriterError as e:
        if os.environ.get("PAU_REWRITER_DEBUG"):
            raise
        print(f"rewrite: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("rewrite: interrupted; nothing was written", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: still one line, never a traceback
        if os.environ.get("PAU_REWRITER_DEBUG"):
            raise
        print(
            f"rewrite: internal error: {type(e).__name__}: {e} (set PAU_REWRITER_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return 3


_Parser = Parser


def console() -> Any:
    """The rich console every command prints its tables to."""
    from rich.console import Console

    return Console(stderr=False, highlight=False, width=140)


def _list() -> int:
    from rich.table import Table

    from rewriter.match.rules import all_rules
    from rewriter.passes import pipeline_names

    con = console()
    t = Table(title="pipelines (-p)")
    t.add_column("name")
    t.add_column("what")
    for k, v in pipeline_names().items():
        t.add_row(k, v)
    con.print(t)
    t = Table(title="rules")
    for c in ("rule", "function", "spelling", "pattern"):
        t.add_column(c)
    for r in all_rules():
        t.add_row(r.name, r.function_name, r.spelling, repr(r.pattern))
    con.print(t)
    return 0


def _rewrite(a: argparse.Namespace) -> int:
    from rewriter.accuracy.cli import budget_requested, run_budget
    from rewriter.api import RewriteResult, rewrite_onnx
    from rewriter.ir import check_output_path, load_model, save_atomic
    from rewriter.match.rules import load_rule_file
    from rewriter.verify import load_inputs, make_inputs, verify

    if a.list:
        return _list()
    if not a.model:
        raise UsageError("no input model; usage: rewrite MODEL.onnx -p PIPELINE -o OUT.onnx")
    if not a.dry_run and not a.output:
        raise UsageError("no output path; pass -o OUT.onnx, or --dry-run to only report sites")
    if a.output and not a.dry_run:
        check_output_path(a.model if os.path.exists(a.model) else None, a.output)
    if a.report:
        check_output_path(None, a.report)
    original = load_model(a.model)
    plan = budget = None
    if budget_requested(a):
        for path in a.patterns:
            load_rule_file(path)
        budget = run_budget(a, original, None if a.quiet else console())
        result = RewriteResult(budget.model, budget.sites, pipeline=a.pipeline)
    elif a.target and not a.dry_run:
        from rewriter.cost import plan_rewrite

        for path in a.patterns:
            load_rule_file(path)
        plan = plan_rewrite(
            original,
            a.pipeline,
            a.target,
            degrees=a.degrees,
            form=a.form,
            db=a.db,
            max_site_error=a.max_site_error,
            allow_standard=a.allow_standard,
            progress=not a.quiet,
        )
        result = RewriteResult(plan.model, plan.sites, pipeline=a.pipeline)
    else:
        result = rewrite_onnx(
            original,
            a.pipeline,
            degrees=a.degrees,
            form=a.form,
            dry_run=a.dry_run,
            patterns=a.patterns,
            rtol=a.rtol,
        )
    report: dict[str, Any] = {
        "model": os.path.basename(a.model),
        "pipeline": result.pipeline,
        "sites": [_site_row(s) for s in result.sites],
        **({"plan": plan.to_dict()} if plan is not None else {}),
        **({"budget": budget.to_dict()} if budget is not None else {}),
    }
    verification = None
    if not a.dry_run:
        feeds = load_inputs(a.inputs, original) if a.inputs else make_inputs(original)
        verification = verify(
            original, result.model, feeds, "--inputs" if a.inputs else "generated"
        )
        report["verification"] = verification.to_dict() | {"tolerance": a.tolerance}
    if not a.quiet:
        _print_sites(result.sites, a.dry_run)
        if plan is not None:
            from rewriter.cost import print_plan

            print_plan(plan, console())
        if verification is not None:
            console().print(
                f"verification ({verification.inputs} inputs): max-abs {verification.max_abs:.3g}, "
                f"rel-L2 {verification.rel_l2:.3g}, cosine {verification.cosine:.6f}; checker passed"
            )
    if a.verbose and not a.quiet:
        st = result.stats
        console().print(
            f"matching: {st.iterations} iteration(s); per rule: "
            + ", ".join(
                f"{k} {st.matches[k]} match(es) {st.seconds[k] * 1e3:.1f} ms"
                for k in sorted(st.seconds, key=lambda k: -st.seconds[k])[:12]
            )
        )
    if a.report:
        write_json(a.report, report)
    if verification is not None and verification.rel_l2 > a.tolerance and not a.force:
        raise RewriterErrorTolerance(verification.rel_l2, a.tolerance)
    if not a.dry_run:
        save_atomic(result.model, a.output)
        if not a.quiet:
            console().print(
                f"wrote {a.output}: {len(result.replaced)} of {len(result.sites)} sites replaced"
            )
    return 0


class RewriterErrorTolerance(RewriterError):
    def __init__(self, rel: float, tol: float) -> None:
        super().__init__(
            f"rewritten model's relative L2 error {rel:.3g} exceeds --tolerance {tol:g}; nothing written "
            "(use --degrees with higher degrees, a narrower pipeline, or --force)"
        )


def _site_row(s: Any) -> dict[str, Any]:
    r = s.rational or {}
    return {
        "name": s.name,
        "function": s.function,
        "params": s.params,
        "rule": s.rule,
        "replaced": s.replaced,
        "input_shape": s.input_shape,
        "dtype": s.dtype,
        "form": r.get("form"),
        "degrees": r.get("degrees"),
        "max_error": r.get("global_error", r.get("max_error")),
        "graph": s.graph,
    }


def _print_sites(sites: list[Any], dry_run: bool) -> None:
    from rich.table import Table

    t = Table(title=f"{len(sites)} site(s)" + (" (dry run)" if dry_run else ""))
    for c in ("site", "function", "spelling", "shape", "form (m,n)", "approx. error", "replaced"):
        t.add_column(c)
    for s in sites:
        r = s.rational or {}
        form = f"{r['form']} ({r['degrees'][0]},{r['degrees'][1]})" if r else "-"
        err = f"{r.get('global_error', r.get('max_error', 0)):.2e}" if r else "-"
        shape = (
            "x".join(str(d) if d is not None else "?" for d in s.input_shape)
            if s.input_shape
            else "?"
        )
        t.add_row(s.name, s.function, s.rule, shape, form, err, "yes" if s.replaced else "no")
    console().print(t)


def write_json(path: str, data: dict[str, Any]) -> None:
    """Write a JSON report atomically (sorted keys, usual file mode)."""
    from rewriter.ir import write_atomic

    write_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=float))


def explain_main(argv: Sequence[str]) -> int:
    """`rewrite explain MODEL --rule NAME`."""
    return _explain(_explain_parser().parse_args(list(argv)))


def _explain(a: argparse.Namespace) -> int:
    from rewriter.api import _opset_of
    from rewriter.ir import Graph, infer_value_info, load_model, subgraph_attrs
    from rewriter.match.pattern import Matcher
    from rewriter.match.rules import get_rule, load_rule_file

    for path in a.patterns:
        load_rule_file(path)
    r = get_rule(a.rule)
    m = load_model(a.model)
    vi = infer_value_info(m)
    con = console()
    con.print(f"rule {r.name}: {r.pattern!r}")
    count = 0

    def walk(g: Graph) -> None:
        nonlocal count
        matcher = Matcher(g, opset=_opset_of(m), trace=True)
        for i, n in enumerate(g.nodes):
            assert n is not None
            for attr, body in subgraph_attrs(n):
                walk(
                    Graph(
                        body,
                        parent=g,
                        path=f"{g.path}/{n.name or n.op_type}/{attr}".lstrip("/"),
                        value_info=vi,
                    )
                )
            if n.op_type not in r.roots:
                continue
            count += 1
            where = f"{g.path}:" if g.path else ""
            found = matcher.match(r.pattern, i)
            if found is not None:
                con.print(
                    f"  {where}{n.name or n.op_type + '#' + str(i)}: matches (x = {found.bindings.get('x')!r}, {len(found.nodes)} nodes)"
                )
            else:
                con.print(
                    f"  {where}{n.name or n.op_type + '#' + str(i)}: no match: {matcher.reason}"
                )

    walk(Graph(m.graph, value_info=vi))
    if count == 0:
        con.print(f"  no candidate root node (op types {sorted(r.roots)}) in the model")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
