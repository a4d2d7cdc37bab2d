"""One model standing for many rewrites of the same sites: each switchable site becomes nested
If nodes whose branches hold its original nodes and each alternative ``Candidate``, and one
int64 scalar graph input per site picks the branch that runs (0: the original, k: the k-th
alternative).

Runs of one ONNX Runtime session then stand for the models ``emit`` would build for each choice,
without emitting and loading one model per choice: the accuracy back-off
(``rewriter.plan.backoff``) and the map's and budget search's evaluator
(``rewriter.accuracy.evaluate.Evaluator.solos``) compare dozens to hundreds of choices. On a
D-FINE detector quantized by ``quantize_dynamic`` (61 sites) each emitted-and-loaded model cost
2.4 s, of which running it was a few percent.

A picked value is what the emitted model computes for that choice up to ONNX Runtime's fusions,
which do not cross an If (a Conv fuses with its SiLU in the original, not here): float
rounding. Whatever is written is emitted and verified as usual.

Example:
    >>> sw = switch_model(model, {"silu_0": [rational], "gelu_1": [relu, rational]})  # doctest: +SKIP
    >>> outputs = run(sw.model, sw.feeds(feeds, {"gelu_1": 2}))  # gelu_1 by its rational  # doctest: +SKIP
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rewriter.candidates import Candidate
from rewriter.ir import Graph, default_opset
from rewriter.match.engine import Site
from rewriter.match.rules import Rule

from .nodes import Emitted, SiteEmitter

__all__ = ["SwitchModel", "SwitchError", "switch_model", "selector"]


class SwitchError(ValueError):
    """A site's matched nodes could not be copied (the caller emits each choice instead)."""


def selector(site: str) -> str:
    """The graph input that picks ``site``'s alternative."""
    return f"pau/{site}/choice"


@dataclass
class SwitchModel:
    """A model whose sites ``selectors`` name are switched by graph inputs.

    Attributes:
        model: the model (an int64 scalar input per switchable site).
        selectors: site name -> its graph input.
        sites: every site found, as ``emit_result`` reports them.
    """

    model: onnx.ModelProto
    selectors: dict[str, str]
    sites: list[Site]

    def feeds(
        self, feeds: Mapping[str, np.ndarray], choice: Mapping[str, int]
    ) -> dict[str, np.ndarray]:
        """``feeds`` plus the selectors of ``choice`` (site -> 0 original, k k-th alternative;
        sites not named are original)."""
        out = dict(feeds)
        for name, value in self.selectors.items():
            out[value] = np.array(int(choice.get(name, 0)), dtype=np.int64)
        return out

    def fixed(self, node: onnx.NodeProto, but: str) -> list[onnx.NodeProto] | None:
        """What a node of the model is when every selector but site ``but``'s is 0: another
        site's selector test is nothing, its If the site's original nodes (its first branch)
        writing the site's output; None for any other node (itself). A cut below one site's
        selector (``rewriter.ir.downstream.Below``) then holds one If, not one a site after it:
        ONNX Runtime prepares every branch of every If when it loads a model (a 320 x 320
        YOLOv8n's cut of 288 nodes took 0.6 s to load, 0.09 s to run)."""
        mine = self.selectors.get(but)
        if node.op_type == "Equal" and node.output and node.output[0] in self._tests:
            return None if node.input[0] == mine else []
        if node.op_type != "If" or self._tests.get(node.input[0], mine) == mine:
            return None
        then = next(a.g for a in node.attribute if a.name == "then_branch")
        value = then.output[0].name
        out = []
        for n in then.node:
            c = onnx.NodeProto()
            c.CopyFrom(n)
            c.output[:] = [node.output[0] if o == value else o for o in c.output]
            out.append(c)
        return out

    @functools.cached_property
    def _tests(self) -> dict[str, str]:
        """The output of each site's selector test (Equal(selector, 0)) -> the selector."""
        sels = set(self.selectors.values())
        return {
            n.output[0]: n.input[0]
            for n in self.model.graph.node
            if n.op_type == "Equal" and n.input and n.input[0] in sels
        }

    def same_elsewhere(self, original: onnx.ModelProto) -> bool:
        """Whether every node but the sites' switches is a node of ``original`` writing the
        same names from the same names (its name aside), every initializer of a name the
        original has is the original's, and the inputs are the original's and the selectors:
        with every selector at 0 a tensor then holds what the original's of its name holds,
        and a run of the original can feed any part of the model by name
        (``rewriter.ir.downstream.Below``)."""
        og = original.graph
        theirs: dict[str, onnx.NodeProto] = {n.output[0]: n for n in og.node if n.output}
        inits = {t.name: t for t in og.initializer}
        g = self.model.graph
        if [i.name for i in g.input if i.name not in self.selectors.values()] != [
            i.name for i in og.input
        ]:
            return False
        if any(t.name in inits and t != inits[t.name] for t in g.initializer):
            return False
        for n in g.node:
            if n.output and n.output[0] in self._tests:  # a site's switch: Equal(selector, 0)
                continue
            if n.op_type == "If" and n.input[0] in self._tests:  # and the If on it
                continue
            o = theirs.get(n.output[0]) if n.output else None
            if o is None or _signature(o) != _signature(n):
                return False
        return True


