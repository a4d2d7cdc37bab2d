"""The rule library: one module per activation family, every exporter spelling of it.

Each module defines ``RULES``, a list of ``Rule``s written as the formula they match, one line
each, with the exporter that emits the spelling. ``library_rules()`` returns them in priority
order: composite spellings (GELU, SiLU, Mish, HardSwish) before the single native ops they
contain, so that a Sigmoid inside ``x * Sigmoid(x)`` is part of a SiLU site, while a Sigmoid
gating a different tensor (squeeze-excitation, GLU, LSTM) is a sigmoid site of its own.
"""

from __future__ import annotations

from rewriter.match.rules import Rule

from . import gelu, hardswish, mish, native, silu, softplus

FAMILIES = (gelu, silu, mish, hardswish, softplus, native)

__all__ = ["library_rules", "FAMILIES"]


def library_rules() -> list[Rule]:
    """All library rules, in priority order."""
    return [r for fam in FAMILIES for r in fam.RULES]
