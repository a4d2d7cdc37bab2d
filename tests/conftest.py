"""Shared fixtures: the zoo of realistic models (tools/zoo.py), built once per test process."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_zoo_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("zoo", ROOT / "tools" / "zoo.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@pytest.fixture(scope="session")
def zoo_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``name -> path`` of every zoo model (BERT/GPT-2/ViT from both exporters, a stride-32
    detector, a GRU with state, an If-branching VAD, a reflect-Pad net, a quantized MLP)."""
    pytest.importorskip("transformers")
    return load_zoo_module().build_zoo(str(tmp_path_factory.mktemp("zoo")))
