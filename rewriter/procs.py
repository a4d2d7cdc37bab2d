"""Worker processes: how many, how they start, and that they end with their parent.

``worker_pool(n)`` is the one way the tool starts a pool (the data-aware fits of
``rewriter.accuracy.fits.prefetch``, the map page's plots in ``rewriter.report.html``): spawned
processes (a forked child of a process that has started torch's or BLAS's threads can hang),
``worker_count()`` of them by default, that do not run the user's main script again and end
with the process that started them.

The command runs in a forked child (``rewriter.cli.guard``) and the pools' workers are spawned
(above). A ``ProcessPoolExecutor`` worker holds both
ends of its call queue, so when its parent is killed (SIGTERM from ``timeout`` or a job's time
limit) it never sees the queue close and waits forever: the two fit workers of a stopped
``rewrite map`` were still there 47 minutes later. On Linux the kernel sends such a child
SIGTERM when its parent dies, however it died (``PR_SET_PDEATHSIG``); elsewhere nothing is done.

The temporary folders the command makes (a TorchScript conversion's, a model written for a
runtime that needs a path) are named for its process (``scratch_prefix``), so that the guard's
parent removes what a child killed by a native crash or the OOM killer left
(``remove_scratch``): a crash inside a conversion left its folder, and one in ONNX Runtime a
copy of the model, in the temporary folder for good.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from rewriter.errors import UsageError

T = TypeVar("T")

__all__ = [
    "die_with_parent",
    "worker_count",
    "worker_pool",
    "main_not_rerun",
    "survived",
    "scratch_prefix",
    "remove_scratch",
]


def scratch_prefix(kind: str) -> str:
    """The prefix of a temporary folder of this process: ``pau-<kind>-<pid>-``."""
    return f"pau-{kind}-{os.getpid()}-"


def remove_scratch(pid: int) -> int:
    """Remove the temporary folders process ``pid`` made (``scratch_prefix``) and left behind,
    as a process killed before its cleanup does; returns how many."""
    left = glob.glob(os.path.join(glob.escape(tempfile.gettempdir()), f"pau-*-{pid}-*"))
    for path in left:
        shutil.rmtree(path, ignore_errors=True)
    return len(left)


def worker_count() -> int:
    """Processes for a pool: ``PAU_REWRITER_WORKERS`` if set, else the cores this process may
    use (1: work here, one item after another)."""
    env = os.environ.get("PAU_REWRITER_WORKERS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise UsageError(
                f"PAU_REWRITER_WORKERS must be a whole number of processes, not {env!r}"
            ) from None
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` spawned processes that end with this one (``die_with_parent``),
    started without the main script (``main_not_rerun``); closed on leaving. Functions given
    to it must live in an importable module of the package."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=die_with_parent, initargs=(os.getpid(),)
    )
    with main_not_rerun(), pool:
        yield pool


@contextlib.contextmanager
def main_not_rerun() -> Iterator[None]:
    """While workers start: the main module as multiprocessing's spawn cannot find it.

    spawn runs the main script's top level again in every worker (by path, or by name for
    ``python -m pkg.script``) so that functions defined there can be unpickled. A user's script
    that calls the API without an ``if __name__ == "__main__":`` guard then started the whole job
    again in each worker, which failed: ``BrokenProcessPool`` for ``sensitivity_map`` on
    MobileViT. The workers run functions of this package only, so they need no main module."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved: dict[str, Any] = {
        k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__
    }
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


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


def survived(fn: Callable[[], T]) -> tuple[T] | None:
    """``(fn(),)`` computed in a forked child, or None where the child died (native code
    aborting: ONNX's shape inference asserts, SIGABRT, on a Slice of a dim its Conv inference
    made negative, and took the whole command with it). ``fn`` must not use torch, BLAS or
    ONNX Runtime (their threads do not survive a fork) and its result must pickle; the child
    writes nothing to stderr and no crash stack. In this process where ``os.fork`` is missing
    or ``PAU_REWRITER_NO_FORK`` is set."""
    if os.environ.get("PAU_REWRITER_NO_FORK") or not hasattr(os, "fork"):
        return (fn(),)
    import pickle

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its result down the pipe, then gone without cleanup
        try:
            import faulthandler

            faulthandler.disable()  # not into the supervising parent's crash report
            os.close(read)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # the assertion's own message
            with os.fdopen(write, "wb") as out:
                pickle.dump(fn(), out)
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if not data or os.WIFSIGNALED(status):
        return None
    return (pickle.loads(data),)
