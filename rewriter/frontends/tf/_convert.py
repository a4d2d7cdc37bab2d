"""Conversion (tf2onnx) and the check against the source runtime; see the package docstring."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from rewriter.errors import ModelError, RewriterError
from rewriter.frontends.common import Conversion, SourceCheck, compare_with_source
from rewriter.frontends.common import quiet as _quiet
from rewriter.frontends.tf._twin import STATES
from rewriter.frontends.tf._xla import ELEMENTWISE, identify
from rewriter.procs import scratch_prefix

OPSET = 17  # tf2onnx 1.17 knows opsets up to 18; 17 has every op it emits for these models
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
_EXTRA = {
    "tflite": "tflite", "keras": "tensorflow", "saved_model": "tensorflow",
    "graphdef": "tensorflow",
}  # fmt: skip
_WHAT = {
    "tflite": "a TFLite model", "keras": "a Keras model", "saved_model": "a SavedModel",
    "graphdef": "a TensorFlow frozen graph",
}  # fmt: skip
_RUNTIME = {"tflite": "LiteRT"} | dict.fromkeys(("keras", "saved_model", "graphdef"), "TensorFlow")


class MissingExtraError(RewriterError):
    """A TensorFlow-family input without the optional packages that read it (exit code 1)."""


def source_kind(path: str | os.PathLike[str]) -> str | None:
    """``tflite``, ``keras`` or ``saved_model`` when ``path`` is one of those inputs, else None.

    >>> source_kind("mobilenet.tflite")
    'tflite'
    """
    p = os.fspath(path)
    low = p.lower()
    if low.endswith(".tflite"):
        return "tflite"
    if low.endswith(KERAS_SUFFIXES):
        return "keras"
    if os.path.isdir(p) and any(
        os.path.exists(os.path.join(p, f)) for f in ("saved_model.pb", "saved_model.pbtxt")
    ):
        return "saved_model"
    if low.endswith(".pb") and os.path.isfile(p):  # a frozen GraphDef (TF1 detectors' form)
        return "graphdef"
    return None


# -- conversion ---------------------------------------------------------------------------------
_CACHE: dict[tuple[str, int, int], Conversion] = {}


def convert(path: str | os.PathLike[str]) -> Conversion:
    """Convert a TFLite file, Keras file or SavedModel folder to ONNX with tf2onnx.

    Converted once per process and file version (``bench A.tflite`` and ``rewrite`` reuse it).

    Raises:
        MissingExtraError: the ``[tflite]`` / ``[tensorflow]`` extra is not installed.
        ModelError: the file cannot be read, or an op has no ONNX conversion (named).
    """
    p = os.fspath(path)
    kind = source_kind(p)
    if kind is None:
        raise ModelError(f"{p}: not a .tflite, .keras, .h5, .pb file or SavedModel folder")
    if not os.path.exists(p):
        raise ModelError(f"{p}: no such file; pass the path of {_WHAT[kind]}")
    st = os.stat(os.path.join(p, "saved_model.pb") if kind == "saved_model" else p)
    key = (os.path.abspath(p), st.st_mtime_ns, st.st_size)
    if key not in _CACHE:
        t0 = time.perf_counter()
        tf2onnx = _require(kind, p)
        _LOWERED.clear()
        _REFUSED.clear()
        _FIXED.clear()
        with _quiet(), _deterministic(tf2onnx), _transposes_through_more_ops():
            if kind == "tflite":
                model, notes = _from_tflite(tf2onnx, p)
            else:
                model, notes = _from_tf(tf2onnx, kind, p)
        notes += _lower_unconverted(model, p, kind, tf2onnx.__version__)
        # tf2onnx's says the traced function's name, numbered per process ("run_keras_176")
        model.graph.doc_string = f"converted from {os.path.basename(os.path.normpath(p))}"
        conv = Conversion(
            model, kind, p, f"tf2onnx {tf2onnx.__version__}", time.perf_counter() - t0, notes
        )
        conv.notes.insert(0, _layout_note(conv))
        _CACHE[key] = conv
    c = _CACHE[key]
    m = onnx.ModelProto()
    m.CopyFrom(c.model)
    return Conversion(m, c.kind, c.path, c.converter, c.seconds, list(c.notes))


@contextlib.contextmanager
def _deterministic(tf2onnx: Any) -> Iterator[None]:
    """Same file, same bytes, in any process: tf2onnx numbers the names it makes up with one
    counter per process (a second conversion got other names), and its dead-node sweep returns a
    set of nodes (ordered by address, so which of two merged duplicates survives, and the node
    order, varied from run to run), and it keeps a tensor's consumers as a set of names
    (ordered by the string hash, which differs per process), so its transpose optimizer pushed
    Transposes through a node's consumers in a different order each run. The counter restarts
    (after the modules a conversion imports, one of which takes a name as it loads), the sweep
    keeps the graph's order and consumers come sorted by name."""
    from tf2onnx.graph import Graph

    for m in ("convert", "tfonnx", "tflite_utils", "tf_loader", "rewriter", "optimizer"):
        importlib.import_module(f"tf2onnx.{m}")  # a module's import takes a name of its own
    tf2onnx.utils.INTERNAL_NAME = 1
    sweep, consumers = Graph.extract_sub_graph_nodes, Graph.find_output_consumers

    def in_graph_order(self: Any, *args: Any, **kwargs: Any) -> list[Any]:
        kept = sweep(self, *args, **kwargs)
        rank = {id(n): i for i, n in enumerate(self.get_nodes())}
        return sorted(kept, key=lambda n: (rank.get(id(n), len(rank)), n.name))

    def by_name(self: Any, output_name: str) -> list[Any]:
        return sorted(consumers(self, output_name), key=lambda n: n.name)

    Graph.extract_sub_graph_nodes, Graph.find_output_consumers = in_graph_order, by_name
    try:
        yield
    finally:
        Graph.extract_sub_graph_nodes, Graph.find_output_consumers = sweep, consumers


# elementwise ops tf2onnx's transpose optimizer has no handler for (1.17.0): a layout Transpose
# stopped at the first of them, so a SiLU spelled x / (1 + exp(-x)) or x * (1 / ...) right after a
# Conv kept two Transposes inside it (jax2tf's spelling with a polymorphic batch) and no rule saw
# the activation. Broadcasting ops go through its generic branch handler (Sub's), one-input ops
# through its unary one (Exp's); both are exact for any elementwise op.
_BRANCHING = ("Div", "Pow", "Mod", "Less", "Greater", "Equal", "LessOrEqual", "GreaterOrEqual",
              "And", "Or", "Xor", "Where")  # fmt: skip
_UNARY = ("Floor", "Ceil", "Round", "Sign", "Not", "Sin", "Cos", "Tan", "Softsign",
          "HardSigmoid", "HardSwish", "IsNaN", "IsInf")  # fmt: skip


