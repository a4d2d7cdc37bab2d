"""The one fit weighted by observed inputs: ``fit(..., samples=x)``, and what it must not load."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rewriter.functions import get_function
from rewriter.rational import GLOBAL_RANGE, FitError, SampleWeights, fit


def _x(n: int = 5000) -> np.ndarray:
    return np.random.default_rng(0).normal(0.3, 0.8, n)


def test_samples_fit_is_better_on_the_samples_and_stays_safe_outside() -> None:
    x = _x()
    glob = fit("gelu", *GLOBAL_RANGE, degrees=(3, 2), form="gated")
    obs = fit("gelu", degrees=(3, 2), form="gated", samples=x)
    f = get_function("gelu")
    e_glob = float(np.max(np.abs(glob(x) - f(x))))
    e_obs = float(np.max(np.abs(obs(x) - f(x))))
    assert e_obs < e_glob
    span = x.max() - x.min()
    assert obs.lo == pytest.approx(x.min() - 0.1 * span) and obs.hi == pytest.approx(
        x.max() + 0.1 * span
    )
    # outside the observed range the error stays within ~1/outside_weight of the inside error
    assert obs.global_error < 12 * obs.max_error
    assert "samples=5000" in obs.provenance["fit"]


def test_sample_weights_strategy_changes_points_not_the_fit() -> None:
    x = _x()
    inside_only = SampleWeights(margin=0.0, outside_weight=0.0, points=(500, 500, 0))
    r = fit("silu", degrees=(3, 2), form="gated", samples=x, sample_weights=inside_only)
    assert (r.lo, r.hi) == (float(x.min()), float(x.max()))
    boosted = fit(
        "silu",
        degrees=(3, 2),
        form="gated",
        samples=x,
        sample_weights=SampleWeights(density_boost=4.0, points=(400, 300, 100)),
    )
    assert boosted.max_error < 1e-2 and r.max_error < 1e-2


def test_samples_deterministic_and_non_finite_dropped() -> None:
    x = _x(2000)
    a = fit("tanh", degrees=(3, 2), samples=x)
    b = fit("tanh", degrees=(3, 2), samples=np.concatenate([x, [np.nan, np.inf]]))
    assert a.to_dict()["p"] == b.to_dict()["p"]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"samples": [np.nan]}, "no finite samples"),
        ({"samples": ["a"]}, "array of numbers"),
        ({"samples": [0.0, 1.0], "weights": lambda x: x}, "samples or weights"),
        ({}, "pass a range"),
    ],
)
def test_samples_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(FitError, match=match):
        fit("tanh", degrees=(3, 2), **kwargs)


def test_fitting_loads_neither_the_cli_nor_the_planner() -> None:
    code = (
        "import sys, numpy as np\n"
        "from rewriter.rational import fit\n"
        "fit('gelu', degrees=(3, 2), samples=np.linspace(-2, 2, 100))\n"
        "import rewriter.tune.refit\n"
        "bad = [m for m in sys.modules if m.startswith(('rewriter.cli', 'rewriter.cost',"
        " 'rewriter.accuracy', 'rewriter.plan', 'rewriter.passes'))]\n"
        "print(bad)\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr + out.stdout
