"""The ``rewrite`` command line: a thin layer of subcommands over the library.

    rewrite MODEL.onnx -p pau_all -o out.onnx     # the main command (cli/rewrite.py)
    rewrite explain MODEL.onnx --rule gelu_erf     # one module per subcommand in this package
    rewrite --help | --version | --list

Each subcommand module has ``main(argv) -> int`` and raises ``RewriterError`` for bad input; it
is imported only when its name is the first word, so ``rewrite model.onnx`` loads none of the
others. Errors print one line on stderr (``rewrite: error: ...``) and exit non-zero: 2 for usage
errors, 1 for a bad model or a failed verification, 3 for a bug (one line too; set
``PAU_REWRITER_DEBUG=1`` for the traceback). Library code never imports this package.

The console script runs the command in a forked child (``guard.py``): a crash inside native code
(ONNX Runtime's SIGFPE on an empty Scan, a segfault, the OOM killer) ends only the child, and the
parent prints the one line saying which library crashed where, and exits 128 + the signal.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from rewriter.errors import Note, RewriterError

__all__ = ["main", "SUBCOMMANDS"]

# name -> (module with ``main(argv)``, one line for ``rewrite --help``)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "explain": ("rewriter.cli.explain", "why a rule does or does not match, node by node"),
    "finetune": ("rewriter.cli.finetune", "recover accuracy: layer-wise refit or distillation"),
    "bench": ("rewriter.cli.bench", "measure two models side by side on a target"),
    "profile": ("rewriter.cli.profile", "fill the latency database with a sweep"),
    "db": ("rewriter.cli.db", "latency database: stats, path, clear, export, import"),
    "plan": ("rewriter.cli.plan", "predicted or pruned per-site plan on a target"),
    "map": ("rewriter.cli.map", "per-site accuracy/speed map (HTML + JSON)"),
    "worker": ("rewriter.cli.worker", "join a Ray cluster as a device for one target"),
    "zoo": ("rewriter.cli.zoo", "rewrite every model of a folder (in parallel with --cluster)"),
}


def subcommand_help() -> str:
    """The subcommand list printed under ``rewrite --help``."""
    width = max(len(k) for k in SUBCOMMANDS)
    return "subcommands (rewrite SUBCOMMAND --help):\n" + "\n".join(
        f"  {k:<{width}}  {v[1]}" for k, v in SUBCOMMANDS.items()
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rewrite`` console script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if argv is None:  # the console script (or python -m rewriter): survive a native crash
        from rewriter.cli import guard

        status = guard.supervise()  # in the parent: the child's status; in the child: None
        if status is not None:
            return status
    shown: set[str] = set()

    def note(message: Any, category: Any, *rest: Any, **kw: Any) -> None:
        # rewriter.errors.Note: one line each, once per run; other warnings as Python shows them
        if not issubclass(category, Note):
            sys.stderr.write(warnings.formatwarning(message, category, *rest[:2]))
        elif str(message) not in shown:
            shown.add(str(message))
            print(f"rewrite: note: {message}", file=sys.stderr)

    from rewriter.frontends.common import shapes_for_conversion

    # --input-shapes hold for this command only (a program calling main() and then the Python
    # API got the command's shapes in its conversions)
    with warnings.catch_warnings(), shapes_for_conversion(None, restore=True):
        warnings.simplefilter("always", Note)
        warnings.showwarning = note
        return _main(args)


def _main(args: list[str]) -> int:
    try:
        if args and args[0] in SUBCOMMANDS:
            return int(importlib.import_module(SUBCOMMANDS[args[0]][0]).main(args[1:]))
        from rewriter.cli import rewrite

        return rewrite.main(args)
    except RewriterError as e:
        if os.environ.get("PAU_REWRITER_DEBUG"):
            raise
        print(f"rewrite: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("rewrite: interrupted; nothing was written", file=sys.stderr)
        return 130
    except OSError as e:
        if os.environ.get("PAU_REWRITER_DEBUG") or e.errno not in _MACHINE_ERRNOS:
            return _internal(e)
        where = f" ({e.filename})" if e.filename else ""
        print(f"rewrite: error: {e.strerror}{where}: {_MACHINE_ERRNOS[e.errno]}; files are "
              "written whole or not at all", file=sys.stderr)  # fmt: skip
        return 1
    except Exception as e:  # a bug: still one line, never a traceback
        return _internal(e)
    finally:
        measure = sys.modules.get("rewriter.cost.measure")
        if measure is not None:  # --cluster attached one: detach (quietly)
            try:
                measure.close_measurer()
            except Exception:
                pass


# what the machine refused, not a bug: what to do about it
_MACHINE_ERRNOS = {
    errno.ENOSPC: "the disk is full; free space there or write elsewhere",
    errno.EDQUOT: "the disk quota is used up; free space there or write elsewhere",
    errno.EFBIG: "larger than this process may write (ulimit -f); raise the limit or write "
    "elsewhere",
    errno.EROFS: "the file system is read-only; write elsewhere",
    errno.EACCES: "permission denied; check the permissions of the file and its folder",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n)",
}


def _internal(e: BaseException) -> int:
    """A bug: still one line, never a traceback (``PAU_REWRITER_DEBUG=1`` raises it)."""
    if os.environ.get("PAU_REWRITER_DEBUG"):
        raise e
    print(
        f"rewrite: internal error: {type(e).__name__}: {e} (set PAU_REWRITER_DEBUG=1 for a traceback)",
        file=sys.stderr,
    )
    return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
