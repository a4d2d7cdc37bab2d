"""Emit a ``Rational`` as standard ONNX ops (opset 13+): inline nodes or a model-local function.

The emitted chain follows ``core``'s shape, node by node::

    u = Clip(Abs?(Mul(x, s)), lo_c, hi_c)           # Mul skipped for s == 1
    P, Q by Horner (parity "odd": in w = u*u, P = u * P'(w)); |q_k| precomputed
    G = Add(Mul(Clip?(Div(P, Q), r_lo, r_hi), g1), g0)   # trivial Mul/Add skipped
    y = Mul(Max(x, -40), G) + a1 x + a relu(x) + tails

Half types (FLOAT16, BFLOAT16) are computed in float32 between a Cast in and a Cast out (the
coefficients lose digits in fp16 and the Horner sums cancel); DOUBLE is computed in double.
Constants are scalars of shape [] named ``const_prefix + name`` (suffix ``_f64`` in double), so
sites sharing one Rational share initializers; nodes and intermediate values are named
``prefix + ...``. Output is deterministic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .core import SAFE_LIMIT, Rational
from .minimax import powers

__all__ = ["emit_onnx", "function_proto"]

_HALF = (TensorProto.FLOAT16, TensorProto.BFLOAT16)


class _Builder:
    def __init__(self, prefix: str, const_prefix: str, np_dtype: type) -> None:
        self.prefix, self.const_prefix, self.np_dtype = prefix, const_prefix, np_dtype
        self.suffix = "_f64" if np_dtype is np.float64 else ""
        self.nodes: list[onnx.NodeProto] = []
        self.consts: dict[str, onnx.TensorProto] = {}
        self.count = 0

    def const(self, name: str, value: float) -> str:
        full = f"{self.const_prefix}{name}{self.suffix}"
        if full not in self.consts:
            arr: np.ndarray = np.array(value, dtype=self.np_dtype)
            self.consts[full] = numpy_helper.from_array(arr, full)
        return full

    def op(self, op_type: str, inputs: list[str], out: str | None = None, **attrs: Any) -> str:
        self.count += 1
        name = f"{self.prefix}{op_type}_{self.count}"
        out = out or f"{self.prefix}v{self.count}_{op_type.lower()}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=name, **attrs))
        return out

    def mul_c(self, v: str, c: float, key: str) -> str:
        return v if c == 1.0 else self.op("Mul", [v, self.const(key, c)])

    def add_c(self, v: str, c: float, key: str) -> str:
        return v if c == 0.0 else self.op("Add", [v, self.const(key, c)])

    def horner(self, coefs: list[tuple[str, float]], var: str) -> str:
        """sum c_k var^k for coefs = [(key, c_0), ..., (key, c_d)], d >= 1."""
        (top_key, top) = coefs[-1]
        acc = self.op("Mul", [var, self.const(top_key, top)])
        for key, c in reversed(coefs[:-1]):
            acc = self.add_c(acc, c, key)
            if key != coefs[0][0]:
                acc = self.op("Mul", [acc, var])
        return acc


def _rational_nodes(b: _Builder, r: Rational, u: str) -> str:
    m, n = r.degrees
    pe, qe = powers(m, n, r.parity)
    if r.parity == "odd":
        w = b.op("Mul", [u, u])
        pc = [(f"p{k}", float(r.p[k])) for k in pe]  # P = u * sum p_k w^((k-1)/2)
        num = (
            b.op("Mul", [u, b.const(pc[0][0], pc[0][1])])
            if len(pc) == 1
            else b.op("Mul", [b.horner(pc, w), u])
        )
        qc = [("one", 1.0)] + [(f"q{k}", abs(float(r.q[k - 1]))) for k in qe]
        den = b.horner(qc, w) if len(qc) > 1 else None
    else:
        pc = [(f"p{k}", float(r.p[k])) for k in range(m + 1)]
        if m == 0:
            num = b.op("Mul", [b.op("Abs", [u]), b.const("zero", 0.0)])
            num = b.add_c(num, pc[0][1], "p0")
        else:
            num = b.horner(pc, u)
        if n == 0:
            den = None
        elif r.form == "pau_b":
            qc = [("zero", 0.0)] + [(f"q{k}", float(r.q[k - 1])) for k in range(1, n + 1)]
            den = b.op("Add", [b.op("Abs", [b.horner(qc, u)]), b.const("one", 1.0)])
        else:
            au = b.op("Abs", [u])
            qc = [("one", 1.0)] + [(f"q{k}", abs(float(r.q[k - 1]))) for k in range(1, n + 1)]
            den = b.horner(qc, au)
    return num if den is None else b.op("Div", [num, den])


def emit_onnx(
    r: Rational,
    x: str,
    y: str,
    *,
    prefix: str,
    const_prefix: str,
    dtype: int = TensorProto.FLOAT,
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Nodes computing ``y = r(x)`` from standard ONNX ops, and their initializers.

    Args:
        r: the rational.
        x, y: names of the input and output values (element type ``dtype``).
        prefix: prefix of node names and intermediate value names, e.g. "pau/gelu_3/".
        const_prefix: prefix of initializer names, e.g. "pau/gelu_5_4/"; the caller dedups
            initializers by name when several sites share one rational.
        dtype: element type of x and y: FLOAT, DOUBLE, FLOAT16 or BFLOAT16.

    Returns:
        (nodes, initializers), deterministic for a given input.

    Example:
        >>> nodes, inits = emit_onnx(r, "h", "h_act", prefix="pau/0/", const_prefix="pau/c/")
        ... # doctest: +SKIP
    """
    if dtype not in (TensorProto.FLOAT, TensorProto.DOUBLE, *_HALF):
        raise ValueError(
            f"emit_onnx: unsupported dtype {dtype}; use FLOAT, DOUBLE, FLOAT16, BFLOAT16"
        )
    np_dtype = np.float64 if dtype == TensorProto.DOUBLE else np.float32
    b = _Builder(prefix, const_prefix, np_dtype)
    xin = x
    if dtype in _HALF:
        xin = b.op("Cast", [x], f"{prefix}x_f32", to=TensorProto.FLOAT)
    v = b.mul_c(xin, r.s, "s")
    if r.parity == "abs":
        v = b.op("Abs", [v])
    lo, hi = r.clamp if r.clamp is not None else (-SAFE_LIMIT, SAFE_LIMIT)
    u = b.op("Clip", [v, b.const("clip_lo", lo), b.const("clip_hi", hi)])
    out = _rational_nodes(b, r, u)
    if r.r_clip is not None:
        lo_r, hi_r = r.r_clip
        out = b.op(
            "Clip",
            [
                out,
                "" if lo_r is None else b.const("r_lo", lo_r),
                "" if hi_r is None else b.const("r_hi", hi_r),
            ],
        )
    g0, g1 = r.gate
    out = b.add_c(b.mul_c(out, g1, "g1"), g0, "g0")
    if r.gate_x is not None:
        xb = xin
        if r.gate_x[0] is not None:
            xb = b.op("Max", [xb, b.const("gate_x_lo", r.gate_x[0])])
        if r.gate_x[1] is not None:
            xb = b.op("Min", [xb, b.const("gate_x_hi", r.gate_x[1])])
        out = b.op("Mul", [xb, out])
    a1, ar = r.linear
    if a1:
        out = b.op("Add", [out, b.mul_c(xin, a1, "a1")])
    if ar:
        out = b.op("Add", [out, b.mul_c(b.op("Relu", [xin]), ar, "a_relu")])
    if r.tails is not None:
        k_lo, t_lo, k_hi, t_hi = r.tails
        if t_hi:
            t = b.op("Relu", [b.op("Sub", [xin, b.const("k_hi", k_hi)])])
            out = b.op("Add", [out, b.mul_c(t, t_hi, "t_hi")])
        if t_lo:
            t = b.op("Relu", [b.op("Sub", [b.const("k_lo", k_lo), xin])])
            out = b.op("Sub", [out, b.mul_c(t, t_lo, "t_lo")])
    if dtype in _HALF:
        b.op("Cast", [out], y, to=dtype)
    elif out == xin:
        b.op("Identity", [out], y)
    else:
        b.nodes[-1].output[0] = y
    desc = r.describe()
    b.nodes[0].doc_string = desc
    b.nodes[-1].doc_string = desc
    return b.nodes, [b.consts[k] for k in sorted(b.consts)]


def function_proto(
    r: Rational, name: str, *, domain: str = "pau", dtype: int = TensorProto.FLOAT
) -> onnx.FunctionProto:
    """A model-local ONNX function ``domain.name(X) -> Y`` computing r, constants inside.

    The model using it must import ``domain`` (version 1) and opset >= 13 of the default domain.
    """
    nodes, inits = emit_onnx(r, "X", "Y", prefix="", const_prefix="c_", dtype=dtype)
    consts = [
        helper.make_node("Constant", [], [t.name], name=f"const_{t.name}", value=t) for t in inits
    ]
    fn = helper.make_function(
        domain,
        name,
        inputs=["X"],
        outputs=["Y"],
        nodes=consts + nodes,
        opset_imports=[helper.make_opsetid("", 13)],
    )
    fn.doc_string = r.describe()
    return fn
