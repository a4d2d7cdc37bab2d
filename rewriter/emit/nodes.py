"""The nodes one site becomes for one ``Candidate``: a rational (``rewriter.rational.emit_onnx``),
an exact rewrite, or a standard activation; plus the provenance each replacement carries.

Node names are ``pau/<site>/...`` (never matched again: a second rewrite changes nothing); a
rational's coefficient initializers are named by ``rational_key`` so that sites with the same
coefficients share them. The last node's doc string describes the replacement (Netron shows it).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rewriter.candidates import Candidate, site_function
from rewriter.errors import UsageError
from rewriter.ir import Graph
from rewriter.match.engine import Site
from rewriter.match.rules import Rule

__all__ = ["SiteEmitter", "rational_key", "exact_nodes", "standard_nodes"]

_SUPPORTED_DTYPES = {
    TensorProto.FLOAT,
    TensorProto.FLOAT16,
    TensorProto.BFLOAT16,
    TensorProto.DOUBLE,
}

Emitted = tuple[list[onnx.NodeProto], list[onnx.TensorProto], dict[str, Any]]


def rational_key(r: Any, dtype: int) -> str:
    """A stable name for one rational's coefficient initializers, shared by the sites that use
    the same coefficients: readable parts plus a digest of the coefficients themselves, so two
    sites with different fits (calibrated or refitted) of one function never share them."""
    params = "".join(f"_{k}{v:.6g}" for k, v in sorted(r.params.items()))
    m, n = r.degrees
    digest = hashlib.sha256(json.dumps(r.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
    dt = TensorProto.DataType.Name(dtype).lower()
    key = f"{r.function}{params}_{m}_{n}_{r.form}_{dt}_{digest}"
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", key)


class SiteEmitter:
    """``engine.Options.replacement``: emits, per site, the candidate ``choose(site)`` returns.

    A rational candidate without its own ``rational`` takes the built-in table's at its degrees
    and form (cached per function, params, degrees, form).
    """

    def __init__(self, choose: Any, opset: int = 99) -> None:
        self.choose = choose
        self.opset = opset  # the model's: a standard op newer than it is spelled in older ops
        self._table: dict[tuple[Any, ...], Any] = {}

    def rational_for(self, site: Site, c: Candidate) -> Any:
        if c.rational is not None:
            return c.rational
        from rewriter.rational import table_rational

        fn, params = site_function(site)
        degrees, form = c.degrees or (5, 4), c.form or "auto"
        key = (fn, tuple(sorted(params.items())), degrees, form)
        if key not in self._table:
            try:
                self._table[key] = table_rational(fn, degrees=degrees, form=form, **params)
            except (KeyError, ValueError) as e:
                raise UsageError(
                    f"site {site.name}: cannot build a {form} {degrees} rational for {fn}: {e}"
                ) from None
        return self._table[key]

    def __call__(self, site: Site, rule: Rule, g: Graph) -> Emitted:
        c: Candidate = self.choose(site)
        vi = g.info(site.input)
        if c.kind == "rational":
            dtype = vi.elem_type if vi is not None and vi.elem_type in _SUPPORTED_DTYPES else 1
            made, consts, about = self._rational(site, rule, self.rational_for(site, c), dtype, c)
            return (*_scaled(site, made, consts, dtype), about)
        dtype = vi.elem_type if vi is not None and vi.elem_type else TensorProto.FLOAT
        build = exact_nodes if c.kind == "exact" else standard_nodes
        nodes, inits = build(
            c.op or "relu", site.input, _written(site), f"pau/{site.name}/", dtype, self.opset
        )
        if nodes:
            nodes[
                -1
            ].doc_string = f"pau-rewriter {rule.name}: {c.kind} {c.op} replaces {site.function}"
        nodes, inits = _scaled(site, nodes, inits, dtype)
        info: dict[str, Any] = {
            "form": c.kind,
            "op": c.op,
            "degrees": None,
            "max_error": c.error,
            "global_error": c.error,
            "describe": f"{c.kind} {c.op}",
            "candidate": c.name,
        }
        return nodes, inits, info

    @staticmethod
    def _rational(site: Site, rule: Rule, r: Any, dtype: int, c: Candidate) -> Emitted:
        from rewriter.rational import emit_onnx

        nodes, inits = emit_onnx(
            r,
            site.input,
            _written(site),
            prefix=f"pau/{site.name}/",
            const_prefix=f"pau/{rational_key(r, dtype)}/",
            dtype=dtype,
        )
        if nodes and not nodes[-1].doc_string:
            nodes[-1].doc_string = f"pau-rewriter {rule.name}: {r.describe()}"
        variant = c.variant or "horner"
        info = {
            "form": r.form,
            "degrees": list(r.degrees),
            "max_error": float(r.max_error),
            "global_error": float(r.global_error),
            "fit_range": [float(v) for v in (r.lo, r.hi)] if hasattr(r, "lo") else None,
            "describe": r.describe(),
            "candidate": f"rational:{r.degrees[0]}_{r.degrees[1]}:{r.form}:{variant}",
        }
        return nodes, inits, info


def _written(site: Site) -> str:
    """The value a candidate's nodes write: the site's output, or, for a scaled site, the
    unscaled function's value that ``_scaled`` multiplies into it."""
    return site.output if site.scale == 1.0 else f"pau/{site.name}/unscaled"


