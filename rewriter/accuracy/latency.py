"""Latency inputs of the map and the search: per-site in-context costs and whole-model timings.

The search never times anything itself: it asks a ``LatencyModel`` for

* ``site_costs(site, choices) -> {choice key: ms}`` (``keep`` included): the site's micro-model
  (producer + activation, ``rewriter.cost.cut_site``) with each choice, measured interleaved;
* ``base_ms()``: the whole original model's time (for predicted whole-model ratios:
  ``predicted = base - sum over sites of (keep_ms - choice_ms)``);
* ``whole(original, rewritten)``: a measured whole-model comparison, or None;
* optionally ``faster(site name, choice key) -> bool``: faster than ``keep`` beyond noise (the
  ratio's 95% CI below 1). Choices that are not are never replacements (as in ``plan_rewrite``).

``MeasuredLatency`` measures on a ``Target`` with ``rewriter.cost``'s harness and stores rows in
its ``LatencyDB`` (same keys as ``CostModel``; rational candidates are named like
``rewriter.cost.candidates``: ``rational:5_4:gated:horner``, so rows are shared with
``plan_rewrite``). ``TableLatency`` is a synthetic table for tests and what-if studies.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import onnx

from rewriter.match.engine import Site

from .evaluate import AssignmentReplacement, Choice

__all__ = ["LatencyModel", "TableLatency", "MeasuredLatency", "WholeLatency"]


@dataclass
class WholeLatency:
    """Whole model, original vs rewritten, one interleaved run."""

    original_ms: float
    rewritten_ms: float
    speedup: float
    speedup_lo: float
    speedup_hi: float
    rounds: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class LatencyModel(Protocol):
    def site_costs(self, site: Site, choices: list[Choice]) -> dict[str, float]: ...

    def base_ms(self) -> float: ...

    def whole(
        self, original: onnx.ModelProto, rewritten: onnx.ModelProto
    ) -> WholeLatency | None: ...


class TableLatency:
    """Synthetic latencies: ``{site name: {choice key: ms}}`` (``keep`` required per site).

    Keys not in a site's table fall back to ``default`` (``{choice key or prefix: ms}``, e.g.
    ``{"rational:3_2": 0.5, "standard": 0.2}``); ``whole`` returns the prediction.

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
        self.predicted: float | None = None

    def _ms(self, site: str, key: str) -> float | None:
        t = self.table.get(site, {})
        if key in t:
            return t[key]
        for k in sorted(self.default, key=len, reverse=True):
            if key.startswith(k):
                return self.default[k]
        return None

    def site_costs(self, site: Site, choices: list[Choice]) -> dict[str, float]:
        out = {}
        for c in choices:
            v = self._ms(site.name, c.key)
            if v is not None:
                out[c.key] = float(v)
        return out

    def base_ms(self) -> float:
        return self.base

    def whole(self, original: onnx.ModelProto, rewritten: onnx.ModelProto) -> WholeLatency | None:
        return None


def _cost_name(c: Choice) -> str:
    return f"{c.key}:horner" if c.kind == "rational" else c.key


