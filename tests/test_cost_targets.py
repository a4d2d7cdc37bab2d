"""Targets: parsing, missing runtimes give one clear line, fingerprints, sessions run."""

from __future__ import annotations

import builtins

import numpy as np
import onnx
import pytest

from rewriter.cost import get_target, parse_target
from rewriter.cost.targets import hardware_fingerprint
from rewriter.errors import ModelError, UsageError

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


def test_openvino_static_option_compiles_at_the_feed_shapes():
    pytest.importorskip("openvino")
    dyn = onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[N,8] x) => (float[N,8] y) {
            s = Softplus(x)
            t = Tanh(s)
            y = Mul(x, t)
        }
    """)
    assert get_target("openvino-cpu:static=0").spec == "openvino-cpu"  # the default, one key
    t = get_target("openvino-cpu:static=1")
    assert t.spec == "openvino-cpu:static=1" and t.static
    run = t.session(dyn)
    for n in (2, 5):  # compiled once per input shape, each run right
        x = np.linspace(-4, 4, 8 * n, dtype=np.float32).reshape(n, 8)
        y = run({"x": x})
        y = np.asarray(list(y.values())[0] if isinstance(y, dict) else y[0])
        np.testing.assert_allclose(y, x * np.tanh(np.log1p(np.exp(x))), rtol=1e-4, atol=1e-5)
    with pytest.raises(UsageError, match="static='yes'; pass static=1"):
        get_target("openvino-cpu:static=yes")


def test_openvino_compiles_inputs_declared_without_a_shape_at_the_feeds_rank():
    """An input with no declared shape is of unknown rank to OpenVINO, whose CPU plug-in
    compiles no Softmax (or MatMul) of unknown rank: the whole model of a BERT whose inputs were
    stripped of shapes was "not measured". Such inputs take the first feeds' rank, every dim
    dynamic; the model compiles once per rank and runs any size."""
    pytest.importorskip("openvino")
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [
            helper.make_node("Softmax", ["x"], ["s"], axis=-1),
            helper.make_node("Tanh", ["s"], ["y"]),
        ],
        "unranked",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    run = get_target("openvino-cpu").session(
        helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    )
    for shape in ((2, 8), (3, 5)):
        x = np.linspace(-4, 4, int(np.prod(shape)), dtype=np.float32).reshape(shape)
        y = run({"x": x})
        y = np.asarray(list(y.values())[0] if isinstance(y, dict) else y[0])
        e = np.exp(x - x.max(-1, keepdims=True))
        np.testing.assert_allclose(y, np.tanh(e / e.sum(-1, keepdims=True)), rtol=1e-5, atol=1e-6)


def test_a_model_openvino_refuses_is_said_with_its_reason():
    """OpenVINO's messages open with the source locations they passed through; the line said
    "openvino-cpu cannot load the model: Exception from src/inference/src/cpp/core.cpp:117:"
    of optimum-onnx's merged T5 decoder, and nothing more. Here an If whose branches differ in
    rank, which its CPU plug-in refuses as it refuses that decoder's."""
    pytest.importorskip("openvino")
    from onnx import TensorProto, helper

    def branch(name: str, node: onnx.NodeProto) -> onnx.GraphProto:
        out = [helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, None)]
        return helper.make_graph([node], name, [], out)

    g = helper.make_graph(
        [helper.make_node(
            "If", ["flag"], ["y"], name="gate",
            then_branch=branch("then", helper.make_node("Tanh", ["x"], ["t"])),
            else_branch=branch("else", helper.make_node("Unsqueeze", ["x", "ax"], ["e"])),
        )],
        "ragged_if",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8]),
         helper.make_tensor_value_info("flag", TensorProto.BOOL, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(np.array([0], np.int64), "ax")],
    )  # fmt: skip
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ModelError) as info:
        get_target("openvino-cpu").session(m)
    line = str(info.value)
    assert line.startswith("openvino-cpu cannot load the model: "), line
    assert "If operation with dynamic rank" in line and "Exception from" not in line, line
    assert "\n" not in line


def test_dynamic_openvino_plan_that_backed_off_says_what_static_shapes_would_do():
    from rewriter.cli.rewrite import _static_hint
    from rewriter.plan.types import Plan, SiteDecision

    dyn = onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[N,3,H,W] images) => (float[N,3,H,W] y) { y = Sigmoid(images) }
    """)

    def plan(target: str, backed: list[str]) -> Plan:
        return Plan(dyn, [], [], target, backed_off=backed)

    hint = _static_hint(dyn, plan("openvino-cpu", ["sigmoid_0"]))
    assert hint is not None and "dynamic input dims (images)" in hint
    assert "--target openvino-cpu:static=1" in hint
    everything = plan("openvino-cpu", [])
    everything.decisions = [SiteDecision(site=None, decision="replace")]  # type: ignore[arg-type]
    assert _static_hint(dyn, everything) is None  # nothing kept
    kept = plan("openvino-cpu", [])
    kept.decisions = [SiteDecision(site=None, decision="keep")]  # type: ignore[arg-type]
    assert "static=1" in (_static_hint(dyn, kept) or "")  # timed slow at dynamic shapes
    assert _static_hint(dyn, plan("openvino-cpu:static=1", ["sigmoid_0"])) is None
    replaced = plan("openvino-cpu:static=1", [])
    replaced.decisions = [SiteDecision(site=None, decision="replace")]  # type: ignore[arg-type]
    note = _static_hint(dyn, replaced)
    assert note is not None and "model.reshape to static shapes" in note
    assert _static_hint(dyn, plan("ort-cpu", ["sigmoid_0"])) is None
    assert _static_hint(TINY, plan("openvino-cpu", ["x"])) is None  # static already
