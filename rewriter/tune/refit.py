"""Fine-tuning a rewritten model against its original: layer-wise refit of each site's rational.

``refit_onnx(student, teacher, calibration)`` needs no gradients. The student is a model that
``rewrite`` produced from the teacher; its metadata (``pau_rewriter``) names the pipeline and
the replaced sites with their form and degrees. The steps:

1. find the teacher's sites with the student's pipeline (same names: ``gelu_0`` ...);
2. run the teacher once on the calibration data with every site's input exposed
   (``rewriter.calibrate.observe_sites``): the inputs each activation really sees;
3. read each site's current rational back from the student's graph (coefficients are its
   ``pau/<key>/...`` initializers; structure from the form) and measure its error there;
4. refit: the one fit, weighted by the observed inputs (``rewriter.rational.fit(...,
   samples=x)``, see ``SampleWeights``) in the same form and degrees: weight 1 on the observed
   range widened by 10% (a uniform grid plus the observed quantiles), weight 0.1 on the rest of
   [-40, 40], so the clamped/gated forms stay accurate to 10x the in-range error outside it
   (``global_error`` says how much). A raw ``pau`` form stays raw (bounded only by its input
   clip, as it was). A refit that does not lower the max error on the observed inputs is
   discarded (the site keeps its rational);
5. re-emit by rewriting the teacher with ``rationals={site: refitted}``, selecting exactly the
   sites the student replaced, and record the refit in the metadata.

Sites in If branches are observed on the branch each batch takes (see ``calibrate``); those in a
branch the data never take, or in a Loop/Scan body, are not observed and keep their rational.

``rewriter.cli.finetune`` is ``rewrite finetune``::

    rewrite finetune student.onnx --teacher original.onnx --calibration data.npz -o tuned.onnx

Example:
    >>> tuned, results = refit_onnx("student.onnx", "original.onnx", "data.npz")  # doctest: +SKIP
    >>> [(r.name, r.old_max_abs, r.new_max_abs) for r in results]              # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from rewriter.calibrate import as_calibration, observe_sites
from rewriter.candidates import Candidate
from rewriter.errors import ModelError
from rewriter.ir.runtime import run_values
from rewriter.verify import Deviation, accuracy_of, compared, deviation, predictions

__all__ = ["RefitResult", "refit_onnx", "student_rational", "compare_over"]

PROGRESS_S = 10.0  # seconds between progress lines of a refit

METADATA_KEY = "pau_rewriter"


@dataclass
class RefitResult:
    """One site's refit: errors of the old and new rational on the inputs the site really sees.

    ``refitted`` is False when the site was not observed (``note`` says why) or when the refit
    did not lower the max error (the old rational is kept; new errors equal old ones).
    """

    name: str
    function: str
    observed_range: tuple[float, float]
    samples: int
    old_max_abs: float
    old_rms: float
    new_max_abs: float
    new_rms: float
    refitted: bool
    fit_range: tuple[float, float] | None = None
    old: str = ""
    new: str = ""
    note: str | None = None
    rational: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def unchanged(
        cls, site: Any, obs: Any, old: str, note: str | None, rational: Any = None
    ) -> RefitResult:
        """A site left as it was (not observed, or not a rational): no errors measured."""
        nan = math.nan
        return cls(
            site.name,
            site.function,
            obs.range,
            0,
            nan,
            nan,
            nan,
            nan,
            False,
            old=old,
            note=note,
            rational=rational,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; ``rational`` (the site's Rational after the refit) as its ``to_dict``."""
        r = self.rational
        d = asdict(replace(self, rational=None))
        d["rational"] = None if r is None else r.to_dict()
        return d


# -- reading the student ------------------------------------------------------------------


def _metadata(student: onnx.ModelProto, where: str) -> dict[str, Any]:
    raw = next((p.value for p in student.metadata_props if p.key == METADATA_KEY), None)
    if raw is None:
        raise ModelError(
            f"{where}: no {METADATA_KEY!r} metadata; the student must be a model written by "
            "`rewrite` (pass the rewritten model, and the original as --teacher)"
        )
    try:
        meta = json.loads(raw)
        assert isinstance(meta.get("sites"), list)
    except Exception:
        raise ModelError(
            f"{where}: {METADATA_KEY!r} metadata is not valid JSON with 'sites'"
        ) from None
    return meta


