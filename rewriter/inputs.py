"""Inputs a model accepts, derived from its graph: sizes probed with ONNX Runtime, values read off.

Verification, the cost model, the accuracy map and fine-tuning all run the user's model; when the
user gives no ``--inputs data.npz`` this module makes feeds the model accepts and that exercise
its activations, and says per input how it got them (``GeneratedInputs.notes``). Naive feeds
(dynamic dims 2, integer inputs random in [0, 4)) break real models: a 2-row token-type
Gather, a 2x2 image into a stride-32 detector, a reflect-Pad of 32, a GRU's ``sequence_lens``
beyond the sequence, a VAD branching on ``sr == 16000`` (DESIGN.md section 9).

Algorithm, in three steps:

1. Values, from the graph. Each integer or bool input is followed forward through ops that
   carry its values on unchanged (Cast, Unsqueeze, Squeeze, Reshape, Flatten, Expand, Identity,
   Transpose, Slice, Concat, Tile, Gather's data, Add/Sub, Where's branches, Min/Max, Clip,
   ReduceMax/ReduceMin), also into If/Loop/Scan bodies, and its uses decide its values, first
   rule that applies:

   * ``--val-range name:[lo,hi]``: uniform in [lo, hi] (integers: lo..hi inclusive).
   * a NonMaxSuppression setting (an end-to-end detector's ``iou_threshold`` input): 100 boxes
     per class, IoU 0.45, score 0.25, as deployments pass.
   * compared with constants (Equal/Less/Greater/...): filled with the first constant, so the
     branch the model was exported for runs (a VAD's ``sr == 16000``).
   * a sequence length (GRU/LSTM/RNN ``sequence_lens``, Range's limit, Slice's ends): the
     sequence size (the recurrent node's X dim when X is an input, else the sequence dims).
   * indices of a Gather whose table is a constant: uniform in [0, rows) (rows = the table's
     size on the Gather axis, less the largest constant the model adds to them first: Kyutai
     offsets each codebook's ids into one table; the smallest table when it reaches several).
     Out-of-range ids error in ONNX Runtime and return zero rows in others: both hide what the
     model does. Ids that are also compared with a constant (CLIP's EOS id) end each row in it
     when the table holds it.
   * positions (``position_ids``, ``pos``): 0, 1, ... along the last axis, after a KV cache's
     length when the model has one (a decoder step's new token sits after the cache).
   * a shape operand: ones for Expand's shape, Tile's repeats, ConstantOfShape and Resize's
     scales (valid for any input), 0, ..., -1 for Reshape's shape (leading dims kept, the rest
     flattened).
   * Resize's output sizes: 224, a typical image size.
   * a mask (name contains "mask", a bool input, or an int that reaches Mul/Where after a Cast):
     ones (everything attended, every branch condition true); zeros where ones make an output
     NaN (PyTorch's ``key_padding_mask`` is true where a token is padding).
   * 8-bit integers of rank 3 or more cast or dequantized to float (a uint8 camera frame, a
     full-integer TFLite model's input), or of any rank scaled by 1/255 (a grayscale image):
     their whole range. 16-bit ones cast to float (PCM audio): a normal signal at a tenth of
     full scale.
   * any other integer: uniform in {0, 1}: 0 and 1 index any axis of size >= 2, are valid flags
     and counts, and still vary; larger values are the ones that overflow unknown tables.
     Rows of two named as an image's size (``image_sizes``) hold the height and width of the
     image beside them, and named as a patch grid (``spatial_shapes``) the most square rows and
     columns of the flattened patches beside them: no op tells their values. Rows of three
     named so (``grid_thw``) are one frame and even rows and columns of the patches of all
     images laid end to end beside them ([patches, features], a Qwen-VL vision tower's).

   Float inputs: those the model casts to sizes or indices (SAM's ``orig_im_size``) get the
   values above, one named mask (a time series' ``past_observed_mask``) ones as masks do, and
   one the model scales by 1/255 (Keras's ``Rescaling``) is pixels in [0, 255); the others
   seeded standard normal (``--val-range`` replaces it with uniform [lo, hi]); the bulk of it
   falls where activations bend (|x| < 3) without saturating. One that reaches Log, Sqrt or
   Reciprocal through elementwise ops (``log(x + eps)`` of a spectrogram) is uniform in [0, 1):
   normal values made its outputs NaN. State inputs are zeros, as at the first step of
   a sequence: a KV cache (past/cache in the name, and an output of its rank to be its next
   step: a time series' ``past_values`` is data), an input named like h0/c0/state/memory that
   an output could be (same dtype, rank and known dims: a VAD's ``state`` -> ``stateN``; an
   encoder's ``encoder_hidden_states`` is data), or one with the dtype and dims of an output
   whose name is its own and a step (``h``/``h_n``, ``carry``/``carry_out``; not
   ``actions``/``action_preds``), one input per output, while another float input carries the
   data. A model whose every input reads as a state reads them as its data (a vision tower
   exported alone takes its patches as ``hidden_states``).

2. Sizes, from ``dim_param`` names. Dims sharing a name get one size. A name says what the dim
   is, and its candidates start at the size a deployment typically runs, because the cost model
   measures sites at these sizes (a detector planned at 32x32 is planned for nobody): batch/N ->
   [1, 2] (and images/num_images, a count of images); sequence/seq/len/time/tokens/patches ->
   [128, 64, 32, 16, 256, 512]; height/width -> [224,
   256, 320, 640, 128, 64, 32] (multiples of 32 for stride-32 nets; a YOLO's own ``imgsz``
   metadata first); samples/audio -> [16000 (one second at 16 kHz), 8000, 4096, ..., 16];
   nodes/atoms (a GNN's) -> the sequence sizes; points/boxes/prompts/queries/choices -> [4, 1, 2, 8,
   ...] (a few clicks, so a SAM's codes mix); axes 2-4 of a 5-d float input not named as
   something else (a volume's D, H, W) -> [96, 128, 64, 32, 16]; an
   unnamed dim (``s27``, ``unk__3``) held by an input named as prompts (point, box, click,
   coord: SAM 2's dynamo export) and by no token input is a prompts' dim; otherwise it
   guesses from its position (axis 0 batch; axes 2-3 of a
   4-d float or uint8 input spatial, axes 1-2 when its last dim is a few channels (NHWC); axis 1 of a
   2-d float input and axis 2 of a [batch, 1, N] one samples; axes 1-2 of another 3-d float
   input and axis 1 of an integer input sequence), else [1, 2, 4, ..., 1024].
   ``--input-shapes`` fixes an input's shape and every dim name in it.

3. Probing. One ONNX Runtime session; configurations run in candidate order (summed index into
   each dim's candidates; batch dims last, since a bigger batch rarely fixes a failure), at most
   ``_MAX_PROBES`` of them, generated lazily. The first one that runs and gives
   non-degenerate outputs (finite, and not every multi-element output constant) is kept; if all
   that run are degenerate the first that ran is kept and the notes say so. None running raises
   ``InputError`` naming the input that reaches the failing node, that node, and the flags that
   fix it (the input that chose the If branch, when the node is inside one). Sizes the failures
   name are tried next (``_probes``): ONNX Runtime's messages ("8 by 128"), and where a graph
   baked a size at export, the node's own constants: a failing Split's sizes add up to the axis
   it cuts, and a failing Gather's indices scale the probe to the rows they need. A small model
   probes in milliseconds (the zoo: 1-35 ms each, session included); nothing is cached on disk.
   ONNX Runtime is silenced: the default logger at 3 as elsewhere, but sessions and runs at 4,
   because 3 still prints one ExecuteKernel error line per failed probe (measured, ORT 1.32).

Example:
    >>> gen = generate_inputs(onnx.load("bert.onnx"))  # doctest: +SKIP
    >>> print("\\n".join(gen.notes))  # doctest: +SKIP
    input_ids: int64 1x128, uniform in [0, 1000) (rows of Gather '/embeddings/word_embeddings/Gather'); batch=1, sequence=128 (probed)
    attention_mask: int64 1x128, ones (mask: name); batch=1, sequence=128 (probed)
    token_type_ids: int64 1x128, uniform in [0, 2) (rows of Gather '/embeddings/token_type_embeddings/Gather'); batch=1, sequence=128 (probed)
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import fractions
import functools
import importlib.util
import itertools
import json
import logging
import math
import os
import re
import sys
import zlib
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from rewriter.errors import ModelError, UsageError
from rewriter.ir.graph import ValueInfo, ValueInfoTable, infer_value_info, subgraph_attrs
from rewriter.ir.runtime import constant_failure, failure_site, run_session, session
from rewriter.procs import survived

__all__ = [
    "GeneratedInputs",
    "InputError",
    "generate_inputs",
    "parse_input_shapes",
    "parse_val_ranges",
]

_MAX_PROBES = 64
_MAX_HINT_PROBES = 24  # more runs, at the sizes the failures' messages named
# Candidates, the size a deployment typically runs first (sites are measured at these sizes, so
# a plan made from generated inputs is made at a size users run, not at the smallest that
# runs), then smaller ones (tables shorter than that, a fixed chunk), then larger ones.
_BATCH = [1, 2]
_SEQUENCE = [128, 64, 32, 16, 256, 512]
# the new tokens of a model with a state input (a KV cache): 1 after 128 and 64, for a decoder
# step traced with one token (only there: elsewhere one token ran by luck with ids out of a
# table's range); last, an encoder-decoder step with four free dims never got to it
_STEP = [*_SEQUENCE[:2], 1, *_SEQUENCE[2:]]
_SPATIAL = [224, 256, 320, 640, 128, 64, 32]
_SAMPLES = [16000, 8000, 4096, 2048, 1024, 512, 256, 128, 64, 32, 16]
# a volume's depth, height, width (a 3-D segmenter's [batch, 1, D, H, W]): a patch side as
# sliding-window inference runs it, multiples of 16 for four poolings
_VOLUME = [96, 128, 64, 32, 16]
# a clip's frames ([batch, 3, T, H, W] into a Conv3d, or [batch, T, 3, H, W]): VideoMAE and
# ViViT take 16 or 32, TimeSformer and X-CLIP 8 (their height and width are an image's)
_FRAMES = [16, 8, 32, 4, 2]
_ANY = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
_PROMPTS = [4, 1, 2, 8, 16, 32, 64]  # a few clicks or boxes, mixed codes (a point and padding)
# What one run at generated sizes may make: the bytes of every tensor shape inference sizes,
# summed. A VAE decoder's latent at the image size 224 made 86 GiB (output 1792x1792): 11
# minutes, then out of memory; its sizes are halved until a run fits (latent 32 here).
_WORK_LIMIT = 4 * 2**30
# the largest size a failure's message may ask for that a probe tries (a huge one named
# elsewhere in a message is no dim of the input)
_LARGEST_NAMED = 65536
_SAME = "outputs the same on other inputs"
_MAX_SAME = 8  # sizes tried where the outputs ignore the inputs, before taking the first
_BATCH_NAME = r"batch|^n$|^b$|^bs$|^(num_)?images$"
_TOKENS_NAME = r"ids$|mask$|^input_ids|token_type|position"
_PROMPT_NAME = re.compile(r"point|box|prompt|click|coord", re.I)  # an input's name
_CLICK_NAME = re.compile(r"point|click|coord", re.I)  # (x, y) pairs among the prompts
_BOX_NAME = re.compile(r"box", re.I)  # (x0, y0, x1, y1) rows
# an image's (height, width) per row: Pixtral's and LLaVA-NeXT's image_sizes, a detector's
# orig_target_sizes
_IMAGE_SIZES_NAME = re.compile(r"(image|img|orig(inal)?|target)_?(sizes?|hw|shapes?)$", re.I)
# each image's patch grid, rows and columns (SigLIP 2's NaFlex ``spatial_shapes``)
_PATCH_GRID_NAME = re.compile(r"(spatial|patch|grid)_?(shapes?|sizes?|hw)$", re.I)
# each image's frames, rows and columns of patches (the Qwen-VL towers' ``grid_thw``)
_THW_GRID_NAME = re.compile(r"grid_?thw$", re.I)
# each image's spatial merge (VideoLLaMA 3's ``merge_sizes``: 2, its 2x2 patches merged)
_MERGE_SIZES_NAME = re.compile(r"merge_?sizes?$", re.I)
MERGE = 2  # the merge every Qwen-VL-style tower met uses; the grids drawn are even
_KINDS = [  # (regex on the lower-cased dim name, candidates); first match wins
    (_BATCH_NAME, _BATCH),
    (r"seq|len|time|token|step|frame|patch|^t$|^l$", _SEQUENCE),
    (r"height|width|^h$|^w$|^y$|^x$|size|img|image", _SPATIAL),
    (r"sample|audio|wave|signal", _SAMPLES),
    # a graph's nodes or atoms (a GNN's x [nodes, features]): as many as a sequence has tokens
    (r"node|atom|vertex|vertices", _SEQUENCE),
    # prompts a segmenter or detector takes (SAM's points and boxes), a multiple-choice
    # model's choices (they were 128: a sequence's size): a few
    (r"point|box|prompt|quer|choice", _PROMPTS),
]
# ops through which an integer input's values reach a use unchanged (input positions carried)
_CARRY = {
    "Cast": (0,), "Identity": (0,), "Unsqueeze": (0,), "Squeeze": (0,), "Reshape": (0,),
    "Flatten": (0,), "Expand": (0,), "Transpose": (0,), "Slice": (0,), "Tile": (0,),
    "Concat": None, "Gather": (0,), "GatherElements": (0,), "Add": None, "Sub": None,
    "Where": (1, 2), "Min": None, "Max": None, "Clip": (0,), "CastLike": (0,), "Div": (0,),
    "ReduceMax": (0,), "ReduceMin": (0,), "StringNormalizer": (0,), "Tokenizer": (0,),
    "Floor": (0,), "Ceil": (0,), "Round": (0,),
}  # fmt: skip
# attributes that list the strings a node looks up (scikit-learn pipelines: ai.onnx.ml
# encoders, and TfIdfVectorizer's n-gram pool behind a text column's Tokenizer)
_STRING_KEYS = {"keys_strings", "cats_strings", "classes_strings", "pool_strings"}
_COMPARE = {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"}
_BOOLEAN = _COMPARE | {"Not", "And", "Or", "Xor", "IsNaN", "IsInf"}  # ops whose outputs are bool
# (op, input) that take a shape: ones are always valid for these (Expand broadcasts a 1 to
# anything, Tile repeats once, ConstantOfShape makes one element); Reshape's: 0s (copy the
# input's dim) then -1 (the rest)
_SHAPE_OPERANDS = {
    ("Expand", 1), ("Tile", 1), ("ConstantOfShape", 0), ("Reshape", 1), ("Resize", 2),
    ("Upsample", 1),
}  # fmt: skip
# (op, input) that take output sizes: a size an image is typically resized to (SAM's
# ``orig_im_size``, cast to int64 for its last Resize); ones would make a 1x1 output
_SIZE_OPERANDS = {("Resize", 3)}
_RECURRENT = {"GRU", "LSTM", "RNN"}
_TRIPS = 4  # iterations of a Loop whose trip count is an input: its body runs, a few times
_TOP_K = 5  # TopK's K when it is an input: a few items, as a classifier's top-5
# (op, input) -> the value a deployment passes there, and what it is (an end-to-end detector
# that takes its NonMaxSuppression settings as inputs: ONNX Runtime refuses an iou_threshold
# outside [0, 1])
_OPERAND_VALUES = {
    ("NonMaxSuppression", 2): (100, "boxes kept per class"),
    ("NonMaxSuppression", 3): (0.45, "an IoU threshold"),
    ("NonMaxSuppression", 4): (0.25, "a score threshold"),
}
# ops whose operands after the first are sizes, indices or a shape
_OPERAND_OPS = {
    "Resize", "Upsample", "Gather", "GatherElements", "GatherND", "Reshape", "Expand", "Tile",
    "Slice", "Pad", "TopK", "OneHot", "ScatterND", "ScatterElements",
}  # fmt: skip
# ops whose output has their first input's shape: a float input's normalization before its
# first Conv ((x - mean) / std) does not hide the Conv's weights
_SAME_SHAPE = {"Cast", "CastLike", "Identity", "Add", "Sub", "Mul", "Div", "Relu", "Clip", "Neg"}
_STATE_NAME = re.compile(r"(^|[^a-z])(h0|c0|h_0|c_0)([^a-z0-9]|$)|state|cache|past|memory", re.I)
_CACHE_NAME = re.compile(r"cache|past", re.I)
# a padding indicator (TimesFM's ``past_values_padding``, Lingvo's ``paddings``: 1 where a step
# is padding): zeros, every step real; standard normal made every step part padding
_PADDING_NAME = re.compile(r"(?:^|[_.])(?:paddings?|is_pad(?:ded|ding)?)(?:$|[_.])", re.I)


def indicator_name(name: str) -> bool:
    """Whether an input's name says it is a mask or a padding indicator: discrete by meaning,
    so verification's noise floor does not move it (TimesFM multiplies its padding by the
    float minimum: a move of 1e-9 masked whole rows and the floor read 0.0023)."""
    return "mask" in name.lower() or _PADDING_NAME.search(name) is not None


_POSITION_NAME = re.compile(r"position|^pos(_ids?)?$", re.I)


class InputError(UsageError):
    """No inputs the model accepts were found; the line names the input, the node and the flags."""


@dataclass
class GeneratedInputs:
    """Feeds for every graph input and, per input, one line saying how it was derived."""

    feeds: dict[str, np.ndarray]
    notes: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)  # the dynamic dims chosen (by name)
    # image inputs given pixels in [0, 1) because standard normal saturated every output, and
    # why (``generate_inputs``'s ``unit``: more seeds alike)
    unit: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- parsing the user's flags


def parse_input_shapes(text: str) -> dict[str, tuple[int, ...]]:
    """Parse ``--input-shapes`` in polygraphy's spellings.

    Example:
        >>> parse_input_shapes("images:1x3x640x640,ids:[1,128]")
        {'images': (1, 3, 640, 640), 'ids': (1, 128)}

    Entries are separated by commas or spaces (commas inside brackets belong to the shape);
    a shape is ``AxBxC`` or ``[A,B,C]``; ``name:`` or ``name:[]`` is a scalar.
    """
    out: dict[str, tuple[int, ...]] = {}
    for item in _split_entries(text):
        name, sep, shape = item.rpartition(":")
        if not sep or not name:
            raise UsageError(
                f"--input-shapes: {item!r} has no input name; write NAME:SHAPE, e.g. images:1x3x640x640"
            )
        s = shape.strip().strip("[]").replace(" ", "")
        parts = [p for p in re.split(r"[x,]", s)] if s else []
        if not all(p.isdigit() for p in parts):
            raise UsageError(
                f"--input-shapes: {item!r}: the shape must be positive integers like 1x3x640x640 or [1,3,640,640]"
            )
        out[name.strip()] = tuple(int(p) for p in parts)
    if not out:
        raise UsageError("--input-shapes: no shapes given; write NAME:SHAPE, e.g. ids:1x128")
    return out


def parse_val_ranges(text: str) -> dict[str, tuple[float, float]]:
    """Parse ``--val-range`` in polygraphy's spelling; a range without a name applies to all.

    Example:
        >>> parse_val_ranges("x:[-1,1],ids:[0,30521]")
        {'x': (-1.0, 1.0), 'ids': (0.0, 30521.0)}
        >>> parse_val_ranges("[0,1]")
        {'': (0.0, 1.0)}
    """
    out: dict[str, tuple[float, float]] = {}
    for item in _split_entries(text):
        m = re.fullmatch(r"(?:(.+):)?\[\s*([^,\]]+)\s*,\s*([^,\]]+)\s*\]", item.strip())
        try:
            lo, hi = float(m.group(2)), float(m.group(3))  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            raise UsageError(
                f"--val-range: {item!r} is not NAME:[LO,HI] with numbers, e.g. input_ids:[0,30521]"
            ) from None
        if not lo <= hi or not np.isfinite([lo, hi]).all():
            raise UsageError(f"--val-range: {item!r}: need finite LO <= HI, e.g. x:[-1,1]")
        out[(m.group(1) or "").strip()] = (lo, hi)  # type: ignore[union-attr]
    if not out:
        raise UsageError("--val-range: no ranges given; write NAME:[LO,HI], e.g. x:[-1,1]")
    return out


def _split_entries(text: str) -> list[str]:
    """Split on commas and spaces outside brackets."""
    items, cur, depth = [], "", 0
    for ch in text:
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch in ", " and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    return [i.strip() for i in items if i.strip()]


# ---------------------------------------------------------------- what the graph says


@dataclass
class _Uses:
    """What an integer input's values reach."""

    gathers: list[tuple[int, str]] = field(default_factory=list)  # (rows, node name)
    added: dict[str, int] = field(default_factory=dict)  # Gather -> constant added before it
    # Gather -> how many blocks its table holds, where each id is offset into one (``block``)
    blocks: dict[str, int] = field(default_factory=dict)
    # a Gather from a table the model computes: (the dim_param of its rows, node name)
    dim_gathers: list[tuple[str, str]] = field(default_factory=list)
    compared: list[tuple[list[int | float], str, str]] = field(
        default_factory=list
    )  # consts, op, node
    seq_lens: list[tuple[str, str, int | None]] = field(
        default_factory=list
    )  # op, node, X input/axis
    # Slice starts: (node, the dim_param of the sliced axis, when shape inference names it);
    # starts and ends both: positions in that axis (an EmbeddingBag's offsets)
    starts: list[tuple[str, str | int | None]] = field(default_factory=list)
    mask: str | None = None  # why it is a mask
    padding: str | None = None  # why a mask is true where a position is padding (``pads``)
    strings: tuple[list[str], str, str] | None = None  # (the keys a node looks up, op, node)
    words: str | None = None  # a Tokenizer splits each string into words: the separator
    shape_of: tuple[str, str] | None = None  # a shape operand: (op, node)
    size_of: tuple[str, str] | None = None  # output sizes: (op, node)
    setting: tuple[float, str, str, str] | None = None  # (value, what, op, node): _OPERAND_VALUES
    to_float: str | None = None  # the first Cast (or dequantization) to floats: "op 'node'"
    trips: str | None = None  # a Loop's trip count: the Loop node
    # boxes a RoiAlign / MaxRoiPool crops: (node, op, spatial_scale, the features' H and W
    # dims as shape inference gives them)
    boxes: tuple[str, str, float, str | int | None, str | int | None] | None = None
    rois_batch: str | None = None  # RoiAlign's batch_indices: the node
    top_k: tuple[str, str | int | None] | None = None  # TopK's K: (node, the axis it picks along)
    # the gathers that index a table by a part of the input (Pix2Struct's float flattened
    # patches: columns 0 and 1 are each patch's row and column, the rest pixels; a LayoutLM's
    # int boxes): (rows, node, (axis, start, end) of the part)
    parts: list[tuple[int, str, tuple[int, int, int]]] = field(default_factory=list)
    # compared with a token whose positions a ScatterND fills with a tensor's first values (a
    # VLM's image tokens): (the token, that tensor, the filled one, the ScatterND)
    scatter: tuple[int | float, str, str, str] | None = None


