"""The ONNX IR the engine works on: a use-def view over the protobuf, edited in place.

Why not onnx-graphsurgeon or onnx-ir: both build a Python object per node and value, and on this
project's CI-class machine importing a 120k-node graph costs ~5 s in either before any matching
starts (measured: gs.import_onnx 5.2 s, onnx_ir.from_proto 4.8 s; export 2.3 s / 3.0 s). The engine
instead indexes the ``NodeProto`` list itself (producer and consumers per value name, ~0.4 s for the
same graph) and edits it by removing nodes and inserting replacement nodes where the matched root
was. That also keeps everything not rewritten byte-identical: names, doc strings, metadata,
value_info, custom-domain nodes.

A ``Graph`` wraps one ``GraphProto`` (the main graph or an If/Loop/Scan body); subgraph views link to
their parent so that constants and values from outer scopes resolve. A value consumed inside a
subgraph counts as a use by the node that owns the subgraph, so a match never swallows a value a
branch still reads.

Example:
    >>> g = Graph(model.graph)
    >>> g.producer_of("y").op_type
    'Relu'
    >>> g.remove(idx); g.insert_at(idx, new_nodes); g.commit()
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

__all__ = [
    "Graph",
    "RANDOM_OPS",
    "body_path",
    "split_body_path",
    "ValueInfo",
    "ValueInfoTable",
    "all_graphs",
    "all_initializers",
    "constant_attr",
    "all_nodes",
    "draws_at_random",
    "dynamic_inputs",
    "free_values",
    "infer_value_info",
    "sort_nodes",
    "subgraph_attrs",
    "training_dropout",
]

# Ops through which a constant stays a constant; folded with numpy when looking up values.
_FOLDABLE = {
    "Identity",
    "Cast",
    "CastLike",
    "Sqrt",
    "Reciprocal",
    "Neg",
    "Reshape",
    "Unsqueeze",
    "Squeeze",
    "Flatten",
    "QuantizeLinear",  # QDQ models quantize even the 0.5 and 1.0 of a GELU
    "DequantizeLinear",
}

# ops whose outputs vary without any input (a TTS model's noise)
RANDOM_OPS = frozenset(
    ("RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike")
    + ("Multinomial", "Bernoulli")
)


def training_dropout(n: onnx.NodeProto) -> bool:
    """A Dropout given a ``training_mode`` input (a model exported in training mode): random
    where the runtime does not drop it."""
    return n.op_type == "Dropout" and len(n.input) >= 3 and bool(n.input[2])


def draws_at_random(n: onnx.NodeProto) -> bool:
    """A node whose outputs are drawn at random: a random op, or a Dropout in training mode."""
    return n.op_type in RANDOM_OPS or training_dropout(n)


@dataclass(frozen=True)
class ValueInfo:
    """Element type (onnx.TensorProto enum) and shape (ints, strings for symbolic dims, None)."""

    elem_type: int
    shape: tuple[int | str | None, ...] | None


def default_opset(m: onnx.ModelProto) -> int:
    """The model's default-domain opset: what its standard nodes, and any node written into
    it, must exist in (1 when it imports none)."""
    return max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=1)


def subgraph_attrs(node: onnx.NodeProto) -> Iterator[tuple[str, onnx.GraphProto]]:
    """The (attribute name, body) pairs of a node's graph attributes (If, Loop, Scan, ...)."""
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            yield a.name, a.g
        elif a.type == onnx.AttributeProto.GRAPHS:
            for k, g in enumerate(a.graphs):
                yield f"{a.name}[{k}]", g


# graph attributes of the standard ops (If, Loop, Scan, SequenceMap) and GRAPHS entries
_BODY_ATTR = re.compile(r"/(then_branch|else_branch|body|[A-Za-z_]\w*\[\d+\])(?=/|$)")


def body_path(parent: str, node: onnx.NodeProto, attr: str) -> str:
    """Where a body graph is: ``parent``'s path, the node's name (op type when unnamed) and the
    attribute, joined by "/": ``"If_0/then_branch"``, ``"/If/then_branch"`` (TorchScript names
    nodes ``/If``: the name is kept as it is)."""
    label = node.name or node.op_type
    return f"{parent}/{label}/{attr}" if parent else f"{label}/{attr}"


def split_body_path(path: str) -> list[tuple[str, str]] | None:
    """``body_path``'s (node label, attribute) pairs, outermost first; node names may hold "/"
    (``"/b16/If/else_branch"`` -> ``[("/b16/If", "else_branch")]``). None when the path does
    not parse (a custom op's graph attribute of another name)."""
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(path):
        hit = _BODY_ATTR.search(path, pos + 1)  # a label is never empty
        if hit is None:
            return None
        out.append((path[pos : hit.start()], hit.group(1)))
        pos = hit.end() + 1  # past the "/" that joins the next level
    return out


