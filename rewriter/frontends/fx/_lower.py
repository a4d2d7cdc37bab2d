"""The lowering table: what ONNX nodes one torch.fx node computes.

torch.fx records one computation in many spellings: ``nn.GELU()`` is a ``call_module`` node,
``F.gelu`` a ``call_function``, ``x.tanh()`` a ``call_method`` (``F.tanh`` too: it calls
``input.tanh()``), and after the torch.export fallback every one of them is an ATen overload
(``aten.gelu.default``). :func:`lower_node` maps each spelling to a canonical op name (``gelu``)
and the op's emitter writes the ONNX nodes an exporter would write for it, so the ONNX rule
library matches them:

    torch.sigmoid / F.sigmoid / x.sigmoid() / nn.Sigmoid / aten.sigmoid -> Sigmoid(x)
    operator.mul / torch.mul / x.mul / aten.mul                          -> Mul(a, b)
    F.silu / nn.SiLU / aten.silu                                         -> Mul(x, Sigmoid(x))
    nn.ELU(alpha) / F.elu / aten.elu                                     -> Elu(x, alpha=...)
    F.relu6 / nn.Hardtanh(0, 6) / torch.clamp(x, 0, 6)                   -> Clip(x, 0, 6)
    nn.GLU(dim) / F.glu(x, dim) / aten.glu                               -> Mul(a, Sigmoid(b))
        where a, b = Split(x, axis=dim, num_outputs=2)

Python scalars become scalar initializers (``<node>/c<k>``) and module attributes or call
arguments become the ONNX op's attributes. ``softplus`` with ``beta != 1`` has no ONNX spelling:
it is ``Softplus(x)`` with an extra ``beta`` attribute, which :data:`FX_RULES` matches. Anything
the table does not know (``torch.add(alpha=2)``, ``div(rounding_mode=...)``, tensor-valued
parameters) raises :class:`NotLowered`; the adapter then writes one opaque node that no rule
matches.

A GLU is one fx node whose lowering holds a site that is only a part of it: the sigmoid of
``a * sigmoid(b)``, which the ONNX path finds in an exporter's Split + Sigmoid + Mul. Such a node
(:data:`DECOMPOSABLE`) is written back by :func:`decompose` as fx nodes, one per ONNX node of its
lowering (``torch.chunk`` + ``getitem``, ``torch.sigmoid``, ``operator.mul``), so the site then
covers whole fx nodes; the rewrite does this only where it replaces such a site, and a GLU kept
stays one node.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper
from torch import fx, nn

from rewriter.functions import SELU_ALPHA, SELU_SCALE
from rewriter.match.pattern import Param, Var, op
from rewriter.match.rules import Rule

__all__ = [
    "DECOMPOSABLE",
    "FX_RULES",
    "Lowered",
    "NotLowered",
    "decompose",
    "lower_node",
    "spelling",
]

aten = torch.ops.aten


class NotLowered(Exception):
    """The node is not in the table (or uses an argument the table cannot express)."""


@dataclass
class Lowered:
    """The ONNX nodes one fx node became; the last one's output is named after the fx node.

    Attributes:
        decomposable: a site may be a part of these nodes (:data:`DECOMPOSABLE`).
    """

    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    inplace: bool = False
    decomposable: bool = False


class _Ref(str):
    """A value an earlier node of the same lowering produced."""


class _Builder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.out = Lowered()

    def value(self, v: Any) -> str:
        """The value name of an operand: an fx node's name, or a new scalar initializer."""
        if isinstance(v, fx.Node):
            return v.name
        if isinstance(v, _Ref):
            return str(v)
        if v is None:
            return ""
        c = _number(v)
        name = f"{self.name}/c{len(self.out.initializers)}"
        self.out.initializers.append(
            onnx.numpy_helper.from_array(np.array(c, dtype=np.float32), name)
        )
        return name

    def op(self, op_type: str, *inputs: Any, **attrs: Any) -> _Ref:
        name = f"{self.name}/{len(self.out.nodes)}"
        ins = [self.value(i) for i in inputs]
        while ins and not ins[-1]:
            ins.pop()
        self.out.nodes.append(helper.make_node(op_type, ins, [name], name=name, **attrs))
        return _Ref(name)

    def ops(self, op_type: str, n: int, *inputs: Any, **attrs: Any) -> tuple[_Ref, ...]:
        """An op with ``n`` outputs (Split), named ``<node>/<k>:<i>``."""
        name = f"{self.name}/{len(self.out.nodes)}"
        outs = [f"{name}:{i}" for i in range(n)]
        ins = [self.value(i) for i in inputs]
        self.out.nodes.append(helper.make_node(op_type, ins, outs, name=name, **attrs))
        return tuple(_Ref(o) for o in outs)

    def done(self) -> Lowered:
        last = self.out.nodes[-1]
        last.name = last.output[0] = self.name
        return self.out


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise NotLowered(f"{v!r} is not a finite number")
    return float(v)


