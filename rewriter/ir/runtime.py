"""The one ONNX Runtime helper: sessions, runs, and values read from inside the graph.

Every command that runs a model (verification, calibration, the accuracy map, fine-tuning, the
cost model's ``ort-*`` targets) gets its session here, so that thread counts, optimisation level,
logging (silenced: ONNX Runtime's own coloured log lines never reach the user) and error messages
are the same everywhere.

Example:
    >>> sess = session(model, threads=1)
    >>> outs = run_model(model, {"x": x})                      # every graph output, as numpy arrays
    >>> vals = run_values(model, ["t0", "y"], [feeds])   # intermediate values too
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import onnx

from rewriter.errors import ModelError
from rewriter.ir.graph import all_nodes, subgraph_attrs
from rewriter.ir.io import is_large, mapped, model_file

__all__ = [
    "session",
    "run_session",
    "as_array",
    "runner",
    "run_model",
    "run_values",
    "first_line",
    "failure_site",
    "run_failure",
    "LEVELS",
]

# --target ort-cpu:opt=... names -> onnxruntime.GraphOptimizationLevel members
LEVELS = {
    "all": "ORT_ENABLE_ALL",
    "extended": "ORT_ENABLE_EXTENDED",
    "basic": "ORT_ENABLE_BASIC",
    "disabled": "ORT_DISABLE_ALL",
}


# OpenVINO's messages open with the source locations they passed through ("Exception from
# src/inference/src/cpp/core.cpp:117:", "Check '!shape.rank().is_dynamic()' failed at ...:"):
# the reason comes after them
_LOCATION = re.compile(r"^(Exception from \S+:\d+:|Check '.*' failed at \S+:\d+:)$")


def first_line(e: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (ONNX Runtime's are long) that says more than
    where it was raised, or its type name."""
    lines = [x.strip() for x in str(e).strip().splitlines() if x.strip()]
    said = [x for x in lines if not _LOCATION.match(x)]
    return (said or lines or [type(e).__name__])[0][:limit]


_ORT_NODE = re.compile(r"running (\w+) node\. Name:'([^']*)'")
_ORT_SOURCE = re.compile(
    r"^\S+\.(?:h|cc):\d+ (?:\S+\([^)]*\)(?: const)? )?"
)  # "file.h:84 fn(args) "


def failure_site(err: str) -> tuple[str, str, str]:
    """(op, node, status) of the innermost failing node in an ONNX Runtime run error; op and
    node empty when the message names none (then status is its first line)."""
    hits = list(_ORT_NODE.finditer(err))  # If/Loop failures nest: the last is innermost
    if hits:
        op, node = hits[-1].groups()
        status = err[hits[-1].end() :].strip().removeprefix("Status Message:").strip()
        return op, node, _ORT_SOURCE.sub("", status.splitlines()[0] if status else "")
    first = err.strip().splitlines()[0] if err.strip() else "error"
    return "", "", _ORT_PREFIX.sub("", first)


def constant_failure(at: str, status: str) -> str:
    """The line for a node that fails on the model's own weights and constants, reached by no
    input (OpenCV's block-quantized YuNet: a DequantizeLinear ONNX Runtime refuses on every
    run): no input can make the model run, so none is asked for."""
    import onnxruntime as ort

    return (
        f"{at} ({status[:240]}), and that node reads no input, only the model's own weights and "
        f"constants: the model does not run in ONNX Runtime {ort.__version__} on any input "
        "(whatever wrote it wrote something this version refuses; check the op's support, or "
        "export or convert it again)"
    )


def _reads_no_input(g: onnx.GraphProto, node: str, inputs: set[str]) -> bool:
    """Whether the main-graph node named ``node`` is computed from none of ``inputs`` (False
    where no node has that name)."""
    producer = {o: n for n in g.node for o in n.output if o}
    start = next((n for n in g.node if n.name == node), None)
    if start is None:
        return False
    todo, seen = [start], set()
    while todo:
        n = todo.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        reads = list(n.input)
        for _, body in subgraph_attrs(n):  # what a body reads from outside it
            reads += [v for b in body.node for v in b.input]
        for v in reads:
            if v in inputs:
                return False
            if v in producer:
                todo.append(producer[v])
    return True


