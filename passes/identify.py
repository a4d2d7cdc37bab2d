"""Sites found by their values: regions no rule spells that compute a catalogue function.

A rule knows one spelling. XLA's exact GELU is erfc expanded into about 70 guarded polynomial
nodes, a hand-written function may be spelled in a way nobody wrote a rule for; when such a
region computes, to float32 rounding, a function of the catalogue, it is that function's site
all the same. ``rewriter.emit`` (and the torch.fx front end, on its lowered view) runs
``find`` before the rules: each one-input elementwise region is run alone in ONNX Runtime on a
grid; one that equals a catalogue function there, whose output no rule site computes and
which holds no rule site of that function, becomes a site (``rule="identified"``). The engine
then leaves its nodes alone (``Options.reserved``: a rule site of another function inside it,
the Tanh of SiLU spelled ``x * 0.5 * (1 + tanh(x/2))``, would be a piece of it), and
``identified_sites`` numbers it after the rule sites of its function (``gelu_2`` after
``gelu_0``, ``gelu_1``: names found before do not move) and replaces it, when chosen, by the
candidate's nodes like any site. A region kept stays as it was, node for node.

Regions: maximal connected sets of elementwise nodes (arithmetic, comparisons, boolean ops,
Where, Cast) whose other operands are scalar constants, grown from each root backwards and
shrunk until no value but the root's leaves them (as ``pau_learned``'s, with selects and bools
inside), judged while growing (a region that is no function lets the ones inside it be tried,
and a pass runs again after a region is taken); at least ``MIN_SPELLED`` nodes (``MIN_NODES``
at a TensorFlow conversion), in a connected set of at most ``MAX_COMPONENT`` elementwise
nodes; the root's output and its one varying input ``x`` are float32 and of one shape. Main
graph only.

Identified means: on 4801 points in [-12, 12] and at +-30, +-100, ``|region - f| <= ATOL *
max(1, |f|)`` everywhere, for f in ``SPELLINGS`` (float64 references from
``rewriter.functions``), or, for sites (not at a conversion), for f in ``PARAMETRIC`` with its
parameter read off the values (ELU and CELU with any alpha, softplus and swish with any beta),
and, for ONNX models (``scaled``), for ``s * f`` with f in ``SPELLINGS`` and the scale s read
off the values (onnxsim folds GELU's 0.5 into the next layer's weights, leaving x(1 +
erf(x/sqrt2)) = 2 GELU(x)): a site of f whose candidates are multiplied by s where they are
written (``Site.scale``).
A spelling that overflows where the function does not (``(1 - e^-2x)/(1 + e^-2x)`` is NaN
below -44) is not the function and is not identified; one that equals it except where it is
NaN (tf2onnx's select blend) is reported by ``nan_notes``. Results are cached per region (its
ops and constants, not its value names), so a plan that emits the model many times samples
each kind of region once. ``explain`` says what each judged region came to.

The TensorFlow front end also writes identified regions in their ONNX spelling at conversion
(``rewriter.frontends.tf._xla``): there the conversion is the tool's own, and the spelling it
keeps is the faster one.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from rewriter.functions import get_function
from rewriter.ir import Graph, infer_value_info
from rewriter.match.engine import RESERVED_PREFIX, Options, Site, Stats, run
from rewriter.match.pattern import Var
from rewriter.match.rules import Rule

from .learned import RegionFunction, alone_model, grown_regions, split_operands

Emitted = tuple[list[onnx.NodeProto], list[onnx.TensorProto], dict[str, Any] | None]

__all__ = [
    "ATOL",
    "ELEMENTWISE",
    "GRID",
    "IDENTIFIED",
    "MIN_NODES",
    "MIN_SPELLED",
    "PARAMETRIC",
    "SELECTS",
    "SPELLINGS",
    "Found",
    "explain",
    "find",
    "identified_sites",
    "nan_notes",
    "regions",
    "rule_and_identified_sites",
    "which",
]

SELECTS = frozenset(
    {"Where", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Equal", "Not", "And", "Or"}
)
# one output, elementwise and broadcasting: what a Reshape commutes with beside scalar
# constants (the TensorFlow front end's other normalization); regions are made of these and of
# Casts (tf2onnx's select blend casts the condition)
ELEMENTWISE = SELECTS | {
    "Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Tanh", "Sigmoid", "Erf", "Relu",
    "Softplus", "Softsign", "Elu", "Selu", "Celu", "LeakyRelu", "HardSigmoid", "HardSwish",
    "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "IsNaN", "Identity", "Add", "Sub", "Mul",
    "Div", "Pow", "Max", "Min", "Clip",
}  # fmt: skip
_REGION_OPS = ELEMENTWISE | {"Cast"}
MIN_NODES = 5  # XLA's lowerings (the TensorFlow front end)
MIN_SPELLED = 3  # any region of an ONNX model: tanh as 2 * sigmoid(2x) - 1 is 4 nodes
# elementwise nodes reading one another, at most: XLA's exact GELU is ~70 of them between two
# MatMuls; a longer chain (120,000 nodes of GELUs with bias Adds in tools/bench_engine.py) would
# cost its size squared to search and is left to the rules
MAX_COMPONENT = 512
ATOL = 2e-6
GRID = np.concatenate([np.linspace(-12.0, 12.0, 4801), [-100.0, -30.0, 30.0, 100.0]])
_CACHE_MAX = 4096


def _gelu(x: str, out: str, c: Callable[[float], str], mk: Callable[..., str]) -> None:
    erf = mk("Erf", mk("Mul", x, c(0.7071067811865476)))
    mk("Mul", mk("Mul", x, c(0.5)), mk("Add", erf, c(1.0)), out=out)


def _gelu_tanh(x: str, out: str, c: Callable[[float], str], mk: Callable[..., str]) -> None:
    cube = mk("Mul", x, mk("Mul", x, x))
    inner = mk("Mul", mk("Add", x, mk("Mul", cube, c(0.044715))), c(0.7978845608028654))
    mk("Mul", mk("Mul", x, c(0.5)), mk("Add", mk("Tanh", inner), c(1.0)), out=out)


def _silu(x: str, out: str, c: Callable[[float], str], mk: Callable[..., str]) -> None:
    mk("Mul", x, mk("Sigmoid", x), out=out)


def _mish(x: str, out: str, c: Callable[[float], str], mk: Callable[..., str]) -> None:
    mk("Mul", x, mk("Tanh", mk("Softplus", x)), out=out)


def _native(op: str) -> Callable[..., None]:
    def emit(x: str, out: str, c: Callable[[float], str], mk: Callable[..., str]) -> None:
        mk(op, x, out=out)

    return emit


# catalogue function -> how its ONNX spelling is written (each one a rule matches)
SPELLINGS: dict[str, Callable[..., None]] = {
    "gelu": _gelu,
    "gelu_tanh": _gelu_tanh,
    "silu": _silu,
    "mish": _mish,
    "sigmoid": _native("Sigmoid"),
    "tanh": _native("Tanh"),
    "softplus": _native("Softplus"),
    "elu": _native("Elu"),
    "softsign": _native("Softsign"),
}
_REFERENCE = {name: get_function(name)(GRID) for name in SPELLINGS}
_AT = {v: int(np.flatnonzero(GRID == v)[0]) for v in (-100.0, 0.0, 1.0)}
# where each reference is largest in size: the scale of ``s * f`` is read there
_LARGEST = {name: int(np.argmax(np.abs(ref))) for name, ref in _REFERENCE.items()}
SCALES = (1e-3, 1e3)  # a scale read outside these is no scaled site
# catalogue functions with a parameter, read off the region's values (then checked everywhere
# like the others): ELU's and CELU's value at -inf is -alpha, softplus(0) = log(2) / beta,
# swish(1) = sigmoid(beta)
PARAMETRIC: dict[str, tuple[str, Callable[[np.ndarray], float]]] = {
    "elu": ("alpha", lambda v: -v[_AT[-100.0]]),
    "celu": ("alpha", lambda v: -v[_AT[-100.0]]),
    "softplus": ("beta", lambda v: np.log(2.0) / v[_AT[0.0]]),
    "swish": ("beta", lambda v: np.log(v[_AT[1.0]] / (1.0 - v[_AT[1.0]]))),
}
Named = tuple[str, dict[str, float]]  # a catalogue function and its parameters
_SEEN: dict[str, Named | None] = {}  # region digest -> what ``which`` found
# region digest -> (function, points, x range) for a region equal to the function except
# where it is NaN (``nan_notes``)
_NAN: dict[str, tuple[str, int, tuple[float, float]]] = {}


def _candidate(g: Graph, i: int) -> list[str] | None:
    """The varying inputs of node ``i`` when it is elementwise with scalar constants, else None."""
    n = g.node(i)
    if n.domain not in ("", "ai.onnx") or n.op_type not in _REGION_OPS or len(n.output) != 1:
        return None
    if n.name.startswith(RESERVED_PREFIX):
        return None
    split = split_operands(g, n)
    return (split[0] or None) if split is not None else None


def regions(
    g: Graph,
    claimed: Collection[str],
    *,
    selects: bool = True,
    typed: bool = True,
    judge: Callable[[set[int], int, str], Any] | None = None,
    min_nodes: int = MIN_NODES,
) -> Iterator[tuple[set[int], int, Any]]:
    """``(nodes, root, verdict)`` of each candidate region of ``g`` (module doc), leaving out
    the nodes labelled in ``claimed``; with ``selects`` only regions holding a select or a
    comparison (XLA's piecewise lowerings). ``judge(nodes, root, x)`` names what a region
    computes (None: not taken, so the regions inside it are tried); without it the verdict is
    ``x``. ``typed=False`` skips the element type and shape checks (``g`` without value info):
    it finds a region wherever the typed search would."""
    varying: dict[int, list[str]] = {}
    for i in range(len(g.nodes)):
        if g.nodes[i] is None or g.label(i) in claimed:
            continue
        reads = _candidate(g, i)
        if reads is not None:
            varying[i] = reads
    if selects and not any(g.node(i).op_type in SELECTS for i in varying):
        return iter(())

    def accept(nodes: set[int], root: int) -> Any:
        """The verdict, when the region is big enough (and holds a select, if asked) and
        reads one float32 value x of the root output's shape."""
        if len(nodes) < min_nodes:
            return None
        if selects and not any(g.node(i).op_type in SELECTS for i in nodes):
            return None
        outs = {g.node(i).output[0] for i in nodes}
        ext = {v for i in nodes for v in varying[i] if v not in outs}
        if len(ext) != 1:
            return None
        x = next(iter(ext))
        if g.weights_only(x):  # folded when the model loads: no site
            return None
        if typed:
            vx, vy = g.info(x), g.info(g.node(root).output[0])
            if vx is None or vy is None or vx.shape != vy.shape:
                return None
            if vx.shape is None and not selects:  # a [1,1,1] constant could broadcast x's rank
                return None
            if not vx.elem_type == vy.elem_type == TensorProto.FLOAT:
                return None
        return x if judge is None else judge(nodes, root, x)

    return _until_stable(g, varying, accept)


def _until_stable(
    g: Graph, varying: dict[int, list[str]], accept: Callable[[set[int], int], Any]
) -> Iterator[tuple[set[int], int, Any]]:
    """``grown_regions`` again over what is left while a pass takes a region: a root tried
    before a region below it was taken grew into that region (tanh(silu(x)) is no function of
    the catalogue, tanh alone is)."""
    left = set(varying)
    while True:
        taken = False
        for nodes, root, verdict in grown_regions(
            g, sorted(left), accept, max_component=MAX_COMPONENT
        ):
            left -= nodes
            taken = True
            yield nodes, root, verdict
        if not taken:
            return


def _key(g: Graph, nodes: set[int], x: str, extra: str) -> str:
    """A digest of what the region computes, free of value names: regions spelled alike in
    every layer of a model share one cache entry."""
    h = hashlib.sha256(extra.encode())
    index: dict[str, int] = {}
    for k, i in enumerate(sorted(nodes)):
        n = g.node(i)
        h.update(f"|{n.domain}:{n.op_type}".encode())
        for a in sorted(n.attribute, key=lambda a: a.name):
            h.update(a.SerializeToString(deterministic=True))
        for v in n.input:
            if v == x:
                h.update(b"<x>")
            elif v in index:
                h.update(f"<{index[v]}>".encode())
            else:
                c = g.const(v) if v else None
                h.update(b"<>" if c is None else f"<{c.dtype}:{c.shape}>".encode() + c.tobytes())
        index[n.output[0]] = k
    return h.hexdigest()


def _cache_key(
    g: Graph,
    nodes: set[int],
    x: str,
    opset: int,
    rules: list[Rule] | None,
    parametric: bool,
    scaled: bool = False,
) -> str:
    ruleset = "\0".join(r.name for r in rules) if rules else ""
    return _key(g, nodes, x, f"{opset}/{parametric}/{'scaled/' if scaled else ''}{ruleset}")


def which(
    g: Graph,
    nodes: set[int],
    x: str,
    root: int,
    opset: int,
    rules: list[Rule] | None = None,
    parametric: bool = False,
    scaled: bool = False,
) -> Named | None:
    """``(function, params)`` of the ``SPELLINGS`` function the region computes, or None
    (cached per region); with ``parametric`` also a ``PARAMETRIC`` one (``("celu", {"alpha":
    2.0})``); with ``scaled`` also ``s * f`` for a ``SPELLINGS`` f (``("gelu", {"scale": 2.0})``).
    With ``rules``, a region whose output one of them already computes as a site is
    None, and so is one holding a rule site of the same function: those rule sites stand. A
    rule site of another function inside (a piece: the Tanh of SiLU spelled with tanh) does
    not."""
    key = _cache_key(g, nodes, x, opset, rules, parametric, scaled)
    if key in _SEEN:
        return _SEEN[key]
    alone = alone_model(g, nodes, x, g.node(root).output[0], opset)
    found, inside = None, []
    if rules is not None:
        inside = run(alone, rules, Options(dry_run=True))
    y = g.node(root).output[0]
    if not any(s.output == y for s in inside):
        try:
            vals = RegionFunction(alone)(GRID)
        except Exception:  # noqa: BLE001 - a region ORT cannot run alone is left as it is
            vals = None
        if vals is not None:
            found = _named(vals, parametric, scaled)
            if found is None and np.isnan(vals).any():
                fn, n, _, where = _closest(vals)
                if 0 < n <= NEAR * GRID.size and n == int(np.isnan(vals).sum()) and where:
                    _NAN[key] = (fn, n, where)  # the function, but NaN at n points
    if found is not None and any(s.function == found[0] for s in inside):
        # a rule site of the same function inside (SiLU, then a Cast to its own type; Softplus
        # under torch's threshold guard): that site stands, as it did before this search
        found = None
    if len(_SEEN) >= _CACHE_MAX:
        _SEEN.clear()
        _NAN.clear()
    _SEEN[key] = found
    return found


def _equal(vals: np.ndarray, ref: np.ndarray) -> bool:
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.abs(vals - ref) <= ATOL * np.maximum(1.0, np.abs(ref))))


