"""A small ONNX -> ``torch.nn.Module`` converter, so that torch targets measure the same micro-
models and whole models as the ONNX targets.

It covers the ops of the micro-models the cost model cuts (Conv, Gemm, MatMul, Add, ... and the
elementwise ops activations and emitted rationals are made of) and of statically shaped CNN and
transformer exports (Reshape/Transpose/Softmax/LayerNormalization/pooling ...). Initializers
become buffers; the forward is an interpreter over the node list with attributes resolved
ahead, which ``torch.compile`` traces into one graph (``fullgraph=True``), so Inductor fuses the
elementwise chains exactly as it would for the same computation written in torch.

An op outside the table raises ``UsageError`` naming it.
"""

# ruff: noqa: B008  (attribute defaults are bound once, when a node is converted)
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

from rewriter.errors import UsageError

__all__ = ["to_torch", "SUPPORTED_OPS", "UnsupportedOps"]


class UnsupportedOps(UsageError):
    """The model has ops the interpreter does not cover; ``ops`` names them (sorted)."""

    def __init__(self, ops: list[str], nodes: list[str]) -> None:
        self.ops, self.nodes = ops, nodes
        super().__init__(
            f"torch converter: {self.names} {'is' if len(ops) == 1 else 'are'} not supported "
            f"(node(s) {', '.join(repr(n) for n in nodes[:5])}"
            f"{' ...' if len(nodes) > 5 else ''}); supported: {', '.join(SUPPORTED_OPS)}"
        )

    @property
    def names(self) -> str:
        """The unsupported ops, comma-separated: ``"GRU, If"``."""
        return ", ".join(self.ops)


def _attrs(n: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}


def _pads(a: dict[str, Any], nd: int) -> Any:
    p = list(a.get("pads", [0] * (2 * nd)))
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise UsageError(
            "torch converter: auto_pad SAME_* is not supported; export with explicit pads"
        )
    if p[:nd] == p[nd:]:
        return p[:nd], None
    return [0] * nd, p  # asymmetric: pad explicitly


