"""Statically quantized (QDQ) models as ONNX Runtime's quantizer writes them: every value between
two ops, constants included, goes through QuantizeLinear -> DequantizeLinear. The activations
inside are found by function (a QDQ SiLU was a bare "sigmoid" site, a QDQ GELU was not found),
the pairs inside an activation go with it, the pair at its input stays."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from conftest import load_zoo_module  # noqa: E402
from onnx import TensorProto, helper, numpy_helper

import rewriter
from rewriter.ir import load_model, run_model

zoo = load_zoo_module()

quantization = pytest.importorskip("onnxruntime.quantization")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """(float, QDQ) of one CNN with SiLU, erf-GELU and tanh-GELU (tools/zoo.py's builders:
    TorchScript export at opset 17, then quant_pre_process and quantize_static, QDQ, uint8)."""
    d = tmp_path_factory.mktemp("qdq")
    src, dst = str(d / "float.onnx"), str(d / "qdq.onnx")
    zoo.float_cnn(src, tanh_gelu=True, input_name="x")
    zoo.quantize_qdq(src, dst)
    return onnx.load(src), onnx.load(dst)


def _feeds(seed: int) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(seed).standard_normal((1, 3, 32, 32), np.float32)}


def test_qdq_activations_are_found_by_function(models) -> None:
    fp, qdq = models
    want = [s.function for s in rewriter.find_sites(fp)]
    assert want == ["silu", "gelu", "gelu_tanh"]
    sites = rewriter.find_sites(qdq)
    assert [s.function for s in sites] == want
    producers = {n.output[0]: n.op_type for n in qdq.graph.node}
    # each site reads the dequantized value entering it: the pair at its input is not swallowed
    assert all(producers[s.input] == "DequantizeLinear" for s in sites)
    ops = {n.name: n.op_type for n in qdq.graph.node}
    inner = {s.function: sum(ops[k] == "QuantizeLinear" for k in s.nodes) for s in sites}
    assert inner["silu"] == 1 and inner["gelu"] >= 3 and inner["gelu_tanh"] >= 3, inner


def test_qdq_rewrite_drops_the_inner_pairs_only(models) -> None:
    _, qdq = models
    before = qdq.SerializeToString()
    out = rewriter.rewrite(qdq)
    assert qdq.SerializeToString() == before
    onnx.checker.check_model(out, full_check=True)

    def count(m: onnx.ModelProto, op: str) -> int:
        return sum(n.op_type == op for n in m.graph.node)

    # silu has one inner pair (after Sigmoid), erf-GELU three (Erf, Add, Mul), tanh-GELU more
    for op in ("QuantizeLinear", "DequantizeLinear"):
        assert count(out, op) < count(qdq, op)
    assert count(out, "Sigmoid") == count(out, "Erf") == count(out, "Tanh") == 0
    # the pair in front of each activation (after its Conv) is still there
    conv_out = [n.output[0] for n in out.graph.node if n.op_type == "Conv"]
    consumers = {i for n in out.graph.node for i in n.input}
    assert all(c in consumers for c in conv_out)
    q_of_conv = [
        n for n in out.graph.node if n.op_type == "QuantizeLinear" and n.input[0] in conv_out
    ]
    assert len(q_of_conv) == 3
    for seed in (1, 2):  # within the quantized model's own rounding of the removed pairs
        (a,), (b,) = run_model(qdq, _feeds(seed)), run_model(out, _feeds(seed))
        assert np.linalg.norm(b - a) <= 0.05 * np.linalg.norm(a)


def _pair_model(same: bool) -> onnx.ModelProto:
    """y = x * DQ(Q(Sigmoid(x))): with ``same`` the DQ undoes the Q; else it rescales."""
    inits = [
        numpy_helper.from_array(np.array(1 / 255, np.float32), "s"),
        numpy_helper.from_array(np.array(0, np.uint8), "z"),
        numpy_helper.from_array(np.array(1 / 255 if same else 2 / 255, np.float32), "s2"),
    ]
    g = helper.make_graph(
        [
            helper.make_node("Sigmoid", ["x"], ["g"], name="sig"),
            helper.make_node("QuantizeLinear", ["g", "s", "z"], ["gq"], name="q"),
            helper.make_node("DequantizeLinear", ["gq", "s2", "z"], ["gd"], name="dq"),
            helper.make_node("Mul", ["x", "gd"], ["y"], name="mul"),
        ],
        "pair",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [16])],
        inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_a_requantization_is_not_looked_through() -> None:
    same = rewriter.find_sites(_pair_model(True))
    assert [s.function for s in same] == ["silu"] and len(same[0].nodes) == 4
    other = rewriter.find_sites(_pair_model(False))  # x * 2*sigmoid(x) is not SiLU
    assert [s.function for s in other] == ["sigmoid"]


def test_quantize_passes_the_gradient_straight_through() -> None:
    from rewriter.cost.torch_convert import to_torch

    s = numpy_helper.from_array(np.array(0.1, np.float32), "s")
    z = numpy_helper.from_array(np.array(0, np.int8), "z")
    g = helper.make_graph(
        [
            helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q"),
            helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dq"),
        ],
        "pair",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5])],
        [s, z],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    x = torch.tensor([-0.26, -0.04, 0.0, 0.13, 0.31], requires_grad=True)
    (y,) = to_torch(m)(x)
    (ref,) = run_model(m, {"x": x.detach().numpy()})
    np.testing.assert_allclose(y.detach().numpy(), ref, atol=1e-7)  # forward: quantized
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(5))  # backward: identity


def test_qdq_weights_retrain_as_integers(models) -> None:
    from collections import Counter

    from rewriter.candidates import Candidate
    from rewriter.emit import emit_result
    from rewriter.tune.e2e import fake_quant_weights, finetune_e2e, unquantize_weights

    _, qdq = models
    student = emit_result(qdq, {"silu_0": Candidate("standard", "standard:relu", op="relu")}).model
    fq, twins = fake_quant_weights(student)
    assert twins and all(q.endswith("_quantized") for q in twins.values())
    feeds = _feeds(3)
    # the float twins quantize back to the same integers: the same model, the same outputs
    np.testing.assert_array_equal(run_model(fq, feeds)[0], run_model(student, feeds)[0])
    same = unquantize_weights(fq, student, twins)
    assert same.SerializeToString() == student.SerializeToString()

    x = np.random.default_rng(0).standard_normal((96, 3, 32, 32)).astype(np.float32)
    batches = [{"x": x[i : i + 32]} for i in range(0, 96, 32)]
    tuned, hist = finetune_e2e(student, qdq, batches, train="all", epochs=4, seed=0)
    # before: "student has no rational coefficients or float weight initializers"
    assert set(hist.trained) == set(twins.values())
    assert hist.heldout.after.cosine > hist.heldout.before.cosine
    ops = Counter(n.op_type for n in tuned.graph.node)
    assert ops == Counter(n.op_type for n in student.graph.node)  # the same nodes
    old = {t.name: numpy_helper.to_array(t) for t in student.graph.initializer}
    new = {t.name: numpy_helper.to_array(t) for t in tuned.graph.initializer}
    for q in twins.values():
        assert new[q].dtype == old[q].dtype and new[q].dtype.kind in "iu"
    assert any(not np.array_equal(new[q], old[q]) for q in twins.values())
    onnx.checker.check_model(tuned, full_check=True)


def _qoperator(src: str, dst: str) -> None:
    """``src`` quantized statically in the QOperator format (QLinearConv, QLinearSigmoid, ...)
    on four generated images."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([_feeds(k) for k in range(4)])

        def get_next(self) -> dict | None:
            return next(self.it, None)

    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QOperator)


