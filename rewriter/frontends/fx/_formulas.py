"""Activations written as formulas: ``x * torch.sigmoid(x)``, the GPT-2 GELU, ``x*relu6(x+3)/6``.

Algorithm. A formula site is ``poly(x) * gate(x)``: a product whose factors are a polynomial
in one tensor ``x`` (here always ``c*x``) and one *gate*, a small expression of ``x`` around a
transcendental op. For every ``mul``/``div`` node taken as a root (in reverse graph order, so
the largest product wins and its inner products are consumed with it):

1. flatten the product through ``mul``, ``div`` and ``neg`` into atoms (constants, nodes);
2. for each distinct node atom ``x``, fold the atoms that are polynomials in ``x`` (walking
   ``mul add sub div-by-constant neg pow-by-integer``, so ``x*x*x``, ``torch.pow(x, 3)`` and
   ``x**3.0`` are the same monomial) and classify the one remaining atom as a gate;
3. look ``(polynomial, gate)`` up in :data:`TEMPLATES`.

A match is accepted only when every node it consumes, except the root, is used by nothing
outside the match: a formula whose intermediate feeds another computation is left alone
(rewriting it would duplicate or drop that intermediate). Constants match with relative
tolerance 1e-3, so ``0.7978845608``, ``math.sqrt(2/math.pi)`` and float32-rounded
``0.044714998`` are all the GPT-2 GELU. Worst case per root is O(atoms * nodes walked); walks
stop at the first non-arithmetic node, so this is linear in practice.

Commutativity is free: products and sums are flattened, never matched operand by operand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from torch import nn
from torch.fx import Graph, Node

from rewriter.frontends.fx._ops import arith, is_number

__all__ = ["FormulaMatch", "match_formulas", "TEMPLATES"]

Poly = dict[int, float]  # power -> coefficient
REL_TOL = 1e-3
_MAX_POWER = 8
_MAX_DEPTH = 12
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@dataclass
class FormulaMatch:
    """One formula site: ``root`` computes ``function(x, **params)`` using ``nodes``."""

    function: str
    params: dict[str, float]
    x: Node
    root: Node
    nodes: set[Node]
    description: str


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)


def _poly_eq(p: Poly, want: Poly) -> bool:
    p = {k: v for k, v in p.items() if abs(v) > 1e-12}
    return set(p) == set(want) and all(_close(p[k], want[k]) for k in want)


def _mul(p: Poly, q: Poly) -> Poly | None:
    out: Poly = {}
    for i, a in p.items():
        for j, b in q.items():
            if i + j > _MAX_POWER:
                return None
            out[i + j] = out.get(i + j, 0.0) + a * b
    return out


def _add(p: Poly, q: Poly, sign: float = 1.0) -> Poly:
    out = dict(p)
    for k, v in q.items():
        out[k] = out.get(k, 0.0) + sign * v
    return out


class _Walker:
    """Polynomial and gate recognition relative to one candidate input ``x``."""

    def __init__(self, x: Node, root: nn.Module) -> None:
        self.x, self.root = x, root

    def poly(self, v: Any, used: set[Node], depth: int = 0) -> Poly | None:
        """``v`` as a polynomial in ``x``; the nodes walked are added to ``used`` on success.

        Walks at most ``_MAX_DEPTH`` ops deep: formula polynomials are shallow, and the limit
        keeps a walk from following a long residual ``add`` chain through the whole network.
        """
        if v is self.x:
            return {1: 1.0}
        if is_number(v):
            return {0: float(v)}
        if depth >= _MAX_DEPTH:
            return None
        a = arith(v, self.root)
        if a is None:
            return None
        op, args = a
        local: set[Node] = set()
        result: Poly | None = None
        if op in ("mul", "add", "sub"):
            p = self.poly(args[0], local, depth + 1)
            q = None if p is None else self.poly(args[1], local, depth + 1)
            if p is not None and q is not None:
                result = _mul(p, q) if op == "mul" else _add(p, q, 1.0 if op == "add" else -1.0)
        elif op == "div":
            p = self.poly(args[0], local, depth + 1)
            q = None if p is None else self.poly(args[1], local, depth + 1)
            if p is not None and q is not None and set(q) == {0} and q[0] != 0.0:
                result = {k: c / q[0] for k, c in p.items()}
        elif op == "neg":
            p = self.poly(args[0], local, depth + 1)
            result = None if p is None else {k: -c for k, c in p.items()}
        elif op == "pow":
            p, e = self.poly(args[0], local, depth + 1), args[1]
            if p is not None and is_number(e) and float(e).is_integer() and 0 <= e <= _MAX_POWER:
                result = {0: 1.0}
                for _ in range(int(e)):
                    result = _mul(result, p) if result is not None else None
        if result is None:
            return None
        used |= local
        used.add(v)
        return result

    def product(
        self, v: Any, used: set[Node], sign: int = 1, top: bool = True
    ) -> list[tuple[Any, int]] | None:
        """Flatten a product into ``(atom, exponent)``; ``None`` if ``v`` is not a product.

        Only the root and single-use products are opened: a shared product is an atom (it may
        be ``x`` itself, as in ``y = a*b; y * sigmoid(y)``).
        """
        if not top and (not isinstance(v, Node) or len(v.users) != 1):
            return None
        a = arith(v, self.root)
        if a is not None and a[0] in ("mul", "div"):
            op, (lhs, rhs) = a
            left = self.product(lhs, used, sign, False) or [(lhs, sign)]
            rsign = sign if op == "mul" else -sign
            right = self.product(rhs, used, rsign, False) or [(rhs, rsign)]
            used.add(v)
            return left + right
        if a is not None and a[0] == "neg":
            inner = self.product(a[1][0], used, sign, False) or [(a[1][0], sign)]
            used.add(v)
            return [(-1.0, 1)] + inner
        return None

    def gate(self, v: Any, used: set[Node]) -> tuple[str, float] | None:
        """Classify a non-polynomial factor: ``("sigmoid", beta)``, ``("1+erf", s)``, ..."""
        a = arith(v, self.root)
        if a is None:
            return None
        op, args = a
        local: set[Node] = {v}
        found: tuple[str, float] | None = None
        if op in ("sigmoid", "relu6", "hardsigmoid", "erf"):
            p = self.poly(args[0], local)
            if p is not None and op in ("sigmoid", "erf") and set(p) == {1}:
                found = (op, p[1])
            elif p is not None and op == "relu6" and _poly_eq(p, {0: 3.0, 1: 1.0}):
                found = ("relu6(x+3)", 1.0)
            elif p is not None and op == "hardsigmoid" and _poly_eq(p, {1: 1.0}):
                found = ("hardsigmoid", 1.0)
        elif op == "tanh":
            inner = arith(args[0], self.root)
            p = self.poly(args[0], local)
            if p is not None and set(p) == {1, 3} and _close(p[3] / p[1], 0.044715):
                found = ("tanh_gpt2", p[1])
            elif inner is not None and inner[0] == "softplus":
                local.add(args[0])
                q = self.poly(inner[1][0], local)
                if q is not None and _poly_eq(q, {1: 1.0}):
                    found = ("tanh(softplus)", 1.0)
        elif op in ("add", "sub"):
            # 1 + g(x) in either order (also g(x) + 1, 1 - (-g)); exactly one term beside 1.
            const, term = (args[0], args[1]) if is_number(args[0]) else (args[1], args[0])
            if is_number(const) and float(const) == 1.0 and (op == "add" or term is args[1]):
                t = arith(term, self.root)
                if op == "add" and t is not None and t[0] in ("erf", "tanh", "abs"):
                    if t[0] == "abs":
                        if t[1][0] is self.x:
                            found, local = ("1+abs", 1.0), local | {term}
                    else:
                        g = self.gate(term, local)
                        if g is not None:
                            found = ("1+" + g[0], g[1])
        if found is not None:
            used |= local
        return found


# (polynomial factor, gate, gate parameter or None for "any") -> function, params builder.
# Each line: the formula it matches, and who writes it that way.
TEMPLATES: list[tuple[Poly, str, int, float | None, str]] = [
    ({1: 1.0}, "sigmoid", 1, None, "silu"),  # x * sigmoid(b*x): SiLU (b=1) / Swish-b
    ({1: 0.5}, "1+erf", 1, 1 / math.sqrt(2.0), "gelu"),  # 0.5x(1+erf(x/sqrt2)): BERT
    ({1: 0.5}, "1+tanh_gpt2", 1, SQRT_2_OVER_PI, "gelu_tanh"),  # GPT-2 / nanoGPT NewGELU
    ({1: 1 / 6}, "relu6(x+3)", 1, 1.0, "hardswish"),  # x*relu6(x+3)/6: MobileNetV3
    ({1: 1.0}, "hardsigmoid", 1, 1.0, "hardswish"),  # x*hardsigmoid(x)
    ({1: 1.0}, "tanh(softplus)", 1, 1.0, "mish"),  # x*tanh(softplus(x)): YOLOv4 Mish
    ({1: 1.0}, "1+abs", -1, 1.0, "softsign"),  # x/(1+|x|): softsign decomposed by export
]


def _match_root(root: Node, gm: nn.Module) -> FormulaMatch | None:
    atoms_used: set[Node] = set()
    probe = _Walker(root, gm)  # x is unknown while flattening: products do not depend on it
    atoms = probe.product(root, atoms_used)
    if not atoms:
        return None
    candidates = []
    for atom, _ in atoms:
        if isinstance(atom, Node) and atom not in candidates:
            candidates.append(atom)
    for x in candidates:
        walker = _Walker(x, gm)
        used = set(atoms_used)
        poly: Poly | None = {0: 1.0}
        gates: list[tuple[tuple[str, float], int]] = []
        for atom, sign in atoms:
            p = walker.poly(atom, used)
            if p is not None:
                if sign < 0:
                    if set(p) != {0} or p[0] == 0.0:
                        poly = None
                        break
                    p = {0: 1.0 / p[0]}
                poly = _mul(poly, p) if poly is not None else None
                if poly is None:
                    break
                continue
            g = walker.gate(atom, used)
            if g is None:
                poly = None
                break
            gates.append((g, sign))
        if poly is None or len(gates) != 1:
            continue
        (gate, gparam), gsign = gates[0]
        for want_poly, want_gate, want_sign, want_param, function in TEMPLATES:
            if gate != want_gate or gsign != want_sign or not _poly_eq(poly, want_poly):
                continue
            if want_param is not None and not _close(gparam, want_param):
                continue
            params: dict[str, float] = {}
            if function == "silu" and not _close(gparam, 1.0):
                function, params = "swish", {"beta": float(gparam)}
            used.discard(x)
            used.add(root)
            if x in used or not _closed(used, root):
                return None
            desc = f"formula {function}: {root.name} = {_render(root, x)}"
            return FormulaMatch(function, params, x, root, used, desc)
    return None


def _closed(nodes: set[Node], root: Node) -> bool:
    """No node of the match except the root is used outside the match."""
    return all(u in nodes for n in nodes if n is not root for u in n.users)


def _render(node: Any, x: Node, depth: int = 0) -> str:
    """A short readable spelling of the matched formula, for reports."""
    if node is x:
        return "x"
    if not isinstance(node, Node):
        return f"{node:.6g}" if is_number(node) else repr(node)
    if depth > 6:
        return "..."
    target = (
        node.target
        if isinstance(node.target, str)
        else getattr(node.target, "__name__", str(node.target))
    )
    args = ", ".join(_render(a, x, depth + 1) for a in node.args)
    return f"{target}({args})"


def match_formulas(graph: Graph, root_module: nn.Module) -> list[FormulaMatch]:
    """All non-overlapping formula sites of ``graph``, largest first, then by position.

    Example:
        ``y = x * torch.sigmoid(x)`` gives one ``FormulaMatch("silu", {}, x, y, ...)``.
    """
    taken: set[Node] = set()
    matches: list[FormulaMatch] = []
    for node in reversed(list(graph.nodes)):
        if node in taken:
            continue
        a = arith(node, root_module)
        if a is None or a[0] not in ("mul", "div"):
            continue
        m = _match_root(node, root_module)
        if m is None or (m.nodes & taken):
            continue
        taken |= m.nodes
        matches.append(m)
    return matches
