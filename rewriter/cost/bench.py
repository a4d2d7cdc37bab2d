"""Whole-model benchmarks and synthetic site models (the library behind ``rewrite bench`` and
``rewrite profile``).

rewrite bench A.onnx [B.onnx] --target ort-cpu:threads=1 [--headroom] [--batch-sweep]
rewrite profile --target openvino-cpu [--sizes 1x256x768,...] [--functions gelu,mish] [--db PATH]
rewrite db stats [--db PATH] [--json]
rewrite db clear [--db PATH]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rewriter.candidates import Candidate
from rewriter.emit import emit, emit_result
from rewriter.errors import UsageError

from .measure import current_measurer
from .targets import get_target

__all__ = [
    "relu_model",
    "bench_models",
    "with_batch",
    "synthetic_site_model",
    "activation_nodes",
    "parse_size",
]


# -- bench ----------------------------------------------------------------------------------
def relu_model(model: onnx.ModelProto, pipeline: str = "pau_all") -> onnx.ModelProto:
    """``model`` with every site of ``pipeline`` replaced by one Relu node: the headroom limit."""
    sites = emit_result(model, {}, pipeline, dry_run=True).sites
    relu = Candidate("standard", "standard:relu", op="relu")
    return emit(model, {s.output: relu for s in sites}, None, by="output")


def _dynamic_batch(m: onnx.ModelProto) -> bool:
    from rewriter.calibrate import batch_axes

    axes = batch_axes(m)
    inits = {t.name for t in m.graph.initializer}
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        dims = vi.type.tensor_type.shape.dim
        k = axes.get(vi.name, 0)
        if len(dims) > k and not (dims[k].HasField("dim_value") and dims[k].dim_value > 0):
            return True
    return False


def with_batch(
    feeds: dict[str, np.ndarray], model: onnx.ModelProto, batch: int
) -> dict[str, np.ndarray]:
    """``feeds`` with every input whose batch dim is dynamic cut or repeated to ``batch``
    samples along it (``rewriter.calibrate.batch_axes``: axis 1 of a sequence-first GRU's
    ``x``); samples are reused, so the values stay ones the model accepts."""
    from rewriter.calibrate import batch_axes

    axes = batch_axes(model)
    inits = {t.name for t in model.graph.initializer}
    out = dict(feeds)
    for vi in model.graph.input:
        dims = vi.type.tensor_type.shape.dim
        k = axes.get(vi.name, 0)
        if vi.name in inits or vi.name not in feeds or len(dims) <= k:
            continue
        if dims[k].HasField("dim_value") and dims[k].dim_value > 0:
            continue
        a = np.asarray(feeds[vi.name])
        if a.ndim > k and a.shape[k] != batch:
            out[vi.name] = np.take(a, np.arange(batch) % a.shape[k], axis=k)
    return out


def bench_models(
    models: dict[str, onnx.ModelProto],
    target: str,
    *,
    feeds: dict[str, np.ndarray] | None = None,
    time_cap: float = 10.0,
    precision: float = 0.02,
) -> Any:
    """Interleaved whole-model comparison of ``models`` (first is the baseline) on ``target``,
    every model run on the same ``feeds`` (default: generated for the first model,
    ``rewriter.inputs.generate_inputs``); on the device ``measure.current_measurer()`` names."""
    t = get_target(target)
    if feeds is None:
        from rewriter.inputs import generate_inputs

        feeds = generate_inputs(next(iter(models.values()))).feeds
    return current_measurer().compare(
        t,
        models,
        feeds,
        time_cap=time_cap,
        precision=precision,
        warmup_cap=3.0,
    )


# -- profile --------------------------------------------------------------------------------
PROFILE_FUNCTIONS = ("gelu", "gelu_tanh", "silu", "mish", "tanh", "sigmoid", "softplus")
PROFILE_SIZES = ("matmul:1x128x256x1024", "conv:1x32x56x56")
LONG_SIZES = (
    "matmul:1x128x256x1024",
    "matmul:8x128x768x3072",
    "conv:1x32x56x56",
    "conv:1x64x112x112",
    "conv:1x256x14x14",
)


def synthetic_site_model(kind: str, dims: list[int], function: str) -> onnx.ModelProto:
    """A producer (MatMul+bias or Conv) followed by ``function`` spelled as exporters do."""
    rng = np.random.default_rng(0)
    inits: list[onnx.TensorProto] = []

    def c(name: str, v: object) -> str:
        inits.append(numpy_helper.from_array(np.asarray(v, np.float32), name))
        return name

    if kind == "matmul":
        b, t, k, n = dims
        xin = helper.make_tensor_value_info("x", TensorProto.FLOAT, [b, t, k])
        nodes = [
            helper.make_node(
                "MatMul", ["x", c("W", rng.standard_normal((k, n)) / np.sqrt(k))], ["mm"]
            ),
            helper.make_node("Add", ["mm", c("B", rng.standard_normal(n) * 0.1)], ["h"]),
        ]
        shape = [b, t, n]
    elif kind == "conv":
        b, ch, hh, ww = dims
        xin = helper.make_tensor_value_info("x", TensorProto.FLOAT, [b, ch, hh, ww])
        nodes = [
            helper.make_node(
                "Conv",
                [
                    "x",
                    c("W", rng.standard_normal((ch, ch, 3, 3)) / np.sqrt(9 * ch)),
                    c("B", rng.standard_normal(ch) * 0.1),
                ],
                ["h"],
                pads=[1, 1, 1, 1],
            )
        ]
        shape = [b, ch, hh, ww]
    else:
        raise UsageError(f"--sizes: producer {kind!r} is not matmul or conv")
    nodes += activation_nodes(function, "h", "y", c)
    g = helper.make_graph(
        nodes,
        f"{kind}_{function}",
        [xin],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def activation_nodes(function: str, x: str, y: str, c: Any) -> list[onnx.NodeProto]:
    mk = helper.make_node
    if function == "gelu":
        return [
            mk("Div", [x, c("sq2", math.sqrt(2))], ["d"]),
            mk("Erf", ["d"], ["e"]),
            mk("Add", ["e", c("one", 1.0)], ["a"]),
            mk("Mul", [x, "a"], ["m"]),
            mk("Mul", ["m", c("half", 0.5)], [y]),
        ]
    if function == "gelu_tanh":
        return [
            mk("Pow", [x, c("three", 3.0)], ["p"]),
            mk("Mul", ["p", c("k", 0.044715)], ["pk"]),
            mk("Add", [x, "pk"], ["s"]),
            mk("Mul", ["s", c("r", math.sqrt(2 / math.pi))], ["sr"]),
            mk("Tanh", ["sr"], ["t"]),
            mk("Add", ["t", c("one", 1.0)], ["a"]),
            mk("Mul", [x, "a"], ["m"]),
            mk("Mul", ["m", c("half", 0.5)], [y]),
        ]
    if function == "silu":
        return [mk("Sigmoid", [x], ["s"]), mk("Mul", [x, "s"], [y])]
    if function == "mish":
        return [mk("Softplus", [x], ["s"]), mk("Tanh", ["s"], ["t"]), mk("Mul", [x, "t"], [y])]
    native = {
        "tanh": "Tanh",
        "sigmoid": "Sigmoid",
        "softplus": "Softplus",
        "elu": "Elu",
        "relu": "Relu",
    }
    if function in native:
        return [mk(native[function], [x], [y])]
    raise UsageError(
        f"--functions: no synthetic spelling for {function!r}; known: {', '.join(PROFILE_FUNCTIONS)}, elu"
    )


# -- db -------------------------------------------------------------------------------------


def parse_size(text: str) -> tuple[str, list[int]]:
    kind, _, rest = text.partition(":")
    try:
        return kind, [int(v) for v in rest.split("x")]
    except ValueError:
        raise UsageError(
            f"--sizes: {text!r} is not KIND:AxBxC..., e.g. matmul:1x128x256x1024 or conv:1x32x56x56"
        ) from None
