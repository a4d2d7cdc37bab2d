"""``pau_learned``: replace any one-input elementwise region by a rational fitted to it.

Rules know spellings; this pass does not need to. It finds *regions*: maximal connected sets of
elementwise nodes that together compute y = f(x) elementwise from ONE varying tensor x, samples
f by running the region alone in ONNX Runtime, fits a rational to the samples
(``rewriter.rational.fit``) and emits it in the region's place. So ``x * Clip(x*0.2+0.5, 0, 1)``,
``x * Tanh(Log(1 + Exp(x)))`` or ``x * Sigmoid(x) * Sigmoid(x)`` are replaced without a rule.

Region analysis (networkx):

1. Candidates: default-domain nodes of the ops in ``UNARY``/``BINARY`` plus ``Clip``, not named
   ``pau/...``, one output, no subgraph, at least one varying (non-constant) input, every constant
   input of size 1 (so the node is a function R -> R applied elementwise; a constant that
   broadcasts a tensor, e.g. a per-channel scale, makes the node no candidate), float dtypes.
2. A ``DiGraph`` of candidates (edge u -> v when v reads u's output); per weakly connected
   component, roots are tried last node first (graph order is topological). The region of a root
   r is r plus its ancestors, shrunk until closed: a node whose output is a graph output or is
   read by a node outside the region leaves it (its output becomes an input of the region), and
   nodes that no longer reach r leave too; repeat until stable. The region is taken when it reads
   exactly one varying value x, its nodes are then claimed, and roots inside it are not tried.
   A region that reads two varying values (``a * Sigmoid(b)``) is not taken; its sub-regions
   rooted at its other nodes are tried instead. Worst case O(N^2) per component (N candidates),
   in practice components are a handful of nodes.
3. Policy: a region of fewer than ``min_nodes`` (default 2) nodes is skipped unless it is one
   smooth transcendental op (``SINGLE_OK``: Tanh, Sigmoid, Erf, Softplus, Mish, Gelu, Elu, Selu,
   Celu); a lone Exp or Log is not taken (unbounded growth / restricted domain: a rational tracks
   neither outside its fit range, and a lone Exp is usually a softmax). Regions that are affine
   (only Add/Sub/Mul/Div by constants, Neg, Identity) are skipped: they need no rational.
   ``Cast`` is not an elementwise candidate: region input and output share one element type, in
   which the rational is emitted, and a Cast pair (fp32 -> fp16 -> fp32) is a rounding no
   rational reproduces; regions stop at Casts.
4. Shapes: the region's output must have x's shape where both are known, and a constant may not
   have more dimensions than x (``[1,1,1]`` against a rank-1 x would broadcast); with x's rank
   unknown only rank-0 constants are accepted.

Sampling and fitting: the region is copied into a model of its own (input x: float32[n],
constants as float32 initializers, the model's default-domain opset) and run by ONNX Runtime on
flattened float32 arrays; the callable returns float64, so ``fit`` can call it on any grid, its
own dense grid and [-40, 40] (``global_error``) included. The fit range is [-8, 8], or the
observed [min, max] of x when ``samples`` are given; then the one fit is weighted by them
(``fit(..., samples=x, sample_weights=OBSERVED_WEIGHTS)``: a 1025-point grid on that range plus
1025 quantiles of the samples, nothing outside; fit time grows with the points: ~1 s per
region at (5,4)); without samples ``fit`` uses its own grid (~5000 points, denser at the clamp).
Finiteness is checked on a 4097-point grid (plus the samples). ``samples`` maps value names to
arrays: either the region's input itself, or every graph input of the model, in which case the
model is run once with the region inputs as extra outputs to observe them. A region that is not
finite on its fit range (``Log`` of negatives, overflow) is reported and not replaced: without
calibration data nothing says its input stays inside the function's domain.

Emission: ``emit_onnx`` nodes in the region input's element type take the root's place and
produce the root's output; nodes, values and initializers are named ``pau/learned_<k>/...``
(``pau/learned_<k>.<j>/`` when a previous rewrite already used the name), the removed region's
now-dead constants and stale ``value_info`` entries go. ``Site.rational`` holds form, degrees,
``max_error`` (fit range), ``global_error`` ([-40, 40]), ``fit_range``, ``range_from``
("default" or "calibration"), ``describe``, and ``skipped`` (why) for a region not replaced.

Subgraphs: If/Loop/Scan bodies are searched too (``Site.graph`` names the body); values from
outer scopes resolve as constants or as the region input. Calibration from model feeds only
observes main-graph values; body regions use the [-8, 8] default unless their input is a key of
``samples``.

Example:
    >>> sites = learned_rewrite(model, samples={"x": calib})  # doctest: +SKIP
    >>> sites[0].spelling  # doctest: +SKIP
    'Mul(x, Tanh(Log(Add(Exp(x), 1))))'
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import networkx as nx
import numpy as np
import onnx
from onnx import TensorProto, helper

from rewriter.ir import (
    Graph,
    ValueInfoTable,
    default_opset,
    infer_value_info,
    session,
    subgraph_attrs,
)
from rewriter.match.engine import RESERVED_PREFIX, Site
from rewriter.rational.fitting import SampleWeights

__all__ = [
    "Region",
    "find_regions",
    "learned_rewrite",
    "site_region",
    "fit_region",
    "UNARY",
    "BINARY",
    "SINGLE_OK",
    "DEFAULT_RANGE",
]

UNARY = frozenset(
    {
        "Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Tanh", "Sigmoid", "Erf", "Relu",
        "Softplus", "Softsign", "Elu", "Selu", "Celu", "LeakyRelu", "HardSigmoid", "HardSwish",
        "Mish", "Gelu", "Identity", "ThresholdedRelu",
    }
)  # fmt: skip
# operands: scalar constants or varying values (one region input, or values inside the region)
BINARY = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "PRelu"})
SINGLE_OK = frozenset({"Tanh", "Sigmoid", "Erf", "Softplus", "Mish", "Gelu", "Elu", "Selu", "Celu"})
_AFFINE = frozenset({"Add", "Sub", "Mul", "Div", "Neg", "Identity"})
_FLOATS = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE)
DEFAULT_RANGE = (-8.0, 8.0)
T = TypeVar("T")
Wrap = Callable[
    [Site, Graph, list[onnx.NodeProto], list[TensorProto]],
    tuple[list[onnx.NodeProto], list[TensorProto]],
]
GRID_POINTS = 4097  # where finiteness is checked (and, uncalibrated, fit's own ~5000-point grid)
FIT_POINTS = 1025  # calibrated fit points: this grid plus as many sample quantiles (time ~ points)
# calibrated fits: the observed range exactly, nothing outside it (a region is any function)
OBSERVED_WEIGHTS = SampleWeights(margin=0.0, outside_weight=0.0, points=(FIT_POINTS, FIT_POINTS, 0))
_MAX_FORMULA = 400
# a fit whose max error exceeds this share of the region's largest |value| on the fit range is
# not replaced: it does not follow the function (jax2tf's erfc pieces with 1/x^2 poles: errors
# of 1e5-1e12, which the rewrite's tolerance then refused as a whole)
FOLLOWS = 0.01


@dataclass
class Region:
    """One elementwise region y = f(x): its nodes (graph order), input x, output y (the root's).

    Attributes:
        nodes: node names (``Op#index`` for unnamed nodes), in graph order.
        ops: their op types.
        input: the one varying value the region reads.
        output: the root's output, the only value the region exposes.
        formula: the computation as a formula in x, e.g. ``Mul(x, Sigmoid(x))``.
        graph: ``""`` for the main graph, else the body's path (``If_0/then_branch``).
    """

    nodes: list[str]
    ops: list[str]
    input: str
    output: str
    formula: str
    graph: str = ""
    _g: Graph | None = field(default=None, repr=False, compare=False)
    _idx: list[int] = field(default_factory=list, repr=False, compare=False)
    _key: tuple[int, ...] = field(default=(), repr=False, compare=False)


# -- region analysis ------------------------------------------------------------------------


def find_regions(
    model: onnx.ModelProto, *, min_nodes: int = 2, claimed: Collection[tuple[str, str]] = ()
) -> list[Region]:
    """The one-input elementwise regions of ``model`` (all graphs), in graph order.

    Example:
        >>> [r.formula for r in find_regions(m)]  # doctest: +SKIP
        ['Mul(x, Sigmoid(x))']
    """
    return _find(model, infer_value_info(model), min_nodes, claimed)[0]


def _find(
    model: onnx.ModelProto,
    vinfo: ValueInfoTable,
    min_nodes: int,
    claimed: Collection[tuple[str, str]] = (),
) -> tuple[list[Region], list[Graph]]:
    """Regions of every graph; nodes in ``claimed`` (graph path, node label) are left out, as if
    a rule had already replaced them (a dry run must count what a real run counts)."""
    graphs: list[Graph] = []
    regions: list[Region] = []

    def walk(g: Graph, key: tuple[int, ...]) -> None:
        graphs.append(g)
        for i, n in enumerate(g.nodes):
            assert n is not None
            for k, (attr, body) in enumerate(subgraph_attrs(n)):
                path = f"{g.path}/{n.name or n.op_type}/{attr}".lstrip("/")
                walk(Graph(body, parent=g, path=path, value_info=vinfo), key + (i, k))
        regions.extend(_regions_of(g, key, min_nodes, claimed))

    walk(Graph(model.graph, value_info=vinfo), ())
    regions.sort(key=lambda r: r._key)
    return regions, graphs


def _varying(g: Graph, n: onnx.NodeProto) -> list[str] | None:
    """The varying inputs of a candidate node, or None when ``n`` is no candidate."""
    if n.domain not in ("", "ai.onnx") or n.name.startswith(RESERVED_PREFIX):
        return None
    if len(n.output) != 1 or not n.output[0] or any(True for _ in subgraph_attrs(n)):
        return None
    op = n.op_type
    if op in UNARY:
        if len(n.input) != 1:
            return None
    elif op == "Clip":
        if not n.input or any(
            v and not _scalar_const(g, v) for v in n.input[1:]
        ):  # bounds: constants
            return None
    elif op not in BINARY:
        return None
    split = split_operands(g, n)
    if split is None:
        return None
    varying, consts = split
    if any(not np.issubdtype(c.dtype, np.number) or np.iscomplexobj(c) for c in consts):
        return None
    if not varying or (op == "Clip" and varying != [n.input[0]]):
        return None
    vi = g.info(n.output[0])
    if vi is not None and vi.elem_type and vi.elem_type not in _FLOATS:
        return None
    return varying


def split_operands(g: Graph, n: onnx.NodeProto) -> tuple[list[str], list[np.ndarray]] | None:
    """``n``'s varying inputs and its constant ones, or None when a constant is not a scalar
    (size 1): such a node is a function R -> R applied elementwise."""
    varying: list[str] = []
    consts: list[np.ndarray] = []
    for v in n.input:
        if not v:
            continue
        c = g.const(v)
        if c is None:
            varying.append(v)
        elif c.size != 1:
            return None
        else:
            consts.append(c)
    return varying, consts


def _scalar_const(g: Graph, v: str) -> bool:
    c = g.const(v)
    return c is not None and c.size == 1


def _regions_of(
    g: Graph, key: tuple[int, ...], min_nodes: int, claimed: Collection[tuple[str, str]] = ()
) -> Iterator[Region]:
    candidates = [
        i
        for i in range(len(g.nodes))
        if (g.path, g.label(i)) not in claimed and _varying(g, g.node(i)) is not None
    ]

    def accept(nodes: set[int], root: int) -> str | None:
        x = _single_input(g, nodes)
        if x is None or g.weights_only(x):  # on weights alone: folded when the model loads
            return None
        if not _worth_it(g, nodes, min_nodes) or not _shape_ok(g, nodes, x):
            return None
        return x

    for nodes, root, x in grown_regions(g, candidates, accept):
        idx = sorted(nodes)
        yield Region(
            nodes=[g.label(i) for i in idx],
            ops=[g.node(i).op_type for i in idx],
            input=x,
            output=g.node(root).output[0],
            formula=_formula(g, g.node(root).output[0], x),
            graph=g.path,
            _g=g,
            _idx=idx,
            _key=key + (root,),
        )


def grown_regions(
    g: Graph,
    candidates: Iterable[int],
    accept: Callable[[set[int], int], T | None],
    max_component: int | None = None,
) -> Iterator[tuple[set[int], int, T]]:
    """Regions over ``candidates`` (node indices of ``g``): per weakly connected component of
    the nodes reading one another, roots are tried last node first, each grown by
    ``grow_region`` among the nodes no region took yet; a region for which ``accept(nodes,
    root)`` is not None is taken and yielded with that value. Components of more than
    ``max_component`` nodes are skipped (trying every root of one costs its size squared)."""
    dg = nx.DiGraph()
    dg.add_nodes_from(candidates)
    for i in dg.nodes:
        for v in g.node(i).input:
            j = g.producer.get(v)
            if j is not None and j in dg:
                dg.add_edge(j, i)
    for comp in sorted(nx.weakly_connected_components(dg), key=max):
        if max_component is not None and len(comp) > max_component:
            continue
        free = set(comp)
        for root in sorted(comp, reverse=True):
            if root not in free:
                continue
            nodes = grow_region(g, dg.subgraph(free), root)
            got = accept(nodes, root)
            if got is None:
                continue
            free -= nodes
            yield nodes, root, got


def grow_region(g: Graph, dg: nx.DiGraph, root: int) -> set[int]:
    """Root plus ancestors, shrunk until no value but the root's output leaves the region."""
    nodes = {root} | nx.ancestors(dg, root)
    while True:
        leaks = {i for i in nodes - {root} if _used_outside(g, g.node(i).output[0], nodes)}
        if not leaks:
            return nodes
        nodes -= leaks
        nodes = {root} | nx.ancestors(dg.subgraph(nodes), root)


def _used_outside(g: Graph, value: str, nodes: set[int]) -> bool:
    if g.is_output(value):
        return True
    return any(c not in nodes for c in g.consumers.get(value, ()))


def _single_input(g: Graph, nodes: set[int]) -> str | None:
    outs = {g.node(i).output[0] for i in nodes}
    ext = {v for i in nodes for v in (_varying(g, g.node(i)) or ()) if v not in outs}
    if len(ext) != 1:
        return None
    x = next(iter(ext))
    vi = g.info(x)
    if vi is None or vi.elem_type not in _FLOATS:
        return None
    for i in nodes:  # one element type throughout (no Cast in a region, see the module doc)
        vo = g.info(g.node(i).output[0])
        if vo is not None and vo.elem_type and vo.elem_type != vi.elem_type:
            return None
    return x


def _worth_it(g: Graph, nodes: set[int], min_nodes: int) -> bool:
    ops = [g.node(i) for i in nodes]
    affine = all(
        n.op_type in _AFFINE and len(_varying(g, n) or ()) <= 1 for n in ops
    )  # Mul(x, x) is not affine
    if affine:
        return False
    return len(ops) >= min_nodes or (len(ops) == 1 and ops[0].op_type in SINGLE_OK)


def _shape_ok(g: Graph, nodes: set[int], x: str) -> bool:
    vx = g.info(x)
    rank = len(vx.shape) if vx is not None and vx.shape is not None else None
    for i in nodes:
        for v in g.node(i).input:
            c = g.const(v) if v else None
            if c is not None and c.ndim > (0 if rank is None else rank):
                return False
    root = max(nodes)
    vy = g.info(g.node(root).output[0])
    if vx is not None and vy is not None and vx.shape is not None and vy.shape is not None:
        return len(vx.shape) == len(vy.shape) and all(
            a == b or a is None or b is None for a, b in zip(vx.shape, vy.shape, strict=True)
        )
    return True


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(e) for e in v) + "]"
    return str(v)


def _formula(g: Graph, value: str, x: str) -> str:
    memo: dict[str, str] = {}

    def rec(v: str) -> str:
        if v == x:
            return "x"
        if v in memo:
            return memo[v]
        c = g.const(v)
        if c is not None:
            return _fmt(float(np.asarray(c).ravel()[0]))
        n = g.producer_of(v)
        assert n is not None
        args = []
        for k, a in enumerate(n.input):
            if a:
                args.append(rec(a))
            elif n.op_type == "Clip":
                args.append("-inf" if k == 1 else "inf")
        args += [f"{a.name}={_fmt(helper.get_attribute_value(a))}" for a in n.attribute]
        memo[v] = s = f"{n.op_type}({', '.join(args)})"
        return s

    s = rec(value)
    return s if len(s) <= _MAX_FORMULA else s[: _MAX_FORMULA - 3] + "..."


# -- sampling -------------------------------------------------------------------------------


def region_model(region: Region, opset: int, ir_version: int = 8) -> onnx.ModelProto:
    """The region alone as a model: float32[n] ``x`` -> float32 ``y``, constants as initializers."""
    assert region._g is not None
    return alone_model(region._g, region._idx, region.input, region.output, opset, ir_version)


def alone_model(
    g: Graph, idx: Iterable[int], x: str, y: str, opset: int, ir_version: int = 8
) -> onnx.ModelProto:
    """Nodes ``idx`` of ``g`` alone as a model: float32[n] ``x`` -> float32 ``y``; the constants
    they read become initializers (float ones in float32, bool and integer ones as they are)."""
    inits: dict[str, onnx.TensorProto] = {}
    nodes = []
    for i in sorted(idx):
        n = onnx.NodeProto()
        n.CopyFrom(g.node(i))
        nodes.append(n)
        for v in n.input:
            c = g.const(v) if v and v != x else None
            if c is not None and v not in inits:
                c = c.astype(np.float32) if np.issubdtype(c.dtype, np.floating) else c
                inits[v] = onnx.numpy_helper.from_array(np.asarray(c), v)
    graph = helper.make_graph(
        nodes,
        "region",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info(y, TensorProto.FLOAT, None)],
        initializer=[inits[k] for k in sorted(inits)],
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir_version
    )