def run_failure(e: BaseException) -> str:
    """An ONNX Runtime run error in one line: ``Gather 'name' fails (status)``, or its message
    without the error-code prefix where it names no node."""
    op, node, status = failure_site(str(e))
    return f"{op} {node!r} fails ({status[:240]})" if node else status[:300]


_LOCALE = re.compile(r"Failed to construct locale with name:\s*([^:\s]+)")


def _load_failure(e: BaseException, model: onnx.ModelProto | None = None) -> str:
    """Why ONNX Runtime refused a model: what to do where the cause is the machine, not the
    model, else the first line of its message."""
    locale = _LOCALE.search(str(e))
    if locale:  # StringNormalizer asks the C++ runtime for a locale (en_US.UTF-8 by default)
        return (
            f"its StringNormalizer needs the locale {locale.group(1)}, which this machine does "
            f"not have: install it (locale-gen {locale.group(1)}) or set the node's locale "
            "attribute to one installed (locale -a lists them)"
        )
    text = _ORT_PREFIX.sub("", first_line(e, 400)).rstrip(".")
    what = (
        "shapes"
        if "ShapeInferenceError" in text
        else "types"
        if "Type Error" in text
        else "attributes and types"  # a Transpose perm of -2 (Mamba2's TorchScript export)
        if "TypeInferenceError" in text
        else ""
    )
    half = _half_float(model) if what == "types" else None
    if half:  # onnxconverter-common's float16 conversion, a module.bfloat16() export
        return (
            f"{text}; the types in the graph disagree there, before anything runs: a model "
            f"converted to {half} can hold nodes in a type they do not take, or stale value "
            f"types: convert it again keeping those nodes in float32 (onnxconverter-common's "
            "op_block_list / node_block_list), export it in float32, or fix that node"
        )
    if what:  # the graph contradicts itself at that node: the exporter's doing
        return (
            f"{text}; the {what} in the graph disagree there, before anything runs: export "
            "the model again (the other torch exporter, another opset) or fix that node"
        )
    twice = re.search(r"Duplicate definition of name \((.*)\)", text)
    if twice:  # torch.onnx's dynamo exporter with an output named like an input (diffusers)
        return (
            f"{text}; two values are named {twice.group(1)!r} (an input and an output, most "
            "often): export again with output_names that differ from input_names"
        )
    custom = _UNREGISTERED.search(text)
    if custom:  # a plugin of another runtime (TensorRT's EfficientNMS_TRT), a custom op
        op = custom.group(1) or custom.group(2)
        dtype = _uncommon_float(model) if custom.group(2) and onnx.defs.has(op) else None
        if dtype:  # an ONNX op, in a precision ONNX Runtime's CPU kernels lack for it
            return (
                f"{text}; ONNX Runtime, which verifies and times every rewrite, has no {dtype} "
                f"{op} on the CPU, and this model computes in {dtype}: export it in float32 "
                "(module.float() before torch.onnx.export)"
            )
        if custom.group(2) and onnx.defs.has(op):  # an ONNX op, at types it has no kernel for
            types = _node_types(model, op, text)
            return (
                f"{text}; ONNX Runtime, which verifies and times every rewrite, has {op} but not "
                f"for the types this node computes in{f' ({types})' if types else ''}: export "
                f"the model so that {op} computes in float32 or int64"
            )
        return (
            f"{text}; ONNX Runtime, which verifies and times every rewrite, has no {op}: export "
            "the model without it (a TensorRT plugin: the export for ONNX Runtime, e.g. NMS "
            "left out or as NonMaxSuppression)"
        )
    return text


_NODE_NAMED = re.compile(r"node with name '([^']*)'")


