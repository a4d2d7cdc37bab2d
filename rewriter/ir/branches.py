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
    # per Loop/Scan node: its body's value -> that value's name in the first iteration added
    # to the main graph
    renamed: dict[str, dict[str, str]] = field(default_factory=dict)

    def where(self, path: str) -> str | None:
        """The path of body ``path`` (``site.graph``) in ``model``: "" when spliced into the main
        graph, the nested rest when an If on the way was not spliced, None when the feeds take
        the other branch (or run a Loop/Scan body zero times)."""
        if not path:
            return ""
        pairs = split_body_path(path)
        if pairs is None:
            return path
        for i, (node, attr) in enumerate(pairs):
            if node not in self.taken:
                return "/".join(f"{label}/{a}" for label, a in pairs[i:])
            if self.taken[node] != attr:
                return None
        return ""

    def value(self, path: str, name: str) -> str:
        """The name in ``model`` of value ``name`` of body ``path`` (``site.graph``): a Loop or
        Scan body's values are renamed in its first iteration; others keep theirs."""
        pairs = split_body_path(path) if path else None
        if not pairs:
            return name
        return self.renamed.get(pairs[-1][0], {}).get(name, name)

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
    label = node.name or node.op_type  # unique in the graph (checked by the caller)
    nodes = [onnx.NodeProto() for _ in body.node]
    for c, n in zip(nodes, body.node, strict=True):
        c.CopyFrom(n)
    nodes += [
        helper.make_node("Identity", [b.name], [o], name=f"{label}/{j}")
        for j, (b, o) in enumerate(zip(body.output, node.output, strict=True))
        if o and o != b.name  # a body output named as the If's (optimum-onnx's): it is already
    ]
    have = {t.name for t in g.initializer}
    g.initializer.extend(t for t in body.initializer if t.name not in have)
    known = {v.name for v in g.value_info}
    g.value_info.extend(v for v in body.value_info if v.name not in known)
    del g.node[i]
    for k, n in enumerate(nodes):
        g.node.insert(i + k, n)


def _peel(
    g: onnx.GraphProto, i: int, body: onnx.GraphProto, renamed: dict[str, dict[str, str]]
) -> None:
    """Add, after node ``i`` of ``g`` (a Loop or Scan, left in place), a copy of ``body`` bound
    to its first iteration: a Loop's iteration number 0, condition true, loop-carried values
    their initial ones; a Scan's states their initial ones, each scan input's first slice
    (its last, scanned in reverse). The copy's outputs are read by nothing."""
    node = g.node[i]
    label = node.name or node.op_type  # unique in the graph (checked by the caller)
    # the copy's values get new names: ONNX Runtime refuses a body that defines a name the
    # graph around it defines too
    local = {v.name for v in body.input} | {t.name for t in body.initializer}
    local |= {o for n in body.node for o in n.output if o}
    new = {v: f"{v}::{label}/first" for v in local}
    renamed[label] = new
    ins = [new[v.name] for v in body.input]
    bind: list[onnx.NodeProto] = []
    if node.op_type == "Loop":
        bind.append(helper.make_node("Constant", [], [ins[0]], value=_scalar(np.int64(0))))
        bind.append(helper.make_node("Constant", [], [ins[1]], value=_scalar(np.bool_(True))))
        bind += [
            helper.make_node("Identity", [src], [dst])
            for src, dst in zip(node.input[2:], ins[2:], strict=False)
        ]
    else:  # Scan
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        n_scan = int(attrs["num_scan_inputs"])
        n_state = len(node.input) - n_scan
        axes = list(attrs.get("scan_input_axes", [0] * n_scan))
        dirs = list(attrs.get("scan_input_directions", [0] * n_scan))
        bind += [
            helper.make_node("Identity", [src], [dst])
            for src, dst in zip(node.input[:n_state], ins[:n_state], strict=True)
        ]
        for j, (src, dst) in enumerate(zip(node.input[n_state:], ins[n_state:], strict=True)):
            at = f"{label}/first/{j}"
            bind.append(helper.make_node("Constant", [], [at], value=_scalar(np.int64(-dirs[j]))))
            bind.append(helper.make_node("Gather", [src, at], [dst], axis=int(axes[j])))
    for k, b in enumerate(bind):
        b.name = f"{label}/first/bind{k}"
    nodes = bind + [onnx.NodeProto() for _ in body.node]
    for c, n in zip(nodes[len(bind) :], body.node, strict=True):
        c.CopyFrom(n)
        _rename(c, new)
    for t in body.initializer:
        c = onnx.TensorProto()
        c.CopyFrom(t)
        c.name = new[t.name]
        g.initializer.append(c)
    for k, n in enumerate(nodes):
        g.node.insert(i + 1 + k, n)


def _rename(n: onnx.NodeProto, new: Mapping[str, str]) -> None:
    """Rename ``n``'s inputs and outputs by ``new``, and the outer-scope reads of its bodies."""
    n.input[:] = [new.get(v, v) for v in n.input]
    n.output[:] = [new.get(v, v) for v in n.output]
    for _, b in subgraph_attrs(n):
        _rename_reads(b, new)