def _named(vals: np.ndarray, parametric: bool, scaled: bool = False) -> Named | None:
    """The catalogue function ``vals`` (the region on ``GRID``) are, as ``which`` names it
    (params empty for ``SPELLINGS``: ``find`` takes them from the rules; a scaled one's
    ``{"scale": s}``)."""
    for name, ref in _REFERENCE.items():
        if _equal(vals, ref):
            return name, {}
    for name, ref in _REFERENCE.items() if scaled else ():
        i = _LARGEST[name]
        with np.errstate(all="ignore"):
            raw = float(vals[i] / ref[i])
        for sc in (float(f"{raw:.6g}"), raw):
            if SCALES[0] <= sc <= SCALES[1] and sc != 1.0 and _equal(vals, sc * ref):
                return name, {"scale": sc}
    for name, (param, read) in PARAMETRIC.items() if parametric else ():
        with np.errstate(all="ignore"):
            raw = float(read(vals))
        # as a person would have written it, else as read (SELU's alpha 1.6732632...)
        for p in (float(f"{raw:.6g}"), raw):
            if np.isfinite(p) and p > 0 and _equal(vals, get_function(name, **{param: p})(GRID)):
                return name, {param: p}
    return None


def _as_rule_site(name: str, opset: int, rules: list[Rule]) -> tuple[str, dict[str, float]]:
    """(function, params) a rule gives ``name``'s ONNX spelling: what an identified region of
    ``name`` is a site of (``softplus`` with beta 1, ``elu`` with alpha 1, ...)."""
    made: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []

    def c(v: float) -> str:
        inits.append(onnx.numpy_helper.from_array(np.array(v, np.float32), f"c{len(inits)}"))
        return inits[-1].name

    def mk(op: str, *ins: str, out: str | None = None) -> str:
        made.append(helper.make_node(op, list(ins), [out or f"v{len(made)}"]))
        return made[-1].output[0]

    SPELLINGS[name]("x", "y", c, mk)
    spec = [helper.make_tensor_value_info(v, TensorProto.FLOAT, [4]) for v in ("x", "y")]
    model = helper.make_model(
        helper.make_graph(made, "spelling", spec[:1], spec[1:], initializer=inits),
        opset_imports=[helper.make_opsetid("", opset)],
    )
    found = [s for s in run(model, rules, Options(dry_run=True)) if s.output == "y"]
    if not found:  # the library always reads these; a user's rule set might not
        return name, {}
    return found[0].function, found[0].params


