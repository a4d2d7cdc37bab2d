"""Reading and writing models: load (path, bytes or ModelProto; external data only from the
model's folder), output-path checks, and the one atomic writer every command uses.

A failed run leaves no partial output: everything is written to a temporary file in the target
folder, then renamed into place (``os.replace`` is atomic on POSIX within one file system).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable, Iterator

import numpy as np
import onnx

from rewriter.errors import ModelError, Note, UsageError
from rewriter.ir.graph import all_graphs, all_initializers, sort_nodes, subgraph_attrs
from rewriter.ir.picks import FLOATS, INTEGERS
from rewriter.procs import scratch_prefix

__all__ = [
    "load_model",
    "is_large",
    "save_model",
    "model_file",
    "model_digest",
    "check_output_path",
    "save_atomic",
    "promote_mixed_arithmetic",
    "write_atomic",
    "MIN_OPSET",
]


# -- loading --------------------------------------------------------------------------------
def load_model(model: str | os.PathLike[str] | onnx.ModelProto | bytes) -> onnx.ModelProto:
    """Load a model from a path, bytes or a ModelProto (which is copied, never modified).

    Nodes out of topological order (ONNX Runtime runs such graphs, the checker refuses them,
    and ONNX Runtime's float16 converter writes them) are put in order (``ir.sort_nodes``).

    External data is loaded only from inside the model's folder. A ``.tflite``, ``.keras`` or
    ``.h5`` file or a SavedModel folder (``rewriter.frontends.tf``; needs the ``[tflite]`` or
    ``[tensorflow]`` extra), a saved ``torch.export`` program and a TorchScript archive
    (``rewriter.frontends.pt2``) are converted to ONNX first, so every command accepts those
    too; other PyTorch files (state dicts, pickled modules) get one line saying what they are.

    Raises:
        ModelError: one line naming the file and what is wrong with it.
    """
    m = _load(model)
    _inline_functions(m, _where(model))
    sort_nodes(m.graph)
    _count_perms_from_zero(m, _where(model))
    _batch_unbatched_pools(m, _where(model))
    _sum_bools_as_ints(m, _where(model))
    _sample_in_image_type(m, _where(model))
    _erfc_as_one_minus_erf(m, _where(model))
    _split_count_below_18(m, _where(model))
    _whole_axis_blocks(m, _where(model))
    _split_ort_fusions(m, _where(model))
    _raise_ir_version(m)
    _upgrade_opset(m, _where(model))
    return m


def _repaired(where: str, fixed: list[str], what: str, why: str) -> None:
    """The note for what load repaired in an export ONNX Runtime refuses: how many, the first
    two nodes' names, and why."""
    names = f"{', '.join(fixed[:2])}{', ...' if len(fixed) > 2 else ''}"
    warnings.warn(f"{where}: {len(fixed)} {what} ({names}: {why})", Note, stacklevel=4)


def _count_perms_from_zero(m: onnx.ModelProto, where: str) -> None:
    """A Transpose whose ``perm`` counts axes from the end (``x.permute(0, -2, -1, 1)``, which
    torch's TorchScript exporter writes as it is: Mamba2's mixer) gets them counted from 0,
    in place, saying so. ONNX allows only 0..rank-1 there, and ONNX Runtime refused the whole
    model ("Invalid attribute perm {0, -2, -1, 1}"); the axes meant are not in doubt, the
    perm's length being the rank. The shapes the exporter recorded after such a node were
    computed from the wrong axes (an output declared [2, ?, 49, 3] for [2, 4, 5, 3]): those
    of the values downstream are dropped (a graph output's sizes made unknown), to be inferred
    again."""
    fixed = _count_graph_perms(m.graph)
    if fixed:
        _repaired(
            where,
            fixed,
            "Transpose perm(s) with negative axes written as 0..rank-1",
            "ONNX allows no negative axes there",
        )


def _count_graph_perms(g: onnx.GraphProto) -> list[str]:
    """``_count_perms_from_zero`` on one graph and its bodies: the names of the nodes fixed."""
    fixed: list[str] = []
    down: set[str] = set()  # values computed from a fixed node's output (nodes are in order)
    for n in g.node:
        for _, body in subgraph_attrs(n):
            fixed += _count_graph_perms(body)
        if down.intersection(n.input):
            down.update(n.output)
        if n.op_type != "Transpose" or n.domain not in ("", "ai.onnx"):
            continue
        for a in n.attribute:
            perm = list(a.ints)
            if a.name != "perm" or min(perm, default=0) >= 0:
                continue
            counted = [p % len(perm) if -len(perm) <= p else p for p in perm]
            if sorted(counted) == list(range(len(perm))):
                a.ints[:] = counted
                fixed.append(n.name or n.output[0])
                down.update(n.output)
    if down:
        kept = [vi for vi in g.value_info if vi.name not in down]
        del g.value_info[:]
        g.value_info.extend(kept)
        for o in g.output:
            if o.name in down and o.type.HasField("tensor_type"):
                for d in o.type.tensor_type.shape.dim:  # the rank kept, every size unknown
                    d.Clear()
    return fixed


_POOLS = ("MaxPool", "AveragePool", "LpPool")


def _batch_unbatched_pools(m: onnx.ModelProto, where: str) -> None:
    """A pooling of an unbatched tensor (torch's ``max_pool2d`` of a [C, H, W] score map:
    SuperPoint's keypoint suppression, in SuperGlue and LightGlue) gets a batch of one around
    it, in place, saying so. The TorchScript exporter writes such a MaxPool as it is, with one
    spatial axis fewer in its input than its kernel has, and ONNX Runtime refused the whole
    model ("Attribute dilations has incorrect size"). Ranks come from shape inference, which
    stops at such a pool: a pass fixes the pools it ranks, then infers again; in the main
    graph."""
    pools = [n for n in m.graph.node if n.op_type in _POOLS and n.domain in ("", "ai.onnx")]
    if not pools:
        return
    from rewriter.ir.graph import default_opset, infer_value_info

    fixed: list[str] = []
    while pools:  # each pass fixes what its inference ranks (at least one pool, or stops)
        table = infer_value_info(m)
        found = []
        for n in pools:
            kernel = next((list(a.ints) for a in n.attribute if a.name == "kernel_shape"), [])
            vi = table.get(n.input[0])
            rank = len(vi.shape) if vi is not None and vi.shape is not None else None
            if kernel and rank == len(kernel) + 1 and len([o for o in n.output if o]) == 1:
                found.append(n)
        if not found:
            break
        for n in found:
            _batched(m.graph, n, default_opset(m))
            pools.remove(n)
            fixed.append(n.name or n.output[0])
    if fixed:
        _repaired(
            where,
            fixed,
            "pooling(s) of an unbatched tensor given a batch of one",
            "ONNX pools [batch, channels, ...] only",
        )


def _sum_bools_as_ints(m: onnx.ModelProto, where: str) -> None:
    """A CumSum of booleans (torch's ``mask.cumsum(-1)``, which torch sums as int64 and its
    TorchScript exporter writes as it is: PI0's masks) gets a Cast to int64 before it, in
    place, saying so. ONNX's CumSum takes numbers only, and ONNX Runtime refused the whole model
    ("Type 'tensor(bool)' of input parameter (pixel_attention_mask) of operator (CumSum) ...
    is invalid"). In the main graph; types from shape inference."""
    bool_ = onnx.TensorProto.BOOL
    fixed = _cast_inputs(
        m, ("CumSum",), lambda types: {0: onnx.TensorProto.INT64} if types[0] == bool_ else {}
    )
    if fixed:
        _repaired(
            where,
            fixed,
            "CumSum(s) of booleans summed as int64, as torch sums them",
            "ONNX's CumSum takes numbers only",
        )


def _sample_in_image_type(m: onnx.ModelProto, where: str) -> None:
    """A GridSample whose grid is of another float type than its image (torch's TorchScript
    exporter computes ``(coords + 0.5) / size`` of int64 coordinates in double: GLM-4V's
    position embeddings, sampled bicubic) gets its grid cast to the image's type, in place,
    saying so: torch's ``grid_sample`` takes the two in one type only, the one it computed in,
    and ONNX Runtime has no GridSample of a float image at a double grid ("Could not find an
    implementation for GridSample(16)"). In the main graph; types from shape inference."""

    def pick(types: list[int | None]) -> dict[int, int]:
        image, grid = types[0], types[1]
        return {1: image} if image in FLOATS and grid in FLOATS and grid != image else {}

    fixed = _cast_inputs(m, ("GridSample",), pick)
    if fixed:
        _repaired(
            where,
            fixed,
            "GridSample grid(s) cast to their image's type, as torch samples",
            "the export computed them in another",
        )


def promote_mixed_arithmetic(m: onnx.ModelProto) -> list[str]:
    """An Add, Sub, Mul or Div of a float and an integer tensor (torch's TorchScript exporter
    writes one where its type analysis lost a value's type: Kimi K2.5's position embeddings
    interpolated to each image's grid, "Type parameter (T) of Optype (Div) bound to different
    types (tensor(float) and tensor(int64))", which ONNX Runtime refuses) gets its integer
    inputs cast to the float type, in place, as torch promotes them; the names of the nodes
    changed. In the main graph; types from shape inference."""

    def pick(types: list[int | None]) -> dict[int, int]:
        floats = {t for t in types if t in FLOATS}
        if len(floats) != 1 or not any(t in INTEGERS for t in types):
            return {}
        (to,) = floats
        return {i: to for i, t in enumerate(types) if t in INTEGERS}

    return _cast_inputs(m, ("Add", "Sub", "Mul", "Div"), pick)


def _cast_inputs(
    m: onnx.ModelProto, ops: tuple[str, ...], pick: Callable[[list[int | None]], dict[int, int]]
) -> list[str]:
    """A Cast before the inputs of each node of the main graph of one of ``ops`` that ``pick``
    (given the node's input types, None where unknown) names, to the type it gives, in place;
    the names of the nodes changed."""
    nodes = [n for n in m.graph.node if n.op_type in ops and n.domain in ("", "ai.onnx")]
    if not nodes:
        return []
    from onnx import helper

    from rewriter.ir.graph import infer_value_info

    table = infer_value_info(m)
    fixed: list[str] = []
    for n in nodes:
        types = [(vi.elem_type if (vi := table.get(x)) is not None else None) for x in n.input]
        casts = pick(types)
        key = n.name or n.output[0]
        for i, to in sorted(casts.items()):
            to_name = onnx.TensorProto.DataType.Name(to).lower()
            name = f"{key}/as_{to_name}" if i == 0 else f"{key}/input{i}_as_{to_name}"
            cast = helper.make_node("Cast", [n.input[i]], [name], name=name, to=to)
            n.input[i] = name
            m.graph.node.insert(list(m.graph.node).index(n), cast)
        if casts:
            fixed.append(key)
    return fixed


def _erfc_as_one_minus_erf(m: onnx.ModelProto, where: str) -> None:
    """An ``Erfc`` in the default domain (tf2onnx keeps TensorFlow's for Keras 3's exact GELU,
    ``0.5 x erfc(-x / sqrt 2)``, saying only "Unsupported ops: Erfc") is written as ``1 -
    Erf``, in place, saying so: ONNX has no Erfc, and ONNX Runtime refused the whole model. The
    GELU rules then match it. Every graph; the one of the input's type where inference tells
    it, else float."""
    from onnx import helper

    from rewriter.ir.graph import infer_value_info

    graphs = [g for g in all_graphs(m.graph) if any(_is_erfc(n) for n in g.node)]
    if not graphs:
        return
    table = infer_value_info(m)
    fixed: list[str] = []
    for g in graphs:
        nodes: list[onnx.NodeProto] = []
        for n in g.node:
            if not _is_erfc(n):
                nodes.append(n)
                continue
            key = n.name or n.output[0]
            vi = table.get(n.input[0])
            elem = (
                vi.elem_type
                if vi is not None and vi.elem_type in FLOATS
                else onnx.TensorProto.FLOAT
            )
            one = helper.make_tensor(f"{key}/one", elem, [], [1.0])
            g.initializer.append(one)
            nodes.append(helper.make_node("Erf", [n.input[0]], [f"{key}/erf"], name=f"{key}/erf"))
            nodes.append(helper.make_node("Sub", [one.name, f"{key}/erf"], [n.output[0]], name=key))
            fixed.append(key)
        del g.node[:]
        g.node.extend(nodes)
    _repaired(where, fixed, "Erfc node(s) written as 1 - Erf", "ONNX has no Erfc")


def _split_count_below_18(m: onnx.ModelProto, where: str) -> None:
    """A ``Split`` with opset 18's ``num_outputs`` in a model of an older opset (torch's dynamo
    exporter writes ``x.split(n)`` so at ``opset_version=17``: GPT-2's attention) loses the
    attribute, in place, saying so: ONNX Runtime refused the whole model ("Unrecognized
    attribute: num_outputs"). Below opset 18 a Split without sizes cuts its axis into as many
    equal parts as it has outputs, which is what the attribute says wherever the axis divides;
    where inference gives a length that does not divide, the sizes are written as opset 18
    would cut them (ceil(length / count), the last part what is left)."""
    opset = max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if not 0 < opset < 18:
        return
    hits: list[tuple[onnx.GraphProto, onnx.NodeProto, int]] = []
    for g in all_graphs(m.graph):
        for n in g.node:
            if n.op_type != "Split" or n.domain not in ("", "ai.onnx"):
                continue
            count = next((a for a in n.attribute if a.name == "num_outputs"), None)
            if count is None:
                continue
            n.attribute.remove(count)
            hits.append((g, n, int(count.i)))
    if not hits:
        return
    from onnx import helper

    from rewriter.ir.graph import infer_value_info

    table = infer_value_info(m)
    for g, n, count in hits:
        vi = table.get(n.input[0])
        axis = next((int(a.i) for a in n.attribute if a.name == "axis"), 0)
        shape = vi.shape if vi is not None else None
        length = shape[axis] if shape is not None and -len(shape) <= axis < len(shape) else None
        if not isinstance(length, int) or length % count == 0 or len(n.input) > 1:
            continue
        step = -(-length // count)
        sizes = [min(step, max(length - k * step, 0)) for k in range(count)]
        key = n.name or n.output[0]
        if opset >= 13:
            g.initializer.append(
                helper.make_tensor(f"{key}/sizes", onnx.TensorProto.INT64, [count], sizes)
            )
            n.input.append(f"{key}/sizes")
        else:
            n.attribute.append(helper.make_attribute("split", sizes))
    _repaired(
        where,
        [n.name or n.output[0] for _, n, _ in hits],
        f"Split node(s) with opset 18's num_outputs written for opset {opset}",
        "below opset 18 the count of outputs says it",
    )


def _whole_axis_blocks(m: onnx.ModelProto, where: str) -> None:
    """A blocked ``DequantizeLinear`` (opset 21's ``block_size``) whose one block spans its
    whole axis (the scale's size there is 1) is a per-tensor or per-axis one, and is written so,
    in place, saying so: OpenCV's block-quantized zoo models (YuNet's ``int8bq``) quantize
    every weight so, and ONNX Runtime refused them on every run ("block_size must be 0 for
    per-tensor quantization", "For per axis quantization, scale must be 1D"). A scale (and zero
    point) of one element becomes a scalar; of one dim over 1, a 1-D one along that dim. The
    values are the same: each element's scale is the one of its row either way. The new
    constants get their own names (the old ones may be read elsewhere)."""
    from onnx import numpy_helper

    fixed: list[str] = []
    for g in all_graphs(m.graph):
        inits = {t.name: t for t in g.initializer}
        for n in g.node:
            if n.op_type != "DequantizeLinear" or n.domain not in ("", "ai.onnx"):
                continue
            attrs = {a.name: a for a in n.attribute}
            if "block_size" not in attrs or attrs["block_size"].i == 0 or n.input[1] not in inits:
                continue
            scale = inits[n.input[1]]
            axis = attrs["axis"].i if "axis" in attrs else 1
            if not -len(scale.dims) <= axis < len(scale.dims) or scale.dims[axis] != 1:
                continue
            big = [k for k, d in enumerate(scale.dims) if d > 1]
            consts = [v for v in n.input[1:3] if v]
            if len(big) > 1 or any(v not in inits for v in consts):
                continue
            for k, v in enumerate(consts, 1):
                a = numpy_helper.to_array(inits[v])
                t = numpy_helper.from_array(
                    a.reshape(-1) if big else a.reshape(()), f"{v}/{n.name}"
                )
                g.initializer.append(t)
                n.input[k] = t.name
            for name in ("block_size", "axis"):
                if name in attrs:
                    n.attribute.remove(attrs[name])
            if big:
                n.attribute.append(onnx.helper.make_attribute("axis", big[0]))
            fixed.append(n.name or n.output[0])
    if fixed:
        _repaired(
            where,
            fixed,
            "blocked DequantizeLinear(s) whose block spans the axis written per tensor or axis",
            "ONNX Runtime runs no such block",
        )


# ONNX Runtime's fused activations that add a bias first: op -> the one-input op left after
_ORT_BIAS_ACTS = {"BiasGelu": "Gelu", "FastGelu": "FastGelu"}
# the ``activation`` of ONNX Runtime's FusedConv / FusedGemm -> the ONNX op and the attributes
# its ``activation_params`` (FusedConv) or ``activation_alpha/beta/gamma`` (FusedGemm) are
_ORT_ATTR_OPS: dict[str, tuple[str, ...]] = {
    "Relu": (), "Tanh": (), "Sigmoid": (), "Softplus": (), "Softsign": (),
    "LeakyRelu": ("alpha",), "Elu": ("alpha",), "ThresholdedRelu": ("alpha",),
    "Selu": ("alpha", "gamma"), "HardSigmoid": ("alpha", "beta"),
}  # fmt: skip
_GEMM_PARAMS = ("activation_alpha", "activation_beta", "activation_gamma")


def _split_ort_fusions(m: onnx.ModelProto, where: str) -> None:
    """ONNX Runtime's fusions of an activation with what precedes it, as its sessions at
    ORT_ENABLE_EXTENDED (``optimized_model_filepath``) and its transformer optimizer save them,
    become the ops they fused, in place, saying so, so that the activation is a site like the
    unfused ones (ONNX Runtime fuses them again when it loads the model): com.microsoft
    ``BiasGelu(x, b)`` and ``FastGelu(x, b)`` (every BERT-style layer) the Add and the one-input
    ``Gelu`` / ``FastGelu``; ``FusedConv`` and ``FusedGemm`` (a CNN's SiLU gates, an MLP's
    ELU) the Conv (with its Add of ``Z``) or Gemm and the ``activation`` as its ONNX op. A
    ``QuickGelu`` without its ``alpha`` gets the default, 1.702, written; an activation not
    known here (``Clip``) stays fused."""
    from onnx import helper

    split: Counter[str] = Counter()
    for g in all_graphs(m.graph):
        nodes: list[onnx.NodeProto] = []
        for n in g.node:
            if n.domain != "com.microsoft":
                nodes.append(n)
                continue
            if n.op_type == "QuickGelu" and not any(a.name == "alpha" for a in n.attribute):
                n.attribute.append(helper.make_attribute("alpha", 1.702))
            parts = _ort_unfused(n)
            if parts is None:
                nodes.append(n)
                continue
            nodes.extend(parts)
            split[n.op_type] += 1
        if split:
            del g.node[:]
            g.node.extend(nodes)
    if split:
        counted = ", ".join(f"{k} {op}" for op, k in sorted(split.items()))
        warnings.warn(
            f"{where}: ONNX Runtime's fused activations written as the ops they fused ({counted}),"
            " so that their activations are sites; ONNX Runtime fuses them again when it loads "
            "the model",
            Note,
            stacklevel=3,
        )


def _ort_unfused(n: onnx.NodeProto) -> list[onnx.NodeProto] | None:
    """The nodes a com.microsoft fusion ``n`` stands for (``_split_ort_fusions``), or None."""
    from onnx import helper

    key = n.name or n.output[0]
    attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
    one = _ORT_BIAS_ACTS.get(n.op_type)
    if one is not None:
        if len(n.input) < 2 or not n.input[1]:
            return None
        add = helper.make_node("Add", list(n.input[:2]), [f"{key}/biased"], name=f"{key}/bias")
        act = helper.make_node(one, [f"{key}/biased"], list(n.output), name=key, domain=n.domain)
        return [add, act]
    if n.op_type not in ("FusedConv", "FusedGemm"):
        return None
    kind = attrs.pop("activation", b"")
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    if kind not in _ORT_ATTR_OPS:
        return None
    if n.op_type == "FusedConv":
        values = list(attrs.pop("activation_params", []))
        inputs, op = list(n.input[:3]), "Conv"
    else:
        values = [attrs.pop(k) for k in _GEMM_PARAMS if k in attrs]
        inputs, op = list(n.input), "Gemm"
    for k in _GEMM_PARAMS:
        attrs.pop(k, None)
    names = _ORT_ATTR_OPS[kind]
    if len(values) < len(names):  # the activation's own defaults
        names = names[: len(values)]
    out: list[onnx.NodeProto] = [helper.make_node(op, inputs, [f"{key}/pre"], name=f"{key}/{op}")]
    for a, v in attrs.items():
        out[0].attribute.append(helper.make_attribute(a, v))
    pre = f"{key}/pre"
    if n.op_type == "FusedConv" and len(n.input) > 3 and n.input[3]:  # Z, added before it
        out.append(helper.make_node("Add", [pre, n.input[3]], [f"{key}/sum"], name=f"{key}/sum"))
        pre = f"{key}/sum"
    act = helper.make_node(kind, [pre], list(n.output), name=key)
    for a, v in zip(names, values, strict=False):
        act.attribute.append(helper.make_attribute(a, float(v)))
    return [*out, act]


def _is_erfc(n: onnx.NodeProto) -> bool:
    return n.op_type == "Erfc" and n.domain in ("", "ai.onnx") and len(n.input) == 1


def _batched(g: onnx.GraphProto, pool: onnx.NodeProto, opset: int) -> None:
    """``pool`` between an Unsqueeze and a Squeeze of axis 0, in place, the nodes kept in
    order."""
    from onnx import helper

    x, y = pool.input[0], pool.output[0]
    key = pool.name or y
    inner_in, inner_out = f"{key}/batched_input", f"{key}/batched_output"
    if opset >= 13:
        axes = f"{key}/batch_axis"
        g.initializer.append(onnx.numpy_helper.from_array(np.array([0], np.int64), axes))
        up = helper.make_node("Unsqueeze", [x, axes], [inner_in], name=f"{key}/batch")
        down = helper.make_node("Squeeze", [inner_out, axes], [y], name=f"{key}/unbatch")
    else:
        up = helper.make_node("Unsqueeze", [x], [inner_in], name=f"{key}/batch", axes=[0])
        down = helper.make_node("Squeeze", [inner_out], [y], name=f"{key}/unbatch", axes=[0])
    pool.input[0], pool.output[0] = inner_in, inner_out
    at = list(g.node).index(pool)
    g.node.insert(at + 1, down)
    g.node.insert(at, up)


def _raise_ir_version(m: onnx.ModelProto) -> None:
    """IR version 3 (the ONNX model zoo's older models, the backend tests' ``pytorch-*``) makes
    every initializer a graph input too; the rational's constants are not, so the rewritten
    model failed onnx.checker ("pau/.../clip_hi in initializer but not in graph input"), and so
    did the version converter's own new ones. IR 4 drops that rule and changes nothing else;
    the initializers that are inputs stay inputs (overridable, as before)."""
    if 0 < m.ir_version < 4:
        m.ir_version = 4


def _inline_functions(m: onnx.ModelProto, where: str) -> None:
    """Inline the model's local functions (``onnx.inliner``), in place, saying so.

    Exporters write them for module hierarchies (torch's ``export_modules_as_functions``,
    onnxscript): a GELU inside a function is a node of the function's body, which no pass
    sees, so the model had "0 sites". ONNX Runtime inlines them when it loads the model too.
    """
    if not m.functions:
        return
    from onnx import inliner

    names = sorted({f"{f.domain}.{f.name}" if f.domain else f.name for f in m.functions})
    try:
        m.CopyFrom(inliner.inline_local_functions(m))
    except Exception as e:
        raise ModelError(
            f"{where}: cannot inline its local functions ({', '.join(names[:4])}): {_first_line(e)}"
        ) from None
    warnings.warn(
        f"{where}: {len(names)} local function(s) inlined ({', '.join(names[:4])}"
        f"{', ...' if len(names) > 4 else ''}) so the sites inside them are seen; the rewritten "
        "model has none",
        Note,
        stacklevel=3,
    )


MIN_OPSET = 11  # the emitted Clip takes min/max as inputs; older models are converted on load


def _first_line(e: BaseException, limit: int = 200) -> str:
    from rewriter.ir.runtime import first_line  # runtime imports this module

    return first_line(e, limit)


def _where(model: object) -> str:
    return os.fspath(model) if isinstance(model, (str, os.PathLike)) else "the model"


def _upgrade_opset(m: onnx.ModelProto, where: str) -> None:
    """Convert a model below ``MIN_OPSET`` to it with ``onnx.version_converter`` (in place).

    Every runtime this project targets runs opset 11, and the emitted nodes need it; a model
    the converter cannot take is refused in one line naming the converter's reason.
    """
    old = max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if not 0 < old < MIN_OPSET:
        return
    from onnx import version_converter

    try:
        new = version_converter.convert_version(m, MIN_OPSET)
        onnx.checker.check_model(new)
    except Exception as e:
        gone = sorted(
            {
                n.op_type
                for n in m.graph.node
                if n.domain in ("", "ai.onnx") and not onnx.defs.has(n.op_type)
            }
        )
        reason = (
            f"{', '.join(gone)}: no longer an ONNX op"
            if gone
            else _first_line(e, 1000).split(" failed: ")[-1][:200]  # no converter source location
        )
        raise ModelError(
            f"{where}: model uses opset {old} and onnx.version_converter cannot convert it to "
            f"{MIN_OPSET} ({reason}); export it again with opset >= {MIN_OPSET}"
        ) from None
    m.CopyFrom(new)
    m.ir_version = max(m.ir_version, onnx.helper.find_min_ir_version_for(list(m.opset_import)))
    warnings.warn(
        f"{where}: opset {old} converted to opset {MIN_OPSET} with onnx.version_converter; "
        f"the rewritten model is opset {MIN_OPSET}",
        Note,
        stacklevel=3,
    )


def _load(model: str | os.PathLike[str] | onnx.ModelProto | bytes) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        m = onnx.ModelProto()
        m.CopyFrom(model)
        return m
    if isinstance(model, bytes):
        return _parse(model, "<bytes>")
    path = os.fspath(model)
    from rewriter.frontends.common import frontend_for

    frontend = frontend_for(path)  # .tflite, .keras/.h5, SavedModel folder, torch.export .pt2
    if frontend is not None:
        return frontend.convert(path).model
    if not os.path.exists(path):
        raise ModelError(f"{path}: no such file; pass the path of an .onnx model")
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "config.json")) and any(
            f.endswith((".safetensors", ".bin")) for f in os.listdir(path)
        ):  # save_pretrained's folder: weights and a config, no graph
            raise ModelError(
                f"{path}: a transformers checkpoint folder (config.json and weights), no graph: "
                f"export it to ONNX (optimum-cli export onnx --model {path} OUT_DIR) or save a "
                "torch.export program of the loaded model, and rewrite that"
            )
        metas = sorted(f for f in os.listdir(path) if f.endswith(".meta"))
        if metas and any(f.endswith(".index") for f in os.listdir(path)):
            _tf1_checkpoint(path, os.path.join(path, metas[0]))
        onnx_files = sorted(f for f in os.listdir(path) if f.endswith(".onnx"))
        hint = f" ({', '.join(onnx_files[:4])} here)" if onnx_files else ""
        raise ModelError(f"{path}: is a directory; pass the path of an .onnx model file{hint}")
    if path.endswith((".meta", ".index")) or ".ckpt" in os.path.basename(path):
        _tf1_checkpoint(path)
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        raise ModelError(f"{path}: file is empty; pass the path of an .onnx model")
    try:
        m = _parse(data, path)
    except ModelError:
        from rewriter.frontends.pt2 import describe

        line = describe(path, data) or _foreign(path, data)  # a state dict, an engine: which
        if line is not None:
            raise ModelError(line) from None
        raise
    _load_external(m, path)
    return m


