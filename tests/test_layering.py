"""The package's layering: no import cycle between modules, and library code never imports the CLI.

Module-level imports are read from the source with ``ast`` (what ``import rewriter.x`` executes);
an import inside a function runs later and cannot form a load-time cycle, but one that reaches
the CLI from library code is still a layering error, so the CLI check looks at every import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
# installed name -> source folder (pyproject's package-dir)
PACKAGES = {"rewriter": "rewriter", "rewriter.passes": "passes", "rewriter.patterns": "patterns"}


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for pkg, folder in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([pkg, *parts])
            if pkg == "rewriter" and parts[:1] in (["passes"], ["patterns"]):
                continue
            mods[name] = path
    return mods


def _imports(name: str, path: Path, module_level: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level else list(ast.walk(tree))
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                here = here[: len(here) - (node.level - 1)]
                base = ".".join(here + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in out if m.startswith("rewriter")}


def test_no_import_cycles() -> None:
    mods = _modules()
    g = nx.DiGraph()
    for name, path in mods.items():
        g.add_node(name)
        for dep in _imports(name, path, module_level=True):
            if dep in mods and dep != name and not name.startswith(dep + "."):
                g.add_edge(name, dep)
    cycles = sorted(sorted(c) for c in nx.simple_cycles(g))
    assert cycles == [], f"import cycles: {cycles[:5]}"


def test_library_never_imports_the_cli() -> None:
    offenders = {
        name: sorted(
            d for d in _imports(name, path, module_level=False) if d.startswith("rewriter.cli")
        )
        for name, path in _modules().items()
        if not name.startswith("rewriter.cli") and name != "rewriter.__main__"
    }
    assert {k: v for k, v in offenders.items() if v} == {}
