"""Find activation sites in a PyTorch module and replace them with PAUs or standard activations.

Flow: deep-copy the module (the caller's module is never modified, and the result shares no
parameters with it, so the original can serve as the distillation teacher) -> trace
(:mod:`._trace`: symbolic_trace, else torch.export) -> propagate example-input shapes ->
find the sites with the ONNX path's rules and matcher (:mod:`._adapter` lowers the graph for it)
-> replace the selected ones with ``call_module`` nodes -> recompile. A module no tracer takes
as a whole is rewritten by parts (:func:`_apply_by_parts`): the same flow on each of its largest
submodules that trace.

Site naming (shared with the ONNX path so names agree after export): ``f"{function}_{i}"``,
``i`` counting the sites of that function in graph (execution) order from 0, over *all* sites
found, replaced or not, so a name does not depend on the pipeline. The replacing submodule is
``pau_<site name>`` (``std_<site name>`` for standard replacements).

A formula is one site: ``x * torch.sigmoid(x)`` is ``silu_0``, and its inner sigmoid is not a
separate site even when only ``pau_sigmoid`` is selected. Every rule applies: the library's and
those registered with ``@rule``, ``register_rule``, rule files or plugins.

A site may also be a part of one node: the sigmoid of a GLU (``nn.GLU``, ``F.glu``,
``aten.glu``: ``a * sigmoid(b)``, ``a, b = x.chunk(2, dim)``), as the ONNX path finds it in an
exporter's Split + Sigmoid + Mul. Where that site is replaced, the glu node is written as
``torch.chunk`` + the replacement + ``operator.mul`` (:func:`._lower.decompose`); a GLU whose
sigmoid is kept stays one glu node.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import fx, nn

from rewriter.errors import UsageError
from rewriter.frontends.fx._adapter import FxMatch, match_graph
from rewriter.frontends.fx._lower import FX_RULES, decompose, spelling
from rewriter.frontends.fx._trace import (
    FxFallbackWarning,
    FxTraceError,
    Traced,
    input_shapes,
    runs_on,
    trace,
)
from rewriter.match.rules import Rule, load_rule_file

__all__ = [
    "FxSite",
    "find_sites",
    "rewrite_module",
    "replace_with_standard",
    "parse_pipeline",
    "STANDARD_REPLACEMENTS",
]


@dataclass
class FxSite:
    """One activation site in a traced module.

    Attributes:
        name: ``f"{function}_{i}"``, e.g. ``gelu_0`` (see the module docstring).
        function: canonical activation name (``rewriter.functions``).
        params: its parameters, read from the module or the call (``{"alpha": 0.2}``).
        kind: how it was written: ``module``, ``function``, ``method``, ``aten`` or ``formula``.
        target: the original, in words (``module act1: GELU(approximate='none')``,
            ``function torch.nn.functional.silu``, ``formula silu: mul(x, sigmoid(x))``,
            ``sigmoid inside module glu: GLU(dim=1)``).
        node: name of the node whose output the site computes (in the traced graph; for the
            sigmoid of a GLU, the glu node).
        input_shape: shape of the activation's input from ``example_inputs``, else ``None``.
        dtype: the input's dtype name (``float32``) when known.
        replaced: whether the rewrite replaced it.
        module: name of the submodule that now computes it, when replaced.
        tracer: ``symbolic_trace``, ``torch.export`` or ``graph_module``.
        reason: why it was not replaced (not in the pipeline, ...), empty when replaced.
        rule: the name of the rule that matched (``gelu_native``, ``silu``, a user's rule).
    """

    name: str
    function: str
    params: dict[str, float]
    kind: str
    target: str
    node: str
    input_shape: tuple[int, ...] | None = None
    dtype: str | None = None
    replaced: bool = False
    module: str | None = None
    tracer: str = "symbolic_trace"
    reason: str = ""
    rule: str = ""


@dataclass
class _Found:
    site: FxSite
    x: fx.Node
    root: fx.Node
    nodes: set[fx.Node] = field(default_factory=set)
    inplace: bool = False
    inside: FxMatch | None = None  # a site inside one node (a GLU's sigmoid): its match


def parse_pipeline(pipeline: str) -> set[str]:
    """Function names a pipeline replaces: ``pau_all`` (the smooth ones), ``pau_<name>``, lists.

    The same parser as the ONNX path (``rewriter.passes.parse_pipeline``); graph passes and
    ``pau_learned`` are ONNX-only and rejected here.

    Example:
        >>> sorted(parse_pipeline("pau_gelu, pau_silu"))
        ['gelu', 'silu']

    Raises:
        UsageError (a ValueError): for an unknown or ONNX-only pipeline name.
    """
    from rewriter.passes import parse_pipeline as parse

    p = parse(pipeline)
    if p.before or p.after or p.learned:
        raise UsageError(
            f"pipeline {pipeline!r}: graph passes and pau_learned apply to ONNX models only"
        )
    if not p.functions:
        raise UsageError(f"empty pipeline {pipeline!r}")
    return set(p.functions)


def _describe(node: fx.Node, gm: nn.Module) -> str:
    if node.op == "call_module":
        return f"module {node.target}: {gm.get_submodule(str(node.target))!r}"
    if node.op == "call_method":
        return f"method Tensor.{node.target}"
    t = node.target
    qual = f"{getattr(t, '__module__', None) or ''}.{getattr(t, '__name__', str(t))}".lstrip(".")
    if isinstance(t, torch._ops.OpOverload):
        qual = str(t)
    return f"function {qual}"


def node_position(graph: fx.Graph) -> dict[fx.Node, int]:
    """Each node's index in the graph's (topological, execution) order."""
    return {n: i for i, n in enumerate(graph.nodes)}


def _typed_value(v: float) -> float:
    """The decimal a float32 parameter was written as: ONNX attributes and the view's scalars are
    float32, so ``nn.ELU(alpha=0.3)`` reads back as 0.30000001192...; its shortest float32
    spelling is 0.3 again."""
    return float(str(np.float32(v))) if np.isfinite(v) else v


def _rules(rules: Sequence[Rule] | None, patterns: Sequence[str] | None) -> list[Rule] | None:
    for path in patterns or []:
        load_rule_file(str(path))
    return None if rules is None else [*FX_RULES, *rules]


def _find(
    traced: Traced, example_inputs: Sequence[Any] | None, rules: list[Rule] | None = None
) -> list[_Found]:
    gm = traced.gm
    shapes = input_shapes(traced, example_inputs)
    found: list[_Found] = []
    for m in match_graph(gm, shapes, rules):
        s = m.site
        if m.part is not None:
            kind, target = spelling(m.part), f"{s.function} inside {_describe(m.part, gm)}"
        elif len(m.nodes) == 1:
            kind, target = spelling(m.root), _describe(m.root, gm)
        else:
            kind, target = "formula", f"formula {m.rule.name}: {m.rule.pattern!r}"
        params = {k: _typed_value(v) for k, v in s.params.items()}
        site = FxSite(s.name, s.function, params, kind, target, m.root.name, rule=s.rule)
        site.tracer = traced.tracer
        shape = m.input_shape if m.part is not None else shapes.get(m.x)
        if shape is not None:
            site.input_shape, site.dtype = shape
        found.append(
            _Found(site, m.x, m.root, m.nodes, m.inplace, m if m.part is not None else None)
        )
    return found


def _device(module: nn.Module) -> torch.device:
    for t in list(module.parameters()) + list(module.buffers()):
        return t.device
    return torch.device("cpu")


def _free_name(gm: nn.Module, name: str) -> str:
    candidate, k = name, 1
    while hasattr(gm, candidate):
        candidate, k = f"{name}_{k}", k + 1
    return candidate


def _replace(gm: fx.GraphModule, f: _Found, x: fx.Node, name: str, module: nn.Module) -> fx.Node:
    graph = gm.graph
    gm.add_submodule(name, module)
    pos = node_position(graph)
    with graph.inserting_after(f.root):
        new = graph.call_module(name, (x,))
    new.meta = {k: v for k, v in f.root.meta.items() if k in ("val", "tensor_meta")}
    f.root.replace_all_uses_with(new)
    if f.inplace:  # later readers of x saw the overwritten value: give them the new one
        for user in list(x.users):
            if user is not new and user not in f.nodes and pos.get(user, -1) > pos[f.root]:
                user.replace_input_with(x, new)
    for node in sorted(f.nodes, key=lambda n: -pos[n]):
        if not node.users:
            graph.erase_node(node)
    return new


def _decompose(
    gm: fx.GraphModule,
    f: _Found,
    parts: dict[fx.Node, dict[str, fx.Node]],
    renamed: dict[fx.Node, fx.Node],
) -> None:
    """Write the node a part site lies in as fx nodes (once per node) and point ``f`` at those
    it covers, so it is replaced as a site of whole nodes; later sites reading the node read
    the fx node that now computes its output."""
    assert f.inside is not None and f.inside.part is not None
    node, site = f.inside.part, f.inside.site
    if node not in parts:
        parts[node] = decompose(node, gm)
        renamed[node] = parts[node][node.name]
    values = parts[node]
    f.x, f.root, f.nodes = values[site.input], values[site.output], {values[n] for n in site.nodes}


def _apply(
    module: nn.Module,
    select: Callable[[FxSite], str | None],
    make: Callable[[FxSite], nn.Module],
    prefix: str,
    example_inputs: Sequence[Any] | None,
    rules: list[Rule] | None = None,
    dynamic_shapes: Any = None,
) -> tuple[nn.Module, list[FxSite]]:
    """Trace a copy of ``module`` and replace the sites ``select`` accepts (returns None); a
    module no tracer takes as a whole is rewritten by parts (:func:`_apply_by_parts`).
    ``dynamic_shapes``: torch.export's, for the fallback (``_trace.trace``)."""
    if isinstance(module, torch.jit.ScriptModule):
        # neither tracer takes one, and by parts would find only more of them
        raise UsageError(
            f"a TorchScript module ({type(module).__name__}) has no Python forward to trace: "
            "rewrite its saved archive instead (module.save('model.pt'), then "
            "rewriter.rewrite('model.pt') or `rewrite model.pt`), which converts it to ONNX"
        )
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    known = _BY_PARTS.get(module)
    if known is not None and example_inputs is not None:  # plan_module's trials: tried already
        err, untraced = known
        return _apply_by_parts(
            module, select, make, prefix, tuple(example_inputs), rules, err, untraced
        )
    try:
        traced = trace(copy.deepcopy(module), example_inputs, dynamic_shapes)
    except FxTraceError as err:
        if example_inputs is None or err.fixable:
            raise
        return _apply_by_parts(module, select, make, prefix, tuple(example_inputs), rules, err)
    if traced.tracer == "graph_module":
        traced.gm = copy.deepcopy(traced.gm)
    return _rewrite(traced, select, make, prefix, example_inputs, rules)


def _rewrite(
    traced: Traced,
    select: Callable[[FxSite], str | None],
    make: Callable[[FxSite], nn.Module],
    prefix: str,
    example_inputs: Sequence[Any] | None,
    rules: list[Rule] | None,
) -> tuple[fx.GraphModule, list[FxSite]]:
    """Replace, in the traced graph itself, the sites ``select`` accepts."""
    gm = traced.gm
    found = _find(traced, example_inputs, rules)
    device = _device(gm)
    # replaced root (or decomposed node) -> the node now computing it (a later site's x)
    renamed: dict[fx.Node, fx.Node] = {}
    parts: dict[fx.Node, dict[str, fx.Node]] = {}  # decomposed node -> its fx nodes by ONNX name
    for f in found:
        refusal = select(f.site)
        if refusal is not None:
            f.site.reason = refusal
            continue
        if f.inside is not None:
            _decompose(gm, f, parts, renamed)
        name = _free_name(gm, f"{prefix}_{f.site.name}")
        x = renamed.get(f.x, f.x)
        renamed[f.root] = _replace(gm, f, x, name, make(f.site).to(device))
        f.site.replaced, f.site.module = True, name
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    meta = getattr(gm, "meta", None)
    if isinstance(meta, dict):
        meta["pau_rewriter"] = {"tracer": traced.tracer, "fallback_reason": traced.fallback_reason}
    return gm, [f.site for f in found]


# A module rewritten by parts -> why it does not trace as a whole, and the paths of its parts that
# did not trace either: rewriting it again (each trial of plan_module) goes by parts at once,
# without the failed exports (a detector's whole export takes 10-30 s, and its pre- and
# post-processing parts' more).
_BY_PARTS: weakref.WeakKeyDictionary[nn.Module, tuple[FxTraceError, frozenset[str]]] = (
    weakref.WeakKeyDictionary()
)


def _first_calls(root: nn.Module, args: tuple[Any, ...]) -> dict[int, tuple[Any, dict[str, Any]]]:
    """The inputs of the first call of every submodule of ``root`` (by ``id``) in one run of
    ``root`` on ``args``; a submodule the run does not call is absent."""
    calls: dict[int, tuple[Any, dict[str, Any]]] = {}

    def hook(mod: nn.Module, a: Any, kw: dict[str, Any]) -> None:
        calls.setdefault(id(mod), (a, kw))

    handles = [
        m.register_forward_pre_hook(hook, with_kwargs=True) for m in root.modules() if m is not root
    ]
    try:
        with torch.no_grad():
            root(*args)
    finally:
        for h in handles:
            h.remove()
    return calls


def _apply_by_parts(
    module: nn.Module,
    select: Callable[[FxSite], str | None],
    make: Callable[[FxSite], nn.Module],
    prefix: str,
    args: tuple[Any, ...],
    rules: list[Rule] | None,
    err: FxTraceError,
    known: frozenset[str] = frozenset(),
) -> tuple[nn.Module, list[FxSite]]:
    """Rewrite the largest submodules that trace, when the module does not as a whole.

    A detector's forward resizes images, draws anchors and runs NMS on data-dependent sizes,
    which neither tracer takes, while its backbone and heads (where the activations are) trace.
    So: one run of a copy on ``args`` records each submodule's inputs; each child is traced on
    its own inputs (a child never called, a ModuleList its parent loops over, is searched
    inside) and put in place of the original child (as a module traced whole is a
    GraphModule whatever is replaced), and a child that does not trace is searched the same way.
    A traced child after which the copy no longer runs on ``args`` (its parent reads an
    attribute the graph lacks) is put back and its children searched instead. Which parts are
    traced does not depend on what is selected, so site names are the same for every pipeline,
    and rewriting the result again (plan_module's trials) finds its parts traced already.
    Activations the untraceable forwards compute as functions (``F.silu(x)`` in a ``forward``
    that does not trace) are not seen.

    Returns the copy (an ``nn.Module`` of the original's class, its traced parts GraphModules)
    and the sites, named and located by path: ``backbone.body.silu_0``, replaced by the
    submodule ``backbone.body.pau_silu_0``.

    ``known``: paths of parts an earlier call found not to trace, not tried again.

    Raises:
        FxTraceError: ``err``, when the module does not run on ``args`` or no part traces.
    """
    root = copy.deepcopy(module).eval()
    try:
        calls = _first_calls(root, args)
    except Exception:  # noqa: BLE001 - the module does not run on its example: the trace error
        raise err from None
    sites: list[FxSite] = []
    traced: list[str] = []
    untraced: list[str] = []

    def visit(parent: nn.Module, path: str) -> None:
        for name, child in list(parent.named_children()):
            full = f"{path}.{name}" if path else name
            call = calls.get(id(child))
            if call is None:  # not called itself: nothing to trace it with; a container
                visit(child, full)  # (ModuleList, ModuleDict) whose blocks its parent runs
                continue
            a, kw = call
            part = None
            if not kw and full not in known:  # keywords: no positional example to trace with
                with contextlib.suppress(FxTraceError):
                    part = trace(child, tuple(a))
            if part is None:
                untraced.append(full)
                visit(child, full)
                continue
            setattr(parent, name, part.gm)  # whatever is selected: names do not depend on it
            if not runs_on(root, args):
                setattr(parent, name, child)
                untraced.append(full)
                visit(child, full)
                continue
            traced.append(full)
            _, found = _rewrite(part, select, make, prefix, tuple(a), rules)
            for s in found:
                s.name = f"{full}.{s.name}"
                s.module = f"{full}.{s.module}" if s.module else None
            sites.extend(found)

    visit(root, "")
    if not traced:  # no part traces either: the error says why the whole did not
        raise err
    _BY_PARTS[root] = (err, frozenset(untraced))
    name = type(module).__name__
    reasons = "; ".join(f"{t}: {r}" for t, r in err.attempts)
    warnings.warn(
        f"{name} does not trace as a whole ({reasons}); rewrote it by parts: "
        f"{', '.join(traced)} traced" + (f", {', '.join(untraced)} not" if untraced else ""),
        FxFallbackWarning,
        stacklevel=4,
    )
    return root, sites


def find_sites(
    module: nn.Module,
    example_inputs: Sequence[Any] | None = None,
    *,
    rules: Sequence[Rule] | None = None,
    patterns: Sequence[str] | None = None,
    dynamic_shapes: Any = None,
) -> list[FxSite]:
    """The activation sites of ``module`` without changing anything (a dry run).

    ``rules``, ``patterns`` and ``dynamic_shapes`` are as in :func:`rewrite_module`.

    Example:
        >>> m = nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.Linear(4, 4), nn.GELU())
        >>> [s.name for s in find_sites(m)]
        ['gelu_0', 'gelu_1']
    """
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    chosen = _rules(rules, patterns)
    _, sites = _apply(module, lambda s: "dry run", lambda s: nn.Identity(), "pau", example_inputs, chosen, dynamic_shapes)  # fmt: skip
    for s in sites:
        s.reason = ""
    return sites


def rewrite_module(
    module: nn.Module,
    pipeline: str = "pau_all",
    example_inputs: Sequence[Any] | None = None,
    degrees: tuple[int, int] = (5, 4),
    form: str = "auto",
    *,
    rules: Sequence[Rule] | None = None,
    patterns: Sequence[str] | None = None,
    dynamic_shapes: Any = None,
) -> tuple[nn.Module, list[FxSite]]:
    """Replace the activations of ``module`` selected by ``pipeline`` with PAUs.

    Each selected site becomes ``rewriter.rational.PAU(table_rational(function, degrees, form,
    **params))``, a submodule named ``pau_<site>`` with learnable coefficients (see
    :func:`rewriter.finetune`). ``module`` is not modified; the result shares no
    parameters with it.

    Args:
        module: any ``nn.Module`` (a ``GraphModule`` is used as is, after a copy).
        pipeline: ``"pau_all"`` (the smooth functions: gelu, silu, mish, tanh, ...),
            ``"pau_<function>"`` (``pau_gelu``, ``pau_relu``, ``pau_gelu_tanh``) or a
            comma-separated list of them.
        example_inputs: a tuple of inputs; gives site shapes, and lets torch.export be tried
            when symbolic tracing fails (the export keeps the batch dim dynamic where the
            module allows, and the other dims of inputs that are not images: an image's height
            and width are then the example's, unless ``dynamic_shapes`` says otherwise).
        degrees: numerator and denominator degrees of the rationals.
        form: rational form passed to ``table_rational``.
        rules: the rules to match, as in ``rewriter.rewrite_onnx`` (default: the library plus
            every registered rule).
        patterns: rule files (.py or .toml) to load first.
        dynamic_shapes: torch.export's ``dynamic_shapes`` for the fallback, in its spelling
            (``({0: Dim.AUTO, 2: Dim.AUTO, 3: Dim.AUTO},)`` keeps an image's batch, height and
            width free); export's refusal is then raised, not a static export tried.

    Returns:
        ``(graph_module, sites)``: every site found, with ``replaced`` set on those replaced.
        A module that neither tracer takes as a whole (a detector's pre- and post-processing)
        is rewritten by parts, with an ``FxFallbackWarning``: the result is then a copy of the
        module whose traceable submodules holding replaced sites are GraphModules, and site
        names carry the submodule's path (``backbone.silu_0``).

    Raises:
        FxTraceError: (a ``ValueError``) when neither symbolic_trace nor torch.export works
            and there are no ``example_inputs`` to rewrite it by parts with (or the module
            does not run on them).
        ValueError: for an unknown pipeline.

    Example:
        >>> model = nn.Sequential(nn.Linear(8, 8), nn.GELU(), nn.Linear(8, 2))
        >>> gm, sites = rewrite_module(model, "pau_all", example_inputs=(torch.randn(1, 8),))
        >>> [(s.name, s.module, s.input_shape) for s in sites]
        [('gelu_0', 'pau_gelu_0', (1, 8))]

    Gotchas: a formula whose intermediate is used elsewhere is not a site; sites inside
    modules that symbolic_trace treats as leaves are not seen; ``threshold`` of Softplus is
    ignored (the rational is the smooth function).
    """
    selected = parse_pipeline(pipeline)
    chosen = _rules(rules, patterns)
    cache: dict[tuple[Any, ...], Any] = {}

    def select(site: FxSite) -> str | None:
        return None if site.function in selected else f"{site.function} not in {pipeline!r}"

    def make(site: FxSite) -> nn.Module:
        from rewriter.rational import PAU, table_rational

        key = (site.function, tuple(sorted(site.params.items())))
        if key not in cache:
            cache[key] = table_rational(site.function, degrees=degrees, form=form, **site.params)
        return PAU(cache[key])

    return _apply(module, select, make, "pau", example_inputs, chosen, dynamic_shapes)


STANDARD_REPLACEMENTS: dict[str, Callable[[], nn.Module]] = {
    "gelu": nn.ReLU,
    "gelu_tanh": nn.ReLU,
    "silu": nn.ReLU,
    "swish": nn.ReLU,
    "mish": nn.Hardswish,
}


def replace_with_standard(
    module: nn.Module,
    mapping: dict[str, Callable[[], nn.Module]] | None = None,
    example_inputs: Sequence[Any] | None = None,
) -> tuple[nn.Module, list[FxSite]]:
    """Replace activations with cheaper standard ones (``nn.ReLU`` for GELU, ...).

    Args:
        mapping: function name -> factory of the replacement module; default
            :data:`STANDARD_REPLACEMENTS` (ReLU for GELU/SiLU/Swish, HardSwish for Mish).

    Example:
        >>> m = nn.Sequential(nn.Linear(4, 4), nn.Mish())
        >>> gm, sites = replace_with_standard(m)
        >>> type(gm.get_submodule(sites[0].module)).__name__
        'Hardswish'
    """
    table = STANDARD_REPLACEMENTS if mapping is None else mapping

    def select(site: FxSite) -> str | None:
        return None if site.function in table else f"no standard replacement for {site.function}"

    return _apply(module, select, lambda s: table[s.function](), "std", example_inputs)
