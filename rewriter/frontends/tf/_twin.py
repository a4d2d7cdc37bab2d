"""TFLite features tf2onnx cannot read, spelled with builtins in a copy of the file.

Three: two in MediaPipe's models, and streaming state:

* ``Convolution2DTransposeBias`` (the selfie segmenters' last layer), a custom op registered
  by MediaPipe's own interpreter and implemented by LiteRT's XNNPACK delegate: TFLite's
  ``TRANSPOSE_CONV`` followed by adding a bias. Inputs (input NHWC, weights [out, kh, kw, in],
  bias [out]); custom options the raw ``TfLiteTransposeConvParams`` struct (padding as
  ``TfLitePadding``: 1 same, 2 valid; then stride width and height as int32). The copy has
  ``TRANSPOSE_CONV`` + ``ADD``. Only static output shapes (MediaPipe's are).
* Sparse weights (``tf.lite.Optimize.EXPERIMENTAL_SPARSITY``: the pose detector and the
  full-range face detector, 38 and 46 tensors): a constant in TFLite's sparse format read by a
  ``DENSIFY`` op. tf2onnx reads the sparse buffer as dense and fails. LiteRT's own DENSIFY
  kernel computes the dense values (one run on zeros, no delegate, every tensor kept); the copy
  holds them as the constant and has no ``DENSIFY``.

* Resource variables (micro-wakeword's streaming models keep each layer's last frames in
  them between calls): VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE, and CALL_ONCE running a
  subgraph that assigns their initial values. tf2onnx fails on them ("list index out of
  range"). The copy takes each state as an input ``state_k`` and returns its next value as
  ``state_k_out`` (``STATES`` keeps the initial values); the comparison runs the file from its
  initial state and reads the values it assigned.

``builtin_twin(path)`` writes the copy once per process and file version (in a temporary folder
removed at exit); tf2onnx converts the copy. The source comparison still runs the file itself in
LiteRT (its own kernels for both), so the check does not depend on the copy (where LiteRT cannot
run the file, the comparison fails as it would without the copy). Other custom ops (the
attention face mesh's transform ops have no builtin spelling) are left, and refused as before.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import shutil
import struct
import tempfile
from typing import Any

import numpy as np

from rewriter.procs import scratch_prefix

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
    STATES.pop(os.path.abspath(path), None)  # an earlier version of the file's, if any
    codes = model.operatorCodes
    custom = {
        i
        for i, c in enumerate(codes)
        if c.customCode and c.customCode.decode() == "Convolution2DTransposeBias"
    }
    densify = {
        i
        for i, c in enumerate(codes)
        if not c.customCode
        and max(c.builtinCode, c.deprecatedBuiltinCode) == fb.BuiltinOperator.DENSIFY
    }
    var = {
        i
        for i, c in enumerate(codes)
        if not c.customCode
        and max(c.builtinCode, c.deprecatedBuiltinCode) == fb.BuiltinOperator.VAR_HANDLE
    }
    if not custom and not densify and not var:
        return path, {}
    done: dict[str, int] = {}
    if var:
        k = _states_as_io(path, model, fb)
        if k:
            done["VAR_HANDLE"] = k
    for sg in model.subgraphs:
        ops: list[Any] = []
        for op in sg.operators:
            if op.opcodeIndex in custom:
                pair = _transpose_conv_bias(model, sg, op, fb)
                if pair is not None:
                    ops += pair
                    done["Convolution2DTransposeBias"] = (
                        done.get("Convolution2DTransposeBias", 0) + 1
                    )
                    continue
            ops.append(op)
        sg.operators = ops
    if densify:
        k = _densify(path, model, densify, fb)
        if k:
            done["DENSIFY"] = k
    if not done:
        return path, {}
    if not _DIR:
        _DIR.append(tempfile.mkdtemp(prefix=scratch_prefix("tflite")))
        atexit.register(shutil.rmtree, _DIR[0], True)
    out = os.path.join(_DIR[0], f"{len(_TWINS)}-{os.path.basename(path)}")
    flatbuffer_utils.write_model(model, out)
    return out, done


@dataclasses.dataclass
class StreamState:
    """One resource variable of a streaming model, made an input and an output of the copy:
    ``name`` is read, ``name_out`` holds the value assigned this call (``assigned``: that
    tensor's index, the same in the file), ``initial`` what the model starts from."""

    name: str
    name_out: str
    assigned: int
    initial: np.ndarray


# the original file -> its states, in the copy's input (and output) order after its own
STATES: dict[str, list[StreamState]] = {}


def _states_as_io(path: str, model: Any, fb: Any) -> int:
    """Resource variables of the main subgraph (micro-wakeword's streaming models keep each
    layer's last frames in them between calls) become inputs ``state_k`` and outputs
    ``state_k_out``: each variable's READ_VARIABLE result is an input, the value its
    ASSIGN_VARIABLE stores an output, and the VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE and
    CALL_ONCE ops go, with the subgraphs CALL_ONCE ran (which assign the initial values, kept
    in ``STATES``). How many; 0 (nothing changed) unless every variable is read and assigned
    once in the main subgraph and set to a constant by the others."""
    ops_of = fb.BuiltinOperator

    def code(op: Any) -> int:
        c = model.operatorCodes[op.opcodeIndex]
        return int(max(c.builtinCode, c.deprecatedBuiltinCode))

    def handles(sg: Any) -> dict[int, tuple[bytes, bytes]]:
        return {
            int(op.outputs[0]): (op.builtinOptions.container or b"", op.builtinOptions.sharedName)
            for op in sg.operators
            if code(op) == ops_of.VAR_HANDLE
        }

    main, inits = model.subgraphs[0], model.subgraphs[1:]
    once = {
        int(op.builtinOptions.initSubgraphIndex)
        for op in main.operators
        if code(op) == ops_of.CALL_ONCE
    }
    if once != set(range(1, len(model.subgraphs))):  # other subgraphs (loop bodies) stay
        return 0
    initial: dict[tuple[bytes, bytes], np.ndarray] = {}
    for sg in inits:
        h = handles(sg)
        for op in sg.operators:
            if code(op) == ops_of.ASSIGN_VARIABLE:
                if int(op.inputs[0]) not in h:
                    return 0
                t = sg.tensors[op.inputs[1]]
                data = model.buffers[t.buffer].data
                if data is None:
                    return 0
                dtype = _NUMPY.get(int(t.type))
                if dtype is None:
                    return 0
                arr = np.frombuffer(bytes(data), dtype).reshape([int(d) for d in t.shape])
                initial[h[int(op.inputs[0])]] = arr
    h = handles(main)
    reads: dict[tuple[bytes, bytes], list[int]] = {}
    assigns: dict[tuple[bytes, bytes], list[int]] = {}
    for op in main.operators:
        if (
            code(op) in (ops_of.READ_VARIABLE, ops_of.ASSIGN_VARIABLE)
            and int(op.inputs[0]) not in h
        ):
            return 0
        if code(op) == ops_of.READ_VARIABLE:
            reads.setdefault(h[int(op.inputs[0])], []).append(int(op.outputs[0]))
        elif code(op) == ops_of.ASSIGN_VARIABLE:
            assigns.setdefault(h[int(op.inputs[0])], []).append(int(op.inputs[1]))
    keys = sorted(reads, key=lambda k: reads[k][0])  # in the order the graph reads them
    if not keys or set(keys) != set(h.values()) or set(assigns) != set(keys):
        return 0
    if any(len(reads[k]) != 1 or len(assigns[k]) != 1 or k not in initial for k in keys):
        return 0
    states = []
    for j, k in enumerate(keys):
        r, a = reads[k][0], assigns[k][0]
        main.tensors[r].name, main.tensors[a].name = (
            f"state_{j}".encode(),
            f"state_{j}_out".encode(),
        )
        states.append(StreamState(f"state_{j}", f"state_{j}_out", a, initial[k]))
    drop = {ops_of.VAR_HANDLE, ops_of.READ_VARIABLE, ops_of.ASSIGN_VARIABLE, ops_of.CALL_ONCE}
    main.operators = [op for op in main.operators if code(op) not in drop]
    main.inputs = np.array([*map(int, main.inputs), *(reads[k][0] for k in keys)], np.int32)
    main.outputs = np.array([*map(int, main.outputs), *(assigns[k][0] for k in keys)], np.int32)
    model.subgraphs = [main]  # the initializing subgraphs: their values are in STATES
    model.signatureDefs = []  # the copy's inputs and outputs are the subgraph's
    STATES[os.path.abspath(path)] = states
    return len(states)


# TFLite TensorType -> numpy, for the initial values of states
_NUMPY = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16,
          9: np.int8, 10: np.float64}  # fmt: skip


