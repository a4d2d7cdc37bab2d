"""Outputs that pick: indices, rows or counts chosen by comparing values the model computed.

A detector exported with its NonMaxSuppression returns the boxes it kept; a TopK returns the
indices of the largest scores; an ArgMax returns labels. Such outputs change in steps, not
smoothly: a score moved by 1e-5 can swap two indices or drop a box, and numbers such as
cosine or relative L2 mean nothing over indices (index 124 against 17 is "off by 107"). So
verification compares them by agreement (``rewriter.verify``), and compares as values the
computed tensors they pick by (the boxes and scores fed to NonMaxSuppression, the logits fed to
ArgMax): those are continuous, and they are where an accuracy budget is judged.

``picks(model)`` finds them in the main graph by one pass in graph order: the picking outputs of
the ops in ``PICKING`` are picked, and so is every tensor computed from a picked one (the boxes
gathered with NonMaxSuppression's indices). A picking op counts only where what it picks by
is computed by the model from the inputs' values, in floating point: an ArgMax over the token
ids a graph input holds, reshaped or cast (CLIP's pooler), picks the same rows in any rewrite,
so what it picks stays compared as values; nor does a float computed from shapes alone (an
exporter's Resize sizes).

A float the model computes and then casts to integers (``STEPS``) decides in steps too: a TTS
model's durations, ``Cast(Ceil(exp(log_duration)))``, set the length of its waveform, and a
rewrite that moves one duration across an integer makes the waveform 16 samples longer, where
no value can be compared. Such an output is compared as values where both models cast to the
same integers, and otherwise judged on the durations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from rewriter.ir.graph import (
    RANDOM_OPS,
    ValueInfoTable,
    constant_attr,
    draws_at_random,
    free_values,
    infer_value_info,
    subgraph_attrs,
)

__all__ = [
    "FLOATS", "INTEGERS", "PICKING", "RANDOM_OPS", "STEPS", "Pick", "computed", "drawn", "picks", "with_outputs",
]  # fmt: skip

# op -> (its outputs that pick, its inputs it picks by, whether the count of what it picks
# depends on the data)
PICKING: dict[str, tuple[tuple[int, ...], tuple[int, ...], bool]] = {
    "NonMaxSuppression": ((0,), (0, 1), True),
    "NonZero": ((0,), (0,), True),
    "Compress": ((0,), (0, 1), True),
    "Unique": ((0, 1, 2, 3), (0,), True),
    "TopK": ((1,), (0,), False),
    "ArgMax": ((0,), (0,), False),
    "ArgMin": ((0,), (0,), False),
}

# ops that pick only in some uses: a Cast from floats to integers or booleans (``step``)
STEPS = frozenset(("Cast",))

_ROUNDING = frozenset(("Ceil", "Floor", "Round"))
# where a float cast to integers is quantized rather than decided on: integer arithmetic that
# gives values back (ddddocr's hand-quantized CRNN casts each layer's rounded result to int32,
# reshapes it, adds an int32 bias and casts it back to float; its logits were never compared)
_QUANTIZED = frozenset(("ConvInteger", "MatMulInteger", "DequantizeLinear"))
_ARITH = frozenset(("Add", "Sub", "Mul"))  # read at any input; the views at their first
_INT_VIEWS = frozenset(("Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Identity",
                        "Add", "Sub", "Mul"))  # fmt: skip

# what a picking op's input may be made of between it and the values compared: a mask from a
# comparison (NonZero(scores > 0.5)), a cast, a rounding (Cast(Ceil(durations)))
_PREDICATES = _ROUNDING | frozenset(
    ("Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Equal", "Not", "And", "Or", "Xor")
    + ("Cast", "IsNaN", "IsInf")
)
# what may be done with rounded values before they are cast: summed, clamped, reshaped
_TALLY = frozenset(
    ("ReduceSum", "ReduceMax", "ReduceMin", "CumSum", "Clip", "Max", "Min", "Add", "Sub", "Mul")
    + ("Relu", "Abs", "Identity", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Transpose")
    + ("Concat", "Slice", "Gather", "Expand")
)

# ops whose outputs' values do not depend on their inputs' values, only on shapes
_SHAPE_ONLY = frozenset(("Shape", "Size", "ConstantOfShape", "EyeLike"))
# ops that move values without computing new ones: a graph input moved by them is still the
# input's own values, which no rewrite changes (SAM's ``orig_im_size[0]`` cast to int64); and
# those that select among their inputs' values (CANINE max-pools its attention mask by the
# downsampling rate and casts the result to int64: no pick a rewrite could change)
_MOVES = frozenset(
    ("Identity", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Transpose", "Gather", "Slice")
    + ("Concat", "Split", "Expand", "Tile", "GatherElements", "GatherND", "Cast", "CastLike")
    + ("MaxPool", "GlobalMaxPool", "ReduceMax", "ReduceMin", "Max", "Min", "Where")
)


INTEGERS = frozenset(
    (onnx.TensorProto.INT8, onnx.TensorProto.INT16, onnx.TensorProto.INT32, onnx.TensorProto.INT64)
    + (onnx.TensorProto.UINT8, onnx.TensorProto.UINT16, onnx.TensorProto.UINT32)
    + (onnx.TensorProto.UINT64, onnx.TensorProto.BOOL)
)

FLOATS = frozenset(
    (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE)
    + (onnx.TensorProto.BFLOAT16,)
)


# a Pick's fields after ``output``: ops, sources, counted, indices
_Fields = tuple[tuple[str, ...], tuple[str, ...], bool, tuple[str, ...]]


@dataclass(frozen=True)
class Pick:
    """A graph output that picks: by which ops, by which computed tensors.

    Attributes:
        output: the graph output.
        ops: the picking ops it depends on (op types, graph order).
        sources: the computed tensors those ops pick by (boxes, scores, logits).
        counted: whether how many items it holds depends on the data (NonMaxSuppression,
            NonZero, Compress, Unique): its items (rows) are then matched in any order;
            otherwise they are compared in place (labels, TopK indices).
        indices: what those ops picked (their picking outputs): where two models pick alike,
            the output is compared as values (an RT-DETR-style decoder after a TopK over
            proposals is then judged); otherwise by agreement.
        after: (source, the indices of the picks it is computed after), for the sources that
            follow another pick: Faster R-CNN's box head scores the proposals its RPN's TopK
            picked, so where that TopK picks otherwise, they score other proposals and are no
            values to compare in place.
    """

    output: str
    ops: tuple[str, ...]
    sources: tuple[str, ...]
    counted: bool
    indices: tuple[str, ...] = ()
    after: tuple[tuple[str, tuple[str, ...]], ...] = ()


def picks(model: onnx.ModelProto) -> dict[str, Pick]:
    """The graph outputs of ``model`` that pick (see the module docstring), by output name."""
    g = model.graph
    if not any(n.op_type in PICKING or n.op_type in STEPS or _picking_inside(n) for n in g.node):
        return {}
    producer = {o: n for n in g.node for o in n.output if o}
    info = infer_value_info(model)  # weights stripped: cheap
    memo: dict[str, tuple[str, ...]] = {}
    valued = computed(g)
    inits = {t.name: t for t in g.initializer}

    def const(name: str) -> np.ndarray | None:
        n = producer.get(name)
        if n is not None and n.op_type == "Constant":
            return constant_attr(n)
        return numpy_helper.to_array(inits[name]) if name in inits else None

    def floating(name: str) -> bool:
        vi = info.get(name)
        return vi is not None and vi.elem_type in FLOATS and name in valued

    outputs = {o.name for o in g.output}
    readers: dict[str, list[onnx.NodeProto]] = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)

    def step(n: onnx.NodeProto) -> bool:  # a Cast from floats to integers or booleans
        to = next((a.i for a in n.attribute if a.name == "to"), 0)
        if not (n.op_type == "Cast" and to in INTEGERS and n.input and floating(n.input[0])):
            return False
        return not quantized(n.output[0])

    def quantized(value: str) -> bool:
        """Whether every use of the integers ``value`` holds is arithmetic that gives values
        back (a Cast to a float, ``_QUANTIZED``), through reshapes and integer Add/Sub/Mul."""
        todo, seen = [value], set[str]()
        while todo:
            v = todo.pop()
            users = readers.get(v, [])
            if v in seen or v in outputs or not users or len(seen) > 64:
                return False
            seen.add(v)
            for u in users:
                to = next((a.i for a in u.attribute if a.name == "to"), 0)
                if u.op_type in _QUANTIZED or (u.op_type == "Cast" and to in FLOATS):
                    continue
                if u.op_type not in _INT_VIEWS or u.input[0] != v and u.op_type not in _ARITH:
                    return False
                todo.append(u.output[0])
        return True

    def picked_by(name: str, depth: int = 0) -> tuple[str, ...]:
        """The computed tensors behind ``name``, through masks and casts."""
        if name not in memo:
            n = producer.get(name)
            if n is None or n.op_type in ("Constant", "ConstantOfShape"):
                memo[name] = ()  # a graph input, an initializer, a constant
            elif n.op_type in _PREDICATES and depth < 32:
                found = [s for i in n.input if i for s in picked_by(i, depth + 1)]
                memo[name] = tuple(dict.fromkeys(found))
            else:  # token ids reshaped are no values a rewrite changes (CLIP's pooling)
                memo[name] = (name,) if floating(name) else ()
        return memo[name]

    def rounded(name: str) -> tuple[str, ...]:
        """What the roundings (Ceil, Floor, Round) behind a float cast to integers round, through
        the float arithmetic after them (VITS: ``Cast(Clip(ReduceSum(Ceil(durations))))``):
        the continuous values the step is decided on. Nothing found: ``name`` itself."""
        found: list[str] = []
        seen: set[str] = set()
        todo = [name]
        while todo and len(seen) < 16:
            t = todo.pop()
            n = producer.get(t)
            if t in seen or n is None or not floating(t):
                continue
            seen.add(t)
            if n.op_type in _ROUNDING:
                found += picked_by(n.input[0])
            elif n.op_type in _TALLY:
                todo += [i for i in n.input if i]
        return tuple(dict.fromkeys(found)) or picked_by(name)

    # tensor -> Pick fields (ops, sources, counted, indices), propagated in graph order
    state: dict[str, _Fields] = {}
    after: dict[str, tuple[str, ...]] = {}  # a source -> the picks it is computed after

    def union(*parts: _Fields) -> _Fields:
        return (
            tuple(dict.fromkeys(x for p in parts for x in p[0])),
            tuple(dict.fromkeys(x for p in parts for x in p[1])),
            any(p[2] for p in parts),
            tuple(dict.fromkeys(x for p in parts for x in p[3])),
        )

    for n in g.node:
        if _put_back(n, producer, lambda v: state.get(v) if v in valued else None, info, const):
            continue  # a mixture of experts' routing weights, in the experts' places
        inherited = [state[i] for i in n.input if i in state]
        if inherited:
            merged = union(*inherited)
            for o in n.output:
                if o:
                    state[o] = merged
        spec = PICKING.get(n.op_type) or (((0,), (0,), True) if step(n) else None)
        inner = () if spec is not None else _picking_inside(n)
        if spec is None and not inner:
            continue
        if spec is None:  # an If around a NonMaxSuppression: picks by the floats it reads
            outs, ops = tuple(range(len(n.output))), inner
            counted = any(PICKING[op][2] for op in inner)
            reads = {i for i in n.input if i}
            reads.update(v for _, body in subgraph_attrs(n) for v in free_values(body))
            sources = [s for r in sorted(reads) for s in picked_by(r)]
        else:
            outs, ins, counted = spec
            ops = (n.op_type,)
            by = rounded if n.op_type in STEPS else picked_by
            sources = [s for k in ins if k < len(n.input) and n.input[k] for s in by(n.input[k])]
        if not sources:
            continue
        sources = list(dict.fromkeys(sources))
        after.update((src, state[src][3]) for src in sources if src in state)
        for k in outs:
            o = n.output[k] if k < len(n.output) else ""
            if o:
                # what an If returns is what it picked where it is integers (indices); its
                # floats are picked too, but no record of the picking to compare exactly
                vi = info.get(o)
                index = (o,) if not inner or (vi is not None and vi.elem_type in INTEGERS) else ()
                own = (ops, tuple(sources), counted, index)
                before = state.get(o)
                state[o] = union(before, own) if before else own
    return {
        o.name: Pick(
            o.name,
            *state[o.name],
            after=tuple((src, after[src]) for src in state[o.name][1] if src in after),
        )
        for o in g.output
        if o.name in state
    }


_REDUCE = frozenset(
    ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2")
    + ("ReduceLogSumExp", "ReduceSumSquare")
)


def _put_back(
    n: onnx.NodeProto,
    producer: dict[str, onnx.NodeProto],
    picked_by: Callable[[str], _Fields | None],
    info: ValueInfoTable,
    const: Callable[[str], np.ndarray | None],
) -> bool:
    """Whether what ``n`` gives is in place whatever one TopK picked: a ScatterElements that
    puts the picks back where they were picked, along the TopK's axis, into a tensor no pick
    is behind; or a reduction over that axis of values picked by it alone (their sum, in any
    order; floats, not the indices summed). ``picked_by``: a tensor's pick, where it is
    computed from values (not a shape's zeros), else None.

    A mixture of experts' router (LFM2-MoE as onnxruntime-genai's builder writes it: the k
    largest scores, their probabilities gathered at those indices, summed to scale the
    layer's output and normalized, scattered into a ``[tokens, experts]`` tensor) gives each
    token's weight at each expert, zero (or a floor) where none was picked: the logits
    computed after it are values. Were they read as picked, distillation read such a model
    at its first router's scores and left everything after it out, and verification
    compared the logits by which experts were picked."""
    if n.op_type == "ScatterElements" and len(n.input) == 3:
        top, picked, axis = producer.get(n.input[1]), picked_by(n.input[2]), _axis(n, 0)
        if picked_by(n.input[0]) or top is None or top.op_type != "TopK":
            return False
        if top.output[1] != n.input[1]:
            return False
    elif n.op_type in _REDUCE and n.input and (picked := picked_by(n.input[0])):
        vi = info.get(n.input[0])
        if vi is None or vi.elem_type not in FLOATS:
            return False  # a count or a sum of the indices themselves: still picked
        top = producer.get(picked[3][0]) if len(picked[3]) == 1 else None
        axes = const(n.input[1]) if len(n.input) > 1 and n.input[1] else None
        axes = axes if axes is not None else next(
            (np.array(a.ints) for a in n.attribute if a.name == "axes"), None
        )  # fmt: skip
        if top is None or top.op_type != "TopK" or axes is None or axes.size != 1:
            return False
        axis = int(axes.reshape(-1)[0])
        if _rank(info, n.input[0]) != _rank(info, top.input[0]):
            return False  # reshaped between: no telling which axis is the TopK's
    else:
        return False
    if picked is not None and set(picked[3]) - {top.output[1]}:
        return False  # picked by another pick too
    rank = _rank(info, top.input[0])
    axes_ = [_axis(top, -1), axis]
    if rank is None and any(a < 0 for a in axes_):
        return False
    return len({a % rank if rank else a for a in axes_}) == 1


def _axis(n: onnx.NodeProto, default: int) -> int:
    return next((a.i for a in n.attribute if a.name == "axis"), default)


def _rank(info: ValueInfoTable, name: str) -> int | None:
    vi = info.get(name)
    return len(vi.shape) if vi is not None and vi.shape is not None else None


def _picking_inside(n: onnx.NodeProto) -> tuple[str, ...]:
    """The picking ops in ``n``'s bodies (an If, a Loop), at any depth: torchvision's detectors
    run their NonMaxSuppression in an If that skips it when no box is left."""
    found: list[str] = []
    for _, body in subgraph_attrs(n):
        for m in body.node:
            if m.op_type in PICKING:
                found.append(m.op_type)
            found += _picking_inside(m)
    return tuple(dict.fromkeys(found))


def computed(g: onnx.GraphProto) -> set[str]:
    """The tensors of ``g`` computed from its inputs' values (not from their shapes alone) or
    from random ops: what is computed from graph inputs that are no initializers and from
    random draws, except through ``Shape``, ``Size`` and the ops that read only a shape. A
    graph input only moved or selected among (``_MOVES``: gathered, sliced, reshaped, cast,
    max-pooled) is not computed. Nor is what integer inputs alone give with scalar constants
    (``data`` below): no float input, weight or random draw behind it, no activation a rewrite
    could change. Parakeet's frame lengths, ``Floor((ReduceSum(Cast(mask)) + 1) / 2)``, picked
    its hidden state: distillation then judged the lengths and had nothing to train ("student
    has no rational coefficients or float weight initializers"). An op with subgraphs depends
    on what its bodies read from outside too."""
    inits = {t.name for t in g.initializer}
    moved = {i.name for i in g.input if i.name not in inits}  # an input's own values
    # what a float input, a weight (a float tensor of more than one value: an embedding
    # table) or a random draw is behind
    data = {
        i.name
        for i in g.input
        if i.name not in inits and i.type.tensor_type.elem_type not in INTEGERS
    }
    data |= {t.name for t in g.initializer if _weight(t)}
    out: set[str] = set()
    for n in g.node:
        if _holds_weight(n):
            data.update(o for o in n.output if o)
        if n.op_type in RANDOM_OPS:
            out.update(o for o in n.output if o)
            data.update(o for o in n.output if o)
        if n.op_type in _SHAPE_ONLY:
            continue
        reads = _reads(n)
        if reads & data:
            data.update(o for o in n.output if o)
        if reads & out or (reads & moved and n.op_type not in _MOVES):
            out.update(o for o in n.output if o)
        elif reads & moved:
            moved.update(o for o in n.output if o)
    return out & data


def drawn(g: onnx.GraphProto) -> set[str]:
    """The tensors of ``g`` a random op's draw is behind (not through shapes alone): what no
    other runtime's generator computes alike, whatever the seed. ViT-MAE masks patches by the
    order of ``torch.rand`` noise: in ONNX a RandomUniformLike, whose draws in ONNX Runtime are
    not PyTorch's, so its hidden state, mask and order differ from the source's for any
    conversion. A Dropout in training mode draws (``draws_at_random``, what verification pins
    the seeds of), and so does an op whose bodies hold one."""

    def draws(n: onnx.NodeProto) -> bool:
        return draws_at_random(n) or any(
            draws(m) for _, body in subgraph_attrs(n) for m in body.node
        )

    out: set[str] = set()
    for n in g.node:
        if draws(n) or (n.op_type not in _SHAPE_ONLY and _reads(n) & out):
            out.update(o for o in n.output if o)
    return out


# ops a rewrite may replace or training change the input of: what follows one can differ
# between a student and its teacher
_ACTIVATIONS = frozenset(
    "Sigmoid Tanh Erf Exp Softplus Softsign Elu Selu Celu Gelu Mish HardSigmoid HardSwish "
    "LeakyRelu PRelu ThresholdedRelu Relu".split()
)


def movable(g: onnx.GraphProto) -> set[str]:
    """The tensors of ``g`` that a rewrite or retraining can move: with a weight (a float
    initializer or Constant of more than one value: a layer's weights, a rational's
    coefficients) or an activation behind them, not through shapes alone. What a pick picks by
    with neither is the same in a student and its teacher on the same inputs (TimesFM's ArgMax
    over its padding input)."""
    data = {t.name for t in g.initializer if _weight(t)}
    for n in g.node:
        if _holds_weight(n):
            data.update(o for o in n.output if o)
        if n.op_type not in _SHAPE_ONLY and (_reads(n) & data or n.op_type in _ACTIVATIONS):
            data.update(o for o in n.output if o)
    return data


def _reads(n: onnx.NodeProto) -> set[str]:
    """The values ``n`` reads: its inputs, and what its bodies read from outside."""
    reads = {i for i in n.input if i}
    for _, body in subgraph_attrs(n):
        reads |= free_values(body)
    return reads


def _holds_weight(n: onnx.NodeProto) -> bool:
    """A Constant node holding a weight (``_weight``)."""
    return n.op_type == "Constant" and bool(n.attribute) and _weight(n.attribute[0].t)


def _weight(t: onnx.TensorProto) -> bool:
    """A float tensor of more than one value (a scalar constant is arithmetic, not data)."""
    return t.data_type in FLOATS and math.prod(t.dims) > 1


def with_outputs(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    """``model`` with the tensors ``names`` added as graph outputs after its own (name only:
    ONNX Runtime types them), for comparing; ``model`` itself when there are none to add."""
    have = {o.name for o in model.graph.output}
    add = [n for n in names if n not in have]
    if not add:
        return model
    m = onnx.ModelProto()
    m.CopyFrom(model)
    m.graph.output.extend(onnx.ValueInfoProto(name=n) for n in add)
    return m
