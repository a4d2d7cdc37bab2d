"""The fx adapter: match a torch.fx graph with the ONNX path's rules and matcher.

Design. There is one rule library (``rewriter.patterns`` plus the rules users register) and one
matcher (``rewriter.match.pattern.Matcher`` driven by ``rewriter.match.engine``); both read ONNX. So the fx
front end does not match anything itself: it lowers the traced graph into an ONNX view and lets
the engine scan it.

1. Lower (:func:`lower_graph`): every fx node, in graph order, becomes the ONNX nodes an exporter
   would write for it (the table in :mod:`._lower`), the last one producing a value named after the
   fx node, the others ``<node>/<k>`` (a Split's outputs ``<node>/<k>:<i>``). Placeholders and
   parameters are graph inputs (no weights are copied), Python scalars and non-parameter scalar
   tensors are initializers, and a node outside the table is one opaque node (domain ``pau.fx``)
   that reads every fx node it reads, so the matcher's use counts are the fx graph's. Shapes from
   the example inputs go into ``value_info``, for rules whose variables have predicates.
2. Scan: ``engine.run(view, rules, Options(dry_run=True))`` with :data:`._lower.FX_RULES` then
   ``rules.all_rules()``; the engine claims non-overlapping matches, outermost first. Regions
   no rule spells that compute a catalogue function (``rewriter.passes.identify``) are sites
   too, found first and numbered after the rule sites, as in ``rewriter.emit``.
3. Map back (:func:`match_graph`): a site's ONNX nodes name their fx nodes, its input value is the
   fx node ``x`` and its output the fx node ``root``. A site is kept only if its root is an fx
   node's last ONNX node, ``x`` is an fx-level value, every fx node it touches is covered whole
   (so erasing them drops nothing still needed) and an in-place node is a site alone; or the site
   is a part of one node that :func:`._lower.decompose` can write as fx nodes (a GLU's sigmoid:
   ``FxMatch.part``), which the rewrite does only where it replaces the site. Kept sites
   are numbered ``<function>_<k>`` per function in graph order, as the engine numbers them (the
   same names as the ONNX path finds in the module's export).

Worst case: lowering and shape inference are linear in the nodes (at most three ONNX nodes per fx
node); matching is the engine's, the rules indexed by each node's op tried at every node, each
try bounded as ``rewriter.match.pattern`` states (exponential in pattern depth times k! for a chain of k
operands, a few hundred steps per root node for the library), so linear in the graph in practice.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
import torch
from onnx import helper
from torch import fx, nn

from rewriter.frontends.fx._lower import FX_RULES, NotLowered, lower_node
from rewriter.match.engine import Options, Site
from rewriter.match.rules import Rule, all_rules
from rewriter.passes import identify

__all__ = ["FxMatch", "FxView", "lower_graph", "match_graph", "OPSET", "OPAQUE_DOMAIN"]

OPSET = 20  # Gelu is an op from opset 20
OPAQUE_DOMAIN = "pau.fx"

_ELEM = {
    "float32": onnx.TensorProto.FLOAT,
    "float16": onnx.TensorProto.FLOAT16,
    "bfloat16": onnx.TensorProto.BFLOAT16,
    "float64": onnx.TensorProto.DOUBLE,
    "int64": onnx.TensorProto.INT64,
    "int32": onnx.TensorProto.INT32,
    "bool": onnx.TensorProto.BOOL,
}

# the engine's dtype names (ONNX's: ``float``) -> torch's (``float32``)
_DTYPE = {onnx.TensorProto.DataType.Name(v).lower(): k for k, v in _ELEM.items()}

Shapes = dict[fx.Node, tuple[tuple[int, ...], str]]


@dataclass
class FxView:
    """An fx graph lowered to ONNX, and the way back.

    Attributes:
        model: the ONNX view (no weights; not meant to run).
        owner: ONNX node name -> the fx node it was lowered from.
        size: fx node -> how many ONNX nodes it became.
        values: value name -> fx node, for fx-level values (each fx node's output).
        inplace: fx nodes that overwrite their input.
        within: value name -> the decomposable fx node whose lowering writes it (its output too).
    """

    model: onnx.ModelProto
    owner: dict[str, fx.Node]
    size: dict[fx.Node, int]
    values: dict[str, fx.Node]
    inplace: set[fx.Node]
    within: dict[str, fx.Node] = field(default_factory=dict)


@dataclass
class FxMatch:
    """One site found in an fx graph.

    Attributes:
        site: the engine's site (``site.nodes`` are ONNX node names of the view).
        rule: the rule that matched.
        x: the fx node whose output is the activation's input (``part`` for a part site).
        root: the fx node whose output the site computes (``part`` for a part site).
        nodes: every fx node the site covers (``root`` included; ``{part}`` for a part site).
        inplace: the site is one in-place node (``nn.ReLU(inplace=True)``).
        part: the one fx node the site is a part of (a GLU, whose sigmoid the site is), else
            None: ``site.input``, ``site.output`` and ``site.nodes`` name values and nodes of its
            lowering, which :func:`._lower.decompose` writes as fx nodes of those names.
        input_shape: for a part site, whose input is no fx node's output, the (shape, dtype)
            the view's shape inference gives it (-1 for a dim it does not know), when known.
    """

    site: Site
    rule: Rule
    x: fx.Node
    root: fx.Node
    nodes: set[fx.Node]
    inplace: bool = False
    part: fx.Node | None = None
    input_shape: tuple[tuple[int, ...], str] | None = None


def _value_info(name: str, shape: tuple[tuple[int, ...], str] | None) -> onnx.ValueInfoProto:
    if shape is None:
        return helper.make_empty_tensor_value_info(name)
    dims, dtype = shape
    return helper.make_tensor_value_info(
        name, _ELEM.get(dtype, onnx.TensorProto.UNDEFINED), [d if d >= 0 else None for d in dims]
    )


def _scalar_constant(gm: nn.Module, target: str) -> np.ndarray | None:
    """A non-parameter scalar tensor attribute (a folded constant), else None."""
    try:
        v = functools.reduce(getattr, target.split("."), gm)
    except AttributeError:
        return None
    if isinstance(v, nn.Parameter) or not isinstance(v, torch.Tensor) or v.numel() != 1:
        return None  # parameters are learnable: never folded into a rule's constants
    if not v.dtype.is_floating_point:
        return None
    return np.array(float(v.detach().cpu().reshape(())), dtype=np.float32)


def _fx_inputs(node: fx.Node) -> list[str]:
    """Names of the fx nodes ``node`` reads, in argument order (nested lists and dicts too)."""
    names: list[str] = []

    def note(n: fx.Node) -> fx.Node:
        names.append(n.name)
        return n

    fx.node.map_arg((node.args, node.kwargs), note)
    return names


def lower_graph(gm: fx.GraphModule, shapes: Shapes | None = None) -> FxView:
    """Lower ``gm.graph`` into an ONNX view the rule matcher reads (see the module docstring)."""
    shapes = shapes or {}
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    inputs: list[onnx.ValueInfoProto] = []
    outputs: list[onnx.ValueInfoProto] = []
    infos: list[onnx.ValueInfoProto] = []
    view = FxView(onnx.ModelProto(), {}, {}, {}, set())
    for node in gm.graph.nodes:
        if node.op == "output":
            seen: set[str] = set()
            for name in _fx_inputs(node):
                if name not in seen:
                    seen.add(name)
                    outputs.append(_value_info(name, shapes.get(view.values[name])))
            continue
        view.values[node.name] = node
        if node.op == "placeholder":
            inputs.append(_value_info(node.name, shapes.get(node)))
            continue
        if node.op == "get_attr":
            c = _scalar_constant(gm, str(node.target))
            if c is not None:
                inits.append(onnx.numpy_helper.from_array(c, node.name))
            else:
                inputs.append(_value_info(node.name, shapes.get(node)))
            continue
        try:
            low = lower_node(node, gm)
        except NotLowered:
            opaque = helper.make_node(
                node.op, _fx_inputs(node), [node.name], name=node.name, domain=OPAQUE_DOMAIN
            )
            nodes.append(opaque)
            view.owner[node.name], view.size[node] = node, 1
        else:
            nodes.extend(low.nodes)
            inits.extend(low.initializers)
            for n in low.nodes:
                view.owner[n.name] = node
            view.size[node] = len(low.nodes)
            if low.inplace:
                view.inplace.add(node)
            if low.decomposable:
                view.within |= {o: node for n in low.nodes for o in n.output}
        if node in shapes:
            infos.append(_value_info(node.name, shapes[node]))
    graph = helper.make_graph(nodes, "fx", inputs, outputs, inits, value_info=infos)
    view.model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(OPAQUE_DOMAIN, 1)],
    )
    return view


def _map_back(view: FxView, site: Site, rule: Rule) -> FxMatch | None:
    """The fx nodes of an engine site, or None when it does not cover whole fx nodes."""
    covered = Counter(view.owner[n] for n in site.nodes)
    part = _part(view, site, covered)
    if part is not None:
        shape = None
        if site.input_shape is not None and site.dtype in _DTYPE:
            dims = tuple(d if isinstance(d, int) else -1 for d in site.input_shape)
            shape = (dims, _DTYPE[site.dtype])
        return FxMatch(site, rule, part, part, {part}, part=part, input_shape=shape)
    root, x = view.values.get(site.output), view.values.get(site.input)
    if root is None or x is None or root not in covered:
        return None  # the site ends or starts inside an fx node's lowering
    if any(view.size[n] != k for n, k in covered.items()):
        return None  # a part of an fx node: erasing the site would drop the rest
    inplace = bool(view.inplace.intersection(covered))
    if inplace and len(covered) > 1:
        return None  # an in-place node inside a formula: later readers would see other values
    return FxMatch(site, rule, x, root, set(covered), inplace)


def _part(view: FxView, site: Site, covered: Counter[fx.Node]) -> fx.Node | None:
    """The decomposable fx node a site is a part of (not the whole), else None."""
    if len(covered) != 1:
        return None
    (node,) = covered
    if covered[node] == view.size[node] or view.within.get(site.output) is not node:
        return None
    if site.input not in view.values and view.within.get(site.input) is not node:
        return None  # it starts inside another node
    return node


def _on_inputs(gm: fx.GraphModule) -> set[fx.Node]:
    """The nodes whose values depend on the module's inputs. An activation of a parameter
    (RecurrentGemma's ``softplus(self.recurrent_param)``, a weight's reparametrization) is no
    site, as on the ONNX path (``Graph.weights_only``, where parameters are initializers; here
    they are the view's graph inputs): ONNX Runtime folds it when the model loads, and a
    rational would only add its error to a weight."""
    dynamic: set[fx.Node] = set()
    for node in gm.graph.nodes:
        if node.op == "placeholder" or any(a in dynamic for a in node.all_input_nodes):
            dynamic.add(node)
    return dynamic


def match_graph(
    gm: fx.GraphModule, shapes: Shapes | None = None, rules: Sequence[Rule] | None = None
) -> list[FxMatch]:
    """The sites of ``gm`` in graph order, found by the shared rule library and matcher.

    Args:
        gm: a traced module.
        shapes: fx node -> (shape, dtype) from the example inputs, when known.
        rules: the rules to match; default :data:`FX_RULES` then ``rules.all_rules()``.
    """
    rules = list(rules) if rules is not None else [*FX_RULES, *all_rules()]
    view = lower_graph(gm, shapes)
    by_name = {r.name: r for r in reversed(rules)}  # the first rule of a name is the one used
    by_name[identify.IDENTIFIED.name] = identify.IDENTIFIED
    # the sites the ONNX path finds in the module's export: rule sites, then regions that
    # compute a catalogue function (numbered after them; the rules leave their nodes alone)
    sites = identify.rule_and_identified_sites(
        view.model, rules, Options(dry_run=True), OPSET, scaled=False
    )
    dynamic = _on_inputs(gm)
    found = []
    for site in sites:
        m = _map_back(view, site, by_name[site.rule])
        if m is not None and m.x in dynamic:  # else it computes on weights alone (below)
            found.append(m)
    counts: Counter[str] = Counter()
    for m in found:  # renumber: dropped sites leave no gaps
        m.site.name = f"{m.site.function}_{counts[m.site.function]}"
        counts[m.site.function] += 1
    return found