IDENTIFIED = Rule("identified", Var("x"), "identified", spelling="identified by its values")


@dataclass(frozen=True)
class Found:
    """A region identified as ``function`` (``params`` as a rule gives them): it reads ``x``,
    its nodes write ``values`` (graph order), the last of them the site's output."""

    function: str
    params: dict[str, float]
    x: str
    values: tuple[str, ...]
    scale: float = 1.0


Judged = Callable[[Graph, set[int], int, str, "Named | None"], None]


def _search(
    model: onnx.ModelProto,
    rules: list[Rule],
    opset: int,
    seen: Judged | None = None,
    scaled: bool = True,
) -> tuple[Graph | None, list[tuple[set[int], int, str, Named]]]:
    """The search ``find``, ``explain`` and ``nan_notes`` share, on ``model``'s main graph:
    ``(graph, [(nodes, root, x, (function, params))])`` of the regions taken, ``seen(graph,
    nodes, root, x, named)`` called on every region judged. ``(None, [])`` when no region can
    exist (most models: no shape inference is spent on them)."""
    some = regions(Graph(model.graph), (), selects=False, typed=False, min_nodes=MIN_SPELLED)
    if next(iter(some), None) is None:
        return None, []
    g = Graph(model.graph, value_info=infer_value_info(model))
    xs: dict[int, str] = {}
    ruled: dict[int, int] | None = None  # node -> the node writing its rule site's output

    def part_of_a_rule_site(nodes: set[int]) -> bool:
        """Whether a rule site of the whole model holds some of ``nodes`` and ends outside
        them: x (1 + erf(x / sqrt 2)), 2 GELU, is most of every TorchScript GELU."""
        nonlocal ruled
        if ruled is None:
            at = {g.label(i): i for i in range(len(g.nodes)) if g.nodes[i] is not None}
            ruled = {}
            for site in run(model, rules, Options(dry_run=True)):
                end = g.producer.get(site.output)
                ruled.update({at[n]: end for n in site.nodes if n in at and end is not None})
        return any(i in ruled and ruled[i] not in nodes for i in nodes)

    def judge(nodes: set[int], root: int, x: str) -> Named | None:
        xs[root] = x
        named = which(g, nodes, x, root, opset, rules, parametric=True, scaled=scaled)
        if named is not None and "scale" in named[1] and part_of_a_rule_site(nodes):
            named = None
        if seen is not None:
            seen(g, nodes, root, x, named)
        return named

    taken = regions(g, (), selects=False, judge=judge, min_nodes=MIN_SPELLED)
    return g, [(nodes, root, xs[root], named) for nodes, root, named in taken]


