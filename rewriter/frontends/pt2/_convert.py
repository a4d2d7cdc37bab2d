"""Conversion (torch.onnx) of a saved ``torch.export`` program, the check against the program run
in PyTorch, and the one line for PyTorch files that hold no graph; see the package docstring."""

from __future__ import annotations

import io
import json
import logging
import os
import pickletools
import re
import struct
import time
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import onnx

from rewriter.errors import ModelError
from rewriter.frontends.common import (
    TORCH_CONVERSION_LIMIT,
    Conversion,
    SourceCheck,
    compare_with_source,
    quiet,
)
from rewriter.inputs import DIM_EXAMPLES_KEY, DIM_RANGES_KEY

_ZIP = b"PK\x03\x04"
# what a pickle of plain weights refers to (a state dict, a checkpoint dict of them)
_WEIGHT_MODULES = {
    *("collections", "torch", "torch._utils", "torch._tensor", "torch.serialization"),
    *("builtins", "_codecs", "numpy", "numpy.core.multiarray", "numpy._core.multiarray"),
}


def _names(path: str) -> list[str] | None:
    """The member names of a zip archive, or None when ``path`` is not one."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != _ZIP:
                return None
        with zipfile.ZipFile(path) as z:
            return z.namelist()
    except (OSError, zipfile.BadZipFile):
        return None


def _is_program(names: list[str]) -> bool:
    return any(n.endswith("/archive_format") for n in names) and any(
        "/models/" in n and n.endswith(".json") for n in names
    )


def _is_aoti(names: list[str]) -> bool:
    return any("/aotinductor/" in n for n in names)


def _is_script(names: list[str]) -> bool:
    """A TorchScript archive (``torch.jit.save``): its code and constants (not inside a
    torch.package archive, which keeps them under ``.data/ts_code/``)."""
    return (
        any("/code/" in n for n in names)
        and any(n.endswith("constants.pkl") for n in names)
        and not _is_package(names)
    )


def _is_package(names: list[str]) -> bool:
    """A torch.package archive (``torch.package.PackageExporter``: Silero's TTS and stress
    models ship as these): Python source, pickles and their tensors under ``.data/``."""
    return any(n == ".data/extern_modules" or n.endswith("/.data/extern_modules") for n in names)


def _package_line(path: str, names: list[str], export: str) -> str:
    """The one line for a torch.package archive: the pickles it holds (the class each refers
    to, read from opcodes, nothing run) and how to load the first."""
    held: list[tuple[str, str]] = []  # (resource, what it holds)
    with zipfile.ZipFile(path) as z:
        for n in names:
            inner = n.split("/", 1)[-1]  # under the archive's own folder
            if inner.startswith(".data/") or inner == "byteorder" or inner.endswith(".py"):
                continue
            data = z.read(n)
            if data[:1] == b"\x80":  # a pickle, not a text or binary resource
                cls = _pickled(data) or "plain data"
                if cls.endswith("unpackage_script_module"):
                    cls = "TorchScript module"
                held.append((inner, cls))
    what = ", ".join(f"{name} (a {cls})" for name, cls in held[:3])
    if len(held) > 3:
        what += f" and {len(held) - 3} more"
    package, _, resource = held[0][0].rpartition("/") if held else ("package", "", "resource")
    script = any("/.data/ts_code/" in n or n.startswith(".data/ts_code/") for n in names)
    return (
        f"{path}: a torch.package archive holding {what or 'no pickle'}: Python code and "
        "pickles, not a graph, and loading them runs code from the file: load it in your own "
        f"code (torch.package.PackageImporter(path).load_pickle({package.replace('/', '.')!r}, "
        f"{resource!r})), then "
        + (
            "save a TorchScript module inside with torch.jit.save and rewrite that, or "
            if script
            else ""
        )
        + export
    )


def source_kind(path: str | os.PathLike[str]) -> str | None:
    """``pt2`` when ``path`` is a saved ``torch.export`` program, ``torchscript`` when it is a
    TorchScript archive (whatever its name), else None.

    >>> source_kind("model.onnx") is None
    True
    """
    p = os.fspath(path)
    if not os.path.isfile(p):
        return None
    names = _names(p)
    if names is None or _is_aoti(names):
        return None
    if _is_program(names):
        return "pt2"
    return "torchscript" if _is_script(names) else None


def describe(path: str, data: bytes) -> str | None:
    """The one line for a PyTorch (or safetensors) file that is not a program this converts, or
    None when ``data`` is none of those. Reads the archive's listing and the pickle's opcodes
    only; nothing in the file is executed."""
    export = (
        "export it to ONNX with torch.onnx.export(module, (x,), 'model.onnx', dynamo=True) or "
        "save a torch.export program (torch.export.save(torch.export.export(module, (x,)), "
        "'model.pt2')) and rewrite that; in Python, rewriter.rewrite(module, example_inputs=(x,)) "
        "rewrites the module itself"
    )
    if len(data) > 10 and data[8:10] == b'{"' and struct.unpack("<Q", data[:8])[0] < len(data):
        return f"{path}: safetensors weights, no graph: build the model in Python, then {export}"
    names = _names(path) if data[:4] == _ZIP else None
    if names is not None:
        if _is_aoti(names):
            return (
                f"{path}: an AOTInductor package (machine code compiled for one device), not a "
                "graph: rewrite the torch.export program before compiling it (torch.export.save"
                "(ep, 'model.pt2'), then rewrite model.pt2)"
            )
        if any(n.endswith("/archive_format") for n in names) and not _is_program(names):
            # torch.export.save writes the weights first: a SerializeError on the program
            # ("Failed serializing node ceil": a math.ceil in Granite Speech's encoder) leaves
            # an archive without it, which read as an ONNX model failed to parse
            return (
                f"{path}: a torch.export archive without its program (no models/*.json): "
                "torch.export.save did not finish writing it; save the program again (its "
                "error says why it failed), or export the module to ONNX with "
                "torch.onnx.export(module, (x,), 'model.onnx', dynamo=True) and rewrite that"
            )
        if _is_package(names):
            return _package_line(path, names, export)
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pkl:
            return None
        with zipfile.ZipFile(path) as z:
            what = _pickled(z.read(pkl[0]))
        stored = sum(1 for n in names if "/data/" in n and not n.endswith("/"))
    elif data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        what, stored = _pickled(data), 0  # torch.save before 1.6 (or any pickle)
    else:
        return None
    if what is None:
        n = f" of {stored} stored tensors" if stored else ""
        return (
            f"{path}: PyTorch weights{n} (a state dict or checkpoint saved with torch.save), no "
            f"graph: build the module in Python and load them, then {export}"
        )
    return (
        f"{path}: a pickled {what} saved with torch.save: Python objects, not a graph, and "
        f"loading them runs code from the file: load it in your own code, then {export}"
    )


def _pickled(data: bytes) -> str | None:
    """The first class a pickle refers to that is not part of plain weights (``module.Name``),
    or None when it holds only tensors, dicts, lists and numbers. Reads opcodes; runs nothing."""
    strings: list[str] = []
    stream = io.BytesIO(data)
    try:
        # a file from torch.save before 1.6 is several pickles one after the other (magic
        # number, protocol, system info, then the object); each genops stops at its STOP
        while stream.tell() < len(data):
            for op, arg, _ in pickletools.genops(stream):
                if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                    strings.append(str(arg))
                ref = None
                if op.name == "GLOBAL":
                    mod, _, name = str(arg).partition(" ")
                    ref = (mod, name)
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    ref = (strings[-2], strings[-1])
                if ref is not None and ref[0] not in _WEIGHT_MODULES:
                    return f"{ref[0]}.{ref[1]}"
    except Exception:  # the legacy format's raw tensor bytes after the pickles, or truncation
        return None
    return None


# -- conversion ---------------------------------------------------------------------------------
_CACHE: dict[tuple[str, int, int], tuple[Conversion, Any]] = {}
# what torch.export.load logs of a custom op no library registered in this process
_UNRESOLVED = re.compile(r"failed to resolve (torch\.ops\.[\w.]+) to an operator")


def _load(path: str) -> tuple[Conversion, Any]:
    """The conversion and the loaded program, once per process and file version."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_mtime_ns, st.st_size)
    if key not in _CACHE:
        t0 = time.perf_counter()
        try:
            import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
            import torch
        except ImportError as e:
            raise ModelError(
                f"{path}: converting a torch.export program needs onnxscript ({e}); "
                "pip install 'pau-rewriter[pt2]'"
            ) from None
        said = _Said()  # torch.export.load logs the reason, then raises a generic error
        logging.getLogger("torch.export").addHandler(said)
        try:
            try:
                with quiet():
                    ep = torch.export.load(path)
            except Exception:
                op = _UNRESOLVED.search(said.text)
                if not op or not _op_library(op.group(1)):
                    raise
                with quiet():  # once more, the op's library loaded
                    ep = torch.export.load(path)
        except Exception as e:
            op = _UNRESOLVED.search(said.text)
            if op:
                raise ModelError(
                    f"{path}: the program calls {op.group(1)}, a custom op this process does "
                    "not register, so torch.export.load cannot rebuild it: export the module to "
                    "ONNX where the op's library is loaded (torch.onnx.export(module, args, "
                    "dynamo=True)) and rewrite the .onnx"
                ) from None
            raise ModelError(
                f"{path}: torch.export.load cannot read it ({_first_line(e)}); save it with "
                f"torch.export.save from torch {torch.__version__}, or export it to ONNX yourself"
            ) from None
        finally:
            logging.getLogger("torch.export").removeHandler(said)
        model, edits = _to_onnx(ep, path)
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        seconds = time.perf_counter() - t0
        conv = Conversion(model, "pt2", path, f"torch.onnx {torch.__version__}", seconds)
        conv.notes.append(
            f"converted torch.export program with torch.onnx {torch.__version__} (dynamo) in "
            f"{seconds:.1f} s (torch import included; opset {opset}); inputs: "
            + ", ".join(f"{i.name} {_dims(i)}" for i in model.graph.input)
        )
        if edits:  # the check runs the program as saved: the failed attempt touched this one
            with quiet():
                ep = torch.export.load(path)
            _without_example_views(ep)  # else its guards refuse every input that is no view
            conv.notes.extend(edits)
        ranges = _ranges(ep, model)
        if ranges:  # generated inputs stay inside them (rewriter.inputs.dim_ranges)
            entry = model.metadata_props.add()
            entry.key, entry.value = DIM_RANGES_KEY, json.dumps(ranges, sort_keys=True)
            conv.notes.append(
                "the program's dims take "
                + ", ".join(
                    f"{k} in [{lo}, {'inf' if hi is None else hi}]"
                    for k, (lo, hi) in sorted(ranges.items())
                )
                + " (generated inputs stay inside)"
            )
        examples = _examples(ep, model)
        if examples:  # tried when no typical size runs (rewriter.inputs.dim_examples)
            entry = model.metadata_props.add()
            entry.key, entry.value = DIM_EXAMPLES_KEY, json.dumps(examples, sort_keys=True)
        _CACHE[key] = (conv, ep)
    return _CACHE[key]


