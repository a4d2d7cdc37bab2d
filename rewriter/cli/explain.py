"""``rewrite explain MODEL --rule NAME``: why a rule does or does not match, node by node."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rewriter.cli.common import Parser, console


def _explain_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="rewrite explain",
        description="Why a rule does or does not match: the best near-miss per candidate node.",
    )
    p.add_argument("model")
    p.add_argument(
        "--rule",
        required=True,
        help="rule name (see `rewrite --list`), or `identified`: the regions tried by their values",
    )
    p.add_argument("--patterns", action="append", default=[], help="extra rule file (.py or .toml)")
    return p


def main(argv: Sequence[str]) -> int:
    """`rewrite explain MODEL --rule NAME`."""
    return _explain(_explain_parser().parse_args(list(argv)))


def _explain(a: argparse.Namespace) -> int:
    from rewriter.ir import Graph, default_opset, infer_value_info, load_model, subgraph_attrs
    from rewriter.ir.graph import body_path
    from rewriter.match.pattern import Matcher
    from rewriter.match.rules import get_rule, load_rule_file

    for path in a.patterns:
        load_rule_file(path)
    if a.rule == "identified":
        return _explain_identified(a)
    r = get_rule(a.rule)
    m = load_model(a.model)
    vi = infer_value_info(m)
    con = console()
    con.print(f"rule {r.name}: {r.pattern!r}")
    count = 0

    def walk(g: Graph) -> None:
        nonlocal count
        matcher = Matcher(g, opset=default_opset(m), trace=True)
        for i, n in enumerate(g.nodes):
            assert n is not None
            for attr, body in subgraph_attrs(n):
                walk(
                    Graph(
                        body,
                        parent=g,
                        path=body_path(g.path, n, attr),
                        value_info=vi,
                    )
                )
            if n.op_type not in r.roots:
                continue
            count += 1
            where = f"{g.path}:" if g.path else ""
            found = matcher.match(r.pattern, i)
            x = found.bindings.get("x", "") if found is not None else ""
            if found is not None and g.weights_only(x):
                con.print(
                    f"  {where}{n.name or n.op_type + '#' + str(i)}: matches, but x = {x!r} is computed from the model's weights alone: folded when the model loads, so no site"
                )
            elif found is not None:
                con.print(
                    f"  {where}{n.name or n.op_type + '#' + str(i)}: matches (x = {x!r}, {len(found.nodes)} nodes)"
                )
            else:
                con.print(
                    f"  {where}{n.name or n.op_type + '#' + str(i)}: no match: {matcher.reason}"
                )

    walk(Graph(m.graph, value_info=vi))
    if count == 0:
        con.print(f"  no candidate root node (op types {sorted(r.roots)}) in the model")
    return 0


def _explain_identified(a: argparse.Namespace) -> int:
    """``--rule identified``: each region the search for sites by their values judged, and
    what it found (``rewriter.passes.identify.explain``)."""
    from rewriter.ir import default_opset, load_model
    from rewriter.match.rules import all_rules
    from rewriter.passes import identify

    m = load_model(a.model)
    con = console()
    print(
        "identified: one-input elementwise regions no rule spells, run alone on "
        f"{identify.GRID.size} points in [-12, 12] and at +-30, +-100"
    )
    lines = identify.explain(m, all_rules(), default_opset(m))
    for line in lines:
        con.print("  " + line, soft_wrap=True, markup=False)
    if not lines:
        print(f"  no one-input elementwise region of {identify.MIN_SPELLED} nodes or more")
    return 0