# -- emitters: canonical name -> (argument names after the input, emit(builder, x, args)) ----
Emit = Callable[[_Builder, Any, dict[str, Any]], None]


def _unary(op_type: str, **attrs: Any) -> Emit:
    def emit(b: _Builder, x: Any, a: dict[str, Any]) -> None:
        b.op(op_type, x, **attrs)

    return emit


def _with_attr(op_type: str, attr: str, arg: str) -> Emit:
    """An op whose attribute ``attr`` is the call's argument ``arg`` (Elu alpha, ...)."""

    def emit(b: _Builder, x: Any, a: dict[str, Any]) -> None:
        b.op(op_type, x, **{attr: _number(a[arg])})

    return emit


def _binary(op_type: str, swap: bool = False) -> Emit:
    def emit(b: _Builder, x: Any, a: dict[str, Any]) -> None:
        other = a["other"]
        if a.get("alpha", 1) != 1 or a.get("rounding_mode") is not None:
            raise NotLowered("alpha or rounding_mode")
        if not isinstance(x, fx.Node) and not isinstance(other, fx.Node):
            raise NotLowered("no tensor operand")
        b.op(op_type, *((other, x) if swap else (x, other)))

    return emit


def _silu(b: _Builder, x: Any, a: dict[str, Any]) -> None:
    b.op("Mul", x, b.op("Sigmoid", x))  # how every exporter writes SiLU before opset 22


def _log1p(b: _Builder, x: Any, a: dict[str, Any]) -> None:
    b.op("Log", b.op("Add", x, 1.0))


def _expm1(b: _Builder, x: Any, a: dict[str, Any]) -> None:
    b.op("Sub", b.op("Exp", x), 1.0)  # ONNX has no Expm1; what the exporters write


def _erfc(b: _Builder, x: Any, a: dict[str, Any]) -> None:
    b.op("Sub", 1.0, b.op("Erf", x))


def _where(b: _Builder, x: Any, a: dict[str, Any]) -> None:
    if a["input"] is None or a["other"] is None:
        raise NotLowered("where(condition) alone")
    b.op("Where", x, a["input"], a["other"])


def _glu(b: _Builder, x: Any, a: dict[str, Any]) -> None:
    dim = a["dim"]
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise NotLowered(f"dim={dim!r}")
    first, second = b.ops("Split", 2, x, axis=dim, num_outputs=2)
    b.op("Mul", first, b.op("Sigmoid", second))  # the TorchScript exporter's glu


def _gelu(b: _Builder, x: Any, a: dict[str, Any]) -> None:
    if a["approximate"] not in ("none", "tanh"):
        raise NotLowered(f"approximate={a['approximate']!r}")
    b.op("Gelu", x, approximate=a["approximate"])


def _softplus(b: _Builder, x: Any, a: dict[str, Any]) -> None:
    beta = _number(a["beta"])
    b.op("Softplus", x, **({} if beta == 1.0 else {"beta": beta}))  # beta: see FX_RULES


def _elu_aten(b: _Builder, x: Any, a: dict[str, Any]) -> None:
    alpha, scale = _number(a["alpha"]), _number(a["scale"])
    if _number(a["input_scale"]) != 1.0:
        raise NotLowered("input_scale != 1")
    if scale == 1.0:
        b.op("Elu", x, alpha=alpha)
    elif math.isclose(alpha, SELU_ALPHA, rel_tol=1e-6):
        b.op("Selu", x, alpha=alpha, gamma=scale)
    else:
        raise NotLowered("scaled elu")


def _clip(lo: str | float, hi: str | float) -> Emit:
    """Clip(x, lo, hi): argument names, or constant bounds (relu6)."""

    def emit(b: _Builder, x: Any, a: dict[str, Any]) -> None:
        b.op("Clip", x, a[lo] if isinstance(lo, str) else lo, a[hi] if isinstance(hi, str) else hi)

    return emit


_NO_ARGS: tuple[tuple[str, Any], ...] = ()
_INPLACE = (("inplace", False),)