# other runtimes' compiled or converted forms, by suffix (and content where it says): none has
# a maintained way back to ONNX, so the line points to the model they were made from
_TENSORRT = (
    "a TensorRT engine (built for one GPU and TensorRT version): rewrite the ONNX it was built "
    "from, then build the engine again (trtexec --onnx=out.onnx)"
)
_FOREIGN = {
    ".xml": "an OpenVINO IR model, which has no converter back to ONNX: rewrite the ONNX it was "
    "converted from (plan for it with --target openvino-cpu), then convert the result with ovc",
    ".engine": _TENSORRT,
    ".plan": _TENSORRT,
    ".trt": _TENSORRT,
    ".pdmodel": "a PaddlePaddle inference model: convert it with paddle2onnx (in a venv of its "
    "own, see the README) and rewrite the .onnx",
    ".mlmodel": "a Core ML model, which no maintained converter turns into ONNX: export ONNX "
    "from the framework the model was trained in",
    ".param": "an ncnn model (.param and .bin), which no converter turns back into ONNX: "
    "rewrite the ONNX it was made from, then convert the result with pnnx or onnx2ncnn",
    ".mnn": "an MNN model, which no converter turns back into ONNX: rewrite the ONNX it was "
    "made from, then convert the result with MNNConvert",
}
_ORT_FORMAT = (
    "an ONNX Runtime format model (.ort, for mobile and minimal builds), which ONNX Runtime "
    "converts to and not back: rewrite the .onnx it was made from, then convert the result "
    "(python -m onnxruntime.tools.convert_onnx_models_to_ort)"
)


