"""Latency inputs of the map and the budget search, and a synthetic table of them.

The study and the search never time anything themselves: they ask a ``LatencyModel`` for

* ``site_costs(site, candidates) -> {candidate name: ms}`` (``keep`` included): the site's
  micro-model with each candidate, in context;
* ``base_ms()``: the whole original model's time (for predicted whole-model ratios:
  ``predicted = base - sum over sites of (keep_ms - candidate_ms)``);
* ``whole(original, rewritten)``: a measured whole-model comparison, or None;
* optionally ``faster(site name, candidate name) -> bool``: faster than ``keep`` beyond noise.
  Candidates that are not are never replacements (as in the planner).

The measured one is ``rewriter.cost.ModelCosts`` (the cost model seen from one model; its rows
are shared with ``rewrite --target`` plans). ``TableLatency`` is a synthetic table for tests and
what-if studies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import onnx

from rewriter.candidates import Candidate
from rewriter.cost.model import WholeResult
from rewriter.match.engine import Site

__all__ = ["LatencyModel", "TableLatency"]


class LatencyModel(Protocol):
    def site_costs(self, site: Site, candidates: list[Candidate]) -> dict[str, float]: ...

    def base_ms(self) -> float: ...

    def whole(
        self, original: onnx.ModelProto, rewritten: onnx.ModelProto
    ) -> WholeResult | None: ...


class TableLatency:
    """Synthetic latencies: ``{site name: {candidate name or prefix: ms}}`` (``keep`` required
    per site).

    A candidate takes its site's entry for its name or a ``:``-prefix of it (``rational:5_4:gated``
    for ``rational:5_4:gated:horner``), else the longest prefix in ``default`` (e.g.
    ``{"rational:3_2": 0.5, "standard": 0.2}``); ``whole`` returns None.

    Example:
        >>> lat = TableLatency({"gelu_0": {"keep": 2.0, "rational:5_4:gated": 1.0}}, base=10.0)
    """

    def __init__(
        self,
        table: Mapping[str, Mapping[str, float]],
        base: float,
        default: Mapping[str, float] | None = None,
    ) -> None:
        self.table = {k: dict(v) for k, v in table.items()}
        self.base = float(base)
        self.default = dict(default or {})

    @staticmethod
    def _lookup(t: Mapping[str, float], name: str, sep: str) -> float | None:
        for k in sorted(t, key=len, reverse=True):
            if name == k or name.startswith(k + sep):
                return t[k]
        return None

    def site_costs(self, site: Site, candidates: list[Candidate]) -> dict[str, float]:
        out = {}
        for c in candidates:
            v = self._lookup(self.table.get(site.name, {}), c.name, ":")
            if v is None:
                v = self._lookup(self.default, c.name, "")
            if v is not None:
                out[c.name] = float(v)
        return out

    def base_ms(self) -> float:
        return self.base

    def whole(self, original: onnx.ModelProto, rewritten: onnx.ModelProto) -> WholeResult | None:
        return None
