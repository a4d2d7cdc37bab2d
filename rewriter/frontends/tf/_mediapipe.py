"""MediaPipe's custom TFLite ops that TFLite builtins spell exactly, rewritten in a copy.

MediaPipe's selfie segmenters end in ``Convolution2DTransposeBias``, a custom op (registered by
MediaPipe's own interpreter, and implemented by LiteRT's XNNPACK delegate) that is TFLite's
``TRANSPOSE_CONV`` followed by adding a bias: inputs (input NHWC, weights [out, kh, kw, in],
bias [out]), custom options the raw ``TfLiteTransposeConvParams`` struct (padding as
``TfLitePadding``: 1 same, 2 valid; then stride width and height as int32). tf2onnx does not
know it, so the model was refused. ``builtin_twin(path)`` writes a copy of the file in which each
such op is ``TRANSPOSE_CONV`` + ``ADD``, which tf2onnx converts. The source comparison still
runs the file itself in LiteRT (XNNPACK's kernel for the custom op, independent of this
rewrite), and the copy only where LiteRT cannot run the file. Only static output shapes are
rewritten (MediaPipe's are); other custom ops (the attention face mesh's transform ops have no
builtin spelling) are left, and refused as before.
"""

from __future__ import annotations

import atexit
import os
import shutil
import struct
import tempfile
from typing import Any

import numpy as np

__all__ = ["builtin_twin"]

_TWINS: dict[tuple[str, int, int], tuple[str, dict[str, int]]] = {}
_DIR: list[str] = []  # the process's folder of twins, removed at exit
_SAME, _VALID = 1, 2  # TfLitePadding (tensorflow/lite/core/c/common.h)


def builtin_twin(path: str) -> tuple[str, dict[str, int]]:
    """``(path of the file to read, {custom op: how many were rewritten})``: ``path`` itself when
    there is nothing to rewrite. The copy is written once per process and file version."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_mtime_ns, st.st_size)
    if key not in _TWINS:
        _TWINS[key] = _write_twin(path)
    return _TWINS[key]


def _write_twin(path: str) -> tuple[str, dict[str, int]]:
    from tensorflow.lite.python import schema_py_generated as fb
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(path)
    codes = model.operatorCodes
    custom = {
        i
        for i, c in enumerate(codes)
        if c.customCode and c.customCode.decode() == "Convolution2DTransposeBias"
    }
    if not custom:
        return path, {}
    done = 0
    for sg in model.subgraphs:
        ops: list[Any] = []
        for op in sg.operators:
            if op.opcodeIndex in custom:
                pair = _transpose_conv_bias(model, sg, op, fb)
                if pair is not None:
                    ops += pair
                    done += 1
                    continue
            ops.append(op)
        sg.operators = ops
    if not done:
        return path, {}
    if not _DIR:
        _DIR.append(tempfile.mkdtemp(prefix="pau-tflite-"))
        atexit.register(shutil.rmtree, _DIR[0], True)
    out = os.path.join(_DIR[0], f"{len(_TWINS)}-{os.path.basename(path)}")
    flatbuffer_utils.write_model(model, out)
    return out, {"Convolution2DTransposeBias": done}


def _opcode(model: Any, fb: Any, builtin: int) -> int:
    for i, c in enumerate(model.operatorCodes):
        if not c.customCode and max(c.builtinCode, c.deprecatedBuiltinCode) == builtin:
            return i
    c = fb.OperatorCodeT()
    c.builtinCode = builtin
    c.deprecatedBuiltinCode = min(builtin, 127)  # 127: PLACEHOLDER_FOR_GREATER_OP_CODES
    c.version = 1
    model.operatorCodes.append(c)
    return len(model.operatorCodes) - 1


def _tensor(model: Any, sg: Any, fb: Any, name: str, shape: list[int], ttype: int,
            data: bytes | None = None) -> int:  # fmt: skip
    buf = 0  # buffer 0: the empty one, for values computed at run time
    if data is not None:
        b = fb.BufferT()
        b.data = np.frombuffer(data, np.uint8).copy()
        model.buffers.append(b)
        buf = len(model.buffers) - 1
    t = fb.TensorT()
    t.name, t.shape, t.type, t.buffer = name.encode(), np.array(shape, np.int32), ttype, buf
    sg.tensors.append(t)
    return len(sg.tensors) - 1


def _transpose_conv_bias(model: Any, sg: Any, op: Any, fb: Any) -> list[Any] | None:
    """``[TRANSPOSE_CONV, ADD]`` computing what ``op`` does, or None when it cannot be spelled
    so (options not the 12-byte struct, a dynamic output shape, not 3 inputs)."""
    raw = bytes(op.customOptions) if op.customOptions is not None else b""
    if len(raw) != 12 or len(op.inputs) != 3 or len(op.outputs) != 1:
        return None
    padding, stride_w, stride_h = struct.unpack("<iii", raw)
    if padding not in (_SAME, _VALID):
        return None
    out = sg.tensors[op.outputs[0]]
    sig = out.shapeSignature if out.shapeSignature is not None else out.shape
    if out.shape is None or len(out.shape) != 4 or any(int(d) < 0 for d in sig):
        return None
    x, w, bias = op.inputs
    name = out.name.decode()
    shape = [int(d) for d in out.shape]
    dims = _tensor(model, sg, fb, f"{name}/output_shape", [4], fb.TensorType.INT32,
                   np.array(shape, "<i4").tobytes())  # fmt: skip
    mid = _tensor(model, sg, fb, f"{name}/transpose_conv", shape, out.type)
    conv = fb.OperatorT()
    conv.opcodeIndex = _opcode(model, fb, fb.BuiltinOperator.TRANSPOSE_CONV)
    conv.inputs, conv.outputs = np.array([dims, w, x], np.int32), np.array([mid], np.int32)
    conv.builtinOptionsType = fb.BuiltinOptions.TransposeConvOptions
    opts = fb.TransposeConvOptionsT()
    opts.padding = fb.Padding.SAME if padding == _SAME else fb.Padding.VALID
    opts.strideW, opts.strideH = stride_w, stride_h
    conv.builtinOptions = opts
    add = fb.OperatorT()
    add.opcodeIndex = _opcode(model, fb, fb.BuiltinOperator.ADD)
    add.inputs, add.outputs = np.array([mid, bias], np.int32), np.array(op.outputs, np.int32)
    add.builtinOptionsType = fb.BuiltinOptions.AddOptions
    add.builtinOptions = fb.AddOptionsT()
    return [conv, add]