def find(
    model: onnx.ModelProto, rules: list[Rule], opset: int, *, scaled: bool = True
) -> list[Found]:
    """The regions of ``model``'s main graph (before any site is replaced) that compute a
    ``SPELLINGS`` function and whose output no rule site computes, in graph order. The engine
    then leaves their nodes alone (``Options.reserved``): a rule site inside one (SiLU spelled
    ``x * 0.5 * (1 + tanh(x/2))`` holds a Tanh site) would be a piece of it. ``scaled``: also
    regions computing a multiple of a ``SPELLINGS`` function (``Found.scale``)."""
    g, taken = _search(model, rules, opset, scaled=scaled)
    out: list[tuple[int, Found]] = []
    for nodes, root, x, (function, params) in taken:
        assert g is not None
        params = dict(params)
        scale = params.pop("scale", 1.0)
        if not params:  # a SPELLINGS function: the params its rule gives it
            function, params = _as_rule_site(function, opset, rules)
        values = tuple(g.node(i).output[0] for i in sorted(nodes) if i != root)
        found = Found(function, params, x, (*values, g.node(root).output[0]), scale)
        out.append((root, found))
    return [f for _, f in sorted(out, key=lambda rf: rf[0])]


def rule_and_identified_sites(
    model: onnx.ModelProto,
    rules: list[Rule],
    opts: Options,
    opset: int,
    stats: Stats | None = None,
    *,
    scaled: bool = True,
) -> list[Site]:
    """The rule engine's sites of ``model``, then the regions no rule spells that compute a
    catalogue function (``find``, before anything is replaced; numbered after the rule sites
    of their function), each replaced when ``opts.select`` takes it, as ``engine.run`` does:
    what ``rewriter.emit`` and the torch.fx front end both find (the front end with ``scaled``
    off: its replacements compute the function itself)."""
    found = find(model, rules, opset, scaled=scaled)
    if found:  # the rules leave the identified regions' nodes alone
        reserved = frozenset(v for f in found for v in f.values)
        opts = dataclasses.replace(opts, reserved=reserved)
    sites = run(model, rules, opts, stats)
    if found:
        sites += identified_sites(
            model,
            found,
            Counter(s.function for s in sites),
            replace=None if opts.dry_run else opts.replacement,
            select=opts.select or (lambda s: True),
        )
    return sites


