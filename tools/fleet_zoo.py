"""`rewrite zoo` on a local Ray cluster with 1 and with 2 device workers: wall time and bytes.

    python tools/fleet_zoo.py [--models 6] [--time-cap 0.5] [--target ort-cpu:threads=1]

Builds a folder of small models whose decisions on ONNX Runtime CPU are clear-cut (Mish CNNs,
where a rewrite wins by ~2x; erf-GELU MLPs, where ORT's fused Gelu wins), starts a head
(``ray start --head``, its CPUs plan the models) and N device workers (``rewrite worker``, same
target; Ray spreads measurements over them), runs ``rewrite zoo DIR --cluster HEAD`` into a fresh
folder with a fresh database for N = 1 and N = 2, and prints the wall times, the speed-up and
whether the two output folders are byte-identical (and identical to an in-process run).
Everything it starts is stopped (process groups) at the end, also on errors.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RAY = os.path.join(os.path.dirname(sys.executable), "ray")


def mish_cnn(seed: int, ch: int = 16, hw: int = 32) -> onnx.ModelProto:
    """Conv -> Mish -> Conv -> Mish on 1 x ch x hw x hw (Softplus/Tanh/Mul: a rewrite wins)."""
    rng = np.random.default_rng(seed)

    def w(*s: int) -> onnx.TensorProto:
        return numpy_helper.from_array(
            (rng.standard_normal(s) / np.sqrt(np.prod(s[1:]))).astype(np.float32)
        )

    inits = [w(ch, 3, 3, 3), w(ch, ch, 3, 3)]
    inits[0].name, inits[1].name = "w1", "w2"
    mk = helper.make_node
    nodes = [mk("Conv", ["x", "w1"], ["h1"], pads=[1, 1, 1, 1])]
    nodes += [mk("Softplus", ["h1"], ["s1"]), mk("Tanh", ["s1"], ["t1"])]
    nodes += [mk("Mul", ["h1", "t1"], ["y1"])]
    nodes += [mk("Conv", ["y1", "w2"], ["h2"], pads=[1, 1, 1, 1])]
    nodes += [mk("Softplus", ["h2"], ["s2"]), mk("Tanh", ["s2"], ["t2"])]
    nodes += [mk("Mul", ["h2", "t2"], ["y"])]
    g = helper.make_graph(
        nodes,
        f"mish_cnn_{seed}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, hw, hw])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, ch, hw, hw])],
        inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def gelu_mlp(seed: int, d: int = 64, tokens: int = 32) -> onnx.ModelProto:
    """MatMul + bias -> erf GELU (ORT fuses it: keeping it wins)."""
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array((rng.standard_normal((d, 4 * d)) / 8).astype(np.float32), "W"),
        numpy_helper.from_array((rng.standard_normal(4 * d) / 10).astype(np.float32), "B"),
        numpy_helper.from_array(np.array(1.4142135, np.float32), "sq2"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        numpy_helper.from_array(np.array(0.5, np.float32), "half"),
    ]
    mk = helper.make_node
    nodes = [
        mk("MatMul", ["x", "W"], ["mm"]),
        mk("Add", ["mm", "B"], ["h"]),
        mk("Div", ["h", "sq2"], ["d"]),
        mk("Erf", ["d"], ["e"]),
        mk("Add", ["e", "one"], ["a"]),
        mk("Mul", ["h", "a"], ["m"]),
        mk("Mul", ["m", "half"], ["y"]),
    ]
    g = helper.make_graph(
        nodes,
        f"gelu_mlp_{seed}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, tokens, d])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, tokens, 4 * d])],
        inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def make_models(folder: str, n: int) -> list[str]:
    """``n`` models in ``folder`` (Mish CNNs and GELU MLPs alternating, each of its own size);
    their file names."""
    os.makedirs(folder, exist_ok=True)
    names = []
    for i in range(n):  # distinct shapes: no model reuses another's site measurements
        m = mish_cnn(i, ch=8 * (1 + i // 2)) if i % 2 == 0 else gelu_mlp(i, d=32 * (1 + i // 2))
        name = f"{'mish_cnn' if i % 2 == 0 else 'gelu_mlp'}_{i}.onnx"
        onnx.save(m, os.path.join(folder, name))
        names.append(name)
    return names


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalCluster:
    """A head and device workers on this machine, each its own process group; ``stop`` kills all."""

    def __init__(self, head_cpus: int = 2, object_store: int = 100_000_000) -> None:
        self.tmp = tempfile.mkdtemp(prefix="pau-ray-", dir="/tmp")  # short: Ray's socket paths
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.client_address = f"ray://127.0.0.1:{free_port()}"  # Ray client (ray://) server
        self.env = {
            **os.environ,
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_health_check_period_ms": "500",  # a dead node is noticed in ~2 s, not ~15
            "RAY_health_check_failure_threshold": "3",
            # the head's Ray client proxy waits this long for the server process it starts per
            # ray:// driver (default 30 s): on 2 cores busy with the test suite that start took
            # longer once (stop 45's CI: "Starting Ray client server failed")
            "RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S": "180",
        }
        self.procs: list[subprocess.Popen[bytes]] = []
        self.object_store = object_store
        self._start(
            [
                RAY,
                "start",
                "--head",
                f"--port={self.port}",
                f"--ray-client-server-port={self.client_address.rsplit(':', 1)[1]}",
                f"--num-cpus={head_cpus}",
                f"--object-store-memory={object_store}",
                "--include-dashboard=false",
                "--disable-usage-stats",
                f"--temp-dir={self.tmp}/t",
                "--block",
            ],
            "head",
        )

    def _start(self, cmd: list[str], name: str, env: dict[str, str] | None = None) -> Any:
        log = open(os.path.join(self.tmp, f"{name}.log"), "wb")
        p = subprocess.Popen(
            cmd, env=env or self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append(p)
        return p

    def worker(self, target: str, label: str | None = None, name: str = "") -> Any:
        cmd = [sys.executable, "-m", "rewriter", "worker", "--target", target]
        cmd += ["--address", self.address, "--object-store-memory", str(self.object_store)]
        cmd += ["--label", label] if label else []
        return self._start(cmd, name or f"worker{len(self.procs)}")

    def wait_for(self, resources: dict[str, float], timeout: float = 60.0) -> None:
        """Until the cluster has at least ``resources`` (name prefixes summed), polled from this
        process (attached for the wait only)."""
        import logging

        import ray

        deadline = time.time() + timeout
        while True:  # until the head listens
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError(f"head not up; see {self.tmp}/head.log") from None
                time.sleep(0.2)
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(address=self.address, logging_level=logging.ERROR, log_to_driver=False)
        try:
            while time.time() < deadline:
                have = ray.cluster_resources()
                if all(
                    sum(v for k, v in have.items() if k.startswith(w)) >= n
                    for w, n in resources.items()
                ):
                    return
                time.sleep(0.2)
            raise RuntimeError(f"cluster lacks {resources} after {timeout} s: {self.logs()}")
        finally:
            ray.shutdown()

    def logs(self) -> str:
        """The last line of each process's log (what a failed start said)."""
        out = []
        for f in sorted(os.listdir(self.tmp)):
            if f.endswith(".log"):
                lines = open(os.path.join(self.tmp, f), errors="replace").read().splitlines()
                out.append(f"{f}: {lines[-1] if lines else '(empty)'}")
        return "; ".join(out)

    def stop_one(self, p: Any) -> None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(timeout=30)

    def stop(self) -> None:
        for p in reversed(self.procs):
            self.stop_one(p)
        shutil.rmtree(self.tmp, ignore_errors=True)


