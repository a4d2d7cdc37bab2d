"""Processes the tool starts end with the process that started them.

The command runs in a forked child (``rewriter.cli.guard``) and the data-aware fits in worker
processes (``rewriter.accuracy.fits.prefetch``). A ``ProcessPoolExecutor`` worker holds both
ends of its call queue, so when its parent is killed (SIGTERM from ``timeout`` or a job's time
limit) it never sees the queue close and waits forever: the two fit workers of a stopped
``rewrite map`` were still there 47 minutes later. On Linux the kernel sends such a child
SIGTERM when its parent dies, however it died (``PR_SET_PDEATHSIG``); elsewhere nothing is done.
"""

from __future__ import annotations

import os
import signal
import sys

__all__ = ["die_with_parent"]


def die_with_parent(parent: int | None = None) -> None:
    """Linux: this process gets SIGTERM when its parent dies; call it first thing in a child
    (a pool's ``initializer``), with ``parent`` the pid of the process that started it (read
    there, before the start): a parent killed while the child was still starting up is then
    seen, and the child ends at once. The parent is the thread that started the child: pools
    here are started and closed by the one thread that uses them."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:  # died before the request: no signal
        os.kill(os.getpid(), signal.SIGTERM)