class _Graph:
    """The model's nodes, subgraphs included, indexed by the values they consume."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.consts: dict[str, onnx.TensorProto] = {}
        self._constant: set[str] | None = None  # from_constants, when first asked
        self.producer: dict[str, onnx.NodeProto] = {}
        self.consumers: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
        # protobuf wrappers are not stable objects (id() changes), so top-level nodes go by index
        self.top: dict[str, int] = {}  # node name (any depth) -> index of its top-level node
        self.top_of: dict[str, int] = {}  # value name -> index of the top-level node making it
        self.reads: list[set[str]] = [set() for _ in model.graph.node]  # what a node+bodies read
        self.nodes = list(model.graph.node)
        self.model = model
        self._info: ValueInfoTable | None = None  # shape inference, when first asked
        for t in model.graph.initializer:
            self.consts[t.name] = t
        for k, node in enumerate(model.graph.node):
            self._walk_node(node, k)

    def _walk_node(self, node: onnx.NodeProto, k: int) -> None:
        self.top[node.name] = k
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            self.consts[node.output[0]] = node.attribute[0].t
        for o in node.output:
            self.producer[o] = node
            self.top_of[o] = k
        for i, name in enumerate(node.input):
            if name:
                self.consumers.setdefault(name, []).append((node, i))
                self.reads[k].add(name)
        for a in node.attribute:
            for sub in [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs):
                for t in sub.initializer:
                    self.consts[t.name] = t
                for inner in sub.node:
                    self._walk_node(inner, k)

    def const(self, name: str) -> np.ndarray | None:
        """The value of a constant, looking through Cast/Identity/DequantizeLinear."""
        seen = 0
        while name not in self.consts and name in self.producer and seen < 8:
            p = self.producer[name]
            if p.op_type not in ("Cast", "Identity", "DequantizeLinear", "CastLike"):
                return None
            name, seen = p.input[0], seen + 1
        return numpy_helper.to_array(self.consts[name]) if name in self.consts else None

    def from_range(self, name: str) -> bool:
        """Whether ``name`` is a Range's output, through reshapes and casts."""
        for _ in range(8):
            p = self.producer.get(name)
            if p is None or p.op_type == "Range":
                return p is not None
            if p.op_type not in ("Unsqueeze", "Reshape", "Cast", "Expand", "Identity"):
                return False
            name = p.input[0]
        return False

    def _shape(self, name: str) -> ValueInfo | None:
        """What shape inference gives ``name`` (run when first asked): its value info or None."""
        if self._info is None:
            self._info = infer_value_info(self.model)
        return self._info.get(name)

    def dim(self, name: str, axis: int) -> str | int | None:
        """The size or ``dim_param`` shape inference gives axis ``axis`` of ``name``, None where
        it has neither."""
        vi = self._shape(name)
        if vi is None or vi.shape is None or not -len(vi.shape) <= axis < len(vi.shape):
            return None
        d = vi.shape[axis]
        return d if isinstance(d, (str, int)) and d != 0 else None

    def dim_name(self, name: str, axis: int) -> str | None:
        """The ``dim_param`` of axis ``axis`` of ``name`` (a table the model computes from an
        input, its rows the input's ``nodes``), None where it has none."""
        d = self.dim(name, axis)
        return d if isinstance(d, str) else None

    def sliced_dim(self, node: onnx.NodeProto) -> str | int | None:
        """The size or dim_param shape inference gives the one axis a Slice cuts (its
        ``axes``, else axis 0)."""
        axes = self.const(node.input[3]) if len(node.input) > 3 and node.input[3] else None
        if axes is not None and axes.size != 1:
            return None
        return self.dim(node.input[0], 0 if axes is None else int(axes.ravel()[0]))

    def const_shape(self, name: str) -> tuple[int, ...] | None:
        """The shape of ``name`` where it is computed from constants alone: a table stored as
        is, cast or dequantized, or quantized at run time (I-BERT's embedding tables are
        ``Clip(Round(W * (1 / scale)))``: its token ids were filled with the padding id they
        are compared with, and no output depended on the inputs); None otherwise."""
        while name not in self.consts and name in self.producer:
            p = self.producer[name]
            if p.op_type not in ("Cast", "Identity", "DequantizeLinear", "CastLike"):
                break
            name = p.input[0]
        if name in self.consts:
            return tuple(self.consts[name].dims)
        vi = self._shape(name) if self.from_constants(name) else None
        if vi is None or not vi.shape:
            return None
        dims = [d for d in vi.shape if isinstance(d, int) and d > 0]
        return tuple(dims) if len(dims) == len(vi.shape) else None

    def from_constants(self, name: str) -> bool:
        """Whether ``name`` is computed from initializers and Constants alone (no graph input,
        no subgraph on the way), in one pass over the nodes in order when first asked."""
        if self._constant is None:
            self._constant = _constant_values(self.model.graph.node, set(self.consts))
        return name in self._constant

    def reached(
        self, start: str, through: frozenset[str] = frozenset()
    ) -> Iterator[tuple[onnx.NodeProto, int, bool]]:
        """Every ``(node, input index, cast on the way)`` that ``start``'s values reach through
        value-carrying ops (``_CARRY``, plus the op types in ``through``)."""
        for node, i, cast, _ in self.reached_parts(start, through):
            yield node, i, cast

    def reached_parts(
        self, start: str, through: frozenset[str] = frozenset()
    ) -> Iterator[tuple[onnx.NodeProto, int, bool, tuple[int, int, int] | None]]:
        """``reached``, with the part of ``start`` that got there where a constant Gather or
        Slice took one on the way (``narrowed``), else None."""
        todo: list[tuple[str, bool, tuple[int, int, int] | None]] = [(start, False, None)]
        seen = set()
        while todo:
            name, cast, part = todo.pop()
            if (name, cast, part) in seen:
                continue
            seen.add((name, cast, part))
            for node, i in self.consumers.get(name, []):
                yield node, i, cast, part
                op = node.op_type
                if op in through or (op in _CARRY and (_CARRY[op] is None or i in _CARRY[op])) or self.selects(node, i):  # type: ignore[operator]  # fmt: skip
                    at = part if part is not None or name != start else self.narrowed(node)
                    todo.extend((o, cast or op in ("Cast", "CastLike"), at) for o in node.output)

    def selects(self, node: onnx.NodeProto, i: int) -> bool:
        """Whether ``node`` is a Mul of its input ``i`` by a boolean cast to a number: where
        it is 1 the value goes on as it is (tf2onnx writes TensorFlow's ``SelectV2`` of integers
        as ``a * cond + b * (1 - cond)``: Keras 3's Embedding wraps negative ids so, and its
        ids were not seen to reach the table)."""
        if node.op_type != "Mul" or len(node.input) != 2:
            return False
        p = self.producer.get(node.input[1 - i])
        q = self.producer.get(p.input[0]) if p is not None and p.op_type == "Cast" else None
        return q is not None and q.op_type in _BOOLEAN

    def added(self, value: str, start: str, depth: int = 0) -> int | None:
        """The largest integer constant added to ``start`` on the way to ``value``: through
        Add/Sub of a constant, Where's branches (the largest), casts and reshapes; None where
        the way back from ``value`` does not reach ``start`` through those alone."""
        if value == start:
            return 0
        p = self.producer.get(value)
        if p is None or depth > 16:
            return None
        op = p.op_type
        if op in ("Add", "Sub") and len(p.input) == 2:
            for j in (0, 1):
                c = self.const(p.input[1 - j])
                if c is None or c.size == 0 or c.dtype.kind not in "iu" or (op == "Sub" and j):
                    continue
                rest = self.added(p.input[j], start, depth + 1)
                shift = int(c.max()) if op == "Add" else -int(c.min())
                return None if rest is None else shift + rest
            return None
        if op == "Where" and len(p.input) == 3:
            ways = [self.added(p.input[k], start, depth + 1) for k in (1, 2)]
            return max((w for w in ways if w is not None), default=None)
        if op in ("Cast", "Identity", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Transpose"):
            return self.added(p.input[0], start, depth + 1)
        return None

    def block(self, value: str, start: str) -> int | None:
        """The rows each id keeps to where the way from ``start`` to ``value`` ends adding a
        multiple of a constant that the sizes alone decide: CSM's depth decoder looks up
        ``ids + clamp(arange(n) - 1, 0) * 1000`` in a table of 8000, each codebook's 1000 rows
        after the others' (ids drawn among all 8000 ran past its end at every size); None
        otherwise."""
        p = self.producer.get(value)
        if p is None or p.op_type != "Add" or len(p.input) != 2:
            return None
        for j in (0, 1):
            q = self.producer.get(p.input[1 - j])
            if self.added(p.input[j], start) is None or q is None or q.op_type != "Mul":
                continue
            for k in (0, 1):
                c = self.const(q.input[k]) if len(q.input) == 2 else None
                if c is None or c.size != 1 or c.dtype.kind not in "iu" or int(c.item()) < 2:
                    continue
                if not self.from_values(q.input[1 - k], start):
                    return int(c.item())
        return None

    def from_values(self, value: str, start: str, depth: int = 0) -> bool:
        """Whether ``value`` depends on ``start``'s values (a Shape of it does not)."""
        if value == start:
            return True
        p = self.producer.get(value)
        if p is None or p.op_type == "Shape" or depth > 32:
            return depth > 32
        return any(self.from_values(x, start, depth + 1) for x in p.input if x)

    def narrowed(self, node: onnx.NodeProto) -> tuple[int, int, int] | None:
        """The part of its data input a Gather of one constant index or a Slice of one axis
        with constant bounds takes: (axis, start, end); None for any other node, and for a
        Slice to the end (its end is INT64_MAX: the rest of the axis, nothing narrowed)."""
        if node.op_type == "Gather" and len(node.input) > 1:
            k = self.const(node.input[1])
            axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
            if k is not None and k.size == 1 and int(k.ravel()[0]) >= 0:
                return axis, int(k.ravel()[0]), int(k.ravel()[0]) + 1
        if node.op_type == "Slice" and len(node.input) > 3 and node.input[3]:
            lo, hi, axes = (self.const(node.input[j]) for j in (1, 2, 3))
            steps = self.const(node.input[4]) if len(node.input) > 4 and node.input[4] else None
            if lo is None or hi is None or axes is None or lo.size != 1 or axes.size != 1:
                return None
            if steps is not None and int(steps.ravel()[0]) != 1:
                return None
            a, b = int(lo.ravel()[0]), int(hi.ravel()[0])
            if 0 <= a < b < 2**31:
                return int(axes.ravel()[0]), a, b
        return None

    def sign_test(self, node: onnx.NodeProto, other: np.ndarray) -> bool:
        """Whether ``node`` compares with 0 only to round a division: the TorchScript
        exporter's integer floor division (``length // 2``, ``torch.div(..., rounding_mode=
        "floor")``) tests the signs of both operands, ``Xor(Less(a, 0), Less(b, 0))``. A
        streaming Conformer's ``length`` was filled with 0, "compared with 0", and every frame
        was padding."""
        outs = [c for o in node.output for c, _ in self.consumers.get(o, [])]
        return bool(outs) and not other.any() and all(c.op_type == "Xor" for c in outs)

    def pads(self, start: str) -> str | None:
        """Why a mask input is true where a position is padding (PyTorch's
        ``key_padding_mask``), not where it is attended: the first use that tells, past ops
        that move or cast it and ``Not`` (each one flips it), is a Where that fills a large
        negative value where it holds (``scores.masked_fill(mask, -1e9)``), or weights it is
        cast to after a Not (a mean over the positions not padded: arabic-name-romanizer's
        GRU encoder); None where that use reads it as attended, or no use tells."""
        moves = {"Cast", "Reshape", "Unsqueeze", "Squeeze", "Expand", "Transpose", "Identity"}
        todo, seen = deque([(start, False)]), set()
        while todo:
            name, flipped = todo.popleft()
            if name in seen:
                continue
            seen.add(name)
            for node, i in self.consumers.get(name, []):
                op, label = node.op_type, node.name or node.output[0]
                if (op in moves or op == "Not") and i == 0:
                    todo.append((node.output[0], flipped != (op == "Not")))
                elif op == "Where" and i == 0 and len(node.input) == 3:
                    fills = [self.const(node.input[k]) for k in (1, 2)]
                    tops = [
                        float(f.max()) if f is not None and f.size and f.dtype.kind == "f" else 0.0
                        for f in fills
                    ]
                    big = [t <= -1e4 for t in tops]
                    if big[0] == big[1]:
                        continue
                    if big[0] == flipped:  # the fill where it does not hold: attended
                        return None
                    return f"Where {label!r} fills {tops[0 if big[0] else 1]:g} where it holds{' after a Not' if flipped else ''}"  # fmt: skip
                elif op == "Mul" and name != start:  # weights (cast on the way)
                    return f"weights in Mul {label!r} after a Not" if flipped else None
        return None

    def uses(self, start: str) -> _Uses:
        """Follow ``start`` through value-carrying ops and collect its uses."""
        u = _Uses()
        u.padding = self.pads(start)
        if filled := self.scattered(start):  # a mask of where the features go (Kosmos-2)
            u.scatter = (1, *filled)
        for node, i, cast, part in self.reached_parts(start):
            op, label = node.op_type, node.name or node.output[0]
            if op == "Gather" and i == 1:
                shape = self.const_shape(node.input[0])
                axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
                if shape:
                    # ids the model offsets before the lookup (each codebook's rows after the
                    # others' in one table, Kyutai's) stay in the table once offset
                    added = self.added(node.input[1], start) or 0
                    rows = shape[axis] - added if 0 < added < shape[axis] else shape[axis]
                    block = self.block(node.input[1], start)
                    if block is not None and block < rows:
                        rows = block
                        u.blocks[label] = shape[axis] // block
                    u.gathers.append((rows, label))
                    if rows < shape[axis] and label not in u.blocks:
                        u.added[label] = added
                    if part is not None:
                        u.parts.append((shape[axis], label, part))
                elif (dim := self.dim_name(node.input[0], axis)) is not None:
                    u.dim_gathers.append((dim, label))
            elif op == "GatherBlockQuantized" and i == 1:
                # an int4 embedding (onnxruntime-genai's builder): rows of its quantized table
                shape = self.const_shape(node.input[0])
                axis = next((a.i for a in node.attribute if a.name == "gather_axis"), 0)
                if shape and -len(shape) <= axis < len(shape):
                    u.gathers.append((shape[axis], label))
            elif op in _COMPARE:
                other = self.const(node.input[1 - i])
                if other is not None and self.sign_test(node, other):
                    continue
                if other is not None and other.size <= 16:
                    u.compared.append(([v.item() for v in other.ravel()], op, label))
                    if op == "Equal" and other.size == 1 and u.scatter is None:
                        filled = self.scattered(node.output[0])
                        u.scatter = (other.item(), *filled) if filled else None
                elif len(node.input) > 1 and self.from_range(node.input[1 - i]):
                    # arange(N) < lengths: a time mask (onnx-asr's feature extractors); the
                    # lengths were {0, 1} and masked every sample out
                    u.seq_lens.append((op, label, None))
            elif op in _RECURRENT and i == 4:
                layout = next((a.i for a in node.attribute if a.name == "layout"), 0)
                u.seq_lens.append((op, label, layout))
            elif (op == "Range" and i == 1) or (op == "Slice" and i == 2):
                u.seq_lens.append((op, label, None))
            elif op == "Slice" and i == 1:
                u.starts.append((label, self.sliced_dim(node)))
            elif op == "Loop" and i == 0 and u.trips is None:
                u.trips = label
            elif (op, i) in (("RoiAlign", 1), ("MaxRoiPool", 1)) and u.boxes is None:
                scale = next((a.f for a in node.attribute if a.name == "spatial_scale"), 1.0)
                hw = (self.dim(node.input[0], 2), self.dim(node.input[0], 3))
                u.boxes = (label, op, scale, *hw)
            elif op == "RoiAlign" and i == 2:
                u.rois_batch = label
            elif op == "TopK" and i == 1 and u.top_k is None:
                axis = next((a.i for a in node.attribute if a.name == "axis"), -1)
                u.top_k = (label, self.dim(node.input[0], axis))
            elif (op, i) in _SHAPE_OPERANDS and u.shape_of is None:
                u.shape_of = (op, label)
            elif (op, i) in _SIZE_OPERANDS and u.size_of is None:
                u.size_of = (op, label)
            elif (op, i) in _OPERAND_VALUES and u.setting is None:
                u.setting = (*_OPERAND_VALUES[op, i], op, label)
            elif cast and (op == "Mul" or (op == "Where" and i == 0)):
                u.mask = u.mask or f"reaches {op} {label!r} after a Cast"
            elif u.to_float is None and (
                (op == "Cast" and _casts_to_float(node))
                or (op in ("DequantizeLinear", "DynamicQuantizeLinear") and i == 0)
            ):  # to floats: a Cast, or the dequantization a quantized TFLite model starts with
                u.to_float = f"{op} {label!r}"
            elif op == "Tokenizer":
                seps = [a.strings for a in node.attribute if a.name == "separators"]
                u.words = seps[0][0].decode() if seps and seps[0] and seps[0][0] else " "
            elif u.strings is None:  # a lookup by string (LabelEncoder, CategoryMapper, ...)
                keys = [
                    [v.decode() for v in _lookup_strings(node, a)]
                    for a in node.attribute
                    if a.name in _STRING_KEYS and a.strings
                ]
                if keys:
                    u.strings = (keys[0], op, label)
        return u

    def scattered(self, mask: str) -> tuple[str, str, str] | None:
        """(the values, the tensor filled, the ScatterND's name) where the mask ``mask`` (an
        Equal's output, or a mask input) gives a ScatterND's indices and its updates are the
        first values of a flattened tensor: ``transformers``' ``masked_scatter`` of a VLM's
        image features into its token embeddings, as the TorchScript exporter writes it (Equal,
        Unsqueeze, Cast, Expand, NonZero, Transpose; Reshape to [-1], Slice), or the flattened
        tensor Expanded to the mask's count: the dynamo exporter's ``embeds[mask] = features``
        (Kosmos-2), which runs only where the mask holds one per feature."""
        steps = ("Unsqueeze", "Cast", "Expand", "NonZero", "Transpose", "Squeeze")
        for node, i in self.forward(mask, lambda n, _: n.op_type in steps):
            if node.op_type != "ScatterND" or i != 1 or len(node.input) < 3:
                continue
            cut = self.producer.get(node.input[2])
            if cut is not None and cut.op_type == "Reshape":  # the dynamo exporter's index_put:
                cut = self.producer.get(cut.input[0])  # Reshape(Expand(features, [count, -1]))
                if cut is None or cut.op_type != "Expand":
                    continue
            flat = self.producer.get(cut.input[0]) if cut is not None else None
            if cut is not None and cut.op_type in ("Slice", "Expand") and flat is not None:
                if flat.op_type == "Reshape":
                    return flat.input[0], node.input[0], node.name or node.output[0]
        return None

    def forward(
        self, start: str, follow: Callable[[onnx.NodeProto, int], bool]
    ) -> Iterator[tuple[onnx.NodeProto, int]]:
        """The ``(node, input index)`` uses of ``start`` and of what the nodes ``follow``
        accepts make from it; the followed uses themselves are not yielded."""
        todo, seen = [start], set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            for node, i in self.consumers.get(name, []):
                if follow(node, i):
                    todo.extend(node.output)
                else:
                    yield node, i

    def weights_say(self, node: onnx.NodeProto, i: int) -> tuple[int | None, dict[int, tuple[int, str]]]:  # fmt: skip
        """What the weights of ``node``, reached at its input ``i``, say of that input: the rank
        (a Conv's, a Gemm's 2, a recurrent op's 3; None for a MatMul, which takes any) and
        ``axis -> (size, what)``: a Conv's channels, a MatMul's or Gemm's features, a recurrent
        op's input size (a negative axis counts from the end)."""
        op = node.op_type
        w = self.const_shape(node.input[1]) if i == 0 and len(node.input) > 1 else None
        attrs = {a.name: a.i for a in node.attribute if a.type == onnx.AttributeProto.INT}
        if op == "Conv" and w and len(w) >= 3:
            return len(w), {1: (w[1] * attrs.get("group", 1), "channels")}
        if op == "ConvTranspose" and w and len(w) >= 3:
            return len(w), {1: (w[0], "channels")}
        if op == "MatMul" and w and len(w) == 2:
            return None, {-1: (w[0], "features")}
        if op == "Gemm" and w and len(w) == 2:
            k = w[1] if attrs.get("transB") else w[0]
            return 2, {(0 if attrs.get("transA") else 1): (k, "features")}
        if op in _RECURRENT and w and len(w) == 3:
            return 3, {2: (w[2], "features")}
        return None, {}

    def fixed_dims(self, start: str) -> tuple[int | None, dict[int, tuple[int, str]]]:
        """What the weights that ``start`` meets (through elementwise ops) say of its shape: its
        rank (a MatMul's 2, [batch, features], where no other op says one), and ``axis -> (size,
        how)`` (a negative axis counts from the end)."""
        rank: int | None = None
        loose: int | None = None  # a MatMul takes any rank: [batch, features] where none says
        fixed: dict[int, tuple[int, str]] = {}
        for node, i in self.forward(start, lambda n, _: n.op_type in _SAME_SHAPE):
            op, label = node.op_type, node.name or node.output[0]
            r, at = self.weights_say(node, i)
            if op == "MatMul" and at:
                loose = loose or 2
            rank = rank or r
            for axis, (size, what) in at.items():
                fixed.setdefault(axis, (size, f"{what}, from the weights of {op} {label!r}"))
        return rank or loose, fixed

    def tracked_dims(self, start: str, rank: int) -> dict[int, tuple[int, str]]:
        """What the weights an input of ``rank`` meets say of its own axes, followed through ops
        that add, drop or move axes (Unsqueeze, Squeeze, Transpose, a Pad's unpadded axes) as
        well as elementwise ones: ``axis -> (size, how)``. A weight it is broadcast against
        fixes the axes it spans (a [bins, 3] scale: ONNX broadcasts equal sizes or 1s), a
        Conv's its channels, a MatMul's or Gemm's its features, a recurrent op's its input
        size (madmom's nets unsqueeze a [frames, bins] input into an RNN's [frames, 1, bins]
        or a Conv's [1, frames, bins, 3], after such a scale: every dim named, the bins were
        probed, and ran out of sizes)."""
        fixed: dict[int, tuple[int, str]] = {}
        todo: list[tuple[str, tuple[int | None, ...]]] = [(start, tuple(range(rank)))]
        seen: set[str] = set()
        while todo:
            name, axes = todo.pop()
            if name in seen or len(seen) > 64:
                continue
            seen.add(name)
            for node, i in self.consumers.get(name, []):
                op, label = node.op_type, node.name or node.output[0]
                n = len(axes)
                told = [(a, size, f"{what}, from") for a, (size, what) in self.weights_say(node, i)[1].items()]  # fmt: skip
                attrs = {a.name: a for a in node.attribute}
                out: tuple[int | None, ...] | None = None
                if op in ("Add", "Sub", "Mul", "Div") and len(node.input) == 2:
                    c = self.const_shape(node.input[1 - i])
                    if c is not None and len(c) <= n:  # a weight: the axes it spans
                        told += [(n - len(c) + k, size, "broadcast against") for k, size in enumerate(c) if size > 1]  # fmt: skip
                        out = axes
                elif op in _SAME_SHAPE:
                    out = axes
                elif op in ("Unsqueeze", "Squeeze") and i == 0:
                    given = attrs["axes"].ints if "axes" in attrs else None
                    if given is None and len(node.input) > 1:
                        c_axes = self.const(node.input[1])
                        given = None if c_axes is None else c_axes.ravel().tolist()
                    if given is not None and op == "Unsqueeze":
                        new = {a % (n + len(given)) for a in given}
                        rest = iter(axes)
                        out = tuple(None if k in new else next(rest) for k in range(n + len(new)))
                    elif given:
                        gone = {a % n for a in given}
                        out = tuple(a for k, a in enumerate(axes) if k not in gone)
                elif op == "Transpose" and i == 0:
                    perm = list(attrs["perm"].ints) if "perm" in attrs else list(range(n))[::-1]
                    if sorted(perm) == list(range(n)):
                        out = tuple(axes[p] for p in perm)
                elif op == "Pad" and i == 0 and len(node.input) > 1:
                    pads = self.const(node.input[1])
                    if pads is not None and pads.size == 2 * n:
                        pads = pads.ravel()
                        out = tuple(a if pads[k] == pads[k + n] == 0 else None for k, a in enumerate(axes))  # fmt: skip
                for axis, size, what in told:
                    a = axes[axis] if -n <= axis < n else None
                    if a is not None and size > 0:
                        fixed.setdefault(a, (size, f"{what} the weights of {op} {label!r}"))
                if out is not None and node.output:
                    todo.append((node.output[0], out))
        return fixed

    def pixel_scale(self, start: str) -> str | None:
        """Why a float (or 8-bit) input holds 8-bit pixel values: the first arithmetic on it
        (past Transpose, Reshape, Identity, Cast, Unsqueeze, Squeeze, Flatten) scales it by
        1/255 or 1/127.5, as Keras's ``Rescaling`` does inside its applications (EfficientNet,
        MobileNetV3), or subtracts a pixel mean (each channel's between 50 and 200) and then
        scales by 1/40 to 1/300, as Keras's ConvNeXt normalizes ImageNet pixels
        (``(x - [123.7, 116.3, 103.5]) / [58.4, 57.1, 57.4]``; read as standard normal, its
        images were a flat dark frame after it); None otherwise."""
        moves = ("Transpose", "Reshape", "Identity", "Cast", "Unsqueeze", "Squeeze", "Flatten")
        centred: list[str] = []  # the Sub (or Add) of a pixel mean passed on the way

        def follow(n: onnx.NodeProto, i: int) -> bool:
            if n.op_type in moves and i == 0:
                return True
            if not centred and self.pixel_mean(n, i):
                centred.append(f"{n.op_type} {n.name or n.output[0]!r}")
                return True
            return False

        for node, i in self.forward(start, follow):
            op = node.op_type
            if op not in ("Mul", "Div") or len(node.input) != 2:
                continue
            c = self.const(node.input[1 - i])
            if c is None or c.size == 0 or c.dtype.kind != "f" or not np.all(c > 0):
                continue
            scale = c if op == "Div" and i == 0 else 1.0 / c if op == "Mul" else None
            low = 40 if centred else 100
            if scale is not None and np.all((scale >= low) & (scale <= 300)):
                after = f" after a pixel mean's {centred[0]}" if centred else ""
                return f"scaled by 1/{float(np.max(scale)):g} in {op} {node.name or node.output[0]!r}{after}"  # fmt: skip
        return None

    def pixel_mean(self, node: onnx.NodeProto, i: int) -> bool:
        """Whether ``node`` subtracts a pixel mean from its input ``i``: a Sub of constants
        between 50 and 200 (each channel's), or an Add of their negatives."""
        if node.op_type not in ("Sub", "Add") or len(node.input) != 2:
            return False
        if node.op_type == "Sub" and i != 0:
            return False
        c = self.const(node.input[1 - i])
        if c is None or c.size == 0 or c.size > 4 or c.dtype.kind != "f":
            return False
        c = -c if node.op_type == "Add" else c
        return bool(np.all((c >= 50) & (c <= 200)))

    def divides(self, start: str) -> str | None:
        """Why a float input must stay away from 0: it is what a Div divides by, through
        value-carrying ops (a softmax's ``temperature``, a denoiser's ``sigma``); None
        otherwise."""
        for node, i, _ in self.reached(start):
            if node.op_type == "Div" and i == 1:
                return f"divides in Div {node.name or node.output[0]!r}"
        return None

    def needs_positive(self, start: str) -> str | None:
        """Why a float input must be positive: it reaches Log, Sqrt or Reciprocal through
        value-carrying ops and elementwise arithmetic (``log(x + eps)``, a spectrogram's
        magnitudes); None otherwise."""
        for node, _, _ in self.reached(start, through=frozenset({"Mul", "Div"})):
            if node.op_type in ("Log", "Sqrt", "Reciprocal"):
                return f"reaches {node.op_type} {node.name or node.output[0]!r}"
        return None

    def branch_inputs(self, node_name: str, inputs: list[str]) -> list[str]:
        """For a node inside an If's branch: the graph inputs its condition depends on."""
        k = self.top.get(node_name)
        if k is None or self.nodes[k].name == node_name or self.nodes[k].op_type != "If":
            return []
        cond = self.nodes[k].input[0]
        if cond in inputs:
            return [cond]
        return (
            self.reaching_inputs(self.nodes[self.top_of[cond]].name, inputs)
            if cond in self.top_of
            else []
        )

    def node_named(self, node_name: str) -> onnx.NodeProto | None:
        """The node of that name, at any depth (an ONNX Runtime failure names it; its NCHWc
        layout pass names a Conv it moves to blocked channels after its output,
        "<output>_nchwc")."""
        found = next((n for n in self.producer.values() if n.name == node_name), None)
        if found is None and node_name.endswith("_nchwc"):
            found = self.producer.get(node_name.removesuffix("_nchwc"))
        return found

    def operand_inputs(self, node_name: str, inputs: list[str]) -> list[str]:
        """The graph inputs behind the sizes, indices or shape a node takes (its operands
        after the first, for the ops in ``_OPERAND_OPS``), nothing for other ops."""
        node = self.node_named(node_name)
        if node is None or node.op_type not in _OPERAND_OPS:
            return []
        found, seen, todo = set(), set(), [n for n in node.input[1:] if n]
        while todo:  # by value: not through Shape (a size read off the image is no culprit)
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            if name in inputs:
                found.add(name)
            p = self.producer.get(name)
            if p is not None and p.op_type not in ("Shape", "Size"):
                todo += [i for i in p.input if i]
        return [i for i in inputs if i in found]

    def reaching_inputs(self, node_name: str, inputs: list[str]) -> list[str]:
        """The graph inputs among the ancestors of a node (by top-level node; bodies included)."""
        if node_name not in self.top:
            return []
        want, seen, todo = set(inputs), set(), [self.top[node_name]]
        found: set[str] = set()
        while todo:
            k = todo.pop()
            if k in seen:
                continue
            seen.add(k)
            for name in self.reads[k]:
                if name in want:
                    found.add(name)
                elif name in self.top_of:
                    todo.append(self.top_of[name])
        return [i for i in inputs if i in found]


def _lookup_strings(node: onnx.NodeProto, attr: onnx.AttributeProto) -> list[bytes]:
    """The strings a node looks up: a TfIdfVectorizer's pool holds its 1-grams first, then its
    longer n-grams as runs of words (``ngram_counts`` says where each length starts)."""
    if node.op_type != "TfIdfVectorizer":
        return list(attr.strings)
    counts = [a.ints for a in node.attribute if a.name == "ngram_counts"]
    end = counts[0][1] if counts and len(counts[0]) > 1 else len(attr.strings)
    return list(attr.strings[:end])


# ---------------------------------------------------------------- sizes


@dataclass
class _Input:
    name: str
    dtype: np.dtype
    dims: list[int | str]  # int = fixed, str = the key of a dim group
    ranked: bool = True  # False: the model declares no shape at all
    fixed: str = ""  # the sizes the graph's weights fix where the model declares none


def _graph_inputs(model: onnx.ModelProto) -> list[_Input]:
    inits = {t.name for t in model.graph.initializer}
    out = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        if not vi.type.HasField("tensor_type"):
            raise UsageError(f"input {vi.name!r} is not a tensor; pass --inputs data.npz")
        t = vi.type.tensor_type
        dims: list[int | str] = []
        for axis, d in enumerate(t.shape.dim):
            # a declared 0 is a size, as ONNX Runtime holds it: a decoder exported at its first
            # step with an empty past ([1, 2, 0, 16], the past's length not marked dynamic)
            if d.HasField("dim_value") and d.dim_value >= 0:
                dims.append(d.dim_value)
            else:
                dims.append(d.dim_param if d.HasField("dim_param") else f"{vi.name}:{axis}")
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type))
        out.append(_Input(vi.name, dtype, dims, ranked=t.HasField("shape")))
    return out