def _to_onnx(ep: Any, path: str) -> tuple[onnx.ModelProto, list[str]]:
    """The program through ``torch.onnx.export``, and a note per kind of edit it needed.

    torch.onnx's decomposition decides ``contiguous()`` and ``reshape`` on symbolic strides and,
    on a program from ``torch.export.export`` (its own capture of a module runs with other
    settings), views a transposed tensor: "Cannot view a tensor with shape ... and strides ..."
    (attention heads merged: T5, BEiT, Swin, SAM). On a failure, the program (loaded again: the
    failed attempt can leave its symbols pending) gets contiguous copies
    (``_contiguous_before_reshapes``; values unchanged), loses its runtime checks of tensor
    values (``_without_checks``: SigLIP 2's ``torch._check`` of its patch grid, an
    ``aten._is_all_true`` torch.onnx has no function for) and the strides and guards of an
    example input that was a view (``_without_example_views``), has ops on complex tensors
    torch.onnx has no function for done on (real, imag) pairs (``_complex_as_pairs``), integer
    tensors cast before arithmetic with a float number (``_cast_before_float_scalars``), and is
    tried again.
    """
    import torch

    unoptimized: list[str] = []

    def export() -> onnx.ModelProto:
        def run(optimize: bool) -> onnx.ModelProto:
            with quiet():
                prog = torch.onnx.export(
                    ep,
                    dynamo=True,
                    verbose=False,
                    custom_translation_table=_translations(),
                    optimize=optimize,
                )
            assert prog is not None  # dynamo=True returns the program
            return prog.model_proto

        try:
            model = run(True)
        except Exception as e:
            # its last step, onnxscript's graph optimizer, failing (ProphetNet's: its constant
            # folding of a SplitToSequence, "'NoneType' object has no attribute 'ndim'") is no
            # reason to fail the conversion: ONNX Runtime optimizes the graph when it loads it
            why = _optimizer_failure(e)
            if why is None:
                raise
            model = run(False)
            unoptimized.append(
                f"converted without torch.onnx's graph optimization, which failed ({why}); "
                "ONNX Runtime optimizes the graph when it loads it"
            )
            return model
        # the optimizer can change what the graph computes: its rule that drops an Add of 0
        # takes 1e-8 for 0 (CHMv2's depth-bin weights, ReLU logits + 1e-8 normalized: every
        # pixel whose logits are all negative became 0 / 0), and its Clip fusion names bounds
        # it does not write (Gemma 4's audio encoder: one tensor clamped by three clipped
        # Linears): checked on the program's example
        why = _example_off(ep, model)
        if why is None:
            return model
        plain = run(False)
        if _example_off(ep, plain) is not None:
            return model  # not the optimizer's doing: the check after conversion says so
        unoptimized.append(
            "converted without torch.onnx's graph optimization, which changed what the graph "
            f"computes ({why}); the graph before it matches the program; ONNX Runtime optimizes "
            "the graph when it loads it"
        )
        return plain

    try:
        return export(), unoptimized
    except Exception as e:
        first = e
    with quiet():
        ep = torch.export.load(path)
    copies, checks = _contiguous_before_reshapes(ep), _without_checks(ep)
    views, pairs = _without_example_views(ep), _complex_as_pairs(ep)
    casts = _cast_before_float_scalars(ep)
    if copies or checks or views or pairs or casts:
        try:
            model = export()
        except Exception as e:
            # what stops it past the first failure is the one to report: ProphetNet's program,
            # once its decoder ids are plain, meets torch.onnx's own limit (an ``aten.sub`` of
            # a float and a tensor it finds no overload for); its first reason had gone
            first = e
        else:
            edits = []
            if copies:
                edits.append(
                    "torch.onnx could not reshape a transposed tensor of the program (a view of "
                    f"non-contiguous strides); converted with {copies} contiguous copies in "
                    "front (values unchanged)"
                )
            if checks:
                edits.append(
                    f"converted without the program's runtime checks of tensor values ({checks} "
                    "nodes: torch.onnx has no function for some, and ONNX no assertion); "
                    "outputs unchanged"
                )
            if pairs:
                edits.append(
                    f"torch.onnx has no function for {pairs} ops of the program on complex "
                    "tensors (a rotary embedding's unsqueeze); converted on their (real, imag) "
                    "pairs (values unchanged)"
                )
            if casts:
                edits.append(
                    "torch.onnx has no function for arithmetic of an integer tensor and a float "
                    f"number; converted with {casts} cast{'s' * (casts > 1)} of the tensor to "
                    "the result's float dtype in front (values unchanged)"
                )
            if views:
                edits.append(
                    f"converted as if the example {', '.join(views)} had been no view of a larger "
                    "tensor (the program kept its strides and guards on it); outputs unchanged"
                )
            return model, edits + unoptimized
    why = _export_error(first)
    lacked = re.search(r"No ONNX function found for <OpOverload\(op='([\w.]+)'", why)
    raise ModelError(
        f"{path}: torch.onnx {torch.__version__} cannot convert the program: {why}; "
        + (
            f"exporting the module itself meets {lacked.group(1)} too: replace it in the model, "
            "or give torch.onnx.export a custom_translation_table entry for it"
            if lacked
            else "exporting the module itself (torch.onnx.export(module, args, dynamo=True)) "
            "can succeed where the saved program fails"
        )
    )


