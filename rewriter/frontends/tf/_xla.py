"""XLA's lowerings of smooth functions, identified by their values.

jax2tf hands TensorFlow what XLA made of a function: ``jax.nn.gelu(approximate=False)`` arrives
as erfc expanded into guarded polynomials (about 70 elementwise nodes: a polynomial in z^2 for
|z| < 1, exp(-z^2)/|z| times two rational pieces beyond, selects between them), a spelling no
rule can write down and a reader cannot recognise. A one-input elementwise region that holds a
select or a comparison, and that no rule matches, is run alone in ONNX Runtime on a grid; when
it equals a catalogue function there to float32 rounding, it is replaced by that function's
ONNX spelling (GELU: ``0.5 x (1 + erf(x / sqrt 2))``), which the rules match and which computes
the same values.

Regions: maximal connected sets of elementwise nodes (arithmetic, comparisons, boolean ops,
Where, Cast) whose other operands are scalar constants, grown from each root backwards and
shrunk until no value but the root's leaves them (as ``pau_learned``'s, with selects and bools
inside); the root's output and its one varying input ``x`` are float32 and of one shape. Main
graph only.

Identified means: on 4801 points in [-12, 12] and at +-30, +-100, ``|region - f| <= ATOL *
max(1, |f|)`` everywhere, for f in ``SPELLINGS`` (float64 references from
``rewriter.functions``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rewriter.functions import get_function
from rewriter.ir import Graph, infer_value_info
from rewriter.passes.learned import RegionFunction, alone_model, grown_regions, split_operands

_SELECTS = frozenset(
    {"Where", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Equal", "Not", "And", "Or"}
)
# one output, elementwise and broadcasting: what a Reshape commutes with beside scalar
# constants (the TensorFlow front end's other normalization); regions here are made of these
# and of Casts (tf2onnx's select blend casts the condition)
ELEMENTWISE = _SELECTS | {
    "Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Tanh", "Sigmoid", "Erf", "Relu",
    "Softplus", "Softsign", "Elu", "Selu", "Celu", "LeakyRelu", "HardSigmoid", "HardSwish",
    "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "IsNaN", "Identity", "Add", "Sub", "Mul",
    "Div", "Pow", "Max", "Min", "Clip",
}  # fmt: skip
_REGION_OPS = ELEMENTWISE | {"Cast"}
MIN_NODES = 5
ATOL = 2e-6
GRID = np.concatenate([np.linspace(-12.0, 12.0, 4801), [-100.0, -30.0, 30.0, 100.0]])


def _gelu(x: str, out: str, c: Callable[[float], str], mk: Callable[..., str]) -> None:
    erf = mk("Erf", mk("Mul", x, c(0.7071067811865476)))
    mk("Mul", mk("Mul", x, c(0.5)), mk("Add", erf, c(1.0)), out=out)


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
    "silu": _silu,
    "mish": _mish,
    "sigmoid": _native("Sigmoid"),
    "tanh": _native("Tanh"),
    "softplus": _native("Softplus"),
    "elu": _native("Elu"),
    "softsign": _native("Softsign"),
}


def identify(model: onnx.ModelProto) -> dict[str, int]:
    """Replace, in place, each region of ``model``'s main graph that no rule matches and that
    computes a ``SPELLINGS`` function by that function's spelling; returns the count per
    function."""
    from rewriter.match.engine import Options, run
    from rewriter.match.rules import all_rules

    if not any(n.op_type in _SELECTS for n in model.graph.node):
        return {}
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    sites = run(probe, all_rules(), Options(dry_run=True))
    claimed = {n for s in sites if not s.graph for n in s.nodes}
    g = Graph(model.graph, value_info=infer_value_info(model))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    found: dict[str, int] = {}
    for nodes, root, x in list(_regions(g, claimed)):
        name = _which(g, nodes, x, root, opset)
        if name is None:
            continue
        _replace(g, nodes, x, root, name, found.get(name, 0))
        found[name] = found.get(name, 0) + 1
    if found:
        g.commit()
        live = {o for n in model.graph.node for o in n.output}
        kept = [v for v in model.graph.value_info if v.name in live]
        del model.graph.value_info[:]
        model.graph.value_info.extend(kept)
    return found


def _candidate(g: Graph, i: int) -> list[str] | None:
    """The varying inputs of node ``i`` when it is elementwise with scalar constants, else None."""
    n = g.node(i)
    if n.domain not in ("", "ai.onnx") or n.op_type not in _REGION_OPS or len(n.output) != 1:
        return None
    split = split_operands(g, n)
    return (split[0] or None) if split is not None else None


def _regions(g: Graph, claimed: set[str]) -> Iterator[tuple[set[int], int, str]]:
    varying: dict[int, list[str]] = {}
    for i in range(len(g.nodes)):
        reads = _candidate(g, i) if g.label(i) not in claimed else None
        if reads is not None:
            varying[i] = reads

    def accept(nodes: set[int], root: int) -> str | None:
        """x, when the region is big, holds a select and reads one float32 value x of the
        root output's shape."""
        if len(nodes) < MIN_NODES or not any(g.node(i).op_type in _SELECTS for i in nodes):
            return None
        outs = {g.node(i).output[0] for i in nodes}
        ext = {v for i in nodes for v in varying[i] if v not in outs}
        if len(ext) != 1:
            return None
        x = next(iter(ext))
        vx, vy = g.info(x), g.info(g.node(root).output[0])
        if vx is None or vy is None or vx.shape != vy.shape:
            return None
        return x if vx.elem_type == vy.elem_type == TensorProto.FLOAT else None

    return grown_regions(g, list(varying), accept)


def _which(g: Graph, nodes: set[int], x: str, root: int, opset: int) -> str | None:
    """The ``SPELLINGS`` function the region computes, or None."""
    try:
        vals = RegionFunction(alone_model(g, nodes, x, g.node(root).output[0], opset))(GRID)
    except Exception:  # noqa: BLE001 - a region ORT cannot run alone is left as it is
        return None
    for name in SPELLINGS:
        ref = get_function(name)(GRID)
        with np.errstate(invalid="ignore"):
            if np.all(np.abs(vals - ref) <= ATOL * np.maximum(1.0, np.abs(ref))):
                return name
    return None


def _replace(g: Graph, nodes: set[int], x: str, root: int, name: str, k: int) -> None:
    out = g.node(root).output[0]
    base = f"xla_{name}_{k}"
    made: list[onnx.NodeProto] = []

    def c(v: float) -> str:
        cname = f"{base}/c{len(made)}_{v:.9g}"
        g.add_initializer(numpy_helper.from_array(np.array(v, np.float32), cname))
        return cname

    def mk(op: str, *ins: str, out: str | None = None) -> str:
        o = out or f"{base}/{op.lower()}{len(made)}"
        made.append(helper.make_node(op, list(ins), [o], name=f"{base}/{op}{len(made)}"))
        return o

    SPELLINGS[name](x, out, c, mk)
    for i in nodes:
        g.remove(i)
    g.insert_at(root, made)