def _fix_dims(inp: _Input, graph: _Graph, shapes: dict[str, tuple[int, ...]]) -> dict[str, int]:
    """Fill in what the weights a float input meets say of its shape, where the model does not:
    its rank, and the size of its channel or feature axis. Every axis dynamic (an export with
    all of NCHW marked dynamic) left channels to probing, which ran out of sizes. Returns the
    dim groups so fixed, with their sizes (other inputs sharing a group take them too)."""
    if inp.dtype.kind in "iu" and not inp.ranked and re.search(_TOKENS_NAME, inp.name.lower()):
        # token ids, a mask, token types or positions with no declared shape: [batch, sequence]
        inp.dims, inp.ranked = [f"{inp.name}:0", f"{inp.name}:1"], True
        inp.fixed = "rank 2 (the model declares no shape; [batch, sequence] by its name)"
        return {}
    if inp.dtype.kind != "f":
        return {}
    rank, at = graph.fixed_dims(inp.name)
    if inp.ranked:  # through ops that add, drop or move axes too, each axis by its place
        told = {a % len(inp.dims) for a in at if -len(inp.dims) <= a < len(inp.dims)}
        tracked = graph.tracked_dims(inp.name, len(inp.dims))
        at = {**at, **{a: v for a, v in tracked.items() if a not in told}}
    said, keyed = [], {}
    if not inp.ranked:
        n = len(shapes[inp.name]) if inp.name in shapes else rank
        if n is None:
            return {}
        inp.dims, inp.ranked = [f"{inp.name}:{axis}" for axis in range(n)], True
        said.append(f"rank {n} (the model declares no shape)")
    for axis, (size, how) in at.items():
        if -len(inp.dims) <= axis < len(inp.dims) and inp.name not in shapes:
            key = inp.dims[axis]
            if isinstance(key, str) and key not in keyed:
                keyed[key] = size
                said.append(f"axis {axis % len(inp.dims)} = {size} ({how})")
    inp.fixed = "; ".join(said)
    return keyed


def _image_size(model: onnx.ModelProto) -> tuple[int, int] | None:
    """(height, width) a model says it was exported for: Ultralytics writes ``imgsz`` ("[640,
    640]" or "640") into the metadata of every YOLO it exports; None when absent or unreadable."""
    for p in model.metadata_props:
        if p.key == "imgsz":
            nums = [int(n) for n in re.findall(r"\d+", p.value)]
            if len(nums) in (1, 2) and all(0 < n <= 8192 for n in nums):
                return (nums[0], nums[-1])
    return None


DIM_RANGES_KEY = "pau_rewriter.dim_ranges"


def dim_ranges(model: onnx.ModelProto) -> dict[str, tuple[int, int | None]]:
    """The sizes each named dim may take, where a converter recorded them (the ``torch.export``
    front end writes a program's ranges: ``{"s0": [2, 64]}``, JSON under ``DIM_RANGES_KEY``);
    generated sizes stay inside them. Empty when absent or unreadable."""
    raw = next((p.value for p in model.metadata_props if p.key == DIM_RANGES_KEY), None)
    try:
        got = json.loads(raw) if raw else {}
        return {str(k): (int(lo), None if hi is None else int(hi)) for k, (lo, hi) in got.items()}
    except (ValueError, TypeError, AttributeError):
        return {}


DIM_EXAMPLES_KEY = "pau_rewriter.dim_examples"


def dim_examples(model: onnx.ModelProto) -> dict[str, int]:
    """The size each named dim had in the example a converter traced the model at (the
    ``torch.export`` front end writes its program's: ``{"s0": 2, "s1": 8}``, JSON under
    ``DIM_EXAMPLES_KEY``): tried when no typical size runs, since the model ran there. Empty
    when absent or unreadable."""
    raw = next((p.value for p in model.metadata_props if p.key == DIM_EXAMPLES_KEY), None)
    try:
        got = json.loads(raw) if raw else {}
        return {str(k): int(v) for k, v in got.items()}
    except (ValueError, TypeError, AttributeError):
        return {}


def _within(cands: list[int], lo: int, hi: int | None) -> list[int]:
    """The candidates inside [lo, hi], in order; the nearest bound when none is."""
    keep = [c for c in cands if c >= lo and (hi is None or c <= hi)]
    return keep or [hi if hi is not None and all(c > hi for c in cands) else lo]


def meaningful_name(key: str) -> bool:
    """Whether a ``dim_param`` was given by a person (``batch``, ``sequence``), not made up by an
    exporter (torch.export's ``s27``, tf2onnx's ``unk__3``, ``dim_0``, the TorchScript
    exporter's ``sample.1_dim_0``: a diffusers UNet's ``sample`` input, renamed because its
    output has the same name, was probed as audio samples; and its ``input_ids_dynamic_axes_1``
    for ``dynamic_axes`` given as lists of axes)."""
    return ":" not in key and not re.fullmatch(
        r"s\d+|unk__\d+|dim_?\d*|\?|.+_dim_\d+|.+_dynamic_axes_\d+", key
    )


def batch_name(key: str) -> bool:
    """Whether a ``dim_param`` names a batch (``batch``, ``batch_size``, ``N``, ``bs``)."""
    return meaningful_name(key) and re.search(_BATCH_NAME, key.lower()) is not None


def _candidates(key: str, inputs: list[_Input]) -> list[int]:
    """Candidate sizes for a dim group, from its name, else from where it sits. A batch name
    counts where the dim leads an input or says "batch": onnx-asr's feature extractors take
    waveforms [batch_size, N], and N read as a batch was 1 or 2 samples. An RGB clip's frames
    are a clip's however named: "frames" read as a sequence made a video 128 frames of 224x224."""
    if any((a := _frames_axis(inp)) is not None and inp.dims[a] == key for inp in inputs):
        return _FRAMES
    # a volume's sides ([batch, channels, D, H, W], not a clip), however named: deepbet's brain
    # U-Nets, archives exported as [batch, depth, height, width], were run at 96 x 224 x 224
    if any(_volume(inp) and key in inp.dims[2:] for inp in inputs):
        return _VOLUME
    if meaningful_name(key):
        leads = "batch" in key.lower() or any(inp.dims[:1] == [key] for inp in inputs)
        for pattern, cands in _KINDS:
            if re.search(pattern, key.lower()) and (cands is not _BATCH or leads):
                return cands
    # a made-up dim name (the dynamo exporter's s1) of prompts named so: a few (SAM's clicks
    # and their labels); not what token inputs share (LayoutLM's boxes per token), nor a lead
    holders = [inp for inp in inputs if key in inp.dims]
    if (
        any(_PROMPT_NAME.search(inp.name) for inp in holders)
        and not any(re.search(_TOKENS_NAME, inp.name.lower()) for inp in holders)
        and not any(inp.dims[:1] == [key] for inp in holders)
    ):
        return _PROMPTS
    for inp in inputs:
        for axis, d in enumerate(inp.dims):
            if d != key:
                continue
            if axis == 0 and len(inp.dims) > 1:
                return _BATCH
            if _frames_axis(inp) is not None:  # a clip's height and width (frames above)
                return _SPATIAL
            if _image_like(inp) and axis in _spatial_axes(inp.dims):
                return _SPATIAL
            if inp.dtype.kind == "f" and len(inp.dims) == 2 and axis == 1:
                return _SAMPLES  # [batch, N] floats with a free N: a waveform
            if inp.dtype.kind == "f" and inp.dims[1:] == [1, key]:
                return _SAMPLES  # [batch, 1, N]: one channel of audio (a Conv1d front end)
            if inp.dtype.kind == "f" and len(inp.dims) == 3 and axis >= 1:
                return _SEQUENCE  # [batch, channels, time] or [batch, time, features]
            if inp.dtype == np.int16 and axis == len(inp.dims) - 1 <= 1:
                return _SAMPLES  # [batch, N] or [N] 16-bit integers: PCM audio
            if inp.dtype.kind in "iu" and axis == 1:
                return _SEQUENCE
    return _ANY


# ops a waveform passes through on its way to its first Conv, its samples axis kept
_TO_CONV = {"Unsqueeze", "Reshape", "Cast", "Identity", "Sub", "Add", "Mul", "Div", "Pad"}


def _volume(inp: _Input) -> bool:
    """Whether ``inp`` is a volume, [batch, channels, D, H, W] floats, and not a clip."""
    return len(inp.dims) == 5 and inp.dtype.kind == "f" and _frames_axis(inp) is None


def _waveform_dims(graph: _Graph, inputs: list[_Input]) -> set[str]:
    """The dims that are a waveform's samples, whatever their names: the free last axis of a
    float [batch, N] or [batch, 1, N] input that reaches a Conv of one input channel (a
    wav2vec2's feature encoder) through reshapes, casts and scalings. Optimum names a
    wav2vec2's ``sequence_length``, which read as a sequence generated 128 samples."""
    out: set[str] = set()
    for inp in inputs:
        dims = inp.dims
        if inp.dtype.kind != "f" or len(dims) not in (2, 3) or not isinstance(dims[-1], str):
            continue
        if len(dims) == 3 and dims[1] != 1:
            continue
        seen, queue = {inp.name}, deque([inp.name])
        while queue:
            for node, slot in graph.consumers.get(queue.popleft(), []):
                if node.op_type == "Conv" and slot == 0:
                    w = graph.consts.get(node.input[1])
                    if w is not None and len(w.dims) == 3 and w.dims[1] == 1:
                        out.add(dims[-1])
                elif node.op_type in _TO_CONV and node.output and node.output[0] not in seen:
                    seen.add(node.output[0])
                    queue.append(node.output[0])
    return out


def _frames_axis(inp: _Input) -> int | None:
    """The frames' axis of a clip of RGB frames [batch, 3, frames, height, width] or [batch,
    frames, 3, height, width], or None."""
    if len(inp.dims) == 5 and inp.dtype.kind == "f" and 3 in inp.dims[1:3]:
        return 2 if inp.dims[1] == 3 else 1
    return None


_DIM_AST = (  # what a dim expression may use
    *(ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load),
    *(ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Div, ast.USub),
)
_DIM_TOKEN = re.compile(r"\s*([A-Za-z_][\w.]*|\d+|[-+*/()])")


def _dim_expression(text: str, names: set[str]) -> tuple[ast.Expression, list[str]] | None:
    """``text`` as an arithmetic expression over other dim names (``"past_sequence_length +
    sequence_length"``, as Optimum names a decoder's attention mask; ``"s0 + s1"``, as
    torch.export names a dim it derived), each name replaced by ``_<k>``, and the names in
    that order; None when ``text`` is a plain name or uses anything else."""
    tokens, pos = [], 0
    while pos < len(text.rstrip()):
        m = _DIM_TOKEN.match(text, pos)
        if not m:
            return None
        tokens.append(m.group(1))
        pos = m.end()
    if not any(t in "+-*/" for t in tokens):
        return None
    used: list[str] = []
    out = []
    for t in tokens:
        if t[0].isalpha() or t[0] == "_":
            if t not in names:
                return None
            used += [] if t in used else [t]
            out.append(f"_{used.index(t)}")
        else:
            out.append(t)
    try:
        tree = ast.parse(" ".join(out), mode="eval")
    except SyntaxError:
        return None
    return (tree, used) if all(isinstance(n, _DIM_AST) for n in ast.walk(tree)) else None


def _derived_dims(groups: dict[str, list[int]]) -> dict[str, tuple[Any, str]]:
    """Dims whose size follows from others, name -> (``sizes -> size``, what it is the sum of);
    they are not probed.

    * an expression over other dims' names (``_dim_expression``);
    * a "total" length beside a "past" one (``total_sequence_length``, as ONNX Runtime's own
      GPT-2/Llama exporters name the attention mask of a decoder with a KV cache): past plus
      the sequence dim. Probing such a dim on its own never runs: the mask must be as long as
      the cache plus the new tokens.
    """
    plain = {k for k in groups if not re.search(r"[-+*/]", k)}
    derived: dict[str, tuple[Any, str]] = {}
    for k in groups:
        expr = _dim_expression(k, plain)
        if expr is not None:
            code = compile(expr[0], k, "eval")
            derived[k] = (functools.partial(_eval_dims, code, expr[1]), "its expression")
    past = [k for k in plain if "past" in k.lower() and meaningful_name(k)]
    seq = [
        k
        for k in plain
        if (groups[k] is _SEQUENCE or groups[k] is _STEP) and not re.search("past|total", k.lower())
    ]
    for k in plain:
        if "total" in k.lower() and past and seq:
            derived[k] = (functools.partial(_sum_dims, past[0], seq[0]), f"{past[0]} + {seq[0]}")
    return derived


_MASK_SUFFIX = re.compile(r"(attention_)?mask$", re.I)


