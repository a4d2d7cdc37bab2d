"""The cost model: in-context latencies of a site's candidates, and whole-model comparisons.

``CostModel(target, db).site_costs(micro, candidates)`` returns ``candidate name -> Record`` for
one micro-model: rows already in the database (or measured earlier in this process) for this
hardware, target, runtime version, threads and micro-model signature are reused; otherwise all
candidates are measured together with ``keep`` (interleaved, see ``harness``) and stored.
``CostModel.whole(original, rewritten, feeds)`` compares two whole models (one interleaved run).

``ModelCosts`` is the cost model seen from one model: it cuts each site's micro-model
(``micro.cut_site``) at the shapes the site really has on a run with the model's inputs
(``inputs.shaped_model``: shape inference with placeholders leaves a BERT's activations unknown
and would measure a detector's sites at whatever size fills its dynamic dims), times the whole
model on those same feeds, and answers per ``Site``; it is what the planner and the accuracy study
(``rewriter.accuracy.Study``: ``site_costs`` in ms, ``base_ms``, ``whole``, ``faster``) ask.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import onnx

from rewriter.candidates import Candidate
from rewriter.emit import emit, emit_result
from rewriter.errors import ModelError
from rewriter.ir.graph import dynamic_inputs
from rewriter.ir.io import model_digest
from rewriter.match.engine import Site

from .db import LatencyDB, Record
from .harness import Comparison
from .measure import Measurer, current_measurer
from .micro import Micro, cut_site, random_feeds
from .targets import Target, get_target

__all__ = ["CostModel", "ModelCosts", "HarnessOptions", "WholeResult", "open_db"]


@dataclass
class HarnessOptions:
    """Stopping rules of one interleaved measurement (see ``harness.compare``)."""

    precision: float = 0.02
    time_cap: float = 4.0
    min_rounds: int = 10
    warmup_cap: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    def kwargs(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "time_cap": self.time_cap,
            "min_rounds": self.min_rounds,
            "warmup_cap": self.warmup_cap,
            **self.extra,
        }


def speed_verdict(lo: float, hi: float) -> str:
    """``"faster"``, ``"slower"`` or ``"within noise"``: where the 95% interval ``[lo, hi]`` of
    a speed-up lies against x1 (what every report of a measured ratio says in words)."""
    return "faster" if lo > 1.0 else "slower" if hi < 1.0 else "within noise"


@dataclass
class WholeResult:
    """Whole model, original vs rewritten (one interleaved run): speed-up and its 95% CI."""

    original_ms: float
    original_iqr_ms: float
    rewritten_ms: float
    rewritten_iqr_ms: float
    speedup: float
    speedup_lo: float
    speedup_hi: float
    rounds: int

    @property
    def faster(self) -> bool:
        """Faster beyond noise: the speed-up's CI lies above 1."""
        return self.speedup_lo > 1.0

    @classmethod
    def of(cls, c: Comparison) -> WholeResult:
        so, sr, r = c.stats["original"], c.stats["rewritten"], c.ratios["rewritten"]
        return cls(
            so.median * 1e3,
            so.iqr * 1e3,
            sr.median * 1e3,
            sr.iqr * 1e3,
            r.speedup,
            1.0 / r.hi,
            1.0 / r.lo,
            c.rounds,
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def open_db(db: str | LatencyDB | None) -> tuple[LatencyDB | None, bool]:
    """(database, whether the caller owns it): a ``LatencyDB`` as is, ``":memory:"`` none, else
    the path (None: ``db.default_db_path()``) opened."""
    if isinstance(db, LatencyDB) or hasattr(db, "put"):  # or a proxy (fleet.zoo's store)
        return db, False  # type: ignore[return-value]
    if db == ":memory:":
        return None, False
    return LatencyDB(db), True


class CostModel:
    """Measured costs on one target, cached in a ``LatencyDB`` (or in memory when db is None).

    Measurements run where ``measurer`` (default ``measure.current_measurer()``: this process,
    or a cluster's device when ``--cluster`` attached one) runs them; rows are keyed by that
    device's fingerprint, and each is written as soon as its measurement returns.
    """

    def __init__(
        self,
        target: Target,
        db: LatencyDB | None = None,
        harness: HarnessOptions | None = None,
        reuse: bool = True,
        measurer: Measurer | None = None,
    ) -> None:
        self.target = target
        self.db = db
        self.harness = harness or HarnessOptions()
        self.reuse = reuse
        self.measurer = measurer or current_measurer()
        self.device = self.measurer.device(target)
        self.hw = self.device.hw
        self._mem: dict[tuple[str, str], dict[str, Record]] = {}
        self.measured = 0
        self.reused = 0
        if db is not None:
            db.put_hardware(self.hw, self.device.fingerprint)

    def key(self, micro: Micro) -> tuple[str, str, str, str, int, str, str]:
        """The database key of ``micro`` on this target and the measuring device."""
        d = self.device
        dtype = micro.model.graph.output[0].type.tensor_type.elem_type
        dt = onnx.TensorProto.DataType.Name(int(dtype)).lower()
        return (d.hw, d.spec, d.runtime, d.version, d.threads, micro.signature, dt)

    def site_costs(
        self,
        micro: Micro,
        candidates: list[Candidate],
        log: Callable[[str], None] | None = None,
    ) -> dict[str, Record]:
        key = self.key(micro)
        have: dict[str, Record] = {}
        if self.reuse:
            have = self.db.get(*key) if self.db is not None else {}
            have = {**have, **self._mem.get((key[5], key[1]), {})}
        if all(c.name in have for c in candidates) and "keep" in have:
            self.reused += 1
            return {c.name: have[c.name] for c in candidates}
        todo = [c for c in candidates if c.kind == "keep"]
        todo += [c for c in candidates if c.kind != "keep"]
        feeds = random_feeds(micro.model)
        models = {}
        for c in todo:
            try:
                models[c.name] = candidate_model(micro, c)
            except ModelError as e:  # a region the cut changed: not measured, so not taken
                if log:
                    log(f"{e}; {c.name} not measured")
        if log:
            where = "" if self.device.where == "local" else f" ({self.device.where})"
            log(
                f"measuring {micro.signature}: {len(models)} candidates on {self.target.spec}{where}"
            )
        cmp = self.measurer.compare(self.target, models, feeds, "keep", **self.harness.kwargs())
        shapes = json.dumps({"in": micro.input_shapes, "out": micro.output_shape}, sort_keys=True)
        recs = {}
        for name, st in cmp.stats.items():
            ra = cmp.ratios[name]
            recs[name] = Record(
                *key,
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
        self._mem[(key[5], key[1])] = {**self._mem.get((key[5], key[1]), {}), **recs}
        self.measured += 1
        return recs

    def whole(
        self,
        original: onnx.ModelProto,
        rewritten: onnx.ModelProto,
        feeds: dict[str, Any],
        harness: HarnessOptions,
    ) -> WholeResult:
        """Original vs rewritten, interleaved, on ``feeds``."""
        models = {"original": original, "rewritten": rewritten}
        return WholeResult.of(
            self.measurer.compare(self.target, models, feeds, "original", **harness.kwargs())
        )


def candidate_model(micro: Micro, candidate: Candidate) -> onnx.ModelProto:
    """``micro``'s model with its site replaced by ``candidate`` (``keep``: as cut). A
    ``pau_learned`` region's fit is emitted by the learned pass, given that fit (the rules
    do not find a region); the region it replaces must be the site's, input and output."""
    if micro.site.function != "learned" or candidate.kind == "keep":
        return emit(micro.model, {micro.site.output: candidate}, None, by="output")
    res = emit_result(micro.model, {micro.site.output: candidate}, "pau_learned", by="output")
    if not any(s.replaced and s.input == micro.site.input for s in res.sites):
        raise ModelError(
            f"site {micro.site.name}: its region is not found as one in its micro-model "
            f"(from {micro.site.input!r} to {micro.site.output!r})"
        )
    return res.model


def _site_values(g: onnx.GraphProto, site: Site) -> set[str]:
    """The values ``micro.cut_site`` needs shapes of: the site's input and output, its nodes'
    inputs, and the inputs of the producer (and the producer's producers: Conv before a bias Add)."""
    if site.graph:
        return set()
    prod = {o: n for n in g.node for o in n.output}
    inits = {t.name for t in g.initializer}
    labels = set(site.nodes)
    vals = {site.input, site.output}
    for i, n in enumerate(g.node):
        if (n.name or f"{n.op_type}#{i}") in labels:
            vals.update(n.input)
    p = prod.get(site.input)
    if p is not None:
        vals.update(p.input)
        for v in p.input:
            if v in prod:
                vals.update(prod[v].input)
    return {v for v in vals if v and v not in inits}


class ModelCosts:
    """The cost model of one model's sites on one target (see the module doc).

    Args:
        model: the model whose sites are measured (micro-models are cut from it).
        target: e.g. ``"ort-cpu:threads=1"``, or a ``Target``.
        db: ``LatencyDB``, a path, ``":memory:"`` or None (the default database).
        feeds: inputs the model accepts (``--inputs``, a calibration batch); sites are cut at
            the shapes they have on a run with them, and whole models are timed on them.
            Default: ``rewriter.inputs.generate_inputs(model, shapes=, ranges=)``.
        shapes, ranges: ``--input-shapes`` / ``--val-range`` for generated feeds.
        harness, whole_harness: stopping rules of site and whole-model measurements.
        log: progress lines.
        measurer: where timings run (default: ``measure.current_measurer()``).
    """

    def __init__(
        self,
        model: onnx.ModelProto,
        target: str | Target,
        db: str | LatencyDB | None = None,
        *,
        feeds: dict[str, Any] | None = None,
        shapes: dict[str, tuple[int, ...]] | None = None,
        ranges: dict[str, tuple[float, float]] | None = None,
        harness: HarnessOptions | None = None,
        whole_harness: HarnessOptions | None = None,
        log: Callable[[str], None] | None = None,
        measurer: Measurer | None = None,
    ) -> None:
        self.model = model
        self.target = get_target(target)
        self.db, self._own_db = open_db(db)
        self.cm = CostModel(self.target, self.db, harness, measurer=measurer)
        from rewriter.inputs import generate_inputs

        if feeds is None:
            feeds = generate_inputs(model, shapes=shapes, ranges=ranges).feeds
        self.feeds = feeds
        # per model sites are cut from (this one, or it with the taken If branches spliced in):
        # it with shapes on the feeds, and the values those shapes cover
        self._shapes: dict[int, tuple[onnx.ModelProto, set[str]]] = {}
        self._branches: Any = None
        # a target that compiles dynamic dims as dynamic (openvino-cpu) measures the
        # micro-models of a model with dynamic inputs with a free batch dim as well
        self._dynamic = bool(getattr(self.target, "keeps_dynamic_shapes", False)) and bool(
            dynamic_inputs(model)
        )
        self.whole_harness = whole_harness or HarnessOptions(
            precision=0.02, time_cap=15.0, min_rounds=10, warmup_cap=2.0
        )
        self.log = log or (lambda s: None)
        self._base: float | None = None
        self._whole: dict[str, WholeResult] = {}
        self._faster: dict[tuple[str, str], bool] = {}

    @property
    def measured(self) -> int:
        return self.cm.measured

    @property
    def reused(self) -> int:
        return self.cm.reused

    def _main(self, site: Site) -> tuple[onnx.ModelProto, Site]:
        """The model to cut ``site`` from, and the site as a main-graph site of it: a site in an
        If branch is cut from the model with the branches the feeds take spliced in, one in a
        Loop or Scan body from the model with the body's first iteration added
        (``rewriter.ir.branches``), at the shapes it has there."""
        if not site.graph:
            return self.model, site
        if self._branches is None:
            from rewriter.ir.branches import take_branches

            self._branches = take_branches(self.model, self.feeds, loops=True)
        where = self._branches.where(site.graph)
        if where is None:
            what = "a branch these inputs do not take"
            if site.graph.endswith("/body"):  # a Loop or Scan body (an If's are *_branch)
                what = "a loop body these inputs run zero times"
            raise ModelError(
                f"site {site.name} is in {what} ({site.graph}); pass --inputs data.npz that "
                "take it to measure it"
            )
        if where:
            raise ModelError(
                f"site {site.name} is inside {where!r} (an If whose condition is not one known "
                "boolean, or a body whose names clash with the graph's); its values cannot be "
                "cut out to time"
            )
        b = self._branches  # a Loop/Scan body's values are renamed in its first iteration
        return b.model, replace(
            site, graph="", input=b.value(site.graph, site.input),
            output=b.value(site.graph, site.output),
        )  # fmt: skip

    def prepare(self, sites: list[Site]) -> None:
        """Learn the shapes ``sites`` have on the feeds, in one run of the model. Only the values
        a micro-model reads are fetched: every intermediate of a 640x640 detector is gigabytes."""
        from rewriter.inputs import shaped_model

        want: dict[int, tuple[onnx.ModelProto, set[str]]] = {}
        for s in sites:
            try:
                m, main = self._main(s)
            except ModelError:  # micro() raises it again, where it is reported
                continue
            want.setdefault(id(m), (m, set()))[1].update(_site_values(m.graph, main))
        for key, (m, values) in want.items():
            have = self._shapes.get(key, (None, set()))[1]
            if key not in self._shapes or not values <= have:
                values |= have
                self._shapes[key] = (shaped_model(m, self.feeds, sorted(values)), values)

    def micro(self, site: Site) -> Micro:
        """The site's micro-model (raises when it cannot be cut)."""
        m, main = self._main(site)
        if id(m) not in self._shapes or not _site_values(m.graph, main) <= self._shapes[id(m)][1]:
            self.prepare([site])
        return cut_site(m, main, resolved=self._shapes[id(m)][0], dynamic=self._dynamic)

    def records(self, micro: Micro, candidates: list[Candidate]) -> dict[str, Record]:
        return self.cm.site_costs(micro, candidates, self.log)

    def site_costs(self, site: Site, candidates: list[Candidate]) -> dict[str, float]:
        """``candidate name -> ms`` in context (empty when the site cannot be cut)."""
        try:
            micro = self.micro(site)
        except Exception as e:  # not measurable: no costs (the site is kept)
            self.log(f"{site.name}: not measurable ({e})")
            return {}
        recs = self.records(micro, candidates)
        keep = recs["keep"].median
        for c in candidates:
            self._faster[(site.name, c.name)] = bool(recs[c.name].ratio_hi < 1.0)
        # ms from the paired ratio (less noisy than separate medians)
        return {c.name: keep * recs[c.name].ratio * 1e3 for c in candidates}

    def faster(self, site: str, name: str) -> bool:
        """Whether candidate ``name`` was faster than ``keep`` beyond noise (ratio CI below 1)."""
        return self._faster.get((site, name), False)

    def base_ms(self) -> float:
        """The whole original model's median time."""
        if self._base is None:
            c = self.cm.measurer.compare(
                self.target,
                {"original": self.model},
                self.feeds,
                "original",
                time_cap=3.0,
                min_rounds=10,
                warmup_cap=1.0,
            )
            self._base = c.stats["original"].median * 1e3
        return self._base

    def whole(self, original: onnx.ModelProto, rewritten: onnx.ModelProto) -> WholeResult:
        """Original vs rewritten; one measurement per distinct rewritten model."""
        key = model_digest(rewritten)  # SerializeToString fails over 2 GiB
        if key not in self._whole:
            self._whole[key] = self.cm.whole(original, rewritten, self.feeds, self.whole_harness)
        return self._whole[key]

    def close(self) -> None:
        if self.db is not None and self._own_db:
            self.db.close()