# Giles (2010), "Approximating the erfinv function", single precision: a polynomial in
# w - 2.5 where w = -log(1 - x^2) < 5, in sqrt(w) - 3 beyond (highest degree first)
_ERFINV_CENTRAL = (
    *(2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087),
    *(-0.00125372503, -0.00417768164, 0.246640727, 1.50140941),
)
_ERFINV_TAIL = (
    *(-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773),
    *(-0.0076224613, 0.00943887047, 1.00167406, 2.83297682),
)


def erfinv_nodes(op: Callable[..., Any], const: Callable[[float], Any], x: Any) -> Any:
    """``erfinv(x)`` in ONNX ops, for either torch exporter: ``op(name, *inputs)`` adds a node,
    ``const(v)`` gives ``v`` in ``x``'s type. Giles' approximation then one Newton step on
    ``Erf``: within 2.1e-7 relative of float64 over (-1, 1) (torch's own float32 erfinv:
    5.9e-8), +-inf at +-1 as torch."""

    def horner(w: Any, coefs: tuple[float, ...]) -> Any:
        p = const(coefs[0])
        for c in coefs[1:]:
            p = op("Add", op("Mul", p, w), const(c))
        return p

    w = op("Neg", op("Log", op("Mul", op("Sub", const(1.0), x), op("Add", const(1.0), x))))
    central = horner(op("Sub", w, const(2.5)), _ERFINV_CENTRAL)
    tail = horner(op("Sub", op("Sqrt", w), const(3.0)), _ERFINV_TAIL)
    y = op("Mul", op("Where", op("Less", w, const(5.0)), central, tail), x)
    slope = op("Mul", const(float(2 / np.sqrt(np.pi))), op("Exp", op("Neg", op("Mul", y, y))))
    refined = op("Sub", y, op("Div", op("Sub", op("Erf", y), x), slope))
    # at +-1 the tail's polynomial runs to -inf: the infinity takes x's sign
    return op("Where", op("IsInf", y), op("Mul", op("Abs", y), op("Sign", x)), refined)