def _paired_masks(
    inputs: list[_Input],
    groups: dict[str, list[int]],
    bound: dict[str, int],
    derived: dict[str, tuple[Any, str]],
) -> dict[str, tuple[Any, str]]:
    """A mask's made-up dims, as its ids' by name (``attention_mask`` beside ``input_ids``,
    ``entity_attention_mask`` beside ``entity_ids``, ``decoder_attention_mask``), where the
    exporter did not know them equal: torch.export names each dim it cannot tie to another
    anew, and LUKE joins words and entities, then their masks, so only the sums must agree.
    Probed one by one, it ran with 32 ids beside a mask of 128 and 128 entities beside a mask
    of 32: it ran, but no user feeds that. A mask named after the values it masks
    (``audio_mel_mask`` beside ``audio_mel``) takes their leading dims: Gemma 3n's audio mask
    was one frame long. Inputs with a row per token (``token_type_ids``, ``position_ids``,
    LayoutLM's ``bbox`` [batch, sequence, 4]) take the ids' leading dims too: a box per token
    with a dim of its own was probed as a few prompts and ran broadcast, one box for every
    token. Only dims of masks (not shared with other inputs) follow, and a per-token input's
    own; named dims are the exporter's word and stay."""
    by_name = {i.name: i for i in inputs}
    held: dict[str, set[str]] = {}  # dim -> the inputs holding it
    for i in inputs:
        for d in i.dims:
            if isinstance(d, str):
                held.setdefault(d, set()).add(i.name)
    out: dict[str, tuple[Any, str]] = {}
    for mask in inputs:
        m = _MASK_SUFFIX.search(mask.name)
        if m is None:
            continue
        prefix = mask.name[: m.start()]
        partner = next(
            (
                by_name[n]
                for n in (prefix + "input_ids", prefix + "ids")
                if n in by_name and by_name[n].dtype.kind in "iu"
            ),
            # or the values it masks, named as it is less "_mask": Gemma 3n's audio_mel
            # [batch, frames, bins] beside audio_mel_mask [batch, frames] (leading axes)
            by_name.get(prefix.rstrip("_.")),
        )
        if partner is None or not 0 <= len(partner.dims) - len(mask.dims) <= 1:
            continue
        for d, e in zip(mask.dims, partner.dims[: len(mask.dims)], strict=True):
            if (
                isinstance(d, str)
                and isinstance(e, str)
                and _may_follow(d, e, groups, bound, derived)
                and all(_MASK_SUFFIX.search(h) for h in held[d])
            ):
                out[d] = (functools.partial(_same_dim, e), f"as {partner.name}'s")
    for tok in inputs:  # per-token inputs beside the ids: their leading dims are the ids'
        m = _PER_TOKEN.search(tok.name)
        partner = by_name.get(tok.name[: m.start()] + "input_ids") if m else None
        if partner is None or partner is tok or len(tok.dims) < len(partner.dims):
            continue
        for d, e in zip(tok.dims, partner.dims, strict=False):
            if (
                isinstance(d, str)
                and isinstance(e, str)
                and d not in out
                and held[d] == {tok.name}
                and _may_follow(d, e, groups, bound, derived)
            ):
                out[d] = (functools.partial(_same_dim, e), f"as {partner.name}'s")
    return out


# inputs with one row per token beside ``input_ids``: token types, positions, LayoutLM's boxes
_PER_TOKEN = re.compile(r"(token_type|position|segment)_ids$|(?:^|(?<=_))bbox$", re.I)


def _same_dim(other: str, sizes: dict[str, int]) -> int:
    return sizes[other]


def _may_follow(
    d: str,
    e: str,
    groups: dict[str, list[int]],
    bound: dict[str, int],
    derived: dict[str, tuple[Any, str]],
) -> bool:
    """Whether dim ``d`` may be made ``e``'s: both free dims of the model, neither derived,
    ``d`` not given by ``--input-shapes`` and made up by an exporter (a person's name stays)."""
    return (
        d != e
        and d in groups
        and e in groups
        and d not in bound
        and d not in derived
        and e not in derived
        and not meaningful_name(d)
    )


# a KV cache's kind: its name less the layer and key/value (``past_key_values.#.#``); a
# cross-attention cache (``past_key_values.#.encoder.#``) is of another kind
_CACHE_KIND = re.compile(r"\d+|key|value", re.I)
_CROSS_NAME = re.compile("encoder|cross", re.I)  # a cross-attention cache: the encoder's


def _kv_caches(inputs: list[_Input], states: Mapping[str, str]) -> list[_Input]:
    """The state inputs named as a KV cache (``past_key_values.0.key``, ``past_key``)."""
    return [i for i in inputs if i.name in states and _CACHE_NAME.search(i.name)]


def _cache_length(inputs: list[_Input], states: Mapping[str, str]) -> str | None:
    """The dim that is a decoder's self-attention cache length: of the first cache that is
    not cross-attention, the dim after the batch named past, else the one no input but a cache
    has (torch.export's ``s58``), else the one before the head size ([batch, heads, past,
    head_size]); None where there is none."""
    kv = _kv_caches(inputs, states)
    caches = [i for i in kv if not _CROSS_NAME.search(i.name)]
    if not caches:
        return None
    dims = [d for d in caches[0].dims[1:] if isinstance(d, str)]
    named = [d for d in dims if "past" in d.lower() and meaningful_name(d)]
    held = {d for i in inputs if i not in kv for d in i.dims}
    alone = [d for d in dims if d not in held]
    if named or len(alone) == 1:
        return (named or alone)[0]
    at = caches[0].dims[-2] if len(caches[0].dims) >= 3 else None
    return at if isinstance(at, str) else None


def _cache_ties(
    inputs: list[_Input],
    states: Mapping[str, str],
    groups: dict[str, list[int]],
    bound: dict[str, int],
    derived: dict[str, tuple[Any, str]],
) -> dict[str, tuple[Any, str]]:
    """Beside a KV cache, made-up dims that are others' (``_same_dim``) or a sum of them: the
    exporter named them apart where it could not tie them (torch.export's automatic dims:
    ``s31`` for the mask's batch, ``s76`` for the last value's; ``dynamic_axes`` as lists:
    each input's own ``input_ids_dynamic_axes_1``). The batch of each cache, mask, ids and
    encoder states is the ids'; each cache's dims are those of the first cache of its kind
    (the layers' keys and values; a cross-attention cache apart, as long as the encoder's mask
    and states); other ids (``position_ids``) are the ids' dims; the attention mask spans the
    cache and the new tokens. Probed apart, a mask as long as the new tokens beside a cache of
    128 never ran, and each layer's cache was probed on its own."""
    caches = _kv_caches(inputs, states)
    id_inputs = [
        i
        for i in inputs
        if i.name not in states and i.dtype.kind in "iu" and i.name.lower().endswith("ids")
    ]  # the new tokens' ids: input_ids (decoder_input_ids) before others (position_ids)
    ids = min(id_inputs, key=lambda i: not i.name.lower().endswith("input_ids"), default=None)
    if not caches or ids is None or len(ids.dims) != 2:
        return {}
    root: dict[str, str] = {}  # dim -> the dim it is (a root when tied, followed at the end)
    said: dict[str, str] = {}

    def find(d: str) -> str:
        while d in root:
            d = root[d]
        return d

    def tie(d: int | str | None, e: int | str, how: str) -> None:
        e = find(e) if isinstance(e, str) else e
        if isinstance(d, str) and isinstance(e, str) and d not in root:
            if _may_follow(d, e, groups, bound, derived):
                root[d], said[d] = e, how

    for i in inputs:  # the batch: of the decoder's own inputs (an image's patches, [patches,
        # features], or images per prompt need not be as many)
        mine = (
            i in caches
            or i in id_inputs
            or _MASK_SUFFIX.search(i.name)
            or (i.dtype.kind == "f" and len(i.dims) == 3 and i.name.startswith("encoder"))
        )
        if i is not ids and len(i.dims) >= 2 and mine:
            tie(i.dims[0], ids.dims[0], f"as {ids.name}'s batch")
    first: dict[str, _Input] = {}
    for c in caches:
        like = first.setdefault(_CACHE_KIND.sub("#", c.name), c)
        if len(like.dims) == len(c.dims):
            for d, e in zip(c.dims[1:], like.dims[1:], strict=True):
                tie(d, e, f"as {like.name}'s")
    for i in id_inputs:
        if i is not ids and len(i.dims) == 2:
            tie(i.dims[1], ids.dims[1], f"as {ids.name}'s")
    # cross-attention: the encoder's states, their mask and the caches of them are as long
    keys = next((i for i in inputs if re.search("encoder.*mask", i.name, re.I)), None)
    if keys is not None and len(keys.dims) == 2:
        for i in inputs:
            if i.dtype.kind == "f" and i.name not in states and i.name.startswith("encoder"):
                tie(i.dims[1] if len(i.dims) == 3 else None, keys.dims[1], f"as {keys.name}'s")
            elif i in caches and _CROSS_NAME.search(i.name) and len(i.dims) == 4:
                tie(i.dims[2], keys.dims[1], f"as {keys.name}'s")
    length, new = _cache_length(inputs, states), ids.dims[1]
    length = find(length) if length else None
    out = {d: (functools.partial(_same_dim, find(d)), how) for d, how in said.items()}
    for m in inputs:
        hit = _MASK_SUFFIX.search(m.name)
        total = m.dims[-1] if len(m.dims) == 2 else None
        prefix = m.name[: hit.start()] if hit else ""  # decoder_attention_mask: decoder_
        if (
            hit is None
            or (prefix and prefix + "input_ids" != ids.name)  # not encoder_attention_mask
            or length is None
            or not isinstance(total, str)
            or total in bound
            or total in derived
            or total in root
            or meaningful_name(total)
            or any(total in i.dims for i in inputs if i is not m)
        ):
            continue
        plus = new if isinstance(new, int) else find(new)
        out[total] = (functools.partial(_sum_dims, length, plus), f"{length} + {plus}")
    return out


def _eval_dims(code: Any, used: list[str], sizes: dict[str, int]) -> int:
    env = {f"_{i}": sizes[n] for i, n in enumerate(used)}  # as _dim_expression numbered them
    return int(eval(code, {"__builtins__": {}}, env))  # only the ops _DIM_AST allows


def _casts_to_float(node: onnx.NodeProto) -> bool:
    to = next((a.i for a in node.attribute if a.name == "to"), 0)
    return bool(to) and np.dtype(onnx.helper.tensor_dtype_to_np_dtype(to)).kind == "f"


def _image_like(inp: _Input) -> bool:
    """A 4-d float input, or a 4-d uint8 one (camera pixels, cast to float inside)."""
    return len(inp.dims) == 4 and (inp.dtype.kind == "f" or inp.dtype == np.uint8)


def _sum_dims(a: str, b: str | int, sizes: dict[str, int]) -> int:
    return sizes[a] + (b if isinstance(b, int) else sizes[b])


def _saturated_images(
    inputs: list[_Input], why: Mapping[str, str], positive: Mapping[str, str | None]
) -> dict[str, str]:
    """The float images (rank 4, 1, 3 or 4 channels first or last) given standard normal, to
    be pixels in [0, 1) because standard normal made every output the same, with the clause
    that says so."""
    out = {}
    for i in inputs:
        if i.dtype.kind != "f" or not _image_like(i) or positive.get(i.name):
            continue
        if not why.get(i.name, "").startswith("standard normal"):
            continue
        few = [isinstance(d, int) and d in (1, 3, 4) for d in i.dims]
        if few[1] or few[3]:
            out[i.name] = "an image's pixels: standard normal made every output the same"
    return out


def _spatial_axes(dims: list[int | str]) -> tuple[int, int]:
    """The height and width axes of a 4-d image input: (1, 2) when the last dim is a few
    channels and the second is not (NHWC: TensorFlow, Keras and TFLite models through
    tf2onnx), else (2, 3) (NCHW). A Keras ``Input((None, None, 3))`` was generated 1x1x224x3."""
    few = [isinstance(d, int) and d <= 4 for d in dims]
    return (1, 2) if few[3] and not few[1] else (2, 3)


def _probe_order(groups: dict[str, list[int]]) -> Iterator[dict[str, int]]:
    """Configurations in candidate order (typical size first), lazily (the product can be huge;
    few are tried).

    Order: summed candidate index of the batch dims (a bigger batch rarely fixes a failure, so
    last), then summed index of the others, then the most even first (the smallest largest
    index: a ViT that takes 16 patches ran at 64x64, not 128x32), then lexicographic.
    """
    keys = list(groups)
    batch = [k for k in keys if groups[k] is _BATCH]
    other = [k for k in keys if groups[k] is not _BATCH]

    def sums(ks: list[str], total: int) -> Iterator[tuple[int, ...]]:
        if not ks:
            if total == 0:
                yield ()
            return
        for i in range(min(total, len(groups[ks[0]]) - 1) + 1):
            for rest in sums(ks[1:], total - i):
                yield (i, *rest)

    max_b = sum(len(groups[k]) - 1 for k in batch)
    max_o = sum(len(groups[k]) - 1 for k in other)
    for tb in range(max_b + 1):
        for b in sums(batch, tb):
            for to in range(max_o + 1):
                same = sums(other, to)
                if len(other) <= 6:  # at most the product of the candidate lists: even first
                    same = iter(sorted(same, key=lambda t: (max(t, default=0), t)))
                for o in same:
                    idx = dict(zip(batch, b, strict=True)) | dict(zip(other, o, strict=True))
                    yield {k: groups[k][idx[k]] for k in keys}


# ---------------------------------------------------------------- values


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])  # independent of input order


def _states(model: onnx.ModelProto, inputs: list[_Input]) -> dict[str, str]:
    """Float inputs that are recurrent state, with why: by name, or matched to an output.

    Each output of the same dtype and dims claims at most one input whose name begins as its
    own does (``h``/``h_n``, ``carry``/``carry_out``: the longest shared prefix, the later input
    on ties: state comes after data), and at least one float input stays data, so an
    image-to-image model's input is not mistaken for state. A shape alone is not enough: a
    torch.export of ``y = f(x)`` with a second float input (``x``, ``flag`` -> ``getitem``) fed
    ``x`` zeros, so its output was constant and nothing was verified.
    """
    # a mask is no state, even a past one (a time series' past_observed_mask)
    floats = [i for i in inputs if i.dtype.kind == "f"]
    masks = {i.name for i in floats if "mask" in i.name.lower()}
    outputs: list[tuple[str, np.dtype, list[int | str], bool]] = []
    for o in model.graph.output:
        t = o.type.tensor_type
        if not t.elem_type:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in t.shape.dim]
        dt = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type))
        outputs.append((o.name, dt, dims, t.HasField("shape")))

    def like(i: _Input, same: Any, shapeless: bool) -> bool:
        """Whether an output could be ``i``: its dtype and rank, each pair of dims ``same``
        (output dim, input dim); an output with no shape counts where ``shapeless``."""
        return any(
            dt == i.dtype
            and (
                (shapeless and not known)
                or (known and len(dims) == len(i.dims) and all(map(same, dims, i.dims)))
            )
            for _, dt, dims, known in outputs
        )

    input_dims = {d for i in inputs for d in i.dims if isinstance(d, str)}

    def returned(i: _Input) -> bool:
        """An output could be ``i`` updated: each dim known on both sides the same (an unnamed
        dynamic dim matches any, and so does a name no input has: the exporter's
        ``AddstateN_dim_0`` for a VAD's state [2, batch, 128])."""
        own = f"{i.name}:"
        return like(
            i,
            lambda a, b: (
                a == b
                or a in ("", 0)
                or (isinstance(a, str) and a not in input_dims)
                or (isinstance(b, str) and b.startswith(own))
            ),
            shapeless=True,
        )

    def grown(i: _Input) -> bool:
        """An output could be ``i`` one step longer (a KV cache -> ``present``): the dims fixed
        on both sides the same, the dynamic ones anything."""
        return like(i, lambda a, b: not (a and isinstance(a, int) and isinstance(b, int) and a != b),
                    shapeless=False)  # fmt: skip

    # a name says state where the model returns it updated (a VAD's state -> stateN), or for a
    # KV cache (past_key_values -> present, one step longer); an encoder's hidden states or a
    # transformer decoder's memory are data the model reads, not returns, and so is a time
    # series' history (PatchTST's past_values [batch, time, channels] -> [batch, channels,
    # patches, d_model]): zeros there made the output constant and nothing was verified
    out = {
        i.name: "state: its name"
        for i in floats
        if i.name not in masks
        and _STATE_NAME.search(i.name)
        and ((_CACHE_NAME.search(i.name) and grown(i)) or returned(i))
    }
    claimed: dict[str, str] = {}
    for oname, dt, dims, _ in outputs:
        prefix = {i.name: _step_prefix(i.name, oname) for i in floats}
        cands = [
            (prefix[i.name], k, i.name)
            for k, i in enumerate(floats)
            if i.dtype == dt and i.dims == dims and prefix[i.name] > 0
            and i.name not in out and i.name not in claimed and i.name not in masks
        ]  # fmt: skip
        if cands:
            claimed[max(cands)[2]] = f"state: same shape as output {oname!r}"
    if len(out) + len(claimed) >= len(floats):
        claimed = {}
    return out | claimed


# the word a state's next step inserts in its name (cache_len -> cache_next_len)
_STEP_WORDS = ("next", "new", "out", "updated")


def _int_states(model: onnx.ModelProto, inputs: list[_Input]) -> dict[str, str]:
    """Integer inputs that are a state's bookkeeping, with why: named like a state and returned
    one step on under the same name with a step word in it (a streaming Conformer's
    ``cache_last_channel_len`` -> ``cache_last_channel_next_len``, beside its zeroed caches).
    A state starts empty: its length was the sequence size, 128, for a cache of 16."""
    outs = {tuple(re.split(r"[._-]+", o.name.lower())): o.name for o in model.graph.output}
    found = {}
    for i in inputs:
        if i.dtype.kind not in "iu" or not _STATE_NAME.search(i.name):
            continue
        words = tuple(re.split(r"[._-]+", i.name.lower()))
        at = [(*words[:k], w, *words[k:]) for k in range(len(words) + 1) for w in _STEP_WORDS]
        name = next((outs[n] for n in at if n in outs), None)
        if name is not None:
            found[i.name] = f"state: its name, returned as {name!r}"
    return found


# what tells a state's next step from the state after the name both begin with: h/h_n,
# carry/carry_out, state/stateN, hidden_in/hidden_out, h0/h1 (not actions/action_preds)
_STEP_SUFFIX = re.compile(r"[._-]*(in|out|n|new|next|prev|old|updated|i|o|t|t1|\d+)?", re.I)


def _step_prefix(inp: str, out: str) -> int:
    """How much of ``inp`` and ``out`` is one name, where what follows it on both sides reads
    as a step (``_out``, ``N``, ``_n``, a number); 0 if not. A Decision Transformer's
    ``actions`` and ``action_preds`` share "action", but the predictions are not the actions
    one step on: zeros there left the action embeddings unverified."""
    k = len(os.path.commonprefix([inp, out]))
    while k > 1 and inp[k - 1] in "._-":  # "h_" of h_in/h_out: the name is "h"
        k -= 1
    return k if all(_STEP_SUFFIX.fullmatch(x[k:]) for x in (inp, out)) else 0


def shape_text(shape: tuple[int, ...]) -> str:
    """``1x3x224x224``; ``scalar`` for a 0-d shape."""
    return "x".join(map(str, shape)) if shape else "scalar"


def _positions(
    name: str, shape: tuple[int, ...], dt: np.dtype, past: int, also: str = ""
) -> tuple[np.ndarray, str] | None:
    """``past``, ``past + 1``, ... along the last axis of an integer input named as positions
    (the new tokens' after a cache of ``past``), with its note; None for any other input (and
    for a mask named so: Kosmos-2's ``image_embeds_position_mask``)."""
    if not (_POSITION_NAME.search(name) and "mask" not in name.lower() and dt.kind in "iu"):
        return None
    if not shape:
        return None
    pos = np.arange(past, past + shape[-1]).astype(dt)
    after = ", after the cache" if past else ""
    return np.broadcast_to(pos, shape).copy(), (
        f"{past}..{past + shape[-1] - 1} along the last axis (positions: name{after}{also})"
    )