@contextlib.contextmanager
def _transposes_through_more_ops() -> Iterator[None]:
    """Let tf2onnx's transpose optimizer push layout Transposes through ``_BRANCHING`` and
    ``_UNARY`` ops too, during one conversion; and through an Add of a scalar constant after a
    bias-free Conv, where its Add handler takes the scalar for a bias, fails on its empty shape
    (``max(numpy_val.shape)``) and the whole transpose pass is dropped with a warning: a Keras
    MobileNetV3 (hard-swish's x + 3 after each Conv) kept all its 128 layout Transposes."""
    from tf2onnx.optimizer.transpose_optimizer import TransposeOptimizer

    init, add = TransposeOptimizer._initialize_handlers, TransposeOptimizer._add_handler

    def more(self: Any) -> None:
        init(self)
        for op in _BRANCHING:
            self._handler_map.setdefault(op, self._handle_node_having_branches)
        for op in _UNARY:
            self._handler_map.setdefault(op, self._simple_through_handler)

    def add_scalar_too(self: Any, trans: Any, node: Any) -> Any:
        other = node.inputs[1]
        if other is not None and other.is_const() and not other.get_tensor_value(False).shape:
            return self._handle_node_having_branches(trans, node)
        return add(self, trans, node)

    TransposeOptimizer._initialize_handlers = more
    TransposeOptimizer._add_handler = add_scalar_too
    try:
        yield
    finally:
        TransposeOptimizer._initialize_handlers, TransposeOptimizer._add_handler = init, add


def _require(kind: str, path: str) -> Any:
    """Import tf2onnx (which imports TensorFlow) and, for TFLite, LiteRT; or say which extra."""
    mods = ["tensorflow", "tf2onnx"] + (["ai_edge_litert.interpreter"] if kind == "tflite" else [])
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in mods:
        try:
            with _quiet():
                importlib.import_module(name)
        except ImportError as e:
            extra = _EXTRA[kind]
            raise MissingExtraError(
                f"{path}: reading {_WHAT[kind]} needs the [{extra}] extra ({e}); "
                f"pip install 'pau-rewriter[{extra}]'"
            ) from None
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    return importlib.import_module("tf2onnx")


def _from_tflite(tf2onnx: Any, path: str) -> tuple[onnx.ModelProto, list[str]]:
    from tf2onnx import tflite_utils

    from rewriter.frontends.tf._twin import builtin_twin

    source = path
    try:
        # MediaPipe's Convolution2DTransposeBias and sparse weights: builtins in a copy, which
        # tf2onnx reads
        path, twinned = builtin_twin(path)
        graphs, opcodes, fb, _ = tflite_utils.read_tflite_model(path)
    except Exception as e:
        newer = _newer_builtin(e, source, tf2onnx.__version__)
        raise newer or ModelError(f"{source}: not a TFLite flatbuffer ({_first(e)})") from None
    g = graphs[-1]
    sparse = sum(g.Tensors(i).Sparsity() is not None for i in range(g.TensorsLength()))
    if sparse:
        # MediaPipe's pose and full-range face detectors: tf2onnx reads a sparse buffer as
        # dense and failed with "cannot reshape array of size 77", which read as no TFLite file
        raise ModelError(
            f"{source}: {sparse} sparse weight tensor(s) (TFLite sparsity, DENSIFY ops), which "
            f"tf2onnx {tf2onnx.__version__} cannot convert; convert the model without "
            "sparsity (no tf.lite.Optimize.EXPERIMENTAL_SPARSITY) or pass it as ONNX"
        )
    ops = Counter(opcodes[g.Operators(i).OpcodeIndex()] for i in range(g.OperatorsLength()))
    if ops["VAR_HANDLE"]:
        # micro-wakeword's streaming models keep each layer's last frames in resource variables
        # between calls; tf2onnx failed with "list index out of range"
        raise ModelError(
            f"{source}: a streaming model: its state lives in {ops['VAR_HANDLE']} resource "
            f"variable(s) between calls (VAR_HANDLE, READ_VARIABLE x{ops['READ_VARIABLE']}, "
            f"ASSIGN_VARIABLE x{ops['ASSIGN_VARIABLE']}), which tf2onnx "
            f"{tf2onnx.__version__} cannot convert; export it without internal state (the state "
            "as inputs and outputs, or the non-streaming model) or pass it as ONNX"
        )
    try:
        parsed = tflite_utils.parse_tflite_graph(g, opcodes, fb)
        nodes, dtypes = parsed[0], parsed[4]
    except Exception as e:
        raise ModelError(
            f"{source}: tf2onnx {tf2onnx.__version__} cannot read its graph ({_first(e)})"
        ) from None
    notes = []
    if "Convolution2DTransposeBias" in twinned:
        notes.append(
            "MediaPipe's custom op Convolution2DTransposeBias "
            f"({twinned['Convolution2DTransposeBias']}) read as TFLite's TRANSPOSE_CONV + ADD "
            "(its bias), which tf2onnx converts (LiteRT runs the file as it is: its XNNPACK "
            "delegate has the op)"
        )
    if "VAR_HANDLE" in twinned:
        k = twinned["VAR_HANDLE"]
        notes.append(
            f"a streaming model: its {k} state(s) kept between calls (resource variables) are "
            f"inputs state_0..state_{k - 1} and outputs state_0_out..state_{k - 1}_out of the "
            "conversion: feed each call the previous call's outputs, and the initial values "
            "(zeros in micro-wakeword's) at the start; compared with LiteRT from that start"
        )
    if "DENSIFY" in twinned:
        notes.append(
            f"{twinned['DENSIFY']} sparse weight tensor(s) (TFLite sparsity) densified by "
            "LiteRT's DENSIFY kernel for tf2onnx, which reads only dense ones"
        )
    fused: Counter[tuple[str, str]] = Counter()
    for n in nodes:
        act = next((a.s.decode() for a in n.attribute if a.name == "fused_activation_function"), "")
        if act and act != "NONE":
            fused[(n.op_type.removeprefix("TFL_"), act)] += 1
    for (op, act), k in sorted(fused.items()):
        notes.append(
            f"{k} activation{'s' if k > 1 else ''} fused into {op} ({act}) "
            f"{'are' if k > 1 else 'is'} not a separate site (piecewise-linear: pau_all leaves "
            "it; the conversion made it a Clip, which -p pau_relu6 would match)"
        )
    # what DEQUANTIZE reads: float16 weights (a float16 model), or integers (an int8/uint8
    # model, whose tensors tf2onnx spells QuantizeLinear/DequantizeLinear pairs around each op)
    deq = Counter(dtypes.get(n.input[0]) for n in nodes if n.op_type == "TFL_DEQUANTIZE")
    if deq[onnx.TensorProto.FLOAT16]:
        notes.append(
            f"{deq[onnx.TensorProto.FLOAT16]} float16 weight(s) behind DEQUANTIZE became float32 "
            "initializers in the conversion"
        )
    weights = sum(deq[t] for t in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8))
    if any(n.op_type == "TFL_QUANTIZE" for n in nodes):
        notes.append(
            "a full-integer quantized model: tf2onnx spells each 8-bit tensor as a "
            "QuantizeLinear/DequantizeLinear pair, so every site runs in float between them (a "
            "rational's error smaller than the quantization step mostly rounds away)"
        )
    elif weights and ops["DEQUANTIZE"] < weights:
        # dynamic-range quantization: CONV_2D/FULLY_CONNECTED read int8 weights themselves
        # (tf2onnx adds the DEQUANTIZE), and LiteRT's hybrid kernels quantize their float
        # inputs to 8 bits on each call: fer's emotion model differs from its conversion by
        # rel-L2 0.02-0.08, and each of the two from the float Keras model by more
        notes.append(
            f"dynamic-range quantization: {weights} 8-bit weight(s) read by the ops themselves "
            "became DequantizeLinear; LiteRT quantizes those ops' inputs to 8 bits on each call "
            "(hybrid kernels), the converted model keeps them float, so the two differ by that "
            "rounding, not by a conversion error"
        )
    elif weights:
        notes.append(
            f"{weights} 8-bit weight(s) behind DEQUANTIZE stay DequantizeLinear in the conversion "
            "(activations are float)"
        )
    try:
        model, _ = tf2onnx.convert.from_tflite(path, opset=OPSET, custom_op_handlers=_HANDLERS)
    except Exception as e:
        raise ModelError(f"{source}: tf2onnx could not convert it ({_first(e)})") from None
    return model, notes


