"""A small ONNX -> ``torch.nn.Module`` converter, so that torch targets measure the same micro-
models and whole models as the ONNX targets.

It covers the ops of the micro-models the cost model cuts (Conv, Gemm, MatMul, Add, ... and the
elementwise ops activations and emitted rationals are made of) and of statically shaped CNN and
transformer exports (Reshape/Transpose/Softmax/LayerNormalization/pooling ...). Initializers
become buffers; the forward is an interpreter over the node list with attributes resolved
ahead, which ``torch.compile`` traces into one graph (``fullgraph=True``), so Inductor fuses the
elementwise chains exactly as it would for the same computation written in torch. The same
module is what ``rewrite finetune --mode distill`` trains (``rewriter.tune.e2e``), so every op
computes what ONNX Runtime computes for the model's opset (the op table and its per-opset
semantics: ``rewriter.cost.torch_ops``; checked op by op against ONNX Runtime and on the
zoo's models in ``tests/test_torch_convert.py``).

onnx2torch is not used: it imports torchvision, which fails to import beside this torch CPU
build; and the cost model needs the interpreter anyway.

Recurrent ops (GRU, LSTM, RNN: ``rewriter.cost.torch_recurrent``) run step by step, Loop and
Scan bodies iteration by iteration (``rewriter.cost.torch_control``), and the state ops of
hybrid LLMs (com.microsoft CausalConvWithState, LinearAttention: ``rewriter.cost.torch_hybrid``)
token by token; the integer ops of
dynamic quantization (DynamicQuantizeLinear, MatMulInteger, ConvInteger) and QuantizeLinear
carry their integers as float values. Ops outside the table, If (``rewrite finetune`` splices
the branch the data take first: ``rewriter.ir.branches``), the QLinear* ops and custom domains
raise one ``UnsupportedOps`` naming all of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from rewriter.cost.torch_attention import ATTENTION, MICROSOFT_ATTENTION
from rewriter.cost.torch_control import CONTROL, Body, Step, control_step
from rewriter.cost.torch_hybrid import MICROSOFT_HYBRID
from rewriter.cost.torch_moe import MICROSOFT_MOE
from rewriter.cost.torch_ops import FOUR_BIT, Unsupported
from rewriter.cost.torch_ops import MICROSOFT_OPS as _MICROSOFT
from rewriter.cost.torch_ops import OPS as _OPS
from rewriter.cost.torch_recurrent import RECURRENT
from rewriter.errors import UsageError
from rewriter.ir.graph import default_opset, free_values, sort_nodes, subgraph_attrs

__all__ = ["to_torch", "SUPPORTED_OPS", "UnsupportedOps", "OnnxModule"]

OPS = {**_OPS, **RECURRENT, **ATTENTION}
MICROSOFT_OPS = {**_MICROSOFT, **MICROSOFT_ATTENTION, **MICROSOFT_HYBRID, **MICROSOFT_MOE}
# com.microsoft ops with optional inputs that are not computed: the positions of those that
# are (GroupQueryAttention's position_ids, attention_bias and the inputs after head_sink,
# MultiHeadAttention's past_sequence_length and cache_indirection, Attention's
# past_sequence_length, the mixtures of experts' third projection, QMoE's router_weights and
# fp4/fp8 scales are refused by name)
_MICROSOFT_INPUTS: dict[str, tuple[int, ...]] = {
    "GroupQueryAttention": (*range(9), 11),  # 11: head_sink
    "MultiHeadAttention": tuple(range(8)),
    "Attention": tuple(range(6)),
    "MoE": tuple(range(6)),
    "QMoE": (*range(8), 11, 12),
}
SUPPORTED_OPS = tuple(sorted([*OPS, *CONTROL, "Constant"]))


class UnsupportedOps(UsageError):
    """The model has ops the interpreter does not cover; ``ops`` names them (sorted)."""

    def __init__(self, ops: list[str], nodes: list[str]) -> None:
        self.ops, self.nodes = ops, nodes
        super().__init__(
            f"torch converter: {self.names} {'is' if len(ops) == 1 else 'are'} not supported "
            f"(node(s) {', '.join(repr(n) for n in nodes[:5])}"
            f"{' ...' if len(nodes) > 5 else ''}); supported ops: "
            "rewriter.cost.torch_convert.SUPPORTED_OPS"
        )

    @property
    def names(self) -> str:
        """The unsupported ops, comma-separated: ``"If, RoiAlign"``."""
        return ", ".join(self.ops)


def _attrs(n: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}


def _constant(n: onnx.NodeProto) -> np.ndarray:
    a = _attrs(n)
    if "value" in a:
        return numpy_helper.to_array(a["value"])
    if "value_float" in a:
        return np.array(a["value_float"], np.float32)
    if "value_floats" in a:
        return np.array(a["value_floats"], np.float32)
    if "value_int" in a:
        return np.array(a["value_int"], np.int64)
    if "value_ints" in a:
        return np.array(a["value_ints"], np.int64)
    raise Unsupported(f"Constant ({', '.join(a)})")


def as_tensor(arr: np.ndarray) -> torch.Tensor:
    """An initializer's values as a torch tensor. ONNX's 4-bit integers (``ml_dtypes`` int4 and
    uint4, the blocked weights of a QDQ int4 LLM, opset 21) widen to int8 and uint8, which
    torch has, their values kept; bfloat16 goes through float32."""
    name = np.dtype(arr.dtype).name
    if name in ("int4", "uint4"):
        return torch.from_numpy(np.asarray(arr).astype(np.int8 if name == "int4" else np.uint8))
    if name == "bfloat16":
        return torch.from_numpy(np.asarray(arr).astype(np.float32)).to(torch.bfloat16)
    return torch.from_numpy(np.array(arr))


class OnnxModule(torch.nn.Module):
    """The converted model: inputs in ONNX graph-input order, outputs as a tuple."""

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        g = onnx.GraphProto()
        g.CopyFrom(model.graph)
        sort_nodes(g)  # steps run in list order: a graph written out of order is sorted first
        consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.input_names = [i.name for i in g.input if i.name not in consts]
        self.output_names = [o.name for o in g.output]
        # quantized integers are carried as floats inside (see torch_ops._quantize); one that
        # is a graph output leaves as the integer type ONNX Runtime gives
        self._int_outputs: dict[str, torch.dtype] = {}
        outs = set(self.output_names)
        for n in g.node:
            for o, dt in zip(n.output, _integer_outputs(n, consts), strict=False):
                if o in outs and dt is not None:
                    self._int_outputs[o] = torch.from_numpy(np.zeros(1, dt)).dtype
        self._const_names: dict[str, str] = {}
        # value name -> the tensors it took (every iteration of a body): what
        # calibrate._observe_in_bodies asks to see; empty, nothing is recorded
        self.watch: dict[str, list[torch.Tensor]] = {}
        self._n_body_consts = 0
        # a Loop/Scan body's constants by name (buffer key), for names only one body holds
        self.body_const_names: dict[str, str] = {}
        self._shared: set[str] = set()
        missing: dict[str, list[str]] = {}  # what is not covered -> node names
        self._steps = self._compile(g, consts, default_opset(model), missing)
        if missing:
            raise UnsupportedOps(sorted(missing), [w for k in sorted(missing) for w in missing[k]])
        for name in self._shared | set(consts):
            self.body_const_names.pop(name, None)
        for i, (name, arr) in enumerate(sorted(consts.items())):
            key = f"c{i}"
            self._const_names[name] = key
            self.register_buffer(key, as_tensor(arr), persistent=False)

    def _compile(
        self,
        g: onnx.GraphProto,
        consts: dict[str, np.ndarray],
        opset: int,
        missing: dict[str, list[str]],
    ) -> list[Step]:
        """``g``'s nodes as steps (Constant nodes go to ``consts``); what is not covered is
        added to ``missing``. Loop and Scan bodies are compiled here too (``torch_control``)."""
        steps: list[Step] = []
        for n in g.node:
            where = n.name or n.output[0]
            if n.domain == "com.microsoft" and n.op_type in MICROSOFT_OPS:
                computed = _MICROSOFT_INPUTS.get(n.op_type, range(len(n.input)))
                extra = [x for i, x in enumerate(n.input) if x and i not in computed]
                if extra:  # optional inputs the op's function does not compute
                    missing.setdefault(
                        f"com.microsoft.{n.op_type} (with {', '.join(extra)})", []
                    ).append(where)
                    continue
                try:
                    fn = MICROSOFT_OPS[n.op_type](_attrs(n), _used_outputs(n), opset)
                except Unsupported as e:
                    missing.setdefault(str(e), []).append(where)
                    continue
                steps.append((fn, [x or None for x in n.input], list(n.output), False))
                continue
            if n.domain not in ("", "ai.onnx"):
                missing.setdefault(f"{n.domain}.{n.op_type}", []).append(where)
                continue
            if n.op_type not in OPS and n.op_type not in CONTROL and n.op_type != "Constant":
                missing.setdefault(n.op_type, []).append(where)
                continue
            ins: list[Any] = [x or None for x in n.input]
            for k, x in enumerate(n.input):  # constants read as Python values: literals
                if x in consts and (n.op_type, k) in HOST_SLOTS:
                    ins[k] = Host.of(consts[x])
            try:
                if n.op_type == "Constant":
                    consts[n.output[0]] = _constant(n)
                    continue
                if n.op_type in CONTROL:
                    body = self._body(dict(subgraph_attrs(n))[CONTROL[n.op_type]], opset, missing)
                    fn = control_step(n, _attrs(n), body, opset)
                    steps.append((fn, [*ins, *body.free], list(n.output), True))
                    continue
                attrs = _attrs(n)
                if n.op_type == "QuantizeLinear" and len(n.input) > 2 and n.input[2] in consts:
                    zero = onnx.helper.np_dtype_to_tensor_dtype(consts[n.input[2]].dtype)
                    if zero in FOUR_BIT:  # a 4-bit zero point, carried in 8 bits: its range kept
                        attrs["narrow"] = zero
                fn = OPS[n.op_type](attrs, _used_outputs(n), opset)
            except Unsupported as e:
                missing.setdefault(str(e), []).append(where)
                continue
            steps.append((fn, ins, list(n.output), False))
        return steps

    def _body(self, g: onnx.GraphProto, opset: int, missing: dict[str, list[str]]) -> Body:
        """A Loop/Scan body compiled; its initializers and Constant nodes become buffers
        (``b0``, ``b1``, ...), the outer values it reads are passed in by name."""
        consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        steps = self._compile(g, consts, opset, missing)
        keys: dict[str, str] = {}
        for name, arr in sorted(consts.items()):
            key = f"b{self._n_body_consts}"
            self._n_body_consts += 1
            keys[name] = key
            if name in self.body_const_names:
                self._shared.add(name)
            self.body_const_names[name] = key
            self.register_buffer(key, as_tensor(arr), persistent=False)
        inputs = [i.name for i in g.input]
        free = sorted(free_values(g) - set(consts))
        return Body(inputs, [o.name for o in g.output], steps, keys, free)

    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        env: dict[str, Any] = dict(zip(self.input_names, xs, strict=True))
        for name, key in self._const_names.items():
            env[name] = getattr(self, key)
        self._run(self._steps, env)
        return tuple(self._out(o, env[o]) for o in self.output_names)

    def _run(self, steps: list[Step], env: dict[str, Any]) -> None:
        """Run ``steps`` over ``env`` (name -> value), adding what they compute."""
        for fn, ins, outs, control in steps:
            args = [env[i] if isinstance(i, str) else i for i in ins]
            while args and args[-1] is None:
                args.pop()
            y = fn(self, *args) if control else fn(*args)
            if len(outs) == 1:
                env[outs[0]] = y
            else:
                for o, v in zip(outs, y, strict=False):
                    env[o] = v
            if self.watch:
                for o in outs:
                    if o in self.watch:
                        self.watch[o].append(env[o])

    def _out(self, name: str, y: Any) -> Any:
        dt = self._int_outputs.get(name)
        if dt is not None and isinstance(y, torch.Tensor) and y.is_floating_point():
            return y.round().to(dt)
        return y


class Host:
    """A constant an op reads as Python values (a Reshape's shape, Unsqueeze's axes, Slice's
    bounds, Resize's scales), held as Python numbers rather than a tensor buffer: under
    ``torch.compile(fullgraph=True)`` a buffer's ``.tolist()`` is data-dependent ("sort with
    non-constant keys", "could not guard on u0 < 0") and numpy is traced. It answers the few
    tensor methods those ops call on it."""

    __slots__ = ("flat", "shape")

    def __init__(self, flat: list[Any], shape: tuple[int, ...]) -> None:
        self.flat, self.shape = flat, shape

    @classmethod
    def of(cls, a: np.ndarray) -> Host:
        return cls(np.asarray(a).ravel().tolist(), tuple(np.shape(a)))

    def reshape(self, *shape: Any) -> Host:  # the ops flatten (-1) or take the scalar (())
        flat = shape in ((-1,), ([-1],))
        return Host(self.flat, (len(self.flat),) if flat else ())

    def tolist(self) -> Any:
        return list(self.flat) if self.shape else self.flat[0]

    def item(self) -> Any:
        return self.flat[0]

    def __getitem__(self, k: int) -> Any:
        return self.flat[k]

    def __int__(self) -> int:
        return int(self.flat[0])

    def __float__(self) -> float:
        return float(self.flat[0])

    def dim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        return len(self.flat)


# (op, input) whose constant is read as Python values, never computed with
HOST_SLOTS = {
    ("Reshape", 1), ("Unsqueeze", 1), ("Squeeze", 1), ("Split", 1), ("SplitToSequence", 1),
    ("Slice", 1), ("Slice", 2), ("Slice", 3), ("Slice", 4), ("Expand", 1), ("Tile", 1),
    ("ConstantOfShape", 0), ("Pad", 1), ("Pad", 2), ("Pad", 3), ("Resize", 1), ("Resize", 2),
    ("Resize", 3), ("TopK", 1), ("OneHot", 1), ("CumSum", 1),
    *((op, 1) for op in ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
                         "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
                         "ReduceSumSquare")),
}  # fmt: skip


def _integer_outputs(n: onnx.NodeProto, consts: dict[str, np.ndarray]) -> list[Any]:
    """The integer dtype of each output the interpreter carries as floats (None: not one)."""
    if n.op_type == "QuantizeLinear":
        zp = consts.get(n.input[2]) if len(n.input) > 2 and n.input[2] else None
        return [zp.dtype if zp is not None else np.dtype(np.uint8)]
    if n.op_type == "DynamicQuantizeLinear":
        return [np.dtype(np.uint8), None, np.dtype(np.uint8)]
    if n.op_type in ("MatMulInteger", "ConvInteger"):
        return [np.dtype(np.int32)]
    return []


def _used_outputs(n: onnx.NodeProto) -> int:
    """How many outputs are asked for (trailing optional outputs left empty do not count)."""
    outs = list(n.output)
    while outs and not outs[-1]:
        outs.pop()
    return len(outs)


def to_torch(model: onnx.ModelProto) -> OnnxModule:
    """Convert ``model`` (default domain, no control flow) to a ``torch.nn.Module``.

    Raises:
        UnsupportedOps: one error naming every op (or op configuration) the interpreter does
            not cover, e.g. ``If, com.microsoft.FusedConv are not supported``.

    Example:
        >>> m = to_torch(onnx.load("micro.onnx"))          # doctest: +SKIP
        >>> y, = m(torch.randn(1, 64, 56, 56))             # doctest: +SKIP
    """
    return OnnxModule(model)