def _values(
    inp: _Input,
    shape: tuple[int, ...],
    uses: _Uses | None,
    state: str | None,
    rng_range: tuple[float, float] | None,
    seq: int,
    seed: int,
    past: int = 0,
    positive: str | None = None,
    masks_off: str | None = None,
    pixels: str | None = None,
) -> tuple[np.ndarray, str]:
    """The array for one input and the clause saying why; ``masks_off``: masks are zeros,
    because ones gave that (a PyTorch ``key_padding_mask`` is true where a token is padding,
    and a row of padding only is NaN after the softmax)."""
    rng, dt = _rng(seed, inp.name), inp.dtype
    if rng_range is not None:
        lo, hi = rng_range
        if dt.kind == "f":
            return rng.uniform(lo, hi, shape).astype(
                dt
            ), f"uniform in [{lo:g}, {hi:g}] (--val-range)"
        if dt.kind == "b":
            return rng.integers(int(lo), int(hi) + 1, shape).astype(bool), "from --val-range"
        return rng.integers(int(lo), int(hi) + 1, shape).astype(
            dt
        ), f"uniform in [{int(lo)}, {int(hi)}] (--val-range)"
    if uses is not None and uses.setting is not None and dt.kind in "fiu":
        v, what, op, n = uses.setting
        return np.full(shape, v, dt), f"{v:g} ({what}: input of {op} {n!r})"
    if state:  # a float state, or an integer one's length: it starts empty
        return np.zeros(shape, dt), f"zeros ({state})"
    padding = "mask" not in inp.name.lower() and _PADDING_NAME.search(inp.name) is not None
    if dt.kind == "f":
        if "mask" in inp.name.lower():
            # a float mask (a time series' past_observed_mask, 1 where a value was observed;
            # an additive attention mask, where a constant shifts nothing): ones, as for ints
            return _mask(shape, dt, "name", masks_off)
        if padding:
            return np.zeros(shape, dt), "zeros (a padding indicator by name: no step padded)"
        if pixels:  # 8-bit values the model scales itself (Keras's Rescaling)
            return rng.uniform(0.0, 255.0, shape).astype(dt), f"uniform in [0, 255) ({pixels})"
        if positive and positive.startswith("divides"):  # standard normal came near 0
            return rng.uniform(0.5, 1.5, shape).astype(dt), f"uniform in [0.5, 1.5) ({positive})"
        if positive:
            return rng.uniform(0.0, 1.0, shape).astype(dt), f"uniform in [0, 1) ({positive})"
        codes = [(c, op, n) for c, op, n in (uses.compared if uses else []) if op == "Equal"]
        if codes:  # compared for equality: codes (SAM's point label -1 = padding); half of them
            known = np.array(list(dict.fromkeys(v for c, _, _ in codes for v in c)), dt)
            values = rng.standard_normal(shape).astype(dt)
            pick = rng.random(shape) < 0.5
            values[pick] = rng.choice(known, size=int(pick.sum()))
            where = ", ".join(f"{op} {n!r}" for _, op, n in codes)
            listed = ", ".join(f"{v:g}" for v in known)
            return values, f"half {listed} (compared in {where}), half standard normal"
        # where only parts index tables, those parts hold rows and the rest stays data
        parted = uses is not None and len(uses.parts) == len(uses.gathers) > 0
        if (
            uses is not None
            and not parted
            and (uses.gathers or uses.shape_of or uses.seq_lens or uses.size_of)
        ):
            # floats the model casts to indices or sizes (SAM's image size, its point labels
            # into an embedding): the values an integer input with those uses gets
            ints, said = _values(
                _Input(inp.name, np.dtype(np.int64), inp.dims), shape, uses, None, None, seq, seed, past
            )  # fmt: skip
            return ints.astype(dt), said
        values = rng.standard_normal(shape).astype(dt)
        said = f"standard normal (seed {seed})"
        for rows, n, (axis, lo, hi) in uses.parts if uses is not None and parted else []:
            # the part that indexes a table holds row numbers, the rest stays data (Pix2Struct:
            # all of it uniform in [0, 64) made its pixels 64 times too large)
            if not -len(shape) <= axis < len(shape) or lo >= shape[axis]:
                continue
            at = [slice(None)] * len(shape)
            at[axis] = slice(lo, min(hi, shape[axis]))
            values[tuple(at)] = rng.integers(0, rows, values[tuple(at)].shape)
            index = ", ".join(":" if a.stop is None else f"{a.start}:{a.stop}" for a in at)
            said += f"; [{index}] rows of Gather {n!r}, in [0, {rows})"
        return values, said
    assert uses is not None
    if dt.kind in "OUS":  # strings
        keys, op, n = uses.strings or (["a", "b"], "", "")
        pool = np.array(keys, dtype=object)
        if uses.words is None:
            picked = rng.choice(pool, size=shape)
            said = f"drawn from the {len(keys)} keys of {op} {n!r}" if op else "strings 'a', 'b'"
            return np.asarray(picked, dtype=object), said
        # text a Tokenizer splits: 1 to 8 words of the vocabulary, so every sample has counts
        picked = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            picked[idx] = uses.words.join(rng.choice(pool, size=int(rng.integers(1, 9))))
        said = f"1 to 8 words of the {len(keys)} of {op} {n!r}" if op else "words 'a', 'b'"
        return picked, said
    if uses.gathers and dt.kind != "b":
        # ids first, even when also compared: a CLIP text tower compares its ids with the EOS
        # id (49407) to find where to pool, and ids filled with a constant the table does not
        # hold (a smaller vocabulary) fail its Gather on every size
        rows, n = min(uses.gathers)
        # rows of a position table (GPT-2's wpe): positions, where the table has them
        fits = bool(shape) and past + shape[-1] <= rows
        also = f"; rows of Gather {n!r}"
        if fits and (counted := _positions(inp.name, shape, dt, past, also)):
            return counted
        ids = rng.integers(0, rows, shape)
        less = f", less the {uses.added[n]} the model adds first" if n in uses.added else ""
        if n in uses.blocks:
            less = ", a block the model offsets by multiples of it"
        said = f"uniform in [0, {rows}) (rows of Gather {n!r}{less})"
        # a token looked for is tested for equality (Keras's Embedding tests ids < 0, to wrap
        # negative ones: not a token)
        marks = [(v, op, m) for c, op, m in uses.compared if op == "Equal" for v in c if 0 <= v < rows]  # fmt: skip
        if marks and ids.ndim >= 1 and ids.size:
            v, op, m = marks[0]
            ids[..., -1] = int(v)  # like a sequence ending in the token the model looks for
            said += f", each row ending in {v:g} (compared in {op} {m!r})"
        return ids.astype(dt), said
    tested = [v for c, _, _ in uses.compared for v in c]
    if tested and "mask" in inp.name.lower() and set(tested) <= {0, 1}:
        # a mask tested against 0 (XLM's ``masked_fill(mask == 0, 0)``) is ones, as masks are:
        # filled with the 0 it is compared with, every token was masked, the output constant
        return _mask(shape, dt, "name", masks_off)
    if uses.compared:
        first = uses.compared[0][0][0]
        consts = ", ".join(f"{v:g}" for c, _, _ in uses.compared for v in c)
        where = ", ".join(f"{op} {n!r}" for _, op, n in uses.compared)
        return np.full(shape, first, dt), f"{first:g} (compared with {consts} in {where})"
    if uses.rois_batch is not None and dt.kind in "iu":  # the first image: valid at any batch
        return np.zeros(shape, dt), f"zeros (batch indices of RoiAlign {uses.rois_batch!r})"
    if uses.trips is not None and dt.kind in "iu":
        # a loop's iterations (refinement steps, a generation's length): {0, 1} ran it at most
        # once, and 0 times its sites never ran, the rewrite "verified" with rel-L2 0
        return np.full(shape, _TRIPS, dt), f"{_TRIPS} (trip count of Loop {uses.trips!r})"
    if _offsets(uses, inp.dims):
        # offsets into a sequence (an EmbeddingBag's, one bag per batch item); the sequence
        # size in each made every bag empty, its embeddings zeros
        n, k = uses.starts[0][0], shape[-1]
        pos = np.arange(k) * seq // k
        said = f"{', '.join(map(str, pos[:3]))}{', ...' if k > 3 else ''}: {k} ascending offsets"
        return np.broadcast_to(pos, shape).astype(dt), (
            f"{said} into {seq} (starts and ends of Slice {n!r})"
        )
    if uses.seq_lens:
        op, n, _ = uses.seq_lens[0]
        return np.full(shape, seq, dt), f"{seq} = the sequence size (sequence length of {op} {n!r})"
    if uses.size_of and dt.kind in "iu":
        op, n = uses.size_of
        return np.full(shape, _SPATIAL[0], dt), (
            f"{_SPATIAL[0]} (output sizes of {op} {n!r}: a typical image size)"
        )
    if uses.shape_of and dt.kind in "iu":
        op, n = uses.shape_of
        if op == "Reshape" and len(shape) == 1 and shape[0] >= 1:
            to = np.zeros(shape, dt)
            to[-1] = -1
            return to, f"0, ..., -1 (the shape of Reshape {n!r}: leading dims kept, the rest one)"
        return np.ones(shape, dt), f"ones (the shape operand of {op} {n!r})"
    if uses.gathers:  # bool indices (integer ones are above)
        return np.ones(shape, bool), f"true (indices of Gather {min(uses.gathers)[1]!r})"
    if counted := _positions(inp.name, shape, dt, past):
        return counted
    if (
        dt.itemsize == 1
        and dt.kind in "iu"
        and (len(shape) >= 3 or pixels)
        and uses.to_float
        and "mask" not in inp.name.lower()
    ):  # 8-bit pixels cast to float (a uint8 NHWC camera frame): {0, 1} was a black image; of
        # lower rank where the model scales them by 1/255 (a grayscale [height, width] image,
        # a flattened digit)
        info = np.iinfo(dt)
        return rng.integers(info.min, int(info.max) + 1, shape).astype(dt), (
            f"uniform in [{info.min}, {info.max}] (8-bit values made floats by "
            f"{uses.to_float}: pixels{f', {pixels}' if pixels else ''})"
        )
    if dt == np.int16 and shape and uses.to_float and "mask" not in inp.name.lower():
        # 16-bit PCM made floats (a waveform scaled by 1/32768 inside): {0, 1} was silence, the
        # outputs the same on any inputs, and nothing could be checked
        info = np.iinfo(dt)
        pcm = np.clip(np.rint(rng.normal(0.0, 0.1 * info.max, shape)), info.min, info.max)
        return pcm.astype(dt), (
            f"normal, a tenth of full scale (16-bit values made floats by {uses.to_float}: a "
            "signal)"
        )
    if padding and dt.kind in "iu":
        return np.zeros(shape, dt), "zeros (a padding indicator by name: no step padded)"
    why = "name" if "mask" in inp.name.lower() else "bool" if dt.kind == "b" else uses.mask
    if why and uses.scatter is not None and uses.scatter[0] == 1 and len(shape) == 2:
        # where a ScatterND puts features (Kosmos-2's image embeddings): once a row, as the
        # features fill any count of positions with their first values (ones at 128
        # positions asked 128 rows of 64); the rows are counted once the sizes are chosen
        once = np.zeros(shape, dt)
        once[:, min(1, shape[1] - 1)] = 1
        return once, f"zeros, a one a row after its first (mask: {why}; ScatterND {uses.scatter[3]!r} puts features there)"  # fmt: skip
    if why and uses.padding:  # true where padding: none padded, every position attended
        return np.zeros(shape, dt), f"zeros (mask: {why}, true where padding: {uses.padding})"
    if why:
        return _mask(shape, dt, why, masks_off)
    return rng.integers(0, 2, shape).astype(dt), "uniform in {0, 1} (no use that bounds it)"


def _mask(
    shape: tuple[int, ...], dt: np.dtype, why: str, off: str | None
) -> tuple[np.ndarray, str]:
    """A mask: ones (everything attended), or zeros where ones gave ``off`` (NaN outputs)."""
    if off:
        return np.zeros(shape, dt), f"zeros (mask: {why}; ones gave {off})"
    return np.ones(shape, dt), f"ones (mask: {why})"


# ---------------------------------------------------------------- probing


def _session(model: onnx.ModelProto) -> Any:
    return session(model, what="the input model", prepack=False)


def _run(sess: Any, feeds: dict[str, np.ndarray]) -> tuple[list[np.ndarray] | None, str | None]:
    try:
        return run_session(sess, feeds), None
    except Exception as e:
        return None, str(e)


def _degenerate(outs: list[np.ndarray], names: list[str]) -> str | None:
    for n, o in zip(names, outs, strict=False):
        if o.dtype.kind in "fc" and not np.isfinite(o).all():
            return f"NaN/inf in output {n!r}"
    multi = [o for o in outs if o.size > 1]
    if multi and all(np.all(o == o.ravel()[0]) for o in multi):
        return "every output constant"
    return None