def _scaled(
    site: Site, nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], dtype: int
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """``nodes`` (writing ``_written(site)``) and, for a site that computes ``scale`` times its
    function, the Mul by ``scale`` that writes the site's output (its doc string moved there)."""
    if site.scale == 1.0:
        return nodes, inits
    k = numpy_helper.from_array(
        np.array(site.scale, dtype=helper.tensor_dtype_to_np_dtype(dtype)), f"pau/{site.name}/scale"
    )
    mul = helper.make_node(
        "Mul", [_written(site), k.name], [site.output], name=f"pau/{site.name}/scale"
    )
    if nodes:
        mul.doc_string = f"{nodes[-1].doc_string} (times {site.scale:g})"
        nodes[-1].doc_string = ""
    return [*nodes, mul], [*inits, k]


def exact_nodes(
    op: str, x: str, y: str, prefix: str, dtype: int = TensorProto.FLOAT, opset: int = 99
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Nodes of an exact rewrite (``rewriter.candidates``): ``mish_exp`` or ``softplus_exp``
    (ops of opset 11 and older, whatever ``opset``)."""
    npd = helper.tensor_dtype_to_np_dtype(dtype)
    cst = {
        k: numpy_helper.from_array(np.array(v, dtype=npd), f"{prefix}{k}")
        for k, v in (("c20", 20.0), ("two", 2.0), ("one", 1.0))
    }
    P = prefix
    mk = helper.make_node
    head = [
        mk("Min", [x, cst["c20"].name], [f"{P}xm"], name=f"{P}Min"),
        mk("Exp", [f"{P}xm"], [f"{P}e"], name=f"{P}Exp"),
    ]
    if op == "mish_exp":
        nodes = head + [
            mk("Add", [f"{P}e", cst["two"].name], [f"{P}e2"], name=f"{P}Add"),
            mk("Mul", [f"{P}e", f"{P}e2"], [f"{P}n"], name=f"{P}Mul"),
            mk("Add", [f"{P}n", cst["two"].name], [f"{P}d"], name=f"{P}Add2"),
            mk("Div", [f"{P}n", f"{P}d"], [f"{P}r"], name=f"{P}Div"),
            mk("Mul", [x, f"{P}r"], [y], name=f"{P}Mul2"),
        ]
        return nodes, [cst["c20"], cst["two"]]
    if op == "softplus_exp":
        nodes = head + [
            mk("Add", [f"{P}e", cst["one"].name], [f"{P}e1"], name=f"{P}Add"),
            mk("Log", [f"{P}e1"], [f"{P}l"], name=f"{P}Log"),
            mk("Max", [f"{P}l", x], [y], name=f"{P}Max"),
        ]
        return nodes, [cst["c20"], cst["one"]]
    raise ValueError(f"unknown exact rewrite {op!r}")


def standard_nodes(
    op: str, x: str, y: str, prefix: str, dtype: int = TensorProto.FLOAT, opset: int = 99
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Native nodes computing the standard activation ``op`` (``rewriter.candidates.STANDARD``)
    from x into y: relu, relu6, hardswish, hardsigmoid, leaky_relu, quickgelu (x * Sigmoid(1.702
    x), which ORT fuses), or gelu (ORT's fusable erf-GELU chain). Below opset 14, which added
    HardSwish, hardswish is x * HardSigmoid(x) (the same function)."""
    npd = helper.tensor_dtype_to_np_dtype(dtype)
    mk = helper.make_node

    def const(name: str, v: float) -> onnx.TensorProto:
        return numpy_helper.from_array(np.array(v, dtype=npd), f"{prefix}{name}")

    if op == "relu":
        return [mk("Relu", [x], [y], name=f"{prefix}Relu")], []
    if op == "relu6":
        lo, hi = const("zero", 0.0), const("six", 6.0)
        return [mk("Clip", [x, lo.name, hi.name], [y], name=f"{prefix}Clip")], [lo, hi]
    if op == "leaky_relu":
        return [mk("LeakyRelu", [x], [y], name=f"{prefix}LeakyRelu", alpha=0.01)], []
    if op == "quickgelu":
        k = const("k", 1.702)
        return [
            mk("Mul", [x, k.name], [f"{prefix}kx"], name=f"{prefix}Mul"),
            mk("Sigmoid", [f"{prefix}kx"], [f"{prefix}s"], name=f"{prefix}Sigmoid"),
            mk("Mul", [x, f"{prefix}s"], [y], name=f"{prefix}Mul2"),
        ], [k]
    if op == "hardswish" and opset < 14:
        return [
            mk(
                "HardSigmoid",
                [x],
                [f"{prefix}g"],
                name=f"{prefix}HardSigmoid",
                alpha=1 / 6,
                beta=0.5,
            ),
            mk("Mul", [x, f"{prefix}g"], [y], name=f"{prefix}Mul"),
        ], []
    if op == "hardswish":
        return [mk("HardSwish", [x], [y], name=f"{prefix}HardSwish")], []
    if op == "hardsigmoid":
        node = mk("HardSigmoid", [x], [y], name=f"{prefix}HardSigmoid", alpha=1.0 / 6.0, beta=0.5)
        return [node], []
    if op == "gelu":
        c = {k: const(k, v) for k, v in (("sqrt2", np.sqrt(2.0)), ("one", 1.0), ("half", 0.5))}
        P = prefix
        nodes = [
            mk("Div", [x, c["sqrt2"].name], [f"{P}d"], name=f"{P}Div"),
            mk("Erf", [f"{P}d"], [f"{P}e"], name=f"{P}Erf"),
            mk("Add", [f"{P}e", c["one"].name], [f"{P}a"], name=f"{P}Add"),
            mk("Mul", [x, f"{P}a"], [f"{P}m"], name=f"{P}Mul"),
            mk("Mul", [f"{P}m", c["half"].name], [y], name=f"{P}Mul2"),
        ]
        return nodes, list(c.values())
    raise ValueError(f"unknown standard activation {op!r}")
