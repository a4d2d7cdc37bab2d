"""The committed digits example: the (5,4) rewrite keeps test accuracy within 0.2 points."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits():
    spec = importlib.util.spec_from_file_location("digits_example", ROOT / "tools" / "digits.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def test_split():
    data = np.load(ROOT / "examples" / "digits_test.npz")
    return data["input"], data["labels"]


def test_example_files_are_small_and_consistent(digits, test_split):
    x, y = test_split
    assert x.shape[1:] == (1, 8, 8) and x.dtype == np.float32 and y.dtype == np.int64
    for name in ("digits_cnn.onnx", "digits_cnn.pt", "digits_test.npz"):
        assert (ROOT / "examples" / name).stat().st_size < 1_000_000
    assert digits.accuracy(digits.load_trained(), x, y) >= 97.0


def test_pau_54_rewrite_keeps_accuracy(digits, test_split):
    from rewriter.frontends.fx import rewrite_module

    x, y = test_split
    model = digits.load_trained()
    gm, sites = rewrite_module(model, "pau_all", example_inputs=(torch.from_numpy(x[:2]),))
    assert [s.name for s in sites if s.replaced] == ["gelu_0", "silu_0", "mish_0"]
    assert sites[0].input_shape == (2, 16, 8, 8)
    base, rewritten = digits.accuracy(model, x, y), digits.accuracy(gm, x, y)
    assert abs(base - rewritten) <= 0.2