def identified_sites(
    model: onnx.ModelProto,
    found: list[Found],
    taken: Counter[str],
    *,
    replace: Callable[[Site, Rule, Graph], Emitted] | None,
    select: Callable[[Site], bool],
) -> list[Site]:
    """One site per ``found`` region (in place: the selected ones replaced by ``replace``, as the
    engine's ``Options.replacement``; None on a dry run). The rule sites are already replaced:
    the regions are found again by the values their nodes write.

    Args:
        taken: sites per function the rules found: identified ones are numbered after them
            (updated).
        select: which sites to replace.
    """
    g = Graph(model.graph, value_info=infer_value_info(model))
    sites: list[Site] = []
    stale: set[str] = set()
    for f in found:
        order = sorted(g.producer[v] for v in f.values if v in g.producer)
        if len(order) != len(f.values):  # pragma: no cover - the engine left them (reserved)
            continue
        vi = g.info(f.x)
        prod = g.producer_of(f.x)
        site = Site(
            name=f"{f.function}_{taken[f.function]}",
            function=f.function,
            params=dict(f.params),
            rule=IDENTIFIED.name,
            spelling=f"identified by its values ({len(order)} nodes"
            + (f", {f.scale:g} x {f.function})" if f.scale != 1.0 else ")"),
            input=f.x,
            output=f.values[-1],
            nodes=[g.label(i) for i in order],
            graph="",
            input_shape=list(vi.shape) if vi is not None and vi.shape is not None else None,
            dtype="float",
            producer_op=prod.op_type if prod is not None else None,
            scale=f.scale,
        )
        taken[f.function] += 1
        sites.append(site)
        if replace is None or not select(site):
            continue
        new, inits, info = replace(site, IDENTIFIED, g)
        stale.update(g.replace(order, g.producer[site.output], new, inits))
        site.replaced = True
        site.rational = info
    if any(s.replaced for s in sites):
        g.commit(stale=stale - {s.output for s in sites})
    return sites


