"""Matching: the pattern language and matcher (``pattern``), rules and their registry (``rules``),
and the driver that scans a graph into ``Site``s and replaces them (``engine``)."""

from rewriter.match.engine import RESERVED_PREFIX, Options, Site, Stats, run
from rewriter.match.pattern import Alt, Const, Match, Matcher, Op, Param, Pattern, Var, op
from rewriter.match.rules import Rule, all_rules, load_rule_file, register_rule, rule

__all__ = [
    "RESERVED_PREFIX",
    "Options",
    "Site",
    "Stats",
    "run",
    "Alt",
    "Const",
    "Match",
    "Matcher",
    "Op",
    "Param",
    "Pattern",
    "Var",
    "op",
    "Rule",
    "all_rules",
    "load_rule_file",
    "register_rule",
    "rule",
]