def _newer_builtin(e: Exception, source: str, version: str) -> ModelError | None:
    """The line for a TFLite builtin op newer than tf2onnx's schema (it said "not a TFLite
    flatbuffer (make_sure failure: Can't lookup value 198 for tflite enum BuiltinOperator")),
    naming the op from LiteRT's schema; None for other errors."""
    m = re.search(r"lookup value (\d+) for tflite enum BuiltinOperator", str(e))
    if m is None:
        return None
    code, name = int(m.group(1)), f"builtin {m.group(1)}"
    with contextlib.suppress(ImportError):
        from ai_edge_litert import schema_py_generated as schema

        names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        name = f"{names.get(code, '?')} (builtin {code})"
    hint = (
        "StableHLO ops stay where TensorFlow's converter cannot lower them to TFLite builtins "
        "(a jax2tf export with a polymorphic batch: export at a fixed batch); "
        if "STABLEHLO" in name
        else ""
    )
    return ModelError(
        f"{source}: TFLite op {name} is newer than tf2onnx {version} reads; nothing written: "
        f"{hint}convert the model without it, or pass it as ONNX"
    )


def _from_tf(tf2onnx: Any, kind: str, path: str) -> tuple[onnx.ModelProto, list[str]]:
    fn, specs = _tf_callable(kind, path)
    import tensorflow as tf

    func = tf.function(fn)
    try:
        with _keras_conv_without_xla() as shim:
            traced = func.get_concrete_function(*specs)  # the trace tf2onnx converts (cached)
            if _stablehlo(traced):
                return _through_litert(tf2onnx, traced, specs, getattr(fn, "_keep", None), path)
            model, _ = tf2onnx.convert.from_function(
                func, input_signature=specs, opset=OPSET, custom_op_handlers=_HANDLERS
            )
        xla = any(n.op_type == "StatefulPartitionedCall" for n in model.graph.node)
        if xla:  # XLA functions baked into a SavedModel (Keras 3's model.export): inline them
            model = _without_xla_functions(tf2onnx, traced, [t.name for t in specs])
    except ModelError:
        raise
    except Exception as e:
        raise ModelError(f"{path}: tf2onnx could not convert it ({_first(e)})") from None
    frozen = _freeze_captured(model, traced)
    notes = [f"{len(frozen)} captured constant(s) made initializers: {', '.join(frozen[:3])}"]
    notes = notes if frozen else []
    if xla:  # (a call left is named by _lower_unconverted, and nothing is written)
        notes.append(
            "functions marked for XLA compilation (a grouped convolution Keras 3 exported) "
            "inlined for tf2onnx, which cannot convert the calls; TensorFlow runs the model as "
            "it is"
        )
    if shim is not None and shim.unwrapped:
        notes.append(
            "grouped convolutions traced without Keras' XLA wrapper (a jit_compile function "
            "tf2onnx cannot inline); TensorFlow runs the model as it is"
        )
    return model, notes


def _stablehlo(traced: Any) -> bool:
    """Whether the trace calls an ``XlaCallModule``: a StableHLO module, which jax2tf writes
    (its only serialization since JAX 0.4.30) and tf2onnx cannot read (it failed with "Could
    not infer the attribute type from the elements of the passed Iterable value")."""
    gd = traced.graph.as_graph_def()
    nodes = [*gd.node, *(n for f in gd.library.function for n in f.node_def)]
    return any(n.op == "XlaCallModule" for n in nodes)


def _through_litert(
    tf2onnx: Any, traced: Any, specs: list[Any], keep: Any, path: str
) -> tuple[onnx.ModelProto, list[str]]:
    """A trace holding StableHLO (a JAX/Flax model through jax2tf) converted to TFLite by
    TensorFlow's own converter, which lowers StableHLO to TFLite builtins, then by tf2onnx as a
    TFLite file; inputs named as the signature names them. TensorFlow still runs the source."""
    import tempfile

    import tensorflow as tf

    try:
        flat = tf.lite.TFLiteConverter.from_concrete_functions([traced], keep).convert()
    except Exception as e:
        raise ModelError(
            f"{path}: StableHLO (XlaCallModule, a jax2tf export), which tf2onnx cannot read and "
            f"TensorFlow's TFLite converter cannot lower either ({_first(e)})"
        ) from None
    with tempfile.TemporaryDirectory(prefix=scratch_prefix("stablehlo")) as d:
        tfl = os.path.join(d, "stablehlo.tflite")
        with open(tfl, "wb") as f:
            f.write(flat)
        try:
            model, _ = tf2onnx.convert.from_tflite(tfl, opset=OPSET, custom_op_handlers=_HANDLERS)
        except Exception as e:
            newer = _newer_builtin(e, path, tf2onnx.__version__)
            if newer is None:
                raise
            raise newer from None
    _name_inputs(model, [i.name for i in model.graph.input], [t.name for t in specs])
    return model, [
        "StableHLO (jax2tf's XlaCallModule, which tf2onnx cannot read) lowered to TFLite "
        "builtins by TensorFlow's TFLite converter, then converted; TensorFlow runs the model "
        "as it is"
    ]


