"""The main command: ``rewrite MODEL.onnx -p PIPELINE -o OUT.onnx``.

    rewrite model.onnx -p pau_all -o out.onnx [--degrees 5,4] [--form auto] [--report r.json]
    rewrite model.onnx -p pau_all --dry-run
    rewrite model.onnx --target ort-cpu:threads=1 -o out.onnx      # plan on measured latencies
    rewrite --list

The input file is never modified; the output is written atomically after it passed
verification.
"""

from __future__ import annotations

import argparse
import math
import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rewriter import __version__
from rewriter.cli.common import (
    Parser,
    add_cluster_option,
    add_input_options,
    console,
    degrees_arg,
    model_inputs,
    nonnegative_arg,
    progress,
    speed_said,
    write_json,
)
from rewriter.errors import RewriterError, UsageError


def _main_parser() -> argparse.ArgumentParser:
    from rewriter.cli import subcommand_help

    p = Parser(
        prog="rewrite",
        description="Rewrite activation subgraphs of an ONNX model into rational functions (PAU).",
        epilog=subcommand_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"pau-rewriter {__version__}")
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
        "--html", help="with --target: write the plan as an offline HTML page here (per site)"
    )
    p.add_argument(
        "--tolerance",
        type=nonnegative_arg,
        default=None,
        help="largest relative L2 output error above the model's noise floor (default 1e-2; "
        "with an accuracy budget the budget is the contract instead); beyond it the worst "
        "sites get better rationals, then are kept, until it holds",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="write the output even when verification exceeds --tolerance",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="above --tolerance, or where no output could be checked, write nothing instead of "
        "backing off site by site",
    )
    p.add_argument(
        "--patterns", action="append", default=[], help="extra rule file (.py or .toml); repeatable"
    )
    p.add_argument(
        "--rtol",
        type=nonnegative_arg,
        default=1e-4,
        help="relative tolerance for pattern constants (default 1e-4)",
    )
    p.add_argument(
        "--target",
        help="choose per site by measured latency on this target, e.g. ort-cpu:threads=1, openvino-cpu (:static=1 compiles at the input shapes), torch-inductor",
    )
    p.add_argument(
        "--db",
        help="latency database and fit cache (SQLite) for --target (default in the user cache "
        "folder)",
    )
    p.add_argument(
        "--max-site-error",
        type=nonnegative_arg,
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
    from rewriter.cli.budget import add_budget_options

    add_budget_options(p)  # --calibration, --labels, --max-drop, --min-cosine, --max-rel-error
    add_input_options(p)  # --inputs, --input-shapes, --val-range
    add_cluster_option(p)  # --cluster HEAD: measurements on the cluster's device workers
    return p


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
    from rewriter.passes.identify import PARAMETRIC, SPELLINGS

    known = ", ".join([*SPELLINGS, *(f"{f} (any {p})" for f, (p, _) in PARAMETRIC.items())])
    print(
        "identified (no rule): a one-input elementwise region no rule spells that equals one of "
        f"{known} on a 4805-point grid is that function's site; `rewrite explain MODEL --rule "
        "identified` lists the regions tried"
    )
    return 0


def _rewrite(a: argparse.Namespace) -> int:
    from rewriter.api import RewriteResult, rewrite_onnx
    from rewriter.cli.budget import budget_requested, run_budget
    from rewriter.ir import check_output_path, load_model, save_atomic
    from rewriter.match.rules import load_rule_file
    from rewriter.plan import plan_sites

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
    if a.html:
        if not a.html.lower().endswith((".html", ".htm")):
            raise UsageError(f"{a.html}: --html writes an HTML page; pass --html NAME.html")
        check_output_path(None, a.html)
    original = load_model(a.model)
    plan = None
    if getattr(a, "recover", False) and not budget_requested(a):
        raise UsageError(
            "--recover needs an accuracy budget to recover into: pass --min-cosine, "
            "--max-rel-error or --max-drop (with --target and --calibration)"
        )
    # with a budget, the budget (verified on held-out calibration data) is the contract
    contract = budget_requested(a) and a.tolerance is None
    if a.tolerance is None:
        a.tolerance = 1e-2
    inputs = _inputs(a, original)
    if budget_requested(a) or (a.target and not a.dry_run):
        for path in a.patterns:
            load_rule_file(path)
        if budget_requested(a):
            plan = run_budget(a, original, None if a.quiet else console(), inputs)
        else:
            assert inputs is not None
            plan = plan_sites(
                original,
                a.target,
                pipeline=a.pipeline,
                degrees=a.degrees,
                form=a.form,
                db=a.db,
                max_site_error=a.max_site_error,
                allow_standard=a.allow_standard,
                progress=progress("plan", a.quiet),
                feeds=inputs.feeds,
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
            samples=inputs.fit_on(original) if inputs is not None else None,
        )
    if inputs is not None:  # the shapes sites have on these inputs, not symbolic ones
        from rewriter.calibrate import run_shapes

        run_shapes(result.model, result.sites, inputs.feeds)
    report: dict[str, Any] = {
        "model": os.path.basename(os.path.normpath(a.model)),
        "pipeline": result.pipeline,
        "sites": [_site_row(s) for s in result.sites],
        **({"plan": plan.to_dict()} if plan is not None else {}),
        **({"inputs": inputs.to_dict()} if inputs is not None else {}),
    }
    verification = None
    if inputs is not None and not a.dry_run:
        verification = inputs.verify(original, result.model, None if contract else a.tolerance)
        report["verification"] = verification.to_dict() | (
            {"contract": "budget"} if contract else {"tolerance": a.tolerance}
        )
    if not a.quiet:
        _print_sites(result.sites, a.dry_run)
        for line in _nan_notes(original):
            print(f"note: {line}")
        if not result.sites:
            print(_no_sites_hint(original, a.pipeline))
        else:
            if fused := _fused_activations(original):
                print(
                    f"not rewritten: {_counted(fused)}, ONNX Runtime fused ops (com.microsoft) "
                    "that an optimizer wrote; rewrite the model as exported to reach them"
                )
            if built := _built_activations(original):
                print(
                    f"not rewritten: {_counted(built)}, activations inside ONNX Runtime ops "
                    "(com.microsoft) as onnxruntime-genai's model builder writes them, one kernel "
                    "each"
                )
            if integer := _contrib_ops(original, _ORT_INTEGER_ACTS):
                print(
                    f"not rewritten: {_counted(integer)}, integer activations of a QOperator "
                    "model (one int8 kernel each, com.microsoft); quantize to the QDQ format for "
                    "them to be matched"
                )
        if plan is not None and plan.budget is None:
            from rewriter.report import print_plan

            print_plan(plan, console())
            hint = _static_hint(original, plan)
            if hint:
                print(hint)
        if inputs is not None and (inputs.generated or a.verbose):
            print(inputs.line())  # one line, never wrapped
            if a.verbose:
                print("\n".join(f"  {n}" for n in inputs.notes))
        if verification is not None:
            print(verification.summary())  # one line, never wrapped
            if contract:
                print(
                    "the accuracy budget is the contract (verified on held-out calibration data "
                    "above); --tolerance is not applied unless passed"
                )
        if plan is None and not a.dry_run and result.replaced:
            print(
                "speed not measured: pass --target ort-cpu:threads=1 (or openvino-cpu, ...) to keep "
                "only replacements that are faster there; on ONNX Runtime CPU, rationals usually "
                "make a model slower"
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
    backoff = None
    if (
        verification is not None
        and inputs is not None
        and verification.exceeds(a.tolerance)
        and not (a.force or a.strict or contract)
    ):
        result, verification, backoff = _back_off(a, original, result, plan, inputs, verification)
        report["sites"] = [_site_row(s) for s in result.sites]
        report["verification"] = verification.to_dict() | {"tolerance": a.tolerance}
        report["backoff"] = backoff.to_dict()
    from rewriter.cli.source import report_source  # .tflite/.keras/SavedModel/.pt2: vs its runtime

    wrong = report_source(a, original, None if a.dry_run else result.model, inputs, report)
    if a.report:
        write_json(a.report, report)
    if a.html and plan is not None:
        from rewriter.report import write_plan_page

        write_plan_page(plan, a.html)
    if wrong and not (a.force or a.dry_run):
        raise RewriterError(wrong)
    if contract and plan is not None and not a.force:
        b = plan.budget
        if (
            b is not None
            and b.check is not None
            and not b.budget.feasible(b.check, b.base_accuracy)
        ):
            raise RewriterError(
                f"the rewritten model breaks the accuracy budget on {b.heldout}; nothing "
                "written (loosen the budget, add --recover, or --force)"
            )
    elif verification is not None and verification.exceeds(a.tolerance) and not a.force:
        raise RewriterErrorTolerance(verification, a.tolerance)
    # replaced sites, and no output of the model compared (each one constant on the inputs,
    # or not evidence): what is written was checked against nothing, on these inputs
    unchecked = (
        verification.inputs
        if verification is not None
        and result.replaced
        and verification.worst is None
        and not verification.picked()
        else None
    )
    if unchecked is not None and a.strict and not a.force:
        raise RewriterError(
            f"no output of the rewritten model could be checked on {unchecked} inputs (see the "
            "verification line); nothing written (--strict): pass --inputs with data like yours"
        )
    if not a.dry_run:
        save_atomic(result.model, a.output)
        if not a.quiet:
            print(  # one line, never wrapped
                f"wrote {a.output}: {len(result.replaced)} of {len(result.sites)} sites replaced"
                + ("; NOT VERIFIED: no output could be checked" if unchecked is not None else "")
                + f"; {speed_said(result, plan, backoff)}"
            )
    return 0


def _inputs(a: argparse.Namespace, original: Any) -> Any:
    """The feeds ``rewrite`` runs the model on; a dry run without data does without them when
    none can be generated (its site shapes then stay the inferred ones)."""
    from rewriter.inputs import InputError

    try:
        return model_inputs(a, original)
    except InputError:
        if a.dry_run:
            return None
        raise


def _back_off(
    a: argparse.Namespace, original: Any, result: Any, plan: Any, inputs: Any, first: Any
) -> tuple[Any, Any, Any]:
    """Bring the rewrite inside --tolerance site by site (``rewriter.plan.backoff``); prints
    what it did, and re-verifies the model it ends with."""

    from rewriter.candidates import LEARNED, table_candidate
    from rewriter.emit import RewriteResult
    from rewriter.plan.backoff import back_off_draws, no_faster_rational, time_written

    no_upgrade: set[str] = set()
    if plan is not None:
        assignment = plan.assignment()
        no_upgrade = no_faster_rational(plan)
    else:
        table = table_candidate(a.degrees, a.form)
        assignment = {
            s.name: LEARNED if s.function == "learned" else table
            for s in result.sites
            if s.replaced
        }
    bo, verification = back_off_draws(
        original,
        assignment,
        inputs.draw(original),
        first,
        a.tolerance,
        lambda model: inputs.verify(original, model, a.tolerance),
        "draw" if inputs.generated else "batch",
        pipeline=a.pipeline,
        source=inputs.source,
        emit_options={
            "degrees": a.degrees,
            "form": a.form,
            "rtol": a.rtol,
            "samples": inputs.fit_on(original),
        },
        log=progress("back-off", a.quiet),
        no_upgrade=no_upgrade,
    )
    new = RewriteResult(bo.result.model, bo.result.sites, pipeline=a.pipeline)
    ran = {s.name: s.input_shape for s in result.sites}  # as run (``run_shapes``), not symbolic
    for s in new.sites:
        s.input_shape = ran.get(s.name, s.input_shape)
    whole = None
    if plan is not None and plan.target and new.replaced:  # what is written is timed again
        whole = bo.whole = time_written(original, new.model, plan.target, inputs.feeds)
    if not a.quiet:
        up = ", ".join(f"{k} -> {v}" for k, v in bo.upgraded.items()) or "none"
        kept = ", ".join(bo.kept) or "none"
        print(
            f"above --tolerance {a.tolerance:g}: largest contributor {bo.worst_site} (output "
            f"{bo.worst_output!r}); better rationals: {up}; kept as in the original: {kept}"
            + ("" if verification.exceeds(a.tolerance) else "; now inside it")
        )
        print(verification.summary())
        if whole is not None:
            print(
                f"speed of the written model on {plan.target}, measured after the back-off: "
                f"x{whole.speedup:.3f} (95% CI {whole.speedup_lo:.3f}-{whole.speedup_hi:.3f})"
                + ("" if whole.faster else "; NOT faster than the original beyond noise")
            )
        elif plan is not None and plan.target:
            print(f"speed: every site kept, the written model is the original's ({plan.target})")
    return new, verification, bo


class RewriterErrorTolerance(RewriterError):
    def __init__(self, verification: Any, tol: float) -> None:
        w = verification.worst
        where = f" (worst output {w.name!r})" if w is not None else ""
        super().__init__(
            f"rewritten model's relative L2 error {verification.rel_l2:.3g}{where} exceeds "
            f"--tolerance {tol:g} above its noise floor; nothing written (without --strict the "
            "worst sites are backed off; or use higher --degrees, a narrower pipeline, or --force)"
        )


def _site_error(s: Any) -> float:
    """A site's approximation error: on [-40, 40] for a rule's rational, on its fit range for a
    ``pau_learned`` region (fitted on the inputs it sees)."""
    r = s.rational or {}
    if s.function == "learned":
        return float(r.get("max_error", math.nan))
    return float(r.get("global_error", r.get("max_error", 0)))


def _site_row(s: Any) -> dict[str, Any]:
    r = s.rational or {}
    return {
        "name": s.name,
        "function": s.function,
        "params": s.params,
        **({"scale": s.scale} if s.scale != 1.0 else {}),
        "rule": s.rule,
        "replaced": s.replaced,
        "input_shape": s.input_shape,
        "dtype": s.dtype,
        "candidate": r.get("candidate"),
        "form": r.get("form"),
        "degrees": r.get("degrees"),
        "max_error": _site_error(s),
        "graph": s.graph,
    }


def _static_hint(model: Any, plan: Any) -> str | None:
    """On openvino-cpu, a model with dynamic input dims compiles without fusing a rational's
    elementwise chain; say so when sites were kept, and how to plan for static shapes (and,
    with static=1, that the speed needs static shapes at deployment too)."""
    if not (plan.target or "").startswith("openvino-cpu"):
        return None
    if ":static=1" in plan.target:
        if not plan.replaced:
            return None
        return (
            "openvino-cpu:static=1: measured with the model compiled at the shapes of its inputs (the "
            "inputs line); "
            "that speed needs the same at deployment (model.reshape to static shapes before "
            "compile_model), compiled with dynamic shapes OpenVINO does not fuse the rationals"
        )
    if not plan.backed_off and len(plan.replaced) == len(plan.decisions):
        return None  # nothing kept that static shapes could change
    from rewriter.ir import dynamic_inputs

    dynamic = dynamic_inputs(model)
    if not dynamic:
        return None
    return (
        f"openvino-cpu compiled the model as it is, with dynamic input dims ({', '.join(dynamic)}),"
        " where OpenVINO does not fuse a rational's elementwise chain (its sites were timed that "
        "way too); if you reshape to static shapes before compiling (model.reshape), plan with "
        "--target openvino-cpu:static=1"
    )


# com.microsoft contrib ops that are an activation fused into one kernel with more than a bias
# Add (Gelu, FastGelu, QuickGelu are sites, a BiasGelu's bias is split off on load)
_ORT_FUSED_ACTS = {"BiasSplitGelu"}


# activations ONNX Runtime's Conv fusions hold in their ``activation`` attribute (FusedConv at
# ORT_ENABLE_EXTENDED, the NCHWc Conv at ORT_ENABLE_ALL) that pau_all would have rewritten
_ORT_ATTR_ACTS = {"Sigmoid", "Tanh"}


def _counted(found: Counter[str]) -> str:
    """``found`` as "2 swiglu in MoE, 1 silu in CausalConvWithState", in name order."""
    return ", ".join(f"{k} {what}" for what, k in sorted(found.items()))


def _fused_activations(model: Any) -> Counter[str]:
    """ONNX Runtime's fused activation ops (``_ORT_FUSED_ACTS``), and the smooth activations
    its Conv fusions hold in an attribute ("Sigmoid in FusedConv": a CNN saved from a session
    at ORT_ENABLE_EXTENDED had no site, and the line did not say where they went), counted."""
    from rewriter.ir import all_nodes

    found = _contrib_ops(model, _ORT_FUSED_ACTS)
    for n in all_nodes(model.graph):
        if n.domain.startswith("com.microsoft"):
            act = next((a.s.decode() for a in n.attribute if a.name == "activation"), None)
            if act in _ORT_ATTR_ACTS:
                found[f"{act} in {n.op_type}"] += 1
    return found


# com.microsoft integer ops that compute an activation (QOperator quantization)
_ORT_INTEGER_ACTS = {"QLinearSigmoid", "QLinearLeakyRelu"}

# com.microsoft ops onnxruntime-genai's model builder writes with an activation inside: the op
# -> (the attribute naming it, its default); LinearAttentionGate's are always softplus and
# sigmoid. No ONNX file spells them apart: the builder writes these from the checkpoint.
_BUILT_ACTS = {
    "MoE": ("activation_type", "relu"),
    "QMoE": ("activation_type", "relu"),
    "CausalConvWithState": ("activation", "none"),
    "GatedRMSNorm": ("activation", "silu"),
    "LinearAttentionGate": ("", "softplus and sigmoid"),
}


def _built_activations(model: Any) -> Counter[str]:
    """The activations inside the com.microsoft ops of ``_BUILT_ACTS`` (gpt-oss's SwiGLU in
    MoE, LFM2's and Qwen3.5's SiLU in CausalConvWithState, ...), counted as "silu in
    CausalConvWithState"."""
    from rewriter.ir import all_nodes

    found: Counter[str] = Counter()
    for n in all_nodes(model.graph):
        if n.domain != "com.microsoft" or n.op_type not in _BUILT_ACTS:
            continue
        attr, default = _BUILT_ACTS[n.op_type]
        act = next((a.s.decode() for a in n.attribute if a.name == attr), default)
        if act not in ("none", "identity"):
            found[f"{act} in {n.op_type}"] += 1
    return found


def _contrib_ops(model: Any, ops: set[str]) -> Counter[str]:
    """The com.microsoft nodes of ``model`` among ``ops`` (ONNX Runtime's fused activations,
    a QOperator model's integer ones), counted by op type."""
    from rewriter.ir import all_nodes

    return Counter(
        n.op_type
        for n in all_nodes(model.graph)
        if n.domain == "com.microsoft" and n.op_type in ops
    )


def _nan_notes(model: Any) -> list[str]:
    """Regions that compute a catalogue function except where they are NaN
    (``rewriter.passes.identify.nan_notes``): the input model gives NaN there."""
    from rewriter.ir import default_opset
    from rewriter.match.rules import all_rules
    from rewriter.passes.identify import nan_notes

    return nan_notes(model, all_rules(), default_opset(model))


def _no_sites_hint(model: Any, pipeline: str) -> str:
    """Why a model has no site, where the graph says: a QOperator model computes its
    activations in integer ops; otherwise how to see the pipelines and a rule's near misses."""
    from rewriter.ir import all_nodes

    ops = {n.op_type for n in all_nodes(model.graph)}
    quant = sorted(o for o in ops if o.startswith("QLinear") or o == "QGemm")
    if quant:
        return (
            f"no site: this model computes in integer ops ({', '.join(quant[:4])}), activations "
            "included (QOperator format); rewrite its float model and quantize it after, or "
            "quantize to the QDQ format, whose activations are matched"
        )
    if built := _built_activations(model):
        return (
            f"no site: this model's activations are inside ONNX Runtime ops ({_counted(built)}, "
            "domain com.microsoft) as onnxruntime-genai's model builder writes them, one kernel "
            "each; export the model from its framework (torch.onnx.export) for them to be sites"
        )
    fused = sorted(_fused_activations(model))
    if fused:
        return (
            f"no site: this model's activations are ONNX Runtime fused ops ({', '.join(fused)}, "
            "domain com.microsoft, written by onnxruntime.transformers.optimizer, Optimum's "
            "ORTOptimizer or a session's optimized_model_filepath), already one kernel each on "
            "ONNX Runtime; rewrite the model as exported, before that optimizer"
        )
    if pipeline == "pau_all":
        other = _piecewise_sites(model)
        # a PReLU with a slope per channel (MTCNN's, ...) is no site of any rule
        channel = sum(n.op_type == "PRelu" for n in all_nodes(model.graph)) - other.get("prelu", 0)
        found = [f"{n} {f}" for f, n in other.items()]
        if channel:
            found.append(f"{channel} PRelu with a slope per channel")
        if found:
            line = (
                f"no smooth activation (what pau_all rewrites): this model's are piecewise-linear "
                f"({', '.join(found)}), exact and cheap as they are"
            )
            if other:
                line += (
                    f"; -p pau_{next(iter(other))} replaces them anyway (a start for training "
                    "rational activations), with --target only where faster"
                )
            return line
    return (
        f"no site of pipeline {pipeline!r}: `rewrite --list` shows the pipelines and rules, "
        "`rewrite explain MODEL --rule RULE` why a rule does not match, `--rule identified` "
        "which regions were tried by their values and how near they came"
    )


def _piecewise_sites(model: Any) -> dict[str, int]:
    """How many sites of each piecewise-linear function (ReLU, HardSwish, a one-slope PReLU, ...:
    outside pau_all) the model has, most first."""
    from collections import Counter

    from rewriter.api import find_sites
    from rewriter.functions import PIECEWISE

    functions = (*PIECEWISE, "prelu")  # a PReLU of one slope is a site of pau_prelu
    sites = find_sites(model, ",".join(f"pau_{f}" for f in functions))  # one matching pass
    return dict(Counter(s.function for s in sites).most_common())


def _print_sites(sites: list[Any], dry_run: bool) -> None:
    from rich.table import Table

    t = Table(title=f"{len(sites)} site(s)" + (" (dry run)" if dry_run else ""))
    for c in ("site", "function", "spelling", "shape", "form (m,n)", "approx. error", "replaced"):
        t.add_column(c)
    for s in sites:
        r = s.rational or {}
        form = (
            f"{r['form']} ({r['degrees'][0]},{r['degrees'][1]})"
            if r.get("degrees")
            else (r.get("describe") or "-")
        )
        err = f"{_site_error(s):.2e}" if r else "-"
        shape = (
            "x".join(str(d) if d is not None else "?" for d in s.input_shape)
            if s.input_shape
            else "?"
        )
        t.add_row(s.name, s.label, s.rule, shape, form, err, "yes" if s.replaced else "no")
    console().print(t)


def main(argv: Sequence[str]) -> int:
    """``rewrite MODEL ...``: returns the exit status; bad input raises ``RewriterError``."""
    return _rewrite(_main_parser().parse_args(list(argv)))
