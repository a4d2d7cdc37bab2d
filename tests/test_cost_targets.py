"""Targets: parsing, missing runtimes give one clear line, fingerprints, sessions run."""

from __future__ import annotations

import builtins

import numpy as np
import onnx
import pytest

from rewriter.cost import get_target, parse_target
from rewriter.cost.targets import hardware_fingerprint
from rewriter.errors import UsageError

TINY = onnx.parser.parse_model("""
    <ir_version: 8, opset_import: ["" : 17]>
    g (float[2,8] x) => (float[2,8] y) {
        s = Softplus(x)
        t = Tanh(s)
        y = Mul(x, t)
    }
""")


def test_parse():
    assert parse_target("ort-cpu:threads=2,opt=basic") == (
        "ort-cpu",
        {"threads": "2", "opt": "basic"},
    )
    t = get_target("ort-cpu:threads=2")
    assert t.threads == 2 and t.spec == "ort-cpu" and t.runtime == "onnxruntime"


def test_unknown_target_and_option():
    with pytest.raises(UsageError, match="unknown target 'tpu-cpu'; known: ort-cpu"):
        get_target("tpu-cpu")
    with pytest.raises(UsageError, match="unknown option"):
        get_target("ort-cpu:fast=1")
    with pytest.raises(UsageError, match="key=value"):
        get_target("ort-cpu:threads")


def test_openvino_missing_message(monkeypatch):
    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "openvino" or name.startswith("openvino."):
            raise ImportError("No module named 'openvino'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(UsageError) as e:
        get_target("openvino-cpu")
    assert "pip install 'pau-rewriter[openvino]'" in str(e.value) and "\n" not in str(e.value)


def test_fingerprint():
    fp = get_target("ort-cpu:threads=1").fingerprint()
    assert fp["threads"] == 1 and fp["runtime"] == "onnxruntime" and fp["cores"] >= 1
    assert (
        fp["cpu"]
        and isinstance(fp["isa"], list)
        and fp
        == {
            **hardware_fingerprint(),
            **{k: fp[k] for k in ("target", "runtime", "version", "threads")},
        }
    )


@pytest.mark.parametrize("name", ["ort-cpu", "openvino-cpu", "torch-eager"])
def test_sessions_agree(name):
    try:
        t = get_target(name)
    except UsageError as e:  # pragma: no cover - runtime not installed here
        pytest.skip(str(e))
    x = np.linspace(-4, 4, 16, dtype=np.float32).reshape(2, 8)
    y = t.session(TINY)({"x": x})
    y = np.asarray(list(y.values())[0] if isinstance(y, dict) else y[0])
    ref = x * np.tanh(np.log1p(np.exp(x)))
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