def _signature(n: onnx.NodeProto) -> tuple[Any, ...]:
    """What a node computes, from which names into which (its name aside)."""
    return (n.op_type, n.domain, list(n.input), list(n.output), list(n.attribute))


class _SwitchEmitter:
    """``engine.Options.replacement`` building the switch of one site: nested If nodes on
    ``selector(site)`` whose branches hold a copy of the matched nodes (named
    ``pau/<site>/original/...``, so never matched again) and each alternative's nodes; only the
    picked branch runs (a Where over every alternative computed them all: on a detector's
    large feature maps, more than the emitting it saves)."""

    def __init__(self, alternatives: Mapping[str, Sequence[Candidate]], opset: int) -> None:
        self.alternatives = alternatives
        self._pick: Candidate | None = None
        self._inner = SiteEmitter(lambda _s: self._pick, opset=opset)

    def __call__(self, site: Site, rule: Rule, g: Graph) -> Emitted:
        alts: list[tuple[list[onnx.NodeProto], list[onnx.TensorProto]]] = []
        info: dict[str, Any] | None = None
        for c in self.alternatives[site.name]:
            self._pick = c
            alt, alt_inits, alt_info = self._inner(site, rule, g)
            info = info or dict(alt_info, switch=selector(site.name))
            alts.append((alt, alt_inits))
        nodes, inits = _switched(site, g, alts)
        return nodes, inits, info or {}

    def learned(
        self, site: Site, g: Graph, nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto]
    ) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
        """A ``pau_learned`` region's rational (``learned_rewrite(wrap=)``): switched between
        the region's own nodes, it (the first alternative) and each other alternative's fit,
        where the region is named; else as it is."""
        if site.name not in self.alternatives:
            return nodes, inits
        from rewriter.rational import emit_onnx

        alts = [(nodes, inits)]
        vi = g.info(site.input)
        elem = vi.elem_type if vi is not None and vi.elem_type else TensorProto.FLOAT
        for k, c in enumerate(self.alternatives[site.name][1:], 2):
            if c.rational is None:  # LEARNED: the pass's own fit, which it emitted first
                raise SwitchError(f"site {site.name}: alternative {k} has no fit to emit")
            prefix = f"pau/{site.name}/alt{k}/"
            alts.append(
                emit_onnx(c.rational, site.input, site.output, prefix=prefix,
                          const_prefix=prefix, dtype=elem)
            )  # fmt: skip
        return _switched(site, g, alts)


