"""A corpus of activation spellings as real ONNX models, for the pattern-library tests.

Each case is a tiny model with one float input ``x`` whose activation is applied to an
intermediate (``MatMul``+``Add`` or ``Conv``), as in real models, never to the graph input.
A case records what the rewrite engine must report for it: the sites' canonical functions and
parameters in graph order, under one pipeline. Spellings come from ONNX text
(``onnx.parser``) written after what the exporters actually emit (DESIGN.md section 5), and
from ``torch.onnx.export`` of small ``nn.Module`` s with both exporters.

The producer is a signed permutation plus a small bias, so activation inputs stay inside the
range of the model input (tests draw it from [-4, 4]) and a numpy reference of every case is
exact: ``case.ref(x)`` gives the expected outputs, which the corpus test checks against
onnxruntime, so a typo in a spelling's constants cannot hide.

Example:
    >>> case = CASES_BY_ID["gelu_erf_dynamo"]
    >>> model = case.build()
    >>> case.expected
    (('gelu', {}),)
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import onnx.parser
from onnx import TensorProto, helper, numpy_helper
from scipy import special

from rewriter.functions import get_function

__all__ = ["SpellingCase", "CASES", "CASES_BY_ID", "ONNX_CASES", "TORCH_CASES", "input_feed"]

Array = np.ndarray
Expected = tuple[tuple[str, dict[str, float]], ...]

SQRT2 = math.sqrt(2.0)
F32_SQRT2 = float(np.float32(SQRT2))  # 1.4142135381698608, what both torch exporters write
F32_KAPPA = float(np.float32(0.044715))  # 0.044714998453855515
F32_SQRT_2_OVER_PI = float(np.float32(math.sqrt(2.0 / math.pi)))  # 0.7978845834732056
SIXTH = float(np.float32(1.0 / 6.0))


@dataclass(frozen=True, eq=False)
class SpellingCase:
    """One spelling: a model builder and what the engine must find in it.

    Attributes:
        case_id: stable pytest id.
        build: returns a fresh ``onnx.ModelProto`` on every call.
        expected: ``(function, params)`` per site, in graph order; params are checked where
            given (missing ones on the site mean the catalogue default).
        pipeline: the pipeline under which ``expected`` holds.
        ref: numpy reference of the model's outputs (float64), or None.
        torch_module: for torch exports, builds the exported module (outputs are compared).
        note: which exporter or source writes this spelling.
    """

    case_id: str
    build: Callable[[], onnx.ModelProto]
    expected: Expected
    pipeline: str = "pau_all"
    ref: Callable[[Array], list[Array]] | None = None
    torch_module: Callable[[], Any] | None = None
    note: str = ""
    tags: frozenset[str] = field(default_factory=frozenset)


# --------------------------------------------------------------------------- producers

_PERM = [3, 0, 6, 1, 7, 2, 5, 4]
_SIGN = [1.0, -1.0, 1.0, 1.0, -1.0, 1.0, -1.0, 1.0]


def _signed_perm(n: int) -> Array:
    w = np.zeros((n, n))
    for i in range(n):
        w[i, _PERM[i % 8] if n == 8 else (i + 1) % n] = _SIGN[i % 8]
    return w


W8 = _signed_perm(8)
B8 = np.linspace(-0.1, 0.1, 8)
WC = _signed_perm(3).reshape(3, 3, 1, 1).transpose(1, 0, 2, 3).copy()  # Conv weight [out, in]
BC = np.array([0.05, -0.05, 0.1])


def pre_matmul(x: Array) -> Array:
    """The ``MatMul(x, W) + B`` producer, float64."""
    return np.asarray(x, np.float64) @ W8 + B8


def pre_conv(x: Array) -> Array:
    """The 1x1 ``Conv(x, W, B)`` producer, float64."""
    x = np.asarray(x, np.float64)
    return np.einsum("oi,nihw->nohw", WC[:, :, 0, 0], x) + BC[None, :, None, None]


_PRODUCERS: dict[str, tuple[str, tuple[int, ...], Callable[[Array], Array]]] = {
    "matmul": ("h0 = MatMul(x, W)\n h = Add(h0, B)", (2, 8), pre_matmul),
    "conv": ("h = Conv<kernel_shape = [1, 1]>(x, W, B)", (1, 3, 8, 8), pre_conv),
}


def _tensor(name: str, value: Any, dtype: Any = np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def _model(
    name: str,
    body: str,
    *,
    opset: int = 17,
    producer: str = "matmul",
    inits: dict[str, Any] | None = None,
    outputs: Sequence[str] = ("y",),
    dtype: str = "float",
) -> onnx.ModelProto:
    """Parses ``body`` (ONNX text using ``h``, the producer's output) into a checked model.

    ``inits`` maps initializer names to values: a float becomes a float32 scalar of shape [],
    an ndarray keeps its dtype and shape.
    """
    lines, shape, _ = _PRODUCERS[producer]
    dims = ",".join(map(str, shape))
    decl_out = ", ".join(f"{dtype}[{dims}] {o}" for o in outputs)
    ir = 10 if opset >= 21 else 9 if opset >= 19 else 8
    text = (
        f'<ir_version: {ir}, opset_import: ["" : {opset}]>\n'
        f"{name} ({dtype}[{dims}] x) => ({decl_out}) {{\n {lines}\n {body}\n}}"
    )
    model = onnx.parser.parse_model(text)
    np_dtype = np.float16 if dtype == "float16" else np.float32
    w, b = (W8, B8) if producer == "matmul" else (WC, BC)
    model.graph.initializer.extend([_tensor("W", w, np_dtype), _tensor("B", b, np_dtype)])
    for key, value in (inits or {}).items():
        arr = value if isinstance(value, np.ndarray) else np.asarray(value, np.float32)
        model.graph.initializer.append(numpy_helper.from_array(arr, key))
    onnx.checker.check_model(model, full_check=True)
    return model


def _act(name: str, **params: float) -> Callable[[Array], Array]:
    if name == "prelu":  # the catalogue spells a scalar-slope PRelu as leaky_relu
        return get_function("leaky_relu", alpha=params["slope"])
    return get_function(name, **params)


def _single(name: str, producer: str = "matmul", **params: float) -> Callable[[Array], list]:
    f, pre = _act(name, **params), _PRODUCERS[producer][2]
    return lambda x: [f(pre(x))]


# --------------------------------------------------------------------------- ONNX text cases

ONNX_CASES: list[SpellingCase] = []


def _case(
    case_id: str,
    body: str,
    expected: Sequence[tuple[str, dict[str, float]]],
    *,
    pipeline: str = "pau_all",
    ref: Callable[[Array], list[Array]] | None = None,
    note: str = "",
    **model_kw: Any,
) -> None:
    if ref is None and len(expected) == 1:
        fn, params = expected[0]
        ref = _single(fn, model_kw.get("producer", "matmul"), **params)

    def build() -> onnx.ModelProto:
        return _model(case_id, body, **model_kw)

    ONNX_CASES.append(SpellingCase(case_id, build, tuple(expected), pipeline, ref, None, note))


GELU = [("gelu", {})]
GELU_TANH = [("gelu_tanh", {})]
SILU = [("silu", {})]

# --- erf GELU
_case(
    "gelu_erfc",
    "n = Neg(h)\n m = Div(n, sqrt2)\n e = Erf(m)\n s = Sub(one, e)\n p = Mul(h, s)\n"
    " y = Mul(p, half)",
    GELU,
    inits={"sqrt2": F32_SQRT2, "one": 1.0, "half": 0.5},
    note="0.5 * x * torch.erfc(-x / sqrt(2)) through the dynamo exporter (erfc as 1 - erf)",
)
_case(
    "gelu_erf_half_first",
    "hh = Mul(h, half)\n d = Div(h, sqrt2)\n e = Erf(d)\n a = Add(e, one)\n y = Mul(hh, a)",
    GELU,
    inits={"half": 0.5, "sqrt2": F32_SQRT2, "one": 1.0},
    note="0.5x(1+erf(x/sqrt2)), the textbook order (HF BERT gelu, torch manual)",
)
_case(
    "gelu_erf_torchscript",
    "c0 = Constant<value = float {1.4142135381698608}>()\n d = Div(h, c0)\n e = Erf(d)\n"
    " c1 = Constant<value = float {1.0}>()\n a = Add(e, c1)\n m = Mul(h, a)\n"
    " c2 = Constant<value = float {0.5}>()\n y = Mul(m, c2)",
    GELU,
    note="torch.onnx.export(dynamo=False) of nn.GELU(): Mul(Mul(x, 1+erf), 0.5), Constant nodes",
)
_case(
    "gelu_erf_dynamo",
    "d = Div(h, sqrt2)\n e = Erf(d)\n a = Add(e, one)\n m = Mul(half, a)\n y = Mul(h, m)",
    GELU,
    inits={"sqrt2": F32_SQRT2, "one": 1.0, "half": 0.5},
    note="torch.onnx.export(dynamo=True, opset<20) of nn.GELU(): Mul(x, Mul(0.5, 1+erf))",
)
_case(
    "gelu_erf_keras_sqrt",
    "s = Sqrt(two)\n d = Div(h, s)\n e = Erf(d)\n a = Add(e, one)\n m = Mul(h, a)\n"
    " y = Mul(half, m)",
    GELU,
    inits={"two": 2.0, "one": 1.0, "half": 0.5},
    note="Keras/tf2onnx: Div(x, Sqrt(2.0)) with the Sqrt left unfolded",
)
_case(
    "gelu_erf_tf_mul_rsqrt2",
    "hh = Mul(half, h)\n d = Mul(h, rs2)\n e = Erf(d)\n a = Add(one, e)\n y = Mul(hh, a)",
    GELU,
    inits={"half": 0.5, "rs2": 0.70710677, "one": 1.0},
    note="tf.nn.gelu via tf2onnx: erf(x * 0.70710677)",
)
_case(
    "gelu_native_opset20",
    "y = Gelu(h)",
    GELU,
    opset=20,
    note="native Gelu (opset 20), dynamo exporter at opset 20",
)
_case(
    "gelu_erf_swapped_operands",
    "d = Div(h, sqrt2)\n e = Erf(d)\n a = Add(one, e)\n hh = Mul(half, h)\n y = Mul(a, hh)",
    GELU,
    inits={"sqrt2": F32_SQRT2, "one": 1.0, "half": 0.5},
    note="every commutative operand in the other order",
)
_case(
    "gelu_erf_constant_nodes",
    "c2 = Constant<value = float {0.5}>()\n hh = Mul(h, c2)\n"
    " c0 = Constant<value = float {1.4142135381698608}>()\n d = Div(h, c0)\n e = Erf(d)\n"
    " c1 = Constant<value = float {1.0}>()\n a = Add(e, c1)\n y = Mul(hh, a)",
    GELU,
    note="scalars in Constant nodes (PP-OCR, TorchScript)",
)
_case(
    "gelu_erf_const_shape1",
    "hh = Mul(h, half)\n d = Div(h, sqrt2)\n e = Erf(d)\n a = Add(e, one)\n y = Mul(hh, a)",
    GELU,
    inits={
        "half": np.array([0.5], np.float32),
        "sqrt2": np.array([F32_SQRT2], np.float32),
        "one": np.array([1.0], np.float32),
    },
    note="scalar constants of shape [1] instead of []",
)
_case(
    "gelu_erf_const_identity",
    "s = Identity(sqrt2)\n d = Div(h, s)\n e = Erf(d)\n o = Identity(one)\n a = Add(e, o)\n"
    " m = Mul(h, a)\n y = Mul(m, half)",
    GELU,
    inits={"sqrt2": F32_SQRT2, "one": 1.0, "half": 0.5},
    note="constants reached through Identity (TorchScript with shared constants)",
)
_case(
    "gelu_erf_fp16_cast",
    "c0 = Constant<value = float {1.4142135381698608}>()\n c0h = Cast<to = 10>(c0)\n"
    " d = Div(h, c0h)\n e = Erf(d)\n c1h = Cast<to = 10>(one)\n a = Add(e, c1h)\n"
    " m = Mul(h, a)\n c2h = Cast<to = 10>(half)\n y = Mul(m, c2h)",
    GELU,
    dtype="float16",
    inits={"one": 1.0, "half": 0.5},
    note="fp16 model (autocast export): float32 constants wrapped in Cast(to=FLOAT16)",
)
_case(
    "gelu_erf_fp16_castlike",
    "c0h = CastLike(sqrt2, h)\n d = Div(h, c0h)\n e = Erf(d)\n c1h = CastLike(one, h)\n"
    " a = Add(e, c1h)\n m = Mul(h, a)\n c2h = CastLike(half, h)\n y = Mul(m, c2h)",
    GELU,
    dtype="float16",
    inits={"sqrt2": F32_SQRT2, "one": 1.0, "half": 0.5},
    note="fp16 model: constants through CastLike (onnxscript-built models)",
)

# --- tanh GELU
_case(
    "gelu_tanh_pow_dynamo",
    "p = Pow(h, three)\n k = Mul(kappa, p)\n s = Add(h, k)\n i = Mul(beta, s)\n t = Tanh(i)\n"
    " a = Add(t, one)\n m = Mul(half, a)\n y = Mul(h, m)",
    GELU_TANH,
    inits={
        "three": 3.0,
        "kappa": F32_KAPPA,
        "beta": F32_SQRT_2_OVER_PI,
        "one": 1.0,
        "half": 0.5,
    },
    note="dynamo exporter, nn.GELU(approximate='tanh') at opset < 20: Pow(x, 3)",
)
_case(
    "gelu_tanh_cube_torchscript",
    "x2 = Mul(h, h)\n x3 = Mul(h, x2)\n c0 = Constant<value = float {0.044714998453855515}>()\n"
    " k = Mul(c0, x3)\n s = Add(h, k)\n c1 = Constant<value = float {0.7978845834732056}>()\n"
    " i = Mul(c1, s)\n t = Tanh(i)\n c2 = Constant<value = float {1.0}>()\n a = Add(c2, t)\n"
    " m = Mul(h, a)\n c3 = Constant<value = float {0.5}>()\n y = Mul(c3, m)",
    GELU_TANH,
    note="TorchScript exporter, nn.GELU(approximate='tanh'): x*(x*x), Constant nodes",
)
_case(
    "gelu_tanh_gpt2",
    "hh = Mul(half, h)\n x2 = Mul(h, h)\n k = Mul(kappa, x2)\n s = Add(one, k)\n p = Mul(h, s)\n"
    " i = Mul(beta, p)\n t = Tanh(i)\n a = Add(one, t)\n y = Mul(hh, a)",
    GELU_TANH,
    inits={"half": 0.5, "kappa": 0.044715, "one": 1.0, "beta": 0.79788456},
    note="GPT-2 (TF original): 0.5x(1+tanh(0.79788456 x (1+0.044715 x x)))",
)
_case(
    "gelu_tanh_manual_cxxx",
    "hh = Mul(h, half)\n k1 = Mul(h, kappa)\n k2 = Mul(k1, h)\n k3 = Mul(k2, h)\n s = Add(h, k3)\n"
    " i = Mul(s, beta)\n t = Tanh(i)\n a = Add(t, one)\n y = Mul(hh, a)",
    GELU_TANH,
    inits={"half": 0.5, "kappa": F32_KAPPA, "beta": F32_SQRT_2_OVER_PI, "one": 1.0},
    note="torch manual 0.044715*x*x*x (both exporters): ((x*c)*x)*x",
)
_case(
    "gelu_tanh_native_opset20",
    'y = Gelu<approximate = "tanh">(h)',
    GELU_TANH,
    opset=20,
    note="native Gelu(approximate='tanh'), dynamo exporter at opset 20",
)

# --- SiLU / Swish
_case("silu_x_sigmoid", "s = Sigmoid(h)\n y = Mul(h, s)", SILU, note="both torch exporters")
_case("silu_sigmoid_x", "s = Sigmoid(h)\n y = Mul(s, h)", SILU, note="operands swapped")
_case(
    "silu_conv",
    "s = Sigmoid(h)\n y = Mul(h, s)",
    SILU,
    producer="conv",
    note="YOLO / EfficientNet: Conv -> SiLU",
)
_case(
    "swish_beta",
    "b = Mul(h, beta)\n s = Sigmoid(b)\n y = Mul(h, s)",
    [("swish", {"beta": 1.5})],
    inits={"beta": 1.5},
    note="Swish-beta: x*sigmoid(beta*x)",
)
_case(
    "swish_beta_swapped",
    "b = Mul(beta, h)\n s = Sigmoid(b)\n y = Mul(s, h)",
    [("swish", {"beta": 0.75})],
    inits={"beta": 0.75},
    note="Swish-beta with operands swapped",
)
_case(
    "silu_ppocr_mul_one",
    "c = Constant<value = float {1.0}>()\n b = Mul(h, c)\n s = Sigmoid(b)\n y = Mul(h, s)",
    SILU,
    producer="conv",
    note="PP-OCR (paddle2onnx swish): x*sigmoid(x*1.0), beta == 1 is silu",
)

# --- HardSwish (piecewise: pipeline pau_hardswish)
HSWISH = [("hardswish", {})]
_case(
    "hardswish_native",
    "y = HardSwish(h)",
    HSWISH,
    pipeline="pau_hardswish",
    producer="conv",
    note="native HardSwish (opset 14), both torch exporters at opset >= 14",
)
_case(
    "hardswish_clip_div6",
    "a = Add(h, three)\n c = Clip(a, zero, six)\n m = Mul(h, c)\n y = Div(m, six)",
    HSWISH,
    pipeline="pau_hardswish",
    producer="conv",
    inits={"three": 3.0, "zero": 0.0, "six": 6.0},
    note="PP-OCR / torch decomposition: x*Clip(x+3,0,6)/6",
)
_case(
    "hardswish_clip_mul_sixth",
    "a = Add(h, three)\n c = Clip(a, zero, six)\n m = Mul(h, c)\n y = Mul(m, sixth)",
    HSWISH,
    pipeline="pau_hardswish",
    inits={"three": 3.0, "zero": 0.0, "six": 6.0, "sixth": SIXTH},
    note="x*Clip(x+3,0,6)*(1/6)",
)
_case(
    "hardswish_hardsigmoid_mul",
    "g = HardSigmoid<alpha = 0.16666667, beta = 0.5>(h)\n y = Mul(g, h)",
    HSWISH,
    pipeline="pau_hardswish",
    note="TorchScript exporter nn.Hardswish at opset < 14: HardSigmoid(1/6, 0.5)(x) * x",
)


def _gate_ref(gate: Callable[[Array], Array]) -> Callable[[Array], list[Array]]:
    return lambda x: [gate(pre_matmul(x)) * (np.asarray(x, np.float64) + B8)]


_GATE_BODY = "g = {gate}(h)\n o = Add(x, B)\n y = Mul(g, o)"
_case(
    "hardsigmoid_gate_other_tensor",
    _GATE_BODY.format(gate="HardSigmoid<alpha = 0.16666667, beta = 0.5>"),
    [("hardsigmoid", {"alpha": 1.0 / 6.0, "beta": 0.5})],
    pipeline="pau_hardsigmoid",
    ref=_gate_ref(_act("hardsigmoid", alpha=1.0 / 6.0, beta=0.5)),
    note="MobileNetV3 SE gate: HardSigmoid(x) * y is a hardsigmoid, not a hardswish",
)
_case(
    "hardsigmoid_gate_not_hardswish",
    _GATE_BODY.format(gate="HardSigmoid<alpha = 0.16666667, beta = 0.5>"),
    [],
    pipeline="pau_hardswish",
    ref=_gate_ref(_act("hardsigmoid", alpha=1.0 / 6.0, beta=0.5)),
    note="negative: the gate multiplies a different tensor, so no hardswish",
)
_case(
    "sigmoid_gate_not_silu",
    _GATE_BODY.format(gate="Sigmoid"),
    [("sigmoid", {})],
    ref=_gate_ref(_act("sigmoid")),
    note="squeeze-excitation gate: Sigmoid(x) * y is a sigmoid site, not silu",
)

# --- Mish, Softplus
_case(
    "mish_softplus_tanh",
    "s = Softplus(h)\n t = Tanh(s)\n y = Mul(h, t)",
    [("mish", {})],
    producer="conv",
    note="TorchScript exporter nn.Mish (any opset): x*tanh(softplus(x))",
)
_case(
    "mish_native_opset18",
    "y = Mish(h)",
    [("mish", {})],
    opset=18,
    producer="conv",
    note="native Mish (opset 18), dynamo exporter at opset >= 18",
)
_case("softplus_native", "y = Softplus(h)", [("softplus", {"beta": 1.0})])
_case(
    "softplus_log_exp",
    "e = Exp(h)\n a = Add(e, one)\n y = Log(a)",
    [("softplus", {"beta": 1.0})],
    inits={"one": 1.0},
    note="log(1+exp(x)) written out",
)
_case(
    "softplus_dynamo_threshold",
    "s = Softplus(h)\n g = Greater(h, thr)\n y = Where(g, h, s)",
    [("softplus", {"beta": 1.0})],
    inits={"thr": 20.0},
    note="dynamo exporter nn.Softplus: Where(x > 20, x, Softplus(x))",
)
_STABLE_SOFTPLUS = "a = Abs(h)\n na = Neg(a)\n e = Exp(na)\n p = Add(e, one)\n l = Log(p)\n"
_case(
    "softplus_stable_max",
    _STABLE_SOFTPLUS + " m = Max(h, zero)\n y = Add(m, l)",
    [("softplus", {"beta": 1.0})],
    inits={"one": 1.0, "zero": 0.0},
    note="the overflow-free spelling, max(x,0) + log(1+exp(-|x|))",
)
_case(
    "softplus_jax_guarded",
    _STABLE_SOFTPLUS + " r = Relu(h)\n s = Add(r, l)\n q = Equal(h, h)\n n = Not(q)\n"
    " y = Where(n, h, s)",
    [("softplus", {"beta": 1.0})],
    inits={"one": 1.0},
    note="jax.nn.softplus through jax2tf and tf2onnx: logaddexp(x, 0) in its NaN guard",
)
_case(
    "mish_jax_guarded",
    _STABLE_SOFTPLUS + " r = Relu(h)\n s = Add(r, l)\n q = Equal(h, h)\n n = Not(q)\n"
    " sp = Where(n, h, s)\n t = Tanh(sp)\n y = Mul(h, t)",
    [("mish", {})],
    inits={"one": 1.0},
    note="jax.nn.mish through jax2tf and tf2onnx: x*tanh of the guarded softplus",
)

# --- other natives
_case("tanh_native", "y = Tanh(h)", [("tanh", {})])
_case("sigmoid_native", "y = Sigmoid(h)", [("sigmoid", {})], producer="conv")
_case(
    "sigmoid_exp",
    "n = Neg(h)\n e = Exp(n)\n a = Add(one, e)\n y = Div(one, a)",
    [("sigmoid", {})],
    inits={"one": 1.0},
    note="jax2tf's logistic with a polymorphic batch (no TFLite LOGISTIC), 1/(1+exp(-x))",
)
_case(
    "silu_exp",
    "n = Neg(h)\n e = Exp(n)\n a = Add(one, e)\n r = Div(one, a)\n y = Mul(h, r)",
    [("silu", {})],
    inits={"one": 1.0},
    note="jax2tf's silu with a polymorphic batch: x * (1/(1+exp(-x)))",
)
_case(
    "silu_exp_div",
    "n = Neg(h)\n e = Exp(n)\n a = Add(e, one)\n y = Div(h, a)",
    [("silu", {})],
    inits={"one": 1.0},
    note="x/(1+exp(-x)) written out",
)
_case("elu_alpha", "y = Elu<alpha = 0.7>(h)", [("elu", {"alpha": 0.7})])
_case(
    "elu_xla_blend",
    "g = Greater(h, zero)\n c = Cast<to = 1>(g)\n z = Mul(c, zero)\n n = Not(g)\n"
    " cn = Cast<to = 1>(n)\n m = Mul(h, cn)\n s = Add(z, m)\n e = Exp(s)\n d = Sub(e, one)\n"
    " a = Mul(d, alpha)\n y = Where(g, h, a)",
    [("elu", {"alpha": 1.6732632})],
    inits={"one": 1.0, "zero": 0.0, "alpha": 1.6732632},
    note="jax.nn.selu through jax2tf, TFLite's converter (the scale folded into the next "
    "MatMul) and tf2onnx (the inner select as its blend)",
)
_case(
    "elu_xla_where",
    "g = Greater(h, zero)\n s = Where(g, zero, h)\n e = Exp(s)\n d = Sub(e, one)\n"
    " y = Where(g, h, d)",
    [("elu", {"alpha": 1.0})],
    inits={"one": 1.0, "zero": 0.0},
    note="XLA's elu with both selects as Where",
)
_case(
    "elu_where_by_hand",
    "g = Greater(h, zero)\n e = Exp(h)\n d = Sub(e, one)\n a = Mul(alpha, d)\n y = Where(g, h, a)",
    [("elu", {"alpha": 0.8})],
    inits={"one": 1.0, "zero": 0.0, "alpha": 0.8},
    note="torch.where(x > 0, x, alpha * torch.expm1(x)) through the dynamo exporter",
)
_case(
    "celu_xla_max_min",
    "r = Relu(h)\n mn = Min(h, zero)\n e = Exp(mn)\n d = Sub(e, one)\n y = Add(r, d)",
    [("celu", {"alpha": 1.0})],
    inits={"one": 1.0, "zero": 0.0},
    note="jax.nn.celu through jax2tf: max(x,0) + expm1(min(x,0))",
)
_case(
    "celu_xla_unit_alpha",
    "r = Max(h, zero)\n mn = Min(h, zero)\n q = Div(mn, one)\n e = Exp(q)\n d = Sub(e, one)\n"
    " s = Mul(one, d)\n y = Add(r, s)",
    [("celu", {"alpha": 1.0})],
    inits={"one": 1.0, "zero": 0.0},
    note="jax.nn.celu with a polymorphic batch: alpha 1 kept as a division and a product",
)
_case("selu_native", "y = Selu(h)", [("selu", {})])
_case("celu_alpha", "y = Celu<alpha = 0.5>(h)", [("celu", {"alpha": 0.5})])
_case("softsign_native", "y = Softsign(h)", [("softsign", {})])
_case(
    "softsign_abs_div",
    "a = Abs(h)\n d = Add(a, one)\n y = Div(h, d)",
    [("softsign", {})],
    inits={"one": 1.0},
    note="both torch exporters: x/(1+|x|)",
)
_case(
    "leaky_relu_alpha",
    "y = LeakyRelu<alpha = 0.2>(h)",
    [("leaky_relu", {"alpha": 0.2})],
    pipeline="pau_leaky_relu",
)
_case(
    "prelu_scalar_slope",
    "y = PRelu(h, slope)",
    [("prelu", {"slope": 0.25})],
    pipeline="pau_prelu",
    inits={"slope": np.array([0.25], np.float32)},
    note="PRelu with one shared slope (nn.PReLU())",
)
_case("relu_native", "y = Relu(h)", [("relu", {})], pipeline="pau_relu", producer="conv")
_case(
    "relu6_clip",
    "y = Clip(h, zero, six)",
    [("relu6", {})],
    pipeline="pau_relu6",
    producer="conv",
    inits={"zero": 0.0, "six": 6.0},
    note="nn.ReLU6 (both exporters): Clip(x, 0, 6)",
)
_case(
    "hardsigmoid_native",
    "y = HardSigmoid(h)",
    [("hardsigmoid", {"alpha": 0.2, "beta": 0.5})],
    pipeline="pau_hardsigmoid",
)

# --- subgraphs, sharing, several sites, pipeline selection


def _if_ref(x: Array) -> list[Array]:
    h = pre_matmul(x)
    return [_act("gelu")(h) if h.mean() > 0 else _act("silu")(h)]


_case(
    "if_branches",
    "m = ReduceMean<keepdims = 0>(h)\n cond = Greater(m, zero)\n"
    " y = If(cond) <then_branch = then_gelu () => (float[2,8] ty) {\n"
    "   d = Div(h, sqrt2)\n e = Erf(d)\n a = Add(e, one)\n hh = Mul(h, half)\n ty = Mul(hh, a)\n"
    " }, else_branch = else_silu () => (float[2,8] ey) {\n"
    "   s = Sigmoid(h)\n ey = Mul(h, s)\n }>",
    [("gelu", {}), ("silu", {})],
    inits={"zero": 0.0, "sqrt2": F32_SQRT2, "one": 1.0, "half": 0.5},
    ref=_if_ref,
    note="activations inside If branches (Silero VAD); then-branch sites before else-branch",
)


def _gelu_parts(x: Array) -> tuple[Array, Array]:
    h = pre_matmul(x)
    return _act("gelu")(h), special.erf(h / SQRT2)


_case(
    "gelu_erf_output_shared",
    "hh = Mul(h, half)\n d = Div(h, sqrt2)\n e = Erf(d)\n a = Add(e, one)\n y = Mul(hh, a)",
    [],
    inits={"half": 0.5, "sqrt2": F32_SQRT2, "one": 1.0},
    outputs=("y", "e"),
    ref=lambda x: list(_gelu_parts(x)),
    note="negative: the Erf output is also a graph output, so the chain is not a gelu",
)
_case(
    "gelu_erf_add_shared",
    "hh = Mul(h, half)\n d = Div(h, sqrt2)\n e = Erf(d)\n a = Add(e, one)\n g = Mul(hh, a)\n"
    " y = Add(g, a)",
    [],
    inits={"half": 0.5, "sqrt2": F32_SQRT2, "one": 1.0},
    ref=lambda x: [_gelu_parts(x)[0] + _gelu_parts(x)[1] + 1.0],
    note="negative: Add(erf, 1) also feeds a node outside the chain",
)

_MULTI_BODY = (
    "d = Div(h, sqrt2)\n e = Erf(d)\n a = Add(e, one)\n m = Mul(h, a)\n g = Mul(m, half)\n"
    " p = MatMul(g, W)\n s = Sigmoid(p)\n q = Mul(p, s)\n y = Tanh(q)"
)


def _multi_ref(x: Array) -> list[Array]:
    g = _act("gelu")(pre_matmul(x))
    return [np.tanh(_act("silu")(g @ W8))]


for _pipeline, _expected in [
    ("pau_all", [("gelu", {}), ("silu", {}), ("tanh", {})]),
    ("pau_gelu,pau_silu", [("gelu", {}), ("silu", {})]),
    ("pau_tanh", [("tanh", {})]),
]:
    _case(
        "multi_" + _pipeline.replace("pau_", "").replace(",", "_"),
        _MULTI_BODY,
        _expected,
        pipeline=_pipeline,
        inits={"sqrt2": F32_SQRT2, "one": 1.0, "half": 0.5},
        ref=_multi_ref,
        note="three sites in a chain; the pipeline selects which are reported",
    )

_case(
    "relu_not_in_pau_all",
    "r = Relu(h)\n p = MatMul(r, W)\n s = Sigmoid(p)\n y = Mul(p, s)",
    SILU,
    ref=lambda x: [_act("silu")(np.maximum(pre_matmul(x), 0.0) @ W8)],
    note="pau_all is the smooth activations only: the Relu is not a site",
)


# --------------------------------------------------------------------------- torch exports


def _torch_activations() -> dict[str, tuple[Callable[[], Any], Expected, str]]:
    import torch
    from torch import nn

    class Lambda(nn.Module):
        def __init__(self, fn: Callable[[Any], Any]) -> None:
            super().__init__()
            self.fn = fn

        def forward(self, x: Any) -> Any:
            return self.fn(x)

    def gpt2_pow(x: Any) -> Any:
        inner = math.sqrt(2 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))
        return 0.5 * x * (1 + torch.tanh(inner))

    def gpt2_cube(x: Any) -> Any:
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)))

    def erf_gelu(x: Any) -> Any:
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))

    def one(name: str, **params: float) -> Expected:
        return ((name, params),)

    return {
        "gelu": (nn.GELU, one("gelu"), "pau_all"),
        "gelu_tanh": (lambda: nn.GELU(approximate="tanh"), one("gelu_tanh"), "pau_all"),
        "silu": (nn.SiLU, one("silu"), "pau_all"),
        "mish": (nn.Mish, one("mish"), "pau_all"),
        "hardswish": (nn.Hardswish, one("hardswish"), "pau_hardswish"),
        "tanh": (nn.Tanh, one("tanh"), "pau_all"),
        "sigmoid": (nn.Sigmoid, one("sigmoid"), "pau_all"),
        "elu": (nn.ELU, one("elu", alpha=1.0), "pau_all"),
        "selu": (nn.SELU, one("selu"), "pau_all"),
        "celu": (lambda: nn.CELU(alpha=0.5), one("celu", alpha=0.5), "pau_all"),
        "softplus": (nn.Softplus, one("softplus", beta=1.0), "pau_all"),
        "softsign": (nn.Softsign, one("softsign"), "pau_all"),
        "x_sigmoid": (lambda: Lambda(lambda x: x * torch.sigmoid(x)), one("silu"), "pau_all"),
        "gpt2_pow": (lambda: Lambda(gpt2_pow), one("gelu_tanh"), "pau_all"),
        "gpt2_cube": (lambda: Lambda(gpt2_cube), one("gelu_tanh"), "pau_all"),
        "erf_manual": (lambda: Lambda(erf_gelu), one("gelu"), "pau_all"),
    }


TORCH_NAMES = (
    "gelu gelu_tanh silu mish hardswish tanh sigmoid elu selu celu softplus softsign "
    "x_sigmoid gpt2_pow gpt2_cube erf_manual"
).split()
# (exporter, opset, activations): TorchScript is cheap, so all of them at each opset; the
# dynamo exporter takes ~1 s per export, so the activations whose spelling it changes.
TORCH_MATRIX: list[tuple[str, int, Sequence[str]]] = [
    ("torchscript", 13, TORCH_NAMES),
    ("torchscript", 17, TORCH_NAMES),
    ("torchscript", 18, TORCH_NAMES),
    ("torchscript", 20, TORCH_NAMES),  # native Gelu at 20
    ("dynamo", 18, "gelu gelu_tanh silu mish softplus gpt2_pow gpt2_cube".split()),
    ("dynamo", 20, "gelu gelu_tanh mish".split()),
]


class ExportUnavailable(RuntimeError):
    """The torch exporter cannot produce this model in this environment."""


def torch_module(name: str) -> Any:
    """``Linear(8, 8)`` (the signed-permutation producer) followed by the activation."""
    import torch
    from torch import nn

    lin = nn.Linear(8, 8)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(W8.T, dtype=torch.float32))
        lin.bias.copy_(torch.tensor(B8, dtype=torch.float32))
    return nn.Sequential(lin, _torch_activations()[name][0]()).eval()


@functools.cache
def _torch_export_bytes(name: str, exporter: str, opset: int) -> bytes:
    import torch

    module = torch_module(name)
    args = (torch.zeros(2, 8),)
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
            warnings.simplefilter("ignore")
            if exporter == "dynamo":
                program = torch.onnx.export(
                    module,
                    args,
                    dynamo=True,
                    opset_version=opset,
                    verbose=False,
                    input_names=["x"],
                    output_names=["y"],
                )
                return program.model_proto.SerializeToString()
            buf = io.BytesIO()
            torch.onnx.export(
                module,
                args,
                buf,
                dynamo=False,
                opset_version=opset,
                input_names=["x"],
                output_names=["y"],
            )
            return buf.getvalue()
    except Exception as exc:  # noqa: BLE001 - reported as a skip with the exporter's words
        msg = f"torch.onnx.export({exporter}, opset {opset}) of {name}: {exc}"
        raise ExportUnavailable(msg) from exc


def torch_export(name: str, exporter: str, opset: int) -> onnx.ModelProto:
    """The exported model (cached per process; a fresh proto on every call)."""
    return onnx.load_from_string(_torch_export_bytes(name, exporter, opset))


def _torch_cases() -> list[SpellingCase]:
    acts = _torch_activations()
    cases = []
    for exporter, opset, names in TORCH_MATRIX:
        for name in names:
            _, expected, pipeline = acts[name]
            fn, params = expected[0]
            cases.append(
                SpellingCase(
                    f"torch_{exporter}_op{opset}_{name}",
                    functools.partial(torch_export, name, exporter, opset),
                    expected,
                    pipeline,
                    _single(fn, **params),
                    functools.partial(torch_module, name),
                    f"torch.onnx.export(dynamo={exporter == 'dynamo'}, opset_version={opset})",
                    frozenset({"torch", exporter}),
                )
            )
    return cases


TORCH_CASES: list[SpellingCase] = _torch_cases()
CASES: list[SpellingCase] = ONNX_CASES + TORCH_CASES
CASES_BY_ID: dict[str, SpellingCase] = {c.case_id: c for c in CASES}
assert len(CASES_BY_ID) == len(CASES), "duplicate case ids"


# --------------------------------------------------------------------------- inputs

_NP_DTYPES = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.FLOAT16: np.float16}


def input_feed(model: onnx.ModelProto, seed: int = 0, low: float = -4.0, high: float = 4.0):
    """Random inputs for every graph input, uniform in [low, high], in the input's dtype."""
    rng = np.random.default_rng(seed)
    feed = {}
    for inp in model.graph.input:
        t = inp.type.tensor_type
        shape = [d.dim_value for d in t.shape.dim]
        feed[inp.name] = rng.uniform(low, high, size=shape).astype(_NP_DTYPES[t.elem_type])
    return feed


def mish_cnn() -> onnx.ModelProto:
    """Conv -> Mish (Softplus/Tanh/Mul) -> 1x1 Conv -> Mish on [N, 3, 8, 8], seeded weights: the
    small model the planner and CLI tests measure."""
    m = onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[N,3,8,8] x) => (float[N,4,8,8] y2) <float[4,3,3,3] w1, float[4] b1, float[4,4,1,1] w2> {
            h1 = Conv <pads = [1,1,1,1]> (x, w1, b1)
            s1 = Softplus(h1)
            t1 = Tanh(s1)
            y1 = Mul(h1, t1)
            h2 = Conv(y1, w2)
            s2 = Softplus(h2)
            t2 = Tanh(s2)
            y2 = Mul(h2, t2)
        }
    """)
    rng = np.random.default_rng(0)
    del m.graph.initializer[:]
    for k, s in {"w1": (4, 3, 3, 3), "b1": (4,), "w2": (4, 4, 1, 1)}.items():
        m.graph.initializer.append(_tensor(k, rng.standard_normal(s)))
    return m


def zipmap_mlp() -> onnx.ModelProto:
    """What skl2onnx writes for an MLPClassifier(activation="tanh") by default: the
    probabilities through ZipMap (ai.onnx.ml), one {class: probability} map per sample, and the
    label through ArgMax and ArrayFeatureExtractor over the classes."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((8, 16)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((16, 3)).astype(np.float32), "w2")
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "w1"], ["h"]),
            helper.make_node("Tanh", ["h"], ["t"]),
            helper.make_node("MatMul", ["t", "w2"], ["z"]),
            helper.make_node("Softmax", ["z"], ["p"], axis=1),
            helper.make_node("ArgMax", ["p"], ["i"], axis=1, keepdims=0),
            helper.make_node("ArrayFeatureExtractor", ["classes", "i"], ["c"], domain="ai.onnx.ml"),
            helper.make_node("Reshape", ["c", "flat"], ["label"]),
            helper.make_node(
                "ZipMap",
                ["p"],
                ["output_probability"],
                domain="ai.onnx.ml",
                classlabels_int64s=[0, 1, 2],
            ),
        ],  # fmt: skip
        "skl",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 8])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_value_info(
                "output_probability",
                helper.make_sequence_type_proto(
                    helper.make_map_type_proto(
                        TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, [])
                    )
                ),
            ),
        ],
        [
            w1,
            w2,
            numpy_helper.from_array(np.array([0, 1, 2], np.int64), "classes"),
            numpy_helper.from_array(np.array([-1], np.int64), "flat"),
        ],
    )
    return helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 1)]
    )


