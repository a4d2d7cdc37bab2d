"""Compatibility alias: the torch.fx front end moved to :mod:`rewriter.frontends.fx`.

``from rewriter.fx import rewrite_module`` keeps working; new code imports from
``rewriter.frontends.fx``.
"""

from rewriter.frontends.fx import *  # noqa: F403
from rewriter.frontends.fx import __all__  # noqa: F401
