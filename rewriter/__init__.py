"""pau-rewriter: replace activation subgraphs with rational functions (Padé Activation Units).

Public API (stable):

* ``rewrite(model, pipeline="pau_all", **options)``: ONNX path/ModelProto -> ModelProto, or
  ``torch.nn.Module`` -> ``torch.fx.GraphModule``;
* ``find_sites(model, pipeline)``: the activation sites, without changing anything;
* ``plan(model, target=..., calibration=..., min_cosine=...)``: per site the fastest candidate
  on a target, within an accuracy budget, measured (a ``Plan``; see below);
* ``rule`` / ``register_rule`` / ``Rule``, and the pattern language ``op``, ``Var``, ``Param``;
* ``fit(function, lo, hi, degrees, form, *, samples=None)``: the one rational fit
  (``rewriter.rational.fit``), global or weighted by observed inputs;
* ``finetune(student, teacher, data, ...)``: the fine-tuning stage (``rewriter.tune``);
* ``rewriter.rational``: ``fit``, ``Rational``, ``PAU``.

Planning an ONNX model on a target, within an accuracy budget::

    >>> import onnx, rewriter
    >>> p = rewriter.plan(onnx.load("cnn_mish.onnx"), target="ort-cpu:threads=1",
    ...                   calibration="val.npz", min_cosine=0.999)           # doctest: +SKIP
    >>> for d in p.decisions:                                                 # doctest: +SKIP
    ...     print(d.site.name, d.candidate.name, f"x{d.gain:.2f}", d.accuracy.get("solo_cosine"))
    mish_0 exact:mish_exp x2.41 1.0
    mish_1 rational:3_2:gated_x:horner x1.80 0.99994
    >>> p.whole.speedup, p.backed_off                                         # doctest: +SKIP
    (1.93, [])
    >>> onnx.save(p.model, "cnn_mish.fast.onnx")                              # doctest: +SKIP

Without a budget each site takes its fastest candidate as accurate as the (5,4) rational;
``rewriter.rewrite(model, target=...)`` returns that plan's model.

Fitting and fine-tuning::

    >>> import numpy as np, rewriter
    >>> r = rewriter.fit("gelu", -40, 40, degrees=(5, 4))       # global, gated form
    >>> bool(r.global_error < 5e-4)
    True
    >>> x = np.random.default_rng(0).normal(0.0, 1.0, 5000)       # inputs one site sees
    >>> r2 = rewriter.fit("gelu", degrees=(3, 2), samples=x)     # doctest: +SKIP
    >>> tuned = rewriter.finetune("out.onnx", "model.onnx", "data.npz")  # doctest: +SKIP
    >>> tuned.model, [s.new_max_abs for s in tuned.sites]         # doctest: +SKIP
"""

from typing import TYPE_CHECKING, Any

from rewriter.version import __version__ as __version__

# Public names are imported on first use (PEP 562): ``import rewriter.rational`` or the CLI's
# ``rewrite --help`` must not load the planner, the cost model and torch. ``rewriter.plan`` is the
# planning package itself, callable as ``rewriter.plan(model, ...)`` (see rewriter/plan).
_LAZY = {
    "rewrite": "rewriter.api",
    "rewrite_onnx": "rewriter.api",
    "find_sites": "rewriter.api",
    "RewriteResult": "rewriter.emit",
    "Site": "rewriter.match.engine",
    "Rule": "rewriter.match.rules",
    "rule": "rewriter.match.rules",
    "register_rule": "rewriter.match.rules",
    "op": "rewriter.match.pattern",
    "Var": "rewriter.match.pattern",
    "Param": "rewriter.match.pattern",
    "Const": "rewriter.match.pattern",
    "Alt": "rewriter.match.pattern",
    "fit": "rewriter.rational.fitting",
    "finetune": "rewriter.tune",
    "RewriterError": "rewriter.errors",
    "UsageError": "rewriter.errors",
    "ModelError": "rewriter.errors",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name == "plan":
        return importlib.import_module("rewriter.plan")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rewriter' has no attribute {name!r}")


if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from rewriter import plan as plan
    from rewriter.api import find_sites, rewrite, rewrite_onnx
    from rewriter.emit import RewriteResult
    from rewriter.errors import ModelError, RewriterError, UsageError
    from rewriter.match.engine import Site
    from rewriter.match.pattern import Alt, Const, Param, Var, op
    from rewriter.match.rules import Rule, register_rule, rule
    from rewriter.rational.fitting import fit
    from rewriter.tune import finetune

__all__ = [
    "rewrite",
    "rewrite_onnx",
    "plan",
    "find_sites",
    "fit",
    "finetune",
    "RewriteResult",
    "Site",
    "Rule",
    "rule",
    "register_rule",
    "op",
    "Var",
    "Param",
    "Const",
    "Alt",
    "RewriterError",
    "UsageError",
    "ModelError",
    "__version__",
]
