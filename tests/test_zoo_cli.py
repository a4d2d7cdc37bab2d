"""The main command with no flags on models built the way users get them (tests/conftest.py's
zoo): every one rewrites and verifies on inputs derived from its graph."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from conftest import fixed_reshape_model, load_zoo_module  # noqa: E402

from rewriter.cli import main
from rewriter.inputs import generate_inputs
from rewriter.ir import run_model

NAMES = sorted(load_zoo_module().BUILDERS)


@pytest.mark.parametrize("name", NAMES)
def test_rewrite_with_no_flags(name: str, zoo_paths: dict[str, str], tmp_path, capsys) -> None:
    src = zoo_paths[name]
    before = open(src, "rb").read()
    out, report = tmp_path / "out.onnx", tmp_path / "r.json"
    assert main([src, "-p", "pau_all", "-o", str(out), "--report", str(report)]) == 0
    assert open(src, "rb").read() == before
    r = json.loads(report.read_text())
    assert r["sites"] and all(s["replaced"] for s in r["sites"])
    v = r["verification"]
    assert v["checker"] == "passed" and v["rel_l2"] < 1e-2
    assert all(o["checked"] for o in v["outputs"]), v["outputs"]
    # the written file stays close to the original on inputs verification did not use
    m, new = onnx.load(src), onnx.load(out)
    feeds = generate_inputs(m, seed=1).feeds
    for a, b in zip(run_model(m, feeds), run_model(new, feeds), strict=True):
        if a.dtype.kind == "f":
            assert np.linalg.norm(b - a) <= 1e-2 * max(np.linalg.norm(a), 1e-6)


@pytest.mark.parametrize("name", ["bert_dynamo", "yolo_silu", "gru_state", "vad_if"])
def test_rewrite_with_target_and_no_other_flag(
    name: str, zoo_paths: dict[str, str], tmp_path
) -> None:
    out, report = tmp_path / "out.onnx", tmp_path / "r.json"
    code = main(
        [
            zoo_paths[name],
            "--target",
            "ort-cpu:threads=1",
            "-o",
            str(out),
            "--report",
            str(report),
            "-q",
        ]
    )
    assert code == 0
    r = json.loads(report.read_text())
    assert r["sites"] and r["verification"]["checker"] == "passed"
    onnx.checker.check_model(onnx.load(out), full_check=True)
    # measured at a size a deployment runs (not the smallest that runs), and the report says so
    assert r["inputs"]["source"] == "generated" and r["inputs"]["notes"]
    if name == "yolo_silu":
        assert r["inputs"]["shapes"] == {"images": [1, 3, 224, 224]}
        assert r["plan"]["decisions"][0]["shape"] == [1, 8, 112, 112]
    if name == "bert_dynamo":  # 128 tokens overflow its 64 positions: the probe stepped down
        assert r["inputs"]["shapes"]["input_ids"] == [1, 64]


def test_missing_inputs_get_one_line_naming_the_input(tmp_path, capsys) -> None:
    """A model no generated input can run: one line naming the input, the node and the flags."""
    m = fixed_reshape_model()
    src = tmp_path / "m.onnx"
    onnx.save(m, src)
    code = main([str(src), "-o", str(tmp_path / "o.onnx")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "'x'" in err[0] and "fixed_reshape" in err[0] and "--input-shapes" in err[0]
    assert not (tmp_path / "o.onnx").exists()


def test_zoo_command_says_which_models_came_out_unchanged(
    zoo_paths: dict[str, str], tmp_path, capsys
) -> None:
    """`rewrite zoo` on ORT CPU: rationals lose to the fused GELU there, so the model is written
    as it came (a pipeline downstream finds every model) and the table says "unchanged" rather
    than a bare dash that reads as "not measured"."""
    import shutil

    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(zoo_paths["gpt2_torchscript"], folder / "gpt2.onnx")
    out = tmp_path / "out"
    db = str(tmp_path / "lat.sqlite")
    args = ["zoo", str(folder), "-o", str(out), "--target", "ort-cpu:threads=1"]
    assert main([*args, "--time-cap", "0.3", "--db", db, "-q"]) == 0
    text = capsys.readouterr().out
    row = next(ln for ln in text.splitlines() if "gpt2.onnx" in ln)
    assert "written" in row and "unchanged" in row, text
    assert "1 of them unchanged: no replacement paid on ort-cpu:threads=1" in text
    summary = json.loads((out / "zoo.json").read_text())["models"]
    assert [(m["status"], m["replaced"], m["speedup"]) for m in summary] == [("written", 0, None)]
    before, after = onnx.load(zoo_paths["gpt2_torchscript"]), onnx.load(out / "gpt2.onnx")
    assert [n.op_type for n in after.graph.node] == [n.op_type for n in before.graph.node]


def test_zoo_command_takes_models_with_external_data(tmp_path, capsys) -> None:
    """A model saved with its weights in a `.onnx.data` file beside it: `rewrite zoo` sent the
    file's bytes alone, and ONNX Runtime looked for the data in the working folder ("External
    data path does not exist: /work/main/m.onnx.data"). A missing data file is that model's
    one-line failure; the others go on."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 64)).astype(np.float32) / 8
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Tanh", ["h"], ["y"])],
        "ext",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 64])],
        [numpy_helper.from_array(w, "w")],
    )
    folder = tmp_path / "models"
    folder.mkdir()
    for name in ("a.onnx", "b.onnx"):  # save_model moves the weights out of the proto it saves
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        onnx.save_model(m, folder / name, save_as_external_data=True, location=f"{name}.data")
    (folder / "b.onnx.data").unlink()
    out = tmp_path / "out"
    args = ["zoo", str(folder), "-o", str(out), "--db", str(tmp_path / "lat.sqlite"), "-q"]
    assert main(args) == 1
    text = " ".join(capsys.readouterr().out.split())
    assert "1 written, 0 skipped (already there), 1 failed" in text, text
    assert "external data file 'b.onnx.data' for initializer 'w' is missing" in text
    written = onnx.load(out / "a.onnx")  # one file, the weights in it
    assert not (out / "a.onnx.data").exists()
    x = rng.standard_normal((2, 64)).astype(np.float32)
    np.testing.assert_allclose(run_model(written, {"x": x})[0], np.tanh(x @ w), atol=2e-3)
