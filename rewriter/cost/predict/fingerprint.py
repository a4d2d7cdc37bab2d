"""Hardware fingerprints: static facts about the machine plus short measured probes on a runtime.

    fp = probe_fingerprint("ort-cpu:threads=1")
    fp["static"]["isa"]                 # ['avx', 'avx2', 'avx512f', ...]
    fp["probes"]["softplus"]            # ns per element of one Softplus kernel on that runtime
    probe_vector(fp)                    # log(ns/elem / copy ns/elem) per probe: similarity space

Static facts (``static_fingerprint``) extend ``rewriter.cost.targets.hardware_fingerprint`` (CPU
model, ISA flags, logical cores, caches) with physical cores, threads per core, sockets and
memory size; they are identical across calls on one machine.

Probes time tiny ONNX models on the *target runtime* (so they see its kernels and whether it
fuses elementwise chains): memory bandwidth (a large ``Add``), multiply-add throughput (a chain
of 8 Mul+Add on a cache-resident tensor) and reference activation kernels (Relu, Sigmoid, Tanh,
Erf, Exp, Softplus, HardSwish, the Mish and GELU chains and a (5,4) rational as emitted by
``rewrite``). Each is warmed up then timed ``repeats`` times; the median per element is kept.
Defaults take a few seconds per target (``torch-inductor`` compiles each probe: ~20 s).

Probe values are measurements: they vary from call to call by a few percent; the predictor uses
them on a log scale, relative to the bandwidth probe (``probe_vector``).

Probes are stored beside the latency database, in a table ``probes`` of the same SQLite file
(``store_probes`` / ``load_probes``): one row per hardware, target, runtime, version, threads.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sqlite3
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rewriter.cost.targets import Target, get_target, hardware_fingerprint, hardware_key

__all__ = [
    "PROBES",
    "static_fingerprint",
    "probe_fingerprint",
    "probe_vector",
    "probe_model",
    "store_probes",
    "load_probes",
    "target_key",
]

# name -> what it measures; order is the order of ``probe_vector``
PROBES: dict[str, str] = {
    "copy": "memory bandwidth: y = x + x on a tensor larger than L2",
    "fma": "multiply-add throughput: 8 x (Mul, Add) on a cache-resident tensor",
    "relu": "Relu",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "erf": "Erf",
    "exp": "Exp",
    "softplus": "Softplus",
    "hardswish": "HardSwish",
    "mish_chain": "x * Tanh(Softplus(x))",
    "gelu_chain": "x * 0.5 * (1 + Erf(x / sqrt 2)) (fusable into Gelu)",
    "rational_5_4": "(5,4) rational for GELU as emitted by rewrite",
}


def _meminfo_gb() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _topology() -> dict[str, int]:
    """Physical cores, threads per core and sockets from /proc/cpuinfo (Linux; else logical only)."""
    cores: set[tuple[str, str]] = set()
    sockets: set[str] = set()
    phys, core = "0", "0"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, val = line.partition(":")
                key, val = key.strip(), val.strip()
                if key == "physical id":
                    phys = val
                    sockets.add(val)
                elif key == "core id":
                    core = val
                elif not key and not val:
                    cores.add((phys, core))
    except OSError:
        pass
    logical = os.cpu_count() or 1
    physical = len(cores) or logical
    return {
        "logical_cores": logical,
        "physical_cores": physical,
        "threads_per_core": max(1, logical // physical),
        "sockets": max(1, len(sockets)),
    }


def static_fingerprint() -> dict[str, Any]:
    """Facts that do not change while the machine runs: identical across calls.

    Example:
        >>> fp = static_fingerprint()
        >>> sorted(fp)[:4]
        ['caches', 'cores', 'cpu', 'has_amx']
    """
    base = dict(hardware_fingerprint())
    isa = set(base.get("isa", []))
    return {
        **base,
        **_topology(),
        "memory_gb": _meminfo_gb(),
        "system": platform.system(),
        "has_avx2": "avx2" in isa,
        "has_avx512": "avx512f" in isa,
        "has_amx": any(f.startswith("amx") for f in isa),
        "hw": hardware_key(),
    }


# -- probe models ---------------------------------------------------------------------------
def _const(inits: list[TensorProto], name: str, v: float) -> str:
    inits.append(numpy_helper.from_array(np.array(v, np.float32), name))
    return name


def probe_model(name: str, n: int) -> onnx.ModelProto:
    """The ONNX model of probe ``name`` on a float32 vector of ``n`` elements (x -> y)."""
    mk = helper.make_node
    inits: list[TensorProto] = []
    c = lambda k, v: _const(inits, k, v)  # noqa: E731
    native = {
        "relu": "Relu",
        "sigmoid": "Sigmoid",
        "tanh": "Tanh",
        "erf": "Erf",
        "exp": "Exp",
        "softplus": "Softplus",
        "hardswish": "HardSwish",
    }
    if name == "copy":
        nodes = [mk("Add", ["x", "x"], ["y"])]
    elif name == "fma":
        nodes, v = [], "x"
        for i in range(8):  # dependent chain: y = (v * a + b) ..., no way to skip a step
            nodes += [
                mk("Mul", [v, c(f"a{i}", 0.999)], [f"m{i}"]),
                mk("Add", [f"m{i}", c(f"b{i}", 0.001)], [f"s{i}" if i < 7 else "y"]),
            ]
            v = f"s{i}"
    elif name in native:
        nodes = [mk(native[name], ["x"], ["y"])]
    elif name == "mish_chain":
        nodes = [
            mk("Softplus", ["x"], ["sp"]),
            mk("Tanh", ["sp"], ["t"]),
            mk("Mul", ["x", "t"], ["y"]),
        ]
    elif name == "gelu_chain":
        nodes = [
            mk("Div", ["x", c("sq2", math.sqrt(2.0))], ["d"]),
            mk("Erf", ["d"], ["e"]),
            mk("Add", ["e", c("one", 1.0)], ["a"]),
            mk("Mul", ["x", "a"], ["m"]),
            mk("Mul", ["m", c("half", 0.5)], ["y"]),
        ]
    elif name == "rational_5_4":
        from rewriter.rational import emit_onnx, table_rational

        nodes, rinits = emit_onnx(
            table_rational("gelu", degrees=(5, 4)), "x", "y", prefix="p/", const_prefix="c/"
        )
        inits += rinits
    else:
        raise KeyError(f"unknown probe {name!r}; known: {', '.join(PROBES)}")
    g = helper.make_graph(
        nodes,
        f"probe_{name}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n])],
        inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _bind(
    run: Callable[[dict[str, np.ndarray]], Any], feeds: dict[str, np.ndarray]
) -> Callable[[], Any]:
    return lambda: run(feeds)


def _time_ns_per_elem(run: Callable[[], Any], n: int, repeats: int, budget: float) -> float:
    run()  # first call: allocation, kernel selection, compilation
    t_end = time.perf_counter() + budget
    for _ in range(2):
        run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() > t_end and len(times) >= 3:
            break
    return statistics.median(times) * 1e9 / n


def probe_fingerprint(
    target: str | Target,
    *,
    n: int = 1 << 16,
    copy_n: int = 1 << 22,
    repeats: int = 15,
    probes: tuple[str, ...] | None = None,
    budget: float = 1.0,
) -> dict[str, Any]:
    """Static facts plus measured probes (ns per element) of ``target``'s runtime.

    Args:
        target: a target string (``ort-cpu:threads=1``) or ``Target``.
        n: elements of the activation and multiply-add probes (small: cache-resident).
        copy_n: elements of the bandwidth probe (large: past L2).
        repeats: timed runs per probe after 3 warm-up runs (median kept).
        probes: which probes (default all of ``PROBES``).
        budget: seconds at most per probe for the timed runs.

    Returns:
        ``{"static": static_fingerprint(), "target": spec, "runtime", "version", "threads",
        "probes": {name: ns_per_element}, "probe_n": n, "seconds": wall time}``.

    Example:
        >>> fp = probe_fingerprint("ort-cpu", n=4096, copy_n=65536, repeats=3)   # doctest: +SKIP
        >>> fp["probes"]["relu"] < fp["probes"]["softplus"]                       # doctest: +SKIP
        True
    """
    t = get_target(target)
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    out: dict[str, float] = {}
    for name in probes or tuple(PROBES):
        size = copy_n if name == "copy" else n
        x = rng.uniform(-3, 3, size).astype(np.float32)
        if (
            t.name == "torch-inductor"
        ):  # one compiled graph per probe: stay under dynamo's recompile limit
            import torch

            torch._dynamo.reset()
        run = t.session(probe_model(name, size))
        out[name] = _time_ns_per_elem(_bind(run, {"x": x}), size, repeats, budget)
    return {
        "static": static_fingerprint(),
        "target": t.spec,
        "runtime": t.runtime,
        "version": t.version,
        "threads": t.threads,
        "probes": out,
        "probe_n": n,
        "seconds": time.perf_counter() - t0,
    }


def probe_vector(fp: dict[str, Any], names: tuple[str, ...] = tuple(PROBES)) -> np.ndarray:
    """Probes as ``log(ns/elem)`` relative to the bandwidth probe (``copy`` itself: absolute log).

    Relative values make targets comparable across machines of different speed: what matters
    for a ranking is how a kernel compares to a memory pass on the same runtime.
    """
    p = fp.get("probes", fp)
    ref = float(p.get("copy", 1.0)) or 1.0
    return np.array(
        [
            math.log(max(float(p.get(k, ref)), 1e-6) / ref)
            if k != "copy"
            else math.log(max(ref, 1e-6))
            for k in names
        ]
    )


# -- storage beside the latency database ------------------------------------------------------
_PROBE_SCHEMA = """CREATE TABLE IF NOT EXISTS probes (
    hw TEXT NOT NULL, target TEXT NOT NULL, runtime TEXT NOT NULL, version TEXT NOT NULL,
    threads INTEGER NOT NULL, fingerprint TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (hw, target, runtime, version, threads))"""


def target_key(hw: str, target: str, runtime: str, version: str, threads: int) -> str:
    """One string naming a (hardware, target, runtime version, threads) combination."""
    return f"{hw}|{target}|{runtime}|{version}|t{threads}"


def store_probes(db_path: str, fp: dict[str, Any]) -> None:
    """Insert or replace ``fp`` (from ``probe_fingerprint``) in the ``probes`` table of ``db_path``."""
    con = sqlite3.connect(db_path, timeout=60)
    try:
        con.execute(_PROBE_SCHEMA)
        con.execute(
            "INSERT OR REPLACE INTO probes VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                fp["static"]["hw"],
                fp["target"],
                fp["runtime"],
                fp["version"],
                int(fp["threads"]),
                json.dumps(fp, sort_keys=True),
                time.time(),
            ),
        )
        con.commit()
    finally:
        con.close()


def load_probes(db_path: str) -> dict[str, dict[str, Any]]:
    """``target_key -> fingerprint`` for every probe row in ``db_path`` (empty if none)."""
    con = sqlite3.connect(db_path, timeout=60)
    try:
        con.execute(_PROBE_SCHEMA)
        rows = con.execute(
            "SELECT hw, target, runtime, version, threads, fingerprint FROM probes"
        ).fetchall()
    finally:
        con.close()
    return {target_key(*r[:5]): json.loads(r[5]) for r in rows}
