"""The rewrite driver: find sites with rules, name them, replace them.

``run(model, rules, options)`` walks every graph (the main graph and If/Loop/Scan bodies), tries
the rules indexed by the root op of each node (last node first, so that the outermost node of a
chain is tried before the nodes inside it), and claims non-overlapping matches. Sites are then
numbered in graph order per function (``gelu_0``, ``gelu_1``, ``silu_0``: the torch.fx front-end
uses the same names) and, unless ``dry_run``, replaced: the matched nodes are removed and the
replacement takes the root node's place, producing the root's output value, so no consumer or
graph output needs rewiring. Nodes the rewriter emits are named ``pau/<site>/...`` and never
matched again, which makes a second rewrite a no-op. The scan repeats until nothing matches or
``max_iterations`` is reached.

Per-rule match counts and time are kept in ``Stats``.
"""

from __future__ import annotations

import gc
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import onnx

from rewriter.ir.graph import (
    Graph,
    ValueInfoTable,
    body_path,
    default_opset,
    infer_value_info,
    subgraph_attrs,
)
from rewriter.match.pattern import Match, Matcher
from rewriter.match.rules import Rule

__all__ = ["Site", "Stats", "Options", "run", "RESERVED_PREFIX"]

RESERVED_PREFIX = "pau/"


@dataclass
class Site:
    """One activation found in a model (the unit the planner and the report talk about)."""

    name: str
    function: str
    params: dict[str, float]
    rule: str
    spelling: str
    input: str
    output: str
    nodes: list[str]
    graph: str
    input_shape: list[int | str | None] | None
    dtype: str
    producer_op: str | None
    replaced: bool = False
    rational: dict[str, Any] | None = None
    # what the site's nodes compute is ``scale`` times ``function`` (a region identified by its
    # values: onnxsim folds GELU's 0.5 into the next layer, leaving 2 GELU(x)); every candidate
    # is of ``function``, its output multiplied by ``scale`` where it is written
    scale: float = 1.0

    @property
    def label(self) -> str:
        """How tables name what the site computes: ``gelu``, or ``2 x gelu`` where scaled."""
        return self.function if self.scale == 1.0 else f"{self.scale:g} x {self.function}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.scale == 1.0:  # the reports of unscaled sites, as they were
            del d["scale"]
        return d


@dataclass
class Stats:
    """Per-rule match counts and time spent matching, for ``--verbose`` and benchmarks."""

    matches: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    iterations: int = 0


@dataclass
class Options:
    """Options of one rewrite.

    Attributes:
        dry_run: find and report sites, change nothing.
        rtol: relative tolerance for pattern constants.
        max_iterations: fixpoint limit of the scan-and-replace loop.
        replacement: ``(site, rule, graph) -> (nodes, initializers, info)``: what a site becomes;
            None with ``dry_run``.
        select: ``site -> bool``, which found sites to replace (the planner's choice); default all.
        reserved: values of the main graph whose producing nodes no match may take (regions
            another pass owns: ``rewriter.passes.identify``).
    """

    dry_run: bool = False
    rtol: float = 1e-4
    max_iterations: int = 10
    replacement: (
        Callable[
            [Site, Rule, Graph],
            tuple[list[onnx.NodeProto], list[onnx.TensorProto], dict[str, Any] | None],
        ]
        | None
    ) = None
    select: Callable[[Site], bool] | None = None
    reserved: frozenset[str] = frozenset()


@dataclass
class _Found:
    key: tuple[int, ...]
    graph: Graph
    match: Match
    rule: Rule


def _index(rules: list[Rule]) -> dict[str, list[Rule]]:
    idx: dict[str, list[Rule]] = defaultdict(list)
    for r in rules:
        for root in sorted(r.roots):
            idx[root].append(r)
    return idx


