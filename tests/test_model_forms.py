"""Models as conversion tools leave them: ONNX Runtime's float16 converter with keep_io_types
writes its input Casts after the nodes that read them, which ONNX Runtime runs and the checker
refuses; `rewrite` sorts the nodes on load instead of failing with "fails onnx.checker"."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from onnx_models import zipmap_mlp  # tests/ (pytest puts it on sys.path)

from rewriter.cli import main
from rewriter.ir import load_model, run_model, sort_nodes

float16 = pytest.importorskip("onnxruntime.transformers.float16")


@pytest.fixture(scope="module")
def fp16_io32(tmp_path_factory: pytest.TempPathFactory) -> str:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.SiLU(), torch.nn.Conv2d(8, 4, 1)
    ).eval()
    d = tmp_path_factory.mktemp("fp16")
    src, dst = str(d / "fp32.onnx"), str(d / "fp16.onnx")
    torch.onnx.export(
        net,
        (torch.randn(1, 3, 16, 16),),
        src,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    m16 = float16.convert_float_to_float16(onnx.load(src), keep_io_types=True)
    onnx.save(m16, dst)
    return dst


def test_converter_output_is_out_of_order(fp16_io32: str) -> None:
    with pytest.raises(onnx.checker.ValidationError, match="topologically sorted"):
        onnx.checker.check_model(onnx.load(fp16_io32))


def test_rewrite_sorts_and_rewrites(fp16_io32: str, tmp_path) -> None:
    before = open(fp16_io32, "rb").read()
    out, report = tmp_path / "out.onnx", tmp_path / "r.json"
    assert main([fp16_io32, "-o", str(out), "--report", str(report), "-q"]) == 0
    assert open(fp16_io32, "rb").read() == before  # the input file is left as it was
    new = onnx.load(out)
    onnx.checker.check_model(new, full_check=True)
    r = json.loads(report.read_text())
    assert [s["function"] for s in r["sites"]] == ["silu"] and r["sites"][0]["replaced"]
    x = {"x": np.random.default_rng(1).standard_normal((2, 3, 16, 16)).astype(np.float32)}
    (a,), (b,) = run_model(onnx.load(fp16_io32), x), run_model(new, x)
    assert a.dtype == b.dtype == np.float32
    assert np.linalg.norm(b - a) <= 1e-2 * np.linalg.norm(a)


def test_sort_nodes_keeps_the_given_order_where_free() -> None:
    g = helper.make_graph(
        [
            helper.make_node("Tanh", ["b"], ["c"], name="late"),  # reads b, written below
            helper.make_node("Relu", ["x"], ["a"], name="first"),
            helper.make_node("Neg", ["x"], ["b"], name="second"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, [2]),
            helper.make_tensor_value_info("c", TensorProto.FLOAT, [2]),
        ],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    fixed = load_model(m)
    assert [n.name for n in m.graph.node] == ["late", "first", "second"]  # not modified
    assert [n.name for n in fixed.graph.node] == ["first", "second", "late"]
    onnx.checker.check_model(fixed, full_check=True)
    assert sort_nodes(fixed.graph) == 0  # sorted stays as it is


# -- models older than opset 11 (old exporters, old model zoos) ------------------------------


@pytest.fixture(scope="module")
def opset9(tmp_path_factory: pytest.TempPathFactory) -> str:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.GELU(), torch.nn.Conv2d(8, 4, 1)
    ).eval()
    path = str(tmp_path_factory.mktemp("old") / "opset9.onnx")
    torch.onnx.export(
        net,
        (torch.randn(1, 3, 16, 16),),
        path,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "batch"}},
        opset_version=9,
        dynamo=False,
    )
    return path


def test_old_opset_is_converted_on_load_and_said(opset9: str, tmp_path, capsys) -> None:
    before = open(opset9, "rb").read()
    out, report = tmp_path / "out.onnx", tmp_path / "r.json"
    assert main([opset9, "-o", str(out), "--report", str(report), "-q"]) == 0
    err = capsys.readouterr().err
    assert err.count("rewrite: note:") == 1  # once, though the model is read more than once
    assert "opset 9 converted to opset 11 with onnx.version_converter" in err
    assert open(opset9, "rb").read() == before
    new = onnx.load(out)
    assert [o.version for o in new.opset_import if o.domain == ""] == [11]
    onnx.checker.check_model(new, full_check=True)
    assert json.loads(report.read_text())["sites"][0]["replaced"]
    x = {"x": np.random.default_rng(1).standard_normal((2, 3, 16, 16)).astype(np.float32)}
    (a,), (b,) = run_model(onnx.load(opset9), x), run_model(new, x)  # against the opset-9 file
    assert np.linalg.norm(b - a) <= 1e-3 * np.linalg.norm(a)


@pytest.mark.parametrize("opset", [6, 9])
def test_ir_version_3_models_rewrite(opset: int, tmp_path) -> None:
    """IR version 3 (older model-zoo files, onnx's pytorch-converted backend tests): every
    initializer is a graph input too. The rational's constants are not, so the rewritten
    model failed onnx.checker ("pau/.../clip_hi in initializer but not in graph input"); at
    opset 6 the version converter's own new initializers failed it first (a Pad's pads)."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 4)).astype(np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Tanh", ["h"], ["t"])]
    if opset == 6:
        nodes.append(helper.make_node("Pad", ["t"], ["y"], pads=[0, 1, 0, 1], mode="constant"))
    else:
        nodes.append(helper.make_node("Identity", ["t"], ["y"]))
    g = helper.make_graph(
        nodes,
        "ir3",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4]),
            helper.make_tensor_value_info("w", TensorProto.FLOAT, [4, 4]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 3
    src, out = tmp_path / "ir3.onnx", tmp_path / "out.onnx"
    onnx.save(m, src)
    assert main([str(src), "-o", str(out), "-q"]) == 0
    new = onnx.load(out)
    onnx.checker.check_model(new, full_check=True)
    assert new.ir_version >= 4 and any(n.name.startswith("pau/") for n in new.graph.node)
    assert "w" in {i.name for i in new.graph.input}  # still overridable, as in the original
    x = {"x": rng.standard_normal((2, 4)).astype(np.float32)}
    (a,), (b,) = run_model(onnx.load(src), x), run_model(new, x)  # against the IR-3 file
    assert a.shape == b.shape == ((2, 6) if opset == 6 else (2, 4))
    assert np.abs(b - a).max() < 1e-3


def test_old_opset_the_converter_cannot_take_is_one_line(tmp_path, capsys) -> None:
    g = helper.make_graph(
        [helper.make_node("ImageScaler", ["x"], ["y"], scale=2.0)],  # caffe2-era, removed op
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])],
    )
    path = tmp_path / "old.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 8)]), path)
    assert main([str(path), "-o", str(tmp_path / "o.onnx")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"rewrite: error: {path}: model uses opset 8 and onnx.version_converter cannot convert "
        "it to 11 (ImageScaler: no longer an ONNX op); export it again with opset >= 11"
    )
    assert not (tmp_path / "o.onnx").exists()


# -- scikit-learn classifiers through skl2onnx: probabilities as a sequence of maps ----------


def test_zipmap_probabilities_are_verified(tmp_path, capsys) -> None:
    src = tmp_path / "mlp.onnx"
    onnx.save(zipmap_mlp(), src)
    out, rep = tmp_path / "out.onnx", tmp_path / "r.json"
    assert main([str(src), "-o", str(out), "--report", str(rep)]) == 0
    text = capsys.readouterr().out
    # before: rel-L2 inf on the maps, every site backed off, "0 of 1 sites replaced"
    assert "worst output 'output_probability'" in text and "top-1 agreement 100.0%" in text
    assert "wrote" in text and "1 of 1 sites replaced" in text
    x = {"X": np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)}
    a, b = run_model(onnx.load(src), x)[1], run_model(onnx.load(out), x)[1]
    assert a.shape == b.shape == (5, 3)  # [samples, classes] from the maps
    np.testing.assert_allclose(a.sum(1), 1.0, rtol=1e-5)
    assert np.abs(a - b).max() < 1e-3