NEAR = 0.1  # ``explain`` details a region off a function at no more than this share of points


def _closest(vals: np.ndarray) -> tuple[str, int, float, tuple[float, float] | None]:
    """(function, points off by more than ATOL, largest finite deviation there, the x range of
    those points) for the ``SPELLINGS``/``PARAMETRIC`` function nearest to ``vals``."""
    refs = dict(_REFERENCE)
    for name, (param, read) in PARAMETRIC.items():
        with np.errstate(all="ignore"):
            p = float(f"{read(vals):.6g}")
        if np.isfinite(p) and p > 0:
            refs[f"{name} {param}={p!r}"] = get_function(name, **{param: p})(GRID)
    best: tuple[str, int, float, tuple[float, float] | None] | None = None
    for name, ref in refs.items():
        with np.errstate(invalid="ignore"):
            dev = np.abs(vals - ref) / np.maximum(1.0, np.abs(ref))
        bad = ~(dev <= ATOL)
        n = int(bad.sum())
        finite = dev[bad & np.isfinite(dev)]
        worst = float(finite.max()) if finite.size else float("nan")
        where = (float(GRID[bad].min()), float(GRID[bad].max())) if n else None
        if best is None or n < best[1]:
            best = (name, n, worst if n else float(np.nanmax(dev)), where)
    assert best is not None
    return best