def sort_nodes(g: onnx.GraphProto) -> int:
    """Put ``g``'s nodes (and its bodies') in topological order, in place, keeping the given
    order wherever it is free; returns how many graphs were reordered (0: already sorted).

    ONNX Runtime accepts graphs whose nodes are out of order and sorts them itself; the checker
    does not, and tools write such graphs (ONNX Runtime's own float16 converter with
    ``keep_io_types=True`` appends the input Casts at the end). A cycle is left as it is.
    """
    import networkx as nx

    count = sum(sort_nodes(b) for n in g.node for _, b in subgraph_attrs(n))
    nodes = list(g.node)
    producer = {o: k for k, n in enumerate(nodes) for o in n.output if o}
    edges = [
        (producer[v], k)
        for k, n in enumerate(nodes)
        for v in {i for i in n.input if i}.union(*(free_values(b) for _, b in subgraph_attrs(n)))
        if v in producer and producer[v] != k
    ]
    if all(a < b for a, b in edges):
        return count
    dag = nx.DiGraph(edges)
    dag.add_nodes_from(range(len(nodes)))
    try:
        order = list(nx.lexicographical_topological_sort(dag))  # the given order where free
    except nx.NetworkXUnfeasible:  # a cycle: not ours to fix
        return count
    del g.node[:]
    g.node.extend(nodes[k] for k in order)
    return count + 1


def free_values(g: onnx.GraphProto) -> set[str]:
    """Names a graph body reads from outer scopes (including those its own subgraphs read)."""
    local = {i.name for i in g.input} | {t.name for t in g.initializer}
    used: set[str] = set()
    for n in g.node:
        local.update(n.output)
    for n in g.node:
        used.update(i for i in n.input if i)
        for _, sub in subgraph_attrs(n):
            used |= free_values(sub)
    used.update(o.name for o in g.output)
    return used - local