def _node_types(model: onnx.ModelProto | None, op: str, text: str) -> str:
    """The input types of the ``op`` node ONNX Runtime's ``text`` names, from shape inference
    ("inputs float32, float64", "?" where it cannot tell), or "" (no such node in the main
    graph, or more than one where the name is empty)."""
    named = _NODE_NAMED.search(text)
    if model is None or not named:
        return ""
    nodes = [n for n in model.graph.node if n.op_type == op and n.name == named.group(1)]
    if len(nodes) != 1:
        return ""
    (node,) = nodes
    from rewriter.ir.graph import infer_value_info

    table = infer_value_info(model)
    types = [
        onnx.helper.tensor_dtype_to_np_dtype(vi.elem_type).name
        if (vi := table.get(x)) is not None and vi.elem_type
        else "?"
        for x in node.input
        if x
    ]
    return f"input{'s' if len(types) > 1 else ''} {', '.join(types)}" if types else ""


def _half_float(model: onnx.ModelProto | None) -> str | None:
    """``float16`` or ``bfloat16`` where the main graph declares or holds values of that
    type (a float16 conversion's stale ``value_info`` included), else None."""
    return _float_kind(model, (onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16), True)


def _uncommon_float(model: onnx.ModelProto | None) -> str | None:
    """``double`` or ``bfloat16`` where the model's float inputs or weights are (a module
    exported after ``.double()`` or ``.bfloat16()``: ONNX Runtime has no CPU Erf for the one,
    no Gemm for the other), else None."""
    return _float_kind(model, (onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16), False)


def _float_kind(
    model: onnx.ModelProto | None, kinds: tuple[int, ...], declared: bool
) -> str | None:
    """The name of the first of ``kinds`` the main graph's inputs or initializers hold (with
    ``declared``, its outputs and ``value_info`` too: what it declares), else None."""
    if model is None:
        return None
    g = model.graph
    values = [*g.input, *g.output, *g.value_info] if declared else list(g.input)
    held = {v.type.tensor_type.elem_type for v in values} | {t.data_type for t in g.initializer}
    return next((_FLOAT_NAMES[k] for k in kinds if k in held), None)


_FLOAT_NAMES: dict[int, str] = {
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.BFLOAT16: "bfloat16",
    onnx.TensorProto.DOUBLE: "double",
}


_UNREGISTERED = re.compile(
    r"(\S+?)(?:\(-?\d+\))? is not a registered function/op"
    r"|Could not find an implementation for (\S+?)(?:\(-?\d+\))? node"
)


# ONNX Runtime's "[ONNXRuntimeError] : 1 : FAIL : " and "Load model from PATH failed:"
_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : (Load model from .* failed:)?")


def _ort() -> Any:
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    return ort


# kernels whose weights unpacked cost far more than float MatMul's 18%: the int4 MatMulNBits of
# onnxruntime-genai's Llama 3.2 1B-shaped build ran 4x slower unpacked (9.8 s a prompt of 128
# tokens, 2.4 s packed); the quantized and recurrent ones keep their packing too
PACKED_KERNELS = frozenset(
    ("MatMulNBits", "MatMulBnb4", "QLinearMatMul", "QLinearConv", "MatMulIntegerToFloat")
    + ("DynamicQuantizeMatMul", "QGemm", "QAttention", "Attention", "DynamicQuantizeLSTM")
    + ("LSTM", "GRU", "RNN")
)