def _nodes(g: onnx.GraphProto) -> list[onnx.NodeProto]:
    from rewriter.ir import subgraph_attrs

    out = []
    for n in g.node:
        out.append(n)
        for _, sub in subgraph_attrs(n):
            out.extend(_nodes(sub))
    return out


def _inits(g: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    from rewriter.ir import subgraph_attrs

    out = {t.name: t for t in g.initializer}
    for n in g.node:
        for _, sub in subgraph_attrs(n):
            out.update(_inits(sub))
    return out


def student_rational(student: onnx.ModelProto, site: Any, entry: dict[str, Any]) -> Any:
    """The Rational the student computes at ``site``, read from its graph.

    Coefficients and clamp come from the initializers the site's ``pau/<site>/`` nodes read
    (``rewriter.rational.onnx_emit`` names them ``p<k>``, ``q<k>``, ``clip_lo``...; a missing
    ``p<k>``/``q<k>`` is a zero the emitter skipped); the structure (gate, linear parts, tails)
    from the form recorded in ``entry``. Returns None when the site's nodes are not found.
    """
    from rewriter.candidates import site_function
    from rewriter.functions import FUNCTIONS
    from rewriter.rational.fitting import templates

    prefix = f"pau/{site.name}/"
    inits = _inits(student.graph)
    consts: dict[str, float] = {}
    for node in _nodes(student.graph):
        if node.name.startswith(prefix):
            for i in node.input:
                if i in inits:
                    key = i.rsplit("/", 1)[-1].removesuffix("_f64")
                    consts[key] = float(numpy_helper.to_array(inits[i]))
    if "clip_lo" not in consts:
        return None
    fn, params = site_function(site)
    full = {**FUNCTIONS[fn].defaults, **params}
    tpl = templates(fn, full, FUNCTIONS[fn].bind(**full)).get(entry["form"])
    if tpl is None:
        return None
    m, n = (int(v) for v in entry["degrees"])
    lo, hi = entry.get("fit_range") or (-40.0, 40.0)
    clip = (consts["clip_lo"], consts["clip_hi"])
    c = -clip[0] if tpl.clamp_kind == "neg" else clip[1]
    sk = tpl.skeleton((m, n), c, lo, hi)
    return replace(
        sk,
        p=np.array([consts.get(f"p{k}", 0.0) for k in range(m + 1)]),
        q=np.array([consts.get(f"q{k}", 0.0) for k in range(1, n + 1)]),
        clamp=None if sk.clamp is None else clip,
        function=fn,
        params=full,
        max_error=float(entry.get("max_error", math.nan)),
        global_error=float(entry.get("global_error", math.nan)),
        provenance={"read": f"from the student's graph, site {site.name}"},
    )


# -- fitting ------------------------------------------------------------------------------


def _errors(r: Any, f: Any, x: np.ndarray) -> tuple[float, float]:
    with np.errstate(all="ignore"):
        e = np.abs(r(x) - f(x))
    if not e.size:
        return math.nan, math.nan
    return float(np.max(e)), float(np.sqrt(np.mean(e * e)))


# -- the refit ----------------------------------------------------------------------------


def _load(model: Any) -> onnx.ModelProto:
    from rewriter.ir import load_model

    return load_model(model)


def refit_onnx(
    student: Any,
    teacher: Any,
    calibration: Any,
    *,
    degrees: tuple[int, int] | None = None,
    form: str | None = None,
    max_samples: int = 100_000,
    progress: Callable[[str], None] | None = None,
) -> tuple[onnx.ModelProto, list[RefitResult]]:
    """Refit every rational of ``student`` on the inputs its site sees in ``teacher``.

    Args:
        student: the rewritten model (path or ModelProto), with ``pau_rewriter`` metadata.
        teacher: the original model it was rewritten from.
        calibration: anything ``load_calibration`` takes (None: generated inputs), or a
            ``Calibration``.
        degrees: degrees of the refits (default: each site's degrees in the student).
        form: form of the refits (default: each site's form in the student).
        max_samples: observed values kept per site.
        progress: told how many sites are refitted, every ``PROGRESS_S`` seconds and at the
            end (one site after another: an 87-site detector took minutes, saying nothing).

    Returns:
        ``(tuned model, one RefitResult per replaced site)``. Neither input is modified.

    Raises:
        ModelError: the student has no metadata, or does not correspond to the teacher.
        UsageError: bad calibration data.
    """
    from rewriter.api import rewrite_onnx
    from rewriter.candidates import (
        rational_candidate,  # noqa: I001
        site_function,
    )
    from rewriter.emit import emit_result
    from rewriter.functions import FUNCTIONS
    from rewriter.passes.learned import RegionFunction, fit_region, site_region
    from rewriter.rational import Rational, fit

    s_model, t_model = _load(student), _load(teacher)
    where = student if isinstance(student, (str, os.PathLike)) else "student"
    meta = _metadata(s_model, os.fspath(where))
    pipeline = meta.get("pipeline") or "pau_all"
    entries = {e["name"]: e for e in meta["sites"]}
    found = rewrite_onnx(t_model, pipeline, dry_run=True)
    t_sites = {s.name: s for s in found.sites}
    for name, e in entries.items():
        s = t_sites.get(name)
        if s is None or s.function != e.get("function"):
            raise ModelError(
                f"student site {name} ({e.get('function')}) is not a site of the teacher under "
                f"pipeline {pipeline!r}; pass the model the student was rewritten from as --teacher"
            )
    cal = as_calibration(calibration, found.model)
    sites = [t_sites[n] for n in entries]
    obs = observe_sites(found.model, sites, cal, max_samples=max_samples)

    results: list[RefitResult] = []
    refits: dict[str, Any] = {}
    kept: dict[str, Candidate] = {}  # exact rewrites and standard ops: nothing to refit
    start = said = time.monotonic()
    for k, s in enumerate(sites):
        if progress is not None and time.monotonic() - said >= PROGRESS_S:
            said = time.monotonic()
            progress(f"{k} of {len(sites)} site(s) refitted ({said - start:.0f} s)")
        e, o = entries[s.name], obs[s.name]
        if e.get("degrees") is None:
            kept[s.name] = _kept_candidate(s.name, e)
            results.append(
                RefitResult.unchanged(
                    s,
                    o,
                    e.get("describe") or e.get("candidate") or "",
                    f"{e.get('describe') or e.get('candidate')}: not a rational; kept",
                )
            )
            continue
        deg = tuple(degrees) if degrees is not None else tuple(int(v) for v in e["degrees"])
        frm = form or e["form"]
        if s.function == "learned":  # a pau_learned region: its own function, its recorded fit
            alone = site_region(found.model, s)
            f: Any = RegionFunction(alone)
            if not e.get("rational"):
                raise ModelError(
                    f"student site {s.name}: its fit is not in the student's metadata (a "
                    "pau_learned region rewritten by an earlier version); rewrite it again"
                )
            old = Rational.from_dict(e["rational"])
        else:
            fn, params = site_function(s)
            f = FUNCTIONS[fn].bind(**{**FUNCTIONS[fn].defaults, **params})
            old = student_rational(s_model, s, e)
        if old is None:
            raise ModelError(
                f"student site {s.name}: its rational's nodes (pau/{s.name}/...) are not in the "
                "student's graph; was the student edited after `rewrite`?"
            )
        if not o.observed:
            results.append(RefitResult.unchanged(s, o, old.describe(), o.note, old))
            refits[s.name] = old
            continue
        x = o.samples
        om, orms = _errors(old, f, x)
        if s.function == "learned":
            new = fit_region(alone, x, deg, frm)  # type: ignore[arg-type]
            new = old if new is None else new  # no fit follows it on these inputs
        else:
            new = fit(fn, degrees=deg, form=frm, samples=x, params=params)  # type: ignore[arg-type]
        nm, nrms = _errors(new, f, x)
        better = nm < om or (deg, frm) != (tuple(old.degrees), old.form)
        note = None
        if not better:
            new, nm, nrms, note = old, om, orms, "refit did not lower the max error; kept"
        refits[s.name] = new
        results.append(
            RefitResult(
                s.name,
                s.function,
                o.range,
                int(x.size),
                om,
                orms,
                nm,
                nrms,
                better,
                fit_range=(new.lo, new.hi) if better else None,
                old=old.describe(),
                new=new.describe(),
                note=note,
                rational=new,
            )
        )
    if progress is not None:
        done = time.monotonic() - start
        progress(f"{len(sites)} of {len(sites)} site(s) refitted ({done:.0f} s)")
    choices = {**kept, **{k: rational_candidate(r) for k, r in refits.items()}}
    tuned = emit_result(t_model, choices, pipeline).model
    _record(tuned, results, cal.source)
    return tuned, results


def _kept_candidate(name: str, entry: dict[str, Any]) -> Candidate:
    """The exact rewrite or standard op a ``--target`` plan chose for a site, from the student's
    metadata, so the tuned model keeps it."""
    cand = str(entry.get("candidate") or "")
    kind = cand.split(":", 1)[0]
    if kind not in ("exact", "standard") or not entry.get("op"):
        raise ModelError(
            f"student site {name}: its metadata names no rational and no exact/standard op "
            f"({cand or 'no candidate'}); was the student written by `rewrite`?"
        )
    return Candidate(kind, cand, float(entry.get("max_error") or 0.0), op=str(entry["op"]))


def _record(m: onnx.ModelProto, results: list[RefitResult], source: str) -> None:
    """Add each site's refit (observed range, old/new errors) to the model's metadata."""
    prop = next(p for p in m.metadata_props if p.key == METADATA_KEY)
    meta = json.loads(prop.value)
    by_name = {r.name: r for r in results}
    for e in meta["sites"]:
        r = by_name.get(e["name"])
        if r is not None:
            e["refit"] = {
                k: v
                for k, v in r.to_dict().items()
                if k
                in (
                    "observed_range",
                    "samples",
                    "old_max_abs",
                    "old_rms",
                    "new_max_abs",
                    "new_rms",
                    "refitted",
                    "note",
                    "fit_range",
                )
            }
    meta["finetune"] = {"mode": "layerwise", "calibration": source}
    prop.value = json.dumps(meta, sort_keys=True, default=_json_float)


def _json_float(v: Any) -> Any:
    return float(v)


# -- whole-model comparison ---------------------------------------------------------------


def compare_over(
    teacher: onnx.ModelProto,
    models: list[onnx.ModelProto],
    batches: list[dict[str, np.ndarray]],
    *,
    labels: np.ndarray | None = None,
) -> list[Deviation]:
    """Each model's outputs against the teacher's over all calibration batches (``Deviation``);
    with ``labels`` (one per sample), also each model's top-1 accuracy
    (``rewriter.verify.predictions``: the first output giving a class per sample). What
    ONNX Runtime leaves unspecified is no evidence (``Compared.unspecified``: Gemma 2's
    sliding layers' window-sized cache read 3.7e19 in one session)."""
    cmp = compared(teacher)  # outputs that pick: compared on what they pick by
    names, real = cmp.names, list(cmp.outputs)

    def outputs(m: onnx.ModelProto) -> tuple[list[np.ndarray], np.ndarray | None]:
        got: dict[str, list[np.ndarray]] = {n: [] for n in names}
        predicted = []
        for vals in run_values(m, names, batches):
            for n in names:  # outputs that pick keep their items (rows)
                v = np.asarray(vals[n])
                got[n].append(v if n in cmp.picks else np.asarray(v, np.float64).ravel())
            if labels is not None:  # per batch: outputs keep their dtype and shape there
                predicted.append(predictions([vals[n] for n in real]))
        out = [_joined(got[n]) for n in names]
        return out, np.concatenate(predicted) if predicted else None

    ref, _ = outputs(teacher)
    devs = []
    for m in models:
        out, predicted = outputs(m)
        d = deviation(ref, out, names, inputs="calibration", compare=cmp)
        if predicted is not None and labels is not None:
            d.accuracy = accuracy_of(predicted, labels)
        devs.append(d)
    return devs


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """Batches joined along their first axis, or flattened and joined where shapes differ."""
    if all(p.ndim >= 1 for p in parts) and len({p.shape[1:] for p in parts}) == 1:
        return np.concatenate(parts)
    return np.concatenate([p.ravel() for p in parts])