# canonical name -> (arguments after the input with defaults, emitter)
_OPS: dict[str, tuple[tuple[tuple[str, Any], ...], Emit]] = {
    "mul": ((("other", None),), _binary("Mul")),
    "add": ((("other", None), ("alpha", 1)), _binary("Add")),
    "sub": ((("other", None), ("alpha", 1)), _binary("Sub")),
    "rsub": ((("other", None), ("alpha", 1)), _binary("Sub", swap=True)),
    "div": ((("other", None), ("rounding_mode", None)), _binary("Div")),
    "pow": ((("other", None),), _binary("Pow")),
    "rpow": ((("other", None),), _binary("Pow", swap=True)),
    "neg": (_NO_ARGS, _unary("Neg")),
    "abs": (_NO_ARGS, _unary("Abs")),
    "erf": (_NO_ARGS, _unary("Erf")),
    "exp": (_NO_ARGS, _unary("Exp")),
    "log": (_NO_ARGS, _unary("Log")),
    "log1p": (_NO_ARGS, _log1p),
    "expm1": (_NO_ARGS, _expm1),
    "erfc": (_NO_ARGS, _erfc),
    "maximum": ((("other", None),), _binary("Max")),
    "minimum": ((("other", None),), _binary("Min")),
    "gt": ((("other", None),), _binary("Greater")),
    "lt": ((("other", None),), _binary("Less")),
    "ge": ((("other", None),), _binary("GreaterOrEqual")),
    "le": ((("other", None),), _binary("LessOrEqual")),
    "where": ((("input", None), ("other", None)), _where),  # where(condition, input, other)
    "sqrt": (_NO_ARGS, _unary("Sqrt")),
    "reciprocal": (_NO_ARGS, _unary("Reciprocal")),
    "tanh": (_NO_ARGS, _unary("Tanh")),
    "sigmoid": (_NO_ARGS, _unary("Sigmoid")),
    "relu": (_INPLACE, _unary("Relu")),
    "gelu": ((("approximate", "none"),), _gelu),
    "silu": (_INPLACE, _silu),
    "mish": (_INPLACE, _unary("Mish")),
    "hardswish": (_INPLACE, _unary("HardSwish")),
    "hardsigmoid": (_INPLACE, _unary("HardSigmoid", alpha=1.0 / 6.0, beta=0.5)),
    "softsign": (_NO_ARGS, _unary("Softsign")),
    "softplus": ((("beta", 1.0), ("threshold", 20.0)), _softplus),
    "elu": ((("alpha", 1.0), ("inplace", False)), _with_attr("Elu", "alpha", "alpha")),
    "aten_elu": ((("alpha", 1.0), ("scale", 1.0), ("input_scale", 1.0)), _elu_aten),
    "selu": (_INPLACE, _unary("Selu", alpha=SELU_ALPHA, gamma=SELU_SCALE)),
    "celu": ((("alpha", 1.0), ("inplace", False)), _with_attr("Celu", "alpha", "alpha")),
    "leaky_relu": (
        (("negative_slope", 0.01), ("inplace", False)),
        _with_attr("LeakyRelu", "alpha", "negative_slope"),
    ),
    "relu6": (_INPLACE, _clip(0.0, 6.0)),
    "hardtanh": (
        (("min_val", -1.0), ("max_val", 1.0), ("inplace", False)),
        _clip("min_val", "max_val"),
    ),
    "clamp": ((("min", None), ("max", None)), _clip("min", "max")),
    "glu": ((("dim", -1),), _glu),
}

# Ops whose lowering may hold a site that is only a part of it (module docstring).
DECOMPOSABLE = frozenset({"glu"})

