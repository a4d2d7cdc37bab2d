"""Data-aware fits: each site's rational fitted on the inputs that site really sees.

``site_rationals(model, sites, calibration, degrees, form)`` observes every site's input on the
calibration data (``rewriter.calibrate.observe_sites``) and fits, per site, a rational with the
one fit weighted by those inputs (``rewriter.rational.fit(..., samples=x)``, with
``SITE_WEIGHTS``):

* fit points: a uniform grid over the observed range widened by ``RANGE_MARGIN`` of its span on
  each side, plus the observed quantiles (dense where the data is dense), weight
  ``1`` scaled up to ``DENSITY_BOOST`` where the observed density is highest (the histogram of
  ``SiteObservation``), so the error is smallest where most inputs are;
* a grid over the rest of ``GLOBAL_RANGE`` with weight ``OUTSIDE_WEIGHT``: the clamp/gated form
  stays within ``1 / OUTSIDE_WEIGHT`` times its in-range error outside the observed inputs
  (``Rational.global_error`` says how much), and +-inf still give the clamp values.

Fits are kept in memory (the last ``FITS_KEPT``) and, given a ``store`` (a ``LatencyDB``: the
commands pass theirs), in its ``fits`` table, keyed by a digest of the job and of the fitting
code (``code_digest``): a second ``rewrite map``, budget or ``--recover`` run on the same model
and data reads them instead of fitting again, with the same bytes out.

The form is the function's safe form (``safe_form``: gated/odd/gated_x/relu_plus, else the
clamped form with linear tails), never a raw ``pau``: a raw fit is only right on its range
(DESIGN.md section 4). A site that was not observed (in a Loop/Scan body or an If branch the
data never take) gets the built-in table rational. Two sites of one function get distinct coefficient initializers (a ``site``
tag in ``params``; evaluation ignores it).

Example:
    >>> cal = load_calibration("examples/digits_test.npz", model)        # doctest: +SKIP
    >>> rats = site_rationals(model, find_sites(model), cal, (5, 4))      # doctest: +SKIP
    >>> rewrite_onnx(model, rationals=rats).model                         # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import platform
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import as_completed
from dataclasses import replace
from typing import Any

import numpy as np

from rewriter.procs import worker_count, worker_pool
from rewriter.rational.fitting import SampleWeights, fit
from rewriter.version import source_digest

__all__ = [
    "site_rationals",
    "fit_observed",
    "prefetch",
    "from_store",
    "code_digest",
    "safe_form",
    "observed_error",
    "RANGE_MARGIN",
]

RANGE_MARGIN = 0.10
OUTSIDE_WEIGHT = 0.1
DENSITY_BOOST = 4.0  # weight at the densest observed bin, relative to the sparsest
GRID_POINTS = 800
QUANTILE_POINTS = 600
OUTSIDE_POINTS = 200
SITE_WEIGHTS = SampleWeights(
    RANGE_MARGIN, OUTSIDE_WEIGHT, DENSITY_BOOST, (GRID_POINTS, QUANTILE_POINTS, OUTSIDE_POINTS)
)


def safe_form(function: str) -> str:
    """The form of ``function`` that is right outside any fit range (clamped or gated; the raw
    pau of a function it is exactly, softsign's, as the rewrite fits it: clamped, the map and
    the budget search judged softsign by a fit 100 times worse than the one written)."""
    from rewriter.functions import FUNCTIONS
    from rewriter.rational.fitting import EXACT_PAU, templates

    if function in EXACT_PAU:
        return "pau"
    fn = FUNCTIONS[function]
    tpls = templates(function, dict(fn.defaults), fn.bind())
    specific = [k for k in tpls if k not in ("pau", "pau_b", "clamped")]
    return specific[0] if specific else "clamped"


_FITS: dict[tuple[Any, ...], Any] = {}  # _job key -> Rational, the last FITS_KEPT fitted
FITS_KEPT = 512
# fewer fits than this run here: a worker process takes ~1 s to start, a fit ~0.1-0.5 s
PARALLEL_FITS = 16


def _keep(key: tuple[Any, ...], r: Any) -> None:
    _FITS[key] = r
    while len(_FITS) > FITS_KEPT:
        del _FITS[next(iter(_FITS))]  # the oldest


def _job(
    function: str,
    params: dict[str, float],
    samples: np.ndarray,
    degrees: tuple[int, int],
    form: str,
) -> tuple[tuple[Any, ...], np.ndarray]:
    """The cache key of a fit (function, params, digest of the finite samples, degrees, form)
    and those samples."""
    x = np.asarray(samples, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    form = safe_form(function) if form == "auto" else form
    key = (
        function,
        tuple(sorted(params.items())),
        hashlib.sha1(x.tobytes()).hexdigest(),
        (int(degrees[0]), int(degrees[1])),
        form,
    )
    return key, x


# what a fit's numbers depend on besides its inputs
_FIT_MODULES = (
    "rewriter.rational.core",
    "rewriter.rational.fitting",
    "rewriter.rational.minimax",
    "rewriter.rational.structure",
    "rewriter.functions",
    __name__,
)


@functools.cache
def code_digest() -> str:
    """Digest of the fitting code's sources, numpy's version and the machine's architecture: a
    stored fit is used only by the code (and numerics) that made it."""
    return source_digest(_FIT_MODULES, f"{np.__version__} {platform.machine()}")


def _store_key(key: tuple[Any, ...]) -> str:
    return hashlib.sha1(json.dumps([code_digest(), key], default=repr).encode()).hexdigest()


def from_store(
    jobs: Iterable[tuple[str, dict[str, float], np.ndarray, tuple[int, int], str]], store: Any
) -> int:
    """Read the fits of ``jobs`` that ``store`` (a ``LatencyDB``, or None) holds into the
    memory cache; returns how many. A store that cannot be read is a cache miss."""
    if store is None:
        return 0
    want: dict[str, tuple[Any, ...]] = {}
    for function, params, samples, degrees, form in jobs:
        key, x = _job(function, params, samples, degrees, form)
        if x.size and key not in _FITS:
            want[_store_key(key)] = key
    if not want:
        return 0
    from rewriter.rational import Rational

    try:
        got = store.get_fits(list(want))
    except sqlite3.Error:
        return 0
    n = 0
    for sk, text in got.items():
        try:
            _keep(want[sk], Rational.from_dict(json.loads(text)))
        except (ValueError, KeyError, TypeError):  # a damaged row: fitted again
            continue
        n += 1
    return n


def _to_store(store: Any, fitted: list[tuple[tuple[Any, ...], Any]]) -> None:
    if store is None or not fitted:
        return
    rows = [(_store_key(k), k[0], json.dumps(r.to_dict(), sort_keys=True)) for k, r in fitted]
    with contextlib.suppress(sqlite3.Error):  # a cache: a read-only or busy file fits again
        store.put_fits(rows)


def _fit_job(key: tuple[Any, ...], x: np.ndarray) -> Any:
    function, params, _, degrees, form = key
    return _fit(function, dict(params), x, degrees, form)


def prefetch(
    jobs: Iterable[tuple[str, dict[str, float], np.ndarray, tuple[int, int], str]],
    store: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Fit ``(function, params, samples, degrees, form)`` jobs that ``fit_observed`` will ask
    for and has not fitted yet, in worker processes when there are at least ``PARALLEL_FITS``
    of them and more than one core (``rewriter.procs.worker_count``); the results go to
    ``fit_observed``'s cache and to ``store`` (a ``LatencyDB``, or None). The same numbers as
    fitting one after another (each fit is a pure function of its inputs). MobileViT's 34
    sites x 4 rationals took 55 s of fitting in `rewrite map` on one core. Returns how many
    were fitted in workers; ``progress(done, total)`` is called as each is."""
    todo: dict[tuple[Any, ...], np.ndarray] = {}
    for function, params, samples, degrees, form in jobs:
        key, x = _job(function, params, samples, degrees, form)
        if x.size and key not in _FITS:
            todo[key] = x
    workers = min(worker_count(), len(todo))
    if len(todo) < PARALLEL_FITS or workers < 2:
        return 0
    with worker_pool(workers) as pool:
        futures = [pool.submit(_fit_job, key, x) for key, x in todo.items()]
        tell = progress or (lambda done, total: None)
        for done, _ in enumerate(as_completed(futures), 1):
            tell(done, len(futures))
        fitted = [(key, f.result()) for key, f in zip(todo, futures, strict=True)]
    for key, r in fitted:
        _keep(key, r)
    _to_store(store, fitted)
    return len(todo)