def test_a_qoperator_model_says_why_it_has_no_site(tmp_path, capsys) -> None:
    from rewriter.cli import main

    src, dst = str(tmp_path / "f.onnx"), str(tmp_path / "qop.onnx")
    zoo.float_cnn(src, input_name="x")

    _qoperator(src, dst)
    assert main([dst, "-o", str(tmp_path / "o.onnx")]) == 0
    out = capsys.readouterr().out
    assert "0 site(s)" in out and "no site: this model computes in integer ops (" in out
    assert "QLinearConv" in out


def _qoperator_with_float_sites(tmp_path) -> str:  # type: ignore[no-untyped-def]
    """A QOperator model with float sites too (ONNX Runtime has no integer Tanh): a SiLU and a
    sigmoid as QLinearSigmoid, a Tanh between Dequantize- and QuantizeLinear."""

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, 2, 1)
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.tanh(torch.nn.functional.silu(self.conv(x)))
            return torch.sigmoid(self.fc(h.mean((2, 3))))

    torch.manual_seed(0)
    src, dst = str(tmp_path / "f.onnx"), str(tmp_path / "qop.onnx")
    torch.onnx.export(
        Net().eval(), (torch.randn(1, 3, 32, 32),), src, input_names=["x"], dynamo=False
    )
    _qoperator(src, dst)
    return dst


