"""The `rewrite` command: bad input gets one line and a non-zero exit; good input a verified model."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from rewriter.cli import main


def _model() -> onnx.ModelProto:
    w = numpy_helper.from_array(np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8), "w")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
        helper.make_node("Mish", ["h"], ["m"], name="mish"),
        helper.make_node("Tanh", ["m"], ["y"], name="tanh"),
    ]
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])],
        [w],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])


@pytest.fixture
def model_path(tmp_path):
    p = tmp_path / "model.onnx"
    onnx.save(_model(), p)
    return p


def _digest(p) -> str:
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_rewrite_writes_verified_model_and_report(model_path, tmp_path, capsys) -> None:
    out, report = tmp_path / "out.onnx", tmp_path / "r.json"
    before = _digest(model_path)
    code, stdout, err = run_cli(
        [model_path, "-p", "pau_all", "-o", out, "--report", report], capsys
    )
    assert code == 0, err
    assert _digest(model_path) == before
    assert "mish_0" in stdout and "tanh_0" in stdout and "verification" in stdout
    m = onnx.load(out)
    onnx.checker.check_model(m, full_check=True)
    assert not {"Mish", "Tanh"} & {n.op_type for n in m.graph.node}
    rep = json.loads(report.read_text())
    assert [s["name"] for s in rep["sites"]] == ["mish_0", "tanh_0"]
    site = rep["sites"][0]
    assert set(site) >= {
        "name",
        "function",
        "params",
        "rule",
        "replaced",
        "input_shape",
        "dtype",
        "form",
        "degrees",
        "max_error",
    }
    # the (5,4) Mish is inside --tolerance on three draws and outside on a sixth (rel-L2 0.021;
    # the three read 2.6e-3, 2.6e-3 and 7.5e-4): judged on 12, it gets a (7,6) fit
    assert (
        site["replaced"] is True
        and site["degrees"] == [7, 6]
        and rep["sites"][1]["degrees"] == [5, 4]
        and site["input_shape"] == [1, 8]  # the shape on the run, not "batch"
    )
    assert rep["verification"]["draws"] == 12 and rep["verification"]["widened"]
    v = rep["verification"]
    assert v["rel_l2"] < 1e-2 and v["cosine"] > 0.9999
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".pau-")]
    assert os.stat(out).st_mode & 0o644 == 0o644  # not mkstemp's 0600


def test_dry_run_report(model_path, tmp_path, capsys) -> None:
    report = tmp_path / "r.json"
    code, _, err = run_cli([model_path, "--dry-run", "--report", report], capsys)
    assert code == 0, err
    rep = json.loads(report.read_text())
    assert [s["replaced"] for s in rep["sites"]] == [False, False]
    assert "verification" not in rep


def test_same_bytes_twice(model_path, tmp_path, capsys) -> None:
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    assert run_cli([model_path, "-o", a, "-q"], capsys)[0] == 0
    assert run_cli([model_path, "-o", b, "-q"], capsys)[0] == 0
    assert _digest(a) == _digest(b)


def test_tolerance_refuses_with_strict_then_force_writes(model_path, tmp_path, capsys) -> None:
    out = tmp_path / "out.onnx"
    code, _, err = run_cli(
        [model_path, "-o", out, "--degrees", "2,1", "--tolerance", "1e-9", "--strict"], capsys
    )
    assert code == 1 and "exceeds --tolerance" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    code, _, err = run_cli(
        [model_path, "-o", out, "--degrees", "2,1", "--tolerance", "1e-9", "--force", "-q"], capsys
    )
    assert code == 0 and out.exists()


def test_above_tolerance_backs_off_site_by_site(model_path, tmp_path, capsys) -> None:
    """Without --strict: better rationals for the worst sites, then sites kept, worst first."""
    out, report = tmp_path / "out.onnx", tmp_path / "r.json"
    code, stdout, err = run_cli(
        [model_path, "-o", out, "--degrees", "2,1", "--tolerance", "1e-9", "--report", report],
        capsys,
    )
    assert code == 0 and out.exists(), err
    rep = json.loads(report.read_text())
    bo = rep["backoff"]
    assert bo["worst_site"] in bo["contributions"] and bo["kept"]
    assert list(bo["kept"]) == list(bo["contributions"])[: len(bo["kept"])]
    kept = {s["name"] for s in rep["sites"] if not s["replaced"]}
    assert kept == set(bo["kept"])
    v = rep["verification"]
    assert v["rel_l2"] <= 1e-9 + 3 * max(o["floor"] or 0.0 for o in v["outputs"])
    assert "largest contributor" in stdout and "[back-off]" in err
    # the output judged over the tolerance is named, with its own noise floor
    assert "[back-off] output '" in err and "exceeds --tolerance 1e-09" in err, err


def _bad_inputs(tmp_path, model_path):
    text = tmp_path / "text.onnx"
    text.write_text("hello, I am not a model\n")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    rnd = tmp_path / "random.onnx"
    rnd.write_bytes(np.random.default_rng(0).bytes(4096))
    trunc = tmp_path / "trunc.onnx"
    data = model_path.read_bytes()
    trunc.write_bytes(data[: len(data) // 2])
    ext_dir = tmp_path / "ext"
    ext_dir.mkdir()
    m = _model()
    t = m.graph.initializer[0]
    t.ClearField("raw_data")
    t.ClearField("float_data")
    t.data_location = TensorProto.EXTERNAL
    t.external_data.add(key="location", value="../../etc/passwd")
    ext = ext_dir / "ext.onnx"
    ext.write_bytes(m.SerializeToString())
    ort_format = tmp_path / "model.ort"  # ONNX Runtime's own format, as mobile builds take it
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.optimized_model_filepath = str(ort_format)
    so.add_session_config_entry("session.save_model_format", "ORT")
    ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    engine = tmp_path / "model.engine"  # a TensorRT engine's bytes are its own; any will do
    engine.write_bytes(np.random.default_rng(1).bytes(512))
    cases = []
    try:
        import openvino as ov

        ov.save_model(ov.convert_model(str(model_path)), str(tmp_path / "ir.xml"))
        cases.append(([tmp_path / "ir.xml", "-o", tmp_path / "o.onnx"], 1, "an OpenVINO IR model"))
    except ImportError:  # pragma: no cover - the [openvino] extra is installed by make test
        pass
    o = tmp_path / "o.onnx"
    return [
        *cases,
        ([engine, "-o", tmp_path / "o.onnx"], 1, "a TensorRT engine (built for one GPU"),
        ([ort_format, "-o", tmp_path / "o.onnx"], 1, "an ONNX Runtime format model (.ort"),
        ([tmp_path / "missing.onnx", "-o", tmp_path / "o.onnx"], 1, "no such file"),
        ([tmp_path, "-o", tmp_path / "o.onnx"], 1, "is a directory"),
        ([empty, "-o", tmp_path / "o.onnx"], 1, "file is empty"),
        ([rnd, "-o", tmp_path / "o.onnx"], 1, "not an ONNX model"),
        ([text, "-o", tmp_path / "o.onnx"], 1, "not an ONNX model"),
        ([trunc, "-o", tmp_path / "o.onnx"], 1, "not an ONNX model"),
        ([ext, "-o", tmp_path / "o.onnx"], 1, "outside the model's folder"),
        ([model_path, "-o", tmp_path / "nodir" / "o.onnx"], 2, "does not exist"),
        ([model_path, "-o", model_path], 2, "output path is the input path"),
        ([model_path, "-o", tmp_path], 2, "is a directory; give a file name"),
        # a folder's name with its separator: refused before the run, not after it
        ([model_path, "-o", f"{tmp_path / 'new'}/"], 2, "names a folder (it ends with '/')"),
        ([model_path, "-o", o, "--report", f"{tmp_path}/"], 2, "names a folder"),
        ([model_path, "-p", "pau_bogus", "-o", tmp_path / "o.onnx"], 2, "unknown pipeline"),
        ([model_path], 2, "no output path"),
        ([model_path, "-o", tmp_path / "o.onnx", "--degrees", "five"], 2, "--degrees"),
        # a tolerance that no model meets (-1) or that every model meets (nan) is a typo
        ([model_path, "-o", o, "--tolerance", "-1"], 2, "--tolerance: want a number >= 0"),
        ([model_path, "-o", o, "--tolerance", "nan"], 2, "--tolerance: want a number >= 0"),
        ([model_path, "-o", o, "--rtol", "-0.5"], 2, "--rtol: want a number >= 0, got '-0.5'"),
        ([model_path, "-o", o, "--target", "ort-cpu", "--max-rel-error", "nan"], 2, "want a"),
        (["bench", model_path, model_path, "--time-cap", "0"], 2, "--time-cap: want a number > 0"),
    ]


def test_bad_input_one_line_no_output(model_path, tmp_path, capsys) -> None:
    before = _digest(model_path)
    for args, code, message in _bad_inputs(tmp_path, model_path):
        got, out, err = run_cli(args, capsys)
        assert got == code, (args, err)
        assert message in err, (args, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert not (tmp_path / "o.onnx").exists()
    assert _digest(model_path) == before


def test_console_script_exit_codes(model_path, tmp_path) -> None:
    exe = os.path.join(os.path.dirname(sys.executable), "rewrite")
    p = subprocess.run(
        [exe, str(tmp_path / "nope.onnx"), "-o", str(tmp_path / "o.onnx")],
        capture_output=True,
        text=True,
    )
    assert (
        p.returncode == 1 and p.stderr.startswith("rewrite: error:") and "Traceback" not in p.stderr
    )
    p = subprocess.run([exe, "--list"], capture_output=True, text=True)
    assert p.returncode == 0 and "pau_all" in p.stdout and "gelu_erf" in p.stdout
    assert "identified (no rule): " in p.stdout and "celu (any alpha)" in p.stdout


def test_inputs_file_is_used_and_checked(model_path, tmp_path, capsys) -> None:
    good, bad = tmp_path / "in.npz", tmp_path / "bad.npz"
    np.savez(good, x=np.ones((3, 8), np.float32))
    np.savez(bad, wrong=np.ones((3, 8), np.float32))
    report = tmp_path / "r.json"
    assert (
        run_cli(
            [model_path, "-o", tmp_path / "o.onnx", "--inputs", good, "--report", report, "-q"],
            capsys,
        )[0]
        == 0
    )
    assert json.loads(report.read_text())["verification"]["inputs"] == "--inputs"
    os.unlink(tmp_path / "o.onnx")
    code, _, err = run_cli([model_path, "-o", tmp_path / "o.onnx", "--inputs", bad], capsys)
    assert code == 2 and "missing input(s) ['x']" in err
    assert not (tmp_path / "o.onnx").exists()