def session(
    model: onnx.ModelProto | bytes,
    *,
    threads: int = 1,
    optimization: str = "all",
    provider: str = "CPUExecutionProvider",
    what: str = "the model",
    optimized_path: str | None = None,
    prepack: bool = True,
) -> Any:
    """An ``onnxruntime.InferenceSession`` with fixed threads, sequential execution, silenced logs.

    Args:
        model: the model (or its serialized bytes).
        threads: intra-op threads (inter-op is 1); one thread also turns spinning off.
        optimization: ``disabled``, ``basic``, ``extended`` or ``all`` (ONNX Runtime's default).
        provider: the execution provider.
        what: how error messages name the model.
        optimized_path: where ONNX Runtime writes the model as its optimizations left it.
        prepack: False where only the values matter, not the speed (verification, probing
            inputs): a model reaching ONNX Runtime as a mapped file (``mapped``) keeps its
            MatMul weights in the file's pages instead of a pre-packed copy (onnxruntime-genai's
            2.1 GB float32 Llama: 2.4 GB of anonymous memory a session, 0.26 GB so; its runs
            about 18% slower, its logits up to 1.3e-5 apart: a kernel's other path); not a model
            with ``PACKED_KERNELS``. A session that is timed keeps ONNX Runtime's default.

    Raises:
        ModelError: one line when ONNX Runtime refuses the model.
    """
    ort = _ort()
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, LEVELS[optimization])
    # 3 (errors) still prints an ExecuteKernel line for every failed run (measured, ORT 1.32):
    # our own one-line errors replace them, so only fatal messages pass
    so.log_severity_level = 4
    if threads == 1:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if optimized_path is not None:
        so.optimized_model_filepath = optimized_path
    try:
        if isinstance(model, bytes):
            return ort.InferenceSession(model, so, providers=[provider])
        if mapped(model):  # from a file with external data, its weights mapped, not copied
            if not prepack and not any(n.op_type in PACKED_KERNELS for n in all_nodes(model.graph)):
                so.add_session_config_entry("session.disable_prepacking", "1")
            try:
                with model_file(model, external=True) as path:
                    return ort.InferenceSession(path, so, providers=[provider])
            except OSError as e:  # no room in the temporary folder: bytes, unless too large
                if is_large(model):
                    raise ModelError(
                        f"cannot write {what} to a temporary file for ONNX Runtime: "
                        f"{first_line(e)}; free space there or set TMPDIR to a larger folder"
                    ) from None
        return ort.InferenceSession(model.SerializeToString(), so, providers=[provider])
    except ModelError:
        raise
    except Exception as e:
        proto = model if isinstance(model, onnx.ModelProto) else None
        raise ModelError(f"ONNX Runtime cannot load {what}: {_load_failure(e, proto)}") from None


def run_session(
    sess: Any, feeds: Mapping[str, np.ndarray], fetch: Sequence[str] | None = None
) -> list[np.ndarray]:
    """``sess.run`` with ONNX Runtime's own error log silenced (the caller reports errors)."""
    ro = _ort().RunOptions()
    ro.log_severity_level = 4
    return [as_array(o) for o in sess.run(list(fetch) if fetch else None, dict(feeds), ro)]


def as_array(value: Any) -> np.ndarray:
    """One ONNX Runtime output as a numeric array, whatever its ONNX type.

    A tensor is itself. A sequence of maps (what scikit-learn classifiers converted by skl2onnx
    return by default: ZipMap's one ``{class: probability}`` per sample) becomes ``[samples,
    classes]`` in the first map's key order, so verification compares the probabilities;
    ``np.asarray`` made it an object array and the comparison said rel-L2 inf, which backed
    off every site. A sequence of tensors is stacked (flattened and concatenated when their
    shapes differ).
    """
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        keys = list(value[0])
        return np.array([[float(d.get(k, np.nan)) for k in keys] for d in value])
    if isinstance(value, dict):
        return np.array([float(v) for v in value.values()])
    if isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
        if len({v.shape for v in value}) == 1:
            return np.stack(value)
        return np.concatenate([v.ravel() for v in value])
    return np.asarray(value)


def runner(
    model: onnx.ModelProto, *, threads: int = 1, fresh: bool = False
) -> Callable[[Mapping[str, np.ndarray]], list[np.ndarray]]:
    """``feeds -> every graph output`` on one session (for several runs of one model).

    ``fresh``: a new session for every run. A random op's seed seeds its generator once per
    session, and every run draws on from there: a TTS model's noise, so its output length,
    differed between a first and a second run of one session."""
    sess = None if fresh else session(model, threads=threads, prepack=False)

    def run(feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        try:
            return run_session(sess or session(model, threads=threads, prepack=False), feeds)
        except Exception as e:
            raise ModelError(f"ONNX Runtime failed to run the model: {run_failure(e)}") from None

    return run


def run_model(
    model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], *, threads: int = 1
) -> list[np.ndarray]:
    """Every graph output of ``model`` on ``feeds`` (ONNX Runtime CPU, default optimisation)."""
    return runner(model, threads=threads)(feeds)


