"""Rules: a pattern, the activation function it computes, and how to replace it.

The rule library lives in ``rewriter.patterns`` (one module per activation family). Users add rules
with ``register_rule`` or the ``@rule`` decorator, from a Python or TOML file (``--patterns``), or
from an installed plugin that declares an entry point in the group ``pau_rewriter.patterns``
(the entry point names a module, or a callable returning a list of rules).

Example:
    >>> from rewriter import rule, op, Param
    >>> @rule("acme_swish", function="swish")
    ... def acme_swish(x):
    ...     return x * op.Sigmoid(op.Mul(x, Param("beta")))
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rewriter.errors import UsageError
from rewriter.functions import FUNCTIONS
from rewriter.match.pattern import Alt, Const, Op, Param, Pattern, Var, op, root_ops

__all__ = ["Rule", "rule", "register_rule", "all_rules", "get_rule", "load_rule_file"]

ParamsFn = Callable[[dict[str, float]], tuple[str, dict[str, float]]]


@dataclass(frozen=True, eq=False)
class Rule:
    """A declarative rewrite rule.

    Attributes:
        name: unique name, e.g. ``gelu_erf``; replaced nodes are named after it.
        pattern: what to find; its variable ``x`` is the activation input.
        function: the canonical function computed (a name in ``rewriter.functions``), or a
            callable ``captured params -> (function, params)`` for rules whose function depends on
            captured constants (``swish`` with beta 1 is ``silu``).
        spelling: who emits this spelling (a comment for people and for reports).
    """

    name: str
    pattern: Pattern
    function: str | ParamsFn
    spelling: str = ""
    params: dict[str, float] = field(default_factory=dict)

    @property
    def roots(self) -> set[str]:
        return root_ops(self.pattern)

    def resolve(self, captured: dict[str, float]) -> tuple[str, dict[str, float]]:
        """The (function, params) a match with ``captured`` params computes."""
        if callable(self.function):
            return self.function(captured)
        return self.function, {**self.params, **captured}

    @property
    def function_name(self) -> str:
        if callable(self.function):
            return getattr(self.function, "function_name", self.name)
        return self.function


_USER_RULES: dict[str, Rule] = {}
_LIBRARY: dict[str, Rule] | None = None


def _library() -> dict[str, Rule]:
    global _LIBRARY
    if _LIBRARY is None:
        from rewriter.patterns import library_rules

        _LIBRARY = {}
        for r in library_rules():
            _LIBRARY[r.name] = r
        for r in _entry_point_rules():
            _USER_RULES.setdefault(r.name, r)
    return _LIBRARY


def _entry_point_rules() -> list[Rule]:
    from importlib.metadata import entry_points

    out: list[Rule] = []
    for ep in entry_points(group="pau_rewriter.patterns"):
        obj = ep.load()
        out.extend(_rules_from(obj, f"entry point {ep.name!r}"))
    return out


def _rules_from(obj: Any, where: str) -> list[Rule]:
    if callable(obj) and not isinstance(obj, Rule):
        obj = obj()
    if inspect.ismodule(obj):
        obj = getattr(obj, "RULES", [])
    if isinstance(obj, Rule):
        return [obj]
    rules = list(obj)
    for r in rules:
        if not isinstance(r, Rule):
            raise UsageError(f"{where}: {r!r} is not a rewriter Rule")
    return rules


def register_rule(
    rule_or_name: Rule | str,
    pattern: Pattern | None = None,
    function: str | ParamsFn | None = None,
    **kw: Any,
) -> Rule:
    """Add a rule to the registry (later registrations of the same name replace earlier ones).

    ``register_rule(Rule(...))`` or ``register_rule("name", pattern, "function")``. The rule is
    then part of the pipeline ``pau_<function>`` and of ``pau_all`` when the function is smooth.
    """
    if isinstance(rule_or_name, Rule):
        r = rule_or_name
    else:
        if pattern is None or function is None:
            raise UsageError(
                "register_rule(name, pattern, function): pattern and function are required"
            )
        r = Rule(rule_or_name, pattern, function, **kw)
    _check_rule(r)
    _USER_RULES[r.name] = r
    return r


def rule(
    name: str, *, function: str | ParamsFn, spelling: str = "", **kw: Any
) -> Callable[[Callable[..., Pattern]], Rule]:
    """Decorator: the function's parameters become pattern variables; it returns the pattern."""

    def wrap(fn: Callable[..., Pattern]) -> Rule:
        names = list(inspect.signature(fn).parameters)
        pattern = fn(*[Var(n) for n in names])
        return register_rule(
            Rule(name, pattern, function, spelling=spelling or (fn.__doc__ or ""), **kw)
        )

    return wrap


