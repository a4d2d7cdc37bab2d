"""pau-rewriter: replace activation subgraphs with rational functions (Padé Activation Units)."""

__version__ = "0.1.0"