def _needed(graph: onnx.GraphProto, values: Sequence[str]) -> list[onnx.NodeProto]:
    """The nodes of ``graph`` that ``values`` are computed from, in graph order (a subgraph's
    reads of outer values count as its node's inputs)."""
    from rewriter.ir.graph import subgraph_attrs

    def reads(node: onnx.NodeProto) -> Iterator[str]:
        yield from node.input
        for _, sub in subgraph_attrs(node):
            for inner in sub.node:
                yield from reads(inner)

    producer = {o: i for i, n in enumerate(graph.node) for o in n.output}
    keep: set[int] = set()
    todo = list(values)
    while todo:
        i = producer.get(todo.pop())
        if i is not None and i not in keep:
            keep.add(i)
            todo.extend(reads(graph.node[i]))
    return [n for i, n in enumerate(graph.node) if i in keep]


def run_values(
    model: onnx.ModelProto,
    values: Sequence[str],
    batches: Iterable[Mapping[str, np.ndarray]],
    *,
    threads: int = 1,
    needed_only: bool = False,
) -> Iterator[dict[str, np.ndarray]]:
    """Run ``model`` on each batch and yield ``{value: array}`` for ``values``, which may be any
    value of the main graph (exposed as extra outputs), graph inputs included. With
    ``needed_only`` only the nodes the values need run (ONNX Runtime runs every node of a
    graph, whichever outputs are fetched): the values before a node the batch fails at.

    Graph optimisation is off: fusions must not hide (or be blocked by) the exposed values.
    Random ops draw from the seeds verification pins (``rewriter.verify.pin_random_seeds``):
    the values are those verification's runs see, the same on every call (unpinned, the
    rational a back-off fitted on a TTS model's observed values differed from run to run).
    """
    from rewriter.ir.graph import infer_value_info
    from rewriter.verify import pin_random_seeds

    model, _ = pin_random_seeds(model)

    feed_names = {vi.name for vi in model.graph.input}
    outputs = {o.name for o in model.graph.output}
    fetch = [v for v in dict.fromkeys(values) if v not in feed_names]
    extra = []
    if any(v not in outputs for v in fetch):
        info = infer_value_info(model)
        for v in fetch:
            if v not in outputs:
                vi = info.get(v)
                # a value inference cannot type (a com.microsoft QLinearSigmoid's uint8) goes
                # untyped, for ONNX Runtime to type: declared float, ORT refused the model
                extra.append(
                    onnx.helper.make_tensor_value_info(v, vi.elem_type, None)
                    if vi is not None and vi.elem_type
                    else onnx.ValueInfoProto(name=v)
                )
    # the fetched values become outputs of the session's model, not of a copy of the model:
    # appended, loaded, removed again (a copy of a 400 MB model cost 400 MB more)
    model.graph.output.extend(extra)
    g, kept = model.graph, None
    if needed_only:  # the other nodes and outputs set aside while the session loads
        kept = (list(g.node), list(g.output))
        nodes = _needed(g, fetch)
        del g.node[:], g.output[:]
        g.node.extend(nodes)
        g.output.extend(o for o in kept[1] if o.name in fetch)
    try:
        sess = session(model, threads=threads, optimization="disabled", prepack=False)
    finally:
        if kept is not None:
            del g.node[:], g.output[:]
            g.node.extend(kept[0])
            g.output.extend(kept[1])
        if extra:
            del model.graph.output[-len(extra) :]
    for i, feed in enumerate(batches):
        try:
            got = run_session(sess, feed, fetch) if fetch else []
        except Exception as e:
            op, node, status = failure_site(str(e))
            if node and _reads_no_input(model.graph, node, set(feed)):
                raise ModelError(constant_failure(f"{op} {node!r} fails", status)) from None
            raise ModelError(
                f"ONNX Runtime failed on batch {i}: {run_failure(e)}; check that batch's values "
                "and shapes fit the model"
            ) from None
        out = dict(zip(fetch, (np.asarray(g) for g in got), strict=True))
        for v in values:
            if v in feed_names and v not in out:
                out[v] = np.asarray(feed[v])
        yield out