# -- spellings: how each canonical op appears in a traced graph -----------------------------
_FUNCTIONS: dict[Any, str] = {
    operator.mul: "mul", torch.mul: "mul", operator.add: "add", torch.add: "add",
    operator.sub: "sub", torch.sub: "sub", operator.truediv: "div", torch.div: "div",
    torch.true_divide: "div", operator.pow: "pow", torch.pow: "pow", operator.neg: "neg",
    torch.neg: "neg", operator.abs: "abs", torch.abs: "abs", torch.erf: "erf",
    torch.special.erf: "erf", torch.exp: "exp", torch.log: "log", torch.log1p: "log1p",
    torch.sqrt: "sqrt", torch.reciprocal: "reciprocal", torch.tanh: "tanh",
    torch.sigmoid: "sigmoid", torch.special.expit: "sigmoid", F.gelu: "gelu", F.silu: "silu",
    F.mish: "mish", F.hardswish: "hardswish", F.hardsigmoid: "hardsigmoid",
    F.softsign: "softsign", F.softplus: "softplus", F.elu: "elu", F.selu: "selu",
    torch.selu: "selu", F.celu: "celu", torch.celu: "celu", F.leaky_relu: "leaky_relu",
    F.relu: "relu", torch.relu: "relu", F.relu6: "relu6", F.hardtanh: "hardtanh",
    torch.clamp: "clamp", torch.clip: "clamp", torch.expm1: "expm1",
    torch.special.expm1: "expm1", torch.erfc: "erfc", torch.special.erfc: "erfc",
    torch.maximum: "maximum", torch.minimum: "minimum", operator.gt: "gt", torch.gt: "gt",
    operator.lt: "lt", torch.lt: "lt", operator.ge: "ge", torch.ge: "ge", operator.le: "le",
    torch.le: "le", torch.where: "where", F.glu: "glu",
}  # fmt: skip
_METHODS = {
    "mul": "mul", "add": "add", "sub": "sub", "div": "div", "true_divide": "div", "pow": "pow",
    "neg": "neg", "abs": "abs", "erf": "erf", "exp": "exp", "log": "log", "log1p": "log1p",
    "sqrt": "sqrt", "reciprocal": "reciprocal", "tanh": "tanh", "sigmoid": "sigmoid",
    "relu": "relu", "clamp": "clamp", "clip": "clamp", "expm1": "expm1", "erfc": "erfc",
    "maximum": "maximum", "minimum": "minimum", "gt": "gt", "lt": "lt", "ge": "ge", "le": "le",
}  # fmt: skip
# ATen overload packets (torch.export fallback); the in-place ``name_`` reads the same
_ATEN = {name: name for name in _OPS if name != "aten_elu"} | {"elu": "aten_elu"}
_ATEN |= {"clip": "clamp"}
_ARITH = {"mul", "add", "sub", "rsub", "div", "pow", "rpow", "neg", "abs"}
_BINARY = {"mul", "add", "sub", "div", "pow", "maximum", "minimum", "gt", "lt", "ge", "le"}

_MODULES: list[tuple[type, Callable[[Any], tuple[str, dict[str, Any]]]]] = [
    (nn.GELU, lambda m: ("gelu", {"approximate": m.approximate})),
    (nn.SiLU, lambda m: ("silu", {})),
    (nn.Mish, lambda m: ("mish", {})),
    (nn.Hardswish, lambda m: ("hardswish", {})),
    (nn.Hardsigmoid, lambda m: ("hardsigmoid", {})),
    (nn.Tanh, lambda m: ("tanh", {})),
    (nn.Sigmoid, lambda m: ("sigmoid", {})),
    (nn.ELU, lambda m: ("elu", {"alpha": m.alpha})),
    (nn.SELU, lambda m: ("selu", {})),
    (nn.CELU, lambda m: ("celu", {"alpha": m.alpha})),
    (nn.Softplus, lambda m: ("softplus", {"beta": m.beta, "threshold": m.threshold})),
    (nn.Softsign, lambda m: ("softsign", {})),
    (nn.LeakyReLU, lambda m: ("leaky_relu", {"negative_slope": m.negative_slope})),
    (nn.ReLU6, lambda m: ("relu6", {})),  # before Hardtanh: ReLU6 subclasses it
    (nn.ReLU, lambda m: ("relu", {})),
    (nn.Hardtanh, lambda m: ("hardtanh", {"min_val": m.min_val, "max_val": m.max_val})),
    (nn.GLU, lambda m: ("glu", {"dim": m.dim})),
]

# Spellings only this lowering emits (torch's softplus(beta) has no ONNX op); tried first.
FX_RULES = [
    Rule(
        "softplus_beta",
        op.Softplus(Var("x"), beta=Param("beta")),
        "softplus",
        spelling="torch softplus(beta != 1) (fx lowering)",
    ),
]


def _aten(target: Any) -> tuple[str, bool] | None:
    """``aten.relu_.default`` -> ``("relu", True)``; ``None`` for non-ATen targets."""
    if not isinstance(target, torch._ops.OpOverload) or target.namespace != "aten":
        return None
    name = target.overloadpacket.__name__
    return (name[:-1], True) if name.endswith("_") else (name, False)


def spelling(node: fx.Node) -> str:
    """How a one-node site was written: ``module``, ``method``, ``aten`` or ``function``."""
    if node.op == "call_module":
        return "module"
    if node.op == "call_method":
        return "method"
    return "aten" if _aten(node.target) is not None else "function"