def _without_xla_functions(tf2onnx: Any, traced: Any, names: list[str]) -> onnx.ModelProto:
    """``traced`` converted with its functions marked for XLA compilation inlined: Grappler,
    which tf2onnx runs to inline function calls, leaves a call to a function marked
    ``_XlaMustCompile`` (Keras 3 wraps grouped convolutions so on CPU, and ``model.export``
    keeps the wrapper in the SavedModel), and tf2onnx has no conversion for the call. The
    frozen graph without those marks is what tf2onnx converts."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    frozen = convert_variables_to_constants_v2(traced, lower_control_flow=False)
    gd = frozen.graph.as_graph_def(add_shapes=True)
    marks = ("_XlaMustCompile", "_noinline")
    for attrs in [n.attr for n in gd.node] + [
        a for f in gd.library.function for a in [f.attr, *(n.attr for n in f.node_def)]
    ]:
        for m in marks:
            if m in attrs:
                del attrs[m]
    ins = [t.name for t in frozen.inputs if t.dtype != tf.resource]
    outs = [t.name for t in frozen.outputs]
    model, _ = tf2onnx.convert.from_graph_def(
        gd, input_names=ins, output_names=outs, opset=OPSET, custom_op_handlers=_HANDLERS
    )
    _name_inputs(model, ins, names)
    return model


def _name_inputs(model: onnx.ModelProto, old: list[str], new: list[str]) -> None:
    """The graph inputs ``old`` renamed ``new`` (as the signature names them, not the graph's
    "x:0" or TFLite's "serving_default_x:0"), with every read of them."""
    from rewriter.ir.graph import all_nodes

    rename = dict(zip(old, new, strict=False))
    for i in model.graph.input:
        i.name = rename.get(i.name, i.name)
    for n in all_nodes(model.graph):
        n.input[:] = [rename.get(x, x) for x in n.input]


class _NoJit:
    """``tensorflow`` as Keras' TensorFlow backend sees it while a model is traced for
    conversion: ``tf.function(jit_compile=True)`` returns the function itself. Keras 3 wraps a
    grouped convolution (ConvNeXt's depthwise 7x7) in an XLA-compiled ``tf.function`` on CPU,
    which stays a ``StatefulPartitionedCall`` tf2onnx cannot convert ("StatefulPartitionedCall
    has no ONNX conversion"); the op inside is an ordinary grouped Conv2D."""

    def __init__(self, tf: Any) -> None:
        self._tf = tf
        self.unwrapped = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tf, name)

    def function(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("jit_compile"):
            self.unwrapped += 1
            return args[0] if args else (lambda f: f)
        return self._tf.function(*args, **kwargs)


@contextlib.contextmanager
def _keras_conv_without_xla() -> Iterator[_NoJit | None]:
    """For the duration, Keras' TensorFlow backend ``nn`` module traces its XLA-wrapped ops as
    the ops themselves (``_NoJit``, whose ``unwrapped`` counts the wrappers skipped, once per
    trace; None without Keras 3).
    The source comparison runs the model unpatched."""
    try:
        from keras.src.backend.tensorflow import nn as knn
    except ImportError:  # no Keras 3: nothing to unwrap
        yield None
        return
    shim = _NoJit(knn.tf)
    knn.tf = shim
    try:
        yield shim
    finally:
        knn.tf = shim._tf


def _freeze_captured(model: onnx.ModelProto, traced: Any) -> list[str]:
    """Make initializers of the graph inputs tf2onnx left for tensors the function captures
    (not variables): Keras 3's ``Normalization`` keeps its mean and variance as tensors, and
    EfficientNet's came out as two inputs, ``.../Sub/y:0`` and ``.../Sqrt/x:0``, which the
    model then asked the user for and which the source (one input) did not take."""
    import tensorflow as tf

    values = {
        inner.name: ext.numpy()
        for ext, inner in zip(traced.captured_inputs, traced.graph.internal_captures, strict=False)
        if ext.dtype != tf.resource
    }
    frozen = [i.name for i in model.graph.input if i.name in values]
    for name in frozen:
        model.graph.initializer.append(numpy_helper.from_array(values[name], name))
    keep = [i for i in model.graph.input if i.name not in values]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    return frozen


def _tf_callable(kind: str, path: str) -> tuple[Callable[..., list[Any]], list[Any]]:
    """The source as ``f(*tensors) -> [outputs]`` with its input specs: the one callable both
    the converter traces and the source runtime runs, so inputs and outputs line up by order."""
    import tensorflow as tf

    if kind == "keras":
        import keras

        try:
            km = keras.models.load_model(path, compile=False)
        except Exception as e:
            if "No model config found" in str(e) or path.endswith(".weights.h5"):
                # model.save_weights: values by layer name, no architecture to rebuild
                raise ModelError(
                    f"{path}: Keras weights only (save_weights), no model: build the model in "
                    "Keras, load_weights this file, model.save('model.keras') and rewrite that"
                ) from None
            raise ModelError(f"{path}: Keras cannot load it ({_first(e)})") from None
        specs = [tf.TensorSpec(t.shape, t.dtype, name=_clean(t.name)) for t in km.inputs]

        def run_keras(*xs: Any) -> list[Any]:
            return list(tf.nest.flatten(km(list(xs) if len(xs) > 1 else xs[0], training=False)))

        return run_keras, specs
    if kind == "graphdef":
        return _graphdef_callable(path)
    try:
        loaded = tf.saved_model.load(path)
        sigs = dict(loaded.signatures)
    except Exception as e:
        raise ModelError(f"{path}: TensorFlow cannot load the SavedModel ({_first(e)})") from None
    # the signature serving uses; a SavedModel saved with one signature under another name
    # (tf.saved_model.save(m, path, signatures={"predict": f})) has only that one to convert
    if "serving_default" in sigs or len(sigs) == 1:
        sig = sigs.get("serving_default") or next(iter(sigs.values()))
    else:
        raise ModelError(
            f"{path}: the SavedModel has "
            + (
                f"{len(sigs)} signatures ({', '.join(sorted(sigs))}) and none is 'serving_default'"
                if sigs
                else "no signature"
            )
            + ": save it again with the one to rewrite as serving_default "
            "(tf.saved_model.save(module, path, signatures={'serving_default': f}))"
        )
    kw = sig.structured_input_signature[1]
    names = sorted(kw)
    specs = [tf.TensorSpec(kw[n].shape, kw[n].dtype, name=n) for n in names]

    def run_sig(*xs: Any) -> list[Any]:
        out = sig(**dict(zip(names, xs, strict=True)))
        return [out[k] for k in sorted(out)]

    run_sig._keep = loaded  # type: ignore[attr-defined]  # the signature needs its object alive
    return run_sig, specs


# ops whose outputs nothing reads that are not a frozen graph's outputs
_NOT_OUTPUTS = {"NoOp", "Const", "Assert", "Placeholder", "PlaceholderWithDefault", "SaveV2"}
_VARIABLES = {"VariableV2", "VarHandleOp", "Variable"}


def _graphdef_callable(path: str) -> tuple[Callable[..., list[Any]], list[Any]]:
    """A frozen GraphDef (``frozen_inference_graph.pb``, ``tf.io.write_graph``) as a callable:
    its Placeholders are the inputs and the values nothing reads the outputs, which is what
    ``tf2onnx --graphdef`` needs given and a frozen graph does not record."""
    import tensorflow as tf

    if os.path.basename(path) == "saved_model.pb":
        raise ModelError(
            f"{path}: the graph file of a SavedModel; pass its folder "
            f"({os.path.dirname(path) or '.'})"
        )
    gd = tf.compat.v1.GraphDef()
    try:
        with open(path, "rb") as f:
            gd.ParseFromString(f.read())
    except Exception as e:
        raise ModelError(f"{path}: not a TensorFlow GraphDef ({_first(e)})") from None
    if not gd.node:
        raise ModelError(f"{path}: not a TensorFlow GraphDef (no nodes)")
    variables = sorted(n.name for n in gd.node if n.op in _VARIABLES)
    if variables:
        raise ModelError(
            f"{path}: a graph with {len(variables)} variable(s) ({', '.join(variables[:3])}), "
            "not frozen: freeze it (tf.compat.v1.graph_util.convert_variables_to_constants) "
            "or save a SavedModel"
        )
    placeholders = [n for n in gd.node if n.op == "Placeholder"]
    read = {i.split(":")[0].lstrip("^") for n in gd.node for i in n.input}
    outs = [n.name for n in gd.node if n.name not in read and n.op not in _NOT_OUTPUTS]
    if not placeholders or not outs:
        raise ModelError(
            f"{path}: a GraphDef with {len(placeholders)} Placeholder(s) and {len(outs)} "
            "unread value(s): no inputs and outputs to convert"
        )

    def imported() -> None:
        tf.compat.v1.import_graph_def(gd, name="")

    try:
        wrapped = tf.compat.v1.wrap_function(imported, [])
        g = wrapped.graph
        fn = wrapped.prune(
            [g.get_tensor_by_name(f"{n.name}:0") for n in placeholders],
            [g.get_tensor_by_name(f"{o}:0") for o in outs],
        )
    except Exception as e:
        raise ModelError(f"{path}: TensorFlow cannot import the graph ({_first(e)})") from None
    specs = []
    for n in placeholders:
        dims = n.attr["shape"].shape
        shape = None if dims.unknown_rank else [d.size if d.size >= 0 else None for d in dims.dim]
        specs.append(tf.TensorSpec(shape, tf.dtypes.as_dtype(n.attr["dtype"].type), name=n.name))

    def run_graph(*xs: Any) -> list[Any]:
        return list(fn(*[tf.convert_to_tensor(x) for x in xs]))  # a pruned function: tensors

    run_graph._keep = wrapped  # type: ignore[attr-defined]  # the pruned function's graph
    return run_graph, specs


def _clean(name: str) -> str:
    return name.split(":")[0]


def _first(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return (s[0] if s else type(e).__name__)[:300]


# -- what tf2onnx does not convert ---------------------------------------------------------------
# tf2onnx converts neither TFLite's GELU nor TensorFlow's Erfc (Keras 3's GELU); these handlers
# lower them inside tf2onnx, so its transpose optimizer still moves NHWC Transposes past them.
def _h_gelu(ctx: Any, node: Any, name: str, args: Any) -> None:
    """TFLite GELU -> 0.5 x (1 + erf(x * 0.70710677)) (TensorFlow's tf.nn.gelu spelling), or the
    tanh form with ``approximate``; both are spellings the rule library matches."""
    x, out = node.input[0], node.output[0]
    approx = bool(node.get_attr_value("approximate", 0))
    shape, dtype = ctx.get_shape(out), ctx.get_dtype(out)
    np_t = np.float16 if dtype == onnx.TensorProto.FLOAT16 else np.float32

    def c(v: float) -> str:
        from tf2onnx import utils

        return str(ctx.make_const(utils.make_name(name + "/c"), np.array(v, np_t)).output[0])

    def mk(op: str, ins: list[str], **kw: Any) -> str:
        return str(ctx.make_node(op, ins, shapes=[shape], dtypes=[dtype], **kw).output[0])

    _LOWERED["GELU (tanh)" if approx else "GELU"] += 1
    ctx.remove_node(node.name)
    if approx:  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        x3 = mk("Mul", [mk("Mul", [x, x]), x])
        inner = mk("Mul", [mk("Add", [x, mk("Mul", [x3, c(0.044715)])]), c(0.7978845608028654)])
        t1 = mk("Add", [mk("Tanh", [inner]), c(1.0)])
    else:
        t1 = mk("Add", [mk("Erf", [mk("Mul", [x, c(0.7071067811865476)])]), c(1.0)])
    ctx.make_node(
        "Mul",
        [mk("Mul", [x, c(0.5)]), t1],
        outputs=[out],
        name=node.name,
        shapes=[shape],
        dtypes=[dtype],
    )


def _h_erfc(ctx: Any, node: Any, name: str, args: Any) -> None:
    """erfc(y) -> 1 - erf(y); ``_canonical_erfc`` then turns Keras 3's 1 - erf(-x c) into the
    1 + erf(x c) of the GELU rules."""
    from tf2onnx import utils

    y, out = node.input[0], node.output[0]
    shape, dtype = ctx.get_shape(out), ctx.get_dtype(out)
    np_t = np.float16 if dtype == onnx.TensorProto.FLOAT16 else np.float32
    _LOWERED["Erfc"] += 1
    ctx.remove_node(node.name)
    e = ctx.make_node("Erf", [y], shapes=[shape], dtypes=[dtype]).output[0]
    one = ctx.make_const(utils.make_name(name + "/one"), np.array(1.0, np_t)).output[0]
    ctx.make_node(
        "Sub", [one, e], outputs=[out], name=node.name + "/erfc", shapes=[shape], dtypes=[dtype]
    )


# ops a complex tensor passes through unchanged in its values (squeezed, reshaped), and the
# ops that take one part of it: TensorFlow's Cast to a real type keeps the real part
_COMPLEX_VIEWS = {"Squeeze", "Reshape", "ExpandDims", "Identity"}
_PART = {"Real": "real", "Imag": "imag", "TFL_REAL": "real", "TFL_IMAG": "imag"}
_REAL = (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16)


def _complex_part(ctx: Any, out: str) -> tuple[str, list[str]]:
    """Which part of the complex tensor ``out`` its readers take ("real", "imag", or "abs": all
    are ComplexAbs), and the outputs of the view ops between (squeezes, reshapes) whose dtype
    becomes real; a reader that needs both parts (a product, a graph output) is named in the
    error."""
    parts: set[str] = set()
    views: list[str] = []
    todo = [out]
    while todo:
        t = todo.pop()
        if t in ctx.outputs:
            raise ValueError(f"the complex spectrum {t!r} is a model output")
        for c in ctx.find_output_consumers(t):
            if c.type in _COMPLEX_VIEWS and c.input[0] == t:
                views.append(c.output[0])
                todo.append(c.output[0])
            elif c.type == "Cast" and c.get_attr_value("to", c.get_attr_value("DstT")) in _REAL:
                parts.add("real")
            elif c.type in _PART:
                parts.add(_PART[c.type])
            elif c.type == "ComplexAbs":
                parts.add("abs")
            else:
                raise ValueError(f"its complex output is read by {c.type}, which needs both parts")
    if len(parts) != 1:
        what = {"abs": "its magnitude", "imag": "its imaginary part", "real": "its real part"}
        raise ValueError(f"{' and '.join(what[p] for p in sorted(parts))} are read")
    return parts.pop(), views


def _h_rfft(ctx: Any, node: Any, name: str, args: Any) -> None:
    """RFFT / RFFT2D whose complex output is read for one part only -> ONNX DFT (opset 17) and
    that part, a real tensor. tf2onnx converts them only before ComplexAbs (that case goes to
    its own handler); TensorFlow's STFT cast to float (BirdNET's spectrogram: the real part)
    was left unconverted. The view ops between (Squeeze) become real; a Cast of it is then
    float to float, and Real/Imag an Identity. A magnitude read through view ops (a wake-word
    net's ComplexAbs after a Reshape of its RFFT2D), which tf2onnx does not convert, is
    sqrt(re^2 + im^2) of the DFT here, and its ComplexAbs an Identity."""
    from tf2onnx import utils
    from tf2onnx.graph_builder import GraphBuilder
    from tf2onnx.onnx_opset.signal import RFFT2DOp, RFFTOp

    op = node.type
    x, length = node.input[0], node.input[1]
    out = node.output[0]
    try:
        part, views = _complex_part(ctx, out)
    except ValueError as e:
        _REFUSED[op] = f"{e}: a spectrum is converted here only when one part of it is read"
        raise ValueError(f"{op} {node.name}: {_REFUSED[op]}") from None
    if part == "abs" and not views:  # tf2onnx's own conversion (a magnitude spectrum)
        return (RFFTOp if op == "RFFT" else RFFT2DOp).version_13(ctx, node)
    lengths = ctx.get_tensor_value(length) if ctx.get_node_by_output(length).is_const() else None
    shape = ctx.get_shape(x)
    if lengths is None or shape is None:
        _REFUSED[op] = "its fft_length is computed, or its input's rank unknown"
        raise ValueError(f"{op} {node.name}: {_REFUSED[op]}")
    fw, fh = int(lengths[-1]), (int(lengths[0]) if len(lengths) == 2 else None)
    r = len(shape)
    dtype = ctx.get_dtype(x)
    out_shape = ctx.get_shape(out)
    gb = GraphBuilder(ctx)

    def const(v: Any) -> str:
        return str(ctx.make_const(utils.make_name(name + "/c"), np.array(v, np.int64)).output[0])

    _LOWERED[op] += 1
    ctx.remove_node(node.name)
    # [..., H, W] -> [..., H, W, 1]: a real signal along axis r - 1
    sig = gb.make_unsqueeze({"data": x, "axes": [r]})
    spec = ctx.make_node(
        "DFT", [sig, const(fw)], attr={"axis": r - 1, "onesided": 1}, dtypes=[dtype]
    ).output[0]
    if fh is not None and not (fh == 1 and shape[r - 2] == 1):  # one row's 1-point DFT: itself
        spec = ctx.make_node(
            "DFT", [spec, const(fh)], attr={"axis": r - 2, "onesided": 0}, dtypes=[dtype]
        ).output[0]
    if part == "abs":  # |z| = sqrt(re^2 + im^2), what ComplexAbs reads through the views
        re, im = (
            ctx.make_node("Gather", [spec, const(k)], attr={"axis": r}, dtypes=[dtype]).output[0]
            for k in (0, 1)
        )
        re2, im2 = (ctx.make_node("Mul", [v, v], dtypes=[dtype]).output[0] for v in (re, im))
        power = ctx.make_node("Add", [re2, im2], dtypes=[dtype]).output[0]
        ctx.make_node(
            "Sqrt", [power], outputs=[out], name=node.name, shapes=[out_shape], dtypes=[dtype]
        )
    else:
        ctx.make_node(
            "Gather",
            [spec, const(0 if part == "real" else 1)],
            attr={"axis": r},
            outputs=[out],
            name=node.name,
            shapes=[out_shape],
            dtypes=[dtype],
        )
    for t in views:
        ctx.set_dtype(t, dtype)
    for c in [c for t in [out, *views] for c in ctx.find_output_consumers(t)]:
        if c.type in _PART or c.type == "ComplexAbs":  # the part is taken already
            c.type = "Identity"
            for a in list(c.attr):
                del c.attr[a]


# ops that turn finite inputs into inf or NaN (the reason a select guards its branch), and the
# elementwise and layout ops a branch reaches them through
_OVERFLOWS = {"Exp", "Expm1", "Log", "Log1p", "Div", "RealDiv", "Reciprocal", "Pow", "Sqrt",
              "Rsqrt", "Tan", "Xlogy", "Xdivy"}  # fmt: skip
_THROUGH = {"Add", "AddV2", "Sub", "Mul", "Neg", "Abs", "Square", "Maximum", "Minimum", "Max",
            "Min", "Cast", "Identity", "Select", "SelectV2", "Where", "Sign", "Floor", "Ceil",
            "Round", "Clip", "Relu", "Sigmoid", "Tanh", "Expand", "BroadcastTo", "Transpose",
            "Reshape", "Squeeze", "Unsqueeze", "ExpandDims"}  # fmt: skip


def _h_select(ctx: Any, node: Any, name: str, args: Any) -> None:
    """A float Select whose branch may be inf or NaN becomes ONNX Where (a branch reaching an op
    that can overflow, or an inf/NaN constant, through elementwise and layout ops: jax2tf
    broadcasts its NaN and -inf fills to the batch's shape first). tf2onnx spells every
    Select cond * a + (1 - cond) * b, which is NaN wherever the branch not taken is inf (inf *
    0): the guards of a function's lowering (jax2tf's erfc divides by x^2 and takes exp on the
    branches it discards; a safe softplus takes exp(z) where it returns z) made models whose
    LiteRT output is finite NaN everywhere. ONNX Runtime's Where costs more (x2.89 the blend on a
    1x64x112x112 tensor, one thread: tools/bench_where.py), so a select whose branches reach no op that overflows
    (through elementwise and layout ops) keeps tf2onnx's spelling; finite values are the same
    either way."""
    from tf2onnx.onnx_opset.controlflow import Select

    seen: set[str] = set()
    todo = [n for n in node.inputs[1:] if n is not None]
    while todo and len(seen) < 256:
        n = todo.pop()
        if n.name in seen:
            continue
        seen.add(n.name)
        if n.type in _OVERFLOWS or (
            n.is_const() and not np.isfinite(n.get_tensor_value(as_list=False)).all()
        ):  # (tf2onnx looks at a constant branch itself, not at one broadcast first)
            node.set_attr("handles_nan", True)  # what tf2onnx's own handler reads: Where
            _FIXED["Where"] += 1
            break
        if n.type in _THROUGH:
            todo.extend(i for i in n.inputs if i is not None)
    Select.version_9(ctx, node)


def _h_unsorted_segment(ctx: Any, node: Any, name: str, args: Any) -> None:
    """UnsortedSegment{Sum,Prod,Max,Min} dropping negative segment ids, as TensorFlow does.
    tf2onnx's lowering scatters and gathers by the ids, and ONNX reads index -1 as the last:
    jax2tf computes a reshape's size as the product of the batch dims with ids [0, 0, -1] over
    a shape [b, s, d], and the converted model asked for b*s*d (a Flax attention block in
    LiteRT: "cannot reshape {1,16,64} to {16,1024}" at every size). A negative id's element
    becomes the reduction's identity in segment 0."""
    from tf2onnx import utils
    from tf2onnx.graph_builder import GraphBuilder
    from tf2onnx.onnx_opset.reduction import SegmentSum

    data, ids = node.input[0], node.input[1]
    np_data = onnx.helper.tensor_dtype_to_np_dtype(ctx.get_dtype(data))
    np_ids = onnx.helper.tensor_dtype_to_np_dtype(ctx.get_dtype(ids))
    rank = ctx.get_rank(data)
    if rank is None:
        SegmentSum.any_version(ctx.opset, ctx, node)  # (where ids' dims in data are unknown)
        return
    kind, floating = node.type.removeprefix("UnsortedSegment"), np.dtype(np_data).kind == "f"
    info = np.finfo(np_data) if floating else np.iinfo(np_data)
    ident = {"Sum": 0, "Prod": 1, "Max": -np.inf if floating else info.min,
             "Min": np.inf if floating else info.max}[kind]  # fmt: skip
    zero = ctx.make_const(utils.make_name(name + "/zero"), np.array(0, np_ids)).output[0]
    neg = ctx.make_node("Less", [ids, zero]).output[0]
    extra = list(range(ctx.get_rank(ids) or 1, rank))
    if extra:  # ids index data's leading dims; the rest broadcast
        neg = GraphBuilder(ctx).make_unsqueeze({"data": neg, "axes": extra})
    fill = ctx.make_const(utils.make_name(name + "/identity"), np.array(ident, np_data)).output[0]
    kept = ctx.make_node("Where", [neg, fill, data]).output[0]
    ids0 = ctx.make_node("Max", [ids, zero]).output[0]
    ctx.replace_input(node, data, kept, 0)
    ctx.replace_input(node, ids, ids0, 1)
    _FIXED[node.type] += 1
    SegmentSum.any_version(ctx.opset, ctx, node)


# TensorFlow's elementwise ops whose other operand gives the output its shape when one operand
# is a scalar (tf2onnx converts the readers after the BroadcastTo they read)
_BROADCASTS = {"Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "Maximum", "Minimum", "Pow",
               "Select", "SelectV2", "Less", "Greater", "Equal", "NotEqual", "LessEqual",
               "GreaterEqual", "LogicalAnd", "LogicalOr", "SquaredDifference"}  # fmt: skip


def _h_broadcast_to(ctx: Any, node: Any, name: str, args: Any) -> None:
    """A constant broadcast to the shape its readers already have is the constant itself (they
    broadcast it the same way; a one-element one becomes a scalar):
    jax2tf with a polymorphic batch broadcasts every constant to the batch's shape
    (``broadcast_in_dim``), tf2onnx made each an Expand of a computed shape, which the rules
    (they read scalar constants) could not see through, and which kept tf2onnx's transpose
    optimizer from moving its layout Transposes out of the activations: SiLU, sigmoid and the
    tanh GELU were not matched. Each reader must be elementwise with another operand of the
    broadcast's rank and dims (unknown dims alike); else tf2onnx's Expand, as before."""
    from tf2onnx.onnx_opset.tensor import BroadcastTo

    src, out = node.inputs[0], node.output[0]
    shape = ctx.get_shape(out)
    value = src.get_tensor_value(as_list=False) if src is not None and src.is_const() else None

    def alike(dims: Any) -> bool:
        return (
            dims is not None
            and len(dims) == len(shape)
            and all(a == b or -1 in (a, b) for a, b in zip(dims, shape, strict=True))
        )

    readers = ctx.find_output_consumers(out)
    if (
        value is not None
        and shape is not None
        and np.ndim(value) <= len(shape)
        and readers
        and out not in ctx.outputs
        and all(
            r.type in _BROADCASTS and any(alike(ctx.get_shape(x)) for x in r.input if x != out)
            for r in readers
        )
    ):
        from tf2onnx import utils

        if np.size(value) == 1:
            value = np.asarray(value).reshape(())
        const = ctx.make_const(utils.make_name(name + "/value"), np.asarray(value))
        ctx.replace_all_inputs(out, const.output[0])
        ctx.remove_node(node.name)
        _FIXED["BroadcastTo"] += 1
        return
    BroadcastTo.version_8(ctx, node)


_HANDLERS: dict[str, tuple[Callable[..., None], list[Any]]] = {
    "TFL_GELU": (_h_gelu, []),
    "Erfc": (_h_erfc, []),
    "Select": (_h_select, []),
    "SelectV2": (_h_select, []),
    "BroadcastTo": (_h_broadcast_to, []),
    **{f"UnsortedSegment{k}": (_h_unsorted_segment, []) for k in ("Sum", "Prod", "Max", "Min")},
    "RFFT": (_h_rfft, []),
    "RFFT2D": (_h_rfft, []),
}
_LOWERED: Counter[str] = Counter()  # what the handlers lowered in the current conversion
_REFUSED: dict[str, str] = {}  # op -> why its handler left it (tf2onnx logs and goes on)
# what the handlers did where tf2onnx's own conversion is wrong or hides a constant, by key
_FIXED: Counter[str] = Counter()
_SEGMENT_NOTE = (
    "drops negative segment ids, as TensorFlow does (tf2onnx's lowering read -1 as the last "
    "segment)"
)
_XLA_NOTE = (
    "region(s) of XLA's elementwise lowering no rule reads (selects between polynomial pieces) "
    "identified by their values as {0} and written as its ONNX spelling"
)
_FIXED_NOTES = {
    "BroadcastTo": "constant(s) broadcast to the shape of what reads them (jax2tf's spelling "
    "with a polymorphic batch) left to the readers' own broadcasting, so the rules read them as "
    "constants",
    "Reshape": "reshape(s) inside an elementwise chain (jax2tf's with a polymorphic batch) "
    "moved after it, so the rules see the chain whole",
    "Where": "select(s) whose branch can be inf or NaN made ONNX Where (tf2onnx's arithmetic "
    "blend is NaN where the branch not taken is)",
}


def _lower_unconverted(model: onnx.ModelProto, path: str, kind: str, version: str) -> list[str]:
    """Canonicalize the lowered Erfc; any op ONNX does not define is named in one error line."""
    g = model.graph
    _canonical_erfc(g)
    if moved := _sink_reshapes(g):
        _FIXED["Reshape"] += moved
    identified = identify(model)
    bad = sorted(
        {
            n.op_type.removeprefix("TFL_")
            for n in g.node
            if n.domain in ("", "ai.onnx") and not onnx.defs.has(n.op_type)
        }
    )
    if bad:
        what = "TFLite op" if kind == "tflite" else "TensorFlow op"
        why = "; ".join(f"{op}: {r}" for op, r in sorted(_REFUSED.items())) or (
            "a custom op?" if kind == "tflite" else "no tf2onnx handler"
        )
        raise ModelError(
            f"{path}: {what} {', '.join(bad)} has no ONNX conversion in tf2onnx {version} "
            f"({why}); nothing written: replace it in the source model, or export to ONNX "
            "from the framework that defines it"
        )
    _drop_orphans(model)
    erf = "as the erf GELU spelling the rules match"
    dft = "as ONNX DFT (opset 17), the one part of the spectrum (or its magnitude) the model reads"
    how = {"GELU": erf, "Erfc": erf, "GELU (tanh)": "as 0.5x(1+tanh(k(x+c x^3)))"}
    how |= {"RFFT": dft, "RFFT2D": dft}
    notes = [
        f"lowered here (tf2onnx has no conversion): {k} x{v}, {how[k]}"
        for k, v in sorted(_LOWERED.items())
    ]
    notes += [
        f"{v} {_FIXED_NOTES[k]}" if k in _FIXED_NOTES else f"{k} x{v} {_SEGMENT_NOTE}"
        for k, v in sorted(_FIXED.items())
    ]
    return notes + [f"{v} {_XLA_NOTE.format(k)}" for k, v in sorted(identified.items())]


_MOVED = ":unreshaped"


def _sink_reshapes(g: onnx.GraphProto) -> int:
    """Move each Reshape read by one elementwise node below it: ``f(reshape(x))`` is
    ``reshape(f(x))`` when every other operand of f is a rank-0 constant. jax2tf with a
    polymorphic batch reshapes to the shape it had in the middle of XLA's logistic
    (``Div(1, Add(1, Reshape(Exp(Neg(x)))))``), which hid the sigmoid from the rules. Main graph
    only; returns how many Reshapes moved (a Reshape moving past several nodes counts once)."""
    # rank 0 only: a [1] beside a Reshape to rank 0 would make the output [1] once swapped
    scalars = {t.name for t in g.initializer if not t.dims}
    scalars |= {
        n.output[0]
        for n in g.node
        if n.op_type == "Constant"
        and n.attribute
        and n.attribute[0].type == onnx.AttributeProto.TENSOR
        and not n.attribute[0].t.dims
    }
    while True:
        readers: dict[str, list[onnx.NodeProto]] = {}
        for n in g.node:
            for i in dict.fromkeys(n.input):
                readers.setdefault(i, []).append(n)
        step = next(
            (
                (r, readers[r.output[0]][0])
                for r in g.node
                if r.op_type == "Reshape"
                and r.domain in ("", "ai.onnx")
                and len(readers.get(r.output[0], [])) == 1
                and _commutes(readers[r.output[0]][0], r.output[0], scalars)
            ),
            None,
        )
        if step is None:  # each Reshape moved reads a value named ...:unreshaped
            return sum(n.op_type == "Reshape" and n.input[0].endswith(_MOVED) for n in g.node)
        r, u = step
        x, b, c = r.input[0], r.output[0], u.output[0]
        # x -Reshape-> b -u-> c  becomes  x -u-> c:unreshaped -Reshape-> c
        for k, i in enumerate(u.input):
            if i == b:
                u.input[k] = x
        u.output[0] = r.input[0] = f"{c}{_MOVED}"
        r.output[0] = c
        stale = {b, c}
        kept = [v for v in g.value_info if v.name not in stale]
        del g.value_info[:]
        g.value_info.extend(kept)
        nodes = [n for n in g.node if n is not r]
        at = next(k for k, n in enumerate(nodes) if n is u)
        nodes.insert(at + 1, r)
        del g.node[:]
        g.node.extend(nodes)


def _commutes(u: onnx.NodeProto, b: str, scalars: set[str]) -> bool:
    """Whether elementwise ``u`` reads ``b`` and otherwise only scalar constants."""
    return (
        u.op_type in ELEMENTWISE
        and u.domain in ("", "ai.onnx")
        and len(u.output) == 1
        and all(i == b or i in scalars for i in u.input)
    )


def _canonical_erfc(g: onnx.GraphProto) -> int:
    """Sub(1, Erf(Mul(Neg(x), c))) -> Add(Erf(Mul(x, c)), 1), also without the Mul: erf is odd,
    and the positive form is the erf GELU's spelling in the rule library. Returns the count."""
    producer = {o: n for n in g.node for o in n.output}
    consts = {
        t.name: float(numpy_helper.to_array(t).ravel()[0])
        for t in g.initializer
        if np.prod(t.dims) == 1
    }
    k = 0
    for n in list(g.node):
        if n.op_type != "Sub" or not n.name.endswith("/erfc"):
            continue
        one, e = n.input
        erf = producer.get(e)
        if erf is None or erf.op_type != "Erf" or consts.get(one) != 1.0:
            continue
        p = producer.get(erf.input[0])
        if p is not None and p.op_type == "Neg":
            pos = p.input[0]
        elif p is not None and p.op_type == "Mul":
            negs = [(j, producer.get(i)) for j, i in enumerate(p.input)]
            hit = next(((j, q) for j, q in negs if q is not None and q.op_type == "Neg"), None)
            if hit is None:
                continue
            pos = n.name + "/pos"
            g.node.insert(
                list(g.node).index(erf),
                helper.make_node("Mul", [hit[1].input[0], p.input[1 - hit[0]]], [pos], name=pos),
            )
        else:
            continue
        erf.input[0] = pos
        n.op_type = "Add"
        n.input[:] = [e, one]
        k += 1
    return k


def _drop_orphans(model: onnx.ModelProto) -> None:
    """Nodes (e.g. the Neg a lowered Erfc no longer reads) whose outputs nothing uses."""
    from rewriter.ir.graph import subgraph_attrs

    def reads(nodes: Sequence[onnx.NodeProto]) -> set[str]:  # subgraphs' implicit inputs too
        out: set[str] = set()
        for n in nodes:
            out.update(n.input)
            for _, sg in subgraph_attrs(n):
                out |= reads(sg.node)
        return out

    g = model.graph
    while True:
        used = reads(g.node) | {o.name for o in g.output}
        keep = [n for n in g.node if any(o in used for o in n.output)]
        if len(keep) == len(g.node):
            break
        del g.node[:]
        g.node.extend(keep)
    used = reads(g.node)
    inits = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(inits)


def _layout_note(c: Conversion) -> str:
    shapes = []
    for i in c.model.graph.input:
        dims = [
            d.dim_value if d.dim_value else (d.dim_param or "?")
            for d in i.type.tensor_type.shape.dim
        ]
        shapes.append(f"{i.name} [{','.join(map(str, dims))}]")
    return (
        f"converted {c.kind} with {c.converter} in {c.seconds:.1f} s (TensorFlow import included; "
        f"opset {OPSET}); inputs keep "
        f"the source's layout (NHWC for images; tf2onnx transposes around Conv): {'; '.join(shapes)}"
    )


# -- the source runtime -------------------------------------------------------------------------
def run_source(
    path: str, names: Sequence[str], feeds: Mapping[str, np.ndarray]
) -> list[np.ndarray]:
    """The source model's outputs on ``feeds`` (keyed by the converted model's input ``names``),
    in its own runtime: LiteRT for TFLite, TensorFlow for Keras and SavedModel."""
    kind = source_kind(path)
    assert kind is not None
    _require(kind, path)
    with _quiet():
        if kind == "tflite":
            return _run_litert(path, names, feeds)
        fn, _ = _tf_callable(kind, path)
        return [np.asarray(t) for t in fn(*[feeds[n] for n in names])]


def _run_litert(
    path: str, names: Sequence[str], feeds: Mapping[str, np.ndarray]
) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    # the file itself, never the copy tf2onnx read (rewriter.frontends.tf._twin): LiteRT's
    # XNNPACK delegate runs MediaPipe's transposed conv, and LiteRT densifies sparse weights
    states = STATES.get(os.path.abspath(path), [])
    # a streaming model runs from its initial state, and the values it assigns are kept to
    # compare with the copy's state outputs
    it = Interpreter(model_path=path, experimental_preserve_all_tensors=bool(states))
    state_names = {st.name for st in states}
    names = [n for n in names if n not in state_names]
    ins = it.get_input_details()
    by_name = {d["name"]: d for d in ins}
    order = [by_name.get(n) for n in names]
    if any(d is None for d in order):  # tf2onnx keeps tensor names; else go by position
        order = list(ins)
    for d, n in zip(order, names, strict=True):
        assert d is not None
        if tuple(d["shape"]) != feeds[n].shape:
            it.resize_tensor_input(d["index"], list(feeds[n].shape))
    it.allocate_tensors()
    for d, n in zip(order, names, strict=True):
        assert d is not None
        it.set_tensor(d["index"], feeds[n].astype(d["dtype"]))
    it.invoke()
    outs = [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]
    return outs + [it.get_tensor(st.assigned).copy() for st in states]


def source_check(
    path: str,
    converted: onnx.ModelProto,
    rewritten: onnx.ModelProto | None,
    feeds: Mapping[str, np.ndarray],
    source: str = "generated",
) -> SourceCheck:
    """Run the source in its runtime and both ONNX models in ONNX Runtime on ``feeds``; compare.

    Outputs pair up by name (TFLite) or by order (Keras, SavedModel: the converter traced the
    same callable). The rewritten model is compared on the same feeds, so its deviation from the
    source includes the conversion's.
    """
    conv = convert(path)
    # a streaming model's states start where the file starts (its initial values)
    feeds = {**feeds, **{st.name: st.initial for st in STATES.get(os.path.abspath(path), [])}}
    names = [i.name for i in converted.graph.input if i.name in feeds]
    ref = run_source(path, names, feeds)
    out_names = [o.name for o in converted.graph.output]
    if len(ref) != len(out_names):
        raise ModelError(
            f"{path}: the source has {len(ref)} outputs, the converted model {len(out_names)}"
        )
    if conv.kind == "tflite":
        ref = _pair_tflite_outputs(path, out_names, ref)
    return compare_with_source(
        ref, converted, rewritten, feeds, source,
        kind=conv.kind, runtime=_RUNTIME[conv.kind], converter=conv.converter, notes=conv.notes,
    )  # fmt: skip


def _pair_tflite_outputs(
    path: str, out_names: Sequence[str], ref: list[np.ndarray]
) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    with _quiet():
        details = Interpreter(model_path=path).get_output_details()
    by = {d["name"]: k for k, d in enumerate(details)}
    if all(n in by for n in out_names):
        return [ref[by[n]] for n in out_names]
    return ref
