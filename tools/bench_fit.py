"""Fit time and errors per function at (5,4), and the accuracy-target table.

    python tools/bench_fit.py [--degrees 5 4]

Times are wall-clock on this machine, one process; compare rows within one run only.
"""

from __future__ import annotations

import argparse
import time

from rewriter.rational import GLOBAL_RANGE, fit
from rewriter.rational.table import TABLE_NAMES

TARGETS = [  # function, form, range, target max-abs error
    ("gelu", "auto", GLOBAL_RANGE, 5e-4),
    ("gelu_tanh", "auto", GLOBAL_RANGE, 5e-4),
    ("silu", "auto", GLOBAL_RANGE, 3e-4),
    ("tanh", "auto", GLOBAL_RANGE, 1e-4),
    ("sigmoid", "auto", GLOBAL_RANGE, 5e-5),
    ("mish", "auto", GLOBAL_RANGE, 1e-3),
    ("softplus", "auto", GLOBAL_RANGE, 1e-3),
    ("elu", "auto", GLOBAL_RANGE, 1e-3),
    ("selu", "auto", GLOBAL_RANGE, 1e-3),
    ("celu", "auto", GLOBAL_RANGE, 1e-3),
    ("softsign", "auto", GLOBAL_RANGE, 1e-3),
    ("tanh", "pau", (-3.0, 3.0), 5e-6),
    ("silu", "pau", (-5.0, 5.0), 5e-5),
    ("sigmoid", "pau", (-3.0, 3.0), 1e-7),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--degrees", nargs=2, type=int, default=(5, 4))
    deg = tuple(ap.parse_args().degrees)
    print(f"## fit time and errors, degrees {deg}, form auto on [-40, 40]\n")
    print("| function | form | clamp | time s | max err | global err |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in TABLE_NAMES:
        t0 = time.perf_counter()
        r = fit(name, *GLOBAL_RANGE, degrees=deg)
        dt = time.perf_counter() - t0
        print(
            f"| {name} | {r.form} | {r.clamp} | {dt:.2f} | {r.max_error:.2e} | "
            f"{r.global_error:.2e} |",
            flush=True,
        )
    print(f"\n## accuracy targets, degrees {deg}\n")
    print("| function | form | range | target | achieved | form chosen | time s | ok |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, form, (lo, hi), target in TARGETS:
        t0 = time.perf_counter()
        r = fit(name, lo, hi, degrees=deg, form=form)
        dt = time.perf_counter() - t0
        print(
            f"| {name} | {form} | [{lo:g},{hi:g}] | {target:.0e} | {r.max_error:.2e} | "
            f"{r.form} | {dt:.2f} | {'yes' if r.max_error <= target else 'NO'} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
