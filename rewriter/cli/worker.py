"""``rewrite worker --target T --address HEAD``: join a Ray cluster as the device for target T.

Runs ``ray start --address HEAD --block`` with one unit of the custom resource
``target/<canonical target>@<hardware key>`` (``rewriter.cost.measure.resource_name``; the
hardware key is the one local measurements on this machine are recorded under) and, by
default, no CPUs, so the cluster schedules nothing but measurements here, one at a time. Stays
in the foreground until interrupted (Ctrl-C stops the node).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

from rewriter.cli.common import Parser
from rewriter.errors import RewriterError, UsageError


def main(argv: list[str]) -> int:
    p = Parser(
        prog="rewrite worker",
        description="Join the Ray cluster at --address as the measuring device for --target.",
    )
    p.add_argument("--target", required=True, help="NAME[:key=value,...], e.g. ort-cpu:threads=4")
    p.add_argument("--address", required=True, help="the head, HOST:PORT (ray start --head ...)")
    p.add_argument(
        "--num-cpus",
        type=int,
        default=0,
        help="CPUs offered to other work such as `rewrite zoo` planning (default 0: only "
        "measurements run here, so nothing disturbs a timing)",
    )
    p.add_argument(
        "--object-store-memory", type=int, help="bytes of Ray object store (default Ray's)"
    )
    p.add_argument(
        "--label",
        help="joins the hardware fingerprint: tells apart devices /proc cannot (e.g. containers "
        "with different CPU limits on one host)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the ray start command, run none")
    a = p.parse_args(argv)
    from rewriter.fleet import check_reachable, require_ray
    from rewriter.fleet.cluster import worker_identity

    require_ray()
    t, hw, res = worker_identity(a.target, a.label)
    ray_exe = os.path.join(os.path.dirname(sys.executable), "ray")
    ray_exe = ray_exe if os.path.exists(ray_exe) else (shutil.which("ray") or "ray")
    cmd = [
        ray_exe,
        "start",
        "--address",
        a.address,
        "--num-cpus",
        str(a.num_cpus),
        "--resources",
        json.dumps({res: 1}),
        "--disable-usage-stats",
        "--block",
    ]
    if a.object_store_memory:
        cmd += ["--object-store-memory", str(a.object_store_memory)]
    print(f"rewrite worker: {t} (hardware {hw}) joins {a.address} as {res}", flush=True)
    if a.dry_run:
        print(" ".join(cmd))
        return 0
    check_reachable(a.address)
    # with no CPUs Ray keeps no idle worker process: every measurement after a pause would
    # start one and import the runtimes again (~5 s); keep one warm
    env = {
        "RAY_num_workers_soft_limit": str(max(1, a.num_cpus)),
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    if a.num_cpus < 0:
        raise UsageError(f"--num-cpus {a.num_cpus}: must be >= 0")
    proc = subprocess.Popen(cmd, env=env)
    try:
        rc = proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait()
        return 130
    if rc != 0:
        raise RewriterError(
            f"`ray start --address {a.address}` exited with status {rc} (its output is above); "
            "is the head running the same Ray version?"
        )
    return 0