def digest(folder: str) -> dict[str, str]:
    return {
        f: hashlib.sha1(open(os.path.join(folder, f), "rb").read()).hexdigest()
        for f in sorted(os.listdir(folder))
        if f.endswith(".onnx")
    }


def run_zoo(folder: str, out: str, db: str, target: str, cap: float, cluster: str | None) -> float:
    cmd = [sys.executable, "-m", "rewriter", "zoo", folder, "-o", out, "--target", target]
    cmd += ["--db", db, "--time-cap", str(cap), "-q"] + (["--cluster", cluster] if cluster else [])
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()[-800:]}")
    print(r.stdout)
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=6)
    ap.add_argument("--time-cap", type=float, default=0.5)
    ap.add_argument("--target", default="ort-cpu:threads=1")
    ap.add_argument("--head-cpus", type=int, default=2)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="fleet-zoo-")
    models = os.path.join(work, "models")
    make_models(models, a.models)
    times: dict[str, float] = {}
    outs: dict[str, str] = {}
    try:
        outs["local"] = os.path.join(work, "out-local")
        times["local"] = run_zoo(
            models, outs["local"], f"{work}/local.sqlite", a.target, a.time_cap, None
        )
        for n in (1, 2):
            c = LocalCluster(head_cpus=a.head_cpus)
            try:
                c.wait_for({"CPU": a.head_cpus})  # a worker needs a listening head
                for i in range(n):  # one at a time: nodes starting together race for ports
                    c.worker(a.target, name=f"dev{i}")
                    c.wait_for({"CPU": a.head_cpus, "target/": i + 1})
                key = f"{n} worker{'s' if n > 1 else ''}"
                outs[key] = os.path.join(work, f"out-{n}")
                times[key] = run_zoo(
                    models, outs[key], f"{work}/db{n}.sqlite", a.target, a.time_cap, c.address
                )
            finally:
                c.stop()
        d = {k: digest(v) for k, v in outs.items()}
        print(
            f"{a.models} models, target {a.target}, --time-cap {a.time_cap}, {os.cpu_count()} cores"
        )
        for k, v in times.items():
            print(f"  {k:<10} {v:7.1f} s")
        print(f"  speed-up 2 workers vs 1: x{times['1 worker'] / times['2 workers']:.2f}")
        same = d["1 worker"] == d["2 workers"]
        print(f"  outputs 1 vs 2 workers byte-identical: {same} ({len(d['1 worker'])} files)")
        print(f"  outputs cluster vs in-process byte-identical: {d['1 worker'] == d['local']}")
        for f in d["local"]:
            if len({d[k].get(f) for k in d}) > 1:
                print(f"    differs: {f}: " + ", ".join(f"{k} {d[k].get(f, '-')[:8]}" for k in d))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
