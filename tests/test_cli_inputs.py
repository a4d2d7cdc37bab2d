"""Every command that runs a model takes the same inputs (``--inputs``, ``--input-shapes``,
``--val-range``; ``--calibration`` where it has one), and measures sites at the shapes they have
on a run with them (tests/conftest.py's zoo: models built the way users get them)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from conftest import fixed_reshape_model, load_zoo_module  # noqa: E402
from onnx import TensorProto, helper, numpy_helper
from onnx_models import mish_cnn  # tests/ (pytest puts it on sys.path)

from rewriter.cli import main
from rewriter.inputs import generate_inputs

TARGET = ["--target", "ort-cpu:threads=1", "--db", ":memory:"]


def _plan_report(args: list[str], tmp_path, capsys) -> tuple[dict, str, str]:
    report = tmp_path / "r.json"
    code = main([*args, *TARGET, "-o", str(tmp_path / "o.onnx"), "--report", str(report)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(report.read_text()), out, err


def test_bert_sites_measured_at_the_generated_shapes(zoo_paths, tmp_path, capsys) -> None:
    src = zoo_paths["bert_dynamo"]
    r, out, err = _plan_report([src], tmp_path, capsys)
    ids = generate_inputs(onnx.load(src)).feeds["input_ids"]
    decisions = r["plan"]["decisions"]
    assert decisions and not any("not measurable" in d["reason"] for d in decisions)
    gelus = [d for d in decisions if d["function"] == "gelu"]
    assert gelus and all(d["shape"][:2] == list(ids.shape) for d in gelus)  # batch x sequence
    assert all(d["original_ms"] is not None for d in decisions)
    # table and report shapes come from the run: concrete, no symbolic dims
    assert all(all(isinstance(v, int) for v in s["input_shape"]) for s in r["sites"])
    assert "unk__" not in out and "batchx" not in out
    # progress on stderr, tables and results on stdout
    assert "[plan]" in err and "[plan]" not in out
    assert "verification (inputs: generated, 3 draws): worst output" in out


def test_detector_sites_follow_input_shapes(zoo_paths, tmp_path, capsys) -> None:
    src = zoo_paths["yolo_silu"]
    r, _, _ = _plan_report([src], tmp_path, capsys)
    h = generate_inputs(onnx.load(src)).feeds["images"].shape[2]
    first = r["plan"]["decisions"][0]
    assert first["site"] == "silu_0" and first["shape"][2:] == [h // 2, h // 2]
    r, _, _ = _plan_report([src, "--input-shapes", "images:1x3x128x128"], tmp_path, capsys)
    decisions = r["plan"]["decisions"]
    assert not any("not measurable" in d["reason"] for d in decisions)
    assert decisions[0]["shape"] == [1, 8, 64, 64]
    assert r["sites"][0]["input_shape"] == [1, 8, 64, 64]


def test_bench_runs_on_bert(zoo_paths, tmp_path, capsys) -> None:
    js = tmp_path / "b.json"
    args = ["bench", zoo_paths["bert_dynamo"], "--headroom", "--time-cap", "0.5", "--json", str(js)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "input_ids 1x64" in out and "ReLU limit" in out  # the table holds 64 positions
    data = json.loads(js.read_text())
    assert data["inputs"] == "generated" and data["comparison"]["rounds"] > 0


def test_bench_takes_inputs_and_shapes(zoo_paths, tmp_path, capsys) -> None:
    src = zoo_paths["bert_dynamo"]
    feeds = generate_inputs(onnx.load(src), shapes={"input_ids": (1, 32)}).feeds
    np.savez(tmp_path / "in.npz", **feeds)
    js = tmp_path / "b.json"
    base = ["bench", src, "--time-cap", "0.3", "--json", str(js)]
    assert main([*base, "--inputs", str(tmp_path / "in.npz")]) == 0
    assert json.loads(js.read_text())["inputs"] == "--inputs"
    assert main([*base, "--input-shapes", "input_ids:2x32", "--batch", "4"]) == 0
    assert "input_ids 4x32" in json.loads(js.read_text())["shapes"]
    capsys.readouterr()


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "{src}", "--predict-only", "--input-shapes", "pixels:1x3x64x64"],
        ["bench", "{src}", "--input-shapes", "pixels:1x3x64x64"],
        ["map", "{src}", "-o", "{tmp}/m.html", "--val-range", "pixels:[0,1]"],
        ["{src}", "-o", "{tmp}/o.onnx", "--input-shapes", "pixels:1x3x64x64"],
    ],
)
def test_unknown_input_is_one_line_naming_it(argv, zoo_paths, tmp_path, capsys) -> None:
    src = zoo_paths["yolo_silu"]
    code = main([a.format(src=src, tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "'pixels'" in err[0] and "images" in err[0]


def test_shapes_with_data_is_one_line(zoo_paths, tmp_path, capsys) -> None:
    src = zoo_paths["yolo_silu"]
    np.savez(tmp_path / "in.npz", **generate_inputs(onnx.load(src)).feeds)
    code = main(
        [
            src,
            "-o",
            str(tmp_path / "o.onnx"),
            "--inputs",
            str(tmp_path / "in.npz"),
            "--input-shapes",
            "images:1x3x64x64",
        ]  # fmt: skip
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--input-shapes" in err[0] and "--inputs" in err[0]
    assert not (tmp_path / "o.onnx").exists()


def test_without_target_one_line_says_speed_was_not_measured(zoo_paths, tmp_path, capsys) -> None:
    assert main([zoo_paths["yolo_silu"], "-o", str(tmp_path / "o.onnx")]) == 0
    out = capsys.readouterr().out.splitlines()
    lines = [s for s in out if s.startswith("speed not measured")]
    assert len(lines) == 1 and "--target" in lines[0] and "slower" in lines[0]


def test_learned_dry_run_counts_what_a_real_run_replaces(zoo_paths, tmp_path, capsys) -> None:
    src = zoo_paths["yolo_silu"]
    dry, real = tmp_path / "dry.json", tmp_path / "real.json"
    p = ["-p", "pau_all,pau_learned", "-q"]
    assert main([src, *p, "--dry-run", "--report", str(dry)]) == 0
    assert main([src, *p, "-o", str(tmp_path / "o.onnx"), "--report", str(real)]) == 0
    sites = [json.loads(f.read_text())["sites"] for f in (dry, real)]
    names = [[(s["name"], s["function"]) for s in ss] for ss in sites]
    assert names[0] == names[1] and names[0]
    assert {f for _, f in names[0]} >= {"silu", "sigmoid"}


@pytest.mark.parametrize("mode", ["layerwise", "e2e"])
def test_finetune_a_target_output_with_exact_sites(mode, tmp_path, capsys) -> None:
    """What ``rewrite --target`` writes when an exact rewrite won a site: finetune refits the
    rationals and keeps the exact rewrite (it crashed on its missing degrees)."""
    from rewriter.api import find_sites
    from rewriter.candidates import candidates_for
    from rewriter.emit import emit_result

    m = mish_cnn()
    sites = find_sites(m)
    by_kind = [{c.kind: c for c in candidates_for(s, (5, 4), "auto")} for s in sites]
    plan = {sites[0].name: by_kind[0]["exact"], sites[1].name: by_kind[1]["rational"]}
    teacher, student = tmp_path / "m.onnx", tmp_path / "s.onnx"
    onnx.save(m, teacher)
    onnx.save(emit_result(m, plan, "pau_all").model, student)
    out, report = tmp_path / "t.onnx", tmp_path / "r.json"
    args = ["finetune", str(student), "--teacher", str(teacher), "-o", str(out), "--mode", mode]
    extra = ["--epochs", "1"] if mode == "e2e" else ["--report", str(report)]
    code = main([*args, *extra, "--input-shapes", "x:2x3x8x8"])
    assert code == 0, capsys.readouterr().err
    meta = json.loads({p.key: p.value for p in onnx.load(out).metadata_props}["pau_rewriter"])
    assert [e["candidate"] for e in meta["sites"]][0] == "exact:mish_exp"
    if mode == "layerwise":
        r = json.loads(report.read_text())
        assert r["calibration"]["generated"] and r["after"]["cosine"] > 0.999
        first = r["sites"][0]
        assert not first["refitted"] and "not a rational" in first["note"]


def test_plan_and_map_take_input_shapes(zoo_paths, tmp_path, capsys) -> None:
    src, js = zoo_paths["yolo_silu"], tmp_path / "p.json"
    shapes = ["--input-shapes", "images:1x3x128x128"]
    args = ["plan", src, "--predict-only", "--db", str(tmp_path / "db.sqlite"), "--json", str(js)]
    assert main([*args, *shapes]) == 0
    decisions = json.loads(js.read_text())["decisions"]
    assert decisions[0]["shape"] == [1, 8, 64, 64] and decisions[-1]["shape"] == [1, 9, 8, 8]
    assert main(["map", src, "-o", str(tmp_path / "m.html"), "-q", *shapes]) == 0
    sites = json.loads((tmp_path / "m.json").read_text())["sites"]
    assert [s["shape"] for s in sites][:2] == [[1, 8, 64, 64], [1, 8, 32, 32]]
    capsys.readouterr()


def test_map_runs_on_inputs_file(zoo_paths, tmp_path, capsys) -> None:
    src = zoo_paths["bert_dynamo"]
    feeds = generate_inputs(onnx.load(src), shapes={"input_ids": (2, 24)}).feeds
    np.savez(tmp_path / "in.npz", **feeds)
    args = ["map", src, "-o", str(tmp_path / "m.html"), "-q", "--inputs", str(tmp_path / "in.npz")]
    assert main(args) == 0
    sites = json.loads((tmp_path / "m.json").read_text())["sites"]
    gelus = [s for s in sites if s["function"] == "gelu"]
    assert gelus and all(s["shape"][:2] == [2, 24] for s in gelus)
    capsys.readouterr()


def test_budget_measures_on_shaped_generated_batches(zoo_paths, tmp_path, capsys) -> None:
    args = [zoo_paths["bert_dynamo"], "--min-cosine", "0.999", "--input-shapes", "input_ids:1x32"]
    r, out, err = _plan_report(args, tmp_path, capsys)
    decisions = r["plan"]["decisions"]
    gelus = [d for d in decisions if d["function"] == "gelu"]
    assert gelus and all(d["shape"][:2] == [1, 32] for d in gelus)
    assert [s["input_shape"][:2] for s in r["sites"]] == [[1, 32]] * len(r["sites"])
    assert "[budget]" in err and "[budget]" not in out


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [("--val-range", "foo", "NAME:[LO,HI]"), ("--input-shapes", "images:1xq", "1x3x640x640")],
)
def test_bad_flag_syntax_is_one_line_with_an_example(
    flag, value, says, zoo_paths, tmp_path, capsys
):
    for argv in (
        [zoo_paths["yolo_silu"], "-o", str(tmp_path / "o.onnx")],
        ["bench", zoo_paths["yolo_silu"]],
    ):
        assert main([*argv, flag, value]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and flag in err[0] and repr(value) in err[0] and says in err[0], err


def test_val_range_reaches_generated_inputs(zoo_paths, tmp_path, capsys) -> None:
    """Ids up to 5 index the zoo BERT's 2-row token-type table out of range: --val-range is
    used (ONNX Runtime refuses), and the one line names the input and the flags."""
    src = zoo_paths["bert_dynamo"]
    assert main([src, "-o", str(tmp_path / "a.onnx"), "--val-range", "input_ids:[0,5]", "-q"]) == 0
    code = main([src, "-o", str(tmp_path / "b.onnx"), "--val-range", "token_type_ids:[0,5]"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "token_type_ids" in err[0] and "--val-range" in err[0]
    assert not (tmp_path / "b.onnx").exists()


def test_dry_run_of_a_model_no_input_runs_still_reports_sites(tmp_path, capsys) -> None:
    """A dry run needs no inputs: when none can be generated, the shapes stay the inferred ones."""
    m = fixed_reshape_model()
    src, report = tmp_path / "m.onnx", tmp_path / "r.json"
    onnx.save(m, src)
    assert main([str(src), "--dry-run", "--report", str(report), "-q"]) == 0
    sites = json.loads(report.read_text())["sites"]
    assert [s["name"] for s in sites] == ["tanh_0"] and sites[0]["input_shape"] == [
        "batch",
        "features",
    ]
    # the real run's one-line error: tests/test_zoo_cli.py


def _dynamic_cnn(shape: list | None) -> onnx.ModelProto:
    """(x - mean) then Conv 3 -> 8 and SiLU, its input declared ``shape`` (None: no shape at
    all, as a hand-edited or converted model may have)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("Sub", ["image", "mean"], ["centred"]),
            helper.make_node("Conv", ["centred", "w"], ["c"], name="stem", pads=[1, 1, 1, 1]),
            helper.make_node("Sigmoid", ["c"], ["s"]),
            helper.make_node("Mul", ["c", "s"], ["y"]),
        ],
        "dynamic_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 8, "h", "w"])],
        [
            numpy_helper.from_array(np.full((1, 3, 1, 1), 0.5, np.float32), "mean"),
            numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w"),
        ],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("shape", [["b", "c", "h", "w"], None])