def text_tfidf_model(locale: str | None = "C") -> onnx.ModelProto:
    """A text column as skl2onnx writes it: StringNormalizer, Tokenizer, TfIdfVectorizer (one
    bigram in its pool), then a dense layer and Tanh."""
    rng = np.random.default_rng(0)
    words = ["cat", "dog", "ran", "sat", "the"]
    norm = {"locale": locale} if locale else {}
    g = helper.make_graph(
        [
            helper.make_node("Reshape", ["text", "flat_shape"], ["col"]),
            helper.make_node("StringNormalizer", ["col"], ["low"], case_change_action="LOWER", **norm),
            helper.make_node(
                "Tokenizer", ["low"], ["tok"], domain="com.microsoft", mark=0, mincharnum=1,
                pad_value="#", tokenexp="[a-zA-Z0-9_]+",
            ),
            helper.make_node("Flatten", ["tok"], ["flat"]),
            helper.make_node(
                "TfIdfVectorizer", ["flat"], ["tf"], name="tfidf", mode="TF", min_gram_length=1,
                max_gram_length=2, max_skip_count=0, ngram_counts=[0, 5],
                ngram_indexes=list(range(6)), pool_strings=[*words, "the", "cat"],
            ),
            helper.make_node("MatMul", ["tf", "w"], ["h"]),
            helper.make_node("Tanh", ["h"], ["y"]),
        ],
        "text",
        [helper.make_tensor_value_info("text", TensorProto.STRING, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])],
        [
            numpy_helper.from_array(rng.standard_normal((6, 4)).astype(np.float32), "w"),
            numpy_helper.from_array(np.array([-1], np.int64), "flat_shape"),
        ],
    )  # fmt: skip
    return helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )


def loop_model() -> onnx.ModelProto:
    """``h = x; for _ in range(iters): h = h + tanh(h)``, ``iters`` an input (a scripted
    refinement loop, a generation's length)."""
    t = TensorProto
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Tanh", ["h_in"], ["t"]),
            helper.make_node("Add", ["h_in", "t"], ["h_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", t.INT64, []),
            helper.make_tensor_value_info("cond_in", t.BOOL, []),
            helper.make_tensor_value_info("h_in", t.FLOAT, ["batch", 16]),
        ],
        [
            helper.make_tensor_value_info("cond_out", t.BOOL, []),
            helper.make_tensor_value_info("h_out", t.FLOAT, ["batch", 16]),
        ],
    )
    g = helper.make_graph(
        [helper.make_node("Loop", ["iters", "", "x"], ["y"], body=body, name="refine")],
        "loop",
        [
            helper.make_tensor_value_info("x", t.FLOAT, ["batch", 16]),
            helper.make_tensor_value_info("iters", t.INT64, []),
        ],
        [helper.make_tensor_value_info("y", t.FLOAT, ["batch", 16])],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