def grouped_mm_nodes(op: Callable[..., Any], const: Callable[[Any], Any], x: Any, w: Any, offs: Any) -> Any:  # fmt: skip
    """``torch._grouped_mm(x, w, offs=offs)`` (and ``transformers``' ``grouped_mm_fallback``)
    in ONNX ops, for either torch exporter: 2-D rows ``x`` [S, in] by 3-D weights ``w`` [E, in,
    out], row r taking the weights of its group, the groups' rows ending at ``offs``
    (cumulative; rows past the last end, undefined in torch, take the last group's).
    ``op(name, *inputs, **attributes)`` adds a node, ``const(v)`` an int64 constant. Written as
    every group's product of every row ([E, S, out]) and each row's own picked: the experts'
    work times their count, which a graph without data-dependent shapes cannot avoid."""
    index = op("Range", const(0), op("Gather", op("Shape", x), const(0), axis=0), const(1))
    ends = op("Cast", offs, to=onnx.TensorProto.INT64)  # [E]
    after = op("GreaterOrEqual", op("Unsqueeze", index, const([1])), op("Unsqueeze", ends, const([0])))  # fmt: skip
    group = op("ReduceSum", op("Cast", after, to=onnx.TensorProto.INT64), const([1]), keepdims=0)
    group = op("Min", group, op("Sub", op("Gather", op("Shape", ends), const(0), axis=0), const(1)))
    every = op("MatMul", op("Unsqueeze", x, const([0])), w)  # [E, S, out]
    size = op("Slice", op("Shape", every), const([1]), const([3]))  # [S, out]
    at = op("Expand", op("Unsqueeze", group, const([0, 2])), op("Concat", const([1]), size, axis=0))
    return op("Squeeze", op("GatherElements", every, at, axis=0), const([0]))


def searchsorted_nodes(op: Callable[..., Any], const: Callable[[Any], Any], sorted_sequence: Any, values: Any, right: bool) -> Any:  # fmt: skip
    """``torch.searchsorted(sorted_sequence, values, right=right)`` in ONNX ops, for either
    torch exporter (``op(name, *inputs, **attributes)`` adds a node, ``const(ints)`` an int64
    constant): each value's index is how many of its row's sorted items lie below it (at or
    below it, ``right``), counted over a [..., values, items] comparison; a 1-d sequence serves
    every row. int64, as torch's."""
    axis = const([-1])
    items = op("Unsqueeze", sorted_sequence, const([-2]))
    each = op("Unsqueeze", values, axis)
    below = op("LessOrEqual" if right else "Less", items, each)
    return op("ReduceSum", op("Cast", below, to=onnx.TensorProto.INT64), axis, keepdims=0)


def cumulative_nodes(op: Callable[..., Any], const: Callable[[Any], Any], reduce: Callable[[str, Any, int], Any], x: Any, dim: int, rank: int, largest: bool) -> tuple[Any, Any]:  # fmt: skip
    """``torch.cummax(x, dim)`` (``torch.cummin`` where not ``largest``) in ONNX ops, for either
    torch exporter (``op`` adds a node, ``const(ints)`` an int64 constant, ``reduce(name, data,
    axis)`` a reduction over one axis without keeping it, as each opset spells it): over a
    [..., i, j, ...] grid of ``x`` along ``dim``, element i's value is the largest (smallest) of
    those at j <= i, and its index the last such j holding it, as torch's (ties: the later).
    ``rank``: ``x``'s."""
    a = dim % rank
    n = op("Gather", op("Shape", x), const(a), axis=0)
    steps = op("Range", const(0), n, const(1))
    trailing = [1] * (rank - 1 - a)
    i = op("Reshape", steps, op("Concat", op("Unsqueeze", n, const([0])), const([1, *trailing]), axis=0))  # fmt: skip
    j_shape = [const([1]), op("Unsqueeze", n, const([0]))] + ([const(trailing)] if trailing else [])
    j = op("Reshape", steps, op("Concat", *j_shape, axis=0))
    upto = op("LessOrEqual", j, i)  # [N, N, 1...]: j <= i
    at_i, at_j = op("Unsqueeze", x, const([a + 1])), op("Unsqueeze", x, const([a]))
    # masked j (after i) stand in as x_i itself, which the reduction includes anyway
    values = reduce("ReduceMax" if largest else "ReduceMin", op("Where", upto, at_j, at_i), a + 1)
    hit = op("And", upto, op("Equal", at_j, op("Unsqueeze", values, const([a + 1]))))
    index = reduce("ReduceMax", op("Where", hit, j, const(-1)), a + 1)
    return values, index


