"""pau-rewriter: replace activation subgraphs with rational functions (Padé Activation Units).

Public API (stable):

* ``rewrite(model, pipeline="pau_all", **options)``: ONNX path/ModelProto -> ModelProto, or
  ``torch.nn.Module`` -> ``torch.fx.GraphModule``;
* ``find_sites(model, pipeline)``: the activation sites, without changing anything;
* ``rule`` / ``register_rule`` / ``Rule``, and the pattern language ``op``, ``Var``, ``Param``;
* ``rewriter.rational``: ``fit``, ``Rational``, ``PAU``.
"""

__version__ = "0.1.0"

from rewriter.api import RewriteResult, find_sites, rewrite, rewrite_onnx  # noqa: E402
from rewriter.errors import ModelError, RewriterError, UsageError  # noqa: E402
from rewriter.match.engine import Site  # noqa: E402
from rewriter.match.pattern import Alt, Const, Param, Var, op  # noqa: E402
from rewriter.match.rules import Rule, register_rule, rule  # noqa: E402

__all__ = [
    "rewrite",
    "rewrite_onnx",
    "find_sites",
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
