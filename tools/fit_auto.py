"""Anonymous callables against named fits: what structure detection buys ``fit(f, form="auto")``.

    python tools/fit_auto.py [--degrees 5 4] [--learned]

Per function: the named fit's global error (the committed table's ``fit(name, -40, 40)``), the
same function as an anonymous numpy callable fitted with structure detection off
(``detect=False``: the generic forms clamped and pau, as before detection existed) and on, the
ratio after / named (the goal: <= 1.5), and the structure detected. ``--learned`` adds
``pau_learned`` regions (ONNX chains no rule knows, run by ONNX Runtime in float32) fitted on
their default range [-8, 8], detection off and on. Errors are global: max |F - f| on [-40, 40].
Times are wall-clock on this machine, one process; compare rows within one run only.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from scipy import special

from rewriter.rational import GLOBAL_RANGE, fit
from rewriter.rational.structure import detect_structure
from rewriter.rational.table import TABLE_DEGREES, table_rational

Fn = Callable[[np.ndarray], np.ndarray]

# the catalogue's functions spelled as a user or an exporter would, no name attached
SPELLINGS: dict[str, Fn] = {
    "gelu": lambda x: 0.5 * x * (1.0 + special.erf(x / np.sqrt(2.0))),
    "gelu_tanh": lambda x: 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x**3))),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": lambda x: (1.0 - np.exp(-2.0 * x)) / (1.0 + np.exp(-2.0 * x)),
    "mish": lambda x: x * np.tanh(np.logaddexp(0.0, x)),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "elu": lambda x: np.where(x > 0.0, x, np.expm1(np.minimum(x, 0.0))),
    "selu": lambda x: (
        1.0507009873554805 * np.where(x > 0.0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0.0)))
    ),
    "hardswish": lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
    "softsign": lambda x: x / (1.0 + np.abs(x)),
}

# pau_learned regions: ONNX bodies of y = f(x), none of them a spelling a rule knows
REGIONS = {
    "x*Sigmoid(x)": "s = Sigmoid(x)\n y = Mul(s, x)",
    "x*Sigmoid(x)^2": "s = Sigmoid(x)\n m = Mul(x, s)\n y = Mul(m, s)",
    "x*Tanh(Log(1+Exp(x)))": "one = Constant<value = float {1.0}>()\n e = Exp(x)\n"
    " p = Add(one, e)\n sp = Log(p)\n t = Tanh(sp)\n y = Mul(x, t)",
    "0.5*Log(Exp(x)+1)": "one = Constant<value = float {1.0}>()\n"
    " half = Constant<value = float {0.5}>()\n e = Exp(x)\n p = Add(e, one)\n sp = Log(p)\n"
    " y = Mul(sp, half)",
    "x*Clip(0.2x+0.5,0,1)": "k = Constant<value = float {0.2}>()\n"
    " h = Constant<value = float {0.5}>()\n lo = Constant<value = float {0.0}>()\n"
    " hi = Constant<value = float {1.0}>()\n a = Mul(x, k)\n b = Add(a, h)\n"
    " c = Clip(b, lo, hi)\n y = Mul(x, c)",
    "Max(x,0)+Exp(Min(x,0))-1": "z = Constant<value = float {0.0}>()\n"
    " one = Constant<value = float {1.0}>()\n p = Max(x, z)\n n = Min(x, z)\n e = Exp(n)\n"
    " em = Sub(e, one)\n y = Add(p, em)",
}


def _timed(fn: Callable[[], object]) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def functions_table(deg: tuple[int, int]) -> None:
    print(f"## anonymous callables, degrees {deg}, global error on {list(GLOBAL_RANGE)}\n")
    print("| function | named | before (detect off) | after | after / named | time s | structure |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, f in SPELLINGS.items():
        if deg in TABLE_DEGREES:
            named = table_rational(name, deg)
        else:
            named = fit(name, *GLOBAL_RANGE, degrees=deg)
        before = fit(f, *GLOBAL_RANGE, degrees=deg, detect=False)
        after, dt = _timed(lambda f=f: fit(f, *GLOBAL_RANGE, degrees=deg))
        assert after is not None
        print(
            f"| {name} | {named.global_error:.2e} {named.form} | {before.global_error:.2e} "
            f"{before.form} | {after.global_error:.2e} {after.form} | "  # type: ignore[attr-defined]
            f"{after.global_error / named.global_error:.2f} | {dt:.2f} | "  # type: ignore[attr-defined]
            f"{detect_structure(f).describe()} |",
            flush=True,
        )


def learned_table(deg: tuple[int, int]) -> None:
    import onnx.parser
    from rewriter.passes.learned import learned_rewrite

    import rewriter.rational as rational

    print(f"\n## pau_learned regions (ONNX Runtime, float32), degrees {deg}, range [-8, 8]\n")
    print("| region | before: form, max, global | after: form, max, global | time s before/after |")
    print("| --- | --- | --- | --- |")
    plain = rational.fit
    for label, body in REGIONS.items():
        row = []
        for detect in (False, True):
            text = '<ir_version: 8, opset_import: ["" : 17]>\ng (float[n] x) => (float[n] y)'
            model = onnx.parser.parse_model(f"{text}\n{{\n {body}\n}}")
            rational.fit = lambda *a, d=detect, **k: plain(*a, detect=d, **k)  # type: ignore
            try:
                sites, dt = _timed(lambda m=model: learned_rewrite(m, degrees=deg, dry_run=True))
            finally:
                rational.fit = plain
            info = sites[0].rational  # type: ignore[index]
            row.append((f"{info['form']} {info['max_error']:.2e} {info['global_error']:.2e}", dt))
        print(f"| {label} | {row[0][0]} | {row[1][0]} | {row[0][1]:.1f} / {row[1][1]:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--degrees", nargs=2, type=int, default=(5, 4))
    ap.add_argument("--learned", action="store_true", help="also pau_learned regions")
    args = ap.parse_args()
    deg = (args.degrees[0], args.degrees[1])
    functions_table(deg)
    if args.learned:
        learned_table(deg)


if __name__ == "__main__":
    main()
