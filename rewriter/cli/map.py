"""``rewrite map MODEL --target T --calibration data.npz -o map.html``: the per-site accuracy/speed map."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from rewriter.cli.common import (
    Parser,
    add_cluster_option,
    add_input_options,
    console,
    degrees_arg,
    model_inputs,
    progress,
)
from rewriter.errors import UsageError


def _parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="rewrite map",
        description="Per-site sensitivity map: observed ranges, approximation error, "
        "output deviation when only that site is replaced, latency gain; HTML page + JSON.",
    )
    p.add_argument("model", help="input .onnx model (never modified)")
    p.add_argument(
        "-o", "--output", default="map.html", help="HTML page; the JSON goes beside it (map.json)"
    )
    p.add_argument(
        "--target", help="latency target, e.g. ort-cpu:threads=1 (omit: no gains, no Pareto front)"
    )
    p.add_argument(
        "--calibration",
        help=".npz keyed by input name, or a folder of .npy (default: generated inputs)",
    )
    p.add_argument(
        "--labels",
        help="name of the labels array in the calibration .npz (accuracy = argmax match)",
    )
    p.add_argument("-p", "--pipeline", default="pau_all", help="which sites (default pau_all)")
    p.add_argument(
        "--degrees",
        type=degrees_arg,
        default=(5, 4),
        help="the rational the per-site numbers describe (default 5,4)",
    )
    p.add_argument(
        "--form",
        default="auto",
        help="rational form (default: each function's safe clamped/gated form)",
    )
    p.add_argument(
        "--allow-standard",
        action="store_true",
        help="also map standard activations (ReLU, HardSwish, ...)",
    )
    p.add_argument(
        "--db", help="latency database and fit cache (SQLite; default in the user cache folder)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, no table")
    add_input_options(p)  # without --calibration: --inputs, or generated (--input-shapes ...)
    add_cluster_option(p)  # --cluster HEAD: the latency gains measured on the cluster's device
    return p


def main(argv: Sequence[str]) -> int:
    """``rewrite map``: returns the exit status; bad input raises UsageError/ModelError."""
    from rewriter.cost.db import default_db_path
    from rewriter.ir import check_output_path, load_model
    from rewriter.plan.sitemap import sensitivity_map
    from rewriter.report import json_path_for, write_map

    a = _parser().parse_args(list(argv))
    if a.cluster and not a.target:
        raise UsageError("--cluster measures latency gains on a device: pass --target too")
    if not a.output.lower().endswith((".html", ".htm")):
        raise UsageError(
            f"{a.output}: the map is an HTML page; pass -o NAME.html (the JSON goes beside it)"
        )
    check_output_path(a.model if os.path.exists(a.model) else None, a.output)
    check_output_path(a.model if os.path.exists(a.model) else None, json_path_for(a.output))
    if a.labels and not a.calibration:
        raise UsageError(
            "--labels names an array of the calibration .npz; pass --calibration data.npz"
        )
    model = load_model(a.model)
    inputs = model_inputs(a, model)  # --calibration, else --inputs, else generated
    mp = sensitivity_map(
        model,
        a.pipeline,
        inputs.calibration,
        target=a.target,
        labels=a.labels,
        degrees=a.degrees,
        form=a.form,
        allow_standard=a.allow_standard,
        db=a.db or default_db_path(),  # fits are kept there with or without a target
        shapes=inputs.shapes,
        ranges=inputs.ranges,
        progress=progress("map", a.quiet),
    )
    html_path, json_path = write_map(mp, a.output)
    if not a.quiet:
        _print_map(mp)
        if inputs.generated:
            print(inputs.line())
        print(f"wrote {html_path} and {json_path}")
    return 0


def _print_map(mp: Any) -> None:
    from rich.table import Table

    t = Table(title=f"sensitivity map ({mp.device or mp.target or 'no target'})")
    for c in ("site", "function", "observed", "approx err", "cosine", "rel L2", "acc drop", "gain"):
        t.add_column(c)
    for r in mp.sites:
        od, (lo, hi) = r["output_deviation"], r["observed_range"]
        t.add_row(
            r["name"],
            r["function"] if "scale" not in r else f"{r['scale']:g} x {r['function']}",
            f"[{lo:.3g}, {hi:.3g}]" if lo is not None else "-",
            f"{r['approx_error']['max_abs']:.1e}"
            if r["approx_error"]["max_abs"] is not None
            else "-",
            f"{od['cosine']:.6f}",
            f"{od['rel_l2']:.1e}",
            f"{od['accuracy_drop']:.2f}" if od["accuracy_drop"] is not None else "-",
            f"x{r['gain']:.2f}" if r["gain"] is not None else "-",
        )
    console().print(t)
