"""Micro-models: a site cut out of its real graph, with real weights and concrete shapes.

``cut_site(model, site)`` returns a small ONNX model computing the site's activation *in
context*: the producing op (Conv, Gemm, MatMul, Add, ...) with its real weights and attributes,
and, when that producer is an elementwise Add/Mul/Sub/BatchNormalization fed by a Conv, Gemm or
MatMul (bias adds, residual adds: what ONNX Runtime fuses with a following Relu), that op too;
then every node between the site's input and output (the activation). The site's output is the
micro-model's output. Costs are measured on this, never on the activation alone, because a
runtime fuses producer and activation (Conv+Relu, MatMul+Add+Gelu, ...) and a replacement may
break or make such a fusion.

Shapes must be concrete. The cost model passes ``resolved=inputs.shaped_model(model, feeds)``:
the shapes values really have on a run with inputs the model accepts (shape inference with
placeholders leaves a BERT's activations unknown after its dynamic Reshapes, and measures a
stride-32 detector at whatever size fills its dims). Without it, ``resolve_dims`` fixes the first
dimension of every input to ``batch``, other symbolic dimensions to ``dims[name]`` or
``default_dim``, and infers shapes: fine for synthetic models, not for real ones.

Sites inside If/Loop bodies are cut as the activation alone (their producer may be outside the
body).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from rewriter.errors import ModelError
from rewriter.ir.graph import Graph
from rewriter.match.engine import Site
from rewriter.verify import make_inputs

__all__ = ["Micro", "cut_site", "resolve_dims", "site_signature"]

COMPUTE_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "ConvInteger", "MatMulInteger"}
EPILOGUE_OPS = {"Add", "Sub", "Mul", "BatchNormalization"}


@dataclass
class Micro:
    """A cut micro-model and what it was cut from."""

    model: onnx.ModelProto
    site: Site
    producer_ops: list[str]
    input_shapes: dict[str, list[int]]
    output_shape: list[int]
    signature: str


def resolve_dims(
    model: onnx.ModelProto,
    batch: int = 1,
    dims: dict[str, int] | None = None,
    default_dim: int = 64,
) -> onnx.ModelProto:
    """A copy of ``model`` whose graph inputs have concrete shapes, with shapes inferred."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    dims = dims or {}
    inits = {t.name for t in m.graph.initializer}
    for vi in m.graph.input:
        if vi.name in inits or not vi.type.HasField("tensor_type"):
            continue
        for i, d in enumerate(vi.type.tensor_type.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                continue
            size = dims.get(d.dim_param, batch if i == 0 else default_dim)
            d.Clear()
            d.dim_value = int(size)
    del m.graph.value_info[:]
    try:
        return onnx.shape_inference.infer_shapes(m, data_prop=True)
    except Exception as e:
        raise ModelError(
            f"shape inference failed after fixing dynamic dims: {str(e).splitlines()[0][:200]}"
        ) from None


def _shapes(m: onnx.ModelProto) -> dict[str, tuple[int, list[int]]]:
    out: dict[str, tuple[int, list[int]]] = {}
    for vi in list(m.graph.input) + list(m.graph.value_info) + list(m.graph.output):
        t = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and t.HasField("shape"):
            out[vi.name] = (
                t.elem_type,
                [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim],
            )
    for t in m.graph.initializer:
        out[t.name] = (t.data_type, list(t.dims))
    return out


def _chain(g: onnx.GraphProto, x: str, y: str) -> list[int]:
    """Indices of nodes on a path from value x to value y (the activation's nodes)."""
    prod = {o: i for i, n in enumerate(g.node) for o in n.output}
    anc: set[int] = set()
    stack = [y]
    while stack:
        v = stack.pop()
        i = prod.get(v)
        if i is None or i in anc or v == x:
            continue
        anc.add(i)
        stack.extend(g.node[i].input)
    reach: set[str] = {x}
    keep: list[int] = []
    for i, n in enumerate(g.node):
        if i in anc and any(v in reach for v in n.input):
            reach.update(n.output)
            keep.append(i)
    # constants (Constant nodes, Cast of initializers) that feed the chain
    kept = set(keep)
    for i in sorted(anc - kept):
        if not any(v in reach for v in g.node[i].input):
            keep.append(i)
    return sorted(keep)


def site_signature(
    producer_nodes: list[onnx.NodeProto],
    act_ops: list[str],
    site: Site,
    shapes: dict[str, list[int]],
    dtype: str,
) -> str:
    """Stable key of what a micro-model computes (ops, attributes, shapes), for the database."""
    desc = {
        "producers": [
            [n.op_type, sorted((a.name, str(helper.get_attribute_value(a))) for a in n.attribute)]
            for n in producer_nodes
        ],
        "function": site.function,
        "params": sorted(site.params.items()),
        "spelling": site.spelling,
        "act_ops": act_ops,
        "shapes": shapes,
        "dtype": dtype,
    }
    h = hashlib.sha1(json.dumps(desc, sort_keys=True, default=str).encode()).hexdigest()[:12]
    prods = "+".join(n.op_type for n in producer_nodes) or "input"
    return f"{prods}>{site.function}#{h}"


# ops whose output may be a constant the cut takes as a weight (``Graph.const`` folds them)
_CONSTANT_OPS = {"Constant", "Identity", "Cast", "CastLike", "Reshape", "Unsqueeze", "Squeeze"}


def cut_site(
    model: onnx.ModelProto,
    site: Site,
    *,
    batch: int = 1,
    dims: dict[str, int] | None = None,
    resolved: onnx.ModelProto | None = None,
    dynamic: bool = False,
) -> Micro:
    """Cut ``site`` out of ``model`` with its producer (see module doc); shapes concrete.

    Args:
        model: the whole model (not modified).
        site: a site found in it (``rewriter.find_sites``).
        batch: size of every input's first dynamic dimension.
        dims: sizes of other named dynamic dimensions (default 64).
        resolved: ``model`` with concrete shapes in its value_info: ``shaped_model(model,
            feeds)`` (shapes on a run; what the cost model passes), or ``resolve_dims(model,
            batch, dims)``.
        dynamic: leave the first dim of the micro-model's inputs and output free (``batch``), for
            a target that compiles a model with dynamic shapes differently (OpenVINO fuses a
            rational's chain only at static shapes); the signature says so.

    Returns:
        A ``Micro`` whose model passes ``onnx.checker.check_model(full_check=True)``.
    """
    rm = resolved if resolved is not None else resolve_dims(model, batch, dims)
    g = rm.graph
    shapes = _shapes(rm)
    inits = {t.name: t for t in g.initializer}
    prod = {o: i for i, n in enumerate(g.node) for o in n.output}
    nested = bool(site.graph)
    act = [] if nested else _chain(g, site.input, site.output)
    if not nested and not act:
        raise ModelError(f"site {site.name}: no nodes between {site.input!r} and {site.output!r}")
    producers: list[int] = []
    if not nested and site.input in prod:
        p = prod[site.input]
        if g.node[p].op_type in COMPUTE_OPS:
            producers = [p]
        elif g.node[p].op_type in EPILOGUE_OPS:
            producers = [p]
            for v in g.node[p].input:
                if v in prod and g.node[prod[v]].op_type in COMPUTE_OPS:
                    producers.insert(0, prod[v])
                    break
    nodes = [g.node[i] for i in producers + act]
    if nested:  # the activation alone, rebuilt from the site's nodes of the body
        raise ModelError(
            f"site {site.name} is inside a subgraph ({site.graph}); cut it from its body graph"
        )
    produced = {o for n in nodes for o in n.output}
    used_inits: list[onnx.TensorProto] = []
    inputs: list[onnx.ValueInfoProto] = []
    seen: set[str] = set()
    folds: Graph | None = None  # built once a weight computed from constants is met
    for n in nodes:
        for v in n.input:
            if not v or v in produced or v in seen:
                continue
            seen.add(v)
            const = None
            if v not in inits and v in prod and g.node[prod[v]].op_type in _CONSTANT_OPS:
                # a weight the exporter computes from constants: the TorchScript exporter
                # writes a bias equal to another's as Identity of it (a Whisper encoder's
                # conv2.bias), which was an input of the cut, made up, and refused by the Conv
                folds = folds or Graph(g)
                const = folds.const(v)
            if v in inits:
                used_inits.append(inits[v])
            elif const is not None:
                used_inits.append(numpy_helper.from_array(const, v))
            else:
                if v not in shapes or any(d < 0 for d in shapes[v][1]):
                    raise ModelError(
                        f"site {site.name}: shape of {v!r} is unknown after shape inference"
                    )
                et, sh = shapes[v]
                if 0 in sh:  # X-MOD's adapter of a language no token is in: 0x64x32
                    raise ModelError(
                        f"site {site.name}: {v!r} is empty ({'x'.join(map(str, sh))}) on the "
                        "inputs used: nothing to measure"
                    )
                inputs.append(helper.make_tensor_value_info(v, et, sh))
    if site.output not in shapes:
        raise ModelError(
            f"site {site.name}: shape of {site.output!r} is unknown after shape inference"
        )
    et, out_shape = shapes[site.output]
    outputs = [helper.make_tensor_value_info(site.output, et, out_shape)]
    graph = helper.make_graph(
        [_copy(n) for n in nodes], f"micro_{site.name}", inputs, outputs, used_inits
    )
    if dynamic:  # the batch dim left free, as in a model compiled with dynamic shapes
        for vi in [*graph.input, *graph.output]:
            axes = vi.type.tensor_type.shape.dim
            if len(axes):
                axes[0].Clear()
                axes[0].dim_param = "batch"
    mm = helper.make_model(
        graph, opset_imports=list(model.opset_import), ir_version=model.ir_version
    )
    mm.producer_name = "pau-rewriter.cost"
    in_shapes = {i.name: shapes[i.name][1] for i in inputs}
    w_shapes = {t.name: list(t.dims) for t in used_inits}
    key: dict[str, Any] = {
        "in": sorted(in_shapes.values()),
        "w": sorted(w_shapes.values()),
        "out": out_shape,
    }
    if dynamic:
        key["dynamic"] = True
    sig = site_signature(
        [g.node[i] for i in producers],
        [g.node[i].op_type for i in act],
        site,
        key,  # type: ignore[arg-type]
        onnx.TensorProto.DataType.Name(et).lower(),
    )
    return Micro(mm, site, [g.node[i].op_type for i in producers], in_shapes, out_shape, sig)


def _copy(n: onnx.NodeProto) -> onnx.NodeProto:
    c = onnx.NodeProto()
    c.CopyFrom(n)
    return c


def random_feeds(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded inputs in [-3, 3] for every input of a (concretely shaped) model."""
    return make_inputs(model, seed=seed)
