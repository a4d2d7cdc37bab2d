"""Run the command in a forked child, so that a crash in native code still ends with one line.

ONNX Runtime, OpenVINO and torch run native code that can kill the process outright: ONNX Runtime
1.32 raises SIGFPE on a Scan with scan outputs over zero iterations (onnx-asr's wespeaker fed
an empty waveform), a kernel bug segfaults, the kernel's OOM killer sends SIGKILL.
Python cannot catch any of these. ``supervise()`` forks before anything heavy is imported: the
child runs the command as usual, with ``faulthandler`` writing its Python stack to a temporary
file, and the parent only waits. If the child dies by a signal, the parent reads that stack and
prints one line (which library crashed, called from which line of ours, what to try) and exits
128 + the signal number, as a shell reports it. ``PAU_REWRITER_DEBUG=1`` prints the stack too;
``PAU_REWRITER_NO_FORK=1`` runs in one process (where ``os.fork`` is missing, it always does).
"""

from __future__ import annotations

import os
import re
import signal
import sys
import tempfile
from typing import IO, Any

from rewriter.procs import die_with_parent, remove_scratch

__all__ = ["supervise", "crash_line"]

_dump: IO[bytes] | None = None  # the child's faulthandler file (kept open for its lifetime)

_WHY: dict[int, str] = {
    signal.SIGFPE: "floating-point exception, an integer division by zero in a kernel",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGBUS: "bus error",
    signal.SIGILL: "illegal instruction",
    signal.SIGABRT: "aborted",
}
_TRY: dict[int, str] = {
    signal.SIGFPE: "an empty or zero-length input often does this: check the sizes in --inputs, "
    "or let the inputs be generated",
    signal.SIGILL: "a library built for a newer CPU than this one: reinstall it for this machine",
}
# site-packages folder -> the name a user knows
_LIBS = {
    "onnxruntime": "ONNX Runtime",
    "openvino": "OpenVINO",
    "torch": "torch",
    "tensorflow": "TensorFlow",
    "tf2onnx": "tf2onnx",
    "onnx": "onnx",
    "numpy": "numpy",
    "scipy": "scipy",
    "ray": "Ray",
}
_FRAME = re.compile(r'^\s*File "(?P<path>[^"]*)", line (?P<line>\d+) in (?P<func>\S+)')


def supervise() -> int | None:
    """Fork; in the child return None (go on with the command), in the parent its exit status."""
    global _dump
    if os.environ.get("PAU_REWRITER_NO_FORK") or not hasattr(os, "fork"):
        return None
    dump = tempfile.TemporaryFile()  # unlinked already: nothing is left behind
    # The parent's signals are set before the fork, so none slips past: Ctrl-C reaches the
    # child from the terminal (same process group) and the child answers it; a SIGTERM or
    # SIGHUP sent to this pid is passed on (held until the child's pid is known).
    child: list[int] = []
    held: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        if child:
            os.kill(child[0], signum)
        else:
            held.append(signum)

    before = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGHUP)}
    before[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        import faulthandler

        for s, handler in before.items():
            signal.signal(s, handler)
        _dump = dump
        faulthandler.enable(file=dump, all_threads=True)
        die_with_parent(parent)  # the child gets SIGTERM if the parent is killed
        return None
    child.append(pid)
    for signum in held:
        os.kill(pid, signum)
    _, status = os.waitpid(pid, 0)
    remove_scratch(pid)  # what a child killed before its cleanup left in the temporary folder
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    signum = os.WTERMSIG(status)
    dump.seek(0)
    stack = dump.read().decode("utf-8", "replace")
    if os.environ.get("PAU_REWRITER_DEBUG") and stack:
        sys.stderr.write(stack)
    print(f"rewrite: error: {crash_line(signum, stack)}", file=sys.stderr)
    return 128 + signum


def crash_line(signum: int, stack: str) -> str:
    """The one line for a child killed by ``signum``; ``stack`` is faulthandler's dump."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    if signum == signal.SIGKILL:
        return (
            "the run was killed (SIGKILL): out of memory? The kernel's OOM killer sends it; "
            "free memory, or pass smaller --input-shapes or fewer --calibration samples"
        )
    if signum not in _WHY:  # SIGTERM, SIGHUP, SIGINT, ...: sent, not a crash
        return f"the run was stopped by {name}"
    frames = _frames(stack)
    lib, where = "native code", ""
    if frames:
        path, line, func = frames[0]
        lib = _library(path) or lib
        mine = [f for f in frames if _ours(f[0])]
        # the step that ran it, not the thin session wrappers of rewriter/ir
        ours = next((f for f in mine if not str(_ours(f[0])).startswith("rewriter/ir/")), None)
        ours = ours or (mine[0] if mine else None)
        where = f" in {func}"
        if ours is not None and ours is not frames[0]:
            where += f", called from {_ours(ours[0])}:{ours[1]} ({ours[2]})"
        elif ours is not None:
            where = f" in {_ours(path)}:{line} ({func})"
    advice = _TRY.get(
        signum,
        "a bug in that library or a model it cannot run: try another --target, or report it "
        "with the model",
    )
    return (
        f"{lib} crashed the process ({name}: {_WHY[signum]}){where}; {advice} "
        "(PAU_REWRITER_DEBUG=1 prints the stack)"
    )


def _frames(stack: str) -> list[tuple[str, int, str]]:
    """The crashing thread's frames, innermost first (faulthandler's order)."""
    blocks: list[tuple[bool, list[tuple[str, int, str]]]] = []
    for line in stack.splitlines():
        if line.startswith(("Current thread", "Thread ")):
            blocks.append((line.startswith("Current thread"), []))
        elif blocks and (m := _FRAME.match(line)):
            blocks[-1][1].append((m["path"], int(m["line"]), m["func"]))
    for current, frames in blocks:  # the thread that crashed, when it runs Python
        if current and frames:
            return frames
    for _, frames in blocks:  # else one waiting on a native library (a pool thread crashed)
        if frames and _library(frames[0][0]):
            return frames
    return next((f for _, f in blocks if f), [])


def _library(path: str) -> str | None:
    parts = path.replace("\\", "/").split("/")
    for i, part in enumerate(parts[:-1]):
        if part in ("site-packages", "dist-packages") and parts[i + 1] in _LIBS:
            return _LIBS[parts[i + 1]]
    return None


def _ours(path: str) -> str | None:
    """``rewriter/inputs.py`` for a file of this package, else None."""
    parts = path.replace("\\", "/").split("/")
    if "rewriter" in parts and _library(path) is None:
        i = len(parts) - 1 - parts[::-1].index("rewriter")
        return "/".join(parts[i:])
    return None