class MeasuredLatency:
    """Costs measured on ``target`` (a ``rewriter.cost.Target`` or its spec string).

    Args:
        model: the model whose sites are measured (micro-models are cut from it).
        target: e.g. ``"ort-cpu:threads=1"``.
        db: ``LatencyDB``, a path, ``":memory:"`` or None (the default database).
        batch, dims: sizes of dynamic dimensions (as ``plan_rewrite``).
        harness, whole_harness: ``rewriter.cost.HarnessOptions``.
        log: progress lines.
    """

    def __init__(
        self,
        model: onnx.ModelProto,
        target: Any,
        db: Any = None,
        *,
        batch: int = 1,
        dims: dict[str, int] | None = None,
        harness: Any = None,
        whole_harness: Any = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        from rewriter.cost import CostModel, HarnessOptions, LatencyDB, get_target, resolve_dims

        self.model = model
        self.target = get_target(target)
        if isinstance(db, LatencyDB):
            self.db: Any = db
        elif db == ":memory:":
            self.db = None
        else:
            self.db = LatencyDB(db)
        self.cm = CostModel(self.target, self.db, harness)
        self.batch, self.dims = batch, dims
        self.resolved = resolve_dims(model, batch, dims)
        self.whole_harness = whole_harness or HarnessOptions(
            precision=0.02, time_cap=15.0, min_rounds=10, warmup_cap=2.0
        )
        self.log = log or (lambda s: None)
        self._base: float | None = None
        self._whole: dict[str, WholeLatency] = {}
        self._faster: dict[tuple[str, str], bool] = {}
        self.measured = 0
        self.reused = 0

    def site_costs(self, site: Site, choices: list[Choice]) -> dict[str, float]:
        from rewriter.cost import Record, compare, cut_site
        from rewriter.cost.micro import random_feeds

        try:
            micro = cut_site(
                self.model, site, batch=self.batch, dims=self.dims, resolved=self.resolved
            )
        except Exception as e:  # not measurable: no costs (the site is kept)
            self.log(f"{site.name}: not measurable ({e})")
            return {}
        key = self.cm._key(micro)
        names = {_cost_name(c): c for c in choices}
        have = self.db.get(*key) if self.db is not None else {}
        have = {**have, **self.cm._mem.get((key[5], key[1]), {})}
        if all(n in have for n in names):
            self.reused += 1
            return self._ms(site, names, have)
        feeds = random_feeds(micro.model)
        fns: dict[str, Callable[[], Any]] = {}
        order = sorted(names.values(), key=lambda c: c.kind != "keep")
        for c in order:
            m = _build_micro(micro.model, micro.site, c)
            run = self.target.session(m)
            fns[_cost_name(c)] = (lambda r: lambda: r(feeds))(run)
        self.log(f"measuring {site.name}: {len(fns)} choices on {self.target.spec}")
        cmp = compare(fns, "keep", **self.cm.harness.kwargs())
        shapes = json.dumps({"in": micro.input_shapes, "out": micro.output_shape}, sort_keys=True)
        recs = {}
        for name, st in cmp.stats.items():
            ra = cmp.ratios[name]
            recs[name] = Record(
                *key[:7],
                candidate=name,
                shapes=shapes,
                median=st.median,
                q1=st.q1,
                q3=st.q3,
                ratio=ra.median,
                ratio_lo=ra.lo,
                ratio_hi=ra.hi,
                rounds=cmp.rounds,
            )
        if self.db is not None:
            self.db.put(list(recs.values()))
        self.cm._mem[(key[5], key[1])] = {**self.cm._mem.get((key[5], key[1]), {}), **recs}
        self.measured += 1
        return self._ms(site, names, recs)

    def _ms(self, site: Site, names: dict[str, Choice], recs: dict[str, Any]) -> dict[str, float]:
        keep = recs["keep"].median
        for n, c in names.items():
            self._faster[(site.name, c.key)] = bool(recs[n].ratio_hi < 1.0)
        # ms from the paired ratio (less noisy than separate medians)
        return {names[n].key: keep * recs[n].ratio * 1e3 for n in names}

    def faster(self, site: str, key: str) -> bool:
        """Whether ``key`` was faster than ``keep`` beyond noise (ratio CI below 1)."""
        return self._faster.get((site, key), False)

    def base_ms(self) -> float:
        if self._base is None:
            from rewriter.cost import compare
            from rewriter.cost.micro import random_feeds

            feeds = random_feeds(self.resolved)
            run = self.target.session(self.model)
            c = compare(
                {"original": lambda: run(feeds)},
                "original",
                time_cap=3.0,
                min_rounds=10,
                warmup_cap=1.0,
            )
            self._base = c.stats["original"].median * 1e3
        return self._base

    def whole(self, original: onnx.ModelProto, rewritten: onnx.ModelProto) -> WholeLatency | None:
        import hashlib

        from rewriter.cost import compare
        from rewriter.cost.micro import random_feeds

        key = hashlib.sha1(rewritten.SerializeToString(deterministic=True)).hexdigest()
        if key in self._whole:  # one plan, one measurement (several budgets may choose it)
            return self._whole[key]
        feeds = random_feeds(self.resolved)
        ra, rb = self.target.session(original), self.target.session(rewritten)
        c = compare(
            {"original": lambda: ra(feeds), "rewritten": lambda: rb(feeds)},
            "original",
            **self.whole_harness.kwargs(),
        )
        so, sr, r = c.stats["original"], c.stats["rewritten"], c.ratios["rewritten"]
        self._whole[key] = WholeLatency(
            so.median * 1e3, sr.median * 1e3, r.speedup, 1.0 / r.hi, 1.0 / r.lo, c.rounds
        )
        return self._whole[key]

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


def _build_micro(model: onnx.ModelProto, site: Site, choice: Choice) -> onnx.ModelProto:
    from rewriter.match.engine import Options, run
    from rewriter.match.rules import all_rules

    m = onnx.ModelProto()
    m.CopyFrom(model)
    if choice.kind == "keep":
        return m
    live = {site.output: choice}
    run(
        m,
        all_rules(),
        Options(
            replacement=AssignmentReplacement(live, by="output"), select=lambda s: s.output in live
        ),
    )
    return m