def test_a_qoperator_model_names_the_integer_activations_it_leaves(tmp_path, capsys) -> None:
    """Its float site is rewritten, and the SiLU's and sigmoid's QLinearSigmoid, left, are
    named."""
    from rewriter.cli import main

    dst = _qoperator_with_float_sites(tmp_path)
    assert sum(n.op_type == "QLinearSigmoid" for n in onnx.load(dst).graph.node) == 2
    out_path = tmp_path / "o.onnx"
    assert main([dst, "-o", str(out_path)]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "1 of 1 sites replaced" in out
    assert "not rewritten: 2 QLinearSigmoid, integer activations of a QOperator model" in out
    written = onnx.load(str(out_path))
    assert sum(n.op_type == "QLinearSigmoid" for n in written.graph.node) == 2
    assert not any(n.op_type == "Tanh" for n in written.graph.node)


def test_a_qoperator_model_is_planned_for_a_target(tmp_path, capsys) -> None:
    """Timing a site exposes the values around it as outputs, typed by shape inference, which
    knows nothing of com.microsoft's QLinearSigmoid: its uint8 outputs were declared float and
    ONNX Runtime refused the model ("Type Error", exit 1 with --target, in plan and map). A
    value inference cannot type is exposed untyped, for ONNX Runtime to type."""
    from rewriter.cli import main

    dst = _qoperator_with_float_sites(tmp_path)
    capsys.readouterr()
    args = ["--target", "ort-cpu:threads=1", "--db", ":memory:", "-o", str(tmp_path / "o.onnx")]
    assert main([dst, *args]) == 0
    printed = capsys.readouterr()
    assert "[plan] tanh_0: keep (rational:5_4:odd:horner x" in printed.err  # measured
    assert "no replacement measured faster on ort-cpu" in printed.out


def _per_channel_qdq(tmp_path) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """(float, QDQ) paths of a Conv-SiLU-Conv-GELU CNN quantized statically, per channel, on
    16 standard-normal batches; the GELU's 1.0 and 0.5 quantized too."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    rng = np.random.default_rng(0)

    def weight(name: str, *shape: int) -> onnx.TensorProto:
        std = np.sqrt(2.0 / np.prod(shape[1:]))
        return numpy_helper.from_array((rng.standard_normal(shape) * std).astype(np.float32), name)  # fmt: skip

    consts = {"b1": np.zeros(16), "b2": np.zeros(16), "b3": np.zeros(10), "r2": 1.4142135, "one": 1.0, "half": 0.5}  # fmt: skip
    g = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
            helper.make_node("Sigmoid", ["c1"], ["s1"]),
            helper.make_node("Mul", ["c1", "s1"], ["a1"]),
            helper.make_node(
                "Conv", ["a1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]
            ),  # fmt: skip
            helper.make_node("Div", ["c2", "r2"], ["d"]),
            helper.make_node("Erf", ["d"], ["e"]),
            helper.make_node("Add", ["e", "one"], ["p"]),
            helper.make_node("Mul", ["c2", "p"], ["m"]),
            helper.make_node("Mul", ["m", "half"], ["a2"]),
            helper.make_node("Flatten", ["a2"], ["f"]),
            helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], transB=1),
        ],
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        [weight("w1", 16, 3, 3, 3), weight("w2", 16, 16, 3, 3), weight("w3", 10, 1024)]
        + [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in consts.items()],
    )
    src, dst = str(tmp_path / "float.onnx"), str(tmp_path / "qdq.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), src)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            batches = [np.random.default_rng(k).standard_normal((1, 3, 16, 16)) for k in range(16)]
            self.it = iter({"x": b.astype(np.float32)} for b in batches)

        def get_next(self) -> dict | None:
            return next(self.it, None)

    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True)
    return src, dst


def test_a_static_qdq_models_noise_floor_is_its_8_bit_steps(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A statically quantized (QDQ, per channel) CNN: its noise floor, measured by moving the
    inputs by 1e-6, read 0 (its first QuantizeLinear rounds that away), while a rational within
    2e-4 of an activation flips the step of a value near a rounding boundary now and then
    (rel-L2 0.02 against the QDQ model, itself 2.5% from its float model): every site was
    backed off ("0 of 2 sites replaced"). Inputs moved by 2^-12 flip the steps of the values
    nearest their boundaries, as that does; the floor stays below the quantization's own
    error."""
    from rewriter.cli import main

    src, dst = _per_channel_qdq(tmp_path)
    rep = tmp_path / "r.json"
    assert main([dst, "-o", str(tmp_path / "o.onnx"), "--report", str(rep)]) == 0
    assert "2 of 2 sites replaced" in capsys.readouterr().out
    (worst,) = __import__("json").loads(rep.read_text())["verification"]["outputs"]
    x = {"x": np.random.default_rng(7).standard_normal((8, 3, 16, 16)).astype(np.float32)}
    (yf,), (yq,) = run_model(onnx.load(src), x), run_model(onnx.load(dst), x)
    own = float(np.linalg.norm(yq - yf) / np.linalg.norm(yf))  # the quantization's own error
    assert 0 < worst["floor"] < own and worst["rel_l2"] < own


def test_a_qdq_rewrite_leaves_no_unread_initializer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A QDQ model quantizes a GELU's 0.5 and 1.0 too (DequantizeLinear of an int8 constant):
    the replaced site's DequantizeLinears went, their quantized values, scales and zero points
    stayed, unread, and ONNX Runtime warned of each on every load of the rewritten model."""
    qdq = onnx.load(_per_channel_qdq(tmp_path)[1])
    out = rewriter.rewrite(qdq)
    read = {v for n in out.graph.node for v in n.input}
    before = {v for n in qdq.graph.node for v in n.input}
    unread_before = [t.name for t in qdq.graph.initializer if t.name not in before]
    assert [t.name for t in out.graph.initializer if t.name not in read] == unread_before == []


def test_a_blocked_dequantize_whose_block_spans_its_axis_runs(tmp_path) -> None:
    """OpenCV's block-quantized zoo models (YuNet's int8bq) dequantize every weight with
    opset 21's ``block_size`` and one block across the axis: ONNX Runtime refused them on
    every run ("block_size must be 0 for per-tensor quantization"), and the line blamed the
    generated inputs. Such a block is per tensor (one scale) or per axis (one a row), written
    so on load: the same values as ONNX's reference evaluator computes from the blocks."""
    from onnx.reference import ReferenceEvaluator

    rng = np.random.default_rng(0)
    wq = rng.integers(-127, 127, (4, 9), dtype=np.int8)
    bq = rng.integers(-127, 127, (4,), dtype=np.int8)
    g = helper.make_graph(
        [
            helper.make_node("DequantizeLinear", ["wq", "ws"], ["w"], axis=1, block_size=9),
            helper.make_node("DequantizeLinear", ["bq", "bs"], ["b"], axis=0, block_size=4),
            helper.make_node("MatMul", ["x", "w"], ["h"]),
            helper.make_node("Add", ["h", "b_row"], ["hb"]),
            helper.make_node("Sigmoid", ["hb"], ["y"]),
        ],
        "bq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 9])],
        [
            numpy_helper.from_array(wq, "wq"),
            numpy_helper.from_array((rng.random((4, 1)) * 0.02).astype(np.float32), "ws"),
            numpy_helper.from_array(bq, "bq"),
            numpy_helper.from_array(np.array([0.01], np.float32), "bs"),
        ],
    )
    # the bias read as a row of 9 would not broadcast: give it its own use
    g.node[3].input[1] = "b9"
    g.node.insert(2, helper.make_node("Pad", ["b", "pads"], ["b9"]))
    g.initializer.append(numpy_helper.from_array(np.array([0, 5], np.int64), "pads"))
    src = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    x = rng.standard_normal((2, 4)).astype(np.float32)
    want = ReferenceEvaluator(src).run(None, {"x": x})[0]
    with pytest.raises(Exception, match="block_size|per axis"):
        run_model(src, {"x": x})  # as ONNX Runtime has it
    with pytest.warns(UserWarning, match="2 blocked DequantizeLinear"):
        fixed = load_model(src)
    np.testing.assert_allclose(run_model(fixed, {"x": x})[0], want, rtol=1e-6, atol=1e-7)
    assert [n.input[1] for n in src.graph.node[:2]] == ["ws", "bs"]  # the input is untouched