class _Walk:
    def __init__(
        self, model: onnx.ModelProto, rules: list[Rule], opts: Options, stats: Stats
    ) -> None:
        self.model = model
        self.index = _index(rules)
        self.opts = opts
        self.stats = stats
        self.opset = default_opset(model)
        self.value_info: ValueInfoTable = infer_value_info(model)
        self.graphs: list[Graph] = []

    def scan(self, g: Graph, key: tuple[int, ...]) -> list[_Found]:
        matcher = Matcher(g, rtol=self.opts.rtol, opset=self.opset)
        claimed: set[int] = set()
        if not key and self.opts.reserved:
            claimed = {g.producer[v] for v in self.opts.reserved if v in g.producer}
        found: list[_Found] = []
        index, stats = self.index, self.stats
        for i in range(len(g.nodes) - 1, -1, -1):
            n = g.nodes[i]
            if n is None or i in claimed:
                continue
            if n.attribute:
                for k, (attr, body) in enumerate(subgraph_attrs(n)):
                    child = Graph(
                        body,
                        parent=g,
                        path=body_path(g.path, n, attr),
                        value_info=self.value_info,
                    )
                    self.graphs.append(child)
                    found.extend(self.scan(child, key + (i, k)))
            rules = index.get(n.op_type)
            if not rules or n.name.startswith(RESERVED_PREFIX):
                continue
            for r in rules:
                t0 = time.perf_counter()
                m = matcher.match(r.pattern, i)
                stats.seconds[r.name] += time.perf_counter() - t0
                if m is None or claimed.intersection(m.nodes):
                    continue
                if g.weights_only(m.bindings.get("x", "")):
                    continue  # folded when the model loads: no site (Graph.weights_only)
                if any(g.node(j).name.startswith(RESERVED_PREFIX) for j in m.nodes):
                    continue
                claimed.update(m.nodes)
                stats.matches[r.name] += 1
                found.append(_Found(key + (i,), g, m, r))
                break
        return found


def run(
    model: onnx.ModelProto, rules: list[Rule], opts: Options, stats: Stats | None = None
) -> list[Site]:
    """Find (and unless ``opts.dry_run`` replace) the sites of ``rules`` in ``model``, in place.

    The cyclic garbage collector is paused meanwhile: matching allocates millions of small
    acyclic objects, and on a 120k-node graph the collector's passes cost 15-20% of the run
    (measured in one process: 8.4 s with it, 7.0 s without).

    Returns:
        The sites in graph order, with ``replaced`` telling which were rewritten.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _run(model, rules, opts, stats)
    finally:
        if was_enabled:
            gc.enable()


def _run(
    model: onnx.ModelProto, rules: list[Rule], opts: Options, stats: Stats | None
) -> list[Site]:
    stats = stats if stats is not None else Stats()
    counters: Counter[str] = Counter()
    sites: list[Site] = []
    # a site left unreplaced (not selected) is found again by the next iteration's scan: it keeps
    # its first name and is reported once (keyed by graph path and output value)
    seen: dict[tuple[str, str], Site] = {}
    walk = _Walk(model, rules, opts, stats)
    for _ in range(max(1, opts.max_iterations)):
        stats.iterations += 1
        root = Graph(model.graph, value_info=walk.value_info)
        walk.graphs = [root]
        found = sorted(walk.scan(root, ()), key=lambda f: f.key)
        if not found:
            break
        changed = False
        for f in found:
            key = (f.graph.path, f.graph.node(f.match.root).output[0])
            if key in seen:
                continue
            site = seen[key] = _site(f, counters)
            sites.append(site)
            if opts.dry_run or opts.replacement is None:
                continue
            if opts.select is not None and not opts.select(site):
                continue
            _replace(f, site, opts)
            changed = True
        if not changed:
            break
        for g in reversed(walk.graphs):  # bodies first: their protos are copied with their parents
            g.commit()
    return sites


def _site(f: _Found, counters: Counter[str]) -> Site:
    g, m, r = f.graph, f.match, f.rule
    function, params = r.resolve(dict(m.params))
    name = f"{function}_{counters[function]}"
    counters[function] += 1
    x = m.bindings.get("x", "")
    vi = g.info(x)
    prod = g.producer_of(x)
    return Site(
        name=name,
        function=function,
        params={k: float(v) for k, v in params.items()},
        rule=r.name,
        spelling=r.spelling,
        input=x,
        output=g.node(m.root).output[0],
        nodes=[g.label(i) for i in m.nodes],
        graph=g.path,
        input_shape=list(vi.shape) if vi is not None and vi.shape is not None else None,
        dtype=onnx.TensorProto.DataType.Name(vi.elem_type).lower()
        if vi is not None and vi.elem_type
        else "unknown",
        producer_op=prod.op_type if prod is not None else None,
    )


def _replace(f: _Found, site: Site, opts: Options) -> None:
    g, m = f.graph, f.match
    assert opts.replacement is not None
    nodes, inits, info = opts.replacement(site, f.rule, g)
    g.replace(m.nodes, m.root, nodes, inits)
    site.replaced = True
    site.rational = info
