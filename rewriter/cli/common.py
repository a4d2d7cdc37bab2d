"""What every subcommand shares: the argparse class that turns usage errors into one line, option
types, the console tables print to, and the JSON report writer."""

from __future__ import annotations

import argparse
import json
from typing import Any, NoReturn

from rewriter.errors import UsageError

__all__ = ["Parser", "degrees_arg", "console", "write_json"]


class Parser(argparse.ArgumentParser):
    """argparse that raises ``UsageError`` (one line, exit 2) instead of printing usage; shared by
    every subcommand."""

    def error(self, message: str) -> NoReturn:  # one line, exit 2
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def degrees_arg(text: str) -> tuple[int, int]:
    """argparse type for ``--degrees M,N``."""
    try:
        m, n = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--degrees wants M,N such as 5,4, got {text!r}") from None
    if m < 1 or n < 1 or m > 12 or n > 12:
        raise argparse.ArgumentTypeError(f"--degrees {text}: M and N must be between 1 and 12")
    return m, n


def console() -> Any:
    """The rich console every command prints its tables to."""
    from rich.console import Console

    return Console(stderr=False, highlight=False, width=140)


def write_json(path: str, data: dict[str, Any]) -> None:
    """Write a JSON report atomically (sorted keys, usual file mode)."""
    from rewriter.ir import write_atomic

    write_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=float))
