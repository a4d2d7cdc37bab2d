"""The package version (its own module, so that modules inside the package can read it
without importing the package they are part of), and ``source_digest``: which version of some
of its code made a stored result (the fit cache, what ``--recover`` learned)."""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Iterable

__version__ = "0.1.0"


def source_digest(modules: Iterable[str], extra: str = "") -> str:
    """SHA-1 of ``extra`` and the named modules' source files: results stored by other code
    (an edit, another release) are told apart from this code's."""
    h = hashlib.sha1(extra.encode())
    for name in modules:
        path = getattr(importlib.import_module(name), "__file__", None)
        h.update(name.encode())
        if path and os.path.isfile(path):
            with open(path, "rb") as f:
                h.update(f.read())
    return h.hexdigest()