def test_as_array_reads_every_output_type() -> None:
    from rewriter.ir.runtime import as_array

    maps = [{0: 0.25, 1: 0.75}, {0: 1.0, 1: 0.0}]
    np.testing.assert_array_equal(as_array(maps), [[0.25, 0.75], [1.0, 0.0]])
    seq = [np.ones((2, 3)), np.zeros((2, 3))]
    assert as_array(seq).shape == (2, 2, 3)
    assert as_array([np.ones(2), np.ones(3)]).shape == (5,)
    assert as_array(np.arange(3)).dtype == np.arange(3).dtype


def test_ort_fused_activations_are_sites(tmp_path, capsys) -> None:
    """ONNX Runtime's transformer optimizer (and its sessions at ORT_ENABLE_EXTENDED) fuse
    GELU, its tanh form and QuickGELU into com.microsoft ops, the bias Add too (BiasGelu,
    FastGelu with a bias): no rule matched them, and the line said to rewrite the model as
    exported, which a user who got the optimized file cannot. They are sites now: the bias
    Add is split off on load (said; ONNX Runtime fuses it again), the rest is matched."""
    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["h"]),
            helper.make_node("BiasGelu", ["h", "b"], ["g"], domain="com.microsoft"),
            helper.make_node("FastGelu", ["g", "b"], ["f"], domain="com.microsoft"),
            helper.make_node("QuickGelu", ["f"], ["q"], domain="com.microsoft"),
            helper.make_node("Gelu", ["q"], ["y"], domain="com.microsoft"),
        ],
        "fused",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4, 16])],
        [
            numpy_helper.from_array(rng.standard_normal((8, 16)).astype(np.float32), "w"),
            numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "b"),
        ],
    )
    m = helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    src, out = tmp_path / "fused.onnx", tmp_path / "o.onnx"
    onnx.save(m, src)
    before = src.read_bytes()
    assert main([str(src), "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert "written as the ops they fused (1 BiasGelu, 1 FastGelu)" in " ".join(printed.err.split())
    assert "4 of 4 sites replaced" in printed.out
    for rule in ("gelu_ort", "gelu_tanh_ort", "swish_ort"):
        assert rule in printed.out
    assert src.read_bytes() == before
    written = onnx.load(str(out))
    assert not [n.op_type for n in written.graph.node if n.domain == "com.microsoft"]
    x = rng.standard_normal((3, 4, 8)).astype(np.float32)
    (want,), (got,) = run_model(m, {"x": x}), run_model(written, {"x": x})
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-3
    # kept (another pipeline), the split model computes what the fused one does
    assert main([str(src), "-p", "pau_tanh", "-o", str(out)]) == 0
    capsys.readouterr()
    np.testing.assert_allclose(
        run_model(onnx.load(str(out)), {"x": x})[0], want, rtol=1e-5, atol=1e-5
    )
    # an MLP's FusedGemm (ORT_ENABLE_EXTENDED): the Gemm and the activation, its alpha kept
    gemm = helper.make_graph(
        [
            helper.make_node(
                "FusedGemm",
                ["x", "w", "b"],
                ["y"],
                domain="com.microsoft",
                transB=1,
                activation="Elu",
                activation_alpha=0.5,
            ),
        ],  # fmt: skip
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 16])],
        [
            numpy_helper.from_array(rng.standard_normal((16, 8)).astype(np.float32), "w"),
            numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "b"),
        ],
    )
    m = helper.make_model(
        gemm, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    onnx.save(m, src)
    assert main([str(src), "-o", str(out), "--report", str(tmp_path / "r.json")]) == 0
    (site,) = json.loads((tmp_path / "r.json").read_text())["sites"]
    assert (site["function"], site["params"], site["replaced"]) == ("elu", {"alpha": 0.5}, True)
    x2 = rng.standard_normal((5, 8)).astype(np.float32)
    (want,), (got,) = run_model(m, {"x": x2}), run_model(onnx.load(str(out)), {"x": x2})
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-3


def test_piecewise_linear_activations_are_counted_when_pau_all_finds_none(tmp_path, capsys) -> None:
    """A ReLU/HardSwish net (ResNet, OPT, LeViT from transformers): pau_all has no site, and
    the line counts what the model has instead of the generic 'no site' hint."""
    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["h"]),
            helper.make_node("Relu", ["h"], ["r"]),
            helper.make_node("HardSwish", ["r"], ["s"]),
            helper.make_node("Relu", ["s"], ["y"]),
        ],
        "piecewise",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 16])],
        [numpy_helper.from_array(rng.standard_normal((8, 16)).astype(np.float32), "w")],
    )
    src = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), src)
    assert main([str(src), "-o", str(tmp_path / "o.onnx")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "no smooth activation (what pau_all rewrites): this model's are piecewise-linear "
        "(2 relu, 1 hardswish), exact and cheap as they are; -p pau_relu replaces them" in out
    )


def test_prelu_with_a_slope_per_channel_is_counted_where_nothing_is_a_site(tmp_path, capsys):
    """MTCNN's proposal net (facenet-pytorch's PNet, exported as its users do: any image size)
    has only PReLUs with a slope per channel, no site of any rule: the line says what the
    model has (before: the generic 'no site of pipeline' hint)."""
    from conftest import load_zoo_module

    class PNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Sequential(
                torch.nn.Conv2d(3, 10, 3), torch.nn.PReLU(10), torch.nn.MaxPool2d(2, 2, ceil_mode=True),
                torch.nn.Conv2d(10, 16, 3), torch.nn.PReLU(16),
            )  # fmt: skip
            self.prob, self.box = torch.nn.Conv2d(16, 2, 1), torch.nn.Conv2d(16, 4, 1)

        def forward(self, x):
            h = self.body(x)
            return self.box(h), torch.softmax(self.prob(h), dim=1)

    src = tmp_path / "pnet.onnx"
    axes = {"x": {0: "n", 2: "h", 3: "w"}}
    load_zoo_module()._export(PNet().eval(), (torch.rand(1, 3, 60, 80),), str(src), ["x"],
                              ["box", "prob"], axes, False)  # fmt: skip
    assert main([str(src), "-o", str(tmp_path / "o.onnx")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "no smooth activation (what pau_all rewrites): this model's are piecewise-linear "
        "(2 PRelu with a slope per channel), exact and cheap as they are" in out
    )
    assert "-p pau_" not in out  # no pipeline replaces them


# -- module hierarchies exported as ONNX local functions ---------------------------------------


class _Block(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc, self.act = torch.nn.Linear(8, 8), torch.nn.GELU()

    def forward(self, x):
        return self.act(self.fc(x))


def test_sites_inside_local_functions_are_found(tmp_path, capsys) -> None:
    """torch's export_modules_as_functions puts each GELU in a function body: '0 sites' before."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(_Block(), _Block()).eval()
    src = str(tmp_path / "fn.onnx")
    torch.onnx.export(
        net, (torch.randn(2, 8),), src, input_names=["x"], dynamic_axes={"x": {0: "batch"}},
        opset_version=17, dynamo=False, export_modules_as_functions={_Block, torch.nn.GELU},
    )  # fmt: skip
    assert len(onnx.load(src).functions) == 2
    out, rep = tmp_path / "out.onnx", tmp_path / "r.json"
    assert main([src, "-o", str(out), "--report", str(rep), "-q"]) == 0
    err = capsys.readouterr().err
    assert err.count("rewrite: note:") == 1 and "2 local function(s) inlined" in err
    r = json.loads(rep.read_text())
    assert [s["function"] for s in r["sites"]] == ["gelu", "gelu"]
    assert all(s["replaced"] for s in r["sites"])
    new = onnx.load(out)
    assert not new.functions
    x = {"x": np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)}
    (a,), (b,) = run_model(onnx.load(src), x), run_model(new, x)
    assert np.linalg.norm(b - a) <= 1e-2 * np.linalg.norm(a)


@pytest.mark.parametrize(
    ("op", "domain", "named"),
    [("MyOp", "com.example", "com.example:MyOp"), ("EfficientNMS_TRT", "", "EfficientNMS_TRT")],
)
def test_an_op_onnx_runtime_lacks_is_one_line_saying_what_to_do(
    op, domain, named, tmp_path, capsys
) -> None:
    """A custom op, or a TensorRT plugin a YOLO export for TensorRT ends in (EfficientNMS_TRT:
    ONNX Runtime knows its schema, has no kernel): nothing can be verified or timed. One line
    names the op and says to export the model without it; nothing is written."""
    outs = ["num_dets", "boxes", "scores", "classes"] if domain == "" else ["y"]
    attrs = (
        dict(plugin_version="1", score_threshold=0.25, iou_threshold=0.45, max_output_boxes=100,
             background_class=-1, score_activation=0, box_coding=0)
        if domain == ""
        else {}
    )  # fmt: skip
    g = helper.make_graph(
        [
            helper.make_node("Sigmoid", ["x"], ["s"]),
            helper.make_node(op, ["x", "s"], outs, domain=domain, **attrs),
        ],
        "plugin",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 100, 4])],
        [
            helper.make_tensor_value_info(
                o, TensorProto.INT32 if o in ("num_dets", "classes") else TensorProto.FLOAT, None
            )
            for o in outs
        ],  # fmt: skip
    )
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    src, out = tmp_path / "m.onnx", tmp_path / "o.onnx"
    onnx.save(helper.make_model(g, opset_imports=opsets), src)
    capsys.readouterr()
    assert main([str(src), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"has no {named}: export the model without it" in err[0], err
    assert not out.exists()


class _Mlp(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Linear(8, 16), torch.nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.b(torch.nn.functional.gelu(self.a(x))))


@pytest.mark.parametrize(("dtype", "op"), [(torch.float64, "Erf"), (torch.bfloat16, "Gemm")])
def test_a_precision_onnx_runtime_has_no_kernel_for_is_named(dtype, op, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A module exported after ``.double()`` (ONNX Runtime has no CPU Erf in double) or
    ``.bfloat16()`` (no Gemm): the line said to export the model without Erf, as for a TensorRT
    plugin. It names the precision and says to export in float32."""
    src, out = tmp_path / "m.onnx", tmp_path / "o.onnx"
    torch.onnx.export(
        _Mlp().to(dtype).eval(), (torch.randn(2, 8, dtype=dtype),), str(src), dynamo=True
    )
    capsys.readouterr()
    assert main([str(src), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    name = "double" if dtype == torch.float64 else "bfloat16"
    assert len(err) == 1, err
    assert (
        f"has no {name} {op} on the CPU, and this model computes in {name}: export it in float32"
        in err[0]
    )
    assert not out.exists()


def test_an_onnx_op_at_a_type_onnx_runtime_has_no_kernel_for_is_named(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The TorchScript exporter writes ``torch.eye(n, dtype=torch.bool)`` as a boolean
    ``EyeLike``, which ONNX Runtime has no kernel for (MM Grounding DINO's export). The line
    said ONNX Runtime "has no EyeLike" and to export without it, as for a TensorRT plugin; it
    has EyeLike, at other types: the line says so and what to export instead."""
    g = helper.make_graph(
        [
            helper.make_node("Cast", ["x"], ["b"], to=TensorProto.BOOL),
            helper.make_node("EyeLike", ["b"], ["e"]),
            helper.make_node("Cast", ["e"], ["f"], to=TensorProto.FLOAT),
            helper.make_node("Sigmoid", ["x"], ["s"]),
            helper.make_node("Add", ["s", "f"], ["y"]),
        ],
        "eye",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 4])],
    )
    src, out = tmp_path / "m.onnx", tmp_path / "o.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), src)
    capsys.readouterr()
    assert main([str(src), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Could not find an implementation for EyeLike(9)" in err[0], err
    assert "has EyeLike but not for the types this node computes in (input bool)" in err[0], err
    assert err[0].endswith("export the model so that EyeLike computes in float32 or int64")
    assert not out.exists()


def _repaired_on_load(
    src, x, refused: str, note: str, want: np.ndarray, tol: float, capsys
) -> None:  # type: ignore[no-untyped-def]
    """``src``, an export ONNX Runtime refuses (``refused`` in its error), rewrites with one
    ``note`` saying what load repaired, leaves the input file as it was, and computes ``want``
    within ``tol``."""
    out = src.parent / "out.onnx"
    before = src.read_bytes()
    with pytest.raises(Exception, match=refused):
        run_model(onnx.load(src), {"x": x.numpy()})
    assert main([str(src), "-o", str(out)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert note in err
    assert src.read_bytes() == before
    new = onnx.load(out)
    onnx.checker.check_model(new, full_check=True)
    (got,) = run_model(new, {"x": x.numpy()})
    assert got.shape == want.shape and np.abs(got - want).max() < tol


class _NegativePermute(torch.nn.Module):
    """Mamba2's mixer: ``permute`` with axes counted from the end."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x.permute(0, -2, -1, 1)) * 2.0


def test_a_transpose_counting_axes_from_the_end_is_counted_from_zero(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """torch's TorchScript exporter writes ``permute(0, -2, -1, 1)`` as ``perm=[0, -2, -1,
    1]``; ONNX Runtime refused the whole model ("Invalid attribute perm"), so Mamba2 exported
    that way could not be rewritten. The perm is counted from 0 on load, saying so; the input
    file is left as it was."""
    src = tmp_path / "neg.onnx"
    x = torch.randn(2, 3, 4, 5)
    torch.onnx.export(_NegativePermute(), (x,), str(src), dynamo=False, input_names=["x"])
    (perm,) = [
        list(n.attribute[0].ints) for n in onnx.load(src).graph.node if n.op_type == "Transpose"
    ]
    assert perm == [0, -2, -1, 1]  # what the exporter writes
    want = (torch.tanh(x.permute(0, 2, 3, 1)) * 2.0).numpy()
    note = "1 Transpose perm(s) with negative axes written as 0..rank-1"
    _repaired_on_load(src, x, "perm", note, want, 1e-3, capsys)


class _KeypointPeaks(torch.nn.Module):
    """SuperPoint's keypoint suppression in small: a score map [batch, H, W] is max-pooled as
    it is (torch pools an unbatched [C, H, W] tensor), then a GELU head on the peaks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.conv(x)[:, 0]  # [batch, H, W]
        peaks = torch.nn.functional.max_pool2d(scores, kernel_size=5, stride=1, padding=2)
        return torch.nn.functional.gelu(torch.where(scores == peaks, scores, 0.0 * scores))


def test_a_pooling_of_an_unbatched_tensor_gets_a_batch_of_one(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The TorchScript exporter writes ``max_pool2d`` of a [batch, H, W] map as a MaxPool of a
    rank-3 input with a 2-d kernel: ONNX Runtime refused the whole model ("Attribute dilations
    has incorrect size"; SuperGlue's and LightGlue's SuperPoint). It gets an Unsqueeze and a
    Squeeze around it on load, saying so; the input file is left as it was."""
    src = tmp_path / "peaks.onnx"
    torch.manual_seed(0)
    net, x = _KeypointPeaks().eval(), torch.randn(2, 3, 16, 16)
    torch.onnx.export(net, (x,), str(src), dynamo=False, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}})  # fmt: skip
    with torch.no_grad():
        want = net(x).numpy()
    note = "1 pooling(s) of an unbatched tensor given a batch of one"
    _repaired_on_load(src, x, "dilations has incorrect size", note, want, 1e-2, capsys)


class _MaskPositions(torch.nn.Module):
    """PI0's positions in small: a mask's running count (``mask.cumsum(-1)``, which torch sums
    as int64) scales a GELU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.gelu(x) * (x > 0).cumsum(-1)


def test_a_cumsum_of_booleans_is_summed_as_int64(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """torch's TorchScript exporter writes ``mask.cumsum(-1)`` of a boolean mask as a CumSum of
    booleans, which ONNX does not allow: ONNX Runtime refused the whole model (PI0's export,
    "Type 'tensor(bool)' of input parameter ... of operator (CumSum) ... is invalid"). The
    mask is cast to int64 before it on load, as torch sums it, saying so."""
    src = tmp_path / "positions.onnx"
    x = torch.randn(2, 8)
    torch.onnx.export(_MaskPositions(), (x,), str(src), dynamo=False, input_names=["x"])
    (cumsum,) = [n for n in onnx.load(src).graph.node if n.op_type == "CumSum"]
    want = _MaskPositions()(x).numpy()
    note = "1 CumSum(s) of booleans summed as int64, as torch sums them"
    _repaired_on_load(src, x, "tensor\\(bool\\)", note, want, 1e-2, capsys)


def test_a_grid_sampled_at_another_type_than_its_image_is_cast_to_it(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """torch's TorchScript exporter computed GLM-4V's sampling grid (``(coords + 0.5) / size``
    of traced int64 coordinates) in double, beside a float32 table of position embeddings:
    torch samples the two in one type, ONNX Runtime has no GridSample of a float image at a
    double grid and refused the whole model ("Could not find an implementation for
    GridSample(16)"). The grid is cast to the image's type on load, saying so."""
    table = np.random.default_rng(0).standard_normal((1, 4, 6, 6)).astype(np.float32)
    g = helper.make_graph(
        [
            helper.make_node("Cast", ["x"], ["xd"], to=TensorProto.DOUBLE),
            helper.make_node("Reshape", ["xd", "shape"], ["grid"]),
            helper.make_node(
                "GridSample",
                ["table", "grid"],
                ["s"],
                mode="bicubic",
                padding_mode="border",
                name="/embeddings/GridSample",
            ),  # fmt: skip
            helper.make_node("Tanh", ["s"], ["y"]),
        ],
        "sampled",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 5, 1])],
        [
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(np.array([1, 5, 1, 2], np.int64), "shape"),
        ],  # fmt: skip
    )
    src = tmp_path / "sampled.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), src)
    x = torch.rand(5, 2) * 2 - 1
    grid = x.reshape(1, 5, 1, 2)
    want = torch.tanh(
        torch.nn.functional.grid_sample(
            torch.from_numpy(table),
            grid,
            mode="bicubic",
            padding_mode="border",
            align_corners=False,
        )  # fmt: skip
    ).numpy()
    note = "1 GridSample grid(s) cast to their image's type, as torch samples"
    _repaired_on_load(src, x, "GridSample", note, want, 1e-2, capsys)


@pytest.mark.parametrize("keep_io_types", [True, False])
def test_a_float16_model_has_a_noise_floor(keep_io_types: bool, tmp_path) -> None:
    """The noise floor moves the inputs by one part in 10^6, which rounds away in float16
    (values 2^-10 apart): every float16 model, its inputs float16 or cast to it first, read a
    floor of 0, and its rewrite's rel-L2 stood alone with nothing to weigh it against. The
    inputs move by one unit in the last place there now, and the floor is float16's own."""
    from rewriter.verify import verify

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.GELU(), torch.nn.Conv2d(8, 4, 1)
    ).eval()
    src = str(tmp_path / "fp32.onnx")
    torch.onnx.export(net, (torch.randn(1, 3, 16, 16),), src, input_names=["x"],
                      output_names=["y"], opset_version=17, dynamo=False)  # fmt: skip
    m32 = onnx.load(src)
    m16 = float16.convert_float_to_float16(m32, keep_io_types=keep_io_types)
    floor32 = verify(m32, m32).outputs[0].floor  # float32: moved by one part in 10^6
    assert floor32 is not None and 0 < floor32 < 1e-5
    floor = verify(m16, m16).outputs[0].floor
    assert floor is not None and 1e-4 < floor < 1e-2


def test_float16_weights_cast_to_float32_keep_the_float32_floor(tmp_path) -> None:
    """Weights stored in float16 and cast to float32 on the way in (a way to halve a file)
    compute in float32: the floor moves the inputs by one part in 10^6 there, as for any
    float32 model, not by float16's ulp."""
    from rewriter.verify import verify

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.GELU()).eval()
    src = str(tmp_path / "fp32.onnx")
    torch.onnx.export(net, (torch.randn(1, 3, 16, 16),), src, input_names=["x"],
                      output_names=["y"], opset_version=17, dynamo=False)  # fmt: skip
    m = onnx.load(src)
    for t in m.graph.initializer:
        name = t.name
        t.CopyFrom(
            numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), name + "_h")
        )
        m.graph.node.insert(
            0, helper.make_node("Cast", [name + "_h"], [name], to=TensorProto.FLOAT)
        )
    onnx.checker.check_model(m)
    floor = verify(m, m).outputs[0].floor
    assert floor is not None and 0 < floor < 1e-5