def test_channels_come_from_the_weights_when_every_axis_is_dynamic(shape, tmp_path, capsys) -> None:
    """Every axis dynamic (or no shape declared): channels were probed among 1..1024 and every
    size failed at the Conv ("fails on all 64 sizes tried"); the Conv's weights say 3."""
    src = tmp_path / "m.onnx"
    onnx.save(_dynamic_cnn(shape), src)
    gen = generate_inputs(onnx.load(src))
    assert gen.feeds["image"].shape[:2] == (1, 3) and gen.feeds["image"].ndim == 4
    note = next(n for n in gen.notes if n.startswith("image:"))
    assert "axis 1 = 3 (channels, from the weights of Conv 'stem')" in note
    assert ("rank 4 (the model declares no shape)" in note) == (shape is None)
    code = main([str(src), "-o", str(tmp_path / "o.onnx"), "-v"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "cosine 1.0" in out and "1 of 1 sites replaced" in out
    # the input fails onnx.checker (graph inputs need a shape); its rewrite fails it the same way
    assert ("onnx.checker: fails as the input model does" in out) == (shape is None)


def test_an_input_with_no_shape_into_a_matmul_is_batch_by_features(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A float input that declares no shape and meets a MatMul's 16x4 weights: [batch, 16].
    Nothing said its rank, so it was fed as a scalar and every try failed ("no valid inputs
    found for 'x': ... left_num_dims and right_num_dims must be >= 1", exit 2)."""
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["h"], name="proj"),
            helper.make_node("Sigmoid", ["h"], ["s"]),
            helper.make_node("Mul", ["h", "s"], ["y"]),
        ],
        "no_shape_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "w")],
    )
    src = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), src)
    gen = generate_inputs(onnx.load(src))
    assert gen.feeds["x"].shape == (1, 16)
    note = next(n for n in gen.notes if n.startswith("x:"))
    assert (
        "rank 2 (the model declares no shape); axis 1 = 16 (features, from the weights of " in note
    )
    code = main([str(src), "-o", str(tmp_path / "o.onnx")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "1 of 1 sites replaced" in out and "cosine 1.0" in out


def test_a_shared_dim_fixed_by_weights_is_fixed_for_every_input(tmp_path) -> None:
    """Features [b, s, f] into a MatMul with 12-row weights: f is 12, also for a second input
    declared with the same f."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["h"], name="proj"),
            helper.make_node("Add", ["x", "skip"], ["res"]),
            helper.make_node("ReduceSum", ["res"], ["r"], keepdims=1),
            helper.make_node("Add", ["h", "r"], ["hr"]),
            helper.make_node("Tanh", ["hr"], ["y"]),
        ],
        "shared",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "s", "f"]),
            helper.make_tensor_value_info("skip", TensorProto.FLOAT, ["b", "s", "f"]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(rng.standard_normal((12, 4)).astype(np.float32), "w")],
    )
    gen = generate_inputs(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert gen.feeds["x"].shape[-1] == 12 and gen.feeds["skip"].shape == gen.feeds["x"].shape
    assert any("axis 2 = 12 (features, from the weights of MatMul 'proj')" in n for n in gen.notes)


def _sam_like() -> onnx.ModelProto:
    """The float inputs of a SAM mask decoder: point labels the model compares with -1 (a
    padding point), and the original image size, cast to int64 to crop the masks."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    f = TensorProto.FLOAT
    g = helper.make_graph(
        [
            helper.make_node("Equal", ["point_labels", "minus_one"], ["is_pad"]),
            helper.make_node("Unsqueeze", ["point_labels", "last"], ["lab"]),
            helper.make_node("MatMul", ["lab", "w"], ["tok"]),
            helper.make_node("Unsqueeze", ["is_pad", "last"], ["pad3"]),
            helper.make_node("Where", ["pad3", "pad_token", "tok"], ["t"]),
            helper.make_node("ReduceMean", ["t"], ["score"], axes=[1], keepdims=0),
            helper.make_node("Reshape", ["score", "nc11"], ["s4"]),
            helper.make_node("Mul", ["image_embeddings", "s4"], ["x"]),
            helper.make_node("Sigmoid", ["x"], ["sx"]),
            helper.make_node("Mul", ["x", "sx"], ["act"]),
            helper.make_node("Cast", ["orig_im_size"], ["hw"], to=TensorProto.INT64),
            helper.make_node("Slice", ["act", "zeros", "hw", "axes"], ["masks"], name="crop"),
        ],
        "sam_like",
        [
            helper.make_tensor_value_info("image_embeddings", f, [1, 8, 64, 64]),
            helper.make_tensor_value_info("point_labels", f, [1, "num_points"]),
            helper.make_tensor_value_info("orig_im_size", f, [2]),
        ],
        [helper.make_tensor_value_info("masks", f, [1, 8, "h", "w"])],
        [
            numpy_helper.from_array(np.array(-1, np.float32), "minus_one"),
            numpy_helper.from_array(np.array([-1], np.int64), "last"),
            numpy_helper.from_array(rng.standard_normal((1, 8)).astype(np.float32), "w"),
            numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "pad_token"),
            numpy_helper.from_array(np.array([1, 8, 1, 1], np.int64), "nc11"),
            numpy_helper.from_array(np.array([0, 0], np.int64), "zeros"),
            numpy_helper.from_array(np.array([2, 3], np.int64), "axes"),
        ],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_float_codes_and_sizes_get_values_the_model_can_use(tmp_path, capsys) -> None:
    """A SAM decoder's `orig_im_size` was standard normal: cast to int64 it cropped the masks to
    nothing, the masks were "constant on the inputs used" and verification checked only the IoU
    scores. Its `point_labels` never equalled the -1 the model looks for."""
    src = tmp_path / "sam.onnx"
    onnx.save(_sam_like(), src)
    gen = generate_inputs(onnx.load(src))
    size, labels = gen.feeds["orig_im_size"], gen.feeds["point_labels"]
    assert size.dtype == np.float32 and (size >= 16).all()
    assert 0.2 < (labels == -1).mean() < 0.8 and (labels != -1).any()
    assert any("half -1 (compared in Equal" in n for n in gen.notes)
    code = main([str(src), "-o", str(tmp_path / "o.onnx")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "worst output 'masks'" in out and "not checked" not in out


def test_input_model_onnx_runtime_refuses_is_one_line(tmp_path, capsys) -> None:
    """An export whose shapes disagree (PatchTST's TorchScript export adds [.., 32] to
    [.., 4]): ONNX Runtime refuses it at load. One line that says it is the input model, the
    node, and what to do; no output written."""
    from onnx import TensorProto, helper, numpy_helper

    g = helper.make_graph(
        [
            helper.make_node("Add", ["x", "pos"], ["a"], name="/encoder/positional_encoder/Add"),
            helper.make_node("Sigmoid", ["a"], ["s"]),
            helper.make_node("Mul", ["a", "s"], ["y"]),
        ],
        "bad",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.zeros((1, 1, 4), np.float32), "pos")],
    )
    src, out = tmp_path / "bad.onnx", tmp_path / "o.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), src)
    assert main([str(src), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "[ONNXRuntimeError]" not in err
    assert err.startswith("rewrite: error: ONNX Runtime cannot load the input model: Node")
    assert "/encoder/positional_encoder/Add" in err and "export the model again" in err
    assert not out.exists()


def _refused(name: str, x: str, y: str) -> Any:
    """Graphs ONNX Runtime refuses at load, as exporters wrote them."""
    from onnx import helper

    if name == "transpose_perm":  # a perm out of range (Mamba2's -2 is counted from 0 now)
        return [
            helper.make_node("Transpose", [x], ["t"], perm=[0, 5, 1, 2], name="/mixer/Transpose_9"),
            helper.make_node("Sigmoid", ["t"], ["s"]),
            helper.make_node("Mul", ["t", "s"], [y]),
        ]  # fmt: skip
    # the dynamo exporter, given a diffusers UNet's output name "sample" (its input's too)
    return [helper.make_node("Sigmoid", [x], ["s"]), helper.make_node("Mul", [x, "s"], [y])]


@pytest.mark.parametrize(
    ("name", "x", "y", "says"),
    [
        ("transpose_perm", "x", "y", [
            "/mixer/Transpose_9", "Invalid attribute perm",
            "; the attributes and types in the graph disagree there, before anything runs: "
            "export the model again",
        ]),
        ("output_named_like_input", "sample", "sample", [
            "rewrite: error: ONNX Runtime cannot load the input model: This is an invalid model. "
            "Error: Duplicate definition of name (sample); two values are named 'sample' (an "
            "input and an output, most often): export again with output_names that differ from "
            "input_names",
        ]),
    ],
)  # fmt: skip
def test_a_model_ort_refuses_at_load_is_one_line(name, x, y, says, tmp_path, capsys) -> None:
    """ONNX Runtime's refusals at load (a TypeInferenceError, a name defined twice) are one
    line that names the cause and says what to do; nothing is written, the input is kept."""
    from onnx import TensorProto, helper

    g = helper.make_graph(
        _refused(name, x, y),
        name,
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["batch", 2, 3, 4])],
        [helper.make_tensor_value_info(y, TensorProto.FLOAT, None)],
    )
    src, out = tmp_path / "bad.onnx", tmp_path / "o.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), src)
    before = src.read_bytes()
    assert main([str(src), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert all(part in err for part in says), err
    assert not out.exists() and src.read_bytes() == before


def test_inputs_file_is_checked_as_calibration_data_is(zoo_paths, tmp_path, capsys) -> None:
    """``--inputs`` arrays as numpy writes them: int32 token ids are cast to the model's int64
    (it was ONNX Runtime's "Unexpected input data type. Actual: (tensor(int32))", naming no
    input); a float64 mask for an int64 input is refused naming it; ids beyond the vocabulary
    name the failing node in one line, without ONNX Runtime's error-code prefix."""
    src = zoo_paths["bert_torchscript"]
    ids = np.random.default_rng(0).integers(0, 1000, (2, 16))
    ok = {"input_ids": ids.astype(np.int32), "attention_mask": np.ones((2, 16), np.int64),
          "token_type_ids": np.zeros((2, 16), np.int64)}  # fmt: skip
    cases = [
        (ok, 0, None),
        ({**ok, "attention_mask": np.ones((2, 16))}, 2,
         "in.npz: input 'attention_mask' has dtype float64, the model wants int64; save it as int64"),
        ({**ok, "input_ids": ids + 5000}, 1,
         "ONNX Runtime failed on batch 0: Gather '/m/embeddings/word_embeddings/Gather' fails "
         "(indices element out of data bounds"),
    ]  # fmt: skip
    for feeds, want, line in cases:
        np.savez(tmp_path / "in.npz", **feeds)
        out = tmp_path / "o.onnx"
        code = main([src, "-o", str(out), "--inputs", str(tmp_path / "in.npz")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == want, err
        if line is not None:
            assert len(err) == 1 and line in err[0] and "[ONNXRuntimeError]" not in err[0], err
            assert not out.exists()
        else:
            assert out.exists()
            out.unlink()


def _ts_saved(
    module: Any,
    args: tuple[Any, ...],
    path: Any,
    inputs: list[str],
    outputs: list[str],
    dynamic: dict[str, dict[int, str]],
) -> None:
    """``module`` exported by the TorchScript exporter to ``path``, as the zoo exports (opset
    17, the dims named in ``dynamic`` free)."""
    load_zoo_module()._export(module, args, str(path), inputs, outputs, dynamic, dynamo=False)


class _FirstStep(torch.nn.Module):
    """A decoder block taking its past keys and values ([batch, heads, past, head dim]), as
    exported for its first step: an empty past, its length not marked dynamic."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(100, 32)
        self.qkv = torch.nn.Linear(32, 96)
        self.up, self.down = torch.nn.Linear(32, 64), torch.nn.Linear(64, 32)

    def forward(self, ids: Any, past_k: Any, past_v: Any) -> Any:
        h = self.emb(ids)
        b, t, _ = h.shape
        q, k, v = (z.view(b, t, 2, 16).transpose(1, 2) for z in self.qkv(h).split(32, -1))
        k, v = torch.cat([past_k, k], 2), torch.cat([past_v, v], 2)
        a = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        h = h + a.transpose(1, 2).reshape(b, t, 32)
        return self.down(torch.nn.functional.gelu(self.up(h))), k, v


def test_a_declared_size_of_0_is_generated_as_0(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The TorchScript export of a decoder at its first step declares its past [1, 2, 0, 16]:
    the 0 was read as a free size, and ONNX Runtime, which holds inputs to their declared
    sizes, refused every size tried ("no valid inputs found for 'past_v' ... the sizes are not
    its cause", exit 2). A declared 0 is generated as 0."""
    src = tmp_path / "first_step.onnx"
    past = torch.zeros(1, 2, 0, 16)
    _ts_saved(
        _FirstStep(),
        (torch.randint(0, 100, (1, 8)), past, past),
        src,
        ["ids", "past_k", "past_v"],
        ["y", "k", "v"],
        {"ids": {0: "batch", 1: "sequence"}},
    )
    code = main([str(src), "-o", str(tmp_path / "o.onnx")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "past_k 1x2x0x16, past_v 1x2x0x16" in out and "1 of 1 sites replaced" in out


def test_an_image_declared_empty_is_one_line_naming_its_axes(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """An image declared [0, 3, 0, 0] runs in ONNX Runtime only empty: one line names the axes
    and what to do (it said the sizes were not the cause)."""
    src = tmp_path / "empty.onnx"
    onnx.save(_dynamic_cnn([0, 3, 0, 0]), src)
    assert main([str(src), "-o", str(tmp_path / "o.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "no valid inputs found for 'image'" in err
    assert "it declares axes 0, 2, 3 of size 0 (an empty tensor), which ONNX Runtime holds" in err


class _Pcm(torch.nn.Module):
    """A keyword spotter taking 16-bit PCM, as audio arrives: cast to float and scaled by
    1/32768 inside, a strided Conv, GELU, a softmax over two classes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(1, 16, 400, stride=160)
        self.head = torch.nn.Linear(16, 2)

    def forward(self, pcm: Any) -> Any:
        x = pcm.float().unsqueeze(1) / 32768.0
        h = torch.nn.functional.gelu(self.conv(x)).mean(-1)
        return torch.softmax(self.head(h), -1)


@pytest.mark.parametrize("samples", ["samples", "s37"])
def test_16_bit_pcm_is_generated_as_a_signal(samples, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """int16 samples made floats inside were drawn in {0, 1}: silence after the scaling, the
    probabilities the same on any inputs, and the rewrite was written with nothing checked
    ("no output could be checked"). They are a signal at a tenth of full scale now, and the
    probabilities are compared. Their length is a waveform's however the dim is named (a
    made-up ``s37`` was sized as a sequence: 512 samples, the first of 128, 64, ... past the
    Conv's 400)."""
    src = tmp_path / "pcm.onnx"
    _ts_saved(
        _Pcm(), (torch.zeros(1, 16000, dtype=torch.int16),), src, ["pcm"], ["probs"],
        {"pcm": {0: "batch", 1: samples}},
    )  # fmt: skip
    gen = generate_inputs(onnx.load(src))
    pcm = gen.feeds["pcm"]
    assert pcm.shape == (1, 16000) and pcm.dtype == np.int16, pcm.shape
    assert 2000 < pcm.std() < 4500, pcm.std()
    code = main([str(src), "-o", str(tmp_path / "o.onnx"), "-v"])
    out, err = capsys.readouterr()
    assert code == 0, err
    text = " ".join(out.split())
    assert (
        "pcm: int16 1x16000, normal, a tenth of full scale (16-bit values made floats by " in text
    )
    assert "worst output 'probs'" in text and "no output could be checked" not in text


class _Gray(torch.nn.Module):
    """A digit reader taking one grayscale uint8 image [height, width], scaled by 1/255."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, 3)
        self.head = torch.nn.Linear(8, 10)

    def forward(self, gray: Any) -> Any:
        x = gray.float().unsqueeze(0).unsqueeze(0) / 255.0
        return self.head(torch.nn.functional.silu(self.conv(x)).mean((2, 3)))


def test_8_bit_pixels_of_rank_2_scaled_by_1_255_span_their_range(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A uint8 grayscale image [height, width] made float and scaled by 1/255 inside was drawn
    in {0, 1} (only 8-bit inputs of rank 3 or more were pixels): near black, the logits the
    same on any inputs, "no output could be checked". Scaled by 1/255, it is pixels at any
    rank, and the logits are compared."""
    src = tmp_path / "gray.onnx"
    _ts_saved(
        _Gray(), (torch.zeros(64, 64, dtype=torch.uint8),), src, ["gray"], ["logits"],
        {"gray": {0: "height", 1: "width"}},
    )  # fmt: skip
    gray = generate_inputs(onnx.load(src)).feeds["gray"]
    assert gray.dtype == np.uint8 and gray.max() > 200, gray.max()
    code = main([str(src), "-o", str(tmp_path / "o.onnx"), "-v"])
    out, err = capsys.readouterr()
    assert code == 0, err
    text = " ".join(out.split())
    assert "uniform in [0, 255] (8-bit values made floats by " in text
    assert "pixels, scaled by 1/255 in Div " in text
    assert "worst output 'logits'" in text and "no output could be checked" not in text


def _captcha(saturates: bool = True) -> onnx.ModelProto:
    """A Keras captcha reader through tf2onnx: NHWC pixels in [0, 1), no rescaling in the
    graph, SiLU, a softmax head. ``saturates``: its logits swing by tens over [0, 1), so that
    standard normal values give one answer whatever they are; else its output is constant."""
    from onnx import TensorProto, helper, numpy_helper

    k = np.zeros((3, 10), np.float32)
    k[:, 1], k[:, 2] = 10.0, -10.0
    scale = np.float32(4.0 if saturates else 0.0)
    g = helper.make_graph(
        [
            helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]),
            helper.make_node("Conv", ["nchw", "w", "b"], ["y"]),
            helper.make_node("Sigmoid", ["y"], ["sy"]),
            helper.make_node("Mul", ["y", "sy"], ["up"]),
            helper.make_node("Neg", ["y"], ["ny"]),
            helper.make_node("Sigmoid", ["ny"], ["sny"]),
            helper.make_node("Mul", ["ny", "sny"], ["down"]),
            helper.make_node("Add", ["up", "down"], ["mag"]),  # ~ |y|
            helper.make_node("GlobalAveragePool", ["mag"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["f"]),
            helper.make_node("Gemm", ["f", "k", "c"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["digit"], axis=1),
        ],
        "captcha",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["unk__56", 50, 155, 3])],
        [helper.make_tensor_value_info("digit", TensorProto.FLOAT, ["unk__57", 10])],
        [
            numpy_helper.from_array((np.eye(3, dtype=np.float32) * scale).reshape(3, 3, 1, 1), "w"),
            numpy_helper.from_array(np.full(3, -scale / 2, np.float32), "b"),
            numpy_helper.from_array(k, "k"),
            numpy_helper.from_array(-k.sum(0) * 0.62, "c"),
        ],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def test_an_image_net_standard_normal_saturates_is_given_pixels_in_0_1(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """vietcombank-captcha's reader takes NHWC pixels in [0, 1) and scales nothing itself:
    standard normal values saturated its five softmax heads to one answer on any input, so
    every output was "not evidence" and a rewrite would have been written checked against
    nothing (exit 0). An image input where standard normal makes every output the same gets
    pixels in [0, 1) where those move the outputs, for every seed after it too."""
    m = _captcha()
    gen = generate_inputs(m)
    note = next(n for n in gen.notes if n.startswith("input: "))
    assert "uniform in [0, 1) (an image's pixels: standard normal made every output the same)" in note  # fmt: skip
    assert gen.unit == {"input": "an image's pixels: standard normal made every output the same"}
    more = generate_inputs(m, seed=1, sizes=gen.sizes, unit=gen.unit).feeds["input"]
    assert 0.0 <= more.min() and more.max() < 1.0
    src, out, rep = tmp_path / "captcha.onnx", tmp_path / "out.onnx", tmp_path / "r.json"
    onnx.save(m, str(src))
    assert main([str(src), "-o", str(out), "--report", str(rep)]) == 0
    r = json.loads(rep.read_text())
    assert [o["checked"] for o in r["verification"]["outputs"]] == [True]
    assert sum(bool(s["replaced"]) for s in r["sites"]) == 2
    # where pixels in [0, 1) move nothing either, the image stays standard normal
    flat = generate_inputs(_captcha(saturates=False))
    assert "standard normal" in next(n for n in flat.notes if n.startswith("input: "))
    assert flat.unit == {} and "outputs the same on other inputs" in flat.notes[-1]


@pytest.mark.parametrize("flag", ["--inputs", "--calibration"])
def test_strings_saved_as_python_objects_are_named_with_how_to_save_them(
    flag, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """A skl2onnx pipeline's string column saved as pandas gives it (``df[["cat"]].values``, an
    object array) was refused as "cannot read inputs (ValueError: Object arrays cannot be
    loaded when allow_pickle=False); pass an .npz keyed by input name", which it was. The
    array is named, with how to save it; saved so, it runs."""
    from onnx import TensorProto, helper, numpy_helper

    g = helper.make_graph(
        [
            helper.make_node(
                "OneHotEncoder",
                ["cat"],
                ["hot"],
                domain="ai.onnx.ml",
                cats_strings=["a", "b", "c"],
                zeros=1,
            ),  # fmt: skip
            helper.make_node("Reshape", ["hot", "shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["a"]),
            helper.make_node("Tanh", ["a"], ["y"]),
        ],
        "pipeline",
        [helper.make_tensor_value_info("cat", TensorProto.STRING, ["N", 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [
            numpy_helper.from_array(
                np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32), "w"
            ),  # fmt: skip
            numpy_helper.from_array(np.array([-1, 3], np.int64), "shape"),
        ],
    )
    src = tmp_path / "pipeline.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 1)]), str(src))  # fmt: skip
    column = np.array([["a"], ["b"], ["c"], ["a"]], dtype=object)
    np.savez(tmp_path / "objects.npz", cat=column)
    np.savez(tmp_path / "strings.npz", cat=column.astype(str))
    out = tmp_path / "out.onnx"
    capsys.readouterr()
    assert main([str(src), flag, str(tmp_path / "objects.npz"), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "array 'cat' holds Python objects" in err
    assert "numpy.savez(..., cat=array.astype(str))" in err and not out.exists()
    assert main([str(src), flag, str(tmp_path / "strings.npz"), "-o", str(out)]) == 0


def test_a_rewrite_no_output_could_check_says_so_and_strict_refuses_it(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A model whose output is the same on any input (here by construction; a saturated net or
    a QDQ model with a constant output in the wild) verifies nothing: the model was written
    with "wrote ...: 1 of 1 sites replaced" and no word of it, --strict included. The line
    says it was not verified, and --strict writes nothing (exit 1)."""
    from onnx import TensorProto, helper, numpy_helper

    g = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["x"], ["s"], keepdims=1),
            helper.make_node("Mul", ["s", "zero"], ["z"]),
            helper.make_node("Add", ["z", "half"], ["h"]),
            helper.make_node("Tanh", ["h"], ["y"]),
        ],
        "ignores",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
        [
            numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
            numpy_helper.from_array(np.array(0.5, np.float32), "half"),
        ],
    )
    src, out = tmp_path / "ignores.onnx", tmp_path / "out.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)]), str(src))
    assert main([str(src), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "no output could be checked" in printed
    wrote = next(line for line in printed.splitlines() if line.startswith("wrote "))
    assert "1 of 1 sites replaced; NOT VERIFIED: no output could be checked;" in wrote
    out.unlink()
    assert main([str(src), "-o", str(out), "--strict"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nothing written (--strict)" in err
    assert "no output of the rewritten model could be checked on generated inputs" in err
    assert not out.exists()


def test_a_model_with_no_site_is_not_said_to_be_measured(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """With --target and no site, the last line said "(no replacement measured faster on
    ort-cpu)" though nothing was measured."""
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])],
    )
    src, out = tmp_path / "relu.onnx", tmp_path / "out.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(src))
    assert main([str(src), *TARGET, "-o", str(out)]) == 0
    wrote = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("wrote "))
    assert wrote.endswith("0 of 0 sites replaced; it computes what the input does"), wrote


def test_a_node_that_fails_on_the_models_constants_is_the_models_fault(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A node computed from the weights alone that ONNX Runtime refuses on every run (OpenCV's
    block-quantized YuNet: a DequantizeLinear of its own constants) failed in generate_inputs,
    and the line asked for --input-shapes, --val-range or --inputs, none of which can help
    (with --inputs: "check that batch's values and shapes fit the model"). It says the node
    reads no input and the model does not run in this ONNX Runtime, exit 1, both ways."""
    g = helper.make_graph(
        [
            helper.make_node("Reshape", ["w", "s"], ["r"], name="bad_reshape"),
            helper.make_node("Add", ["x", "r"], ["a"]),
            helper.make_node("Sigmoid", ["a"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])],
        [
            numpy_helper.from_array(np.arange(6, dtype=np.float32), "w"),
            numpy_helper.from_array(np.array([4], np.int64), "s"),
        ],
    )
    src, feeds = tmp_path / "m.onnx", tmp_path / "in.npz"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(src))
    np.savez(feeds, x=np.zeros((2, 4), np.float32))
    for extra in ([], ["--inputs", str(feeds)]):
        assert main([str(src), "-o", str(tmp_path / "o.onnx"), *extra]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert "Reshape 'bad_reshape' fails" in err and "that node reads no input" in err, err
        assert "--input-shapes" not in err and "batch's values" not in err, err


def test_inputs_no_node_reads_are_counted_in_the_line(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """OpenCV's SFace declares 29 float weights as inputs beside their quantized copies, which
    no node reads (ONNX Runtime still asks for them): the inputs line listed all 30; it lists
    what the model reads and counts the rest."""
    unread = [f"w{k}" for k in range(5)]
    g = helper.make_graph(
        [helper.make_node("Sigmoid", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])]
        + [helper.make_tensor_value_info(w, TensorProto.FLOAT, [8, 3]) for w in unread],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])],
    )
    src = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(src))
    assert main([str(src), "-o", str(tmp_path / "o.onnx")]) == 0
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("inputs ("))
    assert "(and 5 inputs no node reads: w0, w1, w2, w3, w4)" in line, line
    assert "w0 8x3" not in line, line
