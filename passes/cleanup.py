"""cleanup: remove dead nodes and unused initializers, and sort nodes topologically."""

from __future__ import annotations

import onnx

from rewriter.ir import free_values, sort_nodes, subgraph_attrs


def cleanup(model: onnx.ModelProto) -> int:
    """Clean ``model`` in place; returns the number of nodes and initializers removed."""
    return _graph(model.graph)


def _graph(g: onnx.GraphProto) -> int:
    removed = 0
    for n in g.node:
        for _, body in subgraph_attrs(n):
            removed += _graph(body)
    nodes = list(g.node)
    reads = [
        set(n.input) | set().union(*(free_values(b) for _, b in subgraph_attrs(n))) for n in nodes
    ]
    producer = {o: i for i, n in enumerate(nodes) for o in n.output if o}
    # liveness from the graph outputs backwards
    live: set[int] = set()
    todo = [producer[o.name] for o in g.output if o.name in producer]
    while todo:
        i = todo.pop()
        if i in live:
            continue
        live.add(i)
        todo.extend(producer[x] for x in reads[i] if x in producer)
    order = sorted(live)
    removed += len(nodes) - len(order)
    used = set().union(*(reads[i] for i in order)) | {o.name for o in g.output}
    inits = [t for t in g.initializer if t.name in used or t.name in {i.name for i in g.input}]
    removed += len(g.initializer) - len(inits)
    del g.node[:]
    g.node.extend(nodes[i] for i in order)
    sort_nodes(g)  # stable: the original order where free
    del g.initializer[:]
    g.initializer.extend(inits)
    return removed