def _foreign(path: str, data: bytes) -> str | None:
    """The one line for another runtime's model file (``_FOREIGN``; an ONNX Runtime format
    model by its flatbuffer identifier, whatever its name), or None."""
    if data[4:8] == b"ORTM":
        return f"{path}: {_ORT_FORMAT}"
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".xml" and b"<net" not in data[:4096]:
        return None  # some other XML
    what = _FOREIGN.get(suffix)
    return f"{path}: {what}" if what else None


def _tf1_checkpoint(path: str, meta: str | None = None) -> None:
    """A TensorFlow 1 checkpoint (musicnn ships its models so): a graph (``.meta``) and its
    variables, with no signature naming inputs and outputs, which tf2onnx needs given."""
    meta = meta or (path if path.endswith(".meta") else "MODEL.meta")
    raise ModelError(
        f"{path}: a TensorFlow 1 checkpoint (a .meta graph and .index/.data variables), which "
        "names no inputs and outputs: convert it with python -m tf2onnx.convert --checkpoint "
        f"{meta} --inputs NAME:0 --outputs NAME:0 --output model.onnx (or save a SavedModel) "
        "and rewrite that"
    )


def _parse(data: bytes, where: str) -> onnx.ModelProto:
    m = onnx.ModelProto()
    try:
        m.ParseFromString(data)
    except Exception as e:  # protobuf raises DecodeError and friends
        raise ModelError(
            f"{where}: not an ONNX model (protobuf parse failed: {e}); is the file truncated?"
        ) from None
    if not m.HasField("graph") or m.ir_version == 0:
        raise ModelError(
            f"{where}: not an ONNX model (no graph or ir_version); check the file is a .onnx model"
        )
    return m


