"""Passes and the named pipelines users pass to ``-p``.

A pipeline is a comma list of items:

* ``pau_all``: replace every smooth activation (``rewriter.functions.SMOOTH``) by a rational;
* ``pau_<function>``: replace one function's sites (``pau_gelu``, ``pau_hardswish``, ``pau_relu``...);
* ``pau_learned``: any maximal one-input elementwise region, spelled in a way no rule knows
  (``passes.learned``): sampled through ONNX Runtime, fitted, replaced;
* ``canonicalize``: one spelling per computation (Div by a constant becomes Mul by its
  reciprocal, Sub of a constant Add of its negation, Identity nodes are bypassed);
* ``cleanup``: remove dead nodes and unused initializers, sort topologically.

Matching always runs the whole rule library, so a site is the same (``gelu_3``) whatever the
pipeline; the pipeline selects which functions' sites are replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

from rewriter.errors import UsageError
from rewriter.functions import FUNCTIONS, SMOOTH

from .canonicalize import canonicalize
from .cleanup import cleanup

__all__ = ["Pipeline", "parse_pipeline", "pipeline_names", "GRAPH_PASSES"]

GRAPH_PASSES = {"canonicalize": canonicalize, "cleanup": cleanup}
_EXTRA_FUNCTIONS = ("prelu",)  # matched as its own site, approximated as leaky_relu(slope)


@dataclass(frozen=True)
class Pipeline:
    """What to run: graph passes before and after, and the functions whose sites to replace."""

    name: str
    functions: frozenset[str]
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    learned: bool = False


def pipeline_names() -> dict[str, str]:
    """Name -> one-line description, for ``rewrite --list``."""
    out = {"pau_all": "every smooth activation: " + ", ".join(SMOOTH)}
    for f in list(FUNCTIONS) + list(_EXTRA_FUNCTIONS):
        out[f"pau_{f}"] = f"{f} sites only"
    out["pau_learned"] = (
        "any one-input elementwise region (no rule needed): sampled, fitted, replaced"
    )
    out["canonicalize"] = "one spelling per computation (Div->Mul, Sub->Add, no Identity)"
    out["cleanup"] = "dead nodes, unused initializers, topological order"
    return out


def parse_pipeline(text: str) -> Pipeline:
    """Parse ``-p``: e.g. ``pau_all``, ``pau_gelu,pau_silu``, ``canonicalize,pau_all,cleanup``."""
    functions: set[str] = set()
    learned = False
    before: list[str] = []
    after: list[str] = []
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise UsageError("empty pipeline; `rewrite --list` prints the pipelines")
    known = pipeline_names()
    for item in items:
        if item not in known:
            raise UsageError(f"unknown pipeline {item!r}; `rewrite --list` prints the pipelines")
        if item == "pau_learned":
            learned = True
        elif item == "pau_all":
            functions.update(SMOOTH)
        elif item.startswith("pau_"):
            functions.add(item[len("pau_") :])
        elif not functions and not learned:
            before.append(item)
        else:
            after.append(item)
    return Pipeline(text, frozenset(functions), tuple(before), tuple(after), learned)
