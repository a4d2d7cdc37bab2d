"""What one torch.fx node computes, independent of how it was spelled.

torch.fx records the same computation in many ways: ``nn.GELU()`` is a ``call_module`` node,
``F.gelu`` a ``call_function`` on ``torch._C._nn.gelu``, ``x.tanh()`` a ``call_method``,
``F.tanh`` also a ``call_method`` (it calls ``input.tanh()``), and after the torch.export
fallback every one of them is an ATen overload (``aten.gelu.default``). This module maps each
spelling to one canonical description, so the matcher (``_formulas``) and the site finder
(``rewrite``) look at one vocabulary:

- :func:`activation` -> ``Activation(function, params, spelling, inplace)`` for a node that is
  one whole activation from the catalogue (``rewriter.functions``), or ``None``.
- :func:`arith` -> ``(op, operands)`` for the elementwise arithmetic and gates that formulas are
  written with (``mul add sub div pow neg abs sigmoid tanh erf softplus relu6 hardsigmoid``).

Scalars are Python numbers in the node's args; scalar tensors (``get_attr``) are not folded.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.fx import Node

from rewriter.functions import SELU_ALPHA, SELU_SCALE

__all__ = ["Activation", "activation", "arith", "is_number", "node_position"]

aten = torch.ops.aten


@dataclass(frozen=True)
class Activation:
    """One node that computes a catalogue activation.

    Attributes:
        function: canonical name in ``rewriter.functions.FUNCTIONS``.
        params: the function's parameters read from the module or the call (``alpha``, ``beta``).
        spelling: ``"module"``, ``"function"``, ``"method"`` or ``"aten"``.
        inplace: the node overwrites its input (``nn.ReLU(inplace=True)``, ``aten.relu_``).
    """

    function: str
    params: dict[str, float] = field(default_factory=dict)
    spelling: str = "function"
    inplace: bool = False


def is_number(v: Any) -> bool:
    """A Python scalar usable as a formula constant (bools are not numbers here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _arg(node: Node, index: int, name: str, default: Any) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _relu6_range(lo: Any, hi: Any) -> bool:
    return is_number(lo) and is_number(hi) and float(lo) == 0.0 and float(hi) == 6.0


# ---------------------------------------------------------------------------------------------
# Modules: type -> reader(module) -> (function, params) or None.


def _gelu_module(m: nn.GELU) -> tuple[str, dict[str, float]]:
    return ("gelu_tanh" if m.approximate == "tanh" else "gelu"), {}


def _softplus_module(m: nn.Softplus) -> tuple[str, dict[str, float]]:
    return "softplus", {"beta": float(m.beta)}


def _hardtanh_module(m: nn.Hardtanh) -> tuple[str, dict[str, float]] | None:
    return ("relu6", {}) if _relu6_range(m.min_val, m.max_val) else None


_MODULES: list[tuple[type, Callable[[Any], tuple[str, dict[str, float]] | None]]] = [
    (nn.GELU, _gelu_module),
    (nn.SiLU, lambda m: ("silu", {})),
    (nn.Mish, lambda m: ("mish", {})),
    (nn.Hardswish, lambda m: ("hardswish", {})),
    (nn.Hardsigmoid, lambda m: ("hardsigmoid", {})),
    (nn.Tanh, lambda m: ("tanh", {})),
    (nn.Sigmoid, lambda m: ("sigmoid", {})),
    (nn.ELU, lambda m: ("elu", {"alpha": float(m.alpha)})),
    (nn.SELU, lambda m: ("selu", {})),
    (nn.CELU, lambda m: ("celu", {"alpha": float(m.alpha)})),
    (nn.Softplus, _softplus_module),
    (nn.Softsign, lambda m: ("softsign", {})),
    (nn.LeakyReLU, lambda m: ("leaky_relu", {"alpha": float(m.negative_slope)})),
    (nn.ReLU6, lambda m: ("relu6", {})),  # before Hardtanh: ReLU6 subclasses it
    (nn.ReLU, lambda m: ("relu", {})),
    (nn.Hardtanh, _hardtanh_module),
]


def _module_activation(node: Node, root: nn.Module) -> Activation | None:
    try:
        mod = root.get_submodule(str(node.target))
    except AttributeError:
        return None
    for cls, read in _MODULES:
        if type(mod) is cls or (cls is not nn.Hardtanh and isinstance(mod, cls)):
            found = read(mod)
            if found is None:
                return None
            return Activation(found[0], found[1], "module", bool(getattr(mod, "inplace", False)))
    return None


# ---------------------------------------------------------------------------------------------
# Functions (torch, torch.nn.functional, aten): target -> reader(node) -> (function, params).

Reader = Callable[[Node], "tuple[str, dict[str, float]] | None"]


def _const(function: str) -> Reader:
    return lambda n: (function, {})


def _gelu_call(n: Node) -> tuple[str, dict[str, float]]:
    return ("gelu_tanh" if _arg(n, 1, "approximate", "none") == "tanh" else "gelu"), {}


def _with(function: str, index: int, kw: str, default: float, param: str) -> Reader:
    def read(n: Node) -> tuple[str, dict[str, float]] | None:
        v = _arg(n, index, kw, default)
        return (function, {param: float(v)}) if is_number(v) else None

    return read


def _hardtanh_call(n: Node) -> tuple[str, dict[str, float]] | None:
    lo, hi = _arg(n, 1, "min_val", -1.0), _arg(n, 2, "max_val", 1.0)
    return ("relu6", {}) if _relu6_range(lo, hi) else None


def _clamp_call(n: Node) -> tuple[str, dict[str, float]] | None:
    lo, hi = _arg(n, 1, "min", None), _arg(n, 2, "max", None)
    return ("relu6", {}) if _relu6_range(lo, hi) else None


def _aten_hardtanh(n: Node) -> tuple[str, dict[str, float]] | None:
    return (
        ("relu6", {})
        if _relu6_range(_arg(n, 1, "min_val", -1.0), _arg(n, 2, "max_val", 1.0))
        else None
    )


def _aten_elu(n: Node) -> tuple[str, dict[str, float]] | None:
    alpha, scale = _arg(n, 1, "alpha", 1.0), _arg(n, 2, "scale", 1.0)
    input_scale = _arg(n, 3, "input_scale", 1.0)
    if not all(is_number(v) for v in (alpha, scale, input_scale)) or input_scale != 1.0:
        return None
    if math.isclose(scale, SELU_SCALE, rel_tol=1e-6) and math.isclose(
        alpha, SELU_ALPHA, rel_tol=1e-6
    ):
        return "selu", {}
    return ("elu", {"alpha": float(alpha)}) if scale == 1.0 else None


_FUNCTIONS: dict[Any, Reader] = {
    F.gelu: _gelu_call,
    F.silu: _const("silu"),
    F.mish: _const("mish"),
    F.hardswish: _const("hardswish"),
    F.hardsigmoid: _const("hardsigmoid"),
    torch.tanh: _const("tanh"),
    torch.sigmoid: _const("sigmoid"),
    torch.special.expit: _const("sigmoid"),
    F.elu: _with("elu", 1, "alpha", 1.0, "alpha"),
    F.selu: _const("selu"),
    torch.selu: _const("selu"),
    F.celu: _with("celu", 1, "alpha", 1.0, "alpha"),
    torch.celu: _with("celu", 1, "alpha", 1.0, "alpha"),
    F.softplus: _with("softplus", 1, "beta", 1.0, "beta"),
    F.softsign: _const("softsign"),
    F.leaky_relu: _with("leaky_relu", 1, "negative_slope", 0.01, "alpha"),
    F.relu: _const("relu"),
    torch.relu: _const("relu"),
    F.relu6: _const("relu6"),
    F.hardtanh: _hardtanh_call,
    torch.clamp: _clamp_call,
    torch.clip: _clamp_call,
}

_METHODS: dict[str, Reader] = {
    "sigmoid": _const("sigmoid"),
    "tanh": _const("tanh"),
    "relu": _const("relu"),
    "clamp": _clamp_call,
    "clip": _clamp_call,
}

# ATen overload packets (torch.export fallback); the in-place variant ``name_`` reads the same.
_ATEN: dict[str, Reader] = {
    "gelu": _gelu_call,
    "silu": _const("silu"),
    "mish": _const("mish"),
    "hardswish": _const("hardswish"),
    "hardsigmoid": _const("hardsigmoid"),
    "tanh": _const("tanh"),
    "sigmoid": _const("sigmoid"),
    "elu": _aten_elu,
    "selu": _const("selu"),
    "celu": _with("celu", 1, "alpha", 1.0, "alpha"),
    "softplus": _with("softplus", 1, "beta", 1.0, "beta"),
    "leaky_relu": _with("leaky_relu", 1, "negative_slope", 0.01, "alpha"),
    "relu": _const("relu"),
    "relu6": _const("relu6"),
    "hardtanh": _aten_hardtanh,
    "clamp": _clamp_call,
}


def _aten_name(target: Any) -> tuple[str, bool] | None:
    """``aten.relu_.default`` -> ``("relu", True)``; ``None`` for non-ATen targets."""
    if not isinstance(target, torch._ops.OpOverload) or target.namespace != "aten":
        return None
    name = target.overloadpacket.__name__
    return (name[:-1], True) if name.endswith("_") else (name, False)


def activation(node: Node, root: nn.Module) -> Activation | None:
    """The catalogue activation ``node`` computes on its first input, or ``None``.

    Example:
        ``nn.LeakyReLU(0.2)`` -> ``Activation("leaky_relu", {"alpha": 0.2}, "module")``.
    """
    if node.op == "call_module":
        return _module_activation(node, root)
    if node.op == "call_method":
        read = _METHODS.get(str(node.target))
        found = read(node) if read else None
        return Activation(found[0], found[1], "method") if found else None
    if node.op != "call_function" or not node.args or not isinstance(node.args[0], Node):
        return None
    aten_name = _aten_name(node.target)
    if aten_name is not None:
        read = _ATEN.get(aten_name[0])
        found = read(node) if read else None
        return Activation(found[0], found[1], "aten", aten_name[1]) if found else None
    try:
        read = _FUNCTIONS.get(node.target)
    except TypeError:  # unhashable target
        return None
    found = read(node) if read else None
    if not found:
        return None
    return Activation(found[0], found[1], "function", bool(node.kwargs.get("inplace", False)))


# ---------------------------------------------------------------------------------------------
# Arithmetic for formulas: canonical op name and its operands.

_BINARY_FUNCS: dict[Any, str] = {
    operator.mul: "mul",
    torch.mul: "mul",
    operator.add: "add",
    torch.add: "add",
    operator.sub: "sub",
    torch.sub: "sub",
    operator.truediv: "div",
    torch.div: "div",
    torch.true_divide: "div",
    operator.pow: "pow",
    torch.pow: "pow",
}
_UNARY_FUNCS: dict[Any, str] = {
    operator.neg: "neg",
    torch.neg: "neg",
    torch.abs: "abs",
    operator.abs: "abs",
    torch.erf: "erf",
    torch.special.erf: "erf",
}
_BINARY_METHODS = {
    "mul": "mul",
    "add": "add",
    "sub": "sub",
    "div": "div",
    "pow": "pow",
    "true_divide": "div",
}
_UNARY_METHODS = {"neg": "neg", "abs": "abs", "erf": "erf"}
_ATEN_ARITH = {
    "mul": "mul",
    "add": "add",
    "sub": "sub",
    "div": "div",
    "pow": "pow",
    "neg": "neg",
    "abs": "abs",
    "erf": "erf",
}
# Activations that formulas use as gates (sigmoid in SiLU, tanh in GELU, relu6 in HardSwish).
_GATES = {"sigmoid", "tanh", "softplus", "relu6", "hardsigmoid"}


def arith(node: Any, root: nn.Module) -> tuple[str, list[Any]] | None:
    """``(op, operands)`` for an elementwise arithmetic node or gate, else ``None``.

    ``op`` is one of ``mul add sub div pow neg abs erf`` or a gate activation name
    (``sigmoid tanh softplus relu6 hardsigmoid``, default parameters only). ``torch.add``
    with ``alpha != 1``, division with a rounding mode and in-place arithmetic are not
    matched (they return ``None``).
    """
    if not isinstance(node, Node):
        return None
    op: str | None = None
    if node.op == "call_function":
        aten_name = _aten_name(node.target)
        if aten_name is not None:
            if aten_name[1]:
                return None  # in-place arithmetic: leave it alone
            op = _ATEN_ARITH.get(aten_name[0])
        else:
            try:
                op = _BINARY_FUNCS.get(node.target) or _UNARY_FUNCS.get(node.target)
            except TypeError:
                return None
    elif node.op == "call_method":
        op = _BINARY_METHODS.get(str(node.target)) or _UNARY_METHODS.get(str(node.target))
    if op is not None:
        if node.kwargs.get("alpha", 1) != 1 or node.kwargs.get("rounding_mode") is not None:
            return None
        if node.kwargs.get("out") is not None:
            return None
        n_operands = 1 if op in ("neg", "abs", "erf") else 2
        operands = list(node.args[:n_operands])
        if len(operands) < n_operands:  # e.g. torch.mul(input=x, other=y)
            return None
        return op, operands
    act = activation(node, root)
    if act is not None and act.function in _GATES and not act.inplace:
        if act.function == "softplus" and act.params.get("beta", 1.0) != 1.0:
            return None
        if act.function == "hardsigmoid" and act.params:
            return None
        return act.function, [node.args[0]]
    return None


def node_position(graph: torch.fx.Graph) -> dict[Node, int]:
    """Each node's index in the graph's (topological, execution) order."""
    return {n: i for i, n in enumerate(graph.nodes)}