def _translations() -> dict[Any, Any]:
    """ONNX functions for the aten/prims ops torch.onnx has none for, as
    ``custom_translation_table``: ``erfinv`` (Gemma 3n's Gaussian top-k sparsity takes a normal
    distribution's ``icdf``: "No ONNX function found for prims.erf_inv"; ``erfinv_nodes``),
    ``searchsorted`` (Music Flamingo's audio windows find their samples so:
    ``searchsorted_nodes``), ``cummax`` and ``cummin`` (MM Grounding DINO's text blocks:
    ``cumulative_nodes``), and
    ``transformers``' ``grouped_mm_fallback`` where it is registered (``_op_library``: the
    experts of every ``transformers`` mixture of experts exported with torch.export)."""
    import onnxscript
    import torch

    ops: Any = onnxscript.opset18  # traced by torch.onnx: Python floats become constants

    def op(name: str, *xs: Any, **attrs: Any) -> Any:  # what the builders take: one node
        return getattr(ops, name)(*xs, **attrs)

    def ints(v: Any) -> Any:  # an int64 constant
        return ops.Constant(value=onnx.numpy_helper.from_array(np.array(v, np.int64)))

    def erfinv(x: Any) -> Any:
        return erfinv_nodes(op, lambda v: ops.CastLike(v, x), x)

    def grouped_mm(x: Any, w: Any, offs: Any) -> Any:
        return grouped_mm_nodes(op, ints, x, w, offs)

    def searchsorted(
        sorted_sequence: Any,
        values: Any,
        out_int32: bool = False,
        right: bool = False,
        side: str | None = None,
        sorter: Any = None,
    ) -> Any:
        if sorter is not None:
            sorted_sequence = ops.GatherElements(sorted_sequence, sorter, axis=-1)
        found = searchsorted_nodes(op, ints, sorted_sequence, values, right or side == "right")
        return ops.Cast(found, to=onnx.TensorProto.INT32) if out_int32 else found

    def reduce(name: str, data: Any, axis: int) -> Any:
        return op(name, data, ints([axis]), keepdims=0)

    def cumulative(largest: bool) -> Callable[[Any, int], Any]:
        def run(x: Any, dim: int) -> Any:
            return cumulative_nodes(op, ints, reduce, x, dim, len(x.shape), largest)

        return run

    table: dict[Any, Any] = {
        torch.ops.aten.erfinv.default: erfinv,
        torch.ops.prims.erf_inv.default: erfinv,
        torch.ops.aten.searchsorted.Tensor: searchsorted,
        torch.ops.aten.cummax.default: cumulative(True),
        torch.ops.aten.cummin.default: cumulative(False),
    }
    if hasattr(torch.ops, "transformers") and hasattr(torch.ops.transformers, "grouped_mm_fallback"):  # fmt: skip
        table[torch.ops.transformers.grouped_mm_fallback.default] = grouped_mm
    return table


# custom ops a program may call, and the module that registers them where it is installed
_OP_LIBRARIES = {"transformers": "transformers.integrations.moe"}


def _op_library(op: str) -> bool:
    """Import the module that registers ``op`` (``torch.ops.NAMESPACE.NAME...``) where it is
    known and installed (``transformers``' experts: ``grouped_mm_fallback``); whether ``op``
    resolves now."""
    import importlib

    import torch

    parts = op.split(".")
    if len(parts) < 4 or parts[2] not in _OP_LIBRARIES:
        return False
    try:
        with quiet():
            importlib.import_module(_OP_LIBRARIES[parts[2]])
    except Exception:  # noqa: BLE001 - not installed, or failing to import: as before
        return False
    return hasattr(getattr(torch.ops, parts[2]), parts[3])


