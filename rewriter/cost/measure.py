"""Where measurements run: the one seam between "time these models" and the device that does it.

Every timing the cost model takes (a site's candidates, a whole model against its rewrite, the
original alone, ``rewrite bench``'s models) is one call::

    m = current_measurer()                    # LocalMeasurer() unless a cluster was attached
    dev = m.device(target)                    # whose fingerprint the results are recorded under
    cmp = m.compare(target, {"keep": m0, "pau": m1}, feeds, "keep", time_cap=4.0)
    fp = m.run(target, probe_fingerprint, target.spec)   # any other timing, on the device

``LocalMeasurer`` builds the sessions in this process and runs ``harness.compare``; a remote
measurer (``rewriter.fleet.RemoteMeasurer``) ships the model bytes to a Ray worker that holds
the target's device and runs the same two steps there, so a remote result is the result a local
measurement on that device would have given, and its ``Device`` (fingerprint computed on the
device) is what the latency database keys it by. ``use_measurer(m)`` installs one for the
process (``--cluster`` does); ``close_measurer()`` puts the local one back.

A device advertises a target to a cluster as the resource ``resource_name(target, hw)``:
``target/<canonical target>@<hardware key>``, e.g. ``target/ort-cpu:opt=all:threads=4@1a2b...``
(characters other than letters, digits and ``._-:=@/`` become ``_``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np
import onnx

from .harness import Comparison, compare
from .targets import Target, hardware_key

__all__ = [
    "Device",
    "Measurer",
    "LocalMeasurer",
    "current_measurer",
    "use_measurer",
    "close_measurer",
    "canonical_target",
    "resource_name",
    "parse_resource",
    "local_device",
    "RESOURCE_PREFIX",
]

RESOURCE_PREFIX = "target/"
T = TypeVar("T")


@dataclass(frozen=True)
class Device:
    """What measured: the database key fields of a result and the full fingerprint.

    Attributes:
        hw: hardware key (``targets.hardware_key()`` computed on the device).
        spec, runtime, version, threads: the target as the database keys it.
        fingerprint: ``Target.fingerprint()`` on the device.
        where: ``"local"`` or the cluster resource the device advertises.
    """

    hw: str
    spec: str
    runtime: str
    version: str
    threads: int
    fingerprint: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    where: str = "local"


class Measurer(Protocol):
    """Times models on a target's device (see the module doc)."""

    def device(self, target: Target) -> Device: ...

    def compare(
        self,
        target: Target,
        models: dict[str, onnx.ModelProto],
        feeds: dict[str, Any],
        baseline: str | None = None,
        **harness: Any,
    ) -> Comparison: ...

    def run(self, target: Target, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on ``target``'s device (a measurement that is not ``compare``: probes)."""
        ...

    def close(self) -> None: ...


def local_device(target: Target) -> Device:
    """This process's ``Device`` for ``target``."""
    return Device(
        hardware_key(),
        target.spec,
        target.runtime,
        target.version,
        target.threads,
        target.fingerprint(),
    )


def time_models(
    target: Target,
    models: dict[str, onnx.ModelProto],
    feeds: dict[str, Any],
    baseline: str | None = None,
    **harness: Any,
) -> Comparison:
    """One session per model on ``target``, all run on ``feeds``, timed interleaved."""
    runs = {k: target.session(m) for k, m in models.items()}
    fns: dict[str, Callable[[], Any]] = {k: functools.partial(r, feeds) for k, r in runs.items()}
    return compare(fns, baseline, **harness)


class LocalMeasurer:
    """Measures in this process, on this machine (the default)."""

    def device(self, target: Target) -> Device:
        return local_device(target)

    def compare(
        self,
        target: Target,
        models: dict[str, onnx.ModelProto],
        feeds: dict[str, Any],
        baseline: str | None = None,
        **harness: Any,
    ) -> Comparison:
        return time_models(target, models, feeds, baseline, **harness)

    def run(self, target: Target, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args)

    def close(self) -> None:
        pass


_LOCAL = LocalMeasurer()
_current: Measurer = _LOCAL


def current_measurer() -> Measurer:
    """The measurer of this process: local unless ``use_measurer`` installed another."""
    return _current


def use_measurer(m: Measurer | None) -> Measurer:
    """Install ``m`` (None: the local one) for this process; returns it."""
    global _current
    _current = m if m is not None else _LOCAL
    return _current


def close_measurer() -> None:
    """Close the installed measurer (a cluster connection) and go back to the local one."""
    global _current
    m, _current = _current, _LOCAL
    m.close()


def canonical_target(target: Target) -> str:
    """``name:key=value:...`` with every option that changes timings, threads included, sorted."""
    opts = {k: v for k, v in target.options.items() if k != "threads"}
    opts["threads"] = str(target.threads)
    return target.name + "".join(f":{k}={v}" for k, v in sorted(opts.items()))


_BAD = re.compile(r"[^A-Za-z0-9._\-:=@/]")


def resource_name(target: Target | str, hw: str) -> str:
    """The Ray resource a device advertises for ``target``: ``target/<canonical>@<hw>``.

    Ray accepts most strings, but placement groups claim ``*_group_*`` names and the CLI's
    ``--resources`` is JSON, so anything outside ``[A-Za-z0-9._-:=@/]`` becomes ``_``.
    """
    spec = target if isinstance(target, str) else canonical_target(target)
    name = RESOURCE_PREFIX + _BAD.sub("_", spec) + "@" + _BAD.sub("_", hw)
    return name.replace("_group_", "-group-")


def parse_resource(name: str) -> tuple[str, str] | None:
    """``(canonical target, hw)`` of a device resource name, None for other resources."""
    if not name.startswith(RESOURCE_PREFIX) or "@" not in name:
        return None
    spec, _, hw = name[len(RESOURCE_PREFIX) :].rpartition("@")
    return spec, hw


def comparison_payload(c: Comparison) -> Comparison:
    """``c`` without its raw samples (what travels back from a device)."""
    return Comparison(c.baseline, c.stats, c.ratios, c.rounds, c.number, c.seconds, c.converged, {})


def feeds_copy(feeds: dict[str, Any]) -> dict[str, np.ndarray]:
    """Plain contiguous arrays (what a remote device receives)."""
    return {k: np.ascontiguousarray(v) for k, v in feeds.items()}
