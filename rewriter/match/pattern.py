"""The pattern language and the matcher.

A pattern is written as the formula it matches, over an ``op`` builder::

    x = Var("x")
    gelu = x * 0.5 * (1 + op.Erf(x / SQRT2))        # every erf-GELU spelling at once
    swish = x * op.Sigmoid(x * Param("beta"))       # captures beta
    elu = op.Elu(x, alpha=Param("alpha"))           # attributes are matched too

Canonical forms are taken when the pattern is built and when the graph is read, so one pattern
covers the spellings exporters emit:

* ``Mul`` and ``Add`` are associative-commutative: a chain of them is flattened into one n-ary
  node whose operands match in any order (the matcher permutes; rules are never cloned).
* ``Div(a, c)`` with a constant ``c`` is ``Mul(a, 1/c)``; ``Sub(a, c)`` is ``Add(a, -c)``;
  ``Pow(a, 2|3)`` inside a product is ``a*a(*a)``; scalar constants of a chain are folded into one
  (so ``Mul(x, 1.0)`` disappears) and compared with a relative tolerance (1e-4 by default).
* Constants are seen through ``Constant`` nodes, initializers, ``Identity``/``Cast``/``CastLike`` and
  ``Sqrt`` of constants (``rewriter.ir.Graph.const``); shapes ``[]`` and ``[1]`` are alike.

Algorithm: backtracking over generators. Matching an n-ary node of k non-constant operands against
a flattened chain of k leaves tries at most k! assignments (k <= 4 in the library), pruned by op
type. A chain is flattened only through nodes whose output has exactly one consumer; when the full
flattening has the wrong arity, the unflattened binary node is tried too. Worst case is
exponential in pattern depth times k!, which for activation patterns (depth <= 6) is a few
hundred steps per root node.

A candidate is accepted only if no intermediate value of the match is read outside it or is a
graph output. A failed match leaves a ``reason`` (the furthest the matcher got, and what broke
it), which ``rewrite explain`` prints.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import onnx

from rewriter.ir import Graph

__all__ = ["Pattern", "Var", "Const", "Param", "Op", "Alt", "op", "Match", "Matcher", "SQRT2"]

SQRT2 = math.sqrt(2.0)
_AC = {"Mul": "Div", "Add": "Sub"}  # n-ary op -> its inverse that folds into it with a constant


class Pattern:
    """Base of pattern nodes; arithmetic operators build ``Op`` nodes."""

    def __add__(self, o: Any) -> Pattern:
        return _op("Add", self, o)

    def __radd__(self, o: Any) -> Pattern:
        return _op("Add", o, self)

    def __sub__(self, o: Any) -> Pattern:
        return _op("Sub", self, o)

    def __rsub__(self, o: Any) -> Pattern:
        return _op("Sub", o, self)

    def __mul__(self, o: Any) -> Pattern:
        return _op("Mul", self, o)

    def __rmul__(self, o: Any) -> Pattern:
        return _op("Mul", o, self)

    def __truediv__(self, o: Any) -> Pattern:
        return _op("Div", self, o)

    def __rtruediv__(self, o: Any) -> Pattern:
        return _op("Div", o, self)

    def __pow__(self, o: Any) -> Pattern:
        return _op("Pow", self, o)

    def __neg__(self) -> Pattern:
        return _op("Neg", self)

    # rules and dict keys use identity
    __hash__ = object.__hash__


@dataclass(eq=False)
class Var(Pattern):
    """A variable: binds a run-time value (never a constant); the same name binds the same value.

    ``where`` is an optional predicate on the value's ``ValueInfo`` (element type and shape from
    shape inference, or None when unknown), e.g. ``Var("x", where=lambda vi: vi.elem_type == 1)``.
    """

    name: str
    where: Callable[[Any], bool] | None = None

    def __repr__(self) -> str:
        return self.name


@dataclass(eq=False)
class Const(Pattern):
    """A scalar constant matched with tolerance (``rtol`` None means the matcher's default)."""

    value: float
    rtol: float | None = None

    def __repr__(self) -> str:
        return f"{self.value:g}"


@dataclass(eq=False)
class Param(Pattern):
    """Any scalar constant (or attribute value), captured under ``name`` into the match's params."""

    name: str

    def __repr__(self) -> str:
        return f"${self.name}"


@dataclass(eq=False)
class Op(Pattern):
    """An op node. ``attrs`` values are literals, ``Param``s or predicates ``value -> bool``."""

    op_type: str
    inputs: tuple[Pattern, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    domain: str = ""

    @property
    def commutative(self) -> bool:
        return self.op_type in _AC

    @property
    def split(self) -> tuple[Const | None, Param | None, tuple[Pattern, ...]]:
        """(constant operand, captured operand, the rest with ops first): computed once."""
        cached = self.__dict__.get("_split")
        if cached is None:
            const = next((q for q in self.inputs if isinstance(q, Const)), None)
            param = next((q for q in self.inputs if isinstance(q, Param)), None)
            rest = tuple(
                sorted(
                    (q for q in self.inputs if not isinstance(q, (Const, Param))),
                    key=lambda q: 0 if isinstance(q, Op) else 1,
                )
            )
            cached = self.__dict__["_split"] = (const, param, rest)
        return cached

    @property
    def heads(self) -> tuple[str, ...]:
        """Graph op types this node can match (Mul also matches Div by a constant)."""
        return (self.op_type, _AC[self.op_type]) if self.op_type in _AC else (self.op_type,)

    def __repr__(self) -> str:
        if self.op_type == "Mul":
            return "(" + " * ".join(map(repr, self.inputs)) + ")"
        if self.op_type == "Add":
            return "(" + " + ".join(map(repr, self.inputs)) + ")"
        args = [repr(i) for i in self.inputs] + [f"{k}={v!r}" for k, v in self.attrs.items()]
        return f"{self.op_type}({', '.join(args)})"


@dataclass(eq=False)
class Alt(Pattern):
    """Alternatives: the first that matches wins."""

    options: tuple[Pattern, ...]

    def __repr__(self) -> str:
        return " | ".join(map(repr, self.options))


def _lift(v: Any) -> Pattern:
    if isinstance(v, Pattern):
        return v
    if isinstance(v, (int, float, np.floating, np.integer)):
        return Const(float(v))
    raise TypeError(f"cannot use {v!r} in a pattern")


def _op(op_type: str, *args: Any) -> Pattern:
    ins = [_lift(a) for a in args]
    if op_type == "Div" and isinstance(ins[1], Const):
        return _op("Mul", ins[0], Const(1.0 / ins[1].value, ins[1].rtol))
    if op_type == "Sub" and isinstance(ins[1], Const):
        return _op("Add", ins[0], Const(-ins[1].value, ins[1].rtol))
    if op_type == "Pow" and isinstance(ins[1], Const) and ins[1].value in (2.0, 3.0):
        return _op("Mul", *([ins[0]] * int(ins[1].value)))
    if op_type in _AC:
        return _nary(op_type, ins)
    return Op(op_type, tuple(ins))


def _nary(op_type: str, ins: list[Pattern]) -> Pattern:
    flat: list[Pattern] = []
    for p in ins:
        if isinstance(p, Op) and p.op_type == op_type:
            flat.extend(p.inputs)
        else:
            flat.append(p)
    consts = [p for p in flat if isinstance(p, Const)]
    rest = [p for p in flat if not isinstance(p, Const)]
    if consts:
        value = (
            math.prod(c.value for c in consts) if op_type == "Mul" else sum(c.value for c in consts)
        )
        rtol = min((c.rtol for c in consts if c.rtol is not None), default=None)
        if value != (1.0 if op_type == "Mul" else 0.0):
            rest.append(Const(value, rtol))
    if len(rest) == 1:
        return rest[0]
    return Op(op_type, tuple(rest))


class _OpBuilder:
    """``op.Erf(x)``, ``op.Gelu(x, approximate="tanh")``, ``op.Custom(x, _domain="com.acme")``."""

    def __getattr__(self, op_type: str) -> Callable[..., Pattern]:
        if op_type.startswith("_"):
            raise AttributeError(op_type)

        def build(*inputs: Any, _domain: str = "", **attrs: Any) -> Pattern:
            if (
                op_type in ("Mul", "Add", "Div", "Sub", "Pow")
                and len(inputs) == 2
                and not attrs
                and not _domain
            ):
                return _op(op_type, *inputs)  # canonicalize like the operators do
            return Op(op_type, tuple(_lift(i) for i in inputs), dict(attrs), _domain)

        return build


op = _OpBuilder()


def root_ops(p: Pattern) -> set[str]:
    """Graph op types a match of ``p`` can be rooted at (for indexing rules)."""
    if isinstance(p, Alt):
        return set().union(*(root_ops(o) for o in p.options))
    if isinstance(p, Op):
        return {p.op_type, _AC[p.op_type]} if p.commutative else {p.op_type}
    return set()


# -- matching -------------------------------------------------------------------------------
class _State:
    """Immutable matcher state (a plain slotted class: frozen dataclasses are slow to build)."""

    __slots__ = ("bind", "params", "nodes")

    def __init__(
        self, bind: dict[str, str], params: dict[str, float], nodes: frozenset[int]
    ) -> None:
        self.bind = bind
        self.params = params
        self.nodes = nodes

    def with_bind(self, k: str, v: str) -> _State:
        return _State({**self.bind, k: v}, self.params, self.nodes)

    def with_param(self, k: str, v: float) -> _State:
        return _State(self.bind, {**self.params, k: v}, self.nodes)

    def with_nodes(self, ns: Any) -> _State:
        return _State(self.bind, self.params, self.nodes.union(ns)) if ns else self


@dataclass(frozen=True)
class Match:
    """One occurrence of a pattern: the matched node indices, variable bindings and params."""

    root: int
    nodes: tuple[int, ...]
    bindings: dict[str, str]
    params: dict[str, float]


@dataclass
class _Flat:
    leaves: list[str]
    const: float
    nodes: list[int]
    eps: float = 0.0


class Matcher:
    """Matches patterns against one ``Graph``.

    Args:
        graph: the graph view.
        rtol: default relative tolerance for constants.
        opset: the default-domain opset, for attribute defaults.
        trace: keep the reason of the furthest failed attempt in ``reason`` (``rewrite explain``).
    """

    def __init__(
        self, graph: Graph, rtol: float = 1e-4, opset: int = 17, trace: bool = False
    ) -> None:
        self.g = graph
        self.trace = trace
        self.rtol = rtol
        self.opset = opset
        self.reason = ""
        self._progress = -1
        self._flat_cache: dict[tuple[int, str, bool], _Flat | None] = {}
        self._scalars: dict[str, float | None] = {}
        self._eps: dict[str, float] = {}
        self._through: dict[tuple[str, bool], tuple[str, tuple[int, ...]]] = {}

    # public
    def match(self, pattern: Pattern, root: int) -> Match | None:
        """The first acceptable match of ``pattern`` rooted at node ``root``, or None.

        On failure ``self.reason`` says what broke the furthest attempt.
        """
        self.reason = "no node matched the pattern's root"
        self._progress = -1
        node = self.g.nodes[root]
        if node is None or not node.output:
            return None
        for st in self._match(pattern, node.output[0], _State({}, {}, frozenset()), root=True):
            why = self._accept(st, root)
            if why is None:
                return Match(root, tuple(sorted(st.nodes)), st.bind, st.params)
            self._fail(len(st.nodes) + 100, lambda: why)
        return None

    def _fail(self, progress: int, why: Callable[[], str]) -> None:
        # reasons are formatted only when asked for (``trace``): formatting is the hot path's cost
        if self.trace and progress >= self._progress:
            self._progress = progress
            self.reason = why()

    def _accept(self, st: _State, root: int) -> str | None:
        g = self.g
        for i in st.nodes:
            if i == root:
                continue
            n = g.node(i)
            for o in n.output:
                if g.is_output(o):
                    return f"intermediate {o!r} of node {n.name or n.op_type!r} is a graph output"
                for c in g.consumers.get(o, ()):
                    if c not in st.nodes and g.nodes[c] is not None:
                        user = g.node(c)
                        return (
                            f"intermediate {o!r} of node {n.name or n.op_type!r} is also used by "
                            f"{user.name or user.op_type!r} outside the match"
                        )
        for var, v in st.bind.items():
            if g.producer.get(v) in st.nodes:
                return f"variable {var} bound to {v!r}, which the match itself computes"
        return None

    # dispatch: plain functions returning iterables (a generator per level costs a frame per
    # resume on the hot path); only the backtracking points are generators.
    def _match(self, p: Pattern, v: str, st: _State, root: bool = False) -> Iterable[_State]:
        t = type(p)
        if t is Op:
            assert isinstance(p, Op)
            return self._nary(p, v, st, root) if p.op_type in _AC else self._node(p, v, st, root)
        if t is Var:
            assert isinstance(p, Var)
            return self._var(p, v, st)
        if t is Const:
            assert isinstance(p, Const)
            c = self._scalar(v)
            if c is None:
                self._fail(
                    len(st.nodes), lambda: f"{v!r} is not a scalar constant (pattern wants {p!r})"
                )
                return ()
            if self._close(c, p.value, p.rtol, self._eps.get(v, 0.0)):
                return (st,)
            self._fail(len(st.nodes), lambda: f"constant {v!r} = {c:g}, pattern wants {p.value:g}")
            return ()
        if t is Param:
            assert isinstance(p, Param)
            c = self._scalar(v)
            if c is None:
                self._fail(
                    len(st.nodes), lambda: f"{v!r} is not a scalar constant (pattern wants {p!r})"
                )
                return ()
            return self._param(p.name, c, st)
        if t is Alt:
            assert isinstance(p, Alt)
            return (s for o in p.options for s in self._match(o, v, st, root))
        raise TypeError(p)  # pragma: no cover - closed set

    def _param(self, name: str, c: float, st: _State) -> tuple[_State, ...]:
        if name in st.params:
            if self._close(c, st.params[name], None):
                return (st,)
            self._fail(
                len(st.nodes), lambda: f"${name} = {c:g} here but {st.params[name]:g} elsewhere"
            )
            return ()
        return (st.with_param(name, c),)

    def _var(self, p: Var, v: str, st: _State) -> list[_State]:
        if self.g.const(v) is not None:
            self._fail(len(st.nodes), lambda: f"{p.name} would bind the constant {v!r}")
            return []
        out: list[_State] = []
        through = self._look_through(v, qdq=False)
        for value, extra in (through, (v, ())) if through[0] != v else ((v, ()),):
            bound = st.bind.get(p.name)
            if bound is None:
                if p.where is not None and not p.where(self.g.info(value)):
                    self._fail(len(st.nodes), lambda: f"{p.name} = {value!r} fails its predicate")
                    continue
                out.append(st.with_bind(p.name, value).with_nodes(extra))
            elif bound == value:
                out.append(st.with_nodes(extra) if extra else st)
            else:
                self._fail(
                    len(st.nodes),
                    lambda: f"{p.name} is {bound!r} in one place and {value!r} in another",
                )
        return out

    def _look_through(self, v: str, qdq: bool = True) -> tuple[str, tuple[int, ...]]:
        """Follow Identity, Mul by 1, Add of 0 and (with ``qdq``) a QuantizeLinear ->
        DequantizeLinear pair down to the real value (cached). A Var binds without QDQ: the
        dequantized value entering an activation is its input, and the pair before it stays."""
        hit = self._through.get((v, qdq))
        if hit is None:
            hit = self._through[(v, qdq)] = self._look_through_uncached(v, qdq)
        return hit

    def _qdq(self, v: str) -> tuple[str, tuple[int, int]] | None:
        """``v = DequantizeLinear(QuantizeLinear(y, s, z), s, z)`` with the Q read by this DQ
        alone: ``(y, (q, dq))``. Quantized models wrap every value between two ops this way,
        inside activations too (QDQ format, DESIGN.md section 5)."""
        g = self.g
        i = g.producer.get(v)
        d = g.nodes[i] if i is not None else None
        if d is None or d.op_type != "DequantizeLinear" or d.domain not in ("", "ai.onnx"):
            return None
        j = g.producer.get(d.input[0])
        q = g.nodes[j] if j is not None else None
        if q is None or q.op_type != "QuantizeLinear" or q.domain not in ("", "ai.onnx"):
            return None
        if len(g.consumers.get(d.input[0], [])) != 1 or d.input[0] in g.graph_outputs:
            return None
        for a, b in zip(q.input[1:], d.input[1:], strict=False):
            ca, cb = g.const(a), g.const(b)
            if a != b and (ca is None or cb is None or not np.array_equal(ca, cb)):
                return None  # a requantization to other parameters is not the same value
        assert i is not None and j is not None
        return q.input[0], (j, i)

    def _look_through_uncached(self, v: str, qdq: bool) -> tuple[str, tuple[int, ...]]:
        g = self.g
        nodes: list[int] = []
        while True:
            i = g.producer.get(v)
            n = g.nodes[i] if i is not None else None
            if n is None or n.domain not in ("", "ai.onnx"):
                break
            pair = self._qdq(v) if qdq and n.op_type == "DequantizeLinear" else None
            if pair is not None:
                v = pair[0]
                nodes.extend(pair[1])
                continue
            if n.op_type == "Identity":
                v = n.input[0]
            elif n.op_type in ("Mul", "Add", "Div", "Sub") and len(n.input) == 2:
                unit = 1.0 if n.op_type in ("Mul", "Div") else 0.0
                a, b = n.input
                cb = self._scalar(b)
                ca = self._scalar(a) if n.op_type in ("Mul", "Add") else None
                if cb is not None and cb == unit and self.g.const(a) is None:
                    v = a
                elif ca is not None and ca == unit and self.g.const(b) is None:
                    v = b
                else:
                    break
            else:
                break
            assert i is not None
            nodes.append(i)
        return v, tuple(nodes)

    def _attrs_ok(self, p: Op, n: onnx.NodeProto, st: _State) -> Iterator[_State]:
        states = [st]
        for k, want in p.attrs.items():
            have = _attr_value(n, k, self.opset)
            nxt: list[_State] = []
            for s in states:
                if isinstance(want, Param):
                    if isinstance(have, (int, float)):
                        nxt.extend(self._param(want.name, float(have), s))
                    else:
                        self._fail(
                            len(s.nodes), lambda: f"{n.op_type} has no numeric attribute {k}"
                        )
                elif callable(want):
                    if want(have):
                        nxt.append(s)
                    else:
                        self._fail(
                            len(s.nodes), lambda: f"{n.op_type}.{k} = {have!r} fails its predicate"
                        )
                elif isinstance(want, float) and isinstance(have, (int, float)):
                    if self._close(float(have), want, None):
                        nxt.append(s)
                    else:
                        self._fail(
                            len(s.nodes),
                            lambda: f"{n.op_type}.{k} = {have!r}, pattern wants {want!r}",
                        )
                elif have == want:
                    nxt.append(s)
                else:
                    self._fail(
                        len(s.nodes), lambda: f"{n.op_type}.{k} = {have!r}, pattern wants {want!r}"
                    )
            states = nxt
        yield from states

    def _node(self, p: Op, v: str, st: _State, root: bool) -> Iterable[_State]:
        g = self.g
        through: tuple[int, ...] = ()
        if not root:
            v, through = self._look_through(v)
        i = g.producer.get(v)
        n = g.nodes[i] if i is not None else None
        if n is None:
            self._fail(
                len(st.nodes),
                lambda: f"{v!r} is not computed by a node (pattern wants {p.op_type})",
            )
            return ()
        if n.op_type != p.op_type or n.domain not in (
            p.domain,
            "ai.onnx" if p.domain == "" else p.domain,
        ):
            self._fail(
                len(st.nodes),
                lambda: f"node {n.name or i!r} is {n.op_type}, pattern wants {p.op_type}",
            )
            return ()
        real = list(n.input)
        while real and not real[-1]:
            real.pop()
        if len(real) != len(p.inputs):
            self._fail(
                len(st.nodes),
                lambda: f"node {n.name!r} has {len(real)} inputs, pattern wants {len(p.inputs)}",
            )
            return ()
        assert i is not None
        st = st.with_nodes(through + (i,))
        if not p.attrs and len(real) == 1:  # the common case: no generator frame at all
            return self._match(p.inputs[0], real[0], st)
        return (r for s in self._attrs_ok(p, n, st) for r in self._seq(p.inputs, real, 0, s))

    def _seq(self, ps: tuple[Pattern, ...], vs: list[str], k: int, st: _State) -> Iterator[_State]:
        if k == len(ps):
            yield st
            return
        for s in self._match(ps[k], vs[k], st):
            yield from self._seq(ps, vs, k + 1, s)

    # n-ary Mul / Add
    def _nary(self, p: Op, v: str, st: _State, root: bool) -> Iterator[_State]:
        g = self.g
        through: tuple[int, ...] = ()
        if not root:
            v, through = self._look_through(v)
            st = st.with_nodes(through)
        i = g.producer.get(v)
        n = g.nodes[i] if i is not None else None
        if n is None or n.op_type not in (p.op_type, _AC[p.op_type]):
            self._fail(
                len(st.nodes), lambda: f"{v!r} is not computed by {p.op_type} (pattern {p!r})"
            )
            return
        assert i is not None
        for deep in (True, False):
            flat = self._flatten(i, p.op_type, deep, root)
            if flat is None:
                continue
            yield from self._assign(p, flat, st)
            if flat.nodes == [i]:
                break  # the shallow flattening is the same

    def _assign(self, p: Op, flat: _Flat, st: _State) -> Iterator[_State]:
        unit = 1.0 if p.op_type == "Mul" else 0.0
        const, param, others = p.split
        want = const.value if const is not None else unit
        st = st.with_nodes(flat.nodes)
        if len(flat.leaves) != len(others):
            self._fail(
                len(st.nodes),
                lambda: (
                    f"{p.op_type} chain has {len(flat.leaves)} non-constant operands, pattern {p!r} "
                    f"wants {len(others)}"
                ),
            )
            return
        if param is not None:
            if p.op_type == "Mul":
                value = flat.const / want if want else math.nan
            else:
                value = flat.const - want
            states: list[_State] = list(self._param(param.name, value, st))
        elif self._close(flat.const, want, const.rtol if const is not None else None, flat.eps):
            states = [st]
        else:
            self._fail(
                len(st.nodes),
                lambda: f"{p.op_type} chain constant is {flat.const:g}, pattern wants {want:g}",
            )
            return
        for s in states:  # ops first (they constrain); variables bind whatever is left
            yield from self._perm(others, flat.leaves, s)

    def _perm(self, ps: tuple[Pattern, ...], leaves: list[str], st: _State) -> Iterator[_State]:
        if not ps:
            yield st
            return
        head, rest = ps[0], ps[1:]
        want = head.heads if isinstance(head, Op) else None
        tried: set[str] = set()
        g = self.g
        for k, leaf in enumerate(leaves):
            if leaf in tried:
                continue
            tried.add(leaf)
            if want is not None:  # cheap rejection before building generators
                j = g.producer.get(self._look_through(leaf)[0])
                n = g.nodes[j] if j is not None else None
                if n is None or n.op_type not in want:
                    self._fail(len(st.nodes), lambda: f"{leaf!r} is not computed by {want[0]}")
                    continue
            for s in self._match(head, leaf, st):
                yield from self._perm(rest, leaves[:k] + leaves[k + 1 :], s)

    def _flatten(self, i: int, op_type: str, deep: bool, root: bool) -> _Flat | None:
        key = (i, op_type, deep)
        if key in self._flat_cache:
            return self._flat_cache[key]
        g = self.g
        inv = _AC[op_type]
        leaves: list[str] = []
        nodes: list[int] = []
        acc = [1.0 if op_type == "Mul" else 0.0]
        eps = [0.0]

        def fold(c: float, inverse: bool, v: str) -> None:
            eps[0] += self._eps.get(v, 0.0)
            if op_type == "Mul":
                acc[0] = acc[0] / c if inverse else acc[0] * c
            else:
                acc[0] = acc[0] - c if inverse else acc[0] + c

        def walk(j: int) -> bool:
            n = g.node(j)
            if len(n.input) != 2:
                return False
            nodes.append(j)
            a, b = n.input
            if n.op_type == inv:
                cb = self._scalar(b)
                if cb is None or (op_type == "Mul" and cb == 0):
                    return False
                fold(cb, True, b)
                operands = [a]
            else:
                operands = [a, b]
            for x in operands:
                c = self._scalar(x)
                if c is not None:
                    fold(c, False, x)
                    continue
                pair = self._qdq(x) if deep else None
                if pair is not None:  # Mul(DQ(Q(Mul(..))), ..) is one chain in a QDQ model
                    y, qd = pair
                    k = g.producer.get(y)
                    m = g.nodes[k] if k is not None else None
                    if (
                        m is not None
                        and m.op_type in (op_type, inv)
                        and m.domain in ("", "ai.onnx")
                        and len(g.consumers.get(x, [])) == 1
                        and len(g.consumers.get(y, [])) == 1
                        and y not in g.graph_outputs
                    ):
                        assert k is not None
                        nodes.extend(qd)
                        if not walk(k):
                            return False
                        continue
                if deep:  # x = y * 1 (or Identity(y), y + 0) with y the chain's op: walk y
                    y, through = self._look_through(x, qdq=False)
                    k = g.producer.get(y)
                    m = g.nodes[k] if k is not None else None
                    if (
                        through
                        and m is not None
                        and m.op_type in (op_type, inv)
                        and all(self._single(g.node(t).output[0]) for t in through)
                    ):
                        nodes.extend(through)
                        x = y
                k = g.producer.get(x)
                m = g.nodes[k] if k is not None else None
                cs = g.consumers.get(x)
                single = (
                    m is not None and cs is not None and len(cs) == 1 and x not in g.graph_outputs
                )
                if (
                    deep
                    and single
                    and m is not None
                    and m.op_type in (op_type, inv)
                    and m.domain in ("", "ai.onnx")
                ):
                    assert k is not None
                    if not walk(k):
                        return False
                elif deep and single and op_type == "Mul" and m is not None and m.op_type == "Pow":
                    e = self._scalar(m.input[1]) if len(m.input) == 2 else None
                    if e in (2.0, 3.0):
                        assert k is not None
                        nodes.append(k)
                        leaves.extend([m.input[0]] * int(e))  # type: ignore[arg-type]
                    else:
                        leaves.append(x)
                else:
                    leaves.append(x)
            return True

        result = _Flat(leaves, acc[0], nodes, eps[0]) if walk(i) else None
        self._flat_cache[key] = result
        return result

    def _single(self, v: str) -> bool:
        """``v`` is read by one node and is no graph output."""
        return len(self.g.consumers.get(v, ())) == 1 and v not in self.g.graph_outputs

    # constants
    def _scalar(self, v: str) -> float | None:
        try:
            return self._scalars[v]
        except KeyError:
            pass
        c = self.g.const(v)
        out = (
            None if c is None or c.size != 1 or c.dtype.kind not in "fiu" else float(c.reshape(()))
        )
        self._scalars[v] = out
        if out is not None:
            self._eps[v] = self.g.const_eps(v)  # fp16 constants are only ~1e-3 exact
        return out

    def _close(self, a: float, b: float, rtol: float | None, eps: float = 0.0) -> bool:
        r = max(self.rtol if rtol is None else rtol, 2 * eps)
        return abs(a - b) <= r * max(abs(a), abs(b)) + 1e-12


def _attr_value(n: onnx.NodeProto, name: str, opset: int) -> Any:
    for a in n.attribute:
        if a.name == name:
            return (
                onnx.helper.get_attribute_value(a)
                if a.type != onnx.AttributeProto.STRING
                else a.s.decode()
            )
    return _attr_default(n.op_type, n.domain, name, opset)


@cache
def _attr_default(op_type: str, domain: str, name: str, opset: int) -> Any:
    try:
        schema = onnx.defs.get_schema(op_type, opset, domain)
    except Exception:
        return None
    attr = schema.attributes.get(name)
    if attr is None or not attr.default_value.name:
        return None
    d = attr.default_value
    if d.type == onnx.AttributeProto.STRING:
        return d.s.decode()
    return onnx.helper.get_attribute_value(d)