def _rename_reads(b: onnx.GraphProto, new: Mapping[str, str]) -> None:
    """Rename by ``new`` what body ``b`` (and the bodies in it) read from outside."""
    inner = {v.name for v in b.input} | {t.name for t in b.initializer}
    inner |= {o for m in b.node for o in m.output}
    outer = {k: v for k, v in new.items() if k not in inner}
    for m in b.node:
        m.input[:] = [outer.get(v, v) for v in m.input]
        for _, bb in subgraph_attrs(m):
            _rename_reads(bb, outer)
    for o in b.output:
        o.name = outer.get(o.name, o.name)


def _scalar(v: np.generic) -> onnx.TensorProto:
    return onnx.numpy_helper.from_array(np.array(v))


def take_branches(
    model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], loops: bool = False
) -> Branches:
    """The model with every If whose condition ``feeds`` decide replaced by the branch taken
    (see the module doc). ``model`` is not modified; without If nodes it is returned as is.

    ``loops``: also add each Loop and Scan body's first iteration to the main graph (the node
    itself stays and computes the outputs), so a site in a body has a main-graph value to be
    shaped and cut at; for measuring only (``rewriter.cost``), as one iteration's values are
    not the body's range. A body the feeds run zero times has no first iteration: it is not
    added, and ``where`` says None for it, as for a branch not taken."""
    kinds = {"If", "Loop", "Scan"} if loops else {"If"}
    if not any(n.op_type in kinds for n in model.graph.node):
        return Branches(model)
    m = onnx.ModelProto()
    m.CopyFrom(model)
    res = Branches(m)
    _take_ifs(res, feeds)
    if loops:
        _peel_loops(res, feeds)
    return res


def _peel_loops(res: Branches, feeds: Mapping[str, np.ndarray]) -> None:
    for _ in range(_MAX_ROUNDS):
        g = res.model.graph
        labels = [n.name or n.op_type for n in g.node]
        todo = [
            (i, n)
            for i, n in enumerate(g.node)
            if n.op_type in ("Loop", "Scan") and labels.count(n.name or n.op_type) == 1
            and (n.name or n.op_type) not in res.taken
        ]  # fmt: skip
        if not todo:
            break
        empty = _no_iteration(res.model, [n for _, n in todo], feeds)
        for i, n in reversed(todo):  # from the end: earlier indices stay valid
            label = n.name or n.op_type
            if label in empty:  # like a branch not taken: its sites are not reached
                res.taken[label] = ""
                continue
            res.taken[label] = "body"
            _peel(g, i, dict(subgraph_attrs(n))["body"], res.renamed)


def _no_iteration(
    m: onnx.ModelProto, loops: list[onnx.NodeProto], feeds: Mapping[str, np.ndarray]
) -> set[str]:
    """Labels of the Loop/Scan nodes that run their body zero times on ``feeds`` (a Scan over
    an empty sequence, a Loop whose trip count is 0 or whose condition starts false): their
    first iteration does not exist, and slicing it out fails. Found in one run of ``m``; when
    the feeds do not run, none (callers report the run itself)."""
    from rewriter.ir.runtime import run_values

    consts = {t.name: t for t in m.graph.initializer}
    want: dict[str, list[tuple[str, int | None]]] = {}  # label -> (value, scan axis | None)
    for n in loops:
        label = n.name or n.op_type
        if n.op_type == "Loop":
            want[label] = [(v, None) for v in n.input[:2] if v]
        else:
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            k = int(attrs["num_scan_inputs"])
            axes = list(attrs.get("scan_input_axes", [0] * k))
            first = len(n.input) - k
            want[label] = [
                (n.input[first + j], int(axes[j])) for j in range(k) if n.input[first + j]
            ]
    fetch = sorted({v for pairs in want.values() for v, _ in pairs if v not in consts})
    try:
        got = next(run_values(m, fetch, [dict(feeds)])) if fetch else {}
    except Exception:
        return set()
    needed = {v for pairs in want.values() for v, _ in pairs if v in consts}
    values = {**got, **{k: onnx.numpy_helper.to_array(consts[k]) for k in needed}}
    out = set()
    for label, pairs in want.items():
        for v, axis in pairs:
            a = values.get(v)
            if a is None:
                continue
            a = np.asarray(a)
            if axis is not None:
                if a.ndim and a.shape[axis % a.ndim] == 0:
                    out.add(label)
            elif a.size == 1 and not a.reshape(-1)[0]:  # M == 0 or cond false
                out.add(label)
    return out


def _take_ifs(res: Branches, feeds: Mapping[str, np.ndarray]) -> None:
    from rewriter.ir.runtime import run_values

    m = res.model
    if not any(n.op_type == "If" for n in m.graph.node):
        return
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
            # optimum-onnx names each branch's outputs as the If's own: defined by the If alone
            own = {b.name for b, o in zip(body.output, n.output, strict=False) if b.name == o}
            if (new & names) - _same_initializers(body, g) - own:
                continue
            label = n.name or n.op_type
            res.taken[label] = attr
            res.conditions[n.input[0]] = attr == "then_branch"
            _splice(g, i, body)
            spliced = True
        if not spliced:
            break
