"""Where a changed model differs from its original, and the part of it that must run again.

A candidate model (one site replaced by its rational) shares everything upstream of the site
with the original; running it whole re-computes that shared part on every calibration batch.
``Keys`` gives every tensor of a graph a structural key: a graph input its name, an
initializer its type, dims and bytes, a node output its op, domain, attributes, the keys it
reads (including what its bodies read from outside) and its output index; node and tensor
names do not count, so a rename by a graph pass keeps the key. Two tensors with one key hold
the same values on the same inputs.

``downstream(original, keys, changed)`` cuts ``changed`` to the nodes whose outputs have keys
the original does not (the site's replacement and everything computed from it): a ``Cut``
whose model reads, as graph inputs, the tensors those nodes take from the shared part; the
caller feeds them the original's values (its own run, ``rewriter.accuracy.evaluate``) and
takes every output of the shared part from the original too.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import onnx

from .graph import ValueInfoTable, free_values, subgraph_attrs

__all__ = ["Cut", "Keys", "downstream"]


def _digest(*parts: bytes) -> str:
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()


def _tensor_key(t: onnx.TensorProto) -> str:
    """A tensor's values as a key (its name aside): an external tensor by where its bytes
    lie."""
    if t.data_location == onnx.TensorProto.EXTERNAL:
        where = b"|".join(f"{e.key}={e.value}".encode() for e in t.external_data if e.key != "")
        return _digest(b"x", str(t.data_type).encode(), str(list(t.dims)).encode(), where)
    if t.raw_data:
        return _digest(b"r", str(t.data_type).encode(), str(list(t.dims)).encode(), t.raw_data)
    c = onnx.TensorProto()
    c.CopyFrom(t)
    c.name = ""
    c.ClearField("doc_string")
    return _digest(b"t", c.SerializeToString())


def _same_tensor(a: onnx.TensorProto, b: onnx.TensorProto) -> bool:
    """Equal tensors, name included (protobuf compares in C: FCOS's 130 MB of weights in
    0.03 s, where reading ``raw_data`` copies them, 0.4 s)."""
    return bool(a == b)


class Keys:
    """Structural keys of a main graph's tensors (see the module doc).

    Args:
        model: the model.
        like: the keys of another model whose initializers, where a name and the bytes agree,
            lend their key (the candidate's copy of a 400 MB weight is compared, not hashed).

    Attributes:
        of: tensor name -> key.
        names: key -> the first tensor holding it (built once, on first use).
        complete: False when a node reads a tensor no earlier node, input or initializer
            defines (an unsorted graph): the keys are then not to be trusted.
    """

    def __init__(self, model: onnx.ModelProto, like: Keys | None = None) -> None:
        g = model.graph
        self.of: dict[str, str] = {}
        self._inits: dict[str, onnx.TensorProto] = {}
        for t in g.initializer:
            self._inits[t.name] = t
            theirs = like._inits.get(t.name) if like is not None else None
            if theirs is not None and _same_tensor(t, theirs):
                self.of[t.name] = like.of[t.name]  # type: ignore[union-attr]
            else:
                self.of[t.name] = _tensor_key(t)
        for i in g.input:
            if i.name not in self.of:
                self.of[i.name] = _digest(b"in", i.name.encode())
        self.complete = True
        for n in g.node:
            reads = [self._read(x) for x in n.input]
            outer = sorted({v for _, b in subgraph_attrs(n) for v in free_values(b)})
            attrs = [a.SerializeToString() for a in n.attribute]
            base = _digest(
                n.op_type.encode(),
                n.domain.encode(),
                *attrs,
                b"|",
                *(r.encode() for r in reads),
                b"|",
                *(f"{v}:{self._read(v)}".encode() for v in outer),
            )
            for k, o in enumerate(n.output):
                if o:
                    self.of[o] = _digest(base.encode(), str(k).encode())

    @functools.cached_property
    def names(self) -> dict[str, str]:
        """key -> the first tensor of the model that holds it."""
        out: dict[str, str] = {}
        for name, key in self.of.items():
            out.setdefault(key, name)
        return out

    def _read(self, name: str) -> str:
        if not name:
            return ""
        key = self.of.get(name)
        if key is None:
            self.complete = False
            return _digest(b"?", name.encode())
        return key


@dataclass
class Cut:
    """The part of a changed model that differs from its original.

    Attributes:
        model: the changed nodes; its graph inputs are ``feeds``' keys, its outputs the
            names ``outputs`` marks True.
        feeds: input of ``model`` -> the original's tensor of the same values (a graph input
            feeds itself).
        outputs: per output of the changed model, in order, ``(True, name)`` when ``model``
            computes it, ``(False, original_name)`` when the original's tensor of that name
            holds its values.
        nodes, total: nodes in ``model`` and in the changed model.
    """

    model: onnx.ModelProto
    feeds: dict[str, str]
    outputs: list[tuple[bool, str]]
    nodes: int
    total: int


def _same_meaning(original: onnx.ModelProto, changed: onnx.ModelProto) -> bool:
    """Every op of the original means the same in the changed model: each of its opsets at the
    same version and its local functions unchanged (the changed model may add either)."""
    theirs = {o.domain: o.version for o in changed.opset_import}
    if any(theirs.get(o.domain, o.version) != o.version for o in original.opset_import):
        return False
    funcs = {f.SerializeToString() for f in changed.functions}
    return all(f.SerializeToString() in funcs for f in original.functions)


def downstream(
    original: onnx.ModelProto,
    keys: Keys,
    changed: onnx.ModelProto,
    types: ValueInfoTable | None = None,
) -> Cut | None:
    """The ``Cut`` of ``changed`` against ``original`` (whose ``Keys`` are ``keys``); None when
    the keys cannot be trusted (a graph out of order, other opsets or local functions) or the
    cut reads an input that has a default (fed or not, the cut cannot tell).

    Args:
        types: the original's value info (``infer_value_info``): the cut's inputs get their
            element types and shapes (so ONNX Runtime optimizes the cut as it did the whole);
            without, or where unknown, float with no shape.
    """
    if not keys.complete or not _same_meaning(original, changed):
        return None
    ck = Keys(changed, like=keys)
    if not ck.complete:
        return None
    by_key = keys.names
    g = changed.graph
    inits = {t.name: t for t in g.initializer}
    graph_inputs = {i.name: i for i in g.input if i.name not in inits}
    # an input with a default (an initializer of its name) holds what the caller feeds, if fed
    defaults = {i.name for i in g.input if i.name in inits}
    kept: list[onnx.NodeProto] = []
    for n in g.node:
        if any(o and ck.of[o] not in by_key for o in n.output):
            kept.append(n)
    made = {o for n in kept for o in n.output if o}
    reads: list[str] = []
    for n in kept:
        reads.extend(x for x in n.input if x)
        for _, b in subgraph_attrs(n):
            reads.extend(sorted(free_values(b)))
    feeds: dict[str, str] = {}
    needed_inits: list[onnx.TensorProto] = []
    for x in dict.fromkeys(reads):
        if x in made:
            continue
        if x in defaults:
            return None
        if x in inits:
            needed_inits.append(inits[x])
        elif x in graph_inputs:
            feeds[x] = x
        else:
            feeds[x] = by_key[ck.of[x]]
    outputs: list[tuple[bool, str]] = []
    for o in g.output:
        if o.name in made:
            outputs.append((True, o.name))
        elif ck.of.get(o.name) in by_key:
            outputs.append((False, by_key[ck.of[o.name]]))
        else:  # an output nothing computes: the model is broken, and says so when run whole
            return None
    m = onnx.ModelProto()
    m.ir_version = changed.ir_version
    m.opset_import.extend(changed.opset_import)
    m.functions.extend(changed.functions)
    sg = m.graph
    sg.name = g.name
    sg.node.extend(kept)
    sg.initializer.extend(needed_inits)
    for x, src in feeds.items():
        if x in graph_inputs:
            sg.input.append(graph_inputs[x])
            continue
        vi = types.get(src) if types is not None else None
        elem = vi.elem_type if vi is not None and vi.elem_type else onnx.TensorProto.FLOAT
        shape = list(vi.shape) if vi is not None and vi.shape is not None else None
        sg.input.append(onnx.helper.make_tensor_value_info(x, elem, shape))
    sg.output.extend(
        onnx.ValueInfoProto(name=name)
        for name in dict.fromkeys(name for is_made, name in outputs if is_made)
    )
    return Cut(m, feeds, outputs, len(kept), len(g.node))
