"""XLA's lowerings of smooth functions, identified by their values, written in ONNX spelling.

jax2tf hands TensorFlow what XLA made of a function: ``jax.nn.gelu(approximate=False)`` arrives
as erfc expanded into guarded polynomials (about 70 elementwise nodes: a polynomial in z^2 for
|z| < 1, exp(-z^2)/|z| times two rational pieces beyond, selects between them), a spelling no
rule can write down and a reader cannot recognise. After a TensorFlow-family conversion, a
one-input elementwise region that holds a select or a comparison, and that no rule matches, is
run alone in ONNX Runtime on a grid; when it equals a catalogue function there to float32
rounding (``rewriter.passes.identify``: the regions, the grid, the tolerance), it is replaced by
that function's ONNX spelling (GELU: ``0.5 x (1 + erf(x / sqrt 2))``), which the rules match
and which computes the same values. The conversion is the tool's own, so the region is written
in the faster spelling whether or not its site is then replaced; in a user's ONNX file the same
regions are sites found by the identify pass and are left as they are when kept.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from rewriter.ir import Graph, infer_value_info
from rewriter.passes.identify import ELEMENTWISE, SELECTS, SPELLINGS, regions, which

__all__ = ["ELEMENTWISE", "identify"]


def identify(model: onnx.ModelProto) -> dict[str, int]:
    """Replace, in place, each region of ``model``'s main graph that no rule matches and that
    computes a ``SPELLINGS`` function by that function's spelling; returns the count per
    function."""
    from rewriter.match.engine import Options, run
    from rewriter.match.rules import all_rules

    if not any(n.op_type in SELECTS for n in model.graph.node):
        return {}
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    sites = run(probe, all_rules(), Options(dry_run=True))
    claimed = {n for s in sites if not s.graph for n in s.nodes}
    g = Graph(model.graph, value_info=infer_value_info(model))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    found: dict[str, int] = {}
    xs: dict[int, str] = {}
    stale: set[str] = set()

    def judge(nodes: set[int], root: int, x: str) -> str | None:
        xs[root] = x
        named = which(g, nodes, x, root, opset)
        return None if named is None else named[0]

    for nodes, root, name in list(regions(g, claimed, judge=judge)):
        stale.update(_replace(g, nodes, root, xs[root], name, found.get(name, 0)))
        found[name] = found.get(name, 0) + 1
    if found:
        g.commit(stale=stale)
    return found


def _replace(g: Graph, nodes: set[int], root: int, x: str, name: str, k: int) -> list[str]:
    """Region ``nodes`` written as ``name``'s spelling; returns the values no longer written."""
    out = g.node(root).output[0]
    base = f"xla_{name}_{k}"
    made: list[onnx.NodeProto] = []

    def c(v: float) -> str:
        cname = f"{base}/c{len(made)}_{v:.9g}"
        g.add_initializer(numpy_helper.from_array(np.array(v, np.float32), cname))
        return cname

    def mk(op: str, *ins: str, out: str | None = None) -> str:
        o = out or f"{base}/{op.lower()}{len(made)}"
        made.append(helper.make_node(op, list(ins), [o], name=f"{base}/{op}{len(made)}"))
        return o

    SPELLINGS[name](x, out, c, mk)
    return [v for v in g.replace(sorted(nodes), root, made) if v != out]
