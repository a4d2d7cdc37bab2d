"""Worker processes end with the process that started them (``rewriter.procs``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")

# The data-aware fits of many sites in worker processes (rewrite map's prefetch), in a process
# that is then killed as `timeout` or a job's limit kills it.
SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from rewriter.accuracy.fits import PARALLEL_FITS, prefetch

    rng = np.random.default_rng(0)
    jobs = [("silu", {}, rng.normal(0, 1 + i, 4000).astype(np.float32), (7, 6), "gated")
            for i in range(8 * PARALLEL_FITS)]
    print("fitting", flush=True)
    prefetch(jobs)
    """
)


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            kids += [int(k) for k in f.read().split()]
    return kids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_fit_workers_end_when_their_parent_is_killed():
    """A worker of a killed `rewrite map` waited on its queue forever (47 minutes seen): it
    holds both ends of the queue, so it never sees it close. Now the kernel ends it, and a
    worker still starting up when its parent is killed (as here: killed as soon as the workers
    exist) ends itself."""
    env = {**os.environ, "PAU_REWRITER_WORKERS": "2"}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"fitting"
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline and len(workers) < 2:
            time.sleep(0.2)
            # the spawn context's resource tracker is a child too: workers run the fits
            workers = [
                k
                for k in _children(proc.pid)
                if b"spawn_main" in open(f"/proc/{k}/cmdline", "rb").read()  # noqa: E501
            ]
        assert len(workers) == 2, "the fits did not start in 2 workers"
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers), "fit workers outlived their parent"
    finally:
        proc.kill()
        proc.wait()