def _fit(
    function: str, params: dict[str, float], x: np.ndarray, degrees: tuple[int, int], form: str
) -> Any:
    r = fit(
        function, degrees=degrees, form=form, samples=x, sample_weights=SITE_WEIGHTS, params=params
    )
    err = observed_error(r, x)
    return replace(
        r,
        provenance={
            **r.provenance,
            "data_aware": f"observed [{float(x.min()):.4g}, {float(x.max()):.4g}], "
            f"{x.size} samples, max_err on samples {err['max_abs']:.3g}",
        },
    )


def observed_error(
    r: Any,
    samples: np.ndarray,
    function: str | None = None,
    params: dict[str, float] | None = None,
    *,
    reference: Any = None,
) -> dict[str, float]:
    """Max-abs and RMS error of ``r`` (a Rational or any callable) against ``function`` on
    ``samples``, or against ``reference``, a callable (a ``pau_learned`` region's own nodes)."""
    from rewriter.functions import FUNCTIONS

    if reference is not None:
        f = reference
    else:
        fn = FUNCTIONS[function or r.function]
        f = fn.bind(
            **{
                k: v
                for k, v in (params if params is not None else getattr(r, "params", {})).items()
                if k in fn.defaults
            }
        )
    x = np.asarray(samples, dtype=np.float64).ravel()
    if not x.size:
        return {"max_abs": math.nan, "rms": math.nan}
    with np.errstate(all="ignore"):
        e = np.abs(np.asarray(r(x), dtype=np.float64) - f(x))
    return {"max_abs": float(np.max(e)), "rms": float(np.sqrt(np.mean(e * e)))}