@pytest.mark.parametrize("opset", [17, 9])
def test_tf2onnx_erfc_is_written_as_one_minus_erf(opset: int, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """tf2onnx keeps TensorFlow's Erfc for Keras 3's exact GELU, 0.5 x erfc(-x * 0.7071), in
    the default domain ("Unsupported ops: Erfc", saved anyway): ONNX has no Erfc, and ONNX
    Runtime refused the model, so the command relayed its load error (exit 1; at opset 9 it
    advised a higher opset, which fails alike). Erfc is written as 1 - Erf on load, said, and
    the GELU rules match it."""
    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w1"], ["a"]),
            helper.make_node("Mul", ["a", "k"], ["m"]),
            helper.make_node("Neg", ["m"], ["n"]),
            helper.make_node("Erfc", ["n"], ["e"], name="dense/Gelu/Erfc"),
            helper.make_node("Mul", ["a", "half"], ["ah"]),
            helper.make_node("Mul", ["ah", "e"], ["g"]),
            helper.make_node("MatMul", ["g", "w2"], ["y"]),
        ],
        "keras",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["unk__1", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["unk__2", 8])],
        [
            numpy_helper.from_array(rng.standard_normal((16, 32)).astype(np.float32), "w1"),
            numpy_helper.from_array(rng.standard_normal((32, 8)).astype(np.float32), "w2"),
            numpy_helper.from_array(np.array(0.70710677, np.float32), "k"),
            numpy_helper.from_array(np.array(0.5, np.float32), "half"),
        ],
    )
    src, out = tmp_path / "keras.onnx", tmp_path / "out.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]), str(src))
    before = src.read_bytes()
    assert main([str(src), "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert "1 Erfc node(s) written as 1 - Erf (dense/Gelu/Erfc: ONNX has no Erfc)" in printed.err
    assert "1 of 1 sites replaced" in printed.out and "gelu_erfc" in printed.out
    assert src.read_bytes() == before
    written = onnx.load(str(out))
    assert not any(n.op_type in ("Erfc", "Erf") for n in written.graph.node)
    x = rng.standard_normal((4, 16)).astype(np.float32)
    a = x @ numpy_helper.to_array(g.initializer[0])
    from scipy.special import erf

    want = (0.5 * a * (1 + erf(a / np.sqrt(2)))) @ numpy_helper.to_array(g.initializer[1])
    np.testing.assert_allclose(run_model(written, {"x": x})[0], want, rtol=0, atol=5e-3 * np.abs(want).max())  # fmt: skip


def test_a_float16_conversion_that_broke_the_types_is_named_as_the_cause(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """onnxconverter-common's float16 conversion leaves a BERT's pooler Gather (keep_io_types)
    and GPT-2's Adds typed one way and computed another, and ONNX Runtime refuses the model:
    the line told the user to export it again with the other torch exporter, which was not
    the cause. A model holding float16 or bfloat16 values is told of its conversion."""
    g = helper.make_graph(
        [
            helper.make_node("Tanh", ["x"], ["t"]),
            helper.make_node("Gather", ["t", "i"], ["gt"], axis=1),
            helper.make_node("Cast", ["gt"], ["y"], to=TensorProto.FLOAT16),
        ],
        "converted",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [1, 16])],
        [numpy_helper.from_array(np.array(0, np.int64), "i")],
        value_info=[helper.make_tensor_value_info("gt", TensorProto.FLOAT16, [1, 16])],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.producer_name = "pytorch"  # the converter keeps the exporter's name
    src = tmp_path / "fp16.onnx"
    onnx.save(m, str(src))
    assert main([str(src), "-o", str(tmp_path / "out.onnx")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "the other torch exporter" not in err
    assert "a model converted to float16 can hold nodes in a type they do not take" in err
    assert "op_block_list" in err and not (tmp_path / "out.onnx").exists()


@pytest.mark.parametrize("level", ["ORT_ENABLE_EXTENDED", "ORT_ENABLE_ALL"])
def test_activations_onnx_runtime_fused_into_its_convs_are_sites_or_named(
    level: str, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """A CNN saved from a session (``optimized_model_filepath``) at ORT_ENABLE_EXTENDED holds
    its Sigmoid and Tanh in com.microsoft FusedConv's ``activation`` attribute (at
    ORT_ENABLE_ALL in the NCHWc Conv's, laid out for this machine's vector width): no site,
    and the line said only how to list rules. A FusedConv is written as its Conv and its
    activation on load, sites like the unfused ones; the NCHWc Convs are named where the
    optimizer put them."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
            helper.make_node("Sigmoid", ["c1"], ["s"]),
            helper.make_node("Conv", ["s", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
            helper.make_node("Tanh", ["c2"], ["y"]),
        ],
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 16, 16])],
        [
            numpy_helper.from_array(
                (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32), "w1"
            ),  # fmt: skip
            numpy_helper.from_array(np.zeros(8, np.float32), "b1"),
            numpy_helper.from_array(
                (rng.standard_normal((8, 8, 3, 3)) * 0.3).astype(np.float32), "w2"
            ),  # fmt: skip
            numpy_helper.from_array(np.zeros(8, np.float32), "b2"),
        ],
    )
    src, opt = tmp_path / "cnn.onnx", tmp_path / "optimized.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(src))
    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    so.optimized_model_filepath = str(opt)
    ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])
    assert main([str(opt), "-o", str(tmp_path / "out.onnx")]) == 0
    printed = capsys.readouterr()
    out = " ".join(printed.out.split())
    if level == "ORT_ENABLE_EXTENDED":
        assert "written as the ops they fused (2 FusedConv)" in " ".join(printed.err.split())
        assert "2 of 2 sites replaced" in out
        x = rng.standard_normal((1, 3, 16, 16)).astype(np.float32)
        (want,) = run_model(onnx.load(str(src)), {"x": x})
        (got,) = run_model(onnx.load(str(tmp_path / "out.onnx")), {"x": x})
        assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-3
        return
    assert "0 site(s)" in out
    assert "no site: this model's activations are ONNX Runtime fused ops (Sigmoid in " in out
    assert "Tanh in " in out and "rewrite the model as exported, before that optimizer" in out


class _SplitGelu(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b, c = x.split(4, dim=-1)
        return torch.nn.functional.gelu(a) * b + c


def test_a_dynamo_export_at_opset_17_with_opset_18s_split_count_runs(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """torch's dynamo exporter at ``opset_version=17`` writes ``x.split(4)`` as a Split with
    ``num_outputs``, an opset-18 attribute (GPT-2's attention does this): ONNX Runtime refused
    the model, and the command relayed its load error (exit 1). Below opset 18 the outputs'
    count says the same: the attribute goes on load, said in a note."""
    src, out = tmp_path / "m17.onnx", tmp_path / "out.onnx"
    x = torch.randn(2, 5, 12)
    torch.onnx.export(
        _SplitGelu().eval(),
        (x,),
        str(src),
        dynamo=True,
        opset_version=17,
        dynamic_shapes={"x": {0: "batch", 1: "seq"}},
    )
    assert any(
        a.name == "num_outputs" for n in onnx.load(str(src)).graph.node for a in n.attribute
    )  # the exporter still writes it; else this test proves nothing
    before = src.read_bytes()
    assert main([str(src), "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert "Split node(s) with opset 18's num_outputs written for opset 17" in printed.err
    assert "1 of 1 sites replaced" in printed.out
    assert src.read_bytes() == before
    xs = torch.randn(3, 7, 12)
    (got,) = run_model(onnx.load(str(out)), {"x": xs.numpy()})
    want = _SplitGelu()(xs).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=5e-3 * np.abs(want).max())


@pytest.mark.parametrize("opset", [17, 11])
def test_a_split_count_below_18_that_does_not_divide_is_cut_as_opset_18_cuts(opset: int) -> None:
    """A length of 10 in 3 parts: opset 18 cuts 4, 4, 2; the sizes are written so (an input at
    opset 13-17, the attribute below)."""
    g = helper.make_graph(
        [helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3)],
        "split",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 10])],
        [helper.make_tensor_value_info(v, TensorProto.FLOAT, None) for v in "abc"],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    with pytest.warns(UserWarning, match="num_outputs written for opset"):
        fixed = load_model(m)
    x = np.arange(20, dtype=np.float32).reshape(2, 10)
    a, b, c = run_model(fixed, {"x": x})
    np.testing.assert_array_equal(a, x[:, :4])
    np.testing.assert_array_equal(b, x[:, 4:8])
    np.testing.assert_array_equal(c, x[:, 8:])


def test_a_keras_hard_sigmoid_gate_is_a_hardsigmoid_site(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Keras 3's hard_sigmoid is relu6(x + 3) / 6, through tf2onnx Clip(x + 3, 0, 6) / 6 (the
    squeeze-excitation gates of its MobileNetV3): its Clip was read as a relu6 site, and the
    line said "piecewise-linear (1 relu6) ... -p pau_relu6"; it is a hardsigmoid site."""
    rng = np.random.default_rng(0)
    consts = {"three": 3.0, "zero": 0.0, "six": 6.0}
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["h"]),
            helper.make_node("Add", ["h", "three"], ["a"]),
            helper.make_node("Clip", ["a", "zero", "six"], ["c"]),
            helper.make_node("Div", ["c", "six"], ["gate"]),
            helper.make_node("Mul", ["x", "gate"], ["y"]),
        ],
        "se",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 16])],
        [numpy_helper.from_array(rng.standard_normal((16, 16)).astype(np.float32), "w")]
        + [numpy_helper.from_array(np.array(v, np.float32), k) for k, v in consts.items()],
    )
    src, out = tmp_path / "se.onnx", tmp_path / "out.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(src))
    assert main([str(src), "-o", str(out)]) == 0
    assert "piecewise-linear (1 hardsigmoid)" in capsys.readouterr().out
    assert main([str(src), "-p", "pau_hardsigmoid", "-o", str(out)]) == 0
    assert "1 of 1 sites replaced" in capsys.readouterr().out
    x = rng.standard_normal((8, 16)).astype(np.float32)
    h = x @ numpy_helper.to_array(g.initializer[0])
    want = x * np.clip(h + 3, 0, 6) / 6
    np.testing.assert_allclose(run_model(onnx.load(str(out)), {"x": x})[0], want, rtol=0, atol=0.05)


