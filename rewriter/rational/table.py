"""The built-in table of fitted rationals (``table.json``) and ``table_rational``.

The table holds, per function and degrees, the ``fit(name, -40, 40, degrees, "auto")`` result
(the form with the smallest global error) with its errors and provenance. ``tools/fit_table.py``
regenerates it bit for bit (sorted keys, floats as ``float.hex``); ``build_entry`` is the one
function both use. Other parameters, forms or names are fitted on the fly and cached.
"""

from __future__ import annotations

import functools
import json
import platform
from importlib import resources
from typing import Any

import numpy as np

from ..functions import FUNCTIONS
from .core import GLOBAL_RANGE, FitError, Rational
from .fitting import FIT_VERSION, fit

__all__ = [
    "table_rational",
    "build_entry",
    "build_table",
    "load_table",
    "TABLE_NAMES",
    "TABLE_DEGREES",
    "RAW_RANGE",
    "entry_key",
]

TABLE_NAMES = (
    "gelu",
    "gelu_tanh",
    "silu",
    "sigmoid",
    "tanh",
    "mish",
    "softplus",
    "elu",
    "selu",
    "celu",
    "softsign",
    "hardswish",
    "leaky_relu",
    "relu",
)
TABLE_DEGREES = ((3, 2), (4, 3), (5, 4), (7, 6))
RAW_RANGE = (-3.0, 3.0)
"""Fit range used by ``table_rational`` for the raw forms "pau" and "pau_b" (paper convention)."""


def entry_key(name: str, degrees: tuple[int, int]) -> str:
    return f"{name}/{degrees[0]}_{degrees[1]}"


def build_entry(name: str, degrees: tuple[int, int]) -> dict[str, Any]:
    """The table entry (JSON-able dict) for ``name`` at ``degrees``: deterministic."""
    r = fit(name, *GLOBAL_RANGE, degrees=degrees, form="auto")
    d = r.to_dict()
    d["provenance"] = {
        "command": f"python tools/fit_table.py  # entry {entry_key(name, degrees)}",
        "fit": d["provenance"].get("fit", ""),
        "version": FIT_VERSION,
    }
    return d


def build_table(
    names: tuple[str, ...] = TABLE_NAMES,
    degrees: tuple[tuple[int, int], ...] = TABLE_DEGREES,
    progress: Any = None,
) -> dict[str, Any]:
    entries = {}
    for name in names:
        for deg in degrees:
            entries[entry_key(name, deg)] = build_entry(name, deg)
            if progress:
                progress(name, deg, entries[entry_key(name, deg)])
    return {
        "format": "rewriter.rational.table/1",
        "generator": "tools/fit_table.py",
        "numpy": np.__version__,
        "python": platform.python_version(),
        "entries": entries,
    }


def dumps_table(table: dict[str, Any]) -> str:
    return json.dumps(table, sort_keys=True, indent=1) + "\n"


@functools.lru_cache(maxsize=1)
def load_table() -> dict[str, Any]:
    """The packaged table (``{"entries": {"gelu/5_4": {...}, ...}, ...}``)."""
    text = resources.files(__package__).joinpath("table.json").read_text(encoding="utf-8")
    return json.loads(text)


@functools.lru_cache(maxsize=256)
def _fit_cached(
    name: str, degrees: tuple[int, int], form: str, params: tuple[tuple[str, float], ...]
) -> Rational:
    lo, hi = RAW_RANGE if form in ("pau", "pau_b") else GLOBAL_RANGE
    return fit(name, lo, hi, degrees=degrees, form=form, params=dict(params))


def table_rational(
    name: str, degrees: tuple[int, int] = (5, 4), form: str = "auto", **params: float
) -> Rational:
    """A rational for ``name`` at ``degrees``: from the built-in table when it has one, else fitted.

    The table covers ``TABLE_NAMES`` x ``TABLE_DEGREES`` at default parameters with form "auto"
    (or the form the table chose). Anything else (``swish`` with beta != 1, ``elu`` alpha=0.5,
    another form, ``hardsigmoid``...) is fitted on the fly, on [-40, 40], or on ``RAW_RANGE`` for
    the raw forms, and cached. ``swish`` with beta=1 is ``silu``.

    Example:
        >>> r = table_rational("gelu")                 # (5,4) gated, global error ~3.5e-4
        >>> r2 = table_rational("elu", alpha=0.5)      # fitted on the fly (cached)
    """
    if name not in FUNCTIONS:
        raise FitError(f"table_rational: unknown function {name!r}; known: {', '.join(FUNCTIONS)}")
    fn = FUNCTIONS[name]
    unknown = set(params) - set(fn.defaults)
    if unknown:
        raise FitError(
            f"table_rational {name}: unknown parameter(s) {sorted(unknown)}; "
            f"{name} takes {sorted(fn.defaults) or 'none'}"
        )
    full = {**fn.defaults, **{k: float(v) for k, v in params.items()}}
    if name == "swish" and full["beta"] == 1.0:
        name, full = "silu", {}
    degrees = (int(degrees[0]), int(degrees[1]))
    if full == fn.defaults or name == "silu":
        d = load_table()["entries"].get(entry_key(name, degrees))
        if d is not None and form in ("auto", d["form"]):
            return Rational.from_dict(d)
    return _fit_cached(name, degrees, form, tuple(sorted(full.items())))
