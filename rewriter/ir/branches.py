"""A model as it runs on given inputs: each If replaced by the branch those inputs take.

Values inside If bodies cannot be exposed as graph outputs, so a site in a branch (a VAD whose
whole network sits under ``If(sr == 16000)``) could be neither observed on calibration data nor
cut into a micro-model and timed. ``take_branches(model, feeds)`` runs the model to read the
conditions of its main graph's If nodes and splices the taken branch in place of each (its nodes
and initializers, then one Identity per If output), again for the Ifs that splicing brought into
the main graph, until none is left whose condition is known. On those feeds the result computes
the same outputs; a site of a spliced branch is then a main-graph site of the result (its values
keep their names). An If is left as it is when its branch would reuse a name of the main graph
(other than an identical initializer) or when its condition is not one boolean; Loop and Scan
bodies are left alone.

``Branches.where(site.graph)`` says where a site's body went: ``""`` (main graph), the path that
remains (still nested), or None when those feeds do not take its branch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper

from rewriter.ir.graph import split_body_path, subgraph_attrs

__all__ = ["Branches", "take_branches"]

_MAX_ROUNDS = 16  # nesting depth of Ifs spliced (real models: 1-2)


@dataclass
class Branches:
    """``model`` with the taken branches spliced in, and which bodies were taken (by path)."""

    model: onnx.ModelProto
    taken: dict[str, str] = field(default_factory=dict)  # If path -> the attribute taken
    conditions: dict[str, bool] = field(default_factory=dict)  # condition value -> its value

    def where(self, path: str) -> str | None:
        """The path of body ``path`` (``site.graph``) in ``model``: "" when spliced into the main
        graph, the nested rest when an If on the way was not spliced, None when the feeds take
        the other branch."""
        if not path:
            return ""
        pairs = split_body_path(path)
        if pairs is None:
            return path
        for i, (node, attr) in enumerate(pairs):
            if node not in self.taken:
                rest = ""
                for label, a in pairs[i:]:
                    rest = f"{rest}/{label}/{a}" if rest else f"{label}/{a}"
                return rest
            if self.taken[node] != attr:
                return None
        return ""

    def same_branches(self, values: Mapping[str, np.ndarray]) -> bool:
        """Whether ``values`` (the conditions fetched on other feeds) take the same branches."""
        return all(
            c in values and bool(np.asarray(values[c]).reshape(-1)[0]) == v
            for c, v in self.conditions.items()
        )


def _names(g: onnx.GraphProto) -> set[str]:
    out = {v.name for v in g.input} | {t.name for t in g.initializer}
    for n in g.node:
        out.update(o for o in n.output if o)
    return out


def _same_initializers(body: onnx.GraphProto, g: onnx.GraphProto) -> set[str]:
    """Initializers of ``body`` that ``g`` holds too, byte for byte (the rewriter names a
    rational's coefficients by function and degrees, so two tanh sites share them): no clash."""
    mine = {t.name: t for t in g.initializer}
    return {
        t.name
        for t in body.initializer
        if t.name in mine and mine[t.name].SerializeToString() == t.SerializeToString()
    }


def _splice(g: onnx.GraphProto, i: int, body: onnx.GraphProto) -> None:
    """Replace node ``i`` of ``g`` (an If) by ``body``'s nodes and one Identity per output."""
    node = g.node[i]
    label = node.name or node.output[0]
    nodes = [onnx.NodeProto() for _ in body.node]
    for c, n in zip(nodes, body.node, strict=True):
        c.CopyFrom(n)
    nodes += [
        helper.make_node("Identity", [b.name], [o], name=f"{label}/{j}")
        for j, (b, o) in enumerate(zip(body.output, node.output, strict=True))
        if o
    ]
    have = {t.name for t in g.initializer}
    g.initializer.extend(t for t in body.initializer if t.name not in have)
    known = {v.name for v in g.value_info}
    g.value_info.extend(v for v in body.value_info if v.name not in known)
    del g.node[i]
    for k, n in enumerate(nodes):
        g.node.insert(i + k, n)


def take_branches(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> Branches:
    """The model with every If whose condition ``feeds`` decide replaced by the branch taken
    (see the module doc). ``model`` is not modified; without If nodes it is returned as is."""
    from rewriter.ir.runtime import run_values

    if not any(n.op_type == "If" for n in model.graph.node):
        return Branches(model)
    m = onnx.ModelProto()
    m.CopyFrom(model)
    res = Branches(m)
    for _ in range(_MAX_ROUNDS):
        g = m.graph
        labels = [n.name or n.op_type for n in g.node if n.op_type == "If"]
        # a site's path names its If by node name (op type when unnamed): only unique ones
        ifs = [
            (i, n)
            for i, n in enumerate(g.node)
            if n.op_type == "If" and labels.count(n.name or n.op_type) == 1
            and (n.name or n.op_type) not in res.taken
        ]  # fmt: skip
        if not ifs:
            break
        conds = [n.input[0] for _, n in ifs]
        try:
            got = next(run_values(m, conds, [dict(feeds)]))
        except Exception:  # the feeds do not run: leave the Ifs (callers report the run itself)
            break
        names = _names(g)
        spliced = False
        for i, n in reversed(ifs):  # from the end: earlier indices stay valid
            c = np.asarray(got.get(n.input[0]))
            if c.size != 1 or c.dtype != np.bool_:
                continue
            attr = "then_branch" if bool(c.reshape(-1)[0]) else "else_branch"
            body = dict(subgraph_attrs(n))[attr]
            new = _names(body) - {v.name for v in body.input}
            if (new & names) - _same_initializers(body, g):
                continue
            label = n.name or n.op_type
            res.taken[label] = attr
            res.conditions[n.input[0]] = attr == "then_branch"
            _splice(g, i, body)
            spliced = True
        if not spliced:
            break
    return res
