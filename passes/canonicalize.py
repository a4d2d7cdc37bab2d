"""canonicalize: one spelling per computation, applied to the whole graph.

Div(x, c) -> Mul(x, 1/c) and Sub(x, c) -> Add(x, -c) for scalar float constants c; Identity
nodes whose output is not a graph output are bypassed. The matcher sees through all of these
already; this pass is for toolchains that want the canonical graph itself.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx
from onnx import numpy_helper

from rewriter.ir import Graph, subgraph_attrs


def canonicalize(model: onnx.ModelProto) -> int:
    """Canonicalize ``model`` in place; returns the number of nodes changed."""
    return _graph(model.graph, None)


def _nested_outputs(nodes: Iterable[onnx.NodeProto]) -> set[str]:
    """Names that If/Loop/Scan bodies (at any depth) return as their outputs."""
    out: set[str] = set()
    for n in nodes:
        for _, body in subgraph_attrs(n):
            out.update(o.name for o in body.output)
            out |= _nested_outputs(body.node)
    return out


def _rename_reads(nodes: Iterable[onnx.NodeProto], rename: dict[str, str]) -> None:
    """Point every read of a bypassed value at its source, inside subgraph bodies too (a body
    reads outer values by name, so a bypassed Identity read only there must be renamed there)."""
    for n in nodes:
        for k, x in enumerate(n.input):
            while x in rename:
                x = rename[x]
            n.input[k] = x
        for _, body in subgraph_attrs(n):
            _rename_reads(body.node, rename)


def _graph(proto: onnx.GraphProto, parent: Graph | None) -> int:
    g = Graph(proto, parent=parent)
    changed = 0
    rename: dict[str, str] = {}
    returned = _nested_outputs(proto.node)  # a body's output name cannot be renamed
    for i, n in enumerate(g.nodes):
        assert n is not None
        for _, body in subgraph_attrs(n):
            changed += _graph(body, g)
        if n.op_type in ("Div", "Sub") and n.domain in ("", "ai.onnx") and len(n.input) == 2:
            c = g.const(n.input[1])
            if (
                c is None
                or c.size != 1
                or not np.issubdtype(c.dtype, np.floating)
                or (n.op_type == "Div" and c.item() == 0)
            ):
                continue
            value = (np.reciprocal(c) if n.op_type == "Div" else np.negative(c)).astype(c.dtype)
            name = f"{n.input[1]}/{'reciprocal' if n.op_type == 'Div' else 'neg'}"
            g.add_initializer(numpy_helper.from_array(value.reshape(c.shape), name))
            n.op_type = "Mul" if n.op_type == "Div" else "Add"
            n.input[1] = name
            changed += 1
        elif (
            n.op_type == "Identity"
            and n.domain in ("", "ai.onnx")
            and n.output[0] not in g.graph_outputs
            and n.output[0] not in returned
        ):
            rename[n.output[0]] = n.input[0]
            g.remove(i)
            changed += 1
    _rename_reads((n for n in g.nodes if n is not None), rename)
    g.commit()
    return changed