def _load_external(m: onnx.ModelProto, path: str) -> None:
    from onnx.external_data_helper import (
        load_external_data_for_model,
        uses_external_data,
    )

    base = os.path.dirname(os.path.abspath(path))
    tensors = [t for t in all_initializers(m.graph) if uses_external_data(t)]
    if not tensors:
        return
    for t in tensors:
        loc = next((e.value for e in t.external_data if e.key == "location"), "")
        full = os.path.realpath(os.path.join(base, loc))
        if os.path.isabs(loc) or os.path.commonpath(
            [full, os.path.realpath(base)]
        ) != os.path.realpath(base):
            raise ModelError(
                f"{path}: initializer {t.name!r} points to external data {loc!r} outside the "
                "model's folder; move the data next to the model"
            )
        if not os.path.exists(full):
            raise ModelError(
                f"{path}: external data file {loc!r} for initializer {t.name!r} is missing"
            )
    try:
        load_external_data_for_model(m, base)
    except Exception as e:
        raise ModelError(f"{path}: cannot read external data ({e})") from None


# the formats read but not written, and why
_NOT_WRITTEN = (
    (
        (".tflite", ".keras", ".h5", ".hdf5"),
        "writing TFLite/Keras is not supported (no ONNX-to-TFLite converter works beside this "
        "project's onnx and numpy pins)",
    ),
    (
        (".pt2", ".pt", ".pth"),
        "commands write ONNX, not PyTorch files (in Python, rewriter.rewrite(module, "
        "example_inputs=...) returns a rewritten torch.fx module)",
    ),
)