def _check_rule(r: Rule) -> None:
    if not r.roots:
        raise UsageError(f"rule {r.name!r}: the pattern's root must be an op, got {r.pattern!r}")
    if isinstance(r.function, str) and r.function not in FUNCTIONS:
        raise UsageError(
            f"rule {r.name!r}: unknown function {r.function!r}; known: {', '.join(FUNCTIONS)}"
        )
    if "x" not in _var_names(r.pattern):
        raise UsageError(
            f"rule {r.name!r}: the pattern must use the variable x (the activation input)"
        )


def _var_names(p: Pattern) -> set[str]:
    if isinstance(p, Var):
        return {p.name}
    if isinstance(p, Op):
        return set().union(set(), *(_var_names(i) for i in p.inputs))
    if isinstance(p, Alt):
        return set().union(set(), *(_var_names(o) for o in p.options))
    return set()


def all_rules() -> list[Rule]:
    """Library rules then user rules (user rules of the same name replace library ones)."""
    lib = dict(_library())
    lib.update(_USER_RULES)
    return list(lib.values())


def get_rule(name: str) -> Rule:
    for r in all_rules():
        if r.name == name:
            return r
    raise UsageError(f"unknown rule {name!r}; `rewrite --list` prints the rules")


# -- rule files -----------------------------------------------------------------------------
def load_rule_file(path: str) -> list[Rule]:
    """Load rules from a ``.py`` module (``register_rule``/``@rule``/``RULES``) or a ``.toml`` file.

    TOML form, for people who do not write Python::

        [[rule]]
        name = "acme_swish"
        function = "swish"
        pattern = "Mul(x, Sigmoid(Mul(x, $beta)))"
    """
    if not os.path.isfile(path):
        raise UsageError(f"{path}: rule file not found")
    if path.endswith(".toml"):
        return _load_toml(path)
    if path.endswith(".py"):
        before = set(_USER_RULES)
        spec = importlib.util.spec_from_file_location(f"pau_user_rules_{abs(hash(path))}", path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
        except UsageError:
            raise
        except Exception as e:
            raise UsageError(
                f"{path}: error while loading rules: {type(e).__name__}: {e}"
            ) from None
        for r in getattr(mod, "RULES", []):
            register_rule(r)
        return [
            r for n, r in _USER_RULES.items() if n not in before or r in getattr(mod, "RULES", [])
        ]
    raise UsageError(f"{path}: rule files are .py or .toml")


def _load_toml(path: str) -> list[Rule]:
    import tomllib

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: invalid TOML: {e}") from None
    out = []
    for k, entry in enumerate(data.get("rule", [])):
        where = f"{path}: rule #{k + 1}"
        try:
            name, function, text = entry["name"], entry["function"], entry["pattern"]
        except KeyError as e:
            raise UsageError(
                f"{where}: missing key {e.args[0]!r} (need name, function, pattern)"
            ) from None
        pattern = parse_pattern(text, where)
        params = {k: float(v) for k, v in entry.get("params", {}).items()}
        out.append(
            register_rule(
                Rule(name, pattern, function, spelling=entry.get("spelling", ""), params=params)
            )
        )
    if not out:
        raise UsageError(f"{path}: no [[rule]] tables found")
    return out


def parse_pattern(text: str, where: str = "pattern") -> Pattern:
    """Parse the text form: ``Op(args, attr=value)``, variables, numbers, ``$param``, + - * /."""
    import ast

    src = text.replace("$", "_param_")
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as e:
        raise UsageError(f"{where}: cannot parse pattern {text!r}: {e.msg}") from None

    def conv(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            if node.id.startswith("_param_"):
                return Param(node.id[len("_param_") :])
            return Var(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            v = conv(node.operand)
            return -v
        if isinstance(node, ast.BinOp):
            a, b = conv(node.left), conv(node.right)
            ops = {
                ast.Add: "__add__",
                ast.Sub: "__sub__",
                ast.Mult: "__mul__",
                ast.Div: "__truediv__",
                ast.Pow: "__pow__",
            }
            name = ops.get(type(node.op))
            if name is None:
                raise UsageError(f"{where}: operator {type(node.op).__name__} is not supported")
            return getattr(a if isinstance(a, Pattern) else Const(a), name)(b)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args = [conv(a) for a in node.args]
            kwargs = {k.arg: conv(k.value) for k in node.keywords if k.arg}
            return getattr(op, node.func.id)(*args, **kwargs)
        raise UsageError(f"{where}: cannot use {ast.dump(node)[:40]} in a pattern")

    result = conv(tree.body)
    if not isinstance(result, Pattern):
        raise UsageError(f"{where}: pattern {text!r} is not an expression over ops")
    return result