def _canonical(node: fx.Node, root: nn.Module) -> tuple[str, tuple[Any, ...], dict[str, Any], bool]:
    """(canonical name, args, kwargs, in place) of a node, or NotLowered."""
    args, kwargs = tuple(node.args), dict(node.kwargs)
    if node.op == "call_module":
        mod = root.get_submodule(str(node.target))
        for cls, read in _MODULES:
            if isinstance(mod, cls):
                if len(args) != 1 or node.kwargs:
                    raise NotLowered("module called with more than one input")
                name, attrs = read(mod)
                return name, args, attrs, bool(getattr(mod, "inplace", False))
        raise NotLowered(type(mod).__name__)
    found: str | None = None
    inplace = False
    if node.op == "call_method":
        target = str(node.target)
        inplace = target.endswith("_") and not target.endswith("__")
        found = _METHODS.get(target[:-1] if inplace else target)
    elif node.op == "call_function":
        a = _aten(node.target)
        if a is not None:
            found, inplace = _ATEN.get(a[0]), a[1]
        else:
            try:
                found = _FUNCTIONS.get(node.target)
            except TypeError:  # unhashable target
                found = None
    if found is None:
        raise NotLowered(f"{node.op} {node.target}")
    return found, args, kwargs, inplace


def lower_node(node: fx.Node, root: nn.Module) -> Lowered:
    """The ONNX nodes ``node`` computes, named ``node.name`` (last) and ``node.name/<k>``.

    Raises:
        NotLowered: for a node outside the table; the caller writes an opaque node.
    """
    name, args, kwargs, inplace = _canonical(node, root)
    if not args:
        raise NotLowered("no input")
    spec, emit = _OPS[name]
    if len(args) > 1 + len(spec):
        raise NotLowered("too many arguments")
    bound: dict[str, Any] = dict(spec)
    for (key, _), v in zip(spec, args[1:], strict=False):  # fewer args than spec
        bound[key] = v
    for key, v in kwargs.items():
        if key in ("out",) and v is not None:
            raise NotLowered("out=")
        if key in ("input", "self"):
            continue
        if key in ("exponent",):  # torch.pow(input, exponent)
            key = "other"
        if key not in bound:
            raise NotLowered(f"argument {key}")
        bound[key] = v
    if name in _BINARY and "other" not in kwargs and len(args) < 2:
        raise NotLowered("binary op with one operand")
    if inplace and name in _ARITH:
        raise NotLowered("in-place arithmetic")
    inplace = inplace or bool(bound.pop("inplace", False))
    b = _Builder(node.name)
    emit(b, args[0], bound)
    out = b.done()
    out.inplace = inplace
    out.decomposable = name in DECOMPOSABLE
    return out


# How :func:`decompose` writes the ONNX ops of a decomposable lowering as fx calls (Split aside).
_FX_CALLS: dict[str, Callable[..., Any]] = {"Sigmoid": torch.sigmoid, "Mul": operator.mul}


def decompose(node: fx.Node, root: nn.Module) -> dict[str, fx.Node]:
    """Write ``node`` in its graph as fx nodes, one per ONNX node of its lowering, in its place.

    A site inside a GLU (its sigmoid) then covers whole fx nodes and is replaced like any other:

        glu = F.glu(x, 1)   ->   chunk = torch.chunk(x, 2, dim=1)
                                 a, b = chunk[0], chunk[1]
                                 glu = a * torch.sigmoid(b)

    The node's users read the last fx node instead, which takes over its ``val`` and
    ``tensor_meta``; ``node`` is erased.

    Returns:
        ONNX node names and value names of the lowering -> the fx nodes that compute them (a
        Split's node name -> its ``torch.chunk``, each output -> a ``getitem``; the node's
        inputs by name as well).

    Raises:
        NotLowered: for a node that is not :data:`DECOMPOSABLE`.
    """
    low = lower_node(node, root)
    if not low.decomposable:
        raise NotLowered(f"{node.op} {node.target} is not decomposable")
    graph = node.graph
    values = {n.name: n for n in node.all_input_nodes}
    with graph.inserting_before(node):
        for n in low.nodes:
            ins = tuple(values[i] for i in n.input)
            if n.op_type == "Split":
                axis = helper.get_attribute_value(next(a for a in n.attribute if a.name == "axis"))
                chunks = graph.call_function(torch.chunk, (*ins, len(n.output)), {"dim": axis})
                values[n.name] = chunks
                for i, out in enumerate(n.output):
                    values[out] = graph.call_function(operator.getitem, (chunks, i))
            else:
                values[n.output[0]] = graph.call_function(_FX_CALLS[n.op_type], ins)
    last = values[node.name]
    last.meta = {k: v for k, v in node.meta.items() if k in ("val", "tensor_meta")}
    node.replace_all_uses_with(last)
    graph.erase_node(node)
    return values