def test_activations_inside_the_genai_builders_ops_are_named(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """gpt-oss as onnxruntime-genai's model builder writes it computes every activation inside
    com.microsoft MoE (``activation_type=swiglu``): `rewrite` said "no site of pipeline
    'pau_all'" and pointed at `rewrite --list`, as for a model with no activation at all. The
    activations inside the builder's ops are counted and named (a mixture-of-experts layer
    here, routed by its own MatMul as the builder writes it)."""
    rng = np.random.default_rng(0)
    experts, hidden, inner = 4, 16, 8

    def w(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    moe = helper.make_node(
        "MoE", ["x", "router", "w1", "b1", "w2", "b2"], ["y"], domain="com.microsoft",
        activation_type="swiglu", swiglu_fusion=1, k=2, normalize_routing_weights=1,
    )  # fmt: skip
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "wr"], ["router"]), moe],
        "moe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["tokens", hidden])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["tokens", hidden])],
        [
            w("wr", hidden, experts),
            w("w1", experts, 2 * inner, hidden),
            w("b1", experts, 2 * inner),
            w("w2", experts, hidden, inner),
            w("b2", experts, hidden),
        ],  # fmt: skip
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    src = tmp_path / "moe.onnx"
    onnx.save(helper.make_model(g, opset_imports=opsets), str(src))
    assert main([str(src), "-o", str(tmp_path / "out.onnx")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "no site: this model's activations are inside ONNX Runtime ops (1 swiglu in MoE" in out
    assert "onnxruntime-genai's model builder" in out, out