def _densify(path: str, model: Any, densify: set[int], fb: Any) -> int:
    """Replace each DENSIFY of a sparse constant in the main subgraph by the dense constant
    LiteRT computes; how many. (The operator lists may hold rewritten transposed convs already:
    that leaves tensor indices as they were, and LiteRT runs the original file.)"""
    sg = model.subgraphs[0]
    todo = [
        op for op in sg.operators
        if op.opcodeIndex in densify and len(op.inputs) == 1 and len(op.outputs) == 1
        and sg.tensors[op.inputs[0]].sparsity is not None
        and model.buffers[sg.tensors[op.inputs[0]].buffer].data is not None
    ]  # fmt: skip
    if not todo:
        return 0
    try:
        dense = _dense_values(path, [int(op.outputs[0]) for op in todo])
    except Exception:  # LiteRT cannot run the file (a custom op): the sparse tensors stay, and
        return 0  # the conversion names them in its one line, as before
    alias: dict[int, int] = {}
    for op in todo:
        src, dst = int(op.inputs[0]), int(op.outputs[0])
        t, value = sg.tensors[src], dense[dst]
        b = fb.BufferT()
        b.data = np.frombuffer(value.astype(value.dtype.newbyteorder("<")).tobytes(), np.uint8)
        model.buffers.append(b)
        t.buffer, t.sparsity, t.shapeSignature = len(model.buffers) - 1, None, None
        t.shape = np.array(value.shape, np.int32)
        alias[dst] = src
    gone = {id(op) for op in todo}
    sg.operators = [op for op in sg.operators if id(op) not in gone]
    for op in sg.operators:
        if op.inputs is not None:
            op.inputs = np.array([alias.get(int(i), int(i)) for i in op.inputs], np.int32)
    sg.outputs = np.array([alias.get(int(i), int(i)) for i in sg.outputs], np.int32)
    return len(todo)


def _dense_values(path: str, outputs: list[int]) -> dict[int, np.ndarray]:
    """The values of ``outputs`` (DENSIFY results) after one LiteRT run of ``path`` on zeros,
    with no delegate (XNNPACK takes the graph over and leaves them unset) and every tensor kept."""
    import warnings

    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "preserve_all_tensors is for debugging"
        it = Interpreter(
            model_path=path,
            experimental_preserve_all_tensors=True,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    it.invoke()
    return {i: it.get_tensor(i).copy() for i in outputs}


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