def check_output_path(inp: str | None, out: str) -> None:
    """Refuse output paths that would overwrite the input or land in a missing folder."""
    if out.endswith(tuple(sep for sep in (os.sep, os.altsep) if sep)):
        # abspath drops the separator: "out/" passed as a file "out" in an existing folder,
        # and the rename after the whole run failed (an internal error)
        raise UsageError(
            f"{out}: names a folder (it ends with {out[-1]!r}); give a file name for the "
            f"output, e.g. {os.path.join(out, 'model.onnx')}"
        )
    folder = os.path.dirname(os.path.abspath(out)) or "."
    if not os.path.isdir(folder):
        raise UsageError(f"{out}: output folder {folder} does not exist; create it first")
    if os.path.isdir(out):
        raise UsageError(f"{out}: is a directory; give a file name for the output model")
    for suffixes, why in _NOT_WRITTEN:
        if out.lower().endswith(suffixes):
            onnx_out = os.path.splitext(out)[0] + ".onnx"
            raise UsageError(f"{out}: {why}; write ONNX instead: -o {onnx_out}")
    if inp is not None and os.path.exists(out) and os.path.samefile(inp, out):
        raise UsageError(f"{out}: output path is the input path; the input is never overwritten")
    data = out + ".data"  # where a large output's tensors go (save_atomic)
    if inp is not None and os.path.isfile(inp) and os.path.exists(data):
        if any(os.path.samefile(data, f) for f in _external_files(inp)):
            raise UsageError(
                f"{out}: a large output's tensors go to {data}, which holds the input's "
                "external data; the input is never overwritten: choose another output name"
            )