class Graph:
    """Use-def index over one GraphProto.

    Attributes:
        proto: the wrapped GraphProto (edited by ``commit``).
        nodes: node list; removed nodes become ``None`` until ``commit``.
        parent: the enclosing graph for subgraph bodies, else ``None``.
        path: where this graph is, e.g. ``""`` (main) or ``"If_0/then_branch"``.
    """

    def __init__(
        self,
        proto: onnx.GraphProto,
        parent: Graph | None = None,
        path: str = "",
        value_info: ValueInfoTable | None = None,
    ) -> None:
        self.proto = proto
        self.parent = parent
        self.path = path
        self.nodes: list[onnx.NodeProto | None] = list(proto.node)
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = defaultdict(list)
        for i, n in enumerate(self.nodes):
            assert n is not None
            for o in n.output:
                if o:
                    self.producer[o] = i
            for x in n.input:
                if x:
                    self.consumers[x].append(i)
            if n.attribute:
                for _, sub in subgraph_attrs(n):
                    for x in free_values(sub):
                        self.consumers[x].append(i)
        self.graph_inputs = {i.name for i in proto.input}
        self.graph_outputs = {o.name for o in proto.output}
        self.initializers = {t.name: t for t in proto.initializer}
        self.value_info = value_info if value_info is not None else ValueInfoTable({})
        self._inserts: dict[int, list[onnx.NodeProto]] = {}
        self._new_inits: dict[str, onnx.TensorProto] = {}
        self._const: dict[str, np.ndarray | None] = {}
        self._orphans: set[str] = set()
        self._weights: set[str] | None = None

    # -- queries ---------------------------------------------------------------------------
    def node(self, i: int) -> onnx.NodeProto:
        n = self.nodes[i]
        assert n is not None, f"node {i} was removed"
        return n

    def label(self, i: int) -> str:
        """How sites and regions name node ``i``: its name, else ``Op#index`` (one convention:
        a dry run's claimed nodes are compared by it)."""
        n = self.node(i)
        return n.name or f"{n.op_type}#{i}"

    def producer_of(self, value: str) -> onnx.NodeProto | None:
        i = self.producer.get(value)
        return None if i is None else self.nodes[i]

    def uses(self, value: str) -> int:
        """Number of live consumers of ``value`` (graph outputs not counted)."""
        return sum(1 for i in self.consumers.get(value, ()) if self.nodes[i] is not None)

    def is_output(self, value: str) -> bool:
        return value in self.graph_outputs

    def const(self, value: str) -> np.ndarray | None:
        """The constant array behind ``value``, or None when it varies at run time.

        Initializers (unless also graph inputs, which callers may override), Constant nodes, and
        Identity/Cast/CastLike/Sqrt/... of constants are all constants; outer scopes are searched
        for values a subgraph does not define.
        """
        if value in self._const:
            return self._const[value]
        result: np.ndarray | None = None
        if value in self.initializers and value not in self.graph_inputs:
            result = numpy_helper.to_array(self.initializers[value])
        elif value in self.producer:
            n = self.nodes[self.producer[value]]
            if n is not None:
                result = self._fold(n)
        elif self.parent is not None and value not in self.graph_inputs:
            result = self.parent.const(value)
        self._const[value] = result
        return result

    def weights_only(self, value: str) -> bool:
        """Whether ``value`` is computed from the model's weights alone: initializers (not graph
        inputs, which callers may override), Constant nodes and nodes reading only those (no
        random op, no subgraph on the way; a body reads its parent's answer for outer values).
        ONNX Runtime folds such a computation when it loads the model, whatever it spells: an
        activation there (Swin V2's ``16 * sigmoid(cpb_mlp(table))``) costs nothing at run time,
        and a rational would only add its error to a weight. Found in one pass over the nodes in
        order when first asked."""
        if self._weights is None:
            known = {v for v in self.initializers if v not in self.graph_inputs}
            for n in self.nodes:
                if n is None or n.op_type in RANDOM_OPS or any(subgraph_attrs(n)):
                    continue
                if not any(n.input) and n.domain not in ("", "ai.onnx"):
                    continue  # a custom op reading nothing: not known to be a constant
                if all(v in known or self._outer_weight(v) for v in n.input if v):
                    known.update(o for o in n.output if o)
            self._weights = known
        return value in self._weights or self._outer_weight(value)

    def _outer_weight(self, value: str) -> bool:
        """``value`` is an outer scope's, and computed from weights alone there."""
        if value in self.producer or value in self.graph_inputs or self.parent is None:
            return False
        return self.parent.weights_only(value)

    def const_eps(self, value: str) -> float:
        """Relative precision of a float constant: the epsilon of the narrowest float type it
        passed through (an fp16 constant Cast to float32 is still only fp16-exact)."""
        c = self.const(value)
        if c is None or c.dtype.kind != "f":
            return 0.0
        eps = float(np.finfo(c.dtype).eps)
        n = self.producer_of(value)
        if n is not None and n.op_type in _FOLDABLE and n.input and n.input[0]:
            eps = max(eps, self.const_eps(n.input[0]))
        return eps

    def _fold(self, n: onnx.NodeProto) -> np.ndarray | None:
        if n.domain not in ("", "ai.onnx"):
            return None
        if n.op_type == "Constant":
            return constant_attr(n)
        if n.op_type not in _FOLDABLE:
            return None
        args = [self.const(x) if x else None for x in n.input]
        if args[0] is None:
            return None
        a = args[0]
        try:
            if n.op_type == "Identity":
                return a
            if n.op_type == "Cast":
                to = next(x.i for x in n.attribute if x.name == "to")
                return a.astype(onnx.helper.tensor_dtype_to_np_dtype(to))
            if n.op_type == "CastLike":
                like = args[1] if len(args) > 1 else None
                dtype = like.dtype if like is not None else self._np_dtype(n.input[1])
                return None if dtype is None else a.astype(dtype)
            if n.op_type == "Sqrt":
                return np.sqrt(a)
            if n.op_type == "Reciprocal":
                return np.reciprocal(a)
            if n.op_type == "Neg":
                return np.negative(a)
            if n.op_type == "QuantizeLinear":  # saturate(round(x / scale) + zero_point)
                scale = args[1] if len(args) > 1 else None
                zp = args[2] if len(args) > 2 and args[2] is not None else np.zeros(1, np.uint8)
                if scale is None or scale.size != 1 or zp.size != 1 or zp.dtype.kind not in "iu":
                    return None
                q = np.rint(a.astype(np.float64) / float(scale.reshape(()))) + int(zp.reshape(()))
                info = np.iinfo(zp.dtype)
                return np.clip(q, info.min, info.max).astype(zp.dtype)
            if n.op_type == "DequantizeLinear":  # (q - zero_point) * scale, per tensor
                scale = args[1] if len(args) > 1 else None
                zp = args[2] if len(args) > 2 and args[2] is not None else np.zeros(1)
                if scale is None or scale.size != 1 or zp.size != 1:
                    return None
                f = a.astype(np.float64) - zp.astype(np.float64).reshape(())
                return (f * scale.astype(np.float64).reshape(())).astype(scale.dtype)
            if a.size == 1:  # shape ops on scalars: [] and [1] are alike for matching
                return a
        except (StopIteration, ValueError, TypeError):
            return None
        return None

    def _np_dtype(self, value: str) -> np.dtype | None:
        vi = self.info(value)
        if vi is None or not vi.elem_type:
            return None
        return onnx.helper.tensor_dtype_to_np_dtype(vi.elem_type)

    def info(self, value: str) -> ValueInfo | None:
        """Element type and shape of ``value`` from shape inference, if known."""
        vi = self.value_info.get(value)
        if vi is None and self.parent is not None:
            return self.parent.info(value)
        return vi

    # -- edits -----------------------------------------------------------------------------
    def remove(self, i: int) -> None:
        self.nodes[i] = None

    def insert_at(self, i: int, nodes: list[onnx.NodeProto]) -> None:
        """Insert ``nodes`` at the position of node ``i`` (before it, if it stays)."""
        self._inserts.setdefault(i, []).extend(nodes)

    def add_initializer(self, t: onnx.TensorProto) -> None:
        if t.name not in self.initializers and t.name not in self._new_inits:
            self._new_inits[t.name] = t

    def replace(
        self,
        idx: Iterable[int],
        at: int,
        nodes: list[onnx.NodeProto],
        inits: Iterable[onnx.TensorProto] = (),
    ) -> list[str]:
        """Remove nodes ``idx`` and put ``nodes`` (reading ``inits``) at node ``at``'s place; the
        constants only the removed nodes read go at ``commit``. Returns the outputs removed
        (their ``value_info`` goes stale where ``nodes`` do not write them again)."""
        read: set[str] = set()
        removed: list[str] = []
        for i in idx:
            n = self.node(i)
            read.update(v for v in n.input if v)
            removed.extend(o for o in n.output if o)
            self.remove(i)
        self.insert_at(at, nodes)
        for t in inits:
            self.add_initializer(t)
        self.note_reads(read)
        return removed

    def note_reads(self, values: set[str]) -> None:
        """Values that removed nodes read: their Constant producers and initializers are removed
        at ``commit`` when nothing else reads them anymore."""
        self._orphans.update(values)

    def _drop_orphans(self) -> set[str]:
        """Remove the constant producers of orphaned values nothing reads anymore, and those
        producers' own inputs in turn; the initializers left unread. Reads are counted: a
        constant's DequantizeLinear (a QDQ model quantizes the 0.5 and 1.0 of a GELU) removed
        here stops reading its quantized value, scale and zero point, which were left behind
        as unused initializers (ONNX Runtime warned of each one on every load)."""
        reads: Counter[str] = Counter(self.graph_outputs)
        for n in self.nodes:
            if n is not None:
                reads.update(n.input)
                if n.attribute:
                    for _, sub in subgraph_attrs(n):
                        reads.update(free_values(sub))
        for nodes in self._inserts.values():
            for n in nodes:
                reads.update(n.input)
                for _, sub in subgraph_attrs(n):  # what inserted bodies read from outside
                    reads.update(free_values(sub))
        dead_inits: set[str] = set()
        todo = sorted(self._orphans)
        while todo:
            v = todo.pop()
            if reads[v] > 0:
                continue
            i = self.producer.get(v)
            n = self.nodes[i] if i is not None else None
            if (
                n is not None
                and n.op_type in _FOLDABLE | {"Constant"}
                and self.const(v) is not None
            ):
                if all(reads[o] <= 0 for o in n.output):
                    assert i is not None
                    self.nodes[i] = None
                    reads.subtract(x for x in n.input if x)
                    todo.extend(x for x in n.input if x)
            elif v in self.initializers and v not in self.graph_inputs:
                dead_inits.add(v)
        self._orphans.clear()
        return dead_inits

    def commit(self, stale: Collection[str] = ()) -> None:
        """Write the edits back into ``proto`` (node order: inserts take the root's place);
        ``value_info`` entries named in ``stale`` (values replaced nodes wrote) are dropped."""
        if stale:
            keep_vi = [v for v in self.proto.value_info if v.name not in stale]
            del self.proto.value_info[:]
            self.proto.value_info.extend(keep_vi)
        if not self._inserts and not self._new_inits and all(n is not None for n in self.nodes):
            return
        dead = self._drop_orphans()
        out: list[onnx.NodeProto] = []
        for i, n in enumerate(self.nodes):
            if i in self._inserts:
                out.extend(self._inserts[i])
            if n is not None:
                out.append(n)
        del self.proto.node[:]
        self.proto.node.extend(out)
        if dead:
            keep = [t for t in self.proto.initializer if t.name not in dead]
            del self.proto.initializer[:]
            self.proto.initializer.extend(keep)
        self.proto.initializer.extend(self._new_inits[k] for k in sorted(self._new_inits))


