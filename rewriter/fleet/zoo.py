"""``rewrite zoo``: plan and rewrite every model of a folder, on a cluster or in this process.

    rows = run_zoo("models/", "out/", ZooOptions(target="ort-cpu:threads=4"), cluster="HEAD:6379")

A model of another framework (``.tflite``, ``.pt``, ...: ``zoo_models``) is converted to ONNX
as ``rewrite FILE`` converts it, here (before a cluster task gets its bytes), and written as
``.onnx`` (``output_names``).

Per model (``rewrite_one``): inputs derived from its graph (``rewriter.inputs``), the measured
per-site plan (``rewriter.plan.plan_sites``: site candidates and the whole model timed on the
target's device), verification against the original, and, above ``tolerance``, the accuracy
back-off ``rewrite`` applies (``rewriter.plan.backoff``). The result carries the output bytes;
only the driver writes files, each atomically (``rewriter.ir.write_atomic``), so a crash leaves
whole outputs or none, and a rerun skips the models whose output exists (reported as skipped).

With ``cluster``, each model is a Ray task on the cluster's CPUs (``num_cpus=1``; device
workers advertise none, so planning never runs beside a timing), its measurements go to the
devices through ``RemoteMeasurer``, and the latency database is one actor on the driver's node
(``LatencyStore``): every task reuses rows any other wrote, and each row is written as its
measurement returns. Without it the models run one after another here. Either way a model's
bytes depend only on the plan's decisions, so the outputs are the same.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from rewriter.cost.db import LatencyDB
from rewriter.errors import RewriterError

__all__ = ["ZooOptions", "ZooRow", "rewrite_one", "run_zoo", "zoo_models"]


@dataclass(frozen=True)
class ZooOptions:
    """What ``rewrite zoo`` does to each model (the ``rewrite --target`` options it has)."""

    target: str = "ort-cpu"
    pipeline: str = "pau_all"
    degrees: tuple[int, int] = (5, 4)
    form: str = "auto"
    tolerance: float = 1e-2
    time_cap: float = 2.0  # seconds per site measurement; whole models get twice that
    allow_standard: bool = False
    measure_whole: bool = True  # False: per-site decisions only (no whole-model back-off)


@dataclass
class ZooRow:
    """One model's line of the summary (``output`` is not part of the JSON)."""

    model: str
    status: str  # written | skipped | failed
    sites: int = 0
    replaced: int = 0
    speedup: float | None = None
    speedup_ci: tuple[float, float] | None = None
    rel_l2: float | None = None
    cosine: float | None = None
    seconds: float = 0.0
    device: str = ""
    error: str = ""
    output: bytes = field(default=b"", repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("output")
        return d


def zoo_models(folder: str) -> list[str]:
    """The models directly in ``folder``, sorted by name: ``.onnx`` files, and what the other
    commands convert (TFLite, Keras, SavedModel folders, ``torch.export`` programs,
    TorchScript archives: ``rewriter.frontends``), each converted to ONNX as ``rewrite FILE``
    converts it."""
    from rewriter.frontends.common import frontend_for

    return sorted(
        f
        for f in os.listdir(folder)
        if not f.startswith(".")
        and (f.endswith(".onnx") or frontend_for(os.path.join(folder, f)) is not None)
    )


def output_names(names: list[str]) -> dict[str, str]:
    """Each model's file name in the output folder: its own for an ``.onnx``, else its stem
    with ``.onnx`` (``yolo.pt`` -> ``yolo.onnx``), or its whole name with ``.onnx`` where an
    input already takes that (``yolo.onnx`` beside ``yolo.pt``: ``yolo.pt.onnx``)."""
    taken = {n for n in names if n.endswith(".onnx")}
    out = {}
    for n in names:
        stem = os.path.splitext(n.rstrip("/"))[0] + ".onnx"
        out[n] = n if n.endswith(".onnx") else stem if stem not in taken else f"{n}.onnx"
        taken.add(out[n])
    return out


def rewrite_one(name: str, data: bytes | str, opts: ZooOptions, db: Any) -> ZooRow:
    """Plan, verify and (above the tolerance) back off one model (its bytes, or its path, which
    brings its external data); never raises for bad input."""
    from rewriter.cost.model import HarnessOptions
    from rewriter.inputs import generate_inputs
    from rewriter.ir import load_model
    from rewriter.plan import plan_sites
    from rewriter.plan.backoff import back_off_draws, no_faster_rational, time_written
    from rewriter.verify import make_inputs, verify

    t0 = time.perf_counter()
    try:
        model = load_model(data)
        gen = generate_inputs(model)
        more = lambda seed: make_inputs(model, seed=seed, sizes=gen.sizes, unit=gen.unit)  # noqa: E731
        cap = opts.time_cap
        plan = plan_sites(
            model,
            opts.target,
            pipeline=opts.pipeline,
            degrees=opts.degrees,
            form=opts.form,
            db=db,
            allow_standard=opts.allow_standard,
            measure_whole=opts.measure_whole,
            progress=False,
            feeds=gen.feeds,
            harness=HarnessOptions(time_cap=cap, warmup_cap=min(1.0, cap / 2)),
            whole_harness=HarnessOptions(time_cap=2 * cap, warmup_cap=min(2.0, cap)),
        )
        out, sites = plan.model, plan.sites
        w = plan.whole
        v = verify(model, out, gen.feeds, "generated", more_feeds=more, tolerance=opts.tolerance)
        if v.exceeds(opts.tolerance):
            bo, v = back_off_draws(
                model,
                plan.assignment(),
                lambda k: gen.feeds if k == 0 else more(k),
                v,
                opts.tolerance,
                lambda m: verify(
                    model, m, gen.feeds, "generated", more_feeds=more, tolerance=opts.tolerance
                ),
                pipeline=opts.pipeline,
                emit_options={"degrees": opts.degrees, "form": opts.form},
                no_upgrade=no_faster_rational(plan),
            )
            out, sites = bo.result.model, bo.result.sites
            # the speed reported is the written model's, not the plan's before the back-off
            replaced = any(s.replaced for s in sites)
            w = None
            if replaced and opts.measure_whole:
                harness = HarnessOptions(time_cap=2 * cap, warmup_cap=min(2.0, cap))
                w = time_written(model, out, opts.target, gen.feeds, harness)
        if v.exceeds(opts.tolerance):
            raise RewriterError(f"relative L2 error {v.rel_l2:.3g} above {opts.tolerance:g}")
        return ZooRow(
            name,
            "written",
            len(sites),
            sum(1 for s in sites if s.replaced),
            w.speedup if w else None,
            (w.speedup_lo, w.speedup_hi) if w else None,
            v.rel_l2,
            v.cosine,
            time.perf_counter() - t0,
            _device_name(opts.target),
            output=out.SerializeToString(deterministic=True),
        )
    except RewriterError as e:
        return ZooRow(name, "failed", seconds=time.perf_counter() - t0, error=str(e))


def _device_name(target: str) -> str:
    from rewriter.cost.measure import current_measurer
    from rewriter.cost.targets import get_target

    return current_measurer().device(get_target(target)).where  # cached by the measurer


# -- the cluster side -----------------------------------------------------------------------
class LatencyStore:
    """The driver's ``LatencyDB`` as a Ray actor: what ``CostModel`` reads and writes."""

    def __init__(self, path: str) -> None:
        self.db = LatencyDB(path)

    def get(self, *key: Any) -> Any:
        return self.db.get(*key)

    def put(self, records: list[Any]) -> None:
        self.db.put(records)

    def put_hardware(self, hw: str, fingerprint: dict[str, Any]) -> None:
        self.db.put_hardware(hw, fingerprint)


class StoreProxy:
    """``LatencyDB``'s interface over a ``LatencyStore`` actor (one call per method)."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def _call(self, name: str, *args: Any) -> Any:
        import ray

        return ray.get(getattr(self.actor, name).remote(*args))

    def get(self, *key: Any) -> Any:
        return self._call("get", *key)

    def put(self, records: list[Any]) -> None:
        self._call("put", records)

    def put_hardware(self, hw: str, fingerprint: dict[str, Any]) -> None:
        self._call("put_hardware", hw, fingerprint)

    def close(self) -> None:
        pass


def _zoo_task(
    name: str, data: bytes, opts: ZooOptions, actor: Any, address: str, wait: float
) -> ZooRow:
    """One model as a Ray task: measurements to the devices, rows to the driver's store."""
    from rewriter.cost.measure import use_measurer

    from .cluster import RemoteMeasurer

    use_measurer(RemoteMeasurer(address, wait=wait, attach=False))
    try:
        return rewrite_one(name, data, opts, StoreProxy(actor))
    finally:
        use_measurer(None)


def run_zoo(
    folder: str,
    outdir: str,
    opts: ZooOptions,
    *,
    db: str | None = None,
    cluster: Any = None,
    on_row: Callable[[ZooRow], None] = lambda r: None,
) -> list[ZooRow]:
    """Rewrite every model of ``folder`` into ``outdir`` (see the module doc).

    Args:
        folder, outdir: input and output folders (outputs keep the input's file name).
        opts: what to do to each model.
        db: latency database path (default ``cost.db.default_db_path()``).
        cluster: a ``fleet.RemoteMeasurer`` attached to the cluster, or None (in-process).
        on_row: called with each model's row as it is written or skipped.

    Returns:
        One ``ZooRow`` per model, sorted by name.
    """
    import onnx
    from onnx.external_data_helper import uses_external_data

    from rewriter.ir import load_model, write_atomic
    from rewriter.ir.runtime import first_line

    rows: dict[str, ZooRow] = {}
    todo: list[str] = []
    names = output_names(zoo_models(folder))
    for name in names:
        if os.path.exists(os.path.join(outdir, names[name])):
            rows[name] = ZooRow(name, "skipped", error="already in the output folder")
            on_row(rows[name])
        else:
            todo.append(name)

    def done(row: ZooRow) -> None:
        if row.status == "written":
            write_atomic(os.path.join(outdir, names[row.model]), row.output)
        rows[row.model] = row
        on_row(row)

    def read(name: str) -> bytes | ZooRow:
        """The model's bytes for a cluster task, its external data (a ``.onnx.data`` beside it)
        included: the bytes alone made ONNX Runtime look for the data in the working folder."""
        path = os.path.join(folder, name)
        if name.endswith(".onnx"):
            with open(path, "rb") as f:
                data = f.read()
            m = onnx.load_model_from_string(data)
            if not any(uses_external_data(t) for t in m.graph.initializer):
                return data
        try:  # the project's loader: external data only from inside the model's folder; a
            # model of another framework converted here, once
            return load_model(path).SerializeToString()
        except RewriterError as e:  # a data file missing, or outside the folder
            return ZooRow(name, "failed", error=str(e))
        except ValueError as e:  # over protobuf's 2 GiB: the bytes cannot hold it
            return ZooRow(
                name,
                "failed",
                error=f"too large to send with its external data ({first_line(e)}); rewrite "
                f"it alone: rewrite {path} -o OUT.onnx",
            )

    if cluster is None:
        with LatencyDB(db) as ldb:
            for name in todo:  # from the path: the loader reads external data beside it
                done(rewrite_one(name, os.path.join(folder, name), opts, ldb))
    elif todo:
        _run_on_cluster(cluster, todo, read, opts, db, done)
    return [rows[k] for k in sorted(rows)]


def _run_on_cluster(
    cm: Any,
    todo: list[str],
    read: Callable[[str], bytes | ZooRow],
    opts: ZooOptions,
    db: str | None,
    done: Callable[[ZooRow], None],
) -> None:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from rewriter.cost.db import default_db_path
    from rewriter.cost.targets import get_target

    ray = cm.ray
    cm.device(get_target(opts.target))  # one line now when no device has the target
    here = ray.get_runtime_context().get_node_id()
    actor = (
        ray.remote(LatencyStore)
        .options(
            num_cpus=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
        )
        .remote(os.path.abspath(db or default_db_path()))
    )
    task = ray.remote(_zoo_task).options(num_cpus=1, max_retries=2)
    pending = {}
    for n in todo:
        data = read(n)
        if isinstance(data, ZooRow):
            done(data)
        else:
            pending[task.remote(n, ray.put(data), opts, actor, cm.address, cm.wait)] = n
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            name = pending.pop(ready[0])
            try:
                row = ray.get(ready[0])
            except ray.exceptions.RayError as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
                row = ZooRow(name, "failed", error=f"{type(e).__name__}: {first}")
            done(row)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        ray.kill(actor)
