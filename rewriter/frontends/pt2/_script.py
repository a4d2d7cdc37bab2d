"""TorchScript archives (``torch.jit.save`` of a scripted or traced module): converted with
torch.onnx's TorchScript exporter at example inputs the module itself accepts, and checked
against the module run in PyTorch.

An archive records no input shapes (a traced module's example is not saved), so the example is
derived from the graph, as a user would read it: the first op each input reaches (through
elementwise ops, casts, copies, reshapes, slices of the input and a ``cat`` along a free axis; an
``unsqueeze``, ``permute``, ``transpose`` or ``x[:, :, 2:]`` on the way is undone: ``_undone``)
tells its rank, dtype and fixed sizes: a convolution's weight gives the channels and the number of
spatial dims, a Linear's or LayerNorm's the features, an RNN's weights the features and whether the
batch comes first, an embedding's table says token ids, an op that broadcasts it to the batch a
one-element tensor (a diffusion model's timestep: ``_to_batch``), selects along its last axis into
embedding tables int coordinates per token (LayoutLM's boxes: ``_coordinates``), or, beside other
uses, float columns drawn as indices (Pix2Struct's rows and columns: ``_indexing``); a ``cat``
with a tensor the module fills to a size list, that list's rank and sizes (SAM's clicks and
labels: ``_padded``); sizes read at four or five axes an image or a pair of images; failing
those, ``mask``/``ids`` in its name (a mask
beside float frames and no ids as long as they are: ``_masking``). Beside a ``grid_thw`` (one
frame of even rows and columns of patches per image, ``_sides``), the float input a convolution
or a Linear told is every image's patches laid end to end, [patches, one patch's values]
(``_laid_end_to_end``: a Qwen-VL tower's), its count read from a broadcast or split the trace
baked. The free sizes start at the ones
a deployment typically runs (an image's 224, a sequence's 128: ``rewriter.inputs``) and the module
is run on each candidate until one passes, each run within ``RUN_MEMORY`` more address space (a
size it cannot allocate is refused, and the rest are then tried smallest first); a refusal that
names a size is read, for the only input, the one float input beside ids, masks and arguments
forward does not use, or float inputs
read alike (``_principal``, ``_tied``: a Siamese pair's images, resized together), unless it names
another input's size (a flatten into a Linear, or a Linear per position: ``_sized``; a norm's size
or a convolution's channels: ``_named``; an RNN's or attention's features: ``_features``; a signal
refused at its axis 2, a series of channels: ``_channels``). The free dims (a generic guess's named
by the rank it ran at: ``_guessed_free``) are exported dynamic (``batch``, ``height``, ``width``,
``sequence``, ...) unless the module refuses another size (``_keep_static``), so the generated
inputs, ``--input-shapes`` and ``--inputs`` of every command apply to the ONNX model as to any
other; where the exporter cannot write them dynamic (an adaptive pooling sized from the input,
a ``squeeze`` it writes as an ``If``), the batch alone, else none, and one line says so. Where no inputs run the converted model, ``export_check`` runs it at the module's own
example and, where ONNX Runtime fails there, blames the export (no size can help).

``forward`` arguments that are not tensors and have no default (silero-vad's ``sr: int``) cannot
be made up: one line names them and says how to export the module with them fixed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import itertools
import json
import math
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from rewriter.errors import ModelError
from rewriter.frontends.common import (
    TORCH_CONVERSION_LIMIT,
    Conversion,
    SourceCheck,
    compare_with_source,
    given_inputs,
    quiet,
    requested_shapes,
)
from rewriter.frontends.pt2._convert import _first_line, erfinv_nodes

# the free sizes, typical first: the candidates rewriter.inputs generates an ONNX model's with
from rewriter.inputs import (
    _FRAMES,
    _IMAGE_SIZES_NAME,
    _LARGEST_NAMED,
    _MERGE_SIZES_NAME,
    _PATCH_GRID_NAME,
    _SAMPLES,
    _SEQUENCE,
    _SPATIAL,
    _THW_GRID_NAME,
    _VOLUME,
    _WORK_LIMIT,
    DIM_EXAMPLES_KEY,
    MERGE,
    crop_grids,
    square_grid,
    thw_grid,
)
from rewriter.ir.io import promote_mixed_arithmetic
from rewriter.procs import scratch_prefix

# a sequence's lengths: the typical ones, then the short ones a module traced on a short
# example may be fixed at (Funnel traced at 8 tokens runs 7 to 9, none of the typical ones)
_TOKENS = [*_SEQUENCE, 8, 4, 2, 1]
OPSET = 17  # the TorchScript exporter's default; higher where an op needs it (``_export``)
_MAX_OPSET = 20  # the highest it writes (torch.onnx._constants, torch 2.13)
_MAX_TRIES = 64
# ops an input passes through on its way to the op that tells its shape (same shape, or a
# broadcast with a constant)
_THROUGH = {
    *("aten::to", "aten::float", "aten::half", "aten::contiguous", "aten::clone", "aten::detach"),
    *("aten::add", "aten::sub", "aten::mul", "aten::div", "aten::add_", "aten::sub_"),
    *("aten::mul_", "aten::div_", "aten::type_as", "aten::dropout", "aten::relu", "aten::pad"),
    *("aten::batch_norm", "aten::layer_norm", "aten::constant_pad_nd", "aten::sigmoid"),
    # a box's height clipped into its table (LayoutLMv3: ``torch.clip(y1 - y0, 0, 1023)``)
    *("aten::clamp", "aten::clip"),
    # ids hashed into a table (CANINE: (ids + 1) * prime % buckets) are still [batch, sequence]
    *("aten::remainder", "aten::fmod", "aten::floor_divide"),
}
# ops that change the shape but not what the values are (token ids stay ids): followed too, the
# candidates are then tried rather than known
_RESHAPE = {
    *("aten::view", "aten::reshape", "aten::flatten", "aten::unsqueeze", "aten::squeeze"),
    *("aten::permute", "aten::transpose", "aten::expand", "aten::repeat"),
}
_FOLLOWED = _THROUGH | _RESHAPE
_CONV = {
    *("aten::_convolution", "aten::_convolution_mode", "aten::conv1d", "aten::conv2d"),
    "aten::conv3d",
    *("aten::conv_transpose1d", "aten::conv_transpose2d", "aten::conv_transpose3d"),
}


@dataclass
class _Arg:
    """One tensor argument of ``forward`` and the candidate examples for it."""

    name: str
    hint: str  # what its shape was read from, for the note
    shapes: list[tuple[int, ...]] = field(default_factory=list)
    dynamic: dict[int, str] = field(default_factory=dict)  # axis -> dim name (free sizes)
    dtype: str = "float32"
    high: int = 0  # token ids: exclusive upper bound
    # where the shape came from: "graph" (an op), "name", "guess" (no op told: generic
    # candidates), "refusal" (what the module's refusal of a guess said), "user" (--input-shapes)
    origin: str = "graph"
    # whether the op that told the shape fixes what each axis is (a convolution's channels, a
    # Linear's features), so that a permute on the way moves them; token ids index a table in
    # any layout (XLNet transposes its ids to [sequence, batch] before the embedding)
    laid_out: bool = True
    # coordinates whose pairs are (x0, y0, x1, y1): each max drawn at least its min (a box's
    # height, y1 - y0, indexes a table too); float ones in [0, 1]
    boxes: bool = False
    # float columns along the last axis that index embedding tables (Pix2Struct's patches: row
    # and column in columns 0 and 1): column -> the table's rows, drawn as indices below them
    indexed: dict[int, int] = field(default_factory=dict)
    # sized from a tensor the module fills and joins it with (``_padded``: SAM's clicks and
    # labels): a refusal is not read as being about it
    padded: bool = False
    # rows whose values no op tells, filled by ``_sides``: "image", an image's (height, width)
    # (Pixtral's ``image_sizes``); "grid", a patch grid's (rows, columns) (SigLIP 2's
    # ``spatial_shapes``); "thw", each image's (frames, rows, columns) of patches (``grid_thw``);
    # "merge", each image's spatial merge (``merge_sizes``)
    sides: str = ""
    # values a convolution's window takes in (in channels x kernel): a patch, where the input
    # is patches laid end to end and viewed as images on the way (a Qwen-VL tower's)
    packed: int = 0
    # the user's array (``--inputs``): the example is it, at its shape
    given: np.ndarray | None = None
    # a mask that picks where values are put (``embeds[mask] = image_embeds``: Kosmos-2's image
    # tokens; ``puts``): ones at this many first positions of each sample, zeros after (0: all
    # ones)
    puts: bool = False
    ones: int = 0


_CACHE: dict[tuple[Any, ...], tuple[Conversion, Any, dict[str, np.ndarray]]] = {}


def load(path: str) -> tuple[Conversion, Any, dict[str, np.ndarray]]:
    """(conversion, loaded module, the example it ran on), once per process, file version and
    ``--input-shapes``."""
    st = os.stat(path)
    requested, given = requested_shapes(), given_inputs()
    digest = hashlib.sha256()
    for name in sorted(given):
        digest.update(f"{name}{given[name].shape}{given[name].dtype}".encode())
        digest.update(np.ascontiguousarray(given[name]).tobytes())
    key = (
        os.path.abspath(path),
        st.st_mtime_ns,
        st.st_size,
        tuple(sorted(requested.items())),
        digest.hexdigest(),
    )
    if key not in _CACHE:
        import torch

        t0 = time.perf_counter()
        try:
            with quiet():
                module = torch.jit.load(path, map_location="cpu").eval()
        except Exception as e:
            raise ModelError(
                f"{path}: torch.jit.load cannot read it ({_first_line(e)}); save it with "
                f"torch.jit.save from torch {torch.__version__}, or export it to ONNX yourself"
            ) from None
        args = _arguments(module, path)
        floats = {p.dtype for p in module.parameters() if p.is_floating_point()}
        if floats == {torch.float16}:  # a half model (module.half()) takes half inputs
            for a in args:
                a.dtype = "float16" if a.dtype == "float32" else a.dtype
        for a in args:
            if a.name in given:  # the user's array, values and all
                a.given = np.asarray(given[a.name])
                a.dtype = str(a.given.dtype)
                shape = tuple(a.given.shape)
                a.shapes, a.hint, a.origin = [shape], "from --inputs", "user"
                a.dynamic = {k: d for k, d in a.dynamic.items() if k < len(shape)}
            elif a.name in requested:  # the user's shape, alone: a refusal of it is theirs
                shape = requested[a.name]
                a.shapes, a.hint, a.origin = [shape], "from --input-shapes", "user"
                a.dynamic = {k: d for k, d in a.dynamic.items() if k < len(shape)}
        _split_dims(args)
        _masking(args)
        example, outputs = _example(module, args, path)
        model, fixed = _export(_fresh(module, path), args, example, outputs, path)
        typed = typed_outputs(model, example)
        promoted = promote_mixed_arithmetic(model)
        _record_examples(model, example)
        seconds = time.perf_counter() - t0
        conv = Conversion(model, "torchscript", path, f"torch.onnx {torch.__version__}", seconds)
        conv.notes.append(
            f"converted TorchScript archive with torch.onnx {torch.__version__} (TorchScript "
            f"exporter, opset {_opset(model)}) in {seconds:.1f} s at an example the module ran on: "
            + "; ".join(f"{a.name} {_example_text(example[a.name])} ({a.hint})" for a in args)
            + (
                "; exported dynamic: "
                + ", ".join(f"{a.name}[{', '.join(a.dynamic.values())}]" for a in args if a.dynamic)
                if any(a.dynamic for a in args)
                else ""
            )
        )
        if fixed:
            conv.notes.append(fixed)
        if typed:
            conv.notes.append(
                f"output(s) {', '.join(typed)} given the rank they have on the example (the "
                "exporter wrote them without a shape, which onnx.checker refuses)"
            )
        if promoted:  # the exporter's, not the module's: torch promotes them so
            conv.notes.append(
                f"{len(promoted)} arithmetic node(s) of a float and an integer tensor "
                f"({', '.join(promoted[:2])}{', ...' if len(promoted) > 2 else ''}) given the "
                "integer cast to float, as torch promotes it (the exporter wrote them mixed)"
            )
        _CACHE[key] = (conv, module, example)
    return _CACHE[key]


def typed_outputs(model: onnx.ModelProto, example: Mapping[str, np.ndarray]) -> list[str]:
    """The graph outputs the exporter wrote with no shape, given, in place, the rank they have
    when ONNX Runtime runs ``model`` on ``example``, their sizes unnamed; their names. Silero
    VAD's TorchScript archive returns a value out of an ``If`` whose 8 kHz branch ends in a
    raise: the exporter wrote its one output as a float tensor of unknown rank, and
    ``onnx.checker`` refused the converted model and every model rewritten from it ("Field
    'shape' of 'type' is required but missing"). A run that fails, or an output of another
    type than the one declared, leaves the outputs as they were."""
    from onnx import helper

    from rewriter.ir.runtime import run_model

    outs = list(model.graph.output)
    bare = [
        o.type.WhichOneof("value") == "tensor_type" and not o.type.tensor_type.HasField("shape")
        for o in outs
    ]
    if not any(bare):
        return []
    feeds = {i.name: example[i.name] for i in model.graph.input if i.name in example}
    try:
        got = run_model(model, feeds)
    except ModelError:
        return []
    named = []
    for o, value, shapeless in zip(outs, got, bare, strict=True):
        elem = o.type.tensor_type.elem_type
        if (
            shapeless
            and value.dtype != object
            and helper.np_dtype_to_tensor_dtype(value.dtype) == elem
        ):
            o.type.CopyFrom(helper.make_tensor_type_proto(elem, [None] * value.ndim))
            named.append(o.name)
    return named


def _example_text(value: np.ndarray) -> str:
    """An example's shape (``1x512``), or its value where it is a scalar (``= 16000``)."""
    return "x".join(map(str, value.shape)) if value.ndim else f"= {value.item()}"


def _record_examples(model: onnx.ModelProto, example: Mapping[str, np.ndarray]) -> None:
    """The size each dynamic dim had in the example the module ran on, in ``model``'s
    metadata (``rewriter.inputs.dim_examples``: tried when no typical size runs), as the
    ``.pt2`` front end records its program's. Moonshine's waveform runs at multiples of its
    80-sample frame: every length the generator tried for the exported graph was refused,
    where the archive had run at 16000 samples."""
    sizes = {
        d.dim_param: int(example[i.name].shape[k])
        for i in model.graph.input
        if i.name in example
        for k, d in enumerate(i.type.tensor_type.shape.dim)
        if d.dim_param and k < example[i.name].ndim
    }
    if sizes:
        entry = model.metadata_props.add()
        entry.key, entry.value = DIM_EXAMPLES_KEY, json.dumps(sizes, sort_keys=True)


def _split_dims(args: list[_Arg]) -> None:
    """A dim name the guesses share (``sequence``) split where ``--input-shapes`` gives it
    different sizes: LUKE's 8 tokens and 4 entities were exported as one dynamic length, and
    the inputs generated for the graph were 4 tokens long. Each size after the first is named
    after its first input (``entity_ids_sequence``)."""
    sizes: dict[str, dict[int, str]] = {}  # dim name -> the user's size -> its name now
    for a in args:
        if a.origin != "user":
            continue
        for axis, name in a.dynamic.items():
            named = sizes.setdefault(name, {})
            size = a.shapes[0][axis]
            named.setdefault(size, name if not named else f"{a.name}_{name}")
            a.dynamic[axis] = named[size]


def convert(path: str) -> Conversion:
    c, _, _ = load(path)
    m = onnx.ModelProto()
    m.CopyFrom(c.model)
    return Conversion(m, c.kind, c.path, c.converter, c.seconds, list(c.notes))


def _arguments(module: Any, path: str) -> list[_Arg]:
    """The tensor arguments of ``forward`` with their shape hints; a non-tensor argument without
    a default is refused, naming it."""
    try:
        schema = module.forward.schema
    except Exception as e:  # noqa: BLE001 - an archive without a scripted forward
        raise ModelError(
            f"{path}: the TorchScript module has no forward ({_first_line(e)})"
        ) from None
    graph = module.inlined_graph
    values = list(graph.inputs())[1:]
    out: list[_Arg] = []
    for arg, value in zip(schema.arguments[1:], values, strict=False):
        kind = str(arg.type)
        if kind == "Tensor":
            out.append(_hint(module, arg.name, value))
            out[-1].puts = out[-1].high == 1 and _puts(value)
        elif arg.has_default_value():
            continue  # the default is what the export uses
        elif kind == "int" and (compared := _compared_ints(value)):
            # Silero VAD's sample rate: forward(x, sr: int) branches on sr == 16000
            said = ", ".join(map(str, compared))
            out.append(_Arg(arg.name, f"an int, compared with {said} in forward", [()], dtype="int64"))  # fmt: skip
            out[-1].given = np.asarray(compared[0], np.int64)
        else:
            raise ModelError(
                f"{path}: forward takes {arg.name}: {kind}, which is not a tensor and has no "
                f"default, so no example can be made up for it: export the module to ONNX with "
                f"it fixed (torch.onnx.export(module, (x, {arg.name}), 'model.onnx', "
                "dynamo=False)) and rewrite model.onnx"
            )
    if not out:
        raise ModelError(f"{path}: forward takes no tensor, so there is no graph to rewrite")
    if any(_THW_GRID_NAME.search(a.name) for a in out):  # used, or baked by the trace
        _laid_end_to_end(out)
    return out


def _compared_ints(value: Any) -> list[int]:
    """The int constants a graph input is compared with (``aten::eq``, ``ne``, ``lt``, ...),
    in the order the graph compares them."""
    found: list[int] = []
    for use in value.uses():
        node = use.user
        if node.kind() not in _COMPARISONS:
            continue
        for other in node.inputs():
            const = other.node()
            if const.kind() == "prim::Constant" and const.hasAttribute("value"):
                v = const.i("value") if const.kindOf("value") == "i" else None
                if v is not None and v not in found:
                    found.append(v)
    return found


_COMPARISONS = {"aten::eq", "aten::ne", "aten::lt", "aten::gt", "aten::le", "aten::ge"}


def _call_args(module: Any, values: Iterable[tuple[str, np.ndarray]]) -> list[Any]:
    """``forward``'s arguments from arrays: a tensor each, a Python int for an ``int``
    argument (a made-up one: ``_compared_ints``)."""
    import torch

    kinds = {a.name: str(a.type) for a in module.forward.schema.arguments[1:]}
    return [
        int(v) if kinds.get(n) == "int" else torch.from_numpy(np.ascontiguousarray(v))
        for n, v in values
    ]


def _mutates(module: Any) -> bool:
    """Whether ``forward`` sets attributes of the module (a stream's state kept between calls:
    Silero VAD's context and LSTM state): each run after the first starts elsewhere, and the
    exporter freezes what the attributes hold then."""
    return bool(module.inlined_graph.findAllNodes("prim::SetAttr"))


def _fresh(module: Any, path: str) -> Any:
    """``module`` as ``path`` holds it, before any run changed its attributes (``_mutates``)."""
    import torch

    if not _mutates(module):
        return module
    with quiet():
        return torch.jit.load(path, map_location="cpu").eval()


def _laid_end_to_end(args: list[_Arg]) -> None:
    """Beside a ``grid_thw``, the float input a convolution or a Linear told the shape of is
    every image's patches laid end to end, [patches, values of one patch]: a Qwen-VL tower
    views them as frames of patches for its Conv3d (its weight read as a clip's: RGB frames of
    224 x 224 ran nowhere) or projects them with a Linear."""
    for a in args:
        if a.dtype != "float32" or a.given is not None or a.origin != "graph":
            continue
        if a.packed:
            f, said = a.packed, f"the {a.packed} values of a patch, from its convolution's window"
        elif "features" in a.hint and len(a.shapes[-1]) == 2:
            f, said = a.shapes[-1][-1], a.hint
        else:
            continue
        a.shapes = [(n, f) for n in _SEQUENCE]
        a.dynamic = {0: "patches"}
        a.hint = f"{said}; every image's patches laid end to end beside grid_thw"
        a.laid_out = False


_UNUSED = "forward does not use it: no input of the export"  # an argument's hint
_RNN = {"aten::lstm", "aten::gru", "aten::rnn_tanh", "aten::rnn_relu"}
# a mask over an image's pixels, [batch, height, width] (``pixel_mask`` in transformers), not
# over a sequence (SigLIP 2's ``pixel_attention_mask`` is per patch)
_IMAGE_MASK = re.compile(r"(pixel|image)_mask$")


def _hint(module: Any, name: str, value: Any) -> _Arg:
    """The candidate shapes of one input: from the first op that tells them (module doc) and
    agrees with the rank the module reads the input's sizes at (``_read_rank``)."""
    if not value.uses():  # the exporter drops it: no input of the ONNX model
        return _Arg(name, _UNUSED, [(1,)], origin="guess")
    rank = _read_rank(value)
    for node, slot, steps in _consumers(value):
        arg = _told(module, name, node, slot)
        if arg is not None:
            arg = _undone(arg, steps)
            if arg is not None and len(arg.shapes[0]) >= rank:
                return _indexing(module, arg, value)
    if (coords := _coordinates(module, name, value)) is not None:
        return coords
    if categories := _categories(value):  # ViTPose+'s dataset index, one per sample
        return _Arg(
            name,
            f"an index per sample, compared with {', '.join(map(str, categories))}",
            [(1,)],
            {0: "batch"},
            "int64",
            max(categories) + 1,
        )
    lowered = name.lower()
    named = "mask" in lowered or any(k in lowered for k in ("ids", "token", "position"))
    # a mask padded for the tokens the module adds (LayoutLMv3's image patches) is sized by its
    # name, beside its ids
    if not named and (padded := _padded(name, value)) is not None:
        return padded
    if rank == 4:  # read as [batch, channels, height, width], and no op on the way agrees
        return _Arg(
            name,
            "its sizes are read at 4 axes: tried an image",
            [(1, 3, s, s) for s in _SPATIAL],
            {0: "batch", 2: "height", 3: "width"},
            origin="guess",
        )
    if rank == 5:  # [batch, frames, channels, height, width]: a clip, or images to match
        return _Arg(
            name,
            "its sizes are read at 5 axes: tried a pair of images",
            [(1, 2, 3, s, s) for s in _SPATIAL],
            {0: "batch", 1: "frames", 3: "height", 4: "width"},
            origin="guess",
        )
    if _IMAGE_MASK.search(lowered):  # an image's pixels that are real (DETR, ViLT, MaskFormer)
        return _Arg(
            name,
            "an image's mask by its name, as tall and wide as the image",
            [(1, s, s) for s in _SPATIAL],
            {0: "batch", 1: "height", 2: "width"},
            "int64",
            1,
            origin="name",
        )
    if _THW_GRID_NAME.search(name) and rank <= 2:
        return _Arg(
            name,
            "each image's frames, rows and columns of patches by its name",
            [(1, 3), (2, 3)],
            {0: "images"},
            "int64",
            origin="name",
            sides="thw",
        )
    if _MERGE_SIZES_NAME.search(name) and rank <= 1:
        return _Arg(
            name,
            f"each image's merge of {MERGE}x{MERGE} patches by its name",
            [(1,), (2,)],
            {0: "images"},
            "int64",
            origin="name",
            sides="merge",
        )
    for pattern, said, sides in (
        (_IMAGE_SIZES_NAME, "an image's height and width", "image"),
        (_PATCH_GRID_NAME, "a patch grid's rows and columns", "grid"),
    ):
        if pattern.search(name) and rank <= 2:
            return _Arg(
                name,
                f"{said} per row by its name",
                [(1, 2)],
                {0: "batch"},
                "int64",
                origin="name",
                sides=sides,
            )
    if named:
        mask = "mask" in lowered
        arg = _ids(name, f"{'a mask' if mask else 'token ids'} by its name", 1 if mask else 2)
        arg.origin = "name"
        if mask and rank == 3:
            # read at three axes: a mask per token of each image beside the text (Idefics'
            # [batch, text, images]), its last axis the images' count, as another input's
            # frames are tried
            arg.shapes = [(*s, f) for f in _FRAMES for s in arg.shapes]
            arg.dynamic = {**arg.dynamic, 2: "frames"}
            arg.hint += ", read at three axes: one per token and image"
        if rank in (0, 3) and not mask and (books := _codebooks(module, value)):
            # ids of several codebooks a step, each offset into one table (Dia's decoder, read
            # at three axes; Kyutai's text and audio codes, whose sizes nothing reads: tried
            # after [batch, steps])
            books_shapes = [(*s, books) for s in arg.shapes]
            arg.shapes = books_shapes if rank == 3 else arg.shapes + books_shapes
            arg.hint += f", {books} codebooks a step (an offset per codebook added)"
        return arg
    if "box" in lowered:  # no op tells: a box per token (BROS's fractions of the page)
        return _Arg(
            name,
            "boxes by its name: (x0, y0, x1, y1) per token, in [0, 1]",
            [(1, s, 4) for s in _TOKENS],
            {0: "batch", 1: "sequence"},
            origin="name",
            boxes=True,
        )
    if rank <= 2 and (flat := _flattened(value)):
        # its rank is the module's to choose: the smallest, what it reads (an image's 150528
        # values as TimesFM's series made 18816 patches, and the run was killed for memory)
        return _Arg(
            name,
            f"the module flattens it ({flat}): tried a series",
            [(1, s) for s in dict.fromkeys([*_SEQUENCE, *_SAMPLES])],
            {0: "batch", 1: "sequence"},
            origin="guess",
        )
    return _Arg(
        name,
        "no op tells its shape: tried an image, a signal, a sequence",
        [(1, 3, s, s) for s in _SPATIAL[:4]] + [(1, s) for s in _SAMPLES] + [(1, 1, 16000)],
        {0: "batch"},
        origin="guess",
    )


def _categories(value: Any) -> list[int]:
    """The int constants an input is compared with (``aten::eq``, ``aten::ne``), through
    reshapes, where it is put to no other use: an index per sample choosing among as many
    branches (ViTPose+'s ``dataset_index`` picks an expert head, ``index == 0``, ``== 1``, ...;
    it was guessed a float series, which no expert took). Empty for anything else."""
    found: set[int] = set()
    todo, seen = [value], set()
    while todo:
        v = todo.pop()
        for use in v.uses():
            node = use.user
            if id(node) in seen:
                continue
            seen.add(id(node))
            kind = node.kind()
            if kind in _RESHAPE and use.offset == 0:
                todo.extend(node.outputs())
                continue
            other = [i for i in node.inputs() if i is not v]
            if kind not in ("aten::eq", "aten::ne") or len(other) != 1:
                return []
            const = other[0].toIValue() if other[0].node().kind() == "prim::Constant" else None
            if not isinstance(const, int) or isinstance(const, bool) or not 0 <= const < 1024:
                return []
            found.add(const)
    return sorted(found)


def _made_from(value: Any) -> Any:
    """The value ``value`` is made from through ``_THROUGH`` ops and a negation (``points +
    0.5``; SAM's padding label, ``-torch.ones(...)``): a graph input, a fill, anything else."""
    for _ in range(8):
        node = value.node()
        if node.kind() not in _THROUGH | {"aten::neg"} or not node.inputs():
            break
        value = node.inputsAt(0)
    return value


def _selected(value: Any, axis: int, rank: int) -> int:
    """How many items the module takes along ``axis`` of ``value`` (through ``_THROUGH`` ops,
    full-rank slices and ``cat``s), by the largest constant index it ``select``s there, plus one
    (SAM's clicks: ``coords[:, :, :, 0]`` and ``[:, :, :, 1]``, an x and a y); 1 where it
    selects none."""
    top, seen, queue = 0, {value.unique()}, deque([value])
    while queue:
        v = queue.popleft()
        for use in v.uses():
            node, out = use.user, None
            if node.kind() == "aten::select" and use.offset == 0:
                dim, index = _const(node.inputsAt(1)), _const(node.inputsAt(2))
                if isinstance(dim, int) and isinstance(index, int) and dim % rank == axis:
                    top = max(top, index + 1)
            elif node.kind() in _THROUGH | {"aten::slice"} and node.outputsSize() == 1:
                out = node.output()  # a slice keeps the rank: ``coords[:, :, :, 0]``
            elif (cat := _cat(node)) is not None:
                out = cat.output()
            if out is not None and out.unique() not in seen and len(seen) < 256:
                seen.add(out.unique())
                queue.append(out)
    return max(top, 1)


def _padded(name: str, value: Any) -> _Arg | None:
    """An input joined by a ``cat`` with a tensor the module fills to a size list (SAM pads its
    clicks [batch, point batch, points, 2] with a point of ``zeros(b, p, 1, 2)`` and their labels
    with ``-ones(b, p, 1)``): its rank, and along every axis but the joined one, the fill's size
    there: a constant, fixed; a size of an input, shared with it (a dim named after that
    input's axis: the labels' point batch is the clicks'). The joined axis is free, at a few
    items. None where no such ``cat`` is reached before an op that moves axes."""
    for node, slot, steps in _consumers(value):
        if steps:
            return None
        cat = _cat(node)
        if cat is None:
            continue
        made = [_made_from(v).node() for k, v in enumerate(node.inputs()) if k != slot]
        fills = [f for f in made if f.kind() in _FILLED]
        items = _items(fills[0].inputsAt(0)) if fills else None
        if not items:
            continue
        rank, axis = len(items), _const(cat.inputsAt(1)) % len(items)
        shape: list[int] = []
        dynamic: dict[int, str] = {}
        for k, item in enumerate(items):
            size = item if isinstance(item, int) else _const(item)
            at = item.node() if not isinstance(item, int) else None
            if k != axis and isinstance(size, int):
                shape.append(size)
                continue
            shape.append(1)
            if k == axis:
                dynamic[k] = f"{name}_{k}"
            elif at is not None and at.kind() == "aten::size":
                src, dim = _made_from(at.inputsAt(0)), _const(at.inputsAt(1))
                if src.node().kind() != "prim::Param" or not isinstance(dim, int):
                    return None
                if src.unique() == value.unique() and k > 0:  # its own: as many as it selects
                    shape[k] = _selected(value, k, rank)
                owner = src.debugName().split(".")[0]
                dynamic[k] = "batch" if dim == 0 else f"{owner}_{dim}"
            else:
                return None
        cands = [tuple(c if k == axis else n for k, n in enumerate(shape)) for c in (2, 1, 8)]
        fill = fills[0].kind().removeprefix("aten::")
        arg = _Arg(
            name,
            f"joined along its axis {axis} with a {fill} of {rank} sizes",
            cands,
            dynamic,
            padded=True,
        )
        uses = [
            w
            for u in cat.output().uses()
            for w in (u.user.output().uses() if u.user.kind() == "aten::unsqueeze" else [u])
        ]
        told = [_const(u.user.inputsAt(1 - u.offset)) for u in uses]
        labels = [c for c in told if isinstance(c, int) and not isinstance(c, bool)]
        if labels and all(u.user.kind() in ("aten::eq", "aten::ne") for u in uses):
            # compared with int constants alone (SAM's labels: -1 padding, 0 and 1 clicks):
            # int labels, drawn among the non-negative ones
            arg.dtype, arg.high = "int64", max([c + 1 for c in labels if c >= 0] or [1])
            arg.hint += f", compared with {', '.join(map(str, sorted(set(labels))))}"
        return arg
    return None


_LAST = 2**62  # a slice's end past any size: ``x[:, :]``


def _coordinates(module: Any, name: str, value: Any) -> _Arg | None:
    """Int coordinates per token (LayoutLM's ``bbox`` [batch, sequence, 4]): the input, through
    full slices (``bbox[:, :, 0]``), is taken apart along its axis 2 by ``select``s whose values
    (or their differences, a box's width) index embedding tables, and put to no other use; the
    count the largest index taken plus one, the values below the smallest table, four as boxes.
    None otherwise."""
    columns, alone = _selects(module, value)
    if not columns or not alone:
        return None
    k, high = max(columns) + 1, min(columns.values())
    return _Arg(
        name,
        f"{k} int coordinates per token below {high}, taken apart into embeddings' indices"
        + (" (boxes: x0 <= x1, y0 <= y1)" if k == 4 else ""),
        [(1, s, k) for s in _TOKENS],
        {0: "batch", 1: "sequence"},
        "int64",
        high,
        origin="graph",
        laid_out=False,
        boxes=k == 4,
    )


def _selects(module: Any, value: Any) -> tuple[dict[int, int], bool]:
    """The columns of ``value``'s last axis that, taken out by ``select`` (through full
    slices, and a ``cat`` along the sequence), index embedding tables (or their differences
    do: a box's width), each with the smallest table's rows; and whether the input is put to
    no other use than such columns (and others among them read otherwise: LayoutLMv3 computes
    relative positions from x0 and y1 too), where Pix2Struct's float patches hold their row and
    column in columns 0 and 1 and the patch after them, ``[:, :, 2:]``, into a Linear."""
    columns: dict[int, int] = {}
    others: set[int] = set()  # columns selected that index no table
    alone = True
    queue = deque([value])
    while queue:
        for use in queue.popleft().uses():
            node = use.user
            kind = node.kind()
            if kind == "aten::slice" and use.offset == 0:
                if _sliced(node) == 0:  # ``x[:, :]``
                    queue.append(node.output())
                    continue
            elif kind == "aten::select" and use.offset == 0:
                dim, index = _const(node.inputsAt(1)), _const(node.inputsAt(2))
                if dim in (2, -1) and isinstance(index, int) and index >= 0:
                    # a column read otherwise (LayoutLMv3's relative positions) stays one
                    table = _embedded(module, node.output())
                    if table:
                        columns[index] = min(table, columns.get(index, table))
                    else:
                        others.add(index)
                    continue
            elif kind == "prim::ListConstruct" and (joined := _joined(node)) is not None:
                queue.append(joined)  # LayoutLMv3's text boxes before the image patches' own
                continue
            alone = False
    return columns, alone and all(c <= max(columns, default=-1) for c in others)


def _embedded(module: Any, value: Any) -> int | None:
    """The rows of the embedding table ``value`` indexes, through elementwise ops (a box's
    width, ``x1 - x0``), or None."""
    queue, seen = deque([value]), {value.unique()}
    while queue:
        for use in queue.popleft().uses():
            node = use.user
            if node.kind() == "aten::embedding" and use.offset == 1:
                w = _tensor(module, node.inputsAt(0))
                return None if w is None else int(w.shape[0])
            if node.kind() in _THROUGH and node.outputsSize() == 1:
                out = node.output()
                if out.unique() not in seen:
                    seen.add(out.unique())
                    queue.append(out)
    return None


def _joined(node: Any) -> Any:
    """The output of the one ``cat`` along axis 0 or 1 that the list ``node`` builds goes into
    (the boxes stay boxes along the sequence), or None."""
    cat = _cat(node)
    return cat.output() if cat is not None and _const(cat.inputsAt(1)) in (0, 1) else None


def _cat(node: Any) -> Any:
    """The one ``cat`` the list ``node`` builds goes into, along a constant axis, or None."""
    if node.kind() != "prim::ListConstruct" or node.outputsSize() != 1:
        return None
    uses = node.output().uses()
    if len(uses) != 1 or uses[0].user.kind() != "aten::cat":
        return None
    cat = uses[0].user
    return cat if isinstance(_const(cat.inputsAt(1)), int) else None


def _indexing(module: Any, arg: _Arg, value: Any) -> _Arg:
    """``arg`` with the float columns of its last axis that index embeddings (``_selects``)
    drawn as indices below the tables: Pix2Struct's row and column, read with ``.long()``, which
    PyTorch refuses negative ("index out of range in self")."""
    if arg.dtype == "int64" or not (columns := _selects(module, value)[0]):
        return arg
    if any(c >= s[-1] for s in arg.shapes for c in columns):
        return arg
    arg.indexed = columns
    arg.hint += "; " + ", ".join(
        f"column {c} indexes a table of {n}" for c, n in sorted(columns.items())
    )
    return arg


def _flattened(value: Any) -> str | None:
    """How the module flattens ``value`` before any op tells its shape, through ops that keep
    it (``x.view(x.size(0), -1, 8)``, ``x.reshape(-1, 32)``, ``x.flatten(1)``): the op, said
    as the module spells it; None when it does not."""
    seen, queue = {value.unique()}, deque([value])
    while queue:
        v = queue.popleft()
        for use in v.uses():
            node = use.user
            kind = node.kind()
            if kind in ("aten::view", "aten::reshape") and use.offset == 0:
                items = _items(node.inputsAt(1))
                got = [i if isinstance(i, int) else _const(i) for i in items or []]
                if -1 in got and all(
                    # a batch it reads, of any tensor (TimesFM views its padding with its
                    # values' batch)
                    isinstance(g, int) or _size_axes(i, None) == (0,)
                    for g, i in zip(got, items or [], strict=True)
                ):
                    dims = ", ".join(str(g) if isinstance(g, int) else "batch" for g in got)
                    return f"{kind.removeprefix('aten::')} to [{dims}]"
            elif kind == "aten::flatten" and use.offset == 0:
                a, b = _const(node.inputsAt(1)), _const(node.inputsAt(2))
                if a in (0, 1) and b == -1:
                    return f"flatten from axis {a}"
            elif kind in _THROUGH and node.outputsSize() == 1 and use.offset == 0:
                out = node.output()
                if out.unique() not in seen:
                    seen.add(out.unique())
                    queue.append(out)
    return None


# ops whose output has their input's rank: followed to the size reads
_KEEP_RANK = _THROUGH | {"aten::transpose", "aten::permute"}


def _read_rank(value: Any) -> int:
    """The rank the module reads ``value``'s sizes at, at least: ``x.size(3)`` (traced) or ``b,
    c, h, w = x.shape`` (scripted), on the input or through ops that keep its shape; 0 when no
    size is read. RADIO cuts its image into patches with sizes it reads (``reshape(b, c, h //
    16, 16, w // 16, 16)``), then a Linear takes the patches: that Linear's features are not
    the input's shape."""
    rank, seen, queue = 0, {value.unique()}, deque([value])
    while queue:
        for use in queue.popleft().uses():
            node = use.user
            kind = node.kind()
            if kind == "aten::size" and use.offset == 0:
                if node.inputsSize() == 2:
                    axis = _const(node.inputsAt(1))
                    rank = max(rank, axis + 1 if isinstance(axis, int) and axis >= 0 else 0)
                for u in node.output().uses():
                    if u.user.kind() == "prim::ListUnpack":
                        rank = max(rank, u.user.outputsSize())
            elif kind == "aten::unsqueeze" and use.offset == 0:
                # a new last axis at a fixed place (``mask[..., None]`` traced at rank 3:
                # ``unsqueeze(mask, 3)``, Idefics' image mask) is after as many as there are
                axis = _const(node.inputsAt(1))
                rank = max(rank, axis if isinstance(axis, int) and axis >= 0 else 0)
            elif kind in _KEEP_RANK and node.outputsSize() == 1:
                out = node.output()
                if out.unique() not in seen:
                    seen.add(out.unique())
                    queue.append(out)
    return rank


def _unfolded(module: Any, name: str, node: Any) -> _Arg | None:
    """An image an ``nn.Unfold`` cuts into patches for a Linear (Llama 4's vision tower
    embeds its patches so, not with a convolution: its images were tried as two-channel
    signals): the channels are the Linear's features over the kernel's window (3 x 8 x 8 =
    192), RGB where no Linear takes the patches on the way."""
    kernel = _ints(node.inputsAt(1))
    if not kernel or len(kernel) != 2:
        return None
    window, channels = kernel[0] * kernel[1], 3
    linear = next(
        (n for n, slot, _ in _consumers(node.output()) if n.kind() == "aten::linear" and slot == 0),
        None,
    )
    w = _tensor(module, linear.inputsAt(1)) if linear is not None else None
    if w is not None and int(w.shape[1]) % window == 0:
        channels = int(w.shape[1]) // window
    return _Arg(
        name,
        f"{channels} channels, from im2col's {kernel[0]}x{kernel[1]} window",
        [(1, channels, s, s) for s in _SPATIAL],
        {0: "batch", 2: "height", 3: "width"},
    )


def _told(module: Any, name: str, node: Any, slot: int) -> _Arg | None:
    """What ``node`` says of its input ``slot``'s shape, or None when it says nothing."""
    kind = node.kind()
    op = kind.removeprefix("aten::")
    if kind in _CONV and slot == 0:
        w = _tensor(module, node.inputsAt(1))
        if w is None:
            return None
        transposed = "transpose" in kind or (
            kind == "aten::_convolution" and _const(node.inputsAt(6)) is True
        )
        groups = _const(node.inputsAt(8 if kind == "aten::_convolution" else 6))
        groups = groups if isinstance(groups, int) and not transposed else 1
        channels = int(w.shape[0] if transposed else w.shape[1] * groups)
        spatial = w.dim() - 2
        packed = 0 if transposed else channels * math.prod(int(k) for k in w.shape[2:])
        if spatial == 3 and channels == 3:  # RGB frames: a clip (VideoMAE, X3D), no volume
            return _Arg(
                name,
                f"{channels} channels, frames, from {op}'s weight",
                [(1, channels, f, s, s) for s in _SPATIAL for f in _FRAMES],
                {0: "batch", 2: "frames", 3: "height", 4: "width"},
                packed=packed,
            )
        sizes, names = {
            # one channel: a waveform's samples (the name sizes the ONNX model's generated
            # inputs: "time" read as a sequence gave a wav2vec2 128 samples)
            1: (
                (_SAMPLES + _SEQUENCE, ("samples",))
                if channels == 1
                else (_SEQUENCE + _SAMPLES, ("time",))
            ),
            2: (_SPATIAL, ("height", "width")),
            3: (_VOLUME, ("depth", "height", "width")),
        }.get(spatial, (_SPATIAL, tuple(f"dim{k}" for k in range(spatial))))
        return _Arg(
            name,
            f"{channels} channels, from {op}'s weight",
            [(1, channels, *(s,) * spatial) for s in dict.fromkeys(sizes)],
            {0: "batch", **{2 + k: n for k, n in enumerate(names)}},
            packed=packed,
        )
    if kind == "aten::im2col" and slot == 0:  # nn.Unfold: an image cut into patches
        return _unfolded(module, name, node)
    features = None
    if kind == "aten::linear" and slot == 0:
        w = _tensor(module, node.inputsAt(1))
        features = None if w is None else (int(w.shape[1]), "linear's weight")
    elif kind in ("aten::layer_norm", "aten::rms_norm") and slot == 0:
        shape = _ints(node.inputsAt(1))
        if shape:
            if len(shape) > 1:  # the trailing dims fixed: [batch, *shape] or a sequence of them
                return _Arg(
                    name,
                    f"{'x'.join(map(str, shape))} last, from {op}'s normalized shape",
                    [(1, *shape)] + [(1, s, *shape) for s in _TOKENS],
                    {0: "batch"},
                )
            features = (shape[0], f"{op}'s normalized shape")
    elif kind == "aten::_native_multi_head_attention" and slot == 0:
        dim = _const(node.inputsAt(3))
        features = (dim, "attention's embed_dim") if isinstance(dim, int) else None
    if features is not None:
        f, source = features
        return _features_of(name, f"{f} features, from {source}", f)
    if kind in _RNN and slot == 1:  # a GRU's or an RNN's state
        return _state(module, name, node, 0)
    if kind == "prim::ListConstruct":  # an LSTM's (h, c)
        rnn = next((u.user for u in node.output().uses() if u.user.kind() in _RNN), None)
        return None if rnn is None else _state(module, name, rnn, slot)
    if kind in _RNN and slot == 0:
        weights = _weights(module, node.inputsAt(2))
        w = weights[0] if weights else None
        first = _const(node.inputsAt(8))
        if w is None or not isinstance(first, bool):
            return None
        f = int(w.shape[1])
        order = (0, 1) if first else (1, 0)  # batch-first, or sequence-first
        return _Arg(
            name,
            f"{f} features, {'batch' if first else 'sequence'} first, from {op}'s weights",
            [
                tuple(v for _, v in sorted(zip(order, (1, s), strict=True))) + (f,)
                for s in _SEQUENCE
            ],
            {order[0]: "batch", order[1]: "sequence"},
        )
    if _to_batch(node, slot):
        return _Arg(name, f"one value per sample, broadcast to the batch by {op}", [(1,)], {})
    if kind == "aten::embedding" and slot == 1:
        w = _tensor(module, node.inputsAt(0))
        if w is None:
            return None
        rows = int(w.shape[0])
        return _ids(name, f"token ids below {rows}, from embedding's table", rows)
    return None


def _state(module: Any, name: str, rnn: Any, which: int) -> _Arg | None:
    """An RNN's initial state, as a streaming model takes it (a VAD's LSTM state carried from
    one chunk to the next): [layers * directions, batch, size], the batch second in either
    layout; ``which`` 0 the hidden state (its size the recurrent weight's input: a projected
    LSTM's ``proj_size``), 1 an LSTM's cell (its size the recurrent weight's rows / 4)."""
    weights = _weights(module, rnn.inputsAt(2))
    w_hh = weights[1] if len(weights) > 1 else None
    layers, both = _const(rnn.inputsAt(4)), _const(rnn.inputsAt(7))
    if w_hh is None or not isinstance(layers, int) or not isinstance(both, bool) or which > 1:
        return None
    size = int(w_hh.shape[0]) // 4 if which else int(w_hh.shape[1])
    op = rnn.kind().removeprefix("aten::")
    what = "cell" if which else "hidden"
    return _Arg(
        name,
        f"{op}'s {what} state: {layers} layer(s){', both directions' if both else ''}, {size} wide",
        [(layers * (2 if both else 1), 1, size)],
        {1: "batch"},
    )


# ops that make a tensor of a given size list from nothing else
_FILLED = {"aten::ones", "aten::zeros", "aten::full", "aten::empty"}


def _to_batch(node: Any, slot: int) -> bool:
    """Whether ``node`` broadcasts its input ``slot`` to a one-dim size list: a diffusion
    model's timestep, ``t.expand(sample.shape[0])`` (diffusers' conditional UNet) or ``t *
    torch.ones(sample.shape[0])`` (its UNet2DModel). No other op tells such an input's shape,
    and an image or a signal there fails every try."""
    kind = node.kind()
    if kind == "aten::expand" and slot == 0:
        return _sizes(node.inputsAt(1)) == 1
    if kind in ("aten::mul", "aten::add", "aten::sub") and slot in (0, 1):
        other = node.inputsAt(1 - slot).node()
        return other.kind() in _FILLED and _sizes(other.inputsAt(0)) == 1
    return False


def _sizes(value: Any) -> int | None:
    """How many sizes a size-list argument holds."""
    items = _items(value)
    return None if items is None else len(items)


def _items(value: Any) -> list[Any] | None:
    """A list argument's items: a constant list's values, a ``prim::ListConstruct``'s inputs
    (graph values, constant or not); None for anything else."""
    got = _const(value)
    if isinstance(got, list):
        return got
    node = value.node()
    return list(node.inputs()) if node.kind() == "prim::ListConstruct" else None


def _features_of(name: str, hint: str, f: int) -> _Arg:
    """A float [batch, sequence, f] input (or [batch, f]): a Linear's, LayerNorm's, attention's."""
    return _Arg(name, hint, [(1, s, f) for s in _TOKENS] + [(1, f)], {0: "batch", 1: "sequence"})


def _codebooks(module: Any, value: Any) -> int:
    """The count of a 1-D buffer added to ``value`` where the module reads it at three axes:
    an offset per codebook, ids [batch, steps, codebooks] taken into one table (Dia's decoder
    ids + ``offsets``: refused at [1, 128] as "tensor a (128) must match ... (4)"); 0 if none."""
    for use in value.uses():
        node = use.user
        if node.kind() in ("aten::add", "aten::sub") and use.offset in (0, 1):
            other = node.inputsAt(1 - use.offset)  # the buffer, or it moved to the ids' device
            t = _tensor(module, other)
            t = t if t is not None else _tensor(module, _made_from(other))
            if t is not None and t.dim() == 1 and 1 < int(t.shape[0]) <= 64:
                return int(t.shape[0])
    return 0


def _ids(name: str, hint: str, high: int) -> _Arg:
    """An int64 [batch, sequence] input: token ids below ``high``, or a mask (``high`` 1: ones)."""
    ids: list[tuple[int, ...]] = [(1, s) for s in _TOKENS]
    return _Arg(name, hint, ids, {0: "batch", 1: "sequence"}, "int64", high, laid_out=False)


# what an input went through on its way to the op that told its shape: ("unsqueeze", dim),
# ("permute", dims), ("transpose", (dim0, dim1)) or ("merge", groups): a reshape whose every
# size is a product of its input's own sizes, groups[j] the input axes of output axis j
_Step = tuple[str, Any]


def _undone(arg: _Arg, steps: tuple[_Step, ...]) -> _Arg | None:
    """``arg`` as the input is before the steps on its way, last first: an ``unsqueeze``'s axis
    removed (a waveform [batch, samples] unsqueezed into a Conv1d's [batch, 1, samples]), a
    ``permute`` or ``transpose`` moved back (a video [batch, frames, channels, height, width]
    permuted into a Conv3d's [batch, channels, frames, height, width]) where the op that told
    the shape fixes what its axes are (``laid_out``); dims named as they move; a ``cat`` along
    a free axis kept (None along a fixed one). A step that does not fit the shape's rank is
    left out."""
    for kind, value in reversed(steps):
        rank = len(arg.shapes[0])
        if kind == "flatten":  # axes a..b of the input into output axis a
            a, b = value
            kind, value = (
                "merge",
                (
                    *((i,) for i in range(a)),
                    tuple(range(a, b + 1)),
                    *((i + b - a,) for i in range(a + 1, rank)),
                ),
            )
        if kind == "merge":
            _split(arg, value)
            continue
        if kind == "cat":  # one part along a free axis takes any size there; along a fixed
            if value % rank not in arg.dynamic:  # one (channels) its share is not known
                return None
            arg.hint += f"; joined with others along its {arg.dynamic[value % rank]} on the way"
            continue
        if kind == "slice":  # ``x[..., start:]``: the input has ``start`` more on that axis
            dim, start = value
            fit = [list(s) for s in arg.shapes if -len(s) <= dim < len(s)]  # ranks it slices
            for s in fit:
                s[dim] += start
            arg.shapes = [tuple(s) for s in fit] or arg.shapes
            continue
        if kind == "unsqueeze":
            if not _of_rank(arg, kind, value):
                continue
            rank = len(arg.shapes[0])
            axis = value % rank
            packed = {s[axis] for s in arg.shapes} - {1}
            arg.shapes = [s[:axis] + s[axis + 1 :] for s in arg.shapes]
            arg.dynamic = {k - (k > axis): d for k, d in arg.dynamic.items() if k != axis}
            if packed and axis == rank - 1 == 2 and axis not in arg.dynamic:
                # the new axis of one held what the op told (a Linear's features): values
                # packed that many at a time by a reshape after it (Muse Spark's waveform
                # [batch, samples], unsqueezed and cut into patches of 4 for its Linear), a
                # signal, its length a multiple of a patch: tried at a signal's lengths
                arg.shapes = [(1, n) for n in dict.fromkeys([*_SAMPLES, *_SEQUENCE])]
                arg.dynamic = {0: "batch", 1: "samples"}
                arg.hint = f"a signal, packed {max(packed)} at a time on the way ({arg.hint})"
            continue
        if not arg.laid_out:
            continue
        # the shapes of one rank the step fits (a Linear's features told [batch, sequence, f]
        # and [batch, f]: a transpose of axes 1 and 2 on the way, nn.MultiheadAttention's
        # batch-first input, fits the first only)
        if not _of_rank(arg, kind, value):
            continue
        rank = len(arg.shapes[0])
        if kind == "transpose":
            a, b = (v % rank for v in value)
            perm = list(range(rank))
            perm[a], perm[b] = b, a
        else:
            perm = [v % rank for v in value] if len(value) == rank else []
        if sorted(perm) != list(range(rank)):
            continue
        if all(p == k for k, p in enumerate(perm) if k not in arg.dynamic):
            # free axes moved among themselves (nn.MultiheadAttention's batch-first input
            # transposed to [sequence, batch, ...] before a Linear that told only the
            # features): their sizes are guesses whichever way, so the input keeps the usual
            # order, batch first; undone, a [1, 128, f] guess became 128 samples of 1 token
            continue
        # the permuted tensor's axis i is the input's axis perm[i]
        back = [0] * rank
        for i, p in enumerate(perm):
            back[p] = i
        arg.shapes = [tuple(s[back[j]] for j in range(rank)) for s in arg.shapes]
        arg.dynamic = {perm[k]: d for k, d in arg.dynamic.items()}
    return arg


def _of_rank(arg: _Arg, kind: str, value: Any) -> bool:
    """Keep ``arg``'s shapes of the first rank the step fits (an unsqueeze's axis, a
    transpose's two, a permutation of every axis); False (nothing changed) where none does."""

    def fits(r: int) -> bool:
        if kind == "unsqueeze":
            return bool(-r <= value < r)
        if kind == "transpose":
            return all(-r <= v < r for v in value)
        return len(value) == r

    rank = next((len(s) for s in arg.shapes if fits(len(s))), None)
    if rank is None:
        return False
    arg.shapes = [s for s in arg.shapes if len(s) == rank]
    return True


def _split(arg: _Arg, groups: tuple[tuple[int, ...], ...]) -> None:
    """Undo a reshape that merged input axes into one free output axis (TimeSformer's clip
    [batch, frames, channels, height, width] reshaped into the Conv2d's [batch * frames, ...]):
    the group's first axis keeps the size and name, its last is tried at ``_FRAMES`` and any
    between at 1 (Mllama's [batch, images, tiles, ...] into [batch * images * tiles, ...]: one
    image of its tiles; tried at every pair, the candidates would multiply). A merge into a
    fixed axis (channels) is left as it is: its parts are not known."""
    if len(groups) != len(arg.shapes[0]) or any(
        len(g) > 1 and j not in arg.dynamic for j, g in enumerate(groups)
    ):
        return
    merges = [g for g in groups if len(g) > 1]
    if len(merges) != 1:  # one merged axis: the candidates would multiply
        return
    (merged,) = merges
    rank = sum(map(len, groups))
    shapes = []
    for s in arg.shapes:
        for f in _FRAMES:
            new = [1] * rank
            new[merged[-1]] = f
            for j, g in enumerate(groups):
                new[g[0]] = s[j]
            shapes.append(tuple(new))
    arg.shapes = shapes
    arg.dynamic = {groups[j][0]: d for j, d in arg.dynamic.items()}
    for a in merged[1:]:
        arg.dynamic[a] = "frames" if rank == 5 else f"dim{a}"
    arg.hint += f"; {' x '.join(arg.dynamic[a] for a in merged)} reshaped into one axis on the way"


def _consumers(value: Any) -> Iterator[tuple[Any, int, tuple[_Step, ...]]]:
    """(node, which input, the steps on the way that move its axes) of the ops ``value``
    reaches, nearest first, through ``_THROUGH`` and ``_RESHAPE``, and through what a scripted
    module wraps it in: an ``If`` branch's result (on as the ``If``'s output), a tuple it is put
    in (followed to where that element is taken out again) and ``unchecked_cast``. A scripted
    ``nn.LSTM`` passes its input through an ``If`` and its ``(h, c)`` through both."""
    # id -> the node: each access makes a new Python wrapper, and a freed one's id is reused
    # by the next, so the wrappers are kept (keyed by bare ids, a Conv after a transpose was
    # taken for one seen and skipped, and AST's input had no shape)
    seen: dict[int, Any] = {}
    # a tuple is queued once per element followed: a trace returns from T5's layer norm its
    # input ``.to()`` its own dtype beside the normed states, in one tuple, and Pop2Piano's
    # features, followed into it as the input, never reached the Linear after the norm
    queued: set[tuple[Any, int | None]] = {(value.unique(), None)}
    # (value, depth, steps, the tuple element that is the input, or None: the value itself)
    queue: deque[tuple[Any, int, tuple[_Step, ...], int | None]] = deque([(value, 0, (), None)])

    def push(out: Any, depth: int, steps: tuple[_Step, ...], elem: int | None) -> None:
        if depth <= 8 and (out.unique(), elem) not in queued:
            queued.add((out.unique(), elem))
            queue.append((out, depth, steps, elem))

    while queue:
        v, depth, steps, elem = queue.popleft()
        for use in v.uses():
            node = use.user
            kind = node.kind()
            if kind == "prim::Return":  # a branch's result: on as its If's output
                owner = node.owningBlock().owningNode()
                if owner is not None and owner.kind() == "prim::If":
                    push(owner.outputsAt(use.offset), depth + 1, steps, elem)
                continue
            if kind == "prim::unchecked_cast":
                push(node.output(), depth + 1, steps, elem)
                continue
            if elem is not None:  # a tuple holding the input at ``elem``
                if kind == "prim::TupleIndex" and _const(node.inputsAt(1)) == elem:
                    push(node.output(), depth + 1, steps, None)
                elif kind == "prim::TupleUnpack":
                    push(node.outputsAt(elem), depth + 1, steps, None)
                continue
            if kind == "prim::TupleConstruct":
                push(node.output(), depth + 1, steps, use.offset)
                continue
            if id(node) in seen:
                continue
            seen[id(node)] = node
            yield node, use.offset, steps
            # slices of the input itself (Pix2Struct's ``[:, :, 2:]``: the start added back),
            # not of what an op made of it: through OPT's ``positions[:, 0:]`` its mask reached
            # the positions' table, and was drawn as positions, out of range once summed
            sliced = _sliced(node) is not None and (v is value or v.node().kind() == "aten::slice")
            if depth < 8 and node.outputsSize() and (kind in _FOLLOWED or sliced):
                push(node.output(), depth + 1, steps + _step(node), None)
            elif depth < 8 and (cat := _cat(node)) is not None:
                # a part of a ``cat`` (SegGPT's image below its prompt, along the height, into
                # the patches' Conv): the cat's output has the input's rank and axes
                push(cat.output(), depth + 1, (*steps, ("cat", _const(cat.inputsAt(1)))), None)


def _sliced(node: Any) -> int | None:
    """The constant start from which ``node`` slices its input to the end of an axis, step 1
    (Pix2Struct's ``flattened_patches[:, :, 2:]`` into its Linear: 2; a full slice: 0; a
    script leaves the bounds ``None``), or None: followed, the start is added back to the size
    the op after it tells."""
    if node.kind() != "aten::slice" or node.inputsSize() != 5:
        return None
    if any(node.inputsAt(k).node().kind() != "prim::Constant" for k in (1, 2, 3, 4)):
        return None
    dim, start, end, step = (_const(node.inputsAt(k)) for k in (1, 2, 3, 4))
    start = 0 if start is None else start
    end = _LAST if end is None else end
    full = isinstance(end, int) and end >= _LAST
    if isinstance(dim, int) and isinstance(start, int) and start >= 0 and step == 1 and full:
        return start
    return None


def _step(node: Any) -> tuple[_Step, ...]:
    """How ``node`` moves its input's axes, when it does and says so with constants."""
    kind = node.kind().removeprefix("aten::")
    if kind == "slice" and (start := _sliced(node)):
        return (("slice", (_const(node.inputsAt(1)), start)),)
    if kind == "unsqueeze" and isinstance(d := _const(node.inputsAt(1)), int):
        return (("unsqueeze", d),)
    if kind == "permute" and (dims := _ints(node.inputsAt(1))) is not None:
        return (("permute", dims),)
    if kind == "transpose":
        a, b = _const(node.inputsAt(1)), _const(node.inputsAt(2))
        return (("transpose", (a, b)),) if isinstance(a, int) and isinstance(b, int) else ()
    if kind in ("view", "reshape") and (items := _items(node.inputsAt(1))):
        groups = [
            _size_axes(v, node.inputsAt(0)) if not isinstance(v, int) else None for v in items
        ]
        flat = [a for g in groups if g is not None for a in g]
        if None in groups or flat != list(range(len(flat))) or len(flat) == len(groups):
            return ()  # a constant size, axes out of order, or no merge
        return (("merge", tuple(groups)),)
    if kind == "flatten":
        a, b = _const(node.inputsAt(1)), _const(node.inputsAt(2))
        if isinstance(a, int) and isinstance(b, int) and 0 <= a < b:
            return (("flatten", (a, b)),)
    return ()


# ops a traced or scripted size goes through on its way into a reshape's size list
_SIZE_CASTS = {"aten::Int", "prim::NumToTensor", "aten::ScalarImplicit"}


def _size_axes(value: Any, source: Any) -> tuple[int, ...] | None:
    """The axes of ``source`` whose sizes multiply to ``value`` (``x.size(0) * x.size(1)``,
    traced through ``NumToTensor`` and ``Int``; scripted, ``x.shape[k]`` or ``b, t, c, h, w =
    x.shape``), or None; ``source`` None: of any tensor."""
    node = value.node()
    kind = node.kind()
    if kind in _SIZE_CASTS:
        return _size_axes(node.inputsAt(0), source)
    if kind == "aten::mul" and node.inputsSize() == 2:
        a, b = _size_axes(node.inputsAt(0), source), _size_axes(node.inputsAt(1), source)
        return a + b if a is not None and b is not None else None
    if kind == "aten::__getitem__" and node.inputsAt(0).node().kind() == "aten::size":
        node, axis = node.inputsAt(0).node(), _const(node.inputsAt(1))
    elif kind == "prim::ListUnpack" and node.inputsAt(0).node().kind() == "aten::size":
        axis = [o.unique() for o in node.outputs()].index(value.unique())
        node = node.inputsAt(0).node()
    elif kind == "aten::size" and node.inputsSize() == 2:
        axis = _const(node.inputsAt(1))
    else:
        return None
    same = source is None or node.inputsAt(0).unique() == source.unique()
    return (axis,) if same and isinstance(axis, int) and axis >= 0 else None


def _ints(value: Any) -> tuple[int, ...] | None:
    """A list argument of constant ints, or None."""
    items = _items(value)
    if items is None:
        return None
    got = [v if isinstance(v, int) else _const(v) for v in items]
    return tuple(got) if all(isinstance(v, int) for v in got) else None


def _const(value: Any) -> Any:
    try:
        return value.toIValue()
    except Exception:  # noqa: BLE001 - not a constant
        return None


def _weights(module: Any, value: Any) -> list[Any]:
    """An RNN's weight list: a traced one's ``ListConstruct`` of parameters, a scripted one's
    ``_flat_weights`` attribute; [] where a weight is not a tensor of the module."""
    import torch

    node = value.node()
    if node.kind() == "prim::ListConstruct":
        got = [_tensor(module, v) for v in node.inputs()]
        return got if all(t is not None for t in got) else []
    attr = _attribute(module, value)
    ok = isinstance(attr, list) and all(isinstance(t, torch.Tensor) for t in attr)
    return list(attr) if ok else []


def _attribute(module: Any, value: Any) -> Any:
    """What a chain of ``prim::GetAttr`` from ``self`` reads, or None."""
    names = []
    node = value.node()
    while node.kind() == "prim::GetAttr":
        names.append(node.s("name"))
        node = node.input().node()
    if not names or node.kind() != "prim::Param":
        return None
    obj = module
    try:
        for n in reversed(names):
            obj = getattr(obj, n)
    except AttributeError:
        return None
    return obj


def _tensor(module: Any, value: Any) -> Any:
    """The tensor a graph value is when it is a parameter (a chain of ``prim::GetAttr`` from
    ``self``) or a constant; None otherwise."""
    import torch

    got = _const(value)
    if isinstance(got, torch.Tensor):
        return got
    obj = _attribute(module, value)
    return obj if isinstance(obj, torch.Tensor) else None


def _feeds(args: list[_Arg], shapes: Any) -> dict[str, np.ndarray]:
    """Example values of ``args`` at ``shapes``; image sizes hold the image's."""
    return _sides(args, {a.name: _array(a, s) for a, s in zip(args, shapes, strict=True)})


def _sides(args: list[_Arg], feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``feeds`` with each ``image_sizes`` argument's rows the (height, width) of the largest
    4-d float input among them (Mistral 3's 0s and 1s sliced its patches to none), each
    patch grid's the most square (rows, columns) of the patches of the largest 3-d float input
    (SigLIP 2's ``spatial_shapes``: 0s and 1s laid 128 patches out on none), and each
    ``grid_thw``'s one frame of even rows and columns of its share of the patches of the
    largest 2-d float input or patches of any rank (``rewriter.inputs.thw_grid``)."""
    images = [v.shape[-2:] for v in feeds.values() if v.ndim == 4 and v.dtype.kind == "f"]
    patches = [v.shape[1] for v in feeds.values() if v.ndim == 3 and v.dtype.kind == "f"]
    laid = [  # patches laid end to end: each a row of values, or a window (Kimi K2.5's)
        feeds[a.name].shape[0]
        for a in args
        if feeds[a.name].dtype.kind == "f"
        and (feeds[a.name].ndim == 2 or a.dynamic.get(0) == "patches")
    ]
    values = {
        "image": max(images, key=lambda hw: hw[0] * hw[1]) if images else None,
        "grid": square_grid(max(patches)) if patches else None,
    }
    for a in args:
        if a.given is not None:  # the user's: as given
            continue
        if a.sides == "thw" and laid and max(laid) >= len(feeds[a.name]) > 0:
            feeds[a.name] = thw_grid(max(laid), len(feeds[a.name]))
            continue
        if a.sides == "merge":
            feeds[a.name] = np.full_like(feeds[a.name], MERGE)
            continue
        row = values.get(a.sides)
        if row is not None and feeds[a.name].ndim == 2 and feeds[a.name].shape[1] == 2:
            feeds[a.name] = np.tile(np.array(row, np.int64), (feeds[a.name].shape[0], 1))
    return feeds


def _array(arg: _Arg, shape: tuple[int, ...]) -> np.ndarray:
    if arg.given is not None and tuple(arg.given.shape) == tuple(shape):
        return arg.given.copy()
    rng = np.random.default_rng(0)
    if arg.dtype == "bool":  # a mask true where to fill (``_BOOL_MASK``): none
        return np.zeros(shape, bool)
    if arg.dtype == "int64" and arg.high == 1:  # a mask is all ones
        values = np.ones(shape, np.int64)
        if arg.ones and len(shape) >= 2:  # where a put writes its values: its first ones
            values[..., arg.ones :] = 0
        return values
    if arg.dtype == "int64":
        values = rng.integers(0, max(1, min(arg.high, 1000)), shape).astype(np.int64)
    elif arg.boxes:  # float boxes: fractions of the page
        values = rng.random(shape).astype(arg.dtype)
    else:
        values = rng.standard_normal(shape).astype(arg.dtype)
        for column, rows in arg.indexed.items():  # float indices into a table: non-negative
            values[..., column] = rng.integers(0, rows, shape[:-1])
    if arg.boxes:  # (x0, y0, x1, y1): each pair in order
        values[..., 0::2].sort(axis=-1)
        values[..., 1::2].sort(axis=-1)
    return values


# a put through a mask of more places than values: "value tensor of shape [8, 32] cannot be
# broadcast to indexing result of shape [128, 32]" (along the first axis), "... [3, 12] ...
# [3, 128]" (along another: Qwen2-VL's positions put where each sample's mask is 1)
_PUT = re.compile(
    r"value tensor of shape \[([\d, ]+)\] cannot be broadcast to indexing result of "
    r"shape \[([\d, ]+)\]"
)


def _put_sizes(hit: re.Match[str]) -> tuple[int, int] | None:
    """(values, places) along the one axis where a put's values and the places its mask picks
    differ (``_PUT``), or None."""
    values, places = ([int(v) for v in g.split(", ")] for g in hit.groups())
    apart = [(v, p) for v, p in zip(values, places, strict=False) if v != p]
    return apart[0] if len(values) == len(places) and len(apart) == 1 else None


_INDEX_PUT = {"aten::index_put_", "aten::index_put"}


def _puts(value: Any) -> bool:
    """Whether the input reaches a put's indices (``x[mask] = values``: ``index_put_``, the mask
    in the list of indices), or one sample's of it does (Qwen2-VL's positions put where
    ``attention_mask[i] == 1``, in a loop over the batch)."""
    for node, slot, _ in _consumers(value):
        if node.kind() in _INDEX_PUT and slot == 1:
            return True
        if node.kind() == "aten::select" and slot == 0 and _puts(node.output()):
            return True
        if node.kind() == "prim::ListConstruct" and any(
            u.user.kind() in _INDEX_PUT and u.offset == 1 for u in node.output().uses()
        ):
            return True
    return False


def _put_mask(args: list[_Arg], shapes: Any, values: int, picked: int) -> tuple[int, int] | None:
    """(the index of the one mask of ones that a put reads, ``puts``, and picks ``picked``
    places at ``shapes``, all its samples' or one's; the ones per sample that pick ``values``)
    where it is not yet cut down and the values split evenly over its samples; else None."""
    hits = [
        i
        for i, (a, s) in enumerate(zip(args, shapes, strict=True))
        if a.puts and a.dtype == "int64" and not a.ones and len(s) >= 2
        and picked in (math.prod(s), math.prod(s[1:]))
    ]  # fmt: skip
    if len(hits) != 1 or not 0 < values < picked:
        return None
    s = shapes[hits[0]]
    if picked == math.prod(s[1:]):  # one sample's places: a put per sample (a loop, unrolled)
        return (hits[0], values) if values <= s[-1] else None
    if values % s[0] or values // s[0] > s[-1]:
        return None
    return hits[0], values // s[0]


def _runs(module: Any, feeds: Mapping[str, np.ndarray]) -> tuple[Any, str]:
    """(what the module returns, "") on ``feeds``, or (None, why it refused them). The run may
    take ``RUN_MEMORY`` bytes more address space than the process holds: a size that needs
    more is refused with the allocator's error, where it would have been killed for memory."""
    import torch

    try:
        with torch.no_grad(), quiet(), _bounded(RUN_MEMORY):
            return module(*_call_args(module, feeds.items())), ""
    except Exception as e:  # noqa: BLE001 - a size the module refuses
        return None, str(e) or type(e).__name__


# what one probe may allocate: the bound generated inputs of an ONNX model keep to
RUN_MEMORY = _WORK_LIMIT
# the allocator's refusal: torch's ("DefaultCPUAllocator: can't allocate memory"), Python's
_NO_MEMORY = re.compile(r"can't allocate memory|MemoryError|std::bad_alloc")


@contextlib.contextmanager
def _bounded(extra: int) -> Iterator[None]:
    """The process's address space limited to what it maps now plus ``extra`` bytes while
    inside (Linux; elsewhere, or where the size is unknown, unlimited as before)."""
    try:
        import resource

        with open("/proc/self/status") as f:
            now = next((int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmSize:")), None)
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        now = None
    if now is None:
        yield
        return
    cap = now + extra
    if soft != resource.RLIM_INFINITY and soft <= cap:
        yield  # a tighter limit is already set
        return
    resource.setrlimit(
        resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard)
    )
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# "mat1 and mat2 shapes cannot be multiplied (1x50176 and 1024x10)": a flatten into a Linear
_MATMUL = re.compile(r"shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)")


# what a sequence model says of the features it expects ("input.size(-1) must be equal to
# input_size. Expected 40, got 16000"; "passed-in embed_dim 64 didn't match last dim of query")
_EXPECTED = (
    re.compile(r"input_size\. Expected (\d+), got \d+"),
    re.compile(r"embed_dim (\d+) didn't match"),
)
# a cat with a learned token or frame (a class token before the patches): "Sizes of tensors
# must match except in dimension 1. Expected size 40 but got size 16000 for tensor number 1"
_CAT = re.compile(r"must match except in dimension \d+\. Expected size (\d+) but got size (\d+)")


def _features(arg: _Arg, shape: tuple[int, ...], why: str) -> _Arg | None:
    """An input no op told the shape of, as the module's refusal of ``shape`` describes it: a
    sequence of the features it names (an RNN's input_size, attention's embed_dim, a Linear
    that multiplied the last dim, or a cat with a learned token of that width), batch first;
    None when it names none."""
    if arg.origin == "graph":
        return _restacked(arg, shape, why)
    if arg.origin != "guess":  # once: the new arg's origin is "refusal"
        return None
    f = next((int(m.group(1)) for r in _EXPECTED if (m := r.search(why))), None)
    hit = _MATMUL.search(why)
    if f is None and hit is not None and int(hit.group(2)) == shape[-1]:
        f = int(hit.group(3))
    cat = _CAT.search(why)
    if f is None and cat is not None and int(cat.group(2)) == shape[-1]:
        f = int(cat.group(1))
    if f is None:
        return None
    told = _features_of(
        arg.name, f"{f} features, as the module's refusal of {'x'.join(map(str, shape))} said", f
    )
    told.origin = "refusal"
    return told


# "Expected 4-dimensional input for 4-dimensional weight [32, 3, 8, 8], but got 2-dimensional
# input of size [128, 192] instead"
_WINDOWED = re.compile(
    r"for \d+-dimensional weight \[(\d+(?:, \d+)+)\], but got 2-dimensional input of size "
    r"\[\d+, (\d+)\]"
)


def _windowed(arg: _Arg, shape: tuple[int, ...], why: str) -> _Arg | None:
    """Patches laid end to end (``_laid_end_to_end``) that the module's convolution takes as
    they come, each one a [channels, *kernel] window (Kimi K2.5's tower: [patches, 3, 8, 8]),
    not flattened into the window's values: the same counts of patches, each shaped as the
    convolution's refusal of ``shape`` says. None for any other refusal."""
    hit = _WINDOWED.search(why)
    if hit is None or not arg.packed or len(shape) != 2 or int(hit.group(2)) != shape[1]:
        return None
    window = tuple(int(v) for v in hit.group(1).split(", ")[1:])
    if math.prod(window) != shape[1]:
        return None
    said = "x".join(map(str, window))
    return dataclasses.replace(
        arg,
        shapes=[(s[0], *window) for s in arg.shapes],
        hint=f"{arg.hint}, each a {said} window as its convolution takes it (its refusal of "
        f"{'x'.join(map(str, shape))})",
        packed=0,
    )


def _restacked(arg: _Arg, shape: tuple[int, ...], why: str) -> _Arg | None:
    """The features of an input a Linear's weight told, when that Linear refuses it with more
    or fewer than its ``in_features``: the frames were stacked (or split) on the way by a
    reshape that says nothing of its sizes, so the input's own features are the told count
    scaled by ``in_features / got`` (Nemotron 3 diarization pads its frames of 16 mel bins to a
    multiple of 8 and reshapes them into rows of 128 for its Linear: the 128 read off that
    weight gave "64x1024 and 128x32", 16 bins). None for any other refusal."""
    hit = _MATMUL.search(why)
    if hit is None or len(shape) < 2 or len(shape) - 1 in arg.dynamic:
        return None
    f, got, want = shape[-1], int(hit.group(2)), int(hit.group(3))
    n, rest = divmod(f * want, got)
    if want != f or rest or n == f:  # another Linear's refusal, or no whole count
        return None
    told = _features_of(
        arg.name,
        f"{n} features, as a Linear of {want} said, given {got} at {f} (frames stacked on the way)",
        n,
    )
    told.origin = "refusal"
    return told


# "Dimension out of range (expected to be in range of [-2, 1], but got 2)"
_OUT_OF_RANGE = re.compile(
    r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"
)


def _channels(arg: _Arg, shape: tuple[int, ...], why: str) -> _Arg | None:
    """A guessed signal [batch, samples] the module refuses for indexing its axis 2: a series of
    channels [batch, time, channels] (PatchTST, PatchTSMixer: the series is scaled over time and
    cut into patches, and no op tells the channel count, each channel going through alone), tried
    at two channels once every other guess is refused (EnCodec's mono waveform [batch, 1,
    samples] is refused so too, and runs at the guess after); the channels stay dynamic where the
    module runs at another count (``_keep_static``). None for any other refusal."""
    if arg.origin != "guess" or len(shape) != 2 or not _OUT_OF_RANGE.search(why):
        return None
    return _Arg(
        arg.name,
        f"a series of channels, as the module's refusal of {'x'.join(map(str, shape))} said "
        "(it reads axis 2): two channels tried",
        [(1, s, 2) for s in _SEQUENCE],
        {0: "batch", 1: "time", 2: "channels"},
        origin="refusal",
    )


# "The size of tensor a (197) must match the size of tensor b (577)": a ViT traced at 384 adds
# its position table (576 patches and a class token) to the 196 patches of a 224 image
_BROADCAST = re.compile(r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\)")
# a buffer of positions expanded to the ids: "The expanded size of the tensor (128) must match
# the existing size (64)" (Chinese-CLIP's and AltCLIP's text towers, 64 positions)
_EXPANDED = re.compile(
    r"expanded size of the tensor \((\d+)\) must match the existing size \((\d+)\)"
)
_SIDES = ("time", "samples", "height", "width", "depth")


def _sized(arg: _Arg, shape: tuple[int, ...], why: str) -> list[tuple[int, ...]]:
    """The sizes the module's refusal of ``shape`` asks for, where its count scales with the
    spatial area: a flatten into a Linear ("1x50176 and 784x3": the side that gives the
    Linear's ``in_features`` is about ``side * sqrt(in / got)``; 2-D, linear in 1-D), or a
    table of patches (a ViT's position table of 577 against the 197 patches and class token of
    a 224 image: about 384; either count may be the image's, the table's first), each tried
    with its neighbours (strides and extra tokens round; for a table, multiples of 8 first)."""
    axes = [k for k, n in sorted(arg.dynamic.items()) if n in _SIDES]
    if arg.dtype not in ("float32", "float16") or len(axes) not in (1, 2, 3):
        return []
    if hit := _MATMUL.search(why):
        ratio = int(hit.group(3)) / int(hit.group(2))
        if int(hit.group(1)) > shape[0] and axes and axes[-1] == len(shape) - 1:
            # rows beyond the batch: a Linear per position of the leading axes, over the
            # channels and the last axis alone (Parakeet's mel bins after its subsampling
            # convolutions: "28x448 and 32x32" at 224x224 frames asks for 16 bins)
            return _resized(shape, [axes[-1]], shape[axes[-1]] * ratio, False)
        if axes != list(range(2, len(shape))):
            return []
        ratios, round8 = [ratio], False
    elif hit := _BROADCAST.search(why):
        a, b = int(hit.group(1)), int(hit.group(2))
        ratios, round8 = [b / a, a / b], True
    else:
        return []
    out: list[tuple[int, ...]] = []
    for ratio in ratios:
        for s in _resized(shape, axes, shape[axes[0]] * ratio ** (1.0 / len(axes)), round8):
            if s not in out:
                out.append(s)
    if round8 and len(axes) == 2 and shape[axes[0]] == shape[axes[1]]:
        out += [
            s
            for s in _rectangles(shape, axes, int(hit.group(1)), int(hit.group(2)))
            if s not in out
        ]
    return out


def _resized(
    shape: tuple[int, ...], axes: list[int], side: float, round8: bool
) -> list[tuple[int, ...]]:
    """``shape`` with every axis of ``axes`` at about ``side``: the nearest sizes first (strides
    and extra tokens round), multiples of 8 before the others where ``round8``."""
    sides = sorted({max(1, round(side) + d) for d in (0, 1, -1, 2, -2, 3, -3, 4, -4)})
    sides.sort(key=lambda v: (round8 and v % 8 != 0, abs(v - side)))
    out: list[tuple[int, ...]] = []
    for v in sides:
        new = list(shape)
        for k in axes:
            new[k] = v
        if tuple(new) not in out and tuple(new) != shape:
            out.append(tuple(new))
    return out


# sizes a refusal names at one axis: a norm over an axis ("running_mean should contain 224
# elements not 16": CLAP's mel bins, normalized as channels before its patch embedding) and a
# convolution's input channels ("weight of size [16, 1, 4, 4], expected input[1, 3, 64, 64] to
# have 1 channels, but got 3 channels instead")
_NORMED = re.compile(r"running_mean should contain (\d+) elements not (\d+)")
_IN_CHANNELS = re.compile(r"to have (\d+) channels, but got (\d+) channels instead")
# the most frames a refusal may ask a clip for (a count past it is no table of time positions)
_MAX_FRAMES = 1024
# a split of sizes the trace baked: what they add up to
_SPLIT_SIZES = re.compile(r"split_sizes to sum exactly to (\d+) .*split_sizes=\[([\d, ]+)\]")
# a clip's frames viewed back out of its batch, [batch, frames, ...], from fewer rows than one
# clip has: "shape '[0, 4, 32]' is invalid for input of size 64" (X-CLIP at 2 frames of 4)
_CLIP_VIEW = re.compile(r"shape '\[0, (\d+)(?:, -?\d+)*\]' is invalid for input of size \d+")


def _named(arg: _Arg, shape: tuple[int, ...], why: str) -> list[tuple[int, ...]]:
    """The shapes an input's refusal of ``shape`` names a size for: its free axes (a guess's
    every axis after the batch) at the size a norm refused (the last first) at the size the norm
    holds, a guessed image's channels at the convolution's, a clip's frames at the count a
    view of them out of the batch names, or patches laid end to end at the count a broadcast
    or a split names (scaled: 24 merged rows of 4 patches each are 96). Tried as many times as
    refusals name sizes (CLAP's mel: its bins, then its one channel), within the tries' bound."""
    if arg.origin == "user" or arg.dtype not in ("float32", "float16"):
        return []
    pairs: list[tuple[int, int]] = []
    if arg.dynamic.get(0) == "patches" and (hit := _SPLIT_SIZES.search(why)):
        # patches laid end to end cut by the traced images' counts: their sum, scaled
        pairs = [(int(hit.group(1)), sum(int(v) for v in hit.group(2).split(",")))]
    elif arg.dynamic.get(0) == "patches" and (hit := _BROADCAST.search(why)):
        # patches laid end to end meet a count the trace baked (the traced images' 96, or
        # their 24 merged rows): the patch count scaled to it
        pairs = [(int(hit.group(1)), int(hit.group(2))), (int(hit.group(2)), int(hit.group(1)))]
    if pairs:  # at most a long sequence's count (a huge one named elsewhere filled 1.5 TiB)
        return [
            (shape[0] * q // p, *shape[1:])
            for p, q in pairs
            if p and q and shape[0] * q % p == 0 and shape[0] != shape[0] * q // p <= _LARGEST_NAMED
        ]
    frames = [a for a, n in arg.dynamic.items() if n == "frames" and a < len(shape)]
    if frames and (hit := _CLIP_VIEW.search(why)) and shape[frames[0]] != int(hit.group(1)):
        return [tuple(int(hit.group(1)) if i == frames[0] else v for i, v in enumerate(shape))]
    if frames and (hit := _BROADCAST.search(why)):
        # a clip's frames meet a table of positions in time ("tensor a (16) must match the
        # size of tensor b (4)": VideoPrism's 4 frames): the frames at the table's count
        a, b = int(hit.group(1)), int(hit.group(2))
        f = shape[frames[0]]
        other = b if f == a else a if f == b else 0
        if 1 < other <= _MAX_FRAMES:
            return [tuple(other if i == frames[0] else v for i, v in enumerate(shape))]
    if hit := _NORMED.search(why):
        got, want = int(hit.group(1)), int(hit.group(2))
        free = [
            k for k in range(len(shape) - 1, 0, -1) if arg.origin == "guess" or k in arg.dynamic
        ]
        axes = [k for k in free if shape[k] == got]
        return [tuple(want if i == k else v for i, v in enumerate(shape)) for k in axes]
    hit = _IN_CHANNELS.search(why)
    if (
        hit
        and arg.origin in ("guess", "refusal")
        and len(shape) >= 3
        and shape[1] == int(hit.group(2))
        and 1 not in arg.dynamic
    ):
        return [(shape[0], int(hit.group(1)), *shape[2:])]
    return []


def _rectangles(
    shape: tuple[int, ...], axes: list[int], got: int, table: int
) -> list[tuple[int, ...]]:
    """Images of ``table`` patches that are not square (ViTPose's table of 48: 8x6 patches of a
    64x48 person crop, which no square side makes): the patch side from the square ``shape``'s
    ``got`` patches (with a class token or without), the table's count factored into rows and
    columns (``crop_grids``)."""
    out: list[tuple[int, ...]] = []
    for extra in (0, 1):  # a class token in both counts, or in neither
        grid, n = math.isqrt(max(got - extra, 0)), table - extra
        if grid < 1 or grid * grid != got - extra or shape[axes[0]] % grid or n < 2:
            continue
        patch = shape[axes[0]] // grid
        for r, c in crop_grids(n):
            new = list(shape)
            new[axes[0]], new[axes[1]] = r * patch, c * patch
            out.append(tuple(new))
    return out


# "shape '[-1, 4, 128]' is invalid for input of size 128": MusicGen's decoder takes each
# sample's 4 codebooks as rows of its ids and views them out of the batch
_FOLD = re.compile(r"shape '\[-1((?:, \d+)+)\]' is invalid for input of size (\d+)")


def _folded(arg: _Arg, shape: tuple[int, ...], why: str) -> list[tuple[int, ...]]:
    """The shapes a module that views groups out of its batch asks for, when its refusal of
    ``shape`` (batch 1) says so: the batch a multiple of the group, at each candidate length."""
    hit = _FOLD.search(why)
    if hit is None or not shape or shape[0] != 1 or math.prod(shape) != int(hit.group(2)):
        return []
    want = math.prod(int(v) for v in hit.group(1).split(",")[1:])
    group = want // math.gcd(want, int(hit.group(2)))
    if not 1 < group <= 64:
        return []
    return [(group, *s[1:]) for s in arg.shapes if s and s[0] == 1]


def _example(module: Any, args: list[_Arg], path: str) -> tuple[dict[str, np.ndarray], int]:
    """The first combination of candidate shapes the module runs on (at most ``_MAX_TRIES``),
    and how many tensors it returns there. Where one input is the float data (the others, if
    any, token ids or masks: ``_principal``), a refusal of it inside a Linear or at a table of
    patches next tries the sizes it asks for (``_sized``), one that views groups out of its
    batch a batch of a group (``_folded``), and one that names a size at an axis that size
    (``_named``), the other inputs kept at the shapes refused with it."""
    import torch
    from torch.utils import _pytree as pytree

    combos = _combos(args)
    queue = deque(combos[:_MAX_TRIES])
    last, tries, small_first = "", 0, False
    refined = False  # a refusal asked for sizes (``_sized``, ``_folded``): once
    asked: dict[tuple[int, ...], tuple[int, ...]] = {}  # a size asked for -> the one refused
    tried: set[tuple[tuple[int, ...], ...]] = set()
    series: _Arg | None = None  # a series of channels, once every other guess is refused
    rebatched: set[tuple[tuple[int, ...], ...]] = set()  # at the batch a trace unrolled
    kept: set[tuple[int, ...]] = set()  # sizes asked for, tried at the others' sizes
    misplaced = ""  # shapes that ran at a batch of 1 only, a sample meeting a length at 2
    joined: set[str] = set()  # free dims a cat refused at another input's size (``_cat_paired``)
    k = _principal(args)
    tied = _tied(args, k) if k is not None else []
    # the inputs a refusal is read for, and those sharing a dim with them (a mask's length)
    ours = [
        i
        for i, a in enumerate(args)
        if k is not None
        and (i in tied or set(a.dynamic.values()) & set(args[k].dynamic.values()) - {"batch"})
    ]
    while tries < _MAX_TRIES and (queue or series is not None):
        if not queue and series is not None and k is not None:
            args[k], series = series, None
            queue = deque(c for c in _combos(args)[:_MAX_TRIES] if c not in tried)
            continue
        shapes = queue.popleft()
        if shapes in tried:
            continue
        tries += 1
        tried.add(shapes)
        if (need := sum(math.prod(s) for s in shapes) * 8) > RUN_MEMORY:
            # sizes scaled from refusals past what one probe may take (a table's 784 patches
            # read as frames, then a side from a broadcast: 43 GiB of example values, which
            # stopped the command with "internal error: MemoryError"): refused so
            said = ", ".join(
                f"{a.name} {'x'.join(map(str, s))}" for a, s in zip(args, shapes, strict=True)
            )
            last = f"{said} would take {need / 2**30:.3g} GiB of example values"
            continue
        feeds = _feeds(args, shapes)
        got, why = _runs(module, feeds)
        if why:
            last = why.strip().splitlines()[-1][:300]  # the interpreter's reason comes last
            if _NO_MEMORY.search(why) and not small_first:
                # typical sizes need more memory than a probe may take (a diffusion UNet's
                # attention over every latent pixel): the rest smallest first; the ONNX model
                # is exported dynamic, and its generated inputs are sized within the bound
                small_first = True
                queue = deque(
                    sorted(
                        (c for c in combos if c not in tried),
                        key=lambda c: sum(math.prod(s) for s in c),
                    )
                )
                continue
            masks = [a for a in args if a.dtype == "int64" and a.high == 1]
            if _BOOL_MASK.search(why) and masks:
                # ``masked_fill`` takes a bool mask (Gemma 3n's audio mask, true where a frame
                # is padding): the masks become bool, all false, and these shapes run again
                for a in masks:
                    a.dtype, a.hint = "bool", a.hint + " (bool: masked_fill's, none masked)"
                tried.discard(shapes)
                queue.appendleft(shapes)
                continue
            put = (hit := _PUT.search(why)) and _put_sizes(hit)
            if put and (fit := _put_mask(args, shapes, *put)):
                # a mask of ones picks more places than the values put there (Kosmos-2's image
                # tokens: "value tensor of shape [8, 32] cannot be broadcast to indexing result
                # of shape [128, 32]"): ones at as many of its first positions, these shapes again
                i, n = fit
                args[i].ones = n
                args[i].hint += f", ones at its first {n} positions (the values a put writes)"
                tried.discard(shapes)
                queue.appendleft(shapes)
                continue
            if (batch := _unrolled(args, shapes, why)) is not None:
                if batch not in tried:  # next, before any other size
                    queue.appendleft(batch)
                    rebatched.add(batch)
                continue
            if paired := [(c, d) for c, d in _cat_paired(args, shapes, why) if c not in tried]:
                queue.extendleft(reversed([c for c, _ in paired]))  # next, the others as they were
                joined.update(d for _, d in paired)
                continue
            if k is None:
                continue

            def keep(shapes: tuple[tuple[int, ...], ...] = shapes, queue: Any = queue) -> None:
                """The size a refusal asked for, refused for another input (GroupViT's image at
                64x64, then its text's positions): kept, at the others' next sizes."""
                if shapes[k] in asked and shapes[k] not in kept:
                    kept.add(shapes[k])
                    alts = dict.fromkeys(
                        tuple(shapes[k] if i == k or i in tied else s for i, s in enumerate(c))
                        for c in combos
                    )
                    fresh = [c for c in alts if c not in tried][:8]
                    queue.extendleft(reversed(fresh))

            if _of_another(why, shapes, ours) or (
                # past the size it asked for, an index out of a table: the ids' (AltCLIP's
                # text positions, "index 66 is out of bounds for dimension 1 with size 66")
                shapes[k] in asked and len(ours) < len(args) and _INDEXED.search(why)
            ):
                keep()
                continue
            arg, shape = args[k], shapes[k]

            def at(
                new: tuple[int, ...],
                shapes: tuple[tuple[int, ...], ...] = shapes,
                old: tuple[int, ...] = shape,
            ) -> Any:
                return tuple(
                    new if i in tied and s == old else _along(args[i], s, args[k], old, new)
                    for i, s in enumerate(shapes)
                )

            if series is None and len(tied) == 1:
                series = _channels(arg, shape, why)
            if told := _windowed(arg, shape, why) or _features(arg, shape, why):
                for i in tied:
                    args[i] = dataclasses.replace(told, name=args[i].name)
                series = None
                queue = deque(at(s) for s in told.shapes)
            elif named := [s for s in _named(arg, shape, why) if at(s) not in tried]:
                asked.update((s, shape) for s in named)
                queue.extendleft(at(s) for s in reversed(named))
            elif not refined and (sized := _sized(arg, shape, why) or _folded(arg, shape, why)):
                refined = True
                asked.update((s, shape) for s in sized)
                queue.extendleft(at(s) for s in reversed(sized))
            elif len(ours) < len(args) and not re.search(r"\d", why.strip().splitlines()[-1]):
                # the size asked for, refused with no size named (Kimi K2.5's 96 patches, its
                # trace's, beside one image's grid where the trace unrolled two: "allocated
                # size does not match required size"): kept, at the others' next sizes
                keep()
            continue
        if odd := _batch_misplaced(module, args, feeds):
            # it ran, but a second sample lands on another input's length: a guess is short
            # of an axis (LUKE's 3-d entity positions read as 2-d ran at a batch of 1 only);
            # smaller sizes would run by coincidence (a length of 1 broadcasts as any batch)
            misplaced = odd
            break
        if k is not None and shapes[k] in asked:
            refusals: list[str] = []
            shape = shapes[k]
            while shape in asked and len(refusals) < _MAX_TRIES:
                shape = asked[shape]
                refusals.insert(0, "x".join(map(str, shape)))
            for i in tied:
                args[i].hint += (
                    f"; its size from {'their' if len(tied) > 1 else 'its'} "
                    f"refusal{'s' if len(refusals) > 1 else ''} of " + ", ".join(refusals)
                )
        if shapes in rebatched:
            for a, s in zip(args, shapes, strict=True):
                if a.dynamic.get(0) == "batch":
                    a.hint += f"; a batch of {s[0]}: the trace unrolled a loop over its batch"
        _guessed_free(args, feeds)
        _keep_static(module, args, feeds, joined)
        return feeds, sum(isinstance(t, torch.Tensor) for t in pytree.tree_leaves(got))
    if (
        not misplaced
        and not all(a.origin == "user" for a in args)
        and (ran := _traced_batch(module, args))
    ):
        feeds, got = ran
        _guessed_free(args, feeds)
        _keep_static(module, args, feeds)
        return feeds, sum(isinstance(t, torch.Tensor) for t in pytree.tree_leaves(got))
    hints = ", ".join(f"{a.name}: {a.hint}" for a in args)
    if all(a.origin == "user" for a in args):
        flags = sorted({a.hint.removeprefix("from ") for a in args})
        raise ModelError(
            f"{path}: the TorchScript module refuses the {' and '.join(flags)} given "
            f"({', '.join(a.name + ' ' + 'x'.join(map(str, a.shapes[0])) for a in args)}): {last}"
        )
    lead = "ran at a batch of 1 only" if misplaced else "ran on none of the example shapes tried"
    raise ModelError(
        f"{path}: the TorchScript module {lead} ({hints}; "
        f"{misplaced or f'last: {last}'}): pass --input-shapes {args[0].name}:DIMS (every "
        "tensor argument of forward) at a size it takes, or --inputs data.npz (its arrays, "
        "by argument name)"
    )


def _batch_misplaced(module: Any, args: list[_Arg], feeds: Mapping[str, np.ndarray]) -> str:
    """Why ``feeds`` (which ran) are suspect, or "": at a batch of 2 (3 where a length is 2,
    which it could broadcast as) the module refuses them with the batch broadcast against
    another size of theirs (``_BROADCAST``: "The size of tensor a (32) must match the size of
    tensor b (2)"), the mark of a guessed input short of an axis. LUKE's entity positions,
    [batch, entities, tokens per mention], guessed [batch, entities]: their embeddings summed
    over the mentions' axis became [batch, width], which broadcast against the entities'
    [batch, entities, width] at a batch of 1 only. A module that takes one sample only refuses
    other batches otherwise (a view, an expand)."""
    axes = {a.name: [k for k, d in a.dynamic.items() if d == "batch"] for a in args}
    if not any(axes.values()) or any(a.origin == "user" for a in args):
        return ""
    if any(feeds[n].shape[k] != 1 for n, ks in axes.items() for k in ks):
        return ""
    lengths = {v for a in args for k, v in enumerate(feeds[a.name].shape) if k not in axes[a.name]}
    b = next(n for n in itertools.count(2) if n not in lengths)  # no length to broadcast as
    trial = dict(feeds)
    for a in args:
        if axes[a.name]:  # every batch axis at once (an RNN's state has it second)
            shape = [b if k in axes[a.name] else v for k, v in enumerate(feeds[a.name].shape)]
            trial[a.name] = _array(a, tuple(shape))
    why = _runs(module, _sides(args, trial))[1]
    m = _BROADCAST.search(why or "")
    if m is None or str(b) not in m.groups() or not {int(g) for g in m.groups()} & lengths:
        return ""
    shown = ", ".join(f"{a.name} {'x'.join(map(str, feeds[a.name].shape))}" for a in args)
    return (
        f"it ran at {shown} but not at a batch of {b} ({m.group(0)} ...): a second sample met "
        "another input's length, so an input has more axes than guessed"
    )


def _along(
    arg: _Arg, shape: tuple[int, ...], data: _Arg, old: tuple[int, ...], new: tuple[int, ...]
) -> tuple[int, ...]:
    """``arg``'s ``shape`` with each dim it shares with ``data`` (its mask's length) at the
    size ``data``'s refusal changed it to, from ``old`` to ``new``."""
    out = list(shape)
    for ax, dim in arg.dynamic.items():
        for dx, d in data.dynamic.items():
            if d == dim != "batch" and ax < len(out) and dx < min(len(old), len(new)):
                if out[ax] == old[dx] != new[dx]:
                    out[ax] = new[dx]
    return tuple(out)


def _masking(args: list[_Arg]) -> None:
    """A mask known by its name only, beside a sequence of float data ([batch, time] or
    [batch, time, features], either order) and no token ids: as long as the data's first free
    axis, that dim shared (its size tried with the data's, changed with it, exported as one).
    Parakeet's mask was tried at 128 beside 224 frames (the module sums it into lengths: it ran,
    on frames the mask left out); a wav2vec2's at 128 of 16000 samples."""
    k = _principal(args)
    if k is None or any(a.dtype == "int64" and a.high > 1 for a in args):
        return  # no float data, or token ids: a mask is theirs
    data = args[k]
    free = sorted(a for a in data.dynamic if a > 0)
    if not free or any(len(s) > 3 for s in data.shapes):
        return  # an image's mask is [batch, height, width]
    axis, dim = free[0], data.dynamic[free[0]]
    for a in args:
        if a.origin == "name" and a.high == 1 and all(len(s) == 2 for s in a.shapes):
            a.shapes = list(dict.fromkeys((1, s[axis]) for s in data.shapes if axis < len(s)))
            a.dynamic = {0: "batch", 1: dim}
            a.hint += f", as long as {data.name}'s {dim}"


_BOOL_MASK = re.compile(r"only supports boolean masks")
_INDEXED = re.compile(r"index -?\d+ is out of bounds for dimension \d+|index out of range in self")


def _of_another(why: str, shapes: tuple[tuple[int, ...], ...], ours: list[int]) -> bool:
    """Whether a refusal of a table's size names a size of an input other than ``ours``:
    CLIPSeg's text positions ("The size of tensor a (128) must match the size of tensor b
    (16)" at ids of 128) are not its image's patches, nor is a buffer of positions expanded to
    them (``_EXPANDED``)."""
    hit = _BROADCAST.search(why) or _EXPANDED.search(why)
    if hit is None:
        return False
    sizes = {int(hit.group(1)), int(hit.group(2))}
    return any(sizes & set(s[1:]) for i, s in enumerate(shapes) if i not in ours)


def _principal(args: list[_Arg]) -> int | None:
    """The input a refusal is read as being about: the only one, or the only float one not
    given by the user beside token ids, masks, arguments forward does not use (a grid the
    trace baked) and inputs sized from what the module pads them with (Parakeet's features
    beside their mask; SAM's image beside its clicks), or
    the first of float ones read alike (a stereo pair's two images: ``_tied``, sized
    together); None where several could be (the refusal refinements are then not tried)."""
    if len(args) == 1:
        return 0
    floats = [
        i
        for i, a in enumerate(args)
        if a.dtype != "int64" and a.origin != "user" and not a.padded and a.hint != _UNUSED
    ]
    if len(floats) > 1 and len(_tied(args, floats[0])) < len(floats):
        return None
    return floats[0] if floats else None


def _tied(args: list[_Arg], k: int) -> list[int]:
    """The inputs read as ``args[k]`` is (the same candidates, dims and hint, from a graph
    op): the two images of a stereo or Siamese pair, one Conv's each, refused alike; a refusal
    of one resizes them all."""
    a = args[k]
    return [
        i
        for i, b in enumerate(args)
        if i == k
        or (
            a.origin == b.origin == "graph"
            and (a.shapes, a.dynamic, a.dtype, a.hint) == (b.shapes, b.dynamic, b.dtype, b.hint)
        )
    ]


# the batches a module may have been traced at, where it runs at no other
_TRACED_BATCHES = (2, 4, 8, 16, 32)


# "Expected 2 elements in a list but found 1": a trace at a batch of 2 unrolled a loop over it
_UNROLLED = re.compile(r"Expected (\d+) elements in a list but found 1\b")


def _cat_paired(
    args: list[_Arg], shapes: tuple[tuple[int, ...], ...], why: str
) -> list[tuple[tuple[tuple[int, ...], ...], str]]:
    """``shapes`` with a free dim a ``cat`` refused at the size the other part had, where two
    inputs' lengths meet in it: X-Codec 2 joins its waveform's frames, one per 320 samples,
    with its filterbank's ("Expected size 128 but got size 50" at 16000 samples beside 128
    frames asks for 50 frames). Either size may be an input's (the part of the cat it gives
    first, or second); each dim at one of them is tried at the other, every input of that dim
    (a mask too) following; with the dim. Empty for any other refusal."""
    hit = _CAT.search(why)
    free = {frozenset(d for d in a.dynamic.values() if d != "batch") for a in args}
    if hit is None or len(free - {frozenset()}) < 2:  # one input: a learned token (``_features``)
        return []
    sizes = int(hit.group(1)), int(hit.group(2))
    out = []
    for old, new in (sizes, sizes[::-1]):
        dims = {
            d
            for a, s in zip(args, shapes, strict=True)
            if a.origin != "user"
            for ax, d in a.dynamic.items()
            if d != "batch" and ax < len(s) and s[ax] == old
        }
        for dim in sorted(dims):
            combo = tuple(
                tuple(new if a.dynamic.get(ax) == dim and v == old else v for ax, v in enumerate(s))
                for a, s in zip(args, shapes, strict=True)
            )
            out.append((combo, dim))
    return out


def _unrolled(
    args: list[_Arg], shapes: tuple[tuple[int, ...], ...], why: str
) -> tuple[tuple[int, ...], ...] | None:
    """``shapes`` at the batch the refusal names, where every batched input was at 1 and the
    module unbound it into a list of the traced batch's length (ViLT embeds each image of its
    batch in a loop, which its trace at 2 unrolled: "Expected 2 elements in a list but found
    1" at every size), or at the count of images it names where every image's grid was one row
    (Qwen2-VL's whole model, traced on two images); None for any other refusal."""
    hit = _UNROLLED.search(why)
    if hit is None:
        return None
    for dim in ("batch", "images"):  # a loop over the batch, or over the images (their grids)
        batched = [i for i, a in enumerate(args) if a.dynamic.get(0) == dim and shapes[i]]
        if batched and all(shapes[i][0] == 1 for i in batched):
            b = int(hit.group(1))
            return tuple((b, *s[1:]) if i in batched else s for i, s in enumerate(shapes))
    return None


def _traced_batch(module: Any, args: list[_Arg]) -> tuple[dict[str, np.ndarray], Any] | None:
    """(feeds, what the module returns) at the first candidate shapes with a batch other than
    1, or None: a trace keeps its example's batch where the module folds it into a size
    (ZoeDepth traced at 2 refuses a batch of 1 at every size: "Expected 4 elements in a list
    but found 2"). Each batch is tried at the first combination, then at every input's
    second, third and fourth candidate in step (LED's trace at 2 also takes no more than its
    64 positions, and its first candidates are 128 tokens), where no other size equals the
    batch: a wrong guess can run where sizes coincide (LUKE's 3-d entity positions read as
    2-d ran at 16 entities of 16 tokens in a batch of 16, by broadcasting). Only guessed
    sizes count: the 2 of an ``image_sizes`` argument kept every candidate from a batch of 2.
    The batch each input takes is said in its hint."""
    batched = [k for k, a in enumerate(args) if a.dynamic.get(0) == "batch"]
    combos = _combos(args)
    if not batched or not combos:
        return None
    in_step = [tuple(a.shapes[min(i, len(a.shapes) - 1)] for a in args) for i in range(1, 4)]
    # the axes past the batch whose size is guessed (differs between an input's candidates):
    # a fixed one (the 2 of Pixtral's rows of image sizes, a convolution's channels) is told,
    # and cannot coincide with the batch by a wrong guess
    guessed = [
        [
            k
            for k in range(1, max(map(len, a.shapes)))
            if len({s[k] if k < len(s) else None for s in a.shapes}) > 1
        ]
        for a in args
    ]
    for b in _TRACED_BATCHES:
        apart = [
            c
            for c in in_step
            if b not in {s[k] for s, ks in zip(c, guessed, strict=True) for k in ks if k < len(s)}
        ]
        for combo in dict.fromkeys([combos[0], *apart]):
            shapes = [(b, *s[1:]) if k in batched and s else s for k, s in enumerate(combo)]
            feeds = _feeds(args, shapes)
            got, why = _runs(module, feeds)
            if not why:
                for k in batched:
                    args[k].hint += f"; a batch of {b}: it ran at no batch of 1"
                return feeds, got
    return None


def _combos(args: list[_Arg]) -> list[tuple[tuple[int, ...], ...]]:
    """The combinations of the inputs' candidate shapes (at most 4096 of each kind), those where
    a dim that inputs share (token ids' and a mask's ``sequence``) has one size first: the
    others run only where those all failed (ids of 128 tokens with a mask of 64 took a try
    each). The agreeing ones are built, not filtered from the product's first 4096: with five
    inputs of ten shapes each those held LUKE's ids at 128 tokens (more than its 64
    positions) and only their first agreed."""

    def agreeing(i: int, sizes: dict[str, int]) -> Iterator[tuple[tuple[int, ...], ...]]:
        if i == len(args):
            yield ()
            return
        for shape in args[i].shapes:
            mine = {
                name: shape[axis] for axis, name in args[i].dynamic.items() if axis < len(shape)
            }
            if any(sizes.get(name, v) != v for name, v in mine.items()):
                continue
            for rest in agreeing(i + 1, sizes | mine):
                yield (shape, *rest)

    first = list(itertools.islice(agreeing(0, {}), 4096))
    seen = set(first)
    product = itertools.islice(itertools.product(*(a.shapes for a in args)), 4096)
    return first + [c for c in product if c not in seen]


# the free dims of a generic guess, by the rank the module ran at: a sequence, a signal of
# channels, an image
_GUESSED_DIMS = {2: {1: "sequence"}, 3: {2: "samples"}, 4: {2: "height", 3: "width"}}


def _guessed_free(args: list[_Arg], feeds: Mapping[str, np.ndarray]) -> None:
    """Name the free dims of an input no op told (a generic guess of every rank: only its
    batch is named) by the rank it ran at, so that ``_keep_static`` asks the module for each:
    CLAP's mel spectrogram, sized from its refusals, was exported with its frames fixed where
    the module takes any count."""
    for a in args:
        rank = feeds[a.name].ndim
        if a.origin == "guess" and a.dynamic == {0: "batch"} and rank in _GUESSED_DIMS:
            a.dynamic = {0: "batch", **_GUESSED_DIMS[rank]}


def _keep_static(
    module: Any, args: list[_Arg], feeds: Mapping[str, np.ndarray], joined: Set[str] = frozenset()
) -> None:
    """Drop from the inputs' ``dynamic`` each dim the module does not take at another size: a
    traced module keeps its example's sizes (an Ultralytics YOLO traced at 320 builds its
    anchors for 320), and an ONNX input dynamic there would let generated inputs the graph
    cannot run. A dim name shared by inputs (token ids' and a mask's ``sequence``) changes in
    all of them at once. A free dim refused 32 longer is tried at twice its size, which keeps
    what the example's size divides by: Moonshine's waveform is cut into frames of 80 samples,
    and 16032 were refused where 32000 run. A dim in ``joined`` (a cat's, sized from another
    input's: X-Codec 2's frames, one per 320 samples) refused alone is tried doubled with the
    other inputs' free dims doubled too."""

    def grown(dim: str, doubled: bool, others: bool = False) -> dict[str, tuple[int, ...]]:
        """The shapes of the inputs that have ``dim``, it grown (``others``: with every other
        free dim of the inputs without it, doubled)."""
        shapes = {}
        for a in args:
            shape = list(feeds[a.name].shape)
            mine = dim in a.dynamic.values()
            for k in [
                k
                for k, d in a.dynamic.items()
                if d == dim or (others and not mine and d != "batch")
            ]:
                n = shape[k]
                if dim == "batch":  # another batch than the example's (a traced one: 2)
                    shape[k] = 2 if n == 1 else n * 2
                else:
                    shape[k] = n * 2 if doubled or n < 32 else n + 32
            if mine or others:
                shapes[a.name] = tuple(shape)
        return shapes

    for dim in sorted({d for a in args for d in a.dynamic.values()}):
        first, twice = grown(dim, False), grown(dim, True)
        tries = [first] if twice == first else [first, twice]  # a batch: the one size
        if dim in joined:
            tries.append(grown(dim, True, others=True))
        if not any(_runs_at(module, args, feeds, shapes) for shapes in tries):
            for a in args:
                a.dynamic = {k: d for k, d in a.dynamic.items() if d != dim}


def _runs_at(
    module: Any,
    args: list[_Arg],
    feeds: Mapping[str, np.ndarray],
    shapes: Mapping[str, tuple[int, ...]],
) -> bool:
    """Whether the module runs on ``feeds`` with the inputs named in ``shapes`` drawn anew at
    those shapes."""
    trial = dict(feeds)
    for a in args:
        if a.name in shapes:
            trial[a.name] = _array(a, shapes[a.name])
    return not _runs(module, _sides(args, trial))[1]


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), OPSET)


# Antialiased resizes (``F.interpolate(..., antialias=True)``: DINOv2's position table resized
# to the image, RF-DETR, SigLIP) have no function in the TorchScript exporter. ONNX's Resize has
# them from opset 18: PyTorch's filters are PIL's (cubic a = -0.5) over the input's pixels only
# (exclude_outside), at half-pixel centres; ONNX Runtime matches torch to float rounding there.
# With align_corners=True the two differ: left to the exporter's own refusal.
_ANTIALIASED = {"aten::_upsample_bicubic2d_aa": "cubic", "aten::_upsample_bilinear2d_aa": "linear"}
_ANTIALIAS_OPSET = 18


def _antialiased(mode: str) -> Any:
    def symbolic(g: Any, x: Any, size: Any, align_corners: Any, *scales: Any) -> Any:
        import torch
        from torch.onnx import symbolic_helper as sh

        if sh._is_none(size) or sh._maybe_get_const(align_corners, "b"):
            raise RuntimeError(
                f"an antialiased {mode} resize "
                + ("by scale factors" if sh._is_none(size) else "with align_corners=True")
                + " has no ONNX equivalent"
            )
        shape = g.op("Shape", x)
        lead = g.op(
            "Slice",
            shape,
            g.op("Constant", value_t=torch.tensor([0])),
            g.op("Constant", value_t=torch.tensor([2])),
        )
        sizes = g.op("Concat", lead, g.op("Cast", size, to_i=onnx.TensorProto.INT64), axis_i=0)
        none = g.op("prim::Constant")
        none.setType(torch._C.OptionalType.ofTensor())
        extra = {"cubic_coeff_a_f": -0.5} if mode == "cubic" else {}
        return g.op(
            "Resize",
            x,
            none,
            none,
            sizes,
            mode_s=mode,
            antialias_i=1,
            exclude_outside_i=1,
            coordinate_transformation_mode_s="half_pixel",
            **extra,
        )

    return symbolic


def _constant(g: Any, value: Any) -> Any:
    """A Constant node of ``torch.tensor(value)`` in the exporter's graph ``g``."""
    import torch

    return g.op("Constant", value_t=torch.tensor(value))


def _not(g: Any, x: Any) -> Any:
    """``not`` of a number (``not len(self._context)``: Silero VAD's first call), which the
    exporter refuses for other than a boolean: its truth, then Not."""
    return g.op("Not", g.op("Cast", x, to_i=onnx.TensorProto.BOOL))


@contextlib.contextmanager
def _symbolics(squeezed: bool = False) -> Iterator[None]:
    """Functions the TorchScript exporter lacks (antialiased resizes, erfinv, searchsorted,
    cummax and cummin, isin, diff, rms_norm, a boolean eye, grouped-query attention,
    histc, _grouped_mm, take_along_dim, the hyperbolic functions, expm1, a unit triangular
    solve, in-place ``|=`` and ``&=``, unfold of a dim of unknown size, ``not`` of a
    number), writes wrong
    (index_add with repeated indices, an int ``full`` as floats) or writes so that later ops
    lose the rank (unflatten, tensor_split at computed indices), registered for one export;
    with ``squeezed``, a squeeze of a dim of unknown size too (``_squeeze``)."""
    import torch

    table = [(op, _antialiased(mode), _ANTIALIAS_OPSET) for op, mode in _ANTIALIASED.items()]
    table += [
        ("aten::erfinv", _erfinv, _ERFINV_OPSET),
        ("aten::searchsorted", _searchsorted, _REDUCE_OPSET),
        ("aten::cummax", _cumulative(True), _REDUCE_OPSET),
        ("aten::cummin", _cumulative(False), _REDUCE_OPSET),
        ("aten::isin", _isin, _REDUCE_OPSET),
        ("aten::eye", _eye, _EYE_OPSET),
        ("aten::diff", _diff, _DIFF_OPSET),
        ("aten::cumsum", _cumsum, _CUMSUM_OPSET),
        ("aten::rms_norm", _rms_norm, _RMS_NORM_OPSET),
        ("aten::index_add", _index_add, _INDEX_ADD_OPSET),
        ("aten::scaled_dot_product_attention", _attention, _ATTENTION_OPSET),
        ("aten::histc", _histc, _HISTC_OPSET),
        ("aten::take_along_dim", _take_along_dim, _TAKE_OPSET),
        *((f"aten::{name}", _unary(op), _HYPERBOLIC_OPSET) for name, op in _HYPERBOLIC.items()),
        ("aten::expm1", _expm1, _EXPM1_OPSET),
        ("aten::linalg_solve_triangular", _solve_triangular, _SOLVE_OPSET),
        ("aten::_grouped_mm", _grouped_mm, _HISTC_OPSET),
        ("aten::unflatten", _unflatten, _UNFLATTEN_OPSET),
        ("aten::tensor_split", _tensor_split, _UNFLATTEN_OPSET),
        ("aten::unfold", _unfold, _UNFOLD_OPSET),
        ("aten::full", _full, _LOGICAL_OPSET),
        ("aten::__ior_", _in_place("__or_"), _LOGICAL_OPSET),
        ("aten::__iand_", _in_place("__and_"), _LOGICAL_OPSET),
        ("aten::__not_", _not, _LOGICAL_OPSET),
    ]
    if squeezed:
        table.append(("aten::squeeze", _squeeze, _SQUEEZE_OPSET))
    for op, function, opset in table:
        torch.onnx.register_custom_op_symbolic(op, function, opset)
    try:
        yield
    finally:
        for op, _, opset in table:
            torch.onnx.unregister_custom_op_symbolic(op, opset)


_UNFOLD_OPSET = 12  # the exporter's own is registered from 12


def _unfold(g: Any, x: Any, dim: Any, size: Any, step: Any) -> Any:
    """``Tensor.unfold(dim, size, step)`` where ONNX's shape inference does not know the dim's
    size, which the exporter's own needs ("Unsupported: ONNX export of operator Unfold, input
    size not accessible": Idefics3's and SmolVLM's patch splitting): a Gather of the windows'
    indices ([windows, size], the count computed from the dim's size), the window axis moved
    last, as torch puts it. A known size goes to the exporter's own."""
    from torch.onnx import symbolic_helper as sh
    from torch.onnx._internal.torchscript_exporter import symbolic_opset12

    axis = sh._get_const(dim, "i", "dimension")
    rank = sh._get_tensor_rank(x)
    width, stride = sh._maybe_get_const(size, "i"), sh._maybe_get_const(step, "i")
    if (
        rank is None
        or not isinstance(width, int)
        or not isinstance(stride, int)
        or sh._get_tensor_dim_size(x, axis % rank) is not None
    ):
        return symbolic_opset12.unfold(g, x, dim, size, step)
    axis %= rank
    const = functools.partial(_constant, g)
    length = g.op("Gather", g.op("Shape", x), const(axis), axis_i=0)
    windows = g.op("Add", g.op("Div", g.op("Sub", length, const(width)), const(stride)), const(1))
    starts = g.op("Mul", g.op("Range", const(0), windows, const(1)), const(stride))
    at = g.op(
        "Add",
        g.op("Unsqueeze", starts, const([1])),
        g.op("Unsqueeze", g.op("Range", const(0), const(width), const(1)), const([0])),
    )  # [windows, size]
    picked = g.op("Gather", x, at, axis_i=axis)  # x's dims, the axis as [windows, size]
    perm = [*range(axis + 1), *range(axis + 2, rank + 1), axis + 1]
    return g.op("Transpose", picked, perm_i=perm)


def _full(
    g: Any, sizes: Any, value: Any, dtype: Any, layout: Any, device: Any, pin_memory: Any = False
) -> Any:
    """``torch.full(sizes, value)`` with no dtype and a constant int or bool ``value``: of the
    value's type, as torch makes it (int64, bool). The exporter makes every such full float,
    and a Gather then took float indices, which ONNX Runtime refuses at load (Idefics3's and
    SmolVLM's position ids: ``torch.where(mask, pos_ids, torch.full(..., fill_value=0))``). A
    float value or a dtype given goes to the exporter's own."""
    import torch
    from torch.onnx import symbolic_helper as sh
    from torch.onnx._internal.torchscript_exporter import symbolic_opset9

    const = sh._maybe_get_const(value, "t")
    if sh._is_none(dtype) and isinstance(const, torch.Tensor) and not const.is_floating_point():
        kind = torch.bool if const.dtype == torch.bool else torch.int64
        told = sh._maybe_get_const(sizes, "is")
        if isinstance(told, list) and not told:
            sizes = g.op("Constant", value_t=torch.tensor([], dtype=torch.int64))
        return g.op("ConstantOfShape", sizes, value_t=const.view(1).to(kind))
    return symbolic_opset9.full(g, sizes, value, dtype, layout, device, pin_memory)


_LOGICAL_OPSET = 9  # Or, And


def _in_place(name: str) -> Any:
    """``a |= b`` (``aten::__ior_``) or ``a &= b`` of bools as the exporter writes ``a | b``:
    it has no function for the in-place forms (SmolVLM's archive: "Exporting the operator
    'aten::__ior_' to ONNX opset version 17 is not supported"); Python assigns the result."""

    def symbolic(g: Any, x: Any, other: Any) -> Any:
        from torch.onnx._internal.torchscript_exporter import symbolic_opset9

        return getattr(symbolic_opset9, name)(g, x, other)

    return symbolic


_SQUEEZE_OPSET = 11  # the exporter's own, which this one falls back to, from 11


def _squeeze(g: Any, x: Any, dim: Any = None) -> Any:
    """``x.squeeze(dim)`` where ONNX's shape inference does not know the dim's size: a Squeeze,
    as the module squeezes a dim of 1 (the exporter's own writes an If that squeezes only a 1,
    whose output has no rank, and the next transpose is refused: "ONNX export of transpose for
    tensor of unknown rank", PP-OCR v6's recognizers squeeze the pooled height). Tried only after
    an export fails so; a dim that is not 1 at run time fails in ONNX Runtime, and the
    conversion is checked against the module. A known size and other forms go to the
    exporter's own."""
    from torch.onnx import symbolic_helper as sh
    from torch.onnx._internal.torchscript_exporter import symbolic_opset11

    if dim is None or not sh._is_constant(dim):
        return symbolic_opset11.squeeze(g, x, dim)
    axis = sh._get_const(dim, "i", "dim")
    rank = sh._get_tensor_rank(x)
    known = rank is not None and sh._get_tensor_dim_size(x, axis % rank) is not None
    if known or (rank is None and axis < 0):
        return symbolic_opset11.squeeze(g, x, dim)
    return g.op("Squeeze", x, _constant(g, [axis]))


_DIFF_OPSET = 13  # Slice with its bounds as inputs
_CUMSUM_OPSET = 11  # CumSum
_UNFLATTEN_OPSET = 13  # the exporter's own is registered from 13


def _unflatten(g: Any, x: Any, dim: Any, sizes: Any) -> Any:
    """``Tensor.unflatten(dim, sizes)`` as a Reshape whose shape keeps the other dims (0: copy)
    around the sizes, a constant where they are. The exporter's own computes the shape's parts
    with Slices of computed bounds, so ONNX's shape inference loses the rank and the next
    transpose is refused: "ONNX export of transpose for tensor of unknown rank" (torch's
    MultiheadAttention with a separate key input, ``kv_proj.unflatten(-1, (2, E))``: SigLIP's
    attention-pooling head)."""
    from torch.onnx import symbolic_helper as sh

    rank = sh._get_tensor_rank(x)
    if rank is None:
        raise RuntimeError("unflatten of a tensor of unknown rank")
    axis = sh._get_const(dim, "i", "dim") % rank
    told = sh._maybe_get_const(sizes, "is")
    if isinstance(told, list) and all(isinstance(v, int) for v in told):
        shape = _constant(g, [0] * axis + told + [0] * (rank - axis - 1))
    else:
        whole = g.op("Shape", x)
        head = g.op("Slice", whole, _constant(g, [0]), _constant(g, [axis]))
        tail = g.op("Slice", whole, _constant(g, [axis + 1]), _constant(g, [rank]))
        middle = g.op("Cast", sizes, to_i=onnx.TensorProto.INT64)
        shape = g.op("Concat", head, middle, tail, axis_i=0)
    return g.op("Reshape", x, shape)


def _tensor_split(g: Any, x: Any, indices: Any, dim: Any, _outputs: int | None = None) -> Any:
    """``torch.tensor_split(x, [i, j, ...], dim)`` at indices computed in the graph (a length),
    as one Slice per part: the exporter's own builds a Loop over a sequence there, whose parts
    have no rank, and the next transpose is refused ("ONNX export of transpose for tensor of
    unknown rank": Jamba's Mamba mixer splits at its effective sequence length). Constant
    indices and a count of sections go to the exporter's own."""
    from torch.onnx import symbolic_helper as sh
    from torch.onnx._internal.torchscript_exporter import symbolic_opset13

    node = getattr(g, "original_node", None)
    unpacked = (
        node is not None
        and node.outputsSize() == 1
        and all(u.user.kind() == "prim::ListUnpack" for u in node.output().uses())
    )
    if not sh._is_packed_list(indices) or (_outputs is None and not unpacked):
        return symbolic_opset13.tensor_split(g, x, indices, dim, _outputs)
    bounds = sh._unpack_list(indices)
    if _outputs is not None and len(bounds) + 1 != _outputs:
        return symbolic_opset13.tensor_split(g, x, indices, dim, _outputs)
    axis = _constant(g, [sh._get_const(dim, "i", "dim")])
    one = _constant(g, [1])
    start, parts = _constant(g, [0]), []
    for b in bounds:
        end = g.op("Reshape", g.op("Cast", b, to_i=onnx.TensorProto.INT64), one)
        parts.append(g.op("Slice", x, start, end, axis))
        start = end
    last = _constant(g, [2**63 - 1])
    parts.append(g.op("Slice", x, start, last, axis))
    # unpacked by the ListUnpack after it, which hands on the parts themselves, ranks kept
    return parts if _outputs is not None else g.op("prim::ListConstruct", *parts)


_HYPERBOLIC_OPSET = 9  # Sinh, Cosh, Asinh, Acosh, Atanh
# torch's hyperbolic functions, which the TorchScript exporter has none of, and ONNX's ops
# (Moonshine's streaming encoder compresses its frames' energy with asinh: "Exporting the
# operator 'aten::asinh' to ONNX opset version 17 is not supported")
_HYPERBOLIC = {"sinh": "Sinh", "cosh": "Cosh", "asinh": "Asinh", "acosh": "Acosh", "atanh": "Atanh"}


def _unary(op: str) -> Any:
    """The symbolic of a one-input torch function that is the ONNX op ``op``."""

    def symbolic(g: Any, x: Any) -> Any:
        return g.op(op, x)

    return symbolic


_EXPM1_OPSET = 15  # CastLike


def _expm1(g: Any, x: Any) -> Any:
    """``torch.expm1``, which the TorchScript exporter has no function for (Apertus's xIELU
    activation, ``expm1(min(x, eps)) - x`` for negative x: "Exporting the operator
    'aten::expm1' to ONNX opset version 17 is not supported"): ``Exp(x) - 1``, as the dynamo
    exporter writes it, the 1 of x's type."""
    return g.op("Sub", g.op("Exp", x), g.op("CastLike", _constant(g, 1.0), x))


_SOLVE_OPSET = 14  # Trilu
_SOLVE_DOUBLINGS = 12  # (I + N)^-1 exact for C <= 2^12


def _solve_triangular(
    g: Any, a: Any, b: Any, upper: Any, left: Any = True, unitriangular: Any = False
) -> Any:
    """``torch.linalg.solve_triangular(A, B, upper=..., unitriangular=True)`` (A X = B, the
    diagonal taken for ones), which the TorchScript exporter has no function for and ONNX no
    op: Qwen3.5's and OLMo Hybrid's gated delta rule solve each chunk's UT system so ("Exporting
    the operator 'aten::linalg_solve_triangular' to ONNX opset version 17 is not supported").
    With N the strict triangle of A (nilpotent: N^C = 0 for C x C), (I + N)^-1 is the sum of
    (-N)^k for k < C, written as the product of (I + (-N)^(2^j)) for j < 12: 22 MatMuls of C x
    C, then one with B, for any C up to 4096 (the factors past ceil(log2 C) are I, as (-N)^(2^j)
    is 0 there): the exporter does not know C where the chunks are cut by a computed Reshape,
    as Qwen3.5's are. Only a unit diagonal and A on the left; otherwise the export stops,
    naming what it met."""
    from torch.onnx import symbolic_helper as sh

    is_upper = bool(sh._get_const(upper, "b", "upper"))
    on_left = bool(sh._maybe_get_const(left, "b"))
    unit = bool(sh._maybe_get_const(unitriangular, "b"))
    if not (unit and on_left):
        raise RuntimeError(
            "linalg_solve_triangular exported only with unitriangular=True and left=True "
            f"(got unitriangular={unit}, left={on_left})"
        )
    strict = g.op("Trilu", a, _constant(g, 1 if is_upper else -1), upper_i=int(is_upper))
    power = g.op("Neg", strict)
    square = g.op("Slice", g.op("Shape", a), _constant(g, [-2]), _constant(g, [2**62]))
    eye = g.op("CastLike", g.op("EyeLike", g.op("ConstantOfShape", square)), a)  # C x C
    inverse = g.op("Add", eye, power)
    for _ in range(1, _SOLVE_DOUBLINGS):
        power = g.op("MatMul", power, power)
        inverse = g.op("MatMul", inverse, g.op("Add", eye, power))
    return g.op("MatMul", inverse, b)


_TAKE_OPSET = 13  # GatherElements, Expand, Max of int64 shapes


def _take_along_dim(g: Any, x: Any, indices: Any, dim: Any = None) -> Any:
    """``torch.take_along_dim(x, indices, dim)``: a GatherElements along ``dim`` of both
    broadcast against each other at every other axis (they have one rank), as torch does; with
    no dim, of both flattened. PP-DocLayout-V2 sorts its boxes and scores so before its reading
    order: its archive stopped at "Exporting the operator 'aten::take_along_dim' to ONNX opset
    version 17 is not supported"."""
    from torch.onnx import symbolic_helper as sh

    const = functools.partial(_constant, g)
    if sh._is_none(dim):
        flat = [g.op("Reshape", t, const([-1])) for t in (x, indices)]
        return g.op("GatherElements", *flat, axis_i=0)
    rank = sh._get_tensor_rank(x)
    if rank is None:
        raise RuntimeError("take_along_dim of a tensor of unknown rank has no ONNX function")
    axis = sh._get_const(dim, "i", "dim") % rank
    at = const([k == axis for k in range(rank)])
    sizes = [g.op("Shape", t) for t in (x, indices)]
    widest = g.op("Max", *sizes)  # broadcast sizes are equal or 1
    x, indices = (
        g.op("Expand", t, g.op("Where", at, s, widest))
        for t, s in zip((x, indices), sizes, strict=True)
    )
    return g.op("GatherElements", x, indices, axis_i=axis)


_HISTC_OPSET = 15  # CastLike (and ReduceSum's axes an input)


def _histc(g: Any, x: Any, bins: Any, low: Any, high: Any) -> Any:
    """``torch.histc`` with its range given: the count of ``x``'s values in each of ``bins``
    equal bins over [low, high] (the last one closed; values outside left out), as torch
    places them, ``(x - low) * bins / (high - low)`` rounded down. ``transformers`` counts the
    tokens each expert takes so (``grouped_mm_experts_forward``): Mixtral's, Qwen2-MoE's, OLMoE's
    archives stopped at "Exporting the operator 'aten::histc' to ONNX opset version 17 is not
    supported". A range left to the data (low == high) is refused as the exporter did."""
    import torch
    from torch.onnx import symbolic_helper as sh

    count = sh._get_const(bins, "i", "bins")
    lo, hi = sh._get_const(low, "f", "min"), sh._get_const(high, "f", "max")
    if not hi > lo:
        raise RuntimeError("histc over the data's own range (min == max) has no ONNX function")
    flat = g.op("Reshape", x, _constant(g, [-1, 1]))
    flat = g.op("Cast", flat, to_i=onnx.TensorProto.FLOAT)  # counted in float32
    at = g.op(
        "Div",
        g.op(
            "Mul",
            g.op("Sub", flat, _constant(g, lo)),
            _constant(g, float(count)),
        ),
        _constant(g, hi - lo),
    )
    at = g.op("Min", g.op("Floor", at), _constant(g, float(count - 1)))
    inside = g.op(
        "And",
        g.op("GreaterOrEqual", flat, _constant(g, lo)),
        g.op("LessOrEqual", flat, _constant(g, hi)),
    )
    hits = g.op(
        "And",
        g.op("Equal", at, g.op("Constant", value_t=torch.arange(count, dtype=torch.float32))),
        inside,
    )
    counts = g.op(
        "ReduceSum",
        g.op("Cast", hits, to_i=onnx.TensorProto.FLOAT),
        _constant(g, [0]),
        keepdims_i=0,
    )
    return g.op("CastLike", counts, x)


def _grouped_mm(g: Any, x: Any, w: Any, offs: Any, bias: Any, out_dtype: Any) -> Any:
    """``torch._grouped_mm(x, w, offs=offs)`` of 2-D rows and 3-D weights (``grouped_mm_nodes``).
    ``transformers``' experts run each expert's tokens so (``grouped_mm_experts_forward``,
    after ``histc`` counts them). Other forms (3-D rows, a bias, an out dtype) are refused as
    the exporter did."""
    from torch.onnx import symbolic_helper as sh

    from rewriter.frontends.pt2._convert import grouped_mm_nodes

    if (
        sh._get_tensor_rank(x) != 2
        or sh._get_tensor_rank(w) != 3
        or sh._is_none(offs)
        or not sh._is_none(bias)
        or not sh._is_none(out_dtype)
    ):
        raise RuntimeError("_grouped_mm other than 2-D rows by 3-D weights with offs")

    return grouped_mm_nodes(_node_adder(g), functools.partial(_constant, g), x, w, offs)


def _node_adder(g: Any) -> Callable[..., Any]:
    """``op(name, *inputs, **attributes)`` adding a node to the exporter's graph ``g``, the
    attributes given the type suffixes it wants (``axis_i``, ``mode_s``): what the shared
    builders (``searchsorted_nodes``, ...) take for either exporter."""

    def op(name: str, *xs: Any, **attrs: Any) -> Any:
        typed = {f"{k}_{'i' if isinstance(v, int) else 's'}": v for k, v in attrs.items()}
        return g.op(name, *xs, **typed)

    return op


_ATTENTION_OPSET = 14  # the exporter's own is registered from 14


def _attention(
    g: Any,
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: Any = 0.0,
    is_causal: Any = False,
    scale: Any = None,
    enable_gqa: Any = False,
) -> Any:
    """``F.scaled_dot_product_attention`` with ``enable_gqa=True`` (grouped-query attention:
    fewer key/value heads than query heads, EXAONE 4.5's and LFM3-VL's vision towers), which
    the exporter's own refuses ("conversion of scaled_dot_product_attention not implemented if
    enable_gqa is True"): each key/value head repeated for its group of query heads along dim
    -3, as torch does (``repeat_interleave(q_heads // kv_heads, -3)``), then the exporter's own
    attention."""
    from torch.onnx import symbolic_helper as sh
    from torch.onnx import symbolic_opset14

    if sh._maybe_get_const(enable_gqa, "b"):
        q, k = sh._get_tensor_sizes(query), sh._get_tensor_sizes(key)
        if not q or not k or len(q) != len(k) or len(k) < 3 or None in (q[-3], k[-3]):
            raise RuntimeError("grouped-query attention at an unknown number of heads")
        # a Gather of each query head's key/value head: [0, 0, 1, 1] for 4 heads over 2
        heads = _constant(g, [h * k[-3] // q[-3] for h in range(q[-3])])
        key, value = (g.op("Gather", x, heads, axis_i=len(k) - 3) for x in (key, value))
    return symbolic_opset14.scaled_dot_product_attention(
        g, query, key, value, attn_mask, dropout_p, is_causal, scale, False
    )


_INDEX_ADD_OPSET = 16  # ScatterND's reduction


def _index_add(g: Any, x: Any, dim: Any, index: Any, source: Any, alpha: Any = None) -> Any:
    """``Tensor.index_add`` as a ScatterND that adds (``dim`` moved first and back): every
    slice of ``source`` added at its index, repeated indices summed, as torch does. The
    exporter's own writes a Scatter that keeps one of the repeated ones ("this will cause the
    ONNX model to be incorrect") and refuses a source longer than ``x`` along ``dim``: a
    mixture of experts' outputs summed back into their tokens (JetMoE's archive stopped at "ONNX
    export does not support exporting 'index_add_()' function with duplicated values")."""
    from torch.onnx import symbolic_helper as sh

    axis = sh._get_const(dim, "i", "dim")
    rank = sh._get_tensor_rank(x)
    if axis < 0 or axis > 0:
        if rank is None:
            raise RuntimeError("index_add along a dim other than the first, of unknown rank")
        axis %= rank
    if not sh._is_none(alpha) and sh._scalar(sh._maybe_get_scalar(alpha)) != 1:
        source = g.op("Mul", source, g.op("CastLike", alpha, source))
    index = g.op("Cast", index, to_i=onnx.TensorProto.INT64)
    perm = [axis] + [k for k in range(rank or 1) if k != axis]
    if axis:
        x, source = g.op("Transpose", x, perm_i=perm), g.op("Transpose", source, perm_i=perm)
    out = g.op("ScatterND", x, sh._unsqueeze_helper(g, index, [1]), source, reduction_s="add")
    if axis:
        out = g.op("Transpose", out, perm_i=[perm.index(k) for k in range(len(perm))])
    return out


_RMS_NORM_OPSET = 13  # ReduceMean's axes an attribute before opset 18, an input from it


def _rms_norm(g: Any, x: Any, normalized_shape: Any, weight: Any, eps: Any) -> Any:
    """``torch.nn.RMSNorm`` / ``F.rms_norm`` (``aten::rms_norm``), which the TorchScript exporter
    has no function for before ONNX's RMSNormalization (opset 23, past what it writes): ``x``
    over the root mean square of its last ``len(normalized_shape)`` dims plus ``eps`` (the
    dtype's machine epsilon where none is given, as torch takes it), times ``weight``. Half
    inputs are normalized in float32 and cast back, as torch computes them. ``transformers``'
    DiffLlama calls it; its archive stopped at "Exporting the operator 'aten::rms_norm' to ONNX
    opset version 17 is not supported"."""
    import torch
    from torch.onnx import symbolic_helper as sh

    _type_utils = sh._type_utils  # the exporter's scalar types (no public name in torch 2.13)
    dims = sh._get_const(normalized_shape, "is", "normalized_shape")
    axes = list(range(-len(dims), 0))
    kind = _type_utils.JitScalarType.from_value(x, _type_utils.JitScalarType.FLOAT)
    half = kind in (_type_utils.JitScalarType.HALF, _type_utils.JitScalarType.BFLOAT16)
    if sh._is_none(eps):  # of the type it is computed in
        value = float(torch.finfo(torch.float32 if half else kind.dtype()).eps)
    else:
        value = float(sh._get_const(eps, "f", "eps"))
    y = g.op("Cast", x, to_i=onnx.TensorProto.FLOAT) if half else x
    square = g.op("Mul", y, y)
    if g.opset >= 18:
        mean = g.op("ReduceMean", square, _constant(g, axes), keepdims_i=1)
    else:
        mean = g.op("ReduceMean", square, axes_i=axes, keepdims_i=1)
    scale = g.op(
        "Constant", value_t=torch.tensor(value, dtype=torch.float32 if half else kind.dtype())
    )
    y = g.op("Div", y, g.op("Sqrt", g.op("Add", mean, scale)))
    if half:
        y = g.op("Cast", y, to_i=kind.onnx_type())
    return y if sh._is_none(weight) else g.op("Mul", y, weight)


def _cumsum(g: Any, x: Any, dim: Any, dtype: Any) -> Any:
    """``aten::cumsum`` as the TorchScript exporter writes it, but a bool or narrow integer
    input summed as int64, as torch does: the exporter feeds a bool to CumSum, which ONNX
    Runtime refuses at load (``transformers``' test for packed sequences, ``(diff !=
    1).cumsum(-1)``, in every traced decoder: Whisper's archive)."""
    from torch.onnx import symbolic_helper as sh

    _type_utils = sh._type_utils  # the exporter's scalar types (no public name in torch 2.13)
    axis = _constant(g, sh._get_const(dim, "i", "dim"))
    if not sh._is_none(dtype):
        to = _type_utils.JitScalarType(sh._get_const(dtype, "i", "dtype"))
        x = g.op("Cast", x, to_i=to.onnx_type())
    else:
        kind = _type_utils.JitScalarType.from_value(x, _type_utils.JitScalarType.UNDEFINED)
        narrow = {
            _type_utils.JitScalarType.BOOL,
            _type_utils.JitScalarType.UINT8,
            _type_utils.JitScalarType.INT8,
            _type_utils.JitScalarType.INT16,
            _type_utils.JitScalarType.INT,
        }
        if kind in narrow:
            x = g.op("Cast", x, to_i=_type_utils.JitScalarType.INT64.onnx_type())
    return g.op("CumSum", x, axis)


def _diff(g: Any, x: Any, n: Any, dim: Any, prepend: Any, append: Any) -> Any:
    """``torch.diff`` (``aten::diff``), which the TorchScript exporter has no function for:
    ``prepend`` and ``append`` joined along ``dim``, then ``n`` times the difference of the
    slices [1:] and [:-1]. ``transformers`` calls it on every traced decoder's positions (its
    test for packed sequences, ``masking_utils``): Whisper's archive stopped at "Exporting the
    operator 'aten::diff' to ONNX opset version 17 is not supported"."""
    from torch.onnx import symbolic_helper as sh

    steps, axis = sh._get_const(n, "i", "n"), sh._get_const(dim, "i", "dim")
    if not sh._is_none(prepend):
        x = g.op("Concat", prepend, x, axis_i=axis)
    if not sh._is_none(append):
        x = g.op("Concat", x, append, axis_i=axis)

    def part(start: int, end: int) -> Any:
        bounds = [_constant(g, [v]) for v in (start, end, axis)]
        return g.op("Slice", x, *bounds)

    for _ in range(steps):
        x = g.op("Sub", part(1, 2**63 - 1), part(0, -1))
    return x


_REDUCE_OPSET = 13  # ReduceSum's axes an input (searchsorted); the others by opset (_reduced)


def _searchsorted(
    g: Any,
    sorted_sequence: Any,
    values: Any,
    out_int32: Any,
    right: Any,
    side: Any = None,
    sorter: Any = None,
) -> Any:
    """``aten::searchsorted``, which the TorchScript exporter has no function for, in ONNX ops
    (``searchsorted_nodes``, as the dynamo conversion writes it)."""
    from torch.onnx import symbolic_helper as sh

    from rewriter.frontends.pt2._convert import searchsorted_nodes

    if sorter is not None and not sh._is_none(sorter):
        sorted_sequence = g.op("GatherElements", sorted_sequence, sorter, axis_i=-1)
    after = bool(sh._maybe_get_const(right, "b")) or (
        side is not None and not sh._is_none(side) and sh._maybe_get_const(side, "s") == "right"
    )
    const = functools.partial(_constant, g)
    found = searchsorted_nodes(_node_adder(g), const, sorted_sequence, values, after)
    if bool(sh._maybe_get_const(out_int32, "b")):
        return g.op("Cast", found, to_i=onnx.TensorProto.INT32)
    return found


def _reduced(g: Any, name: str, data: Any, axis: int) -> Any:
    """A reduction over one axis, not kept: its axes an attribute up to opset 17, an input
    from 18 (an archive with an antialiased resize exports at 18)."""
    if g.opset >= 18:
        return g.op(name, data, _constant(g, [axis]), keepdims_i=0)
    return g.op(name, data, axes_i=[axis], keepdims_i=0)


def _cumulative(largest: bool) -> Callable[..., Any]:
    """``aten::cummax`` (``aten::cummin``), which the TorchScript exporter has no function for,
    in ONNX ops (``cumulative_nodes``, as the dynamo conversion writes them): values and
    indices."""

    def symbolic(g: Any, x: Any, dim: Any) -> Any:
        from torch.onnx import symbolic_helper as sh

        from rewriter.frontends.pt2._convert import cumulative_nodes

        rank = sh._get_tensor_rank(x)
        if rank is None:
            raise RuntimeError(f"{'cummax' if largest else 'cummin'} of a tensor of unknown rank")

        const, reduce = functools.partial(_constant, g), functools.partial(_reduced, g)
        at = sh._get_const(dim, "i", "dim")
        return cumulative_nodes(_node_adder(g), const, reduce, x, at, rank, largest)

    return symbolic


def _isin(g: Any, elements: Any, test_elements: Any, assume_unique: Any = None, invert: Any = None) -> Any:  # fmt: skip
    """``aten::isin``, which the TorchScript exporter has no function for (MM Grounding DINO's
    special tokens): each element equal to any of the test elements (flattened), or to none
    with ``invert``."""
    from torch.onnx import symbolic_helper as sh

    flat = g.op("Reshape", test_elements, _constant(g, [-1]))
    same = g.op("Equal", g.op("Unsqueeze", elements, _constant(g, [-1])), flat)
    hits = _reduced(g, "ReduceMax", g.op("Cast", same, to_i=onnx.TensorProto.INT32), -1)
    found = g.op("Cast", hits, to_i=onnx.TensorProto.BOOL)
    if invert is not None and not sh._is_none(invert) and sh._maybe_get_const(invert, "b"):
        return g.op("Not", found)
    return found


_EYE_OPSET = 9
_BOOL_SCALAR_TYPE, _INT64_SCALAR_TYPE = 11, 4  # torch's ScalarType indices


def _eye(g: Any, *args: Any) -> Any:
    """``aten::eye`` as the exporter writes it, but a boolean one as an int64 ``EyeLike`` cast
    to bool: ONNX Runtime has no boolean ``EyeLike`` (MM Grounding DINO's archive: "Could not
    find an implementation for EyeLike(9)")."""
    from torch.onnx import symbolic_helper as sh
    from torch.onnx import symbolic_opset9

    at = 1 if len(args) == 5 else 2
    dtype = args[at] if len(args) in (5, 6) else None
    if dtype is None or sh._is_none(dtype) or sh._maybe_get_const(dtype, "i") != _BOOL_SCALAR_TYPE:
        return symbolic_opset9.eye(g, *args)
    ints = list(args)
    ints[at] = _INT64_SCALAR_TYPE
    return g.op("Cast", symbolic_opset9.eye(g, *ints), to_i=onnx.TensorProto.BOOL)


_ERFINV_OPSET = 15  # CastLike


def _erfinv(g: Any, x: Any) -> Any:
    """``aten::erfinv``, which the TorchScript exporter has no function for, in ONNX ops
    (``erfinv_nodes``, as the dynamo conversion writes it)."""

    def const(v: float) -> Any:
        return g.op("CastLike", _constant(g, v), x)

    return erfinv_nodes(lambda name, *xs: g.op(name, *xs), const, x)


def _export(
    module: Any, args: list[_Arg], example: Mapping[str, np.ndarray], outputs: int, path: str
) -> tuple[onnx.ModelProto, str | None]:
    """The module through the TorchScript exporter; inputs named as ``forward``'s arguments,
    outputs ``output`` (``output_0``, ``output_1``, ... when several); and, when the exporter
    could not keep the free dims dynamic, the line that says which and why (None when it could).

    The exporter sees a traced graph that ran at one size, and some of what it wrote there only
    exports at fixed sizes: an adaptive pooling whose output size follows a dynamic dim, a
    ``squeeze`` of a dim it cannot tell is 1 (it writes an ``If``, after which a ``transpose``
    has no rank; PaddleOCR's recognizer). Then once more with the batch alone dynamic, then with
    nothing dynamic: a model at the example's sizes is what ``--input-shapes`` would give, and
    every later step reads its inputs' sizes from the export. ``args``' ``dynamic`` says what
    was kept."""
    import tempfile

    import torch

    asked = {a.name: dict(a.dynamic) for a in args if a.dynamic}
    batch = {n: {k: d for k, d in dims.items() if d == "batch"} for n, dims in asked.items()}
    tries = [asked, {n: dims for n, dims in batch.items() if dims}, {}]
    tries = [t for k, t in enumerate(tries) if t not in tries[:k]]  # each once: all, batch, none
    first = ""
    opset, squeezed, frozen = OPSET, False, False
    with tempfile.TemporaryDirectory(prefix=scratch_prefix("torchscript")) as tmp:
        dest = os.path.join(tmp, "model.onnx")  # a file: a model over 2 GiB goes beside it
        names = ["output"] if outputs == 1 else [f"output_{k}" for k in range(outputs)]
        k = 0
        while True:
            dynamic = tries[k]
            try:
                with quiet(), _symbolics(squeezed):
                    torch.onnx.export(
                        module,
                        tuple(_call_args(module, ((a.name, example[a.name]) for a in args))),
                        dest,
                        dynamo=False,
                        opset_version=opset,
                        input_names=[a.name for a in args],
                        output_names=names,
                        dynamic_axes={n: d for n, d in dynamic.items() if d},
                    )
                for a in args:
                    a.dynamic = dict(dynamic.get(a.name, {}))
                if not first:
                    return onnx.load(dest), None
                lost = {d for ds in asked.values() for d in ds.values()}
                lost -= {d for ds in dynamic.values() for d in ds.values()}
                return onnx.load(dest), (
                    f"the exporter could not keep {', '.join(sorted(lost))} dynamic ({first}): "
                    "exported at the sizes above; pass --input-shapes NAME:DIMS for the sizes "
                    "you run"
                )
            except Exception as e:
                # "Exporting the operator 'aten::col2im' to ONNX opset version 17 is not
                # supported. Support for this operator was added in version 18" (MobileViTV2's
                # fold): once more at the opset named, within what the exporter writes
                named = re.search(r"added in version (\d+)", str(e))
                if named and opset < int(named.group(1)) <= _MAX_OPSET:
                    opset = int(named.group(1))
                    continue
                if opset < _ANTIALIAS_OPSET and any(op in str(e) for op in _ANTIALIASED):
                    opset = _ANTIALIAS_OPSET  # where Resize antialiases (``_symbolics``)
                    continue
                if not squeezed and "of unknown rank" in str(e):
                    squeezed = True  # a squeeze of a dim of unknown size, taken as a 1
                    continue
                if not frozen and "unknown" in str(e):
                    # the exporter's shape inference lost a tensor's rank or sizes, which a
                    # function it has needs (SAM 3's ViT: "repeat_interleave for unknown input
                    # size", its rotary frequencies made from a buffer whose type the graph
                    # does not carry): the module frozen, its buffers and weights constants
                    # of known shapes, once more
                    frozen = True
                    if (cold := _frozen(module)) is not None:
                        module = cold
                        continue
                where = re.search(r"Occurred when translating (\w+)", str(e))
                # the first line, without the exporter's "[Caused by <a graph>" and "Please
                # feel free to request support" tails
                why = re.split(r"\s+\[Caused by|\.*\s+Please feel free", _first_line(e))[0] + (
                    f" translating {where.group(1)}"
                    if where and where.group(1) not in _first_line(e)
                    else ""
                )
                if k + 1 < len(tries):  # fewer dims dynamic: what the exporter can write
                    first, k = first or why, k + 1
                    continue
                raise ModelError(
                    f"{path}: torch.onnx {torch.__version__} cannot export the TorchScript "
                    f"module{f' at opset {opset}' if opset != OPSET else ''} ({why}); export "
                    "the Python module instead (torch.onnx.export(module, (x,), 'model.onnx', "
                    "dynamo=True)) and rewrite model.onnx"
                ) from None


def _frozen(module: Any) -> Any:
    """``torch.jit.freeze`` of the module (attributes inlined as constants), or None where it
    cannot be frozen."""
    import torch

    try:
        with quiet():
            return torch.jit.freeze(module)
    except Exception:  # noqa: BLE001 - a module freeze refuses keeps its own export error
        return None


def export_check(path: str) -> None:
    """Called when no inputs run the converted model: ONNX Runtime loads the export and runs it
    at the example the module ran on, else one line says that the export is what fails there
    (the module took those inputs, so no other size and no ``--input-shapes`` can help: CANINE's
    and Longformer's TorchScript exports). Returns where it runs there, or where ONNX Runtime
    runs out of memory at that size (PyTorch's attention may take less: a diffusion UNet's at
    224x224), and the caller's own line stands."""
    import warnings

    from rewriter.ir.io import load_model
    from rewriter.ir.runtime import failure_site, run_failure, run_session, session

    conv, _, example = load(path)
    with warnings.catch_warnings():  # its notes are said when the command loads it
        warnings.simplefilter("ignore")
        model = load_model(conv.model)  # as every command reads it (a perm counted from 0, ...)
    inits = {t.name for t in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in inits and i.name in example]
    try:
        sess = session(model, what="the TorchScript exporter's model of it")
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from None
    try:
        run_session(sess, {n: example[n] for n in names})
    except Exception as e:  # noqa: BLE001 - ONNX Runtime's run errors have no common type
        if "Failed to allocate memory" in failure_site(str(e))[2]:
            return
        at = ", ".join(f"{n} {'x'.join(map(str, example[n].shape))}" for n in names)
        raise ModelError(
            f"{path}: the module runs at {at} in PyTorch, but its TorchScript export fails "
            f"there in ONNX Runtime: {run_failure(e)}; the exporter wrote a graph that does "
            "not compute the module, so no other input size helps: export the Python module "
            "instead (torch.onnx.export(module, (x,), 'model.onnx', dynamo=True)) and rewrite "
            "model.onnx"
        ) from None


def source_check(
    path: str,
    converted: onnx.ModelProto,
    rewritten: onnx.ModelProto | None,
    feeds: Mapping[str, np.ndarray],
    source: str = "generated",
) -> SourceCheck:
    """Run the TorchScript module in PyTorch and both ONNX models in ONNX Runtime on ``feeds``;
    its tensor outputs (flattened in order) pair with the ONNX outputs. When the module refuses
    the feeds (a traced module keeps its example's sizes), the example it ran on is used."""
    import torch
    from torch.utils import _pytree as pytree

    conv, module, example = load(path)
    notes = list(conv.notes)
    names = list(example)

    def run(feeds: Mapping[str, np.ndarray]) -> Any:
        # an argument forward does not use is no input of the export (Decision Transformer's
        # rewards): the module still takes one, its example's
        values = ((n, feeds[n] if n in feeds else example[n]) for n in names)
        fresh = _fresh(module, path)  # where it keeps a state: as exported, before any run
        with torch.no_grad(), quiet():
            return fresh(*_call_args(fresh, values))

    try:
        got = run(feeds)
    except Exception as e:  # noqa: BLE001 - sizes it refuses: compare on its own example
        notes.append(
            f"compared on the example the module ran on: it rejects the {source} inputs "
            f"({_first_line(e)})"
        )
        taken = {i.name for i in converted.graph.input}
        feeds = {n: v for n, v in example.items() if n in taken}
        source = "the module's example inputs"
        got = run(feeds)
    ref = [t.numpy() for t in pytree.tree_leaves(got) if isinstance(t, torch.Tensor)]
    outs = [o.name for o in converted.graph.output]
    if len(ref) != len(outs):
        raise ModelError(
            f"{path}: the module returns {len(ref)} tensors, the converted model {len(outs)} "
            "outputs; they cannot be paired to compare the two"
        )
    return compare_with_source(
        ref, converted, rewritten, feeds, source,
        kind="torchscript", runtime="PyTorch", converter=conv.converter, notes=notes,
        limit=TORCH_CONVERSION_LIMIT,
    )  # fmt: skip
