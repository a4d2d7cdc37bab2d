"""pau-rewriter: replace activation subgraphs with rational functions (Padé Activation Units).

Public API (stable):

* ``rewrite(model, pipeline="pau_all", **options)``: ONNX path/ModelProto -> ModelProto, or
  ``torch.nn.Module`` -> ``torch.fx.GraphModule``;
* ``find_sites(model, pipeline)``: the activation sites, without changing anything;
* ``rule`` / ``register_rule`` / ``Rule``, and the pattern language ``op``, ``Var``, ``Param``;
* ``fit(function, lo, hi, degrees, form, *, samples=None)``: the one rational fit
  (``rewriter.rational.fit``), global or weighted by observed inputs;
* ``finetune(student, teacher, data, ...)``: the fine-tuning stage (``rewriter.tune``);
* ``rewriter.rational``: ``fit``, ``Rational``, ``PAU``.

Example:
    >>> import numpy as np, rewriter
    >>> r = rewriter.fit("gelu", -40, 40, degrees=(5, 4))       # global, gated form
    >>> bool(r.global_error < 5e-4)
    True
    >>> x = np.random.default_rng(0).normal(0.0, 1.0, 5000)       # inputs one site sees
    >>> r2 = rewriter.fit("gelu", degrees=(3, 2), samples=x)     # doctest: +SKIP
    >>> tuned = rewriter.finetune("out.onnx", "model.onnx", "data.npz")  # doctest: +SKIP
    >>> tuned.model, [s.new_max_abs for s in tuned.sites]         # doctest: +SKIP
"""

__version__ = "0.1.0"

from rewriter.api import RewriteResult, find_sites, rewrite, rewrite_onnx  # noqa: E402
from rewriter.errors import ModelError, RewriterError, UsageError  # noqa: E402
from rewriter.match.engine import Site  # noqa: E402
from rewriter.match.pattern import Alt, Const, Param, Var, op  # noqa: E402
from rewriter.match.rules import Rule, register_rule, rule  # noqa: E402
from rewriter.rational.fitting import fit  # noqa: E402
from rewriter.tune import finetune  # noqa: E402

__all__ = [
    "rewrite",
    "rewrite_onnx",
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
]