def _external_files(path: str) -> list[str]:
    """The external data files an ONNX file points to (that exist)."""
    try:
        m = onnx.load(path, load_external_data=False)
    except Exception:
        return []
    base = os.path.dirname(os.path.abspath(path))
    files = {
        os.path.join(base, e.value)
        for t in all_initializers(m.graph)
        for e in t.external_data
        if e.key == "location"
    }
    return sorted(f for f in files if os.path.exists(f))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename, so a
    failed or interrupted write leaves no partial file; the file gets the usual mode (umask)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".pau-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        _raise_naming(e, path)
        raise


def _raise_naming(e: BaseException, path: str) -> None:
    """A write refused without a file name (a full disk, through the temporary file's
    descriptor) raised again naming ``path``, the file the user asked for; else nothing."""
    if isinstance(e, OSError) and e.filename is None:
        raise OSError(e.errno, e.strerror, path) from e


def save_atomic(m: onnx.ModelProto, out: str) -> None:
    """Serialize ``m`` deterministically and write it atomically (see ``write_atomic``).

    A model over protobuf's 2 GiB (``is_large``) is written with its tensors in ``OUT.data``
    beside it (ONNX external data, what exporters write for large models): the data file is
    renamed into place first, then the model, so an interrupted write leaves no model that
    points at missing data.
    """
    if not is_large(m):
        write_atomic(out, m.SerializeToString(deterministic=True))
        return
    folder = os.path.dirname(os.path.abspath(out))
    data = os.path.basename(out) + ".data"
    fd, tmp_data = tempfile.mkstemp(prefix=".pau-", suffix=".data.tmp", dir=folder)
    os.close(fd)
    fd, tmp_model = tempfile.mkstemp(prefix=".pau-", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        _save_external(m, tmp_model, data, data_path=tmp_data)
        for t in (tmp_data, tmp_model):
            os.chmod(t, 0o666 & ~_umask())
        os.replace(tmp_data, os.path.join(folder, data))
        os.replace(tmp_model, out)
    except BaseException as e:
        for t in (tmp_data, tmp_model):
            if os.path.exists(t):
                os.unlink(t)
        _raise_naming(e, out)
        raise


# -- models over protobuf's 2 GiB ------------------------------------------------------------
# One serialized protobuf message cannot exceed 2 GiB: SerializeToString, ByteSize, onnx.checker
# and shape inference on such a ModelProto all fail ("Failed to serialize proto"). Exporters
# write those models with external data (model.onnx + model.onnx.data); so does this project,
# wherever a model has to become bytes: sessions, the checker, OpenVINO, the written output.
_LARGE = 2**31 - 2**28  # tensor bytes above which a model is handled as large (room for the graph)
_EXTERNAL_MIN = 1024  # bytes: tensors at least this big go to the data file of a large model


def _tensor_bytes(t: onnx.TensorProto) -> int:
    if t.data_type in (onnx.TensorProto.STRING, onnx.TensorProto.UNDEFINED):
        return 0
    size = onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
    return int(np.prod(t.dims, dtype=np.int64)) * size


def is_large(m: onnx.ModelProto) -> bool:
    """Whether ``m``'s tensors add up to more than one protobuf message can hold (about 2 GiB);
    counted from their dims and types, as asking protobuf for the size fails on such a model."""
    return weight_bytes(m) > _LARGE


def weight_bytes(m: onnx.ModelProto) -> int:
    """Bytes of ``m``'s initializers (every graph's), from their dims and types."""
    return sum(_tensor_bytes(t) for t in all_initializers(m.graph))


# Weights above this many bytes reach a runtime as a file with external data, which it maps
# instead of copying: an ONNX Runtime session of a 415 MiB BERT-base adds 918 MiB from
# serialized bytes (ONNX Runtime's parsed copy, its initializers), 357 MiB from such a file
# (`tools/bench_big.py --sessions`, ORT 1.32 CPU). Small models stay in memory (a file costs more than it saves).
MAPPED_WEIGHTS = 64 * 2**20


def mapped(m: onnx.ModelProto) -> bool:
    """Whether a runtime should get ``m`` as a file with external data (large, or weights over
    ``MAPPED_WEIGHTS``) rather than as serialized bytes."""
    return weight_bytes(m) > min(_LARGE, MAPPED_WEIGHTS)


def save_model(m: onnx.ModelProto, path: str, *, external: bool = False) -> None:
    """Write ``m`` to ``path`` as is, or with external data in ``PATH.data`` when large (or
    ``external``); ``m`` is not modified (unlike ``onnx.save(..., save_as_external_data=True)``).
    Not atomic: for temporary files; the output goes through ``save_atomic``."""
    if external or is_large(m):
        _save_external(m, path, os.path.basename(path) + ".data")
    else:
        with open(path, "wb") as f:
            f.write(m.SerializeToString(deterministic=True))


def model_digest(m: onnx.ModelProto) -> str:
    """A SHA-1 of ``m``'s deterministic serialization, or, for a large model, of its graph and
    each large tensor apart (identical models, identical digests; either way)."""
    if not is_large(m):
        return hashlib.sha1(m.SerializeToString(deterministic=True)).hexdigest()
    h = hashlib.sha1()
    for t in m.graph.initializer:
        h.update(t.SerializeToString(deterministic=True))
    h.update(_without_initializers(m).SerializeToString(deterministic=True))
    return h.hexdigest()


@contextlib.contextmanager
def model_file(m: onnx.ModelProto, *, external: bool = False) -> Iterator[str]:
    """A temporary ``model.onnx`` (plus ``model.onnx.data`` when large, or ``external``) holding
    ``m``, for the tools that need a path; removed on exit (a runtime that mapped the data keeps
    its mapping)."""
    with tempfile.TemporaryDirectory(prefix=scratch_prefix("model")) as d:
        path = os.path.join(d, "model.onnx")
        save_model(m, path, external=external)
        yield path


def _without_initializers(m: onnx.ModelProto) -> onnx.ModelProto:
    """A new model with everything of ``m`` but its main graph's initializers (copying those
    would double a large model in memory)."""
    s = onnx.ModelProto()
    for src, dst, skip in ((m, s, "graph"), (m.graph, s.graph, "initializer")):
        for fd, value in src.ListFields():
            if fd.name == skip:
                continue
            if fd.message_type is not None:  # a message or a repeated field
                getattr(dst, fd.name).MergeFrom(value)
            else:
                setattr(dst, fd.name, value)
    return s


def _save_external(
    m: onnx.ModelProto, path: str, location: str, data_path: str | None = None
) -> None:
    """Serialize ``m`` to ``path`` with every main-graph tensor of ``_EXTERNAL_MIN`` bytes or
    more written to ``data_path`` (default: ``location`` beside ``path``), referenced as
    ``location``.

    ``m`` is not touched: what is serialized is a new model sharing everything but those
    tensors' data. (Taking the data out of ``m`` and putting it back cost the model's size in
    memory each time: protobuf's arena keeps a cleared field's bytes until the message dies.)
    """
    data_path = data_path or os.path.join(os.path.dirname(os.path.abspath(path)), location)
    s = _without_initializers(m)
    with open(data_path, "wb") as f:
        for t in m.graph.initializer:
            if t.data_location == onnx.TensorProto.EXTERNAL or _tensor_bytes(t) < _EXTERNAL_MIN:
                s.graph.initializer.append(t)
                continue
            raw = t.raw_data if t.HasField("raw_data") else onnx.numpy_helper.to_array(t).tobytes()
            offset = -f.tell() % 4096 + f.tell()  # page-aligned: runtimes can map it
            f.seek(offset)
            f.write(raw)
            e = s.graph.initializer.add()
            e.name, e.data_type = t.name, t.data_type
            if t.HasField("doc_string"):
                e.doc_string = t.doc_string
            e.dims.extend(t.dims)
            e.data_location = onnx.TensorProto.EXTERNAL
            for k, v in (("location", location), ("offset", offset), ("length", len(raw))):
                entry = e.external_data.add()
                entry.key, entry.value = k, str(v)
            del raw
    with open(path, "wb") as f:
        f.write(s.SerializeToString(deterministic=True))
