"""The cost model: in-context latencies of every candidate of a site, measured or from the database.

``CostModel(target, db).site_costs(micro, candidates)`` returns ``candidate name -> Record`` for
one micro-model: rows already in the database for this hardware, target, runtime version,
threads and micro-model signature are reused; missing candidates are measured together with
``keep`` (interleaved, see ``harness``) and stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .candidates import Candidate, build_candidate
from .db import LatencyDB, Record
from .harness import compare
from .micro import Micro, random_feeds
from .targets import Target, hardware_key

__all__ = ["CostModel", "HarnessOptions"]


@dataclass
class HarnessOptions:
    """Stopping rules of one interleaved measurement (see ``harness.compare``)."""

    precision: float = 0.02
    time_cap: float = 4.0
    min_rounds: int = 10
    warmup_cap: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    def kwargs(self) -> dict[str, Any]:
        return {"precision": self.precision, "time_cap": self.time_cap, "min_rounds": self.min_rounds, "warmup_cap": self.warmup_cap, **self.extra}


class CostModel:
    """Measured costs on one target, cached in a ``LatencyDB`` (or in memory when db is None)."""

    def __init__(self, target: Target, db: LatencyDB | None = None, harness: HarnessOptions | None = None, reuse: bool = True) -> None:
        self.target = target
        self.db = db
        self.harness = harness or HarnessOptions()
        self.reuse = reuse
        self.hw = hardware_key()
        self._mem: dict[tuple[str, str], dict[str, Record]] = {}
        self.measured = 0
        self.reused = 0
        if db is not None:
            db.put_hardware(self.hw, target.fingerprint())

    def _key(self, micro: Micro) -> tuple[str, str, str, str, int, str, str]:
        t = self.target
        dtype = micro.signature and micro.model.graph.output[0].type.tensor_type.elem_type
        import onnx

        return (self.hw, t.spec, t.runtime, t.version, t.threads, micro.signature, onnx.TensorProto.DataType.Name(int(dtype)).lower())

    def site_costs(self, micro: Micro, candidates: list[Candidate], log: Callable[[str], None] | None = None) -> dict[str, Record]:
        key = self._key(micro)
        have: dict[str, Record] = {}
        if self.reuse:
            have = dict(self._mem.get((key[5], key[1]), {}))
            if not have and self.db is not None:
                have = self.db.get(*key)
        missing = [c for c in candidates if c.name not in have]
        if not missing and "keep" in have:
            self.reused += 1
            return {c.name: have[c.name] for c in candidates}
        todo = [c for c in candidates if c.kind == "keep"] + [c for c in candidates if c.kind != "keep"]
        feeds = random_feeds(micro.model)
        fns: dict[str, Callable[[], Any]] = {}
        for c in todo:
            m = build_candidate(micro.model, {micro.site.output: c})
            run = self.target.session(m)
            fns[c.name] = (lambda r: (lambda: r(feeds)))(run)
        if log:
            log(f"measuring {micro.signature}: {len(fns)} candidates on {self.target.spec}")
        cmp = compare(fns, "keep", **self.harness.kwargs())
        shapes = json.dumps({"in": micro.input_shapes, "out": micro.output_shape}, sort_keys=True)
        recs = {}
        for name, st in cmp.stats.items():
            ra = cmp.ratios[name]
            recs[name] = Record(*key[:7], candidate=name, shapes=shapes, median=st.median, q1=st.q1, q3=st.q3,
                                ratio=ra.median, ratio_lo=ra.lo, ratio_hi=ra.hi, rounds=cmp.rounds)
        if self.db is not None:
            self.db.put(list(recs.values()))
        self._mem[(key[5], key[1])] = recs
        self.measured += 1
        return recs