def explain(model: onnx.ModelProto, rules: list[Rule], opset: int) -> list[str]:
    """One line per region ``find`` judges (``rewrite explain MODEL --rule identified``): what it
    was identified as, or the nearest catalogue function and where the region departs from it
    (NaN where a select blends an inf branch, a constant off, a clamp)."""
    lines: list[str] = []
    far = 0

    def seen(g: Graph, nodes: set[int], root: int, x: str, named: Named | None) -> None:
        nonlocal far
        y = g.node(root).output[0]
        head = f"{g.label(root)} ({len(nodes)} nodes, {x!r} -> {y!r}): "
        if named is not None:
            fn, params = named
            ps = ", ".join(f"{k}={v:g}" for k, v in params.items())
            lines.append(head + f"identified as {fn}" + (f" ({ps})" if ps else ""))
            return
        try:
            vals = RegionFunction(alone_model(g, nodes, x, y, opset))(GRID)
        except Exception as e:  # noqa: BLE001 - said, not raised
            lines.append(head + f"cannot run alone in ONNX Runtime ({type(e).__name__})")
            return
        fn, n, worst, where = _closest(vals)
        if n == 0:
            lines.append(
                head + f"computes {fn}, but a rule site of it stands (ending here or inside)"
            )
        elif n > NEAR * GRID.size:
            far += 1
        else:
            said = [f"x in [{where[0]:g}, {where[1]:g}]"] if where is not None else []
            if nan := int(np.isnan(vals).sum()):
                said.append(f"the region is NaN at {nan} of them")
            if np.isfinite(worst):
                said.append(f"largest deviation {worst:.3g}, allowed {ATOL:g}")
            lines.append(
                head + f"nearest {fn}: off at {n} of {GRID.size} points ({'; '.join(said)})"
            )

    _search(model, rules, opset, seen)
    if far:
        lines.append(
            f"{far} other region(s) tried: none within {ATOL:g} of a catalogue function on "
            f"{1 - NEAR:.0%} of the points"
        )
    return lines


def nan_notes(model: onnx.ModelProto, rules: list[Rule], opset: int) -> list[str]:
    """One line per region of ``model`` that computes a catalogue function except where it is
    NaN (tf2onnx spells a select ``cond * a + (1 - cond) * b``, NaN wherever the branch not
    taken is inf): the model gives NaN for those inputs, which the user should know; such a
    region is no site. Empty for most models (the search is ``find``'s, its results cached)."""
    lines: list[str] = []

    def seen(g: Graph, nodes: set[int], root: int, x: str, named: Named | None) -> None:
        near = _NAN.get(_cache_key(g, nodes, x, opset, rules, True, True))
        if named is None and near is not None:
            fn, n, (lo, hi) = near
            lines.append(
                f"{g.label(root)} ({len(nodes)} nodes, reads {x!r}) computes {fn} except at "
                f"{n} of {GRID.size} points, x in [{lo:g}, {hi:g}], where it is NaN: the model "
                "gives NaN for such inputs (a select blended as cond*a + (1-cond)*b with an inf "
                "branch?); not a site"
            )

    _search(model, rules, opset, seen)
    return lines
