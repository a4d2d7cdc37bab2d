"""The PAU pass: what a site becomes when it is replaced by a rational function."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import onnx

from rewriter.errors import UsageError
from rewriter.ir import Graph
from rewriter.match.engine import Site
from rewriter.match.rules import Rule

_SUPPORTED_DTYPES = {
    onnx.TensorProto.FLOAT,
    onnx.TensorProto.FLOAT16,
    onnx.TensorProto.BFLOAT16,
    onnx.TensorProto.DOUBLE,
}


def site_function(site: Site) -> tuple[str, dict[str, float]]:
    """The catalogue function (and params) a site's rational approximates."""
    if site.function == "prelu":
        return "leaky_relu", {"alpha": site.params["slope"]}
    return site.function, dict(site.params)


def rational_key(r: Any, dtype: int) -> str:
    """A stable name for one rational's coefficient initializers, shared by the sites that use
    the same coefficients: readable parts plus a digest of the coefficients themselves, so two
    sites with different fits (calibrated or refitted) of one function never share them."""
    params = "".join(f"_{k}{v:.6g}" for k, v in sorted(r.params.items()))
    m, n = r.degrees
    digest = hashlib.sha256(json.dumps(r.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
    key = f"{r.function}{params}_{m}_{n}_{r.form}_{onnx.TensorProto.DataType.Name(dtype).lower()}_{digest}"
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", key)


class RationalReplacement:
    """Callable for ``engine.Options.replacement``: emits the rational of each site.

    Args:
        degrees: (m, n) of the rational.
        form: rational form, ``auto`` picks the most accurate form for the function.
        rationals: optional per-site override, ``site name -> Rational`` (calibrated fits).
    """

    def __init__(
        self,
        degrees: tuple[int, int] = (5, 4),
        form: str = "auto",
        rationals: dict[str, Any] | None = None,
    ) -> None:
        self.degrees: tuple[int, int] = (int(degrees[0]), int(degrees[1]))
        self.form = form
        self.rationals = rationals or {}
        self._cache: dict[tuple[Any, ...], Any] = {}

    def rational_for(self, site: Site) -> Any:
        from rewriter.rational import table_rational

        if site.name in self.rationals:
            return self.rationals[site.name]
        fn, params = site_function(site)
        key = (fn, tuple(sorted(params.items())), self.degrees, self.form)
        if key not in self._cache:
            try:
                self._cache[key] = table_rational(
                    fn, degrees=self.degrees, form=self.form, **params
                )
            except (KeyError, ValueError) as e:
                raise UsageError(
                    f"site {site.name}: cannot build a {self.form} {self.degrees} rational for {fn}: {e}"
                ) from None
        return self._cache[key]

    def __call__(
        self, site: Site, rule: Rule, g: Graph
    ) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], dict[str, Any]]:
        from rewriter.rational import emit_onnx

        vi = g.info(site.input)
        dtype = (
            vi.elem_type
            if vi is not None and vi.elem_type in _SUPPORTED_DTYPES
            else onnx.TensorProto.FLOAT
        )
        r = self.rational_for(site)
        nodes, inits = emit_onnx(
            r,
            site.input,
            site.output,
            prefix=f"pau/{site.name}/",
            const_prefix=f"pau/{rational_key(r, dtype)}/",
            dtype=dtype,
        )
        if nodes and not nodes[-1].doc_string:
            nodes[-1].doc_string = f"pau-rewriter {rule.name}: {r.describe()}"
        info = {
            "form": r.form,
            "degrees": list(r.degrees),
            "max_error": float(r.max_error),
            "global_error": float(r.global_error),
            "fit_range": [float(v) for v in (r.lo, r.hi)] if hasattr(r, "lo") else None,
            "describe": r.describe(),
        }
        return nodes, inits, info