def constant_attr(n: onnx.NodeProto) -> np.ndarray | None:
    """The value of a Constant node (None: a form without one, as a sparse value)."""
    for a in n.attribute:
        if a.name == "value":
            return numpy_helper.to_array(a.t)
        if a.name == "value_float":
            return np.array(a.f, dtype=np.float32)
        if a.name == "value_floats":
            return np.array(list(a.floats), dtype=np.float32)
        if a.name == "value_int":
            return np.array(a.i, dtype=np.int64)
        if a.name == "value_ints":
            return np.array(list(a.ints), dtype=np.int64)
    return None


class ValueInfoTable:
    """Lazy name -> ValueInfo over a shape-inferred model (converted on first query)."""

    def __init__(self, protos: dict[str, onnx.ValueInfoProto | onnx.TensorProto]) -> None:
        self._protos = protos
        self._done: dict[str, ValueInfo] = {}

    def get(self, name: str) -> ValueInfo | None:
        vi = self._done.get(name)
        if vi is not None:
            return vi
        p = self._protos.get(name)
        if p is None:
            return None
        if isinstance(p, onnx.TensorProto):
            vi = ValueInfo(p.data_type, tuple(p.dims))
        else:
            t = p.type.tensor_type
            shape = None
            if t.HasField("shape"):
                shape = tuple(
                    d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                    for d in t.shape.dim
                )
            vi = ValueInfo(t.elem_type, shape)
        self._done[name] = vi
        return vi


