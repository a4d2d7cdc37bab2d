"""Measuring on a Ray cluster's devices: ``RemoteMeasurer`` and what a device worker advertises.

Layout of a cluster::

    head:    ray start --head --port=6379                       # schedules; may run zoo tasks
    device:  rewrite worker --target ort-cpu:threads=4 --address HEAD
             # = ray start --address HEAD --num-cpus 0 --block
             #     --resources '{"target/ort-cpu:opt=all:threads=4@<hw key>": 1}'
    driver:  rewrite model.onnx --target ort-cpu:threads=4 --cluster HEAD -o out.onnx

A device worker advertises one unit of ``measure.resource_name(target, hw)`` (the hardware key
computed on that machine, the one its local measurements are recorded under) and no CPUs, so
nothing but measurements runs there; every measurement task asks for one unit, so timings on one
device never overlap. ``RemoteMeasurer.compare`` puts the model bytes in Ray's object store,
runs ``measure.time_models`` on a worker that holds the resource (retried elsewhere, up to
``retries`` times, when that worker dies) and returns the comparison and the device's
``Device``; the caller (``CostModel``) writes each result to the database as it returns.

Failures are one line each (``FleetError``): Ray not installed (names the extra), the head not
reachable (a TCP check first, so nothing hangs), no live worker advertising the target after
``wait`` seconds, the only such worker leaving mid-measurement.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from collections import OrderedDict
from typing import Any

import onnx

from rewriter.cost.harness import Comparison
from rewriter.cost.measure import (
    Device,
    canonical_target,
    comparison_payload,
    feeds_copy,
    local_device,
    parse_resource,
    resource_name,
    time_models,
)
from rewriter.cost.targets import Target, get_target, hardware_key
from rewriter.errors import RewriterError, UsageError

__all__ = [
    "FleetError",
    "RemoteMeasurer",
    "require_ray",
    "check_reachable",
    "device_resources",
    "DEFAULT_WAIT",
]

DEFAULT_WAIT = 10.0  # seconds; PAU_REWRITER_CLUSTER_WAIT overrides
LABEL_ENV = "PAU_REWRITER_DEVICE_LABEL"
_REMOTE: dict[Any, Any] = {}  # function -> its Ray remote function (exported once per process)


class FleetError(RewriterError):
    """The cluster cannot do what was asked (exit code 1); the message says what to do."""

    exit_code = 1


def require_ray() -> Any:
    """``import ray``, or one line naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise UsageError(
            "--cluster and `rewrite worker` need Ray: pip install 'pau-rewriter[ray]'"
        ) from None
    return ray


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) to probe for ``address`` (``HOST[:PORT]`` or ``ray://HOST[:PORT]``)."""
    if address in ("auto", "local"):
        return None
    client = address.startswith("ray://")
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep:
        host, port = rest, ""
    try:
        return host or "127.0.0.1", int(port) if port else (10001 if client else 6379)
    except ValueError:
        raise UsageError(
            f"--cluster {address!r}: expected HOST:PORT or ray://HOST:PORT, e.g. 10.0.0.5:6379"
        ) from None


def check_reachable(address: str, timeout: float = 3.0) -> None:
    """One line unless something listens at the head's address (no Ray call can hang on it)."""
    hp = _host_port(address)
    if hp is None:
        return
    try:
        socket.create_connection(hp, timeout=timeout).close()
    except OSError as e:
        raise FleetError(
            f"cannot reach the Ray head at {address} ({e.strerror or type(e).__name__}); "
            "start it there with `ray start --head --port=PORT`, or check --cluster HOST:PORT"
        ) from None


def connect(address: str) -> Any:
    """Attach this process to the cluster at ``address`` (quietly); returns the ray module."""
    ray = require_ray()
    check_reachable(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        ray.shutdown()

    err = _init(ray, address)
    for pause in (2.0, 10.0):
        if err is None or "Initialization failure" not in str(err):
            break
        # a Ray client's server process for this driver did not come up in time (the head's
        # proxy waits RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S, 30 s by default; seen on a
        # loaded 2-core machine, once even after one retry): twice more, then say why
        if ray.is_initialized():
            ray.shutdown()
        time.sleep(pause)
        err = _init(ray, address)
    if err is not None:  # ConnectionError, version mismatch, missing ray[client] for ray://
        # all of it on one line: a Ray client's "Initialization failure from server:" puts the
        # server's reason on the next line
        said = "; ".join(ln.strip() for ln in str(err).splitlines() if ln.strip())
        said = (said or type(err).__name__)[:400]
        missing = isinstance(err, ImportError) or "No module named" in said or "ray[client]" in said
        hint = ""
        if address.startswith("ray://") and missing:
            hint = " (ray:// needs pip install 'ray[client]')"
        elif "Initialization failure" in said:
            hint = (
                " (the head's client server did not start in time: on a busy head, start it"
                " with RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S=180 in its environment)"
            )
        raise FleetError(f"cannot attach to the Ray cluster at {address}: {said}{hint}")
    return ray


def _init(ray: Any, address: str) -> Exception | None:
    """Attach quietly; the exception when that fails, else None."""
    try:
        ray.init(
            address=address,
            logging_level=logging.ERROR,
            log_to_driver=False,
            configure_logging=True,
        )
    except Exception as e:  # noqa: BLE001 - said by connect, in one line
        return e
    return None


def device_resources(ray: Any) -> dict[str, float]:
    """Device resources of the live nodes: ``resource name -> units`` (one per device)."""
    return {k: v for k, v in ray.cluster_resources().items() if parse_resource(k) is not None}


# -- tasks (run on a device worker) ---------------------------------------------------------
def _device_task(spec: str, resource: str) -> Device | dict[str, str]:
    try:
        t = get_target(spec)
    except RewriterError as e:
        return {"error": str(e), "kind": type(e).__name__}
    d = local_device(t)
    return Device(d.hw, d.spec, d.runtime, d.version, d.threads, d.fingerprint, resource)


def _measure_task(
    spec: str,
    names: list[str],
    baseline: str | None,
    harness: dict[str, Any],
    feeds: dict[str, Any],
    *blobs: bytes,
) -> Comparison | dict[str, str]:
    try:
        t = get_target(spec)
        models = {n: onnx.load_from_string(b) for n, b in zip(names, blobs, strict=True)}
        return comparison_payload(time_models(t, models, feeds, baseline, **harness))
    except RewriterError as e:  # a runtime refusing a model: the driver raises it as one line
        return {"error": str(e), "kind": type(e).__name__}


def _run_task(fn: Any, args: tuple[Any, ...]) -> Any:
    try:
        return fn(*args)
    except RewriterError as e:
        return {"error": str(e), "kind": type(e).__name__}


def _raise_remote(out: dict[str, str], where: str) -> None:
    from rewriter import errors

    cls = getattr(errors, out.get("kind", ""), RewriterError)
    cls = cls if isinstance(cls, type) and issubclass(cls, RewriterError) else RewriterError
    raise cls(f"{out['error']} (on the device {where})")


class RemoteMeasurer:
    """Measures on the cluster's device workers (see the module doc).

    Args:
        address: the head, ``HOST:PORT`` or ``ray://HOST:PORT``.
        wait: seconds to wait for a worker advertising a target before one line says none does
            (default ``$PAU_REWRITER_CLUSTER_WAIT`` or ``DEFAULT_WAIT``); also how long a device
            may be gone mid-measurement.
        retries: Ray task retries when the worker running a measurement dies.
        attach: connect this process (False inside a Ray task, already attached).
        pin: ``canonical target -> resource`` when several devices advertise one target.

    Example:
        >>> from rewriter.cost.measure import use_measurer                    # doctest: +SKIP
        >>> use_measurer(RemoteMeasurer("10.0.0.5:6379"))                     # doctest: +SKIP
        >>> rewriter.plan(model, target="ort-cpu:threads=4")  # timed on the device  # doctest: +SKIP
    """

    def __init__(
        self,
        address: str,
        *,
        wait: float | None = None,
        retries: int = 3,
        attach: bool = True,
        pin: dict[str, str] | None = None,
    ) -> None:
        self.address = address
        self.wait = (
            float(os.environ.get("PAU_REWRITER_CLUSTER_WAIT", DEFAULT_WAIT))
            if wait is None
            else wait
        )
        self.retries = retries
        self.pin = dict(pin or {})
        self.ray = connect(address) if attach else require_ray()
        self._own = attach
        self._devices: dict[str, Device] = {}
        self._refs: OrderedDict[str, Any] = OrderedDict()  # model digest -> ObjectRef

    # -- devices ----------------------------------------------------------------------------
    def join_address(self) -> str:
        """What ``rewrite worker --address`` takes to join this cluster: the head's GCS
        ``HOST:PORT``, also when this driver came in through a Ray client (``ray://``), whose
        port a worker cannot join."""
        if not self.address.startswith("ray://"):
            return self.address
        try:
            return str(self.ray.get_runtime_context().gcs_address) or self.address
        except Exception:  # noqa: BLE001 - the hint falls back to what the user gave
            return self.address

    def devices(self) -> list[str]:
        """Every device resource in the cluster now, sorted."""
        return sorted(device_resources(self.ray))

    def pinned(self, resource: str) -> RemoteMeasurer:
        """A view of this measurer that measures ``resource``'s target on that device only."""
        parsed = parse_resource(resource)
        assert parsed is not None, resource
        view = object.__new__(RemoteMeasurer)
        view.__dict__.update(self.__dict__)
        view.pin = {**self.pin, parsed[0]: resource}
        view._devices = {}
        view._own = False
        return view

    def resource_for(self, target: Target) -> str:
        """The resource of a device for ``target``, waiting up to ``wait`` s for one to join."""
        canon = canonical_target(target)
        want = self.pin.get(canon)
        prefix = resource_name(canon, "")  # "target/<canon>@"
        deadline = time.monotonic() + self.wait
        while True:
            have = sorted(r for r in device_resources(self.ray) if r.startswith(prefix))
            if want in have:
                return want
            if have and want is None:
                return have[0]
            if time.monotonic() > deadline:
                raise FleetError(
                    f"no worker in the cluster at {self.address} advertises target {canon}; "
                    f"start one with `rewrite worker --target {canon} --address {self.join_address()}`"
                )
            time.sleep(0.25)

    def device(self, target: Target) -> Device:
        canon = canonical_target(target)
        if canon not in self._devices:
            res = self.resource_for(target)
            task = self._task(_device_task, res)
            out = self._get(task.remote(canon, res), res, canon)
            if isinstance(out, dict):
                _raise_remote(out, res)
            self._devices[canon] = out
        return self._devices[canon]

    # -- measurements -----------------------------------------------------------------------
    def _task(self, fn: Any, res: str) -> Any:
        """``fn`` as a Ray task holding the whole unit of device resource ``res``: one timing at
        a time per device, no CPU claimed (device workers advertise none), retried on death."""
        if fn not in _REMOTE:
            _REMOTE[fn] = self.ray.remote(fn)
        return _REMOTE[fn].options(num_cpus=0, resources={res: 1}, max_retries=self.retries)

    def _put(self, m: onnx.ModelProto) -> Any:
        blob = m.SerializeToString(deterministic=True)
        key = hashlib.sha1(blob).hexdigest()
        if key not in self._refs:  # the original of a back-off is shipped once
            self._refs[key] = self.ray.put(blob)
            while len(self._refs) > 16:
                self._refs.popitem(last=False)
        self._refs.move_to_end(key)
        return self._refs[key]

    def compare(
        self,
        target: Target,
        models: dict[str, onnx.ModelProto],
        feeds: dict[str, Any],
        baseline: str | None = None,
        **harness: Any,
    ) -> Comparison:
        canon = canonical_target(target)
        res = self.device(target).where
        refs = [self._put(m) for m in models.values()]
        task = self._task(_measure_task, res)
        ref = task.remote(canon, list(models), baseline, harness, feeds_copy(feeds), *refs)
        out = self._get(ref, res, canon)
        if isinstance(out, dict):
            _raise_remote(out, res)
        return out  # type: ignore[no-any-return]

    def run(self, target: Target, fn: Any, *args: Any) -> Any:
        canon = canonical_target(target)
        res = self.device(target).where
        task = self._task(_run_task, res)
        out = self._get(task.remote(fn, args), res, canon)
        if isinstance(out, dict) and set(out) == {"error", "kind"}:
            _raise_remote(out, res)
        return out

    def _get(self, ref: Any, res: str, canon: str) -> Any:
        """The task's result; one line when its device left the cluster or it failed."""
        ray = self.ray
        gone_since: float | None = None
        while not ray.wait([ref], timeout=1.0)[0]:
            if res in device_resources(ray):
                gone_since = None
                continue
            gone_since = gone_since or time.monotonic()
            if time.monotonic() - gone_since > self.wait:
                try:
                    ray.cancel(ref, force=True)
                except Exception:
                    pass
                raise FleetError(
                    f"the worker for target {canon} left the cluster at {self.address} "
                    "mid-measurement and no other advertises it; measurements already returned "
                    f"are in the database; start one with `rewrite worker --target {canon} "
                    f"--address {self.join_address()}` and rerun"
                )
        try:
            return ray.get(ref)
        except ray.exceptions.RayError as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise FleetError(
                f"a measurement on {canon} failed on the cluster at {self.address} after "
                f"{self.retries} retries ({type(e).__name__}: {first}); results already "
                "returned are in the database; rerun to measure the rest"
            ) from None

    def close(self) -> None:
        if self._own and self.ray.is_initialized():
            self.ray.shutdown()


def worker_identity(target: str, label: str | None = None) -> tuple[Target, str, str]:
    """(Target, hardware key, resource name) a device worker advertises on this machine.

    ``label`` (``rewrite worker --label``) joins the hardware fingerprint, for two devices the
    CPU model cannot tell apart (two containers with different CPU limits on one host).
    """
    if label:
        os.environ[LABEL_ENV] = label
    from rewriter.cost.targets import hardware_fingerprint

    hardware_fingerprint.cache_clear()
    t = get_target(target)
    hw = hardware_key()
    return t, hw, resource_name(t, hw)
