"""Errors the user sees as one line: what, where, what to do.

``RewriterError`` carries the process exit code the CLI uses: 2 for usage errors (bad options,
unknown pipeline, output path problems), 1 for a bad model or a failed verification.
"""

from __future__ import annotations


class RewriterError(Exception):
    """Base class: ``str(err)`` is the one line shown to the user."""

    exit_code = 1


class UsageError(RewriterError, ValueError):
    """The command line or API call is wrong (exit code 2)."""

    exit_code = 2


class ModelError(RewriterError):
    """The input model cannot be read or is not valid ONNX (exit code 1)."""

    exit_code = 1


class Note(UserWarning):
    """Not an error: something done to the user's model that they should know about (an old
    opset converted on load). Raised with ``warnings.warn``; the CLI prints it as one line,
    ``rewrite: note: ...``, on stderr."""