_SKELETON_MIN = 1024  # initializers with more elements become typed inputs for shape inference


def _skeleton(m: onnx.ModelProto) -> onnx.ModelProto:
    """``m`` without its large main-graph initializers, each declared as a typed graph input
    instead: shape inference reads their dtype and dims, never their values (only small
    shape-like tensors are read), and serializing a 400 MB BERT three times for it cost
    seconds and gigabytes."""
    g = m.graph
    big = [t for t in g.initializer if int(np.prod(t.dims)) >= _SKELETON_MIN]
    if not big:
        return m
    names = {t.name for t in big}
    s = onnx.ModelProto()
    s.ir_version, s.producer_name = m.ir_version, m.producer_name
    s.opset_import.extend(m.opset_import)
    s.functions.extend(m.functions)
    sg = s.graph
    sg.name = g.name
    sg.node.extend(g.node)
    sg.initializer.extend(t for t in g.initializer if t.name not in names)
    sg.sparse_initializer.extend(g.sparse_initializer)
    sg.input.extend(i for i in g.input if i.name not in names)
    sg.input.extend(
        onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in big
    )
    sg.output.extend(g.output)
    sg.value_info.extend(g.value_info)
    return s


def infer_value_info(m: onnx.ModelProto) -> ValueInfoTable:
    """Element type and shape for every value shape inference can tell (all graphs)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(
            _skeleton(m), check_type=False, strict_mode=False
        )
    except Exception:
        inferred = m
    protos: dict[str, onnx.ValueInfoProto | onnx.TensorProto] = {}

    def walk(g: onnx.GraphProto) -> None:
        for t in g.initializer:
            protos[t.name] = t
        for seq in (g.value_info, g.output, g.input):
            for vi in seq:
                protos[vi.name] = vi
        for n in g.node:
            if n.attribute:
                for _, sub in subgraph_attrs(n):
                    walk(sub)

    walk(inferred.graph)
    return ValueInfoTable(protos)


def all_initializers(g: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from g.initializer
    for n in g.node:
        for _, sub in subgraph_attrs(n):
            yield from all_initializers(sub)


def all_graphs(g: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """``g`` and its If/Loop/Scan bodies, depth first."""
    yield g
    for n in g.node:
        for _, sub in subgraph_attrs(n):
            yield from all_graphs(sub)


def all_nodes(g: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    """Every node of ``g`` and of its If/Loop/Scan bodies, depth first."""
    for n in g.node:
        yield n
        for _, sub in subgraph_attrs(n):
            yield from all_nodes(sub)


def dynamic_inputs(m: onnx.ModelProto) -> list[str]:
    """The graph inputs (not initializers) with a dimension that is not a fixed size."""
    inits = {t.name for t in m.graph.initializer}
    return [
        i.name
        for i in m.graph.input
        if i.name not in inits
        and any(
            not (d.HasField("dim_value") and d.dim_value > 0) for d in i.type.tensor_type.shape.dim
        )
    ]
