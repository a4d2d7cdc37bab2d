"""The PAU replacement lives in ``rewriter.emit``; this name remains for code that imports it."""

from rewriter.candidates import site_function
from rewriter.emit import rational_key

__all__ = ["site_function", "rational_key"]