def fit_observed(
    function: str,
    params: dict[str, float],
    samples: np.ndarray,
    degrees: tuple[int, int] = (5, 4),
    form: str = "auto",
    store: Any = None,
) -> Any:
    """A rational of ``function`` fitted on ``samples`` (see the module doc), cached by content.

    Args:
        function: catalogue name (``gelu``...); params: its parameters.
        samples: the observed inputs (any shape; finite).
        degrees: (m, n); form: "auto" (``safe_form``) or a form name.
        store: a ``LatencyDB`` whose ``fits`` table is read first and gets a new fit; None:
            memory only.
    """
    key, x = _job(function, params, samples, degrees, form)
    if not x.size:
        raise ValueError(f"fit_observed {function}: no finite samples")
    if key not in _FITS:
        from_store([(function, params, x, degrees, form)], store)
    if key not in _FITS:
        r = _fit_job(key, x)
        _keep(key, r)
        _to_store(store, [(key, r)])
    return _FITS[key]


def site_rationals(
    model: Any,
    sites: Iterable[Any],
    calibration: Any,
    degrees: tuple[int, int] = (5, 4),
    form: str = "auto",
    *,
    observations: dict[str, Any] | None = None,
    store: Any = None,
) -> dict[str, Any]:
    """``site name -> Rational`` fitted on each site's observed inputs, for ``rewrite_onnx(rationals=)``.

    Args:
        model: the model the sites were found in (path or ModelProto; for a pipeline with
            ``canonicalize`` first, the canonicalized model, ``rewrite_onnx(..., dry_run=True).model``).
        sites: ``Site`` objects (``find_sites``).
        calibration: anything ``load_calibration`` takes (path, feed dicts, None) or a ``Calibration``.
        degrees, form: of every rational (form "auto": the function's safe form).
        observations: ``observe_sites``'s result when the caller has it (skips the model run).
        store: a ``LatencyDB`` keeping the fits across runs (``fit_observed``), or None.

    Returns:
        One Rational per site; unobserved sites (inside If/Loop bodies) get the table rational.

    Example:
        >>> rats = site_rationals(m, find_sites(m), "data.npz", (5, 4))   # doctest: +SKIP
        >>> out = rewrite_onnx(m, rationals=rats).model                    # doctest: +SKIP
    """
    from rewriter.candidates import site_function
    from rewriter.rational import table_rational

    sites = list(sites)
    if observations is None:
        observations = observe(model, sites, calibration)
    out: dict[str, Any] = {}
    jobs = [
        (*site_function(s), observations[s.name].samples, degrees, form)
        for s in sites
        if observations.get(s.name) is not None and observations[s.name].observed
    ]
    from_store(jobs, store)
    prefetch(jobs, store)
    for s in sites:
        fn, params = site_function(s)
        obs = observations.get(s.name)
        if obs is None or not obs.observed:
            out[s.name] = table_rational(
                fn, degrees=degrees, form="auto" if form == "auto" else form, **params
            )
        else:
            out[s.name] = fit_observed(fn, params, obs.samples, degrees, form, store)
    return out


def observe(
    model: Any, sites: list[Any], calibration: Any, max_samples: int = 20_000
) -> dict[str, Any]:
    """``observe_sites`` on a path/ModelProto and anything ``load_calibration`` takes."""
    from rewriter.calibrate import as_calibration, observe_sites
    from rewriter.ir import load_model

    m = load_model(model)
    cal = as_calibration(calibration, m)
    return observe_sites(m, sites, cal, max_samples=max_samples)