def _switched(
    site: Site,
    g: Graph,
    alts: Sequence[tuple[list[onnx.NodeProto], list[onnx.TensorProto]]],
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Nested If nodes on ``selector(site)``: 0 the site's own nodes, k the nodes of ``alts[k -
    1]`` (each writing the site's output; their values are renamed apart)."""
    out, sel = site.output, selector(site.name)
    vi = g.info(site.input)
    elem = vi.elem_type if vi is not None and vi.elem_type else TensorProto.FLOAT
    original = {out: f"{out}/original"}
    branches = [
        (
            _renamed(_original_nodes(site, g), f"pau/{site.name}/original/", original),
            original[out],
        )  # fmt: skip
    ]
    inits: list[onnx.TensorProto] = []
    for k, (alt, alt_inits) in enumerate(alts, 1):
        produced = {o for n in alt for o in n.output if o}
        renamed = _renamed(alt, "", {v: f"{v}/alt{k}" for v in produced}, suffix=f"/alt{k}")
        branches.append((renamed, f"{out}/alt{k}"))
        inits += alt_inits
    for k in range(len(branches)):
        inits.append(numpy_helper.from_array(np.array(k, dtype=np.int64), _index(site, k)))

    def body(nodes: list[onnx.NodeProto], value: str, name: str) -> onnx.GraphProto:
        return helper.make_graph(
            nodes, name, [], [helper.make_tensor_value_info(value, elem, None)]
        )

    # from the last alternative out: If(sel == k) then branch k else (the Ifs after it)
    nodes, value = branches[-1]
    for k in range(len(branches) - 2, -1, -1):
        rest = body(nodes, value, f"pau/{site.name}/after_{k}")
        eq = f"pau/{site.name}/is_{k}"
        to = out if k == 0 else f"{out}/from{k}"
        then = body(*branches[k], f"pau/{site.name}/branch_{k}")
        nodes = [
            helper.make_node("Equal", [sel, _index(site, k)], [eq], name=eq),
            helper.make_node("If", [eq], [to], name=f"{eq}/if", then_branch=then, else_branch=rest),
        ]
        value = to
    return nodes, inits


def _index(site: Site, k: int) -> str:
    return f"pau/{site.name}/int64_{k}"


def _original_nodes(site: Site, g: Graph) -> list[onnx.NodeProto]:
    """The nodes the site matched, in graph order: from its output back to its input, through
    the nodes ``site.nodes`` names (a name can repeat elsewhere in the graph: the walk finds the
    site's own)."""
    labels = set(site.nodes)
    found: set[int] = set()
    todo = [site.output]
    while todo:
        v = todo.pop()
        i = g.producer.get(v)
        if v == site.input or i is None or i in found or g.nodes[i] is None:
            continue
        if g.label(i) not in labels:
            continue
        found.add(i)
        todo.extend(x for x in g.node(i).input if x)
    if len(found) != len(site.nodes):
        raise SwitchError(f"site {site.name}: found {len(found)} of its {len(site.nodes)} nodes")
    out = []
    for i in sorted(found):
        n = onnx.NodeProto()
        n.CopyFrom(g.node(i))
        out.append(n)
    return out


def _renamed(
    nodes: list[onnx.NodeProto], prefix: str, values: Mapping[str, str], suffix: str = ""
) -> list[onnx.NodeProto]:
    """``nodes`` (in place) with node names prefixed / suffixed and ``values`` renamed where
    they are written and read. Each name also says the node's place (ONNX Runtime refuses two
    nodes of one name, and a site's nodes may have none or share one)."""
    for k, n in enumerate(nodes):
        n.name = f"{prefix}{k}_{n.name or n.op_type}{suffix}"
        for k, x in enumerate(n.input):
            n.input[k] = values.get(x, x)
        for k, x in enumerate(n.output):
            n.output[k] = values.get(x, x)
    return nodes


def switch_model(
    model: onnx.ModelProto,
    alternatives: Mapping[str, Sequence[Candidate]],
    pipeline: str = "pau_all",
    **options: Any,
) -> SwitchModel:
    """``model`` with each site of ``alternatives`` switchable between its original nodes and
    each of its candidates (options as ``emit_result``; sites not named are kept; a
    ``pau_learned`` region's candidates are fits with their ``rational``, the first may be
    ``LEARNED``: the learned pass fits it).

    Raises:
        SwitchError: a site's nodes are not found again, or the model draws random numbers
            (the callers emit each choice instead).
    """
    from rewriter.verify import pin_random_seeds

    from . import emit_result

    if pin_random_seeds(model)[1]:
        # each run would need its own session (a generator starts from its pinned seed once
        # per session), and the Ifs cost more to load than emitting a model saves (VITS x0.86)
        raise SwitchError("the model draws random numbers: emit each choice instead")
    live = {k: list(v) for k, v in alternatives.items() if v}
    first = {k: v[0] for k, v in live.items()}
    emitter = _SwitchEmitter(live, default_opset(model))
    res = emit_result(
        model, first, pipeline, replacement=emitter, wrap_learned=emitter.learned, **options
    )
    selectors = {s.name: selector(s.name) for s in res.sites if s.replaced and s.name in live}
    res.model.graph.input.extend(
        helper.make_tensor_value_info(v, TensorProto.INT64, []) for v in selectors.values()
    )
    return SwitchModel(res.model, selectors, res.sites)