class _Said(logging.Handler):
    """What a logger said, as one text."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.text = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.text += record.getMessage() + "\n"
        if record.exc_info and record.exc_info[1] is not None:
            self.text += str(record.exc_info[1]) + "\n"


def convert(path: str | os.PathLike[str]) -> Conversion:
    """Convert a saved ``torch.export`` program (or a TorchScript archive: ``_script``) to ONNX
    with ``torch.onnx.export``.

    Raises:
        ModelError: not a program, unreadable, or an op the exporter cannot convert (its line).
    """
    p = os.fspath(path)
    kind = source_kind(p)
    if kind is None:
        raise ModelError(f"{p}: not a torch.export program saved with torch.export.save")
    if kind == "torchscript":
        from rewriter.frontends.pt2 import _script

        return _script.convert(p)
    c, _ = _load(p)
    m = onnx.ModelProto()
    m.CopyFrom(c.model)
    return Conversion(m, c.kind, c.path, c.converter, c.seconds, list(c.notes))


def _contiguous_before_reshapes(ep: Any) -> int:
    """Put ``clone(memory_format=contiguous)`` before each reshape/view whose input the
    program's metadata says is not contiguous, and in place of each ``contiguous()``; how many.
    Edits ``ep`` in place."""
    import torch

    aten = torch.ops.aten
    graph = ep.graph_module.graph
    n = 0
    for node in list(graph.nodes):
        if node.target == aten.contiguous.default:
            # decomposed as "x if x.is_contiguous() else a copy", decided on symbolic strides:
            # after SDPA's decomposition it kept a transposed tensor (T5 with SDPA attention)
            node.target = aten.clone.default
            node.kwargs = {"memory_format": torch.contiguous_format}
            n += 1
            continue
        if node.target not in (aten.reshape.default, aten.view.default):
            continue
        src = node.args[0]
        val = getattr(src, "meta", {}).get("val")
        # a transpose's or permute's output is copied whatever its metadata says: its strides
        # are its input's, which decomposing the op before it can change (Florence-2's DaViT:
        # recorded contiguous, then "Cannot view a tensor with shape [4*s99, 16, 2, 16] and
        # strides (512, 16, 256, 1)")
        moved = getattr(src, "target", None) in (aten.transpose.int, aten.permute.default)
        try:
            if val is None or (val.is_contiguous() and not moved):
                continue
        except Exception:  # a symbolic stride it cannot decide: copy
            pass
        with graph.inserting_before(node):
            copy = graph.call_function(
                aten.clone.default, (src,), {"memory_format": torch.contiguous_format}
            )
        copy.meta["val"] = val
        node.replace_input_with(src, copy)
        n += 1
    if n:
        ep.graph_module.recompile()
    return n


def _complex_as_pairs(ep: Any) -> int:
    """Ops on complex tensors torch.onnx has no complex function for, done on the tensors'
    (real, imag) pairs, which is how torch.onnx holds them: an ``unsqueeze`` (DeepSeek-V2's and
    Llama 4's rotary embeddings: "No decompositions registered for the complex-valued input")
    as ``view_as_complex(unsqueeze(view_as_real(x)))``, a cast to the dtype it has dropped;
    how many. Edits ``ep`` in place."""
    import torch

    aten = torch.ops.aten
    graph = ep.graph_module.graph

    def val(x: Any) -> Any:
        v = getattr(x, "meta", {}).get("val")
        return v if isinstance(v, torch.Tensor) and v.is_complex() else None

    n = 0
    for node in list(graph.nodes):
        src = node.args[0] if node.op == "call_function" and node.args else None
        if (have := val(src)) is None:
            continue
        casts = (aten.to.dtype_layout, aten.to.dtype, aten._to_copy.default)
        if node.target in casts and (out := val(node)) is not None and out.dtype == have.dtype:
            node.replace_all_uses_with(src)
            graph.erase_node(node)
            n += 1
        elif node.target == aten.unsqueeze.default:
            dim = node.args[1] if node.args[1] >= 0 else node.args[1] - 1  # past the pair's axis
            with graph.inserting_before(node):
                real = graph.call_function(aten.view_as_real.default, (src,))
                real.meta["val"] = torch.view_as_real(have)
                wide = graph.call_function(aten.unsqueeze.default, (real, dim))
                wide.meta["val"] = real.meta["val"].unsqueeze(dim)
                back = graph.call_function(aten.view_as_complex.default, (wide,))
                back.meta["val"] = node.meta["val"]
            node.replace_all_uses_with(back)
            graph.erase_node(node)
            n += 1
    if n:
        ep.graph_module.recompile()
    return n


def _cast_before_float_scalars(ep: Any) -> int:
    """Integer or bool tensors that arithmetic with a float scalar makes float (Mllama's
    ``1.0 - cross_attention_mask`` of int64s, ProphetNet's), cast to the result's dtype in
    front: torch.onnx finds no function for the mixed arguments ("Cannot find a compatible
    OpOverload for aten.sub"); how many. Values unchanged: PyTorch computes it so. Edits
    ``ep`` in place."""
    import torch

    aten = torch.ops.aten
    mixed = {
        *(aten.add.Scalar, aten.add.Tensor, aten.sub.Scalar, aten.sub.Tensor, aten.rsub.Scalar),
        *(aten.rsub.Tensor, aten.mul.Scalar, aten.mul.Tensor, aten.div.Scalar, aten.div.Tensor),
    }
    graph = ep.graph_module.graph
    n = 0
    for node in list(graph.nodes):
        out = node.meta.get("val") if node.target in mixed else None
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            continue
        if not any(isinstance(a, float) for a in node.args):
            continue
        for a in node.args:
            have = getattr(a, "meta", {}).get("val")
            if not isinstance(have, torch.Tensor) or have.is_floating_point():
                continue
            with graph.inserting_before(node):
                cast = graph.call_function(aten._to_copy.default, (a,), {"dtype": out.dtype})
            cast.meta["val"] = have.to(out.dtype)
            node.replace_input_with(a, cast)
            n += 1
    if n:
        ep.graph_module.recompile()
    return n


def _without_checks(ep: Any) -> int:
    """Remove the program's runtime checks (``aten._assert_scalar``, ``_assert_async``) and what
    only they read (``torch._check_tensor_all(cond)``: ``aten._is_all_true(cond).item()``); how
    many nodes. ONNX has no assertion: torch.onnx drops the checks themselves, but fails on an
    ``_is_all_true`` on their way. Outputs are unchanged. Edits ``ep`` in place."""
    import torch

    aten = torch.ops.aten
    checks = {aten._assert_scalar.default, aten._assert_async.default, aten._assert_async.msg}
    graph = ep.graph_module.graph
    before = len(graph.nodes)
    for node in list(graph.nodes):
        if node.target in checks:
            graph.erase_node(node)
    if len(graph.nodes) == before:
        return 0
    graph.eliminate_dead_code()
    ep.graph_module.recompile()
    return before - len(graph.nodes)


def _without_example_views(ep: Any) -> list[str]:
    """The inputs whose example was a view of a larger tensor (``ids[:, :5]``), made plain: the
    program keeps that tensor's dims in the input's strides (``(s56, 1)`` for sizes ``(s11,
    s28)``) and in guards on ``._base`` or on those strides, and the module ``torch.onnx``
    traces again has neither ("'NoneType' object has no attribute 'size'", then "vr must not be
    None for symbol s56": Whisper's decoder ids). Contiguous strides and no such guard: what
    the exported code computes does not read strides. Edits ``ep`` in place; the inputs'
    names."""

    def symbols(xs: Any) -> set[Any]:
        return {s for x in xs if hasattr(x, "node") for s in x.node.expr.free_symbols}

    names = []
    for node in ep.graph.nodes:
        val = node.meta.get("val")
        if node.op != "placeholder" or not hasattr(val, "stride"):
            continue
        if symbols(val.stride()) - symbols(val.shape):
            shape, strides = list(val.shape), [1] * val.dim()
            for k in range(val.dim() - 2, -1, -1):
                strides[k] = strides[k + 1] * shape[k + 1]
            node.meta["val"] = val.new_empty_strided(shape, strides)
            names.append(node.name)
    # guards that the example was a view: on its ``._base``, or on its strides (PEGASUS-X's
    # and ProphetNet's decoder ids: "stride()[0] != size()[1]")
    strided = tuple(f"['{n}'].stride()" for n in names)
    guards = getattr(ep, "_guards_code", None) or []
    kept = [g for g in guards if "._base" not in g and not any(s in g for s in strided)]
    if len(kept) < len(guards):
        ep._guards_code = kept
    return names


def _optimizer_failure(e: BaseException) -> str | None:
    """What failed in torch.onnx's last step (onnxscript's graph optimizer: a ``PassError``),
    said by the innermost cause; None when ``e`` is no such failure."""
    chain: list[BaseException] = []
    cause: BaseException | None = e
    while cause is not None and len(chain) < 16:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    if not any(type(c).__name__ == "PassError" for c in chain):
        return None
    return _first_line(chain[-1]) or type(chain[-1]).__name__


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    # "... with the provided arguments. Tried overloads:" leads a list this line leaves out
    return re.sub(r"\.?\s*Tried overloads:$", "", lines[0] if lines else type(e).__name__)[:300]


def _export_error(e: BaseException) -> str:
    """The exporter's own reason, not its preamble: the unsupported ops where it names them."""
    text = str(e)
    for ln in text.splitlines():
        if "Unsupported FX nodes" in ln or "No decompositions registered" in ln:
            # "<class 'torch.onnx._internal.exporter._errors.DispatchError'>: No ONNX ..."
            return re.sub(r"^<class '[\w.]+'>: ", "", ln.strip())[:300]
    cause = e.__cause__
    return _first_line(cause if cause is not None else e)


def _dims(vi: onnx.ValueInfoProto) -> str:
    d = vi.type.tensor_type.shape.dim
    return "[" + ", ".join(x.dim_param or str(x.dim_value) for x in d) + "]"


def _ranges(ep: Any, model: onnx.ModelProto) -> dict[str, tuple[int, int | None]]:
    """The program's ranges of the dims the ONNX inputs name (``s0`` in both), where they
    exclude 1 or are bounded above: torch.export declares a dynamic dim valid from 2 unless told
    otherwise (its 0/1 specialization; its guards do not check that bound), and bounds a
    sequence by the tables it indexes (a guard refuses a longer one)."""
    named = {
        d.dim_param for i in model.graph.input for d in i.type.tensor_type.shape.dim if d.dim_param
    }
    out: dict[str, tuple[int, int | None]] = {}
    for sym, vr in ep.range_constraints.items():
        if str(sym) not in named:
            continue
        try:
            lo = int(vr.lower)
        except (TypeError, ValueError):
            lo = 0
        try:
            hi: int | None = int(vr.upper)
        except Exception:  # oo / int_oo (int() raises AttributeError on it): no upper bound
            hi = None
        if lo > 1 or hi is not None:
            out[str(sym)] = (lo, hi)
    return out


def _paired(
    ep: Any, model: onnx.ModelProto
) -> tuple[list[str], list[Any], list[int], Callable[[Mapping[str, np.ndarray]], list[np.ndarray]]]:
    """How the program and ``model`` pair: ``model``'s inputs (not its initializers), the
    program's example flattened as ``torch.export`` flattens it (empty tensors where it has
    none: one per input), the positions of its tensors, which pair with the inputs in order
    (where as many), and ``feeds -> the program's tensor outputs`` (in PyTorch; its other
    arguments the example's)."""
    import torch
    from torch.utils import _pytree as pytree

    inits = {t.name for t in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in inits]
    example: Any = ep.example_inputs or (tuple(torch.empty(0) for _ in names), {})
    leaves, spec = pytree.tree_flatten(example)
    slots = [k for k, v in enumerate(leaves) if isinstance(v, torch.Tensor)]

    def run(feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        new = list(leaves)
        for k, n in zip(slots, names, strict=True):
            new[k] = torch.from_numpy(np.ascontiguousarray(feeds[n]))
        args, kwargs = pytree.tree_unflatten(new, spec)
        with torch.no_grad(), quiet():
            got = ep.module()(*args, **kwargs)
        return [t.detach().numpy() for t in pytree.tree_leaves(got) if isinstance(t, torch.Tensor)]

    return names, leaves, slots, run


def _example_off(ep: Any, model: onnx.ModelProto) -> str | None:
    """How ``model`` (in ONNX Runtime) differs from the program (in PyTorch) on the program's
    own example inputs, beyond ``TORCH_CONVERSION_LIMIT``, or why ONNX Runtime cannot load it;
    None where neither, or where there is no example to run or the two cannot be paired (the
    check after conversion, on the generated inputs, then has the word)."""
    if not ep.example_inputs:
        return None
    names, leaves, slots, run = _paired(ep, model)
    if len(slots) != len(names) or not all(leaves[k].numel() for k in slots):
        return None
    try:
        feeds = {n: leaves[k].detach().numpy() for k, n in zip(slots, names, strict=True)}
        ref = run(feeds)
        if len(ref) != len(model.graph.output):
            return None
        check = compare_with_source(
            ref, model, None, feeds, "the program's example inputs",
            kind="pt2", runtime="PyTorch", converter="torch.onnx", notes=[],
            limit=TORCH_CONVERSION_LIMIT,
        )  # fmt: skip
    except Exception:  # a dtype numpy lacks (bfloat16), an example ONNX Runtime refuses
        from rewriter.ir.runtime import session

        try:  # or a graph ONNX Runtime cannot load: the optimizer's (Gemma 4's audio encoder:
            session(model)  # "Node input 'mul_354_min_1' is not a graph input, ...")
        except Exception as e:
            return _first_line(e)
        return None
    off = check.conversion_off()
    return off and f"{off}, on the program's example inputs"


def _examples(ep: Any, model: onnx.ModelProto) -> dict[str, int]:
    """The size each dim the ONNX inputs name had in the program's example inputs (saved with
    it since torch 2.5), the inputs paired in order as ``source_check`` pairs them; empty when
    there is no example or the two do not pair."""
    import torch
    from torch.utils import _pytree as pytree

    if not ep.example_inputs:
        return {}
    leaves = [v for v in pytree.tree_leaves(ep.example_inputs) if isinstance(v, torch.Tensor)]
    inits = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(leaves) != len(inputs):
        return {}
    out: dict[str, int] = {}
    for vi, t in zip(inputs, leaves, strict=True):
        dims = vi.type.tensor_type.shape.dim
        if len(dims) == t.dim():
            for d, n in zip(dims, t.shape, strict=True):
                if d.dim_param:
                    out.setdefault(d.dim_param, int(n))
    return out


def export_check(path: str) -> None:
    """Called when no inputs run the converted model: for a TorchScript archive, raises the
    line that blames the export where ONNX Runtime cannot run it at the example the module ran
    on (``_script.export_check``); nothing for a program, whose export ran the program."""
    if source_kind(path) == "torchscript":
        from rewriter.frontends.pt2 import _script

        _script.export_check(path)


# -- the check against PyTorch ------------------------------------------------------------------
def source_check(
    path: str,
    converted: onnx.ModelProto,
    rewritten: onnx.ModelProto | None,
    feeds: Mapping[str, np.ndarray],
    source: str = "generated",
) -> SourceCheck:
    """Run the program in PyTorch and both ONNX models in ONNX Runtime on ``feeds``; compare.

    The ONNX inputs are the program's tensor inputs in order (flattened as ``torch.export``
    flattens them; its other arguments stay the example's), and its tensor outputs pair with
    the ONNX outputs in order.
    """
    if source_kind(path) == "torchscript":
        from rewriter.frontends.pt2 import _script

        return _script.source_check(path, converted, rewritten, feeds, source)
    conv, ep = _load(path)
    names, leaves, slots, run = _paired(ep, converted)
    if len(slots) != len(names):
        raise ModelError(
            f"{path}: the program takes {len(slots)} tensors, the converted model "
            f"{len(names)} inputs; they cannot be paired to compare the two"
        )
    notes = list(conv.notes)
    try:
        ref = run(feeds)
    except Exception as e:
        # ONNX Runtime takes what PyTorch refuses (a negative index into an embedding: a
        # generated LayoutLM box with x1 < x0), or a guard the program keeps: compare on the
        # inputs the program was exported with, which it takes by construction
        saved = {n: leaves[k] for k, n in zip(slots, names, strict=True)}
        if not ep.example_inputs or not all(v.numel() for v in saved.values()):
            raise ModelError(
                f"{path}: the program rejects the {source} inputs ({_first_line(e)}); pass "
                "--input-shapes NAME:DIMS within its dims' ranges, or --inputs data.npz"
            ) from None
        feeds = {n: v.detach().numpy() for n, v in saved.items()}
        notes.append(
            f"compared on the program's own example inputs: it rejects the {source} ones "
            f"({_first_line(e)})"
        )
        source = "the program's example inputs"
        ref = run(feeds)
    out_names = [o.name for o in converted.graph.output]
    if len(ref) != len(out_names):
        raise ModelError(
            f"{path}: the program returns {len(ref)} tensors, the converted model "
            f"{len(out_names)} outputs; they cannot be paired to compare the two"
        )
    return compare_with_source(
        ref, converted, rewritten, feeds, source,
        kind="pt2", runtime="PyTorch", converter=conv.converter, notes=notes,
        limit=TORCH_CONVERSION_LIMIT,
    )  # fmt: skip
