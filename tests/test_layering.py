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


def test_onnx_rewrite_does_not_import_torch(tmp_path) -> None:
    """torch costs ~3.3 s to import: ``rewriter.rational`` imported it for ``PAU`` on every
    command, so ``rewrite model.onnx`` took 5.3 s on a small model instead of 1.8 s. The main
    command on an ONNX model, end to end, in a fresh interpreter."""
    import subprocess
    import sys

    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(
        np.random.default_rng(0).normal(size=(8, 8)).astype(np.float32), "w"
    )
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Tanh", ["h"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 8])],
        [w],
    )
    src = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), src)
    code = (
        "import sys; from rewriter.cli import main; "
        f"rc = main([{str(src)!r}, '-o', {str(tmp_path / 'o.onnx')!r}, '-q']); "
        "print(rc, 'torch' in sys.modules, 'tensorflow' in sys.modules)"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.stdout.split() == ["0", "False", "False"], (p.stdout, p.stderr)
    from rewriter.rational import PAU  # still there, on first use

    assert PAU.__name__ == "PAU"