class RegionFunction:
    """The region as a vectorised numpy callable: any float64 array in, float64 out (same shape),
    computed by ONNX Runtime in float32 on the flattened array."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self._sess = session(model, threads=1, what="the region")
        self._in = model.graph.input[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        xa = np.asarray(x, dtype=np.float64)
        flat = np.ascontiguousarray(xa.ravel(), dtype=np.float32)
        if flat.size == 0:
            return np.zeros(xa.shape)
        y = np.asarray(self._sess.run(None, {self._in: flat})[0], dtype=np.float64).ravel()
        if y.size != flat.size:
            raise ValueError(f"region output has {y.size} elements for {flat.size} inputs")
        return y.reshape(xa.shape)


def _observe(
    model: onnx.ModelProto, samples: dict[str, np.ndarray], names: list[str]
) -> dict[str, np.ndarray]:
    """Values of ``names`` (main-graph values) when the model is fed ``samples``."""
    from rewriter.ir import run_model

    inits = {t.name for t in model.graph.initializer}
    feeds = [i.name for i in model.graph.input if i.name not in inits]
    if not feeds or any(f not in samples for f in feeds):
        return {}
    produced = {o for n in model.graph.node for o in n.output} | set(feeds)
    outputs = {o.name for o in model.graph.output}
    want = [v for v in names if v in produced and v not in samples]
    if not want:
        return {}
    m = onnx.ModelProto()
    m.CopyFrom(model)
    vinfo = infer_value_info(model)
    for v in want:
        if v not in outputs:
            vi = vinfo.get(v)
            m.graph.output.append(
                helper.make_tensor_value_info(v, vi.elem_type if vi else TensorProto.FLOAT, None)
            )
    got = run_model(m, {f: samples[f] for f in feeds})
    by_name = dict(zip([o.name for o in m.graph.output], got, strict=True))
    return {v: by_name[v] for v in want}


# -- fitting and emission -------------------------------------------------------------------


def _fit_range(obs: np.ndarray | None) -> tuple[np.ndarray | None, str]:
    """The finite observed inputs (None: none, fit on ``DEFAULT_RANGE``) and where they came from."""
    if obs is None:
        return None, "default"
    s = np.asarray(obs, dtype=np.float64).ravel()
    s = s[np.isfinite(s)]
    return (s, "calibration") if s.size else (None, "default")


# fits already made in this process: (region, observed inputs, degrees, form) -> (Rational or
# None, info). The accuracy back-off emits the same model several times (the whole rewrite,
# its switch model, each choice it keeps), and a fit on observed inputs costs ~1 s per region
_FITS: dict[bytes, tuple[Any, dict[str, Any]]] = {}
_MAX_FITS = 512


def _fit(
    region: Region,
    model: onnx.ModelProto,
    obs: np.ndarray | None,
    degrees: tuple[int, int],
    form: str,
) -> tuple[Any, dict[str, Any]]:
    """(Rational or None, the site's info dict: errors, range, or ``skipped`` with a reason);
    the same region fitted on the same inputs again is the fit made the first time."""
    try:
        alone = region_model(region, default_opset(model), model.ir_version or 8)
    except Exception as e:
        return None, {
            "form": "none",
            "degrees": list(degrees),
            "max_error": math.nan,
            "global_error": math.nan,
            "skipped": f"ONNX Runtime cannot run the region: {str(e).splitlines()[0][:200]}",
        }
    h = hashlib.sha256(alone.SerializeToString(deterministic=True))
    h.update(repr((degrees, form)).encode())
    if obs is not None:
        o = np.ascontiguousarray(obs, dtype=np.float32)
        h.update(repr(o.shape).encode())
        h.update(o.tobytes())
    key = h.digest()
    if key not in _FITS:
        if len(_FITS) >= _MAX_FITS:
            _FITS.clear()
        _FITS[key] = _fit_alone(alone, obs, degrees, form)
    r, info = _FITS[key]
    return r, dict(info)


def _describe(info: dict[str, Any], r: Any) -> None:
    """``info`` of a region replaced by ``r``: its form, errors, and ``rational``, the fit
    itself (``Rational.to_dict``, exact), which the model's metadata keeps: ``rewrite
    finetune`` refits from it."""
    info.update(
        form=r.form,
        max_error=float(r.max_error),
        global_error=float(r.global_error),
        describe=r.describe(),
        rational=r.to_dict(),
    )


def fit_region(
    alone: onnx.ModelProto, samples: np.ndarray, degrees: tuple[int, int], form: str = "auto"
) -> Any:
    """A rational fitted to the region ``alone`` (``site_region``) on ``samples``, its
    observed inputs, as the pass fits it; None where it does not follow the region there."""
    return _fit_alone(alone, samples, degrees, form)[0]


def site_region(model: onnx.ModelProto, site: Site) -> onnx.ModelProto:
    """The region of a ``pau_learned`` site of ``model`` (main graph) alone as a model: float32
    ``x`` -> ``y`` (``RegionFunction`` runs it).

    Raises:
        ValueError: the site's nodes are not all found in the main graph.
    """
    g = Graph(model.graph, value_info=infer_value_info(model))
    labels = set(site.nodes)
    idx = [i for i, n in enumerate(g.nodes) if n is not None and g.label(i) in labels]
    if site.graph or len(idx) != len(site.nodes):
        raise ValueError(
            f"site {site.name}: {len(idx)} of its {len(site.nodes)} nodes are in the main graph"
        )
    return alone_model(g, idx, site.input, site.output, default_opset(model), model.ir_version or 8)


def _fit_alone(
    alone: onnx.ModelProto,
    obs: np.ndarray | None,
    degrees: tuple[int, int],
    form: str,
) -> tuple[Any, dict[str, Any]]:
    """``_fit`` of the region cut out as ``alone`` (``region_model``)."""
    from rewriter.rational import FitError, fit

    samples, source = _fit_range(obs)
    if samples is None:
        lo, hi = DEFAULT_RANGE
    else:
        lo, hi = float(samples.min()), float(samples.max())
        if hi - lo < 1e-3:
            lo, hi = lo - 0.5, hi + 0.5
    info: dict[str, Any] = {
        "form": "none",
        "degrees": list(degrees),
        "max_error": math.nan,
        "global_error": math.nan,
        "fit_range": [lo, hi],
        "range_from": source,
    }
    try:
        f = RegionFunction(alone)
    except Exception as e:
        info["skipped"] = f"ONNX Runtime cannot run the region: {str(e).splitlines()[0][:200]}"
        return None, info
    grid = np.linspace(lo, hi, GRID_POINTS)
    if samples is not None:
        grid = np.union1d(grid, np.quantile(samples, np.linspace(0.0, 1.0, FIT_POINTS)))
    y = f(grid)
    bad = ~np.isfinite(y)
    if bad.any():
        hint = "" if source == "calibration" else "; pass calibration samples of its input"
        info["skipped"] = (
            f"region is not finite on its fit range [{lo:g}, {hi:g}] "
            f"(e.g. f({grid[bad][0]:g}) = {y[bad][0]}){hint}"
        )
        return None, info
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            if samples is None:
                r = fit(f, lo, hi, degrees, form=form, name="learned")
            else:
                r = fit(
                    f,
                    lo,
                    hi,
                    degrees,
                    form=form,
                    samples=samples,
                    sample_weights=OBSERVED_WEIGHTS,
                    name="learned",
                )
    except FitError as e:
        info["skipped"] = str(e)
        return None, info
    _describe(info, r)
    peak = float(np.max(np.abs(y)))
    if not r.max_error <= FOLLOWS * peak:
        info["skipped"] = (
            f"fit error {r.max_error:.3g} against values up to {peak:.3g} on [{lo:g}, {hi:g}]: "
            f"a ({degrees[0]},{degrees[1]}) rational does not follow it"
        )
        return None, info
    return r, info


def _used_prefixes(model: onnx.ModelProto) -> set[str]:
    """``pau/<site>/`` prefixes already in the model (a second run must not reuse them)."""
    out: set[str] = set()

    def walk(gp: onnx.GraphProto) -> None:
        names = [t.name for t in gp.initializer]
        for n in gp.node:
            names.append(n.name)
            names.extend(n.output)
            for _, body in subgraph_attrs(n):
                walk(body)
        for s in names:
            if s.startswith(RESERVED_PREFIX):
                out.add(s[: s.find("/", len(RESERVED_PREFIX)) + 1])

    walk(model.graph)
    return out


def learned_rewrite(
    model: onnx.ModelProto,
    *,
    degrees: tuple[int, int] = (5, 4),
    form: str = "auto",
    dry_run: bool = False,
    samples: Mapping[str, np.ndarray] | Sequence[Mapping[str, np.ndarray]] | None = None,
    min_nodes: int = 2,
    max_error: float | None = None,
    claimed: Collection[tuple[str, str]] = (),
    select: Callable[[Site], bool] | None = None,
    wrap: Wrap | None = None,
    given: Callable[[Site], Any] | None = None,
) -> list[Site]:
    """Replace every one-input elementwise region of ``model`` (in place) by a fitted rational.

    Args:
        model: edited in place; pass a copy to keep the original.
        degrees: (m, n) of the rationals.
        form: rational form for ``rewriter.rational.fit`` (``auto``: the most accurate).
        dry_run: find, fit and report; change nothing.
        samples: calibration data: ``value name -> array`` of the regions' inputs, or of all
            the model's graph inputs (the regions' inputs are then observed by running it);
            or several such feeds (the draws of generated inputs verification judges), each
            region fitted on what it sees on all of them.
        min_nodes: smallest region taken (single smooth transcendental ops always are).
        max_error: regions whose fit error on the fit range exceeds this are not replaced.
        claimed: ``(graph path, node label)`` of nodes that rule sites cover; left out of
            regions (a dry run passes every rule site's, so it finds what a real run finds;
            a rewrite those of the rule sites it keeps, which then stay as in the original).
        select: ``site -> bool``: which regions to replace (default: all); the others are
            kept as in the original, not fitted (``skipped`` says so).
        wrap: ``(site, graph, nodes, initializers) -> (nodes, initializers)``, what enters the
            graph in a replaced region's place (``rewriter.emit.switch``: an If over the
            region's own nodes and its rational); default the rational's nodes.
        given: ``site -> Rational | None``: a rational to emit for a selected region instead
            of fitting one (``rewrite finetune``'s refit).

    Returns:
        One ``Site`` per region (``learned_0``, ``learned_1``, ... in graph order):
        ``function="learned"``, ``rule="pau_learned"``, ``spelling`` the region's formula,
        ``rational`` its fit (form, errors, fit range; ``skipped`` says why one was not
        replaced), ``replaced``.

    Example:
        >>> m = load_model("model.onnx")  # doctest: +SKIP
        >>> [s.spelling for s in learned_rewrite(m, dry_run=True)]  # doctest: +SKIP
        ['Mul(x, Clip(Add(Mul(x, 0.2), 0.5), 0, 1))']
    """
    from rewriter.rational import emit_onnx

    degrees = (int(degrees[0]), int(degrees[1]))
    vinfo = infer_value_info(model)
    regions, graphs = _find(model, vinfo, min_nodes, claimed)
    batches = [samples] if samples is None or isinstance(samples, Mapping) else list(samples)
    seen: dict[str, list[np.ndarray]] = {}
    for batch in batches:
        b = dict(batch or {})
        for k, v in {**b, **_observe(model, b, [r.input for r in regions if not r.graph])}.items():
            seen.setdefault(k, []).append(np.asarray(v))
    observed = {
        k: v[0] if len(v) == 1 else np.concatenate([x.ravel() for x in v]) for k, v in seen.items()
    }
    used = _used_prefixes(model)
    gone: dict[int, set[str]] = {}
    sites: list[Site] = []
    for k, region in enumerate(regions):
        g = region._g
        assert g is not None
        name = f"learned_{k}"
        vi = g.info(region.input)
        prod = g.producer_of(region.input)
        site = Site(
            name=name,
            function="learned",
            params={},
            rule="pau_learned",
            spelling=region.formula,
            input=region.input,
            output=region.output,
            nodes=list(region.nodes),
            graph=region.graph,
            input_shape=list(vi.shape) if vi is not None and vi.shape is not None else None,
            dtype=TensorProto.DataType.Name(vi.elem_type).lower() if vi else "unknown",
            producer_op=prod.op_type if prod is not None else None,
        )
        sites.append(site)
        if select is not None and not select(site):
            site.rational = {"form": "none", "degrees": list(degrees), "skipped": "kept"}
            continue
        r = given(site) if given is not None else None
        if r is not None:
            info = {"degrees": list(r.degrees), "fit_range": [r.lo, r.hi], "range_from": "given"}
            _describe(info, r)
        else:
            r, info = _fit(region, model, observed.get(region.input), degrees, form)
        site.rational = info
        if r is None:
            continue
        if max_error is not None and not r.max_error <= max_error:
            info["skipped"] = f"fit error {r.max_error:.3g} exceeds max_error {max_error:g}"
            continue
        if dry_run:
            continue
        prefix, j = f"{RESERVED_PREFIX}{name}/", 0
        while prefix in used:  # a previous rewrite already emitted this name
            j += 1
            prefix = f"{RESERVED_PREFIX}{name}.{j}/"
        used.add(prefix)
        assert vi is not None
        nodes, inits = emit_onnx(
            r, region.input, region.output, prefix=prefix, const_prefix=prefix, dtype=vi.elem_type
        )
        nodes[-1].doc_string = f"pau-rewriter pau_learned {name}: {region.formula}: {r.describe()}"
        if wrap is not None:
            nodes, inits = wrap(site, g, nodes, inits)
        removed = g.replace(region._idx, region._idx[-1], nodes, inits)
        # shape info of the removed intermediates would be stale
        gone.setdefault(id(g), set()).update(v for v in removed if v != region.output)
        site.replaced = True
    if not dry_run:
        for g in reversed(graphs):  # bodies first: parents copy their protos at commit
            g.commit(stale=gone.get(id(g), ()))
    return sites
