"""A ``Study``: everything the map and the search know about one model's sites.

Per site (of ``pipeline``): its observed inputs (``observe_sites`` on the calibration data), its
candidates (``rewriter.candidates.candidates_for``: ``keep``; a data-aware rational per degrees
of ``degrees_set``; the exact rewrite where there is one, as ``--target`` plans offer it; with
``allow_standard`` every cheaper standard activation of ``STANDARD_FOR``; a ``pau_learned``
region: its own fit per degrees, on its observed inputs), each candidate's approximation error
on the observed inputs (a region's: against its own nodes), the whole model's output deviation
when *only that site* takes that candidate (``solo``), and, with a latency model, each one's
in-context cost.

Cost: one calibration pass of the original for observation, one for the reference outputs,
and one model build + calibration pass per (site, candidate); one micro-model measurement per site.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from rewriter.calibrate import Calibration, load_calibration, observe_sites, run_shapes
from rewriter.candidates import KEEP, SEARCH_STANDARD, Candidate, candidates_for, site_function
from rewriter.emit import emit_result
from rewriter.errors import UsageError
from rewriter.ir import load_model
from rewriter.match.engine import Site
from rewriter.verify import Deviation

from .evaluate import Evaluator
from .fits import fit_observed, from_store, observed_error, prefetch, safe_form

__all__ = ["Study", "SiteStudy", "load_labels", "DEGREES_SET"]

DEGREES_SET: tuple[tuple[int, int], ...] = ((3, 2), (4, 3), (5, 4), (7, 6))


@dataclass
class SiteStudy:
    site: Site
    function: str
    params: dict[str, float]
    observation: Any
    candidates: list[Candidate]
    approx_error: dict[str, dict[str, float]] = field(default_factory=dict)
    solo: dict[str, Deviation] = field(default_factory=dict)
    costs: dict[str, float] = field(default_factory=dict)  # candidate name -> ms in context
    region: Any = None  # a pau_learned region's function (``learned.RegionFunction``)

    @property
    def name(self) -> str:
        return self.site.name

    @property
    def mapped(self) -> bool:
        """Whether it has a candidate but keep (not: a ``pau_learned`` region with no fit)."""
        return len(self.candidates) > 1

    def main(self, degrees: tuple[int, int]) -> Candidate:
        """The rational of ``degrees`` the map shows first (a region fitted at other degrees
        only: its first fit)."""
        rats = [c for c in self.candidates if c.kind == "rational"]
        return next((c for c in rats if c.degrees == tuple(degrees)), rats[0])

    def reference(self, x: np.ndarray) -> np.ndarray:
        """What the site computes, in float64: its catalogue function, or a region's own
        nodes (run in ONNX Runtime)."""
        if self.region is not None:
            return np.asarray(self.region(x), dtype=np.float64)
        from rewriter.functions import FUNCTIONS

        return np.asarray(FUNCTIONS[self.function].bind(**self.params)(x), dtype=np.float64)

    def gain(self, key: str) -> float | None:
        """Speed-up of the micro-model: keep ms / candidate ms (None without costs)."""
        if "keep" not in self.costs or key not in self.costs or self.costs[key] <= 0:
            return None
        return self.costs["keep"] / self.costs[key]

    def saved_ms(self, key: str) -> float:
        if "keep" not in self.costs or key not in self.costs:
            return 0.0
        return self.costs["keep"] - self.costs[key]


def _region_study(
    model: onnx.ModelProto,
    site: Site,
    obs: Any,
    degrees_set: tuple[tuple[int, int], ...],
    form: str,
) -> SiteStudy:
    """A ``pau_learned`` region's study: keep, and its fit per degrees on its observed inputs
    (none where not observed, where it is not in the main graph, or where no rational follows
    it); each fit's error against the region's own nodes on those inputs."""
    from rewriter.candidates import region_candidate
    from rewriter.passes.learned import RegionFunction, fit_region, site_region

    st = SiteStudy(site, site.function, {}, obs, [KEEP])
    if not obs.observed:
        return st
    try:
        alone = site_region(model, site)
        st.region = RegionFunction(alone)
    except Exception:  # in a branch, or a region ONNX Runtime cannot run alone: kept
        return st
    for deg in degrees_set:
        r = fit_region(alone, obs.samples, deg, form)
        if r is None:
            continue
        c = region_candidate(r)
        st.candidates.append(c)
        st.approx_error[c.name] = observed_error(c, obs.samples, reference=st.region)
    return st


def load_labels(labels: Any, calibration: Any, samples: int | None) -> np.ndarray | None:
    """Labels: an array, or the name of an array in the calibration ``.npz`` (``"labels"``)."""
    if labels is None:
        return None
    if isinstance(calibration, Calibration):  # loaded already: its source is the file
        calibration = calibration.source
    if isinstance(labels, str):
        if not (isinstance(calibration, (str, os.PathLike)) and os.path.isfile(calibration)):
            raise UsageError(
                f"--labels {labels!r} names an array of the calibration .npz; pass --calibration data.npz"
            )
        with np.load(calibration, allow_pickle=False) as d:
            if labels not in d.files:
                raise UsageError(
                    f"{os.fspath(calibration)}: no array {labels!r} (found {sorted(d.files)}); pass --labels NAME"
                )
            arr = np.asarray(d[labels])
    else:
        arr = np.asarray(labels)
    arr = arr.ravel()
    if samples is not None and arr.size != samples:
        raise UsageError(
            f"labels: {arr.size} labels for {samples} calibration samples; pass one label per sample"
        )
    return arr


def budget_labels(labels: Any, max_drop: float | None, cal: Calibration) -> np.ndarray | None:
    """The labels a budget is measured with: ``labels`` (an array, or the name of an array in
    the calibration .npz), else that .npz's ``labels`` array when ``max_drop`` asks for
    accuracy. Raises UsageError when ``max_drop`` has no labels to use."""
    src = cal.source
    if labels is None and max_drop is not None and not cal.generated and os.path.isfile(src):
        if src.endswith(".npz"):
            with np.load(src) as d:
                labels = "labels" if "labels" in d.files else None
    lab = load_labels(labels, cal, cal.samples if not cal.generated else None)
    if max_drop is not None and lab is None:
        raise UsageError(
            "--max-drop needs labels; pass --labels NAME (an array of the calibration .npz)"
        )
    return lab


# seconds between progress lines of a long step (a diffusers VAE's 88 evaluations: 4 minutes)
PROGRESS_EVERY = 20.0


def _every(log: Callable[[str], None], what: str) -> Callable[[int, int], None]:
    """``progress(done, total)`` that logs "41 of 88 candidate(s) evaluated (216 s)" at most
    every ``PROGRESS_EVERY`` seconds, and not at the end (the next line says it is done);
    ``what`` says what is counted and how ("candidate(s) evaluated")."""
    start = last = time.monotonic()

    def progress(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if done < total and now - last >= PROGRESS_EVERY:
            last = now
            log(f"{done} of {total} {what} ({now - start:.0f} s)")

    return progress


class Study:
    """Observe, fit, and measure every site of ``pipeline`` in ``model`` (see the module doc).

    Args:
        model: path or ModelProto (not modified).
        pipeline: which functions' sites (``pau_all``...).
        calibration: anything ``load_calibration`` takes (None: generated inputs).
        labels: array or name of the labels array in the calibration .npz, or None.
        degrees_set: degrees of the rational candidates.
        form: rational form ("auto": each function's safe form).
        allow_standard: add cheaper standard activations to the candidates.
        latency: a ``LatencyModel`` (costs), or None (no gains).
        log: progress lines.
        store: a ``LatencyDB`` that keeps the data-aware fits across runs (``fits.from_store``);
            None: the latency model's database, if it has one.
    """

    def __init__(
        self,
        model: Any,
        pipeline: str = "pau_all",
        calibration: Any = None,
        *,
        labels: Any = None,
        degrees_set: tuple[tuple[int, int], ...] = DEGREES_SET,
        form: str = "auto",
        allow_standard: bool = False,
        latency: Any = None,
        log: Callable[[str], None] | None = None,
        store: Any = None,
    ) -> None:

        self.log = log or (lambda s: None)
        self.model: onnx.ModelProto = load_model(model)
        self.pipeline = pipeline
        self.degrees_set = tuple((int(m), int(n)) for m, n in degrees_set)
        if not self.degrees_set:
            raise UsageError("degrees_set is empty; pass at least one (m, n)")
        dry = emit_result(self.model, {}, pipeline, dry_run=True)
        self.canonical = dry.model
        self.cal = (
            calibration
            if isinstance(calibration, Calibration)
            else load_calibration(calibration, self.model)
        )
        where = calibration
        if isinstance(calibration, Calibration) and not calibration.generated:
            where = calibration.source  # the .npz a calibration was read from holds the labels
        self.labels = load_labels(
            labels, where, self.cal.samples if not self.cal.generated else None
        )
        self.latency = latency
        self.log(f"{len(dry.sites)} site(s); calibration: {self.cal.source}")
        obs = observe_sites(self.canonical, dry.sites, self.cal, max_samples=20_000)
        run_shapes(self.canonical, dry.sites, self.cal.batches[0])  # shapes on the data
        self.evaluator = Evaluator(self.model, pipeline, self.cal, self.labels)
        self.sites: list[SiteStudy] = []
        if hasattr(latency, "prepare"):  # ModelCosts: every site's shapes in one run
            latency.prepare(dry.sites)
        store = store if store is not None else getattr(latency, "db", None)
        store = store if hasattr(store, "get_fits") else None  # e.g. a cluster's proxy
        # a pau_learned region's candidates are its own fits on its observed inputs, one per
        # degrees (``_region_study``), as the learned pass fits it
        jobs = [
            (*site_function(s), obs[s.name].samples, deg, form)
            for s in dry.sites
            if obs[s.name].observed and s.function != "learned"
            for deg in self.degrees_set
        ]
        cached = from_store(jobs, store)
        if cached:
            where = getattr(store, "path", "the database")
            self.log(f"{cached} of {len(jobs)} rational(s) read from the fit cache ({where})")
        fitted = prefetch(jobs, store, progress=_every(self.log, "rational(s) fitted"))
        if fitted:
            self.log(f"{fitted} rational(s) fitted in worker processes")
        for s in dry.sites:
            o = obs[s.name]
            if s.function == "learned":
                st = _region_study(self.canonical, s, o, self.degrees_set, form)
                self.sites.append(st)
                self.log(f"{s.name}: region {s.spelling}, {len(st.candidates) - 1} candidate(s)")
                continue
            fn, params = site_function(s)
            rats = []
            for deg in self.degrees_set:
                if o.observed:
                    r = fit_observed(fn, params, o.samples, deg, form, store)
                else:
                    from rewriter.rational import table_rational  # torch-heavy package

                    r = table_rational(
                        fn, degrees=deg, form=safe_form(fn) if form == "auto" else form, **params
                    )
                rats.append(r)
            cands = candidates_for(
                s, rationals=rats, allow_standard=allow_standard, standard=SEARCH_STANDARD
            )
            st = SiteStudy(s, fn, params, o, cands)
            for c in cands[1:]:
                st.approx_error[c.name] = (
                    observed_error(c, o.samples, fn, params)
                    if o.observed
                    else {"max_abs": float("nan"), "rms": float("nan")}
                )
            self.sites.append(st)
            seen = f"observed [{o.min:.3g}, {o.max:.3g}]" if o.observed else "not observed"
            self.log(f"{s.name}: {fn} {seen}, {len(cands) - 1} candidate(s)")
        solo = [{st.name: c} for st in self.sites for c in st.candidates]
        self.log(f"evaluating {len(solo) - len(self.sites)} candidate(s) on the calibration data")
        tell = _every(self.log, "candidate(s) evaluated")
        if not self.evaluator.solos({st.name: st.candidates for st in self.sites}, tell):
            # what every site's cut reads, captured in one run of the original
            self.evaluator.prepare(
                [{st.name: st.candidates[1]} for st in self.sites if len(st.candidates) > 1]
            )
            self.evaluator.deviations(solo, progress=tell)  # in threads; measuring runs alone
        for st in self.sites:
            for c in st.candidates:
                st.solo[c.name] = self.evaluator.deviation({st.name: c})
            if latency is not None:
                st.costs = latency.site_costs(st.site, st.candidates)
                gains = ", ".join(
                    f"{k.split(':')[1] if ':' in k else k} x{st.gain(k):.2f}"
                    for k in st.costs
                    if k != "keep" and st.gain(k)
                )
                self.log(f"{st.name}: in-context gains {gains or '-'}")
        self.base_accuracy = self.evaluator.base_accuracy

    def site(self, name: str) -> SiteStudy:
        return next(s for s in self.sites if s.name == name)

    def predicted_ms(self, assignment: dict[str, Candidate]) -> float | None:
        """Whole-model time predicted as base minus the per-site savings (None without latency)."""
        if self.latency is None:
            return None
        base = self.latency.base_ms()
        return base - sum(
            self.site(k).saved_ms(c.name) for k, c in assignment.items() if c.kind != "keep"
        )
