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

``Below(model, held).cut(sources)`` cuts a model to what runs again when only its graph inputs
``sources`` change, fed by name from a run holding ``held``: a switch model
(``rewriter.emit.switch``) is the original where its sites are, and each site's candidates run
on the part below the site's selector.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import onnx

from .graph import ValueInfoTable, free_values, subgraph_attrs

__all__ = ["Below", "Cut", "Keys", "downstream"]


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
        feeds: input of ``model`` -> the original's tensor of the same values (a graph input
            feeds itself).
        outputs: per output of the changed model, in order, ``(True, name)`` when ``model``
            computes it, ``(False, original_name)`` when the original's tensor of that name
            holds its values.
        nodes, total: nodes in ``model`` and in the changed model.
        model: the changed nodes; its graph inputs are ``feeds``' keys, its outputs the
            names ``outputs`` marks True. Built on first use: a detector's 87 site cuts
            (``Below``) would hold copies of most of its weights at once.
    """

    feeds: dict[str, str]
    outputs: list[tuple[bool, str]]
    nodes: int
    total: int
    build: Callable[[], onnx.ModelProto] = field(repr=False)

    @functools.cached_property
    def model(self) -> onnx.ModelProto:
        return self.build()


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
    kept: list[onnx.NodeProto] = []
    for n in changed.graph.node:
        if any(o and ck.of[o] not in by_key for o in n.output):
            kept.append(n)
    return _assemble(changed, kept, lambda x: by_key.get(ck.of.get(x, "")), types)


class Below:
    """The cuts of a model that run again when only some of its graph inputs change, fed by
    name: ``cut(sources)`` holds the nodes reading ``sources``, directly or through other
    nodes, and the nodes computing what those read where ``held`` (the names whose values a
    run of the caller holds, those of the model when every other input is as in that run)
    lacks it. A switch model's sites each have one: the nodes below the site's selector and
    the selector tests of the sites after it (``rewriter.accuracy.evaluate``). What every node
    reads is found once for all the cuts.

    Args:
        model: the model.
        held: the names a run of the caller holds.
        types: value info of the held tensors, as ``downstream``'s.
    """

    def __init__(
        self,
        model: onnx.ModelProto,
        held: Collection[str],
        types: ValueInfoTable | None = None,
    ) -> None:
        self.model, self.held, self.types = model, set(held), types
        g = model.graph
        self._reads = [[*n.input, *_body_reads(n)] for n in g.node]
        self._producer = {o: k for k, n in enumerate(g.node) for o in n.output if o}

    def cut(
        self,
        sources: Collection[str],
        inline: Callable[[onnx.NodeProto], list[onnx.NodeProto] | None] | None = None,
    ) -> Cut | None:
        """The cut below ``sources``; None when it reads what ``held`` lacks and the graph
        inputs do not give, or an input that has a default.

        Args:
            inline: a kept node -> the nodes that stand for it in the cut (None: itself), as
                a switch model's other sites at their original nodes
                (``rewriter.emit.switch.SwitchModel.fixed``)."""
        dirty = set(sources)
        keep: set[int] = set()
        for k, r in enumerate(self._reads):
            if any(x in dirty for x in r):
                keep.add(k)
                dirty.update(o for o in self.model.graph.node[k].output if o)
        todo = list(keep)
        while todo:  # what the kept nodes read that a held run has not: computed in the cut
            for x in self._reads[todo.pop()]:
                k = self._producer.get(x, -1)
                if k >= 0 and k not in keep and x not in self.held:
                    keep.add(k)
                    todo.append(k)
        kept: list[onnx.NodeProto] = []
        kept_reads: list[list[str]] = []
        for k in sorted(keep):
            n = self.model.graph.node[k]
            instead = inline(n) if inline is not None else None
            if instead is None:
                kept.append(n)
                kept_reads.append(self._reads[k])
            else:
                kept += instead
                kept_reads += [[*m.input, *_body_reads(m)] for m in instead]
        return _assemble(
            self.model, kept, lambda x: x if x in self.held else None, self.types, kept_reads
        )


def _body_reads(n: onnx.NodeProto) -> list[str]:
    """What a node's bodies read from outside, in a fixed order."""
    return [v for _, b in subgraph_attrs(n) for v in sorted(free_values(b))]


def _assemble(
    changed: onnx.ModelProto,
    kept: list[onnx.NodeProto],
    source: Callable[[str], str | None],
    types: ValueInfoTable | None,
    reads_of: list[list[str]] | None = None,
) -> Cut | None:
    """The ``Cut`` running ``kept`` (in graph order): what they read from outside is an
    initializer, a graph input, or the held tensor ``source`` names (None: no cut).
    ``reads_of``: what each kept node reads, bodies included, where the caller has it."""
    g = changed.graph
    inits = {t.name: t for t in g.initializer}
    graph_inputs = {i.name: i for i in g.input if i.name not in inits}
    # an input with a default (an initializer of its name) holds what the caller feeds, if fed
    defaults = {i.name for i in g.input if i.name in inits}
    made = {o for n in kept for o in n.output if o}
    if reads_of is None:
        reads_of = [[*n.input, *_body_reads(n)] for n in kept]
    reads = [x for r in reads_of for x in r if x]
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
            src = source(x)
            if src is None:
                return None
            feeds[x] = src
    outputs: list[tuple[bool, str]] = []
    for o in g.output:
        if o.name in made:
            outputs.append((True, o.name))
        elif (src := source(o.name)) is not None:
            outputs.append((False, src))
        else:  # an output nothing computes: the model is broken, and says so when run whole
            return None

    def build() -> onnx.ModelProto:
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
        return m

    return Cut(feeds, outputs, len(kept), len(g.node), build)
