"""Samples: latency-database rows flattened into what a predictor learns from.

A ``Sample`` is one candidate measured at one site on one target, with the features a predictor
uses: the function and producer (parsed from the micro-model signature ``Conv>mish#hash``),
element counts (from the stored shapes), the candidate's kind and degrees (parsed from its
name: ``keep``, ``rational:5_4:gated:folded``, ``exact:mish_exp``, ``standard:relu``), the
target (``target_key``) and its measured latency and ratio to ``keep``.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from typing import Any

from rewriter.cost.db import Record

from .fingerprint import target_key

__all__ = [
    "Sample",
    "CandidateInfo",
    "parse_candidate",
    "samples_from_records",
    "load_samples",
    "parse_signature",
]


@dataclass(frozen=True)
class CandidateInfo:
    """What a candidate name says: kind, degrees, emission variant, op."""

    kind: str
    p: int = 0
    q: int = 0
    form: str = ""
    variant: str = ""
    op: str = ""


def parse_candidate(name: str) -> CandidateInfo:
    """``rational:5_4:gated:folded`` -> ``CandidateInfo("rational", 5, 4, "gated", "folded")``;
    a region's fit ``learned:5_4:pau:1a2b3c4d`` is a rational as emitted (``horner``)."""
    parts = name.split(":")
    kind = parts[0]
    if kind in ("rational", "learned") and len(parts) >= 2:
        try:
            p, q = (int(v) for v in parts[1].split("_"))
        except ValueError:
            p, q = 0, 0
        variant = "horner" if kind == "learned" else parts[3] if len(parts) > 3 else ""
        return CandidateInfo("rational", p, q, parts[2] if len(parts) > 2 else "", variant)
    if kind in ("exact", "standard"):
        return CandidateInfo(kind, op=parts[1] if len(parts) > 1 else "")
    return CandidateInfo(kind)


def parse_signature(signature: str) -> tuple[str, str]:
    """``"MatMul+Add>gelu#0a1b"`` -> ``("MatMul+Add", "gelu")``."""
    head = signature.split("#", 1)[0]
    prod, _, fn = head.partition(">")
    return (prod or "input"), (fn or head)


@dataclass
class Sample:
    """One candidate measured at one site on one target."""

    tkey: str
    runtime: str
    threads: int
    site: str  # the micro-model signature: shapes and producer included
    function: str
    producer: str
    n: int  # output elements
    n_in: int  # elements of the non-constant inputs
    dtype: str
    candidate: str
    latency: float  # median seconds
    ratio: float  # to keep, same interleaved run
    rounds: int = 0
    ratio_lo: float = 0.0
    ratio_hi: float = 0.0

    @property
    def cand(self) -> CandidateInfo:
        return parse_candidate(self.candidate)

    @property
    def log_n(self) -> float:
        return math.log(max(self.n, 1))


def _elems(shape: Any) -> int:
    out = 1
    for d in shape:
        out *= max(int(d), 1)
    return out


def samples_from_records(records: list[Record]) -> list[Sample]:
    out = []
    for r in records:
        prod, fn = parse_signature(r.signature)
        try:
            sh = json.loads(r.shapes)
            n = _elems(sh.get("out", [])) if sh.get("out") else 1
            ins = sh.get("in", {})
            n_in = sum(_elems(v) for v in (ins.values() if isinstance(ins, dict) else ins)) or n
        except (ValueError, AttributeError, TypeError):
            n, n_in = 1, 1
        out.append(
            Sample(
                target_key(r.hw, r.target, r.runtime, r.version, r.threads),
                r.runtime,
                r.threads,
                r.signature,
                fn,
                prod,
                n,
                n_in,
                r.dtype,
                r.candidate,
                float(r.median),
                float(r.ratio),
                int(r.rounds),
                float(r.ratio_lo),
                float(r.ratio_hi),
            )
        )
    return out


def load_samples(db_path: str) -> list[Sample]:
    """Every measurement row of a latency database as ``Sample``s (read-only)."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=60)
    try:
        fields = list(Record.__dataclass_fields__)
        rows = con.execute(f"SELECT {', '.join(fields)} FROM measurements").fetchall()
    except sqlite3.OperationalError:
        rows = []
    finally:
        con.close()
    return samples_from_records([Record(*r) for r in rows])