def _conv(a: dict[str, Any]) -> Callable[..., torch.Tensor]:
    def f(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        nd = w.dim() - 2
        pad, full = _pads(a, nd)
        if full is not None:
            x = F.pad(x, [v for i in reversed(range(nd)) for v in (full[i], full[i + nd])])
        conv = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
        return conv(
            x,
            w,
            b,
            a.get("strides", [1] * nd),
            pad,
            a.get("dilations", [1] * nd),
            a.get("group", 1),
        )

    return f


def _pool(kind: str, a: dict[str, Any]) -> Callable[..., torch.Tensor]:
    def f(x: torch.Tensor) -> torch.Tensor:
        k = a["kernel_shape"]
        nd = len(k)
        pad, full = _pads(a, nd)
        if full is not None:
            x = F.pad(
                x,
                [v for i in reversed(range(nd)) for v in (full[i], full[i + nd])],
                value=-float("inf") if kind == "max" else 0.0,
            )
        s = a.get("strides", [1] * nd)
        if kind == "max":
            return (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nd - 1](
                x, k, s, pad, ceil_mode=bool(a.get("ceil_mode", 0))
            )
        return (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[nd - 1](
            x,
            k,
            s,
            pad,
            ceil_mode=bool(a.get("ceil_mode", 0)),
            count_include_pad=bool(a.get("count_include_pad", 0)),
        )

    return f


def _gemm(a: dict[str, Any]) -> Callable[..., torch.Tensor]:
    alpha, beta, ta, tb = (
        a.get("alpha", 1.0),
        a.get("beta", 1.0),
        a.get("transA", 0),
        a.get("transB", 0),
    )

    def f(x: torch.Tensor, w: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        y = (x.t() if ta else x) @ (w.t() if tb else w)
        if alpha != 1.0:
            y = y * alpha
        if c is not None:
            y = y + (c * beta if beta != 1.0 else c)
        return y

    return f


def _clip(
    x: torch.Tensor, lo: torch.Tensor | None = None, hi: torch.Tensor | None = None
) -> torch.Tensor:
    if lo is not None:
        x = torch.maximum(x, lo)
    if hi is not None:
        x = torch.minimum(x, hi)
    return x


def _reshape(a: dict[str, Any]) -> Callable[..., torch.Tensor]:
    def f(x: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        s = [int(v) for v in shape.tolist()]
        if not a.get("allowzero", 0):
            s = [x.shape[i] if v == 0 else v for i, v in enumerate(s)]
        return x.reshape(s)

    return f


def _reduce_mean(a: dict[str, Any]) -> Callable[..., torch.Tensor]:
    def f(x: torch.Tensor, axes: torch.Tensor | None = None) -> torch.Tensor:
        ax = a.get("axes") if axes is None else [int(v) for v in axes.tolist()]
        ax = list(range(x.dim())) if ax is None else list(ax)
        return x.mean(dim=ax, keepdim=bool(a.get("keepdims", 1)))

    return f


def _layer_norm(a: dict[str, Any]) -> Callable[..., torch.Tensor]:
    axis, eps = a.get("axis", -1), a.get("epsilon", 1e-5)

    def f(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        ax = axis % x.dim()
        return F.layer_norm(x, tuple(x.shape[ax:]), w, b, eps)

    return f


def _batch_norm(a: dict[str, Any]) -> Callable[..., torch.Tensor]:
    eps = a.get("epsilon", 1e-5)
    return lambda x, s, b, m, v: F.batch_norm(x, m, v, s, b, False, 0.0, eps)


def _split(a: dict[str, Any], nout: int) -> Callable[..., tuple[torch.Tensor, ...]]:
    axis = a.get("axis", 0)

    def f(x: torch.Tensor, split: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        sizes = a.get("split") if split is None else [int(v) for v in split.tolist()]
        if sizes is None:
            return torch.chunk(x, nout, dim=axis)
        return torch.split(x, list(sizes), dim=axis)

    return f


def _unsqueeze(a: dict[str, Any]) -> Callable[..., torch.Tensor]:
    def f(x: torch.Tensor, axes: torch.Tensor | None = None) -> torch.Tensor:
        ax: list[int] = list(a["axes"]) if axes is None else [int(v) for v in axes.tolist()]
        out_rank = x.dim() + len(ax)
        for d in sorted(v % out_rank for v in ax):
            x = x.unsqueeze(d)
        return x

    return f


def _squeeze(a: dict[str, Any]) -> Callable[..., torch.Tensor]:
    def f(x: torch.Tensor, axes: torch.Tensor | None = None) -> torch.Tensor:
        ax = a.get("axes") if axes is None else [int(v) for v in axes.tolist()]
        if ax is None:
            return x.squeeze()
        for d in sorted((v % x.dim() for v in ax), reverse=True):
            x = x.squeeze(d)
        return x

    return f


def _softplus(x: torch.Tensor) -> torch.Tensor:
    return F.softplus(x)


_GELU_APPROX = {"none": "none", "tanh": "tanh", b"none": "none", b"tanh": "tanh"}

# op -> (attrs, number of outputs) -> callable(*inputs)
_OPS: dict[str, Callable[[dict[str, Any], int], Callable[..., Any]]] = {
    "Conv": lambda a, n: _conv(a),
    "Gemm": lambda a, n: _gemm(a),
    "MatMul": lambda a, n: torch.matmul,
    "Add": lambda a, n: torch.add,
    "Sub": lambda a, n: torch.sub,
    "Mul": lambda a, n: torch.mul,
    "Div": lambda a, n: torch.div,
    "Pow": lambda a, n: torch.pow,
    "Max": lambda a, n: lambda *xs: xs[0] if len(xs) == 1 else torch.maximum(xs[0], xs[1]),
    "Min": lambda a, n: lambda *xs: xs[0] if len(xs) == 1 else torch.minimum(xs[0], xs[1]),
    "Abs": lambda a, n: torch.abs,
    "Neg": lambda a, n: torch.neg,
    "Sqrt": lambda a, n: torch.sqrt,
    "Exp": lambda a, n: torch.exp,
    "Log": lambda a, n: torch.log,
    "Reciprocal": lambda a, n: torch.reciprocal,
    "Erf": lambda a, n: torch.erf,
    "Tanh": lambda a, n: torch.tanh,
    "Sigmoid": lambda a, n: torch.sigmoid,
    "Relu": lambda a, n: torch.relu,
    "Softplus": lambda a, n: _softplus,
    "Mish": lambda a, n: F.mish,
    "Elu": lambda a, n: lambda x, al=a.get("alpha", 1.0): F.elu(x, al),
    "Selu": lambda a, n: F.selu,
    "Celu": lambda a, n: lambda x, al=a.get("alpha", 1.0): F.celu(x, al),
    "Softsign": lambda a, n: F.softsign,
    "LeakyRelu": lambda a, n: lambda x, al=a.get("alpha", 0.01): F.leaky_relu(x, al),
    "HardSwish": lambda a, n: F.hardswish,
    "HardSigmoid": lambda a, n: (
        lambda x, al=a.get("alpha", 0.2), be=a.get("beta", 0.5): torch.clamp(x * al + be, 0.0, 1.0)
    ),
    "Gelu": lambda a, n: (
        lambda x, ap=_GELU_APPROX[a.get("approximate", "none")]: F.gelu(x, approximate=ap)
    ),
    "Clip": lambda a, n: (
        _clip
        if "min" not in a and "max" not in a
        else (lambda x, lo=a.get("min"), hi=a.get("max"): torch.clamp(x, lo, hi))
    ),
    "Identity": lambda a, n: lambda x: x,
    "Cast": lambda a, n: (
        lambda x, to=a["to"]: x.to(
            getattr(torch, np.dtype(onnx.helper.tensor_dtype_to_np_dtype(to)).name)
        )
    ),
    "Reshape": lambda a, n: _reshape(a),
    "Flatten": lambda a, n: (
        lambda x, ax=a.get("axis", 1): x.reshape(int(np.prod(x.shape[:ax])), -1)
    ),
    "Transpose": lambda a, n: (
        lambda x, p=a.get("perm"): x.permute(*(p if p is not None else reversed(range(x.dim()))))
    ),
    "Softmax": lambda a, n: lambda x, ax=a.get("axis", -1): torch.softmax(x, ax),
    "GlobalAveragePool": lambda a, n: lambda x: x.mean(dim=tuple(range(2, x.dim())), keepdim=True),
    "MaxPool": lambda a, n: _pool("max", a),
    "AveragePool": lambda a, n: _pool("avg", a),
    "BatchNormalization": lambda a, n: _batch_norm(a),
    "LayerNormalization": lambda a, n: _layer_norm(a),
    "ReduceMean": lambda a, n: _reduce_mean(a),
    "Concat": lambda a, n: lambda *xs, ax=a["axis"]: torch.cat(xs, ax),
    "Split": lambda a, n: _split(a, n),
    "Unsqueeze": lambda a, n: _unsqueeze(a),
    "Squeeze": lambda a, n: _squeeze(a),
    "Where": lambda a, n: torch.where,
}

SUPPORTED_OPS = tuple(sorted(_OPS))


class OnnxModule(torch.nn.Module):
    """The converted model: inputs in ONNX graph-input order, outputs as a tuple."""

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        g = model.graph
        consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.input_names = [i.name for i in g.input if i.name not in consts]
        self.output_names = [o.name for o in g.output]
        self._const_names: dict[str, str] = {}
        steps: list[tuple[Callable[..., Any], list[str | None], list[str]]] = []
        missing = [
            n
            for n in g.node
            if n.domain not in ("", "ai.onnx")
            or (n.op_type not in _OPS and n.op_type != "Constant")
        ]
        if missing:
            ops = sorted(
                {
                    n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
                    for n in missing
                }
            )
            raise UnsupportedOps(ops, [n.name or n.output[0] for n in missing])
        for n in g.node:
            if n.op_type == "Constant":
                consts[n.output[0]] = numpy_helper.to_array(_attrs(n)["value"])
                continue
            fn = _OPS[n.op_type](_attrs(n), len(n.output))
            steps.append((fn, [x or None for x in n.input], list(n.output)))
        for i, (name, arr) in enumerate(sorted(consts.items())):
            key = f"c{i}"
            self._const_names[name] = key
            self.register_buffer(key, torch.from_numpy(np.array(arr)), persistent=False)
        self._steps = steps

    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        env: dict[str, Any] = dict(zip(self.input_names, xs, strict=True))
        for name, key in self._const_names.items():
            env[name] = getattr(self, key)
        for fn, ins, outs in self._steps:
            args = [env[i] if i is not None else None for i in ins]
            while args and args[-1] is None:
                args.pop()
            y = fn(*args)
            if len(outs) == 1:
                env[outs[0]] = y
            else:
                for o, v in zip(outs, y, strict=False):
                    env[o] = v
        return tuple(env[o] for o in self.output_names)


def to_torch(model: onnx.ModelProto) -> OnnxModule:
    """Convert ``model`` (statically shaped, default domain) to a ``torch.nn.Module``.

    Example:
        >>> m = to_torch(onnx.load("micro.onnx"))          # doctest: +SKIP
        >>> y, = m(torch.randn(1, 64, 56, 56))             # doctest: +SKIP
    """
    return OnnxModule(model)