def _differ(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    """Whether two feeds differ anywhere (a model fed only zeros and constants does not)."""
    return any(not np.array_equal(a[k], b[k]) for k in a)


def _insensitive(outs: list[np.ndarray], again: list[np.ndarray]) -> bool:
    """Every float output the same on other inputs to 1e-5 of its peak, and at least one has
    values: integer outputs (a label, kept box indices) may agree by chance, and a detector
    that keeps no box on either input says nothing either way."""
    floats = 0
    for x, y in zip(outs, again, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype.kind != "f" or x.size == 0:
            continue
        if x.shape != y.shape or not np.isfinite(y).all():
            return False
        if float(np.max(np.abs(x - y))) > 1e-5 * float(np.max(np.abs(x))):
            return False
        floats += 1
    return floats > 0


# ---------------------------------------------------------------- the entry point


def generate_inputs(
    model: onnx.ModelProto,
    *,
    shapes: dict[str, tuple[int, ...]] | None = None,
    ranges: dict[str, tuple[float, float]] | None = None,
    seed: int = 0,
    sizes: dict[str, int] | None = None,
    unit: Mapping[str, str] | None = None,
) -> GeneratedInputs:
    """Feeds the model accepts, with a note per input saying how each was derived.

    Args:
        model: the model (not modified).
        shapes: ``--input-shapes`` (see ``parse_input_shapes``): fixes those inputs' shapes and
            the dim names in them; other dynamic dims are probed.
        ranges: ``--val-range`` (see ``parse_val_ranges``); the key "" applies to every input.
        seed: seeds every random value (per input, independent of input order).
        sizes: the dynamic dims of an earlier result (``GeneratedInputs.sizes``): more seeds
            at the same sizes, without probing again.
        unit: the image inputs an earlier result gave pixels in [0, 1)
            (``GeneratedInputs.unit``), passed with its ``sizes``.

    Returns:
        ``GeneratedInputs`` with one feed per graph input that is not an initializer.

    Raises:
        InputError: no size tried runs; the line names the input, the failing node and flags.
        UsageError: ``shapes``/``ranges`` name an unknown input or contradict a fixed dim.

    Example:
        >>> gen = generate_inputs(onnx.load("vad.onnx"))  # doctest: +SKIP
        >>> gen.feeds["sr"], gen.notes[1]  # doctest: +SKIP
        (array(16000), "sr: int64 scalar, 16000 (compared with 16000, 8000 in Equal 'eq_16000', ...)")
    """
    shapes, ranges = dict(shapes or {}), dict(ranges or {})
    inputs = _graph_inputs(model)
    names = [i.name for i in inputs]
    for flag, given in (("--input-shapes", shapes), ("--val-range", ranges)):
        unknown = sorted(set(given) - set(names) - {""})
        if unknown:
            raise UsageError(
                f"{flag}: no input named {unknown[0]!r}; the model's inputs are {names}"
            )
    graph = _Graph(model)
    keyed: dict[str, int] = {}
    for inp in inputs:
        keyed |= _fix_dims(inp, graph, shapes)
    for inp in inputs:
        inp.dims = [keyed.get(d, d) if isinstance(d, str) else d for d in inp.dims]
    bound: dict[str, int] = {}  # dim group -> size fixed by --input-shapes
    for inp in inputs:
        if inp.name not in shapes:
            continue
        want = shapes[inp.name]
        if len(want) != len(inp.dims):
            raise UsageError(
                f"--input-shapes: {inp.name!r} has rank {len(inp.dims)}, got {shape_text(want)}; "
                f"the model declares [{', '.join(map(str, inp.dims))}]"
            )
        for d, w in zip(inp.dims, want, strict=True):
            if isinstance(d, int) and d != w:
                raise UsageError(
                    f"--input-shapes: {inp.name!r} is [{', '.join(map(str, inp.dims))}] in the model, got {shape_text(want)}"
                )
            if isinstance(d, str):
                bound[d] = w
    groups: dict[str, list[int]] = {}
    hint = _image_size(model)
    waves = _waveform_dims(graph, inputs)
    for inp in inputs:
        for axis, d in enumerate(inp.dims):
            if isinstance(d, str) and d not in groups:
                groups[d] = (
                    [bound[d]] if d in bound else _SAMPLES if d in waves else _candidates(d, inputs)
                )
                if hint and d not in bound and inp.dtype.kind == "f" and len(inp.dims) == 4:
                    spatial = _spatial_axes(inp.dims)
                    if axis in spatial:  # the exporter's own image size first
                        size = hint[spatial.index(axis)]
                        groups[d] = [size, *(c for c in groups[d] if c != size)]
    states = _states(model, inputs)
    if all(i.name in states for i in inputs):
        # nothing else to read: a vision tower exported alone takes its patches as
        # ``hidden_states`` (its grid baked), and a "state" of zeros made every output constant
        states = {}
    int_states = _int_states(model, inputs)
    length = _cache_length(inputs, states)
    if length in groups and length not in bound and not meaningful_name(length):
        groups[length] = _SEQUENCE  # a cache's length, not an image side ([b, h, s58, 16])
    for inp in inputs:
        # a recurrent state laid out as torch's h0, [layers, batch, hidden], with the batch
        # unnamed (Silero VAD's state [2, ?, 128]): read as a sequence, it was 128 and the LSTM
        # refused every probe
        dims = inp.dims
        if (
            inp.name in states
            and not _CACHE_NAME.search(inp.name)
            and len(dims) == 3
            and isinstance(dims[0], int)
            and isinstance(dims[2], int)
            and isinstance(dims[1], str)
            and dims[1] not in bound
            and not meaningful_name(dims[1])
        ):
            groups[dims[1]] = _BATCH
    if states:  # new tokens beside a cache: one token is a decoder step
        in_state = {d for i in inputs if i.name in states for d in i.dims}
        for k, cands in groups.items():
            if cands is _SEQUENCE and k not in in_state and k not in bound:
                groups[k] = _STEP
    for k, (lo, hi) in dim_ranges(model).items():
        if k in groups and k not in bound:
            groups[k] = _within(groups[k], lo, hi)
    derived = {k: f for k, f in _derived_dims(groups).items() if k not in bound}
    if not states and not int_states:  # beside a cache a mask spans the past tokens too
        derived |= _paired_masks(inputs, groups, bound, derived)
    derived |= _cache_ties(inputs, states, groups, bound, derived)
    for k in derived:
        del groups[k]
    how = {k: h for k, (_, h) in derived.items()}
    uses = {i.name: graph.uses(i.name) for i in inputs}
    positive = {
        i.name: graph.divides(i.name) or graph.needs_positive(i.name)
        for i in inputs
        if i.dtype.kind == "f"
    }
    chosen = {k: v for k, v in (unit or {}).items() if k in positive}  # pixels in [0, 1)
    positive |= chosen
    pixels = {
        i.name: graph.pixel_scale(i.name)
        for i in inputs
        if i.dtype.kind == "f" or (i.dtype.kind in "iu" and i.dtype.itemsize == 1)
    }
    seq_keys = [k for k in groups if _candidates(k, inputs) in (_SEQUENCE, _SAMPLES)]
    out_names = [o.name for o in model.graph.output]

    def full(sizes: dict[str, int]) -> dict[str, int]:
        return sizes | {k: f(sizes) for k, (f, _) in derived.items()}

    def feeds_for(
        sizes: dict[str, int], masks_off: str | None = None, seed: int = seed
    ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        feeds, why = {}, {}
        past = sizes.get(length, 0) if length else 0  # a cache's length
        for inp in inputs:
            shape = tuple(d if isinstance(d, int) else sizes[d] for d in inp.dims)
            seq = _seq_size(inp.name, uses.get(inp.name), inputs, sizes, graph, seq_keys)
            u = uses.get(inp.name)
            if (
                u is not None
                and u.dim_gathers
                and not u.gathers
                and not _POSITION_NAME.search(inp.name)
            ):
                # rows: a size probed now (positions keep 0, 1, ...: they index any such table)
                rows = [(sizes[d], n) for d, n in u.dim_gathers if sizes.get(d, 0) > 0]
                u = dataclasses.replace(u, gathers=rows)
            given = ranges.get(inp.name, ranges.get(""))
            feeds[inp.name], why[inp.name] = _values(
                inp, shape, u, states.get(inp.name) or int_states.get(inp.name), given, seq,
                seed, past, positive.get(inp.name), masks_off, pixels.get(inp.name),
            )  # fmt: skip
            if u is None or given is not None:  # --val-range is the user's word
                continue
            if u.top_k and inp.dtype.kind in "iu" and not (u.gathers or u.compared or u.seq_lens):
                feeds[inp.name], why[inp.name] = _top_k(shape, inp.dtype, u.top_k, sizes)
            if u.boxes is not None and inp.dtype.kind == "f" and _box_shape(shape):
                feeds[inp.name], why[inp.name] = _boxes(inp.name, shape, u.boxes, sizes, seed)
            elif _named_coordinates(inp, shape, u, 2, _CLICK_NAME):
                feeds[inp.name], why[inp.name] = _clicks(inp, shape, inputs, sizes, seed)
            elif _named_coordinates(inp, shape, u, 4, _BOX_NAME):
                feeds[inp.name], why[inp.name] = _named_boxes(inp, shape, inputs, sizes, seed)
            elif sized := _image_sizes(inp, shape, inputs, sizes):
                feeds[inp.name], why[inp.name] = sized
            elif grid := _patch_grid(inp, shape, inputs, sizes):
                feeds[inp.name], why[inp.name] = grid
            elif inp.dtype.kind in "iu" and len(shape) == 1 and _MERGE_SIZES_NAME.search(inp.name):
                feeds[inp.name] = np.full(shape, MERGE, inp.dtype)
                why[inp.name] = f"{MERGE} each: an image's 2x2 patches merged (by name)"
        return feeds, why

    def own_cache(
        sess: Any, feeds: dict[str, np.ndarray], why: dict[str, str], sizes: dict[str, int]
    ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """``feeds`` with a KV cache the model's own (``_own_cache``)."""
        free = {k: v for k, v in sizes.items() if k not in derived}
        return _own_cache(
            model,
            sess,
            inputs,
            states,
            feeds,
            why,
            free,
            lambda s, k: feeds_for(full(s), seed=k),
            seed,
        )

    if sizes is not None:  # more seeds at sizes already probed: no run needed
        sizes = full({k: v for k, v in sizes.items() if k not in derived})
        feeds, why = feeds_for(sizes)
        feeds, why = _scatter_tokens(model, uses, feeds, why) or (feeds, why)
        feeds, why = own_cache(None, feeds, why, sizes)
        return _result(inputs, feeds, why, sizes, [], groups, bound, None, how, chosen)
    skel = _skeleton(model)
    how |= _within_limit(skel, inputs, groups, full)
    # the first candidates fit (or are all there is); a probe past them in some dim is sized
    # before it runs: a UNet whose dims were all made up was probed at 1024 x 4 x 1024 x 32
    # (sizes its failures named) and killed for memory
    fits = full({k: v[0] for k, v in groups.items()})
    sess = _session(model)
    tried: list[tuple[dict[str, int], str]] = []  # (sizes, why it was rejected)
    hints: dict[int, None] = {}  # sizes ONNX Runtime's own messages name ("8 by 128")
    # probe -> the node it failed at and the sizes its message named
    reached: dict[tuple[tuple[str, int], ...], tuple[str, list[int]]] = {}
    refused: dict[str, list[tuple[dict[str, int], int, int]]] = {}  # a Reshape's refusals
    fallback = None
    too_large: tuple[dict[str, int], int] | None = None  # the first probe not run for its size
    same = 0  # sizes where the outputs did not depend on the inputs
    unit_tried = bool(chosen)  # images in [0, 1) where standard normal saturated: once
    grids: list[dict[str, int]] = []  # whole configurations a failure pointed to
    solved: set[str] = set()  # the nodes whose rows' features were sought
    hinted: dict[int, str] = {}  # why a size was tried, where no message named it
    found_by: dict[tuple[tuple[str, int], ...], dict[str, str]] = {}  # its dims' reasons
    statuses: set[str] = set()  # the failures' messages, node and all
    # the first failure of a new kind at sizes an earlier failure named (those sizes, its
    # error): what is left to fix once they are given
    deeper: tuple[dict[str, int], str] | None = None
    # dims an image's side may be (a patch model's position table names it): not token ids'
    sides = {
        d
        for i in inputs
        if i.dtype.kind == "f" or i.dtype == np.uint8
        for d in i.dims
        if isinstance(d, str)
    }
    # the sizes the model was traced at, where a converter recorded them: a try, not a choice
    traced = {k: v for k, v in dim_examples(model).items() if k in groups and k not in bound}
    example = {k: traced.get(k, v[0]) for k, v in groups.items()} if traced else None

    def oversized(sizes: dict[str, int]) -> tuple[str, int] | None:
        """Why a run at ``sizes`` is not tried (and the bytes it would make), or None: its
        feeds or the tensors it makes are over ``_WORK_LIMIT`` (a size a message named, as a
        batch); sizes past the first candidates are sized before they run."""
        if _feed_bytes(inputs, sizes) > _WORK_LIMIT:
            return "too large to feed", 0
        if any(v > fits.get(k, v) for k, v in sizes.items()):
            work = _work(skel, inputs, sizes)
            if work > _WORK_LIMIT:
                return f"too large to run ({work / 2**30:.3g} GiB of tensors)", work
        return None

    for probe in _probes(groups, bound, hints, reached, grids, example):
        sizes = full(probe)
        if (big := oversized(sizes)) is not None:
            tried.append((sizes, big[0]))
            if big[1]:
                too_large = too_large or (sizes, big[1])
            continue
        feeds, why = feeds_for(sizes)
        outs, err = _run(sess, feeds)
        placed = None
        if outs is None and (placed := _scatter_tokens(model, uses, feeds, why)):
            # features placed by an Expand to the mask's count (the dynamo exporter's
            # index_put) run only at the count: counted on the nodes before it
            outs, _ = _run(sess, placed[0])
            feeds, why = placed if outs is not None else (feeds, why)
        if outs is None:
            op, node, status = failure_site(err or "")
            tried.append((sizes, f"failed at {op} {node!r}" if node else "failed"))
            last_err = err or ""
            if deeper is None and _kind(status) not in {_kind(t) for t in statuses}:
                met = {k: v for k, v in probe.items() if v in hints and v not in groups[k]}
                deeper = (met, last_err) if met else None
            statuses.add(status)
            said = _baked_sizes(graph, op, node, last_err, probe, groups, bound)  # most specific
            said += _reshape_meets(last_err, node, probe, groups, bound, refused)
            said += _sizes_scaled(last_err, probe, groups, bound) + _sizes_named(last_err)
            # ids offset into a block per position: as many positions as the table has blocks
            for b in [b for u in uses.values() if (b := u.blocks.get(node))]:
                said.append(b)
                hinted.setdefault(b, f"as many positions as the table of Gather {node!r} has blocks")  # fmt: skip
            reached[tuple(sorted(probe.items()))] = (node, said)
            hints.update(dict.fromkeys(said))
            grids += _grid_probes(last_err, probe, groups, sides)
            if node and node not in solved:  # once a node: its weights ask the same each time
                solved.add(node)
                base_why = found_by.get(tuple(sorted(probe.items())), {})  # the probe's own
                for met, why_met in _rows_meet(skel, graph, inputs, node, probe, groups, bound, full):  # fmt: skip
                    grids.append(met)
                    moved = {k: why_met for k, v in met.items() if v != probe[k]}
                    found_by.setdefault(tuple(sorted(met.items())), base_why | moved)
            continue
        bad = _degenerate(outs, out_names)
        off = None  # why masks are zeros, where they are
        if (
            bad
            and (bad.startswith("NaN") or bad == "every output constant")
            and any(w.startswith("ones (mask") for w in why.values())
        ):
            # masks that are true where a token is padding: everything masked out (NaN after
            # a softmax, or zeros: Gemma 3n's audio encoder zeroes padded frames); try none
            flipped, why_flipped = feeds_for(sizes, masks_off=bad)
            outs, err = _run(sess, flipped)
            if outs is not None and _degenerate(outs, out_names) is None:
                feeds, why, off, bad = flipped, why_flipped, bad, None
        if bad is None:
            # at some sizes a model runs but ignores its inputs (Silero VAD's 16 kHz network on
            # 256 samples, half its window: the same probability for any audio); sites
            # measured and verified there show nothing, so a size where they matter is sought
            other, _ = feeds_for(sizes, masks_off=off, seed=seed + 1)
            again, _ = _run(sess, other) if _differ(feeds, other) else (None, None)
            if (
                outs is not None
                and again is not None
                and _insensitive(outs, again)
                and not unit_tried
            ):
                # an image net that takes pixels in [0, 1) and scales nothing itself (a Keras
                # captcha reader through tf2onnx): standard normal saturates every softmax to
                # one answer; its images get pixels in [0, 1) from here on where those move it
                # (tried at the first such size: a net that ignores its inputs is probed at up
                # to _MAX_SAME sizes, two runs each)
                unit_tried = True
                if images := _saturated_images(inputs, why, positive):
                    positive |= images
                    pair = [feeds_for(sizes, masks_off=off, seed=s) for s in (seed, seed + 1)]
                    one, two = (_run(sess, f)[0] for f, _ in pair)
                    if one is not None and two is not None and _degenerate(one, out_names) is None and not _insensitive(one, two):  # fmt: skip
                        (feeds, why), outs, again, chosen = pair[0], one, two, images
                    else:
                        positive |= {k: None for k in images}  # standard normal, as they were
            if outs is not None and again is not None and _insensitive(outs, again):
                bad = _SAME
                same += 1
        short: dict[str, int] = {}  # ids too short for one token per image feature
        grew: dict[str, str] = {}
        if bad is None and not placed and (placed := _scatter_tokens(model, uses, feeds, why, short)):  # fmt: skip
            # a VLM's image tokens, one per feature: kept where the model runs on them
            got, _ = _run(sess, placed[0])
            if got is not None and _degenerate(got, out_names) is None:
                feeds, why = placed
        elif bad is None and not placed and short:
            # more features than tokens (LLaVA-1.5's 576 at 336 px, Chameleon's 1024 codes):
            # the ids' length grown to hold them, where the model runs there
            grown = dict(probe)
            for name, per in short.items():
                dim = next(i.dims[1] for i in inputs if i.name == name)
                if isinstance(dim, str) and dim in grown and dim not in bound:
                    grown[dim] = max(grown[dim], 1 << (per + 1).bit_length())
            if grown != probe and _work(skel, inputs, full(grown)) <= _WORK_LIMIT:
                more, more_why = feeds_for(full(grown))
                placed = _scatter_tokens(model, uses, more, more_why)
                got, _ = _run(sess, placed[0]) if placed else (None, None)
                if placed and got is not None and _degenerate(got, out_names) is None:
                    grew = {k: "grown to one image token per feature" for k in grown if grown[k] != probe[k]}  # fmt: skip
                    (feeds, why), probe, sizes = placed, grown, full(grown)
        if bad is None:
            origin = (
                "the size the model was traced at (other sizes failed)"
                if probe == example
                else "named by ONNX Runtime's message"
            )
            named = {k: hinted.get(v, origin) for k, v in probe.items() if v not in groups[k]}
            named |= found_by.get(tuple(sorted(probe.items())), {})
            feeds, why = own_cache(sess, feeds, why, sizes)
            return _result(inputs, feeds, why, sizes, tried, groups, bound, None, how | named | grew, chosen)  # fmt: skip
        tried.append((sizes, bad))
        fallback = fallback or (feeds, why, sizes, bad == _SAME)
        if same >= _MAX_SAME:  # a net that ignores its inputs anywhere (vanished activations)
            break
    if fallback is not None:
        feeds, why, sizes, ignored = fallback
        what = _SAME if ignored else "outputs degenerate"
        return _result(
            inputs, feeds, why, sizes, tried, groups, bound, f"{what} on every size tried", how
        )
    caches = _kv_caches(inputs, states)
    if caches and length in groups and length not in bound:
        # a decoder that runs with an empty cache only, its prompt's pass (onnxruntime-genai's
        # float16 CPU build: ONNX Runtime fails at every past length, "Shape mismatch
        # attempting to re-use buffer" in a Cast it inserted): that pass is run and verified
        for probe in itertools.islice(_probe_order(groups | {length: [0]}), _EMPTY_PROBES):
            sizes = full(probe)
            if oversized(sizes) is not None:
                continue
            feeds, why = feeds_for(sizes)
            outs, _ = _run(sess, feeds)
            if outs is None or _degenerate(outs, out_names) is not None:
                continue
            at = [r.removeprefix("failed at ") for _, r in tried if r.startswith("failed at ")]
            at = list(dict.fromkeys(at))  # each node once, in the order the probes met them
            failed = f"every cache length tried failed (at {', '.join(at[:3])})"
            why |= {i.name: f"empty ({length}=0: a prompt's pass); {failed}" for i in caches}
            return _result(inputs, feeds, why, sizes, tried, groups, bound, None, how, chosen)
    if deeper is not None and failure_site(last_err)[2] != failure_site(deeper[1])[2]:
        # GroupQueryAttention "got 224 expected 16" at every guess of a head size, and at 16
        # a check of its own (a rotary table too narrow): the error at 16 is the one to fix
        raise _input_error(deeper[1], inputs, graph, bound, tried, too_large, None, deeper[0])
    raise _input_error(last_err, inputs, graph, bound, tried, too_large, _one_cause(statuses))


def _scatter_tokens(
    model: onnx.ModelProto,
    uses: dict[str, _Uses],
    feeds: dict[str, np.ndarray],
    why: dict[str, str],
    short: dict[str, int] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, str]] | None:
    """``feeds`` and ``why`` with each VLM image token (``_Uses.scatter``) placed once per row
    of the features that fill its positions, in one block after each row's first token; None
    where no input has such a token or the counts do not fit. Ids ending in the token once
    took one of LLaVA's 64 image features: the vision tower's sites reached the output
    through it alone. One run of the nodes the features and the filled embeddings need counts
    them (an Expand to the mask's count after them fails on any other count). Ids too short
    for one token per feature are left, their name and the count a row put in ``short``."""
    from rewriter.ir.runtime import run_values

    marks = {n: u.scatter for n, u in uses.items() if u.scatter}
    if not marks:
        return None
    names = [v for _, feats, filled, _ in marks.values() for v in (feats, filled)]
    try:
        got = next(iter(run_values(model, names, [feeds], needed_only=True)))
    except Exception:  # the counts stay unknown: the feeds as they are
        return None
    feeds, why, done = dict(feeds), dict(why), False
    for name, (token, feats, filled, node) in marks.items():
        ids, width = feeds[name], got[filled].shape[-1] if got[filled].ndim else 0
        if ids.ndim != 2 or not width or got[feats].size % width:
            continue
        rows, (batch, length) = got[feats].size // width, ids.shape
        per = rows // batch
        if rows % batch or per <= 0:
            continue
        if per >= length:  # one token before them: the caller may grow the length
            if short is not None:
                short[name] = per
            continue
        new = np.where(ids == token, 0 if token != 0 else 1, ids).astype(ids.dtype)
        new[:, 1 : 1 + per] = token
        feeds[name], done = new, True
        where = f"(one for each of the {rows} rows ScatterND {node!r} puts at their positions)"
        if "(mask: " in why[name]:  # the mask of where they go: ones there only
            why[name] = f"zeros, ones at {per} positions a row after its first {where}"
        else:
            why[name] = re.sub(r", each row ending in [^)]*\)", "", why[name])
            why[name] += f", {per} of {token:g} per row after its first {where}"
    return (feeds, why) if done else None


# ONNX Runtime's refusal of a Reshape: the element counts of its input and of the shape asked
_RESHAPE_REFUSAL = re.compile(r"Input shape:\{([\d,]+)\}, requested shape:\{([\d,]+)\}")


def _reshape_counts(err: str) -> tuple[int, int] | None:
    """The element counts of a refused Reshape's input and of the shape it asked for."""
    m = _RESHAPE_REFUSAL.search(err)
    if m is None:
        return None
    have, want = (math.prod(int(v) for v in g.split(",")) for g in m.groups())
    return have, want


def _kind(status: str) -> str:
    """A failure's message with its numbers masked: the same kind at any size."""
    return re.sub(r"\d+", "#", status)


def _one_cause(statuses: set[str]) -> str | None:
    """Whether the failures' messages show one cause the sizes do not change: "" where they
    are one text; where they differ in sizes only, a Reshape whose input holds the same
    fraction of the elements asked at every size, that fraction (Cohere2's TorchScript export
    reshapes its key states, one head, to two: "Input shape:{1,128,16}, requested
    shape:{1,128,2,16}", and so at any length and batch, its own included). None otherwise (a
    batch baked at 4 is 1/4 at one and 2/4 at two: the sizes matter)."""
    if len(statuses) == 1:
        return ""
    if len({_kind(s) for s in statuses}) != 1:
        return None
    ratios = set()
    for s in statuses:
        counts = _reshape_counts(s)
        if counts is None:
            return None
        have, want = counts
        if not have or not want:
            return None
        ratios.add(fractions.Fraction(have, want))
    if len(ratios) != 1 or ratios == {1}:
        return None
    r = ratios.pop()
    return f" (the Reshape's input is {r.numerator}/{r.denominator} of the shape asked for)"


def _placeholder(d: str, axis: int, inp: _Input, inputs: list[_Input]) -> str:
    """A dim in the ``--input-shapes`` an error line suggests: a person's name upper-cased
    (``BATCH``), and for a name an exporter made up (``s11``, ``input_ids_dynamic_axes_2``,
    which read ``input_ids:S11xS27``) what it is probed as (``BATCHxSEQUENCE``), else N."""
    if meaningful_name(d):
        return d.upper()
    kind = _candidates(d, inputs)
    if kind is _SPATIAL and _image_like(inp) and axis in _spatial_axes(inp.dims):
        return ("HEIGHT", "WIDTH")[_spatial_axes(inp.dims).index(axis)]
    kinds = ((_BATCH, "BATCH"), (_SEQUENCE, "SEQUENCE"), (_SAMPLES, "SAMPLES"), (_FRAMES, "FRAMES"))
    return next((said for k, said in kinds if kind is k), "N")


def _no_dims(inp: _Input | None) -> str:
    """What ``--input-shapes`` takes for an input without dims: ``[]`` for a scalar, ``DIMS``
    where the model declares no shape (``[]`` read as "a scalar", and the input is not one)."""
    return "[]" if inp is None or inp.ranked else "DIMS"


def _feed_bytes(inputs: list[_Input], sizes: dict[str, int]) -> int:
    """Bytes of the feeds at ``sizes``, in float64 (what the generators draw before casting).
    A VideoMAE exported with every dim made up failed at a Conv whose message named 6272, and
    that size tried as the batch asked for a 113 GiB array."""
    total = 0
    for inp in inputs:
        n = 8
        for d in inp.dims:
            n *= d if isinstance(d, int) else sizes.get(d, 1)
        total += n
    return total


def _shaped(model: onnx.ModelProto, inputs: list[_Input], sizes: dict[str, int]) -> onnx.ModelProto:  # fmt: skip
    """A copy of ``model`` whose inputs have their shapes at ``sizes``."""
    shapes = {
        i.name: np.broadcast_to(np.zeros((), np.uint8), [d if isinstance(d, int) else sizes[d] for d in i.dims])
        for i in inputs
    }  # fmt: skip
    return with_input_shapes(model, shapes)


def _dims_at(model: onnx.ModelProto, inputs: list[_Input], sizes: dict[str, int], tensor: str) -> list[int] | None:  # fmt: skip
    """The dims of ``tensor`` at ``sizes``, from ONNX's shape inference (in a forked child, as
    ``_work``'s); None where it leaves one unknown or fails."""
    shaped = _shaped(model, inputs, sizes)

    def infer() -> list[int] | None:
        try:
            inferred = onnx.shape_inference.infer_shapes(shaped, data_prop=True)
        except Exception:
            return None
        vi = next((v for v in inferred.graph.value_info if v.name == tensor), None)
        return None if vi is None else _known_dims(vi)

    got = survived(infer)
    return None if got is None else got[0]


def _work(model: onnx.ModelProto, inputs: list[_Input], sizes: dict[str, int]) -> int:
    """Bytes of the tensors one run at ``sizes`` makes, as far as shape inference sizes them:
    a lower bound, the larger of ONNX's (with data propagation) and ONNX Runtime's symbolic
    one (asked only where ONNX's left a tensor unsized); 0 where both fail.

    ONNX's alone missed a diffusers VAE decoder's attention: the exporter's value_info keeps
    the token count as the expression 'w*h' and the Reshape's shape is computed, so at 224x224
    it counted 2.1 GiB and the run asked for a 9.4 GiB score matrix (killed for memory);
    the symbolic inference follows the computed shapes (21 GiB)."""
    shaped = _shaped(model, inputs, sizes)
    got = survived(lambda: _onnx_work(shaped))
    if got is None:  # ONNX's inference aborted: sizes no model runs at, and no bound known
        return 0
    work, sized = got[0]
    if work < 0:  # an op without a shape function, a contradiction: no bound known
        return _symbolic_work(shaped)
    if sized:  # nothing for the other to add (and sympy is not imported)
        return work
    return max(work, _symbolic_work(shaped))


def _onnx_work(shaped: onnx.ModelProto) -> tuple[int, bool]:
    """(``_tensor_bytes`` after ONNX's shape inference with data propagation, whether it sized
    every tensor), or (-1, False) where it raised. Run in a forked child (``_work``): at sizes
    smaller than a Conv's kernel it infers negative sizes, and a Slice after them aborts the
    process (madmom's onset CNN at 1 frame: "std::clamp ... Assertion '!(__hi < __lo)'
    failed")."""
    try:
        inferred = onnx.shape_inference.infer_shapes(shaped, data_prop=True)
    except Exception:
        return -1, False
    return _tensor_bytes(inferred), _all_sized(inferred)


def _all_sized(model: onnx.ModelProto) -> bool:
    """Whether shape inference gave every tensor a node of the main graph makes a shape of
    known dims."""
    g = model.graph
    sized = {vi.name for vi in (*g.value_info, *g.output) if _known_dims(vi) is not None}
    return all(o in sized for n in g.node for o in n.output if o)


def _known_dims(vi: onnx.ValueInfoProto) -> list[int] | None:
    """A tensor's dims when its shape is known and every dim has a value, else None."""
    t = vi.type.tensor_type
    dims = [d.dim_value for d in t.shape.dim if d.HasField("dim_value")]
    return dims if t.HasField("shape") and len(dims) == len(t.shape.dim) else None


def _symbolic_work(model: onnx.ModelProto) -> int:
    """``_tensor_bytes`` after ONNX Runtime's symbolic shape inference; 0 where it fails (it
    asserts on ops it does not know, If branches, sequences)."""
    del model.graph.value_info[:]  # the exporter's symbolic dims would stay symbolic
    # it logs "Cannot determine if ..." for every comparison it cannot decide
    with _quiet("onnxruntime.tools"):
        try:
            SymbolicShapeInference = _symbolic_module().SymbolicShapeInference
            # its loop, not its infer_shapes: that one saves the model into the working
            # directory when some shape stays unknown (sym_shape_infer_temp.onnx and a .data
            # file per tensor, written beside the user's files), and raises; what it did size
            # is a bound all the same
            sym = SymbolicShapeInference(2**31 - 1, True, True, 0)
            sym._preprocess(model)
            while sym.run_:
                sym._infer_impl()
            return _tensor_bytes(sym.out_mp_)
        except Exception:  # sympy missing, an op it cannot follow, another version's API
            return 0


@functools.cache
def _symbolic_module() -> Any:
    """``onnxruntime.tools.symbolic_shape_infer``, loaded from its file: importing it as a
    submodule runs ``onnxruntime/tools/__init__.py`` first, which imports torch for a helper
    of its own (1.4 s of every generated-input run that needed no torch; the module itself
    reads numpy, onnx and sympy only)."""
    loaded = sys.modules.get("onnxruntime.tools.symbolic_shape_infer")
    if loaded is not None:
        return loaded
    ort = importlib.util.find_spec("onnxruntime")
    if ort is None or ort.origin is None:
        raise ImportError("onnxruntime is not installed")
    path = os.path.join(os.path.dirname(ort.origin), "tools", "symbolic_shape_infer.py")
    # its own name, so that its logger is silenced with the package's (``_quiet``)
    spec = importlib.util.spec_from_file_location("onnxruntime.tools.symbolic_shape_infer", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


def _tensor_bytes(model: onnx.ModelProto) -> int:
    """Bytes of the intermediate tensors in ``model``'s value_info whose shapes are all known
    (the symbolic inference lists the graph's outputs there too), but the weights and what is
    computed from them alone: the same at any size. onnxruntime-genai's builder lists every
    initializer in value_info, and its tied LM head is a Transpose of the embedding: its float32
    Llama of 4.7 GB (Llama 3.2 1B's shape) counted 5.6 GiB at one token, over ``_WORK_LIMIT``,
    and no size was run."""
    g = model.graph
    fixed = {t.name for t in g.initializer} | {t.values.name for t in g.sparse_initializer}
    total, skip = 0, {o.name for o in g.output} | _constant_values(g.node, fixed)
    for vi in model.graph.value_info:
        if vi.name in skip:
            continue
        t, dims = vi.type.tensor_type, _known_dims(vi)
        if dims is not None and t.elem_type:
            itemsize = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).itemsize
            total += int(np.prod(dims, dtype=np.int64)) * itemsize
    return total


def _constant_values(nodes: Iterable[onnx.NodeProto], known: set[str]) -> set[str]:
    """``known`` (initializers, Constants) and what ``nodes`` compute from them alone (no graph
    input, no subgraph on the way), in one pass over the nodes in order; ``known`` is updated."""
    for n in nodes:
        if not any(subgraph_attrs(n)) and all(i in known for i in n.input if i):
            known.update(o for o in n.output if o)
    return known


def _skeleton(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model without the values of its large initializers (shape inference reads their
    dims; small ones, shapes and scales, keep their values for data propagation)."""
    skel = onnx.ModelProto(ir_version=model.ir_version)
    skel.opset_import.extend(model.opset_import)
    skel.functions.extend(model.functions)
    g, src = skel.graph, model.graph
    for f in ("node", "input", "output", "value_info", "sparse_initializer"):
        getattr(g, f).extend(getattr(src, f))
    # the large ones by dims and type only: a copy of the whole model held its weights twice
    # (measured no faster or slower: 0.02 s either way on a 68 MB VAE decoder)
    # up to 1 MiB they keep theirs: ONNX Runtime's symbolic inference reads the values of
    # an Add's or a Slice's operands (Depth Anything's position table, 8 KiB)
    for t in src.initializer:
        if t.ByteSize() <= 2**20 or t.data_location == onnx.TensorProto.EXTERNAL:
            g.initializer.append(t)
        else:
            g.initializer.append(onnx.TensorProto(name=t.name, dims=t.dims, data_type=t.data_type))
    return skel


def _within_limit(
    model: onnx.ModelProto,
    inputs: list[_Input],
    groups: dict[str, list[int]],
    full: Any,
) -> dict[str, str]:
    """Move the candidates whose run would make more than ``_WORK_LIMIT`` bytes of tensors to
    the end of their lists, halving every free non-batch dim together (``groups`` is changed in
    place); return dim -> the note saying so. ``model``: its ``_skeleton``."""
    free = [k for k, c in groups.items() if len(c) > 1 and c is not _BATCH]
    if not free:
        return {}
    over = []
    while True:
        base = {k: c[0] for k, c in groups.items()}
        work = _work(model, inputs, full(base))
        if work <= _WORK_LIMIT:
            break
        over.append((base, work))
        shrunk = False
        for k in free:
            c = groups[k]
            smaller = [v for v in c if v < c[0]]
            if smaller:
                groups[k], shrunk = smaller + [v for v in c if v >= c[0]], True
        if not shrunk:
            break
    moved = [k for k in free if any(b[k] != groups[k][0] for b, _ in over)]
    if not moved:
        return {}
    k, gib = moved[0], ", ".join(f"{w / 2**30:.3g}" for _, w in over)
    alike = f" (and {', '.join(moved[1:])} alike)" if moved[1:] else ""
    return {
        k: f"at {', '.join(str(b[k]) for b, _ in over)}{alike} one run makes {gib} GiB of "
        f"tensors, over the {_WORK_LIMIT / 2**30:.3g} GiB generated inputs may take"
    }


def _grid_probes(
    err: str, probe: dict[str, int], groups: dict[str, list[int]], sides: set[str]
) -> list[dict[str, int]]:
    """Square images a patch model's broadcast failure points to: a ViT adds a table of
    ``side**2 + k`` positions (k = 0, 1 class token, 2 with a distillation token) to its
    ``(probe/patch)**2 + k`` tokens, and ONNX Runtime names both ("257 by 577": CLIP ViT-L/14
    at 336 probed at 224, patch 14, 24 x 24 positions, so 336). Each pair read either way
    where the probe's side is a whole number of patches gives the probe with that side. A table
    of no square count is a crop taller or wider than square (ViTPose's 8 x 6 patches of a 64 x
    48 person crop, "48 by 784" at 224): its count as rows x columns, the squarest first and
    taller first, the first two dims of the side (height, width) set to them.

    ``sides``: the dims an image's side can be, those of float inputs: LED's token ids failed
    "64 by 128" (a decoder's 64 positions) and their two lengths were probed as the rows and
    columns of 128 patches, 60 runs of 116."""
    keys = {key for key in probe if key in sides and groups[key] is not _BATCH}
    out, crops = [], []  # the squares first: a model that ran before takes the same sizes
    values = sorted({probe[key] for key in keys})
    for pair in re.findall(r"(\d+) by (\d+)", err):
        a, b = int(pair[0]), int(pair[1])
        for tokens, table in ((a, b), (b, a)):
            for k in (0, 1, 2):
                gt, gp = math.isqrt(max(tokens - k, 0)), math.isqrt(max(table - k, 0))
                if gt >= 1 and gt * gt == tokens - k and gp * gp != table - k:
                    crops += _rectangle_probes(probe, keys, values, gt, table - k)
                if gt < 1 or gp < 1 or gt * gt != tokens - k or gp * gp != table - k:
                    continue
                for v in values:
                    new = v // gt * gp
                    if v % gt == 0 and 1 < new <= 4096:
                        out.append(
                            {key: (new if x == v and key in keys else x)
                             for key, x in probe.items()}
                        )  # fmt: skip
    return out + crops


def crop_grids(n: int) -> list[tuple[int, int]]:
    """``n`` patches as the rows and columns of an image that is not square: the squarest six
    pairs of at most 4:1, taller before wider (48: 8 x 6, 6 x 8, 12 x 4, 4 x 12; a prime count
    is no crop)."""
    pairs = [
        (r, n // r)
        for r in range(1, n + 1)
        if n % r == 0 and r != n // r and max(r, n // r) <= 4 * min(r, n // r)
    ]
    return sorted(pairs, key=lambda rc: (max(rc) / min(rc), -rc[0]))[:6]


def _rectangle_probes(
    probe: dict[str, int], sides: set[str], values: list[int], grid: int, n: int
) -> list[dict[str, int]]:
    """``probe`` with its two dims of a square side that is ``grid`` patches across set to the
    rows and columns of ``n`` patches (``crop_grids``, for ``_grid_probes``; ``sides``: the
    dims that may be one, ``values``: their sizes in ``probe``)."""
    pairs = crop_grids(n)
    out = []
    for v in values:
        keys = [key for key, x in probe.items() if x == v and key in sides]
        if len(keys) != 2 or v % grid or n < 2:
            continue
        patch = v // grid
        for r, c in pairs:
            if max(r, c) * patch <= 4096:
                out.append({**probe, keys[0]: r * patch, keys[1]: c * patch})
    return out


def _probes(
    groups: dict[str, list[int]],
    bound: dict[str, int],
    hints: dict[int, None],
    reached: dict[tuple[tuple[str, int], ...], tuple[str, list[int]]],
    first: list[dict[str, int]] | None = None,
    example: dict[str, int] | None = None,
) -> Iterator[dict[str, int]]:
    """The configurations to run: ``_probe_order``'s first ``_MAX_PROBES``, then each size that
    the failures' messages named (``hints``, filled while this runs) in each free dim in turn
    (batch dims last), from a base that starts at every dim's first candidate. A hint whose run
    gets past the node the base fails at (``reached``: a probe's sizes -> the node it failed at
    and the sizes its message named, filled by the caller), failing at another not passed
    before, becomes the base, and the sizes its own message names are tried first: sizes baked
    into several places are found one after another.

    A model traced at one length (a Python loop over the sequence, unrolled: a Mamba block's
    scan) runs at that length only, which no list of typical sizes holds; ONNX Runtime's
    message names it ("Attempting to broadcast an axis by a dimension other than 1. 8 by 128").
    The TorchScript exporter bakes an nn.Transformer's sequence lengths and batch into its
    attention Reshapes ("requested shape:{5,2,16}"): the decoder's length is named first, the
    encoder's once the decoder runs.

    ``first``: whole configurations a failure pointed to (``_grid_probes``, ``_rows_meet``,
    filled while this runs), tried before the next of the others, typical or named.
    ``example``: the sizes the model was traced at (``dim_examples``), tried after the typical
    ones and before the hints: a program exported with its sequence dynamic that runs at its
    example's length only (Mamba2 pads to its chunk size in a way the export fixed) names no
    size in its failures.
    """
    first = first if first is not None else []
    seen: set[tuple[tuple[str, int], ...]] = set()

    def fresh(p: dict[str, int]) -> bool:  # not run yet (a pointed-to probe may be in order)
        key = tuple(sorted(p.items()))
        new = key not in seen
        seen.add(key)
        return new

    def pointed() -> Iterator[dict[str, int]]:
        while first:
            p = first.pop(0)
            if fresh(p):
                yield p

    for p in itertools.islice(_probe_order(groups), _MAX_PROBES):
        yield from pointed()
        if fresh(p):
            yield p
    yield from pointed()
    if example is not None and fresh(example):
        yield example
    base = {k: v[0] for k, v in groups.items()}
    base_at, named = reached.get(tuple(sorted(base.items())), ("", []))
    passed: set[str] = set()
    free = [k for k in groups if groups[k] is not _BATCH and k not in bound]
    free += [k for k in groups if groups[k] is _BATCH and k not in bound]
    done: set[tuple[str, int]] = set()
    for _ in range(_MAX_HINT_PROBES):
        yield from pointed()
        order = dict.fromkeys([*named, *hints])  # the base's own message first
        todo = [(k, h) for h in order for k in free if (k, h) not in done and h != base[k]]
        if not todo:
            return
        done.add(todo[0])
        probe = base | {todo[0][0]: todo[0][1]}
        yield probe
        at, said = reached.get(tuple(sorted(probe.items())), ("", []))
        if at and base_at and at != base_at and at not in passed:  # got past: go on from there
            passed.add(base_at)
            base, base_at, named = probe, at, said


def _size_pairs(err: str) -> list[tuple[int, int]]:
    """Two sizes an ONNX Runtime error says should agree: a broadcast's ("8 by 128") and a
    Concat's ("Axis 2 has mismatched dimensions of 50 and 25": a codec's acoustic frames,
    one per 320 samples of its waveform, beside the frames of its filterbank features)."""
    found = re.findall(r"(\d+) by (\d+)", err)
    found += re.findall(r"mismatched dimensions of (\d+) and (\d+)", err)
    # a norm's scale against the last axis of its input ("X.shape={128,24} scale.shape={32}":
    # Ovis2.5's tower folds its traced 96 patches' features into rows at another count)
    found += re.findall(r"X\.shape=\{[\d,]*?(\d+)\} scale\.shape=\{(\d+)\}", err)
    return [(int(a), int(b)) for a, b in found]


def _reshape_meets(
    err: str,
    node: str,
    probe: dict[str, int],
    groups: dict[str, list[int]],
    bound: dict[str, int],
    refused: dict[str, list[tuple[dict[str, int], int, int]]],
) -> list[int]:
    """The size at which a Reshape's element counts meet, from its refusals at probes that
    differ in that one dim: each count taken as a line in it ("Input shape:{40,12}, requested
    shape:{40,1,132}" at 128 and "{40,12} ... {40,1,68}" at 64: the input holds 12 a row at
    any length, the shape asks for the length + 4, so 8). The dynamo exporter bakes CPM-Ant's
    prompt-prefixed length (the traced 8 + 4) into one side of its mask's Reshape, and neither
    side's numbers are the length. Records this refusal in ``refused`` (node -> probe, input
    and requested element counts; the refusals of unnamed nodes share the key "")."""
    counts = _reshape_counts(err)
    if counts is None:
        return []
    have, want = counts
    out: list[int] = []
    for before, h0, w0 in refused.get(node, []):
        moved = [k for k in probe if before.get(k) != probe[k]]
        if len(moved) != 1 or groups[moved[0]] is _BATCH or moved[0] in bound:
            continue
        k = moved[0]
        gap, gap0 = have - want, h0 - w0  # a line in the dim: 0 where the counts meet
        if gap != gap0:
            at = probe[k] - fractions.Fraction(gap * (probe[k] - before[k]), gap - gap0)
            if at.denominator == 1 and 1 < at <= _LARGEST_NAMED and at != probe[k]:
                out.append(int(at))
    refused.setdefault(node, []).append((dict(probe), have, want))
    return list(dict.fromkeys(out))


_Measure = Callable[[list[int]], int]


def _rows(dims: list[int]) -> int:
    return math.prod(dims[1:])


def _needs(graph: _Graph, node: onnx.NodeProto) -> tuple[list[tuple[str, _Measure]], int, bool, str] | None:  # fmt: skip
    """(the tensors to read it from, each with what of its dims, the value it needs, whether
    exactly or at least, what that is) for a node whose weights or attributes ask it of the
    sizes: a MatMul's or Gemm's features (else, where ONNX cannot size the flatten before it,
    the flatten's input's dims after the first: the dynamo exporter computes its shape with a
    Div that data propagation does not follow), a Reshape's rows of K ([-1, K]: a flatten of
    each row, madmom's CNNs before their dense layer) from its input's dims after the first, a
    Conv's or pool's kernel fitting in every spatial axis (padded); None for other nodes."""
    op = node.op_type
    label = f"{op} {node.name or node.output[0]!r}"
    if op in ("MatMul", "Gemm"):
        _, at = graph.weights_say(node, 0)
        if len(at) == 1:
            ((axis, (k, _)),) = at.items()
            read: list[tuple[str, _Measure]] = [(node.input[0], lambda dims: dims[axis])]
            flat = graph.producer.get(node.input[0])
            if flat is not None and flat.op_type in ("Reshape", "Flatten") and axis in (1, -1):
                read.append((flat.input[0], _rows))
            return read, k, True, f"the {k} features the weights of {label} take"
    if op == "Reshape" and len(node.input) > 1:
        shape = graph.const(node.input[1])
        if shape is not None and shape.size == 2 and shape.ravel()[0] == -1 and shape.ravel()[1] > 1:  # fmt: skip
            k = int(shape.ravel()[1])
            return [(node.input[0], _rows)], k, True, f"rows of {k} for {label}"
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    kernel = list(attrs.get("kernel_shape", []))
    if op == "Conv" and not kernel and len(node.input) > 1:
        kernel = list(graph.const_shape(node.input[1]) or [])[2:]
    if op in ("Conv", "MaxPool", "AveragePool") and kernel and attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"):  # fmt: skip
        n = len(kernel)
        pads = list(attrs.get("pads", [0] * 2 * n))
        spans = [(k - 1) * d + 1 for k, d in zip(kernel, attrs.get("dilations", [1] * n), strict=False)]  # fmt: skip

        def room(dims: list[int]) -> int:  # the least of each axis' room for the kernel
            return min(dims[2 + i] + pads[i] + pads[i + n] - spans[i] for i in range(n))

        return [(node.input[0], room)], 0, False, f"room for the kernel of {label}"
    return None


def _least_meeting(f: Callable[[int], int | None], lo: int, hi: int, want: int, exact: bool) -> int | None:  # fmt: skip
    """The least ``s`` in [lo, hi] where ``f(s) == want`` (``exact``) or ``>= want``, ``f``
    nondecreasing (a size after Convs, Pads and Pools grows with the input's); None where it
    never is, or is unknown."""
    f_lo, f_hi = f(lo), f(hi)
    if f_lo is None or f_hi is None or f_lo == f_hi or not f_lo < want <= f_hi:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        got = f(mid)
        if got is None:
            return None
        lo, hi = (mid + 1, hi) if got < want else (lo, mid)
    return lo if not exact or f(lo) == want else None


def _rows_meet(
    model: onnx.ModelProto,
    graph: _Graph,
    inputs: list[_Input],
    node_name: str,
    probe: dict[str, int],
    groups: dict[str, list[int]],
    bound: dict[str, int],
    full: Callable[[dict[str, int]], dict[str, int]],
) -> list[tuple[dict[str, int], str]]:
    """The probes (and why) at which a failing node gets the sizes its weights or kernel ask for
    (``_needs``), found by ONNX's shape inference: each dim not given moved alone, then those
    it depends on moved together (an image's height and width). A dense layer after Convs
    fixes the input's size through them: madmom's key CNN takes 105 bins, its note CNN 144,
    sizes no list of typical ones holds and no message names; its note CNN's first axis,
    frames read as a batch of one, is 11 at least for its 3x3 and 7x1 kernels (128 then). A
    size that need only be large enough is the dim's most typical candidate that is (a
    sequence's where the dim was read as a batch), else a power of two."""
    node = graph.node_named(node_name)
    needs = None if node is None else _needs(graph, node)
    if node is None or needs is None:
        return []
    read, want, exact, what = needs
    why = f"{what}, by shape inference"

    known: dict[tuple[tuple[str, int], ...], int | None] = {}  # one inference per probe

    def at(p: dict[str, int]) -> int | None:
        key = tuple(sorted(p.items()))
        if key not in known:
            known[key] = None
            for tensor, measure in read:
                dims = _dims_at(model, inputs, full(p), tensor)
                if dims:
                    known[key] = measure(dims)
                    break
        return known[key]

    def sized(k: str, s: int) -> int:
        if exact:
            return s
        # the most typical candidate that is large enough; a "batch" a kernel spans is time
        typical = _SEQUENCE if groups[k] is _BATCH else groups[k]
        return next((c for c in typical if c >= s), 1 << (s - 1).bit_length())

    free = [k for k in probe if k not in bound]
    out, moving = [], []
    for k in free:
        s = _least_meeting(lambda v, k=k: at(probe | {k: v}), 1, _LARGEST_NAMED, want, exact)  # type: ignore[misc]
        if s is not None:
            out.append((probe | {k: sized(k, s)}, why))
        elif at(probe | {k: 1}) != at(probe | {k: _LARGEST_NAMED}):
            moving.append(k)
    if len(moving) > 1:
        s = _least_meeting(lambda v: at(probe | dict.fromkeys(moving, v)), 1, _LARGEST_NAMED, want, exact)  # fmt: skip
        if s is not None:
            out.append((probe | {k: sized(k, s) for k in moving}, why))
    return out


def _sizes_scaled(
    err: str, probe: dict[str, int], groups: dict[str, list[int]], bound: dict[str, int]
) -> list[int]:
    """The sizes of the probe's free dims scaled by a broadcast pair its message names, where
    that gives a whole number: a count that follows the input's length by a fixed stride meets
    a table ("64 by 1500": a Whisper encoder's 1500 positions after a stride-2 Conv, probed at
    128 frames, wants 128 * 1500 / 64 = 3000), or the count of another input (a codec's frames
    of its waveform Concat to those of its features: "mismatched dimensions of 50 and 25").
    Tried before the named sizes themselves: those led down a chain (64, 32, ..., 2 frames) to
    one frame broadcast against the table, which ran, and every site was measured at 1x16x1."""
    return _scaled(_size_pairs(err), probe, groups, bound)


def _scaled(
    pairs: list[tuple[int, int]],
    probe: dict[str, int],
    groups: dict[str, list[int]],
    bound: dict[str, int],
) -> list[int]:
    """``_sizes_scaled``'s sizes from the pairs given."""
    out: list[int] = []
    for p, q in pairs:
        if p == q or not p or not q:
            continue
        for k, v in probe.items():
            if groups[k] is _BATCH or k in bound:
                continue
            for num, den in ((q, p), (p, q)):
                new = v * num // den
                if v * num % den == 0 and 1 < new <= _LARGEST_NAMED and new != v:
                    out.append(new)
    return list(dict.fromkeys(out))


def _baked_sizes(
    graph: _Graph,
    op: str,
    name: str,
    err: str,
    probe: dict[str, int],
    groups: dict[str, list[int]],
    bound: dict[str, int],
) -> list[int]:
    """Sizes the constants of the node a probe failed at ask for, where an exporter baked the
    traced sizes into them: a Split's (``_split_total``), a Gather's (``_gather_scaled``)."""
    node = graph.node_named(name)
    if node is None:
        return []
    if op == "Split":
        return _split_total(graph, node)
    if op == "Gather":
        return _gather_scaled(graph, node, err, probe, groups, bound)
    return []


def _split_total(graph: _Graph, node: onnx.NodeProto) -> list[int]:
    """The size of the axis a failing Split cuts into sizes baked into the graph: their sum.
    The TorchScript exporter writes a Qwen-VL tower's attention, cut image by image, as a Split
    of the traced patch counts ("Split size 48 exceeds the remaining size of the selected axis,
    16" names a part, not the 96 patches of the two images traced)."""
    sizes: list[int] = []
    if len(node.input) > 1 and node.input[1] in graph.consts:
        sizes = [int(v) for v in numpy_helper.to_array(graph.consts[node.input[1]]).ravel()]
    for a in node.attribute:
        if a.name == "split":
            sizes = list(a.ints)
    total = sum(sizes)
    return [total] if len(sizes) > 1 and 1 < total <= _LARGEST_NAMED else []


def _gather_scaled(
    graph: _Graph,
    node: onnx.NodeProto,
    err: str,
    probe: dict[str, int],
    groups: dict[str, list[int]],
    bound: dict[str, int],
) -> list[int]:
    """The probe's free dims scaled as a failing Gather of indices baked into the graph asks:
    its axis had ``k`` rows ("idx=4 must be within the inclusive range [-2,1]") where the
    indices need their largest plus one. The TorchScript exporter bakes a Qwen2.5-VL tower's
    window order, a permutation of the traced image's merged patches (24 of its 96 patches):
    probed at 16 patches (4 rows), 96 is tried."""
    found = re.search(r"inclusive range \[-(\d+),(\d+)\]", err)
    if not found or len(node.input) < 2 or node.input[1] not in graph.consts:
        return []
    indices = numpy_helper.to_array(graph.consts[node.input[1]])
    if indices.size == 0:
        return []
    k = int(found.group(2)) + 1
    return _scaled([(k, int(indices.max()) + 1)], probe, groups, bound)


def _sizes_named(err: str) -> list[int]:
    """Sizes an ONNX Runtime error names: broadcast pairs ("8 by 128") and shapes ("{1,8,64}");
    of a Reshape's "Input shape:{128,1,32}, requested shape:{5,2,16}" only the requested one
    (the sizes baked into the graph; the input's are the probe's own)."""
    nums = [a for pair in _size_pairs(err) for a in pair]
    # a contrib op's own check: "got 320 expected 16" (GroupQueryAttention's KV head size)
    nums += [int(a) for a in re.findall(r"\bexpected:? (\d+)\b", err)]
    requested = err.find("requested shape")
    for shape in re.findall(r"\{([\d,\s]+)\}", err[requested:] if requested >= 0 else err):
        nums += [int(a) for a in shape.replace(" ", "").split(",") if a]
    return [v for v in dict.fromkeys(nums) if 1 < v <= _LARGEST_NAMED]


def _top_k(
    shape: tuple[int, ...], dt: np.dtype, top_k: tuple[str, str | int | None], sizes: dict[str, int]
) -> tuple[np.ndarray, str]:
    """TopK's K: the items a deployment keeps (``_TOP_K``), at most the axis' size where shape
    inference tells it; {0, 1} kept one item or none."""
    label, d = top_k
    size = d if isinstance(d, int) else sizes.get(d or "")
    k = min(_TOP_K, size) if size else _TOP_K
    return np.full(shape, k, dt), f"{k} (K of TopK {label!r})"


def _box_shape(shape: tuple[int, ...]) -> bool:
    """[n, 4] (RoiAlign's x1, y1, x2, y2) or [n, 5] (MaxRoiPool's, the batch index first)."""
    return len(shape) == 2 and shape[1] in (4, 5)


def _boxes(
    name: str,
    shape: tuple[int, ...],
    boxes: tuple[str, str, float, str | int | None, str | int | None],
    sizes: dict[str, int],
    seed: int,
) -> tuple[np.ndarray, str]:
    """Regions of interest a RoiAlign (``[n, 4]``: x1, y1, x2, y2) or MaxRoiPool (``[n, 5]``:
    the batch index first) crops: boxes inside the image its features come from (their size
    over ``spatial_scale``), 10-30% of its sides. Standard normal boxes sat in the corner,
    under a pixel of the features, and the head behind them saw a few values."""
    label, op, scale, h, w = boxes
    sides = [d if isinstance(d, int) else sizes.get(d or "", 0) for d in (h, w)]
    height, width = (s / scale if s > 0 and scale > 0 else 224.0 for s in sides)
    rng = _rng(seed, name)
    n = shape[0]
    x1, y1 = rng.uniform(0, 0.7 * width, n), rng.uniform(0, 0.7 * height, n)
    x2 = np.minimum(x1 + rng.uniform(0.1, 0.3, n) * width, width - 1)
    y2 = np.minimum(y1 + rng.uniform(0.1, 0.3, n) * height, height - 1)
    cols = [x1, y1, x2, y2] if shape[1] == 4 else [np.zeros(n), x1, y1, x2, y2]
    said = f"boxes 10-30% of a {width:g}x{height:g} image (regions of {op} {label!r})"
    return np.stack(cols, 1).astype(np.float32), said


def _named_coordinates(
    inp: _Input, shape: tuple[int, ...], u: _Uses, width: int, name: re.Pattern[str]
) -> bool:
    """Float rows of ``width`` coordinates named so, used as values (not rows, sizes or
    codes): (x, y) clicks (SAM's ``input_points``, ``point_coords``), (x0, y0, x1, y1) boxes
    (BROS's ``bbox``, SAM's ``input_boxes``; not the regions an RoI op reads, ``_boxes``)."""
    return (
        inp.dtype.kind == "f"
        and len(shape) >= 2
        and shape[-1] == width
        and name.search(inp.name) is not None
        and not (u.gathers or u.compared or u.shape_of or u.size_of or u.parts)
    )


def _image_beside(
    inp: _Input, inputs: list[_Input], sizes: dict[str, int]
) -> tuple[int, int] | None:
    """(height, width) of the largest image-like input other than ``inp`` at these sizes."""
    height = width = 0
    for other in inputs:
        if other is inp or not _image_like(other):
            continue
        dims = [d if isinstance(d, int) else sizes.get(d, 0) for d in other.dims]
        h, w = (dims[a] for a in _spatial_axes(other.dims))
        if h * w > height * width:
            height, width = h, w
    return (height, width) if height > 1 and width > 1 else None


def _image_sizes(
    inp: _Input, shape: tuple[int, ...], inputs: list[_Input], sizes: dict[str, int]
) -> tuple[np.ndarray, str] | None:
    """Integer rows of two named as an image's size (``image_sizes``): the height and width of
    the image beside them, in every row. Pixtral slices each image's patches to its size, and
    LLaVA-NeXT unpads to it: Mistral 3's got 0s and 1s, no patch, and failed at every size."""
    if inp.dtype.kind not in "iu" or len(shape) != 2 or shape[1] != 2:
        return None
    image = _image_beside(inp, inputs, sizes) if _IMAGE_SIZES_NAME.search(inp.name) else None
    if image is None:
        return None
    height, width = image
    said = f"{height}, {width} a row: the height and width of the image beside it (by name)"
    return np.tile(np.array([height, width], inp.dtype), (shape[0], 1)), said


def _patch_grid(
    inp: _Input, shape: tuple[int, ...], inputs: list[_Input], sizes: dict[str, int]
) -> tuple[np.ndarray, str] | None:
    """Integer rows of two named as a patch grid (``spatial_shapes``): the rows and columns of
    the flattened patches beside them ([batch, patches, features]), as square as their count
    allows. SigLIP 2's NaFlex got ones (a 1x1 grid for 16 patches) and LFM2-VL's divided by
    zero at every size. Rows of three (``grid_thw``: frames, rows, columns) grid the patches of
    all images laid end to end ([patches, features], the Qwen-VL towers'): one frame each, the
    patches shared out among the images, sides even where the count allows (the towers merge
    2x2 patches). Drawn, the grids divided by zero at every size."""
    if inp.dtype.kind not in "iu" or len(shape) != 2 or shape[1] not in (2, 3):
        return None
    if not (_PATCH_GRID_NAME if shape[1] == 2 else _THW_GRID_NAME).search(inp.name):
        return None
    floats = [i for i in inputs if i is not inp and i.dtype.kind == "f"]
    floats.sort(key=lambda i: not re.search("pixel|patch|hidden", i.name, re.I))
    # a grid of three: patches laid end to end, else padded per image (ColQwen2)
    for rank in (3,) if shape[1] == 2 else (2, 3):
        if flat := [i for i in floats if len(i.dims) == rank]:
            break
    else:
        return None
    d = flat[0].dims[rank - 2]
    count = d if isinstance(d, int) else sizes.get(d, 0)
    if count < 1 or (rank == 2 and count < shape[0]):
        return None
    if rank == 3 and shape[1] == 2:
        rows, cols = square_grid(count)
        said = f"{rows}, {cols} a row: the grid of the {count} patches of {flat[0].name!r}"
        return np.tile(np.array([rows, cols], inp.dtype), (shape[0], 1)), f"{said} (by name)"
    if rank == 3:  # ColQwen2: each image's patches padded to one row of ``flat``
        grid = np.tile(np.array([1, *even_grid(count)], inp.dtype), (shape[0], 1))
        said = "1x{}x{}".format(*grid[0, 1:].tolist())
        return grid, f"{said} (frames x rows x columns): each image's {count} patches (by name)"
    grid = thw_grid(count, shape[0]).astype(inp.dtype)
    said = ", ".join(dict.fromkeys(f"1x{h}x{w}" for _, h, w in grid.tolist()))
    return (
        grid,
        f"{said} (frames x rows x columns): the {count} patches of {flat[0].name!r} (by name)",
    )


def square_grid(count: int) -> tuple[int, int]:
    """(rows, columns) of ``count`` patches, as square as the count allows (128: 8 x 16)."""
    rows = max(r for r in range(1, math.isqrt(count) + 1) if count % r == 0)
    return rows, count // rows


def thw_grid(count: int, images: int) -> np.ndarray:
    """``grid_thw`` rows for ``count`` patches laid end to end over ``images`` images: one
    frame each, ``even_grid`` rows and columns, the patches shared out (the last takes the
    remainder)."""
    each = [count // images] * images
    each[-1] += count % images
    return np.array([(1, *even_grid(n)) for n in each], np.int64)


def even_grid(count: int) -> tuple[int, int]:
    """``square_grid`` with both sides even where ``count`` is a multiple of 4 (12: 2 x 6, not
    3 x 4), for towers that merge 2x2 patches."""
    if count % 4:
        return square_grid(count)
    rows, cols = square_grid(count // 4)
    return 2 * rows, 2 * cols


def _clicks(
    inp: _Input, shape: tuple[int, ...], inputs: list[_Input], sizes: dict[str, int], seed: int
) -> tuple[np.ndarray, str]:
    """Clicks (x, y) in pixels inside the image beside them (the largest image-like input at
    these sizes; 1024, SAM's side, where there is none). Standard normal put every click in the
    top-left corner, some outside the image."""
    height, width = _image_beside(inp, inputs, sizes) or (1024, 1024)
    rng = _rng(seed, inp.name)
    xy = rng.uniform(0.0, 1.0, shape) * np.array([width, height], np.float64)
    said = f"clicks (x, y) inside a {width}x{height} image (by name)"
    return xy.astype(inp.dtype), said


def _named_boxes(
    inp: _Input, shape: tuple[int, ...], inputs: list[_Input], sizes: dict[str, int], seed: int
) -> tuple[np.ndarray, str]:
    """Boxes (x0, y0, x1, y1), each pair in order: in pixels inside the image beside them, or
    fractions of the page where there is none (a document's box per token: BROS takes them in
    [0, 1]). Standard normal gave boxes of negative width around the origin."""
    rng = _rng(seed, inp.name)
    corners = rng.uniform(0.0, 1.0, shape)
    corners[..., 0::2].sort(axis=-1)
    corners[..., 1::2].sort(axis=-1)
    image = _image_beside(inp, inputs, sizes)
    if image is None:
        return corners.astype(inp.dtype), "boxes (x0, y0, x1, y1) in [0, 1] (by name)"
    height, width = image
    boxes = corners * np.array([width, height, width, height], np.float64)
    return boxes.astype(inp.dtype), f"boxes (x0, y0, x1, y1) inside a {width}x{height} image (by name)"  # fmt: skip


def _offsets(u: _Uses, dims: list[int | str]) -> bool:
    """Whether an input holds offsets: it is both ends of slices, and there are several of
    them or as many as a dim says (a scalar start and end is a window's position)."""
    return bool(u.seq_lens and u.starts and dims and (isinstance(dims[-1], str) or dims[-1] > 1))


def _seq_size(
    name: str,
    u: _Uses | None,
    inputs: list[_Input],
    sizes: dict[str, int],
    graph: _Graph,
    seq_keys: list[str],
) -> int:
    """The sequence size a sequence-length input should hold."""
    if u is None or not u.seq_lens:
        return 0
    inp = next(i for i in inputs if i.name == name)
    if _offsets(u, inp.dims):  # the size of the axis they slice, where shape inference tells it
        for _, d in u.starts:
            if isinstance(d, int) or d in sizes:
                return d if isinstance(d, int) else sizes[d]
    op, label, layout = u.seq_lens[0]
    if op in _RECURRENT:
        for inp in inputs:
            for node, i in graph.consumers.get(inp.name, []):
                if (node.name or node.output[0]) == label and i == 0:  # X of that node
                    d = inp.dims[layout or 0]
                    return d if isinstance(d, int) else sizes[d]
    return max((sizes[k] for k in seq_keys), default=16)


_STEPPED = 256  # the longest cache made token by token (one run a token)
_EMPTY_PROBES = 8  # sizes tried with an empty KV cache where no cache length runs
_FIRST_PASS_SEED = 1_000_003  # a cache's first pass draws with seeds apart from every draw's


def _failed_at(err: str | None) -> str:
    """Where and why an ONNX Runtime run failed, short: ``Squeeze 'sq': <status>``."""
    op, node, status = failure_site(err or "")
    return (f"{op} {node!r}: " if node else "") + status[:100]


def _present(name: str, outputs: Collection[str]) -> str | None:
    """The output a KV cache input comes back as, one step longer: ``past_key_values.0.key`` ->
    ``present.0.key`` (Optimum, torch exporters, onnxruntime-genai), ``past_key`` ->
    ``present_key``; None where none is named so."""
    for old in ("past_key_values", "past_key_value", "past"):
        if old in name and (new := name.replace(old, "present", 1)) in outputs:
            return new
    return None


def _own_cache(
    model: onnx.ModelProto,
    sess: Any,
    inputs: list[_Input],
    states: Mapping[str, str],
    feeds: dict[str, np.ndarray],
    why: dict[str, str],
    sizes: dict[str, int],
    feeds_at: Callable[[dict[str, int], int], tuple[dict[str, np.ndarray], dict[str, str]]],
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``feeds`` with each KV cache the model's own: its ``present`` outputs after a first pass
    over as many generated tokens, with no past, where the model returns every cache so.

    Zeros (the cache otherwise) are a state no decoder is in: every query attends to as many
    keys of 0 as the cache is long, which dilutes each attention output by that many values of
    0 (a 128-token cache: by 129 times). The first pass is the same generator at the sizes with
    every past dim 0 and the new tokens' dims (of the integer inputs: ids, positions) as long
    as the cache, a ``use_cache`` flag false; a model that runs one new token at a time (a
    step traced with one) is run token by token, its cache growing by one. The first pass draws
    its tokens with seeds of its own: drawn as the step's, the cache was the step's own tokens
    (a prompt and then itself again), and the draws' token-by-token caches were each other's
    shifted by one. Where that fails, returns another shape or non-finite values, or the step
    then does not run, the zeros stay and the note says why. An encoder-decoder's
    cross-attention cache (``past_key_values.0.encoder.key``), which its decoder with past does
    not return, is standard normal beside it, as keys and values of an encoder's states are:
    zeros made every cross-attention output 0 (values of 0, whatever the weights).

    Args:
        sess: a session of ``model`` (None: one is made).
        sizes: the free dynamic dims (not those derived from others).
        feeds_at: (free sizes, seed) -> (feeds, why) at those sizes, as the generator makes them.
        seed: the generator's seed (the token-by-token draws count on from it).
    """
    outputs = [o.name for o in model.graph.output]
    kv = _kv_caches(inputs, states)
    present = {i.name: _present(i.name, outputs) for i in kv}
    # the caches it returns (a decoder with past returns no cross-attention cache)
    caches = [i for i in kv if present[i.name]]
    if not caches:
        return feeds, why
    cross = {
        i.name: _rng(seed, i.name).standard_normal(feeds[i.name].shape).astype(i.dtype)
        for i in kv
        if not present[i.name] and i.dtype.kind == "f" and _CROSS_NAME.search(i.name)
    }

    def zeros(reason: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """The feeds as they were, each cache's note saying why it is not the model's own."""
        return feeds, why | {
            i.name: f"{why[i.name]}; not the model's own: {reason}" for i in caches
        }

    names = {i.name for i in caches}
    shared = {d for i in inputs if i.name not in names for d in i.dims if isinstance(d, str)}
    # its length: a dim named past, or one no other input has (torch.export's s15), not the
    # batch (the first axis: list-style dynamic_axes name it past_key_values.0.key_..._1)
    past = {
        d
        for i in caches
        for d in i.dims[1:]
        if isinstance(d, str) and ("past" in d.lower() or d not in shared)
    }
    lengths = {sizes[d] for d in past if d in sizes}  # its free dims (the rest follow them)
    if lengths == {0}:  # empty (a prompt's pass, where no cache length runs): nothing to make
        said = ", ".join(f"{d}=0" for d in sorted(past) if d in sizes)
        return feeds, why | {i.name: f"empty ({said}: a prompt's pass)" for i in caches}
    if not past or len(lengths) != 1 or min(lengths) <= 0:
        return zeros(f"its length is not one dim ({', '.join(sorted(past)) or 'none'})")
    (length,) = lengths
    cached = {d for i in caches for d in i.dims if isinstance(d, str)}
    steps = {  # the new tokens' dims: of the ids, positions (after the batch), not a mask's
        d  # (an encoder's mask, beside a cross-attention cache, is as long as the encoder)
        for i in inputs
        if i.dtype.kind in "iu" and i.name not in states and not _MASK_SUFFIX.search(i.name)
        for d in (i.dims[1:] if len(i.dims) > 1 else i.dims)
        if isinstance(d, str) and d in sizes and d not in cached
    }
    if not steps:
        return zeros("no integer input sets how many new tokens a first pass runs")
    sess = sess if sess is not None else _session(model)

    def run(
        done: int, new: int, at: int, cache: dict[str, np.ndarray]
    ) -> tuple[dict[str, np.ndarray] | None, str]:
        """The caches after ``new`` tokens (drawn with seed ``at``) on ``done`` cached ones, or
        None and why not."""
        x, _ = feeds_at({k: done if k in past else new if k in steps else v for k, v in sizes.items()}, at)  # fmt: skip
        for i in inputs:
            if not done and "use_cache" in i.name.lower() and x[i.name].dtype == np.bool_:
                x[i.name] = np.zeros_like(x[i.name])
        outs, err = _run(sess, x | cross | cache)
        if outs is None:
            tokens = f"{new} token" + ("s" if new > 1 else "")
            return None, f"a first pass over {tokens} failed ({_failed_at(err)})"
        got = dict(zip(outputs, outs, strict=False))
        out = {}  # each cache as long as done + new along its past dim
        for i in caches:
            a, f = got.get(present[i.name]), feeds[i.name]
            shape = tuple(
                done + new if isinstance(d, str) and d in past else n
                for d, n in zip(i.dims, f.shape, strict=True)
            )
            if a is None or a.shape != shape or a.dtype != f.dtype:
                got_shape = "none" if a is None else f"{a.dtype} {shape_text(a.shape)}"
                return None, f"{present[i.name]!r} came back {got_shape}, not {shape_text(shape)}"
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                return None, f"{present[i.name]!r} came back with NaN or inf"
            out[i.name] = a
        return out, ""

    # the first pass draws its own tokens: apart from the step's, and from other draws' passes
    base = _FIRST_PASS_SEED * (seed + 1)
    cache, why_not = run(0, length, base, {})
    how = f"a first pass over {length} generated tokens"
    if cache is None and length <= _STEPPED:
        how = f"{length} generated tokens run one at a time"
        cache = {}
        for t in range(length):
            grown, why_not = run(t, 1, base + 1 + t, cache)
            if grown is None:
                return zeros(why_not)
            cache = grown
    elif cache is None:
        return zeros(f"{why_not}; and {length} tokens are more than are run one at a time ({_STEPPED})")  # fmt: skip
    new = feeds | cross | cache
    outs, err = _run(sess, new)
    if outs is None:
        return zeros(f"the model fails on it ({_failed_at(err)})")
    if (bad := _degenerate(outs, outputs)) is not None:
        return zeros(f"the model's outputs on it: {bad}")
    said = ", ".join(f"{d}=0" for d in sorted(past) if d in sizes)
    mine = {i.name: f"the model's own cache: {present[i.name]!r} after {how} ({said})" for i in caches}  # fmt: skip
    encoder = {
        k: f"standard normal (seed {seed}): a cross-attention cache, the encoder's keys and values (the model does not return it)"  # fmt: skip
        for k in cross
    }
    return new, why | mine | encoder


def _result(
    inputs: list[_Input],
    feeds: dict[str, np.ndarray],
    why: dict[str, str],
    sizes: dict[str, int],
    tried: list[tuple[dict[str, int], str]],
    groups: dict[str, list[int]],
    bound: dict[str, int],
    warning: str | None,
    how: dict[str, str],
    unit: dict[str, str] | None = None,
) -> GeneratedInputs:
    """The feeds and their notes; ``how``: dim -> how its size was derived, where not probed;
    ``unit``: the image inputs given pixels in [0, 1) (``GeneratedInputs.unit``)."""
    notes = []
    for inp in inputs:
        a = feeds[inp.name]
        line = f"{inp.name}: {a.dtype} {shape_text(a.shape)}, {why[inp.name]}"
        if inp.fixed:
            line += f"; {inp.fixed}"
        keys = [d for d in dict.fromkeys(inp.dims) if isinstance(d, str)]
        if keys:
            dims = ", ".join(f"{k}={sizes[k]}" for k in keys)
            src = "--input-shapes" if all(k in bound for k in keys) else "probed"
            src += "".join(f"; {k}: {how[k]}" for k in keys if k in how)
            # the probes that tried other sizes of this input's dims (not the other inputs')
            moved = [k for k in keys if any(s.get(k) != sizes[k] for s, _ in tried)]
            failed = [f"{', '.join(f'{k}={s[k]}' for k in moved)} {r}" for s, r in tried
                      if any(s.get(k) != sizes[k] for k in moved)]  # fmt: skip
            line += f"; {dims} ({src}" + (f": {', '.join(failed[:4])}" if failed else "") + ")"
        notes.append(line)
    if warning:
        notes.append(f"warning: {warning}; pass --inputs data.npz for inputs that move the outputs")
    return GeneratedInputs(feeds, notes, dict(sizes), dict(unit or {}))


# ONNX Runtime's errors about values rather than shapes
_VALUE_ERROR = re.compile(r"out of (?:data )?bounds|by zero|must be within", re.I)


def _input_error(
    err: str,
    inputs: list[_Input],
    graph: _Graph,
    bound: dict[str, int],
    tried: list[tuple[dict[str, int], str]],
    too_large: tuple[dict[str, int], int] | None = None,
    same: str | None = None,
    named: dict[str, int] | None = None,
) -> InputError:
    """The one line for no size that runs; ``too_large``: the first probe not run for its
    size (its sizes, the bytes its run would make); ``same``: every failure's message was the
    same, sizes and all (a Tile whose repeats the TorchScript exporter wrote 2-d, in Zamba2's
    and Nemotron-H's exports: "'repeat' input tensor must be 1 dimensional" at every size,
    theirs included), so the line says the sizes are not the cause (``_one_cause``: what the
    messages share where they differ in sizes only); ``named``: ``err`` is the failure at
    these sizes, which an earlier failure's message named (the others failed for not being
    them), and the line says so."""
    op, node, status = failure_site(err)
    names = [i.name for i in inputs]
    m = re.search(r"input: (\S+)", status)
    probed = [i.name for i in inputs if any(isinstance(d, str) and d not in bound for d in i.dims)]
    guessed = [i.name for i in inputs if i.dtype.kind != "f"]
    branch = graph.branch_inputs(node, names)  # inside an If branch: what chose the branch
    reach = graph.reaching_inputs(node, names)
    said = [n for n in names if re.search(rf"(?<![\w.]){re.escape(n)}(?![\w.])", status)]
    if m and m.group(1) in names:
        name = m.group(1)
    elif said:  # ONNX Runtime names the input ("iou_threshold must be in range [0, 1]")
        name = max(said, key=len)
    elif branch:
        name = branch[0]
    else:
        # an op that fails on its sizes or indices: the input behind those comes first (a
        # Resize's sizes from SAM's ``orig_im_size``, not the image it resizes)
        operands = graph.operand_inputs(node, names)
        pick = (n for pref in (operands, probed, guessed, names) for n in reach if n in pref)
        name = next(pick, (probed or names or ["?"])[0])
    inp = next((i for i in inputs if i.name == name), None)
    example = (
        "x".join(
            str(d) if isinstance(d, int) else _placeholder(d, axis, inp, inputs)
            for axis, d in enumerate(inp.dims)
        )
        if inp
        else ""
    )
    at = f"{op} {node!r} fails" if node else "ONNX Runtime refuses the feeds"
    if node and node in graph.top and names and not reach:  # the model's fault: exit 1
        raise ModelError(constant_failure(at, status))
    n_tried = f" on all {len(tried)} sizes tried" if len(tried) > 1 else ""
    empty = [str(k) for k, d in enumerate(inp.dims if inp else []) if d == 0]
    if empty:  # not a size to probe: the model's own declaration, which ONNX Runtime enforces
        return InputError(
            f"no valid inputs found for {name!r}: {at} ({status[:240]}) at its declared sizes, "
            f"and it declares {'axes' if len(empty) > 1 else 'axis'} {', '.join(empty)} of size "
            "0 (an empty tensor), which ONNX Runtime holds it to: if the axis is free, give it a "
            "name in the model (onnx.tools.update_model_dims.update_inputs_outputs_dims) and run "
            "again"
        )
    oom = re.search(r"Failed to allocate memory for requested buffer of size (\d+)", status)
    if oom:  # the sizes are the problem, not the values: say how much, and at which sizes
        sizes = ", ".join(f"{k}={v}" for k, v in (tried[-1][0] if tried else bound).items())
        return InputError(
            f"{at}: out of memory, {int(oom.group(1)) / 2**30:.1f} GiB asked for one buffer"
            f"{f' at {sizes}' if sizes else ''}; pass smaller --input-shapes "
            f"({name}:{example or _no_dims(inp)})"
        )
    status = status[:240]  # "requested shape:{...}" ends a Reshape's message
    # a size the failures pointed to but too large to run here: the user may have the memory
    skipped = (
        f"; not run at {', '.join(f'{k}={v}' for k, v in too_large[0].items())}: "
        f"{too_large[1] / 2**30:.3g} GiB of tensors"
        if too_large
        else ""
    )
    if same is not None and len(tried) > 2 and _VALUE_ERROR.search(status):
        skipped += (
            f"; the same error at every size{same}: the values drawn, not the sizes, are its "
            "likely cause (an index past a table, a divisor of 0: values the graph does not "
            "tell)"
        )
    elif same is not None and len(tried) > 2:
        skipped += (
            f"; the same error at every size{same}: the sizes are not its cause (check that the "
            "model runs in ONNX Runtime on inputs it was exported with; an exporter can write "
            "a graph that does not)"
        )
    if named:
        at_sizes = ", ".join(f"{k}={v}" for k, v in named.items())
        n_tried += f", at {at_sizes} (what its other failures named) with"
    return InputError(
        f"no valid inputs found for {name!r}: {at}{n_tried} ({status}){skipped}; "
        f"pass --input-shapes {name}:{example or _no_dims(inp)}, --val-range {name}:[LO,HI] or "
        "--inputs data.npz"
    )


# ---------------------------------------------------------------- shapes from a run


def with_input_shapes(model: onnx.ModelProto, feeds: dict[str, Any]) -> onnx.ModelProto:
    """A copy of ``model`` whose graph inputs have the shapes of ``feeds`` (an input that is
    also an initializer, as in IR 3 files, keeps its own)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    inits = {t.name for t in m.graph.initializer}
    for vi in m.graph.input:
        if vi.name in inits or vi.name not in feeds or not vi.type.HasField("tensor_type"):
            continue
        shape = vi.type.tensor_type.shape
        shape.Clear()
        for d in np.shape(feeds[vi.name]):
            shape.dim.add().dim_value = int(d)
    return m


def shaped_model(
    model: onnx.ModelProto,
    feeds: dict[str, np.ndarray],
    values: list[str] | None = None,
) -> onnx.ModelProto:
    """A copy of ``model`` whose graph inputs have the feeds' shapes and whose ``value_info``
    holds the shapes and types that ``values`` (default: every main-graph node output) actually
    had on a run with ``feeds``.

    Shape inference with placeholders leaves most shapes of a real model unknown (BERT's
    activations after a dynamic Reshape, a detector's after Resize); the cost model measures a
    site at the shape it has on inputs the model accepts, which only a run can tell.
    """
    from rewriter.ir.runtime import run_values

    m = with_input_shapes(model, feeds)
    if values is None:
        values = [o for n in m.graph.node for o in n.output if o]
    # run the model as given: with its inputs fixed, ONNX Runtime infers the branches a run does
    # not take at those shapes too, and refuses a VAD whose unsupported-rate branch cannot hold
    got = next(run_values(model, values, [feeds]))
    outputs = {o.name for o in m.graph.output}
    keep = [vi for vi in m.graph.value_info if vi.name not in got]
    del m.graph.value_info[:]
    m.graph.value_info.extend(keep)
    for name in values:
        a = got.get(name)
        if a is None or name in outputs or a.dtype == object:
            continue
        elem = onnx.helper.np_dtype_to_tensor_dtype(a.dtype)
        m.graph.value_info.append(onnx.helper.make_tensor_value_info(name, elem, list(a.shape)))
    for o in m.graph.output:
        a = got.get(o.name)
        if a is not None and o.type.HasField("tensor_type"):
            o.type.tensor_type.shape.Clear()
            for d in a.shape:
                o.type.tensor_type.shape.dim.add().dim_value = int(d)
    return m
