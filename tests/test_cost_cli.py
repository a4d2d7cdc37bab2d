"""`rewrite bench`, `rewrite profile` and `rewrite db` through the real CLI (tiny sizes; no timing
is asserted, only that real measurements are made, reported and stored)."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from rewriter.cli import main
from rewriter.cost.bench import relu_model


def _model(path) -> None:
    w = numpy_helper.from_array(np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8), "w")
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Tanh", ["h"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])],
        [w],
    )
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_bench_two_models_with_headroom_json(tmp_path, capsys) -> None:
    a, b, out = tmp_path / "a.onnx", tmp_path / "b.onnx", tmp_path / "bench.json"
    _model(a)
    assert main([str(a), "-o", str(b), "-q"]) == 0
    code = main(
        [
            "bench",
            str(a),
            str(b),
            "--headroom",
            "--target",
            "ort-cpu:threads=1",
            "--time-cap",
            "0.5",
            "--json",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(out.read_text())
    names = [f"A ({a})", f"B ({b})", "ReLU limit"]
    stats = data["comparison"]["stats"]
    assert list(stats) == names and all(stats[k]["median"] > 0 for k in names)
    ratios = data["comparison"]["ratios"]
    assert all(r["lo"] <= r["median"] <= r["hi"] for r in ratios.values())
    # gain capture from the reported medians: (t_A - t_B) / (t_A - t_ReLU)
    ta, tb, tr = (stats[k]["median"] for k in names)
    assert data["gain_capture"] == pytest.approx((ta - tb) / (ta - tr))
    assert "gain capture" in captured.out
    # one line says in words what B's interval says (before: only the table's numbers)
    rb = ratios[names[1]]
    lo, hi = 1 / rb["hi"], 1 / rb["lo"]
    want = "faster" if lo > 1 else "slower" if hi < 1 else "within noise"
    assert data["verdict"] == want
    line = next(ln for ln in captured.out.splitlines() if ln.startswith(f"B ({b}): "))
    said = "not faster or slower than A beyond noise" if want == "within noise" else want
    assert line.startswith(f"B ({b}): {said}") and f"(95% CI {lo:.3f}-{hi:.3f})" in line
    # the ReLU limit is the model with every site a Relu
    relu = relu_model(onnx.load(a))
    assert [n.op_type for n in relu.graph.node] == ["MatMul", "Relu"]


def test_bench_missing_runtime_and_bad_target_are_one_line(tmp_path, capsys) -> None:
    a = tmp_path / "a.onnx"
    _model(a)
    assert main(["bench", str(a), "--target", "no-such-runtime"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rewrite: error:") and len(err.strip().splitlines()) == 1


def test_profile_fills_the_database_and_db_stats_reads_it(tmp_path, capsys) -> None:
    db = tmp_path / "lat.sqlite"
    code = main(
        [
            "profile",
            "--target",
            "ort-cpu:threads=1",
            "--db",
            str(db),
            "--functions",
            "tanh",
            "--sizes",
            "matmul:1x4x8x16",
            "--time-cap",
            "0.2",
        ]
    )
    assert code == 0, capsys.readouterr().err
    rows = (
        sqlite3.connect(db).execute("select candidate, median, ratio from measurements").fetchall()
    )
    assert any(c == "keep" for c, _, _ in rows) and len(rows) >= 2
    assert all(m > 0 and r > 0 for _, m, r in rows)
    capsys.readouterr()
    assert main(["db", "stats", "--db", str(db), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["rows"] == len(rows)
    assert stats["candidates"]["keep"]["median_ratio"] == 1.0
    assert sum(c["rows"] for c in stats["candidates"].values()) == len(rows)


@pytest.mark.parametrize("cmd", [["plan", "examples/digits_cnn.onnx"], ["profile"]])
def test_bad_degrees_are_a_usage_error(cmd, capsys) -> None:
    """--degrees is parsed by argparse: one line, exit 2 (it was an internal error, exit 3)."""
    assert main([*cmd, "--degrees", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--degrees wants M,N" in err[0]


def test_bench_two_models_with_other_inputs_is_one_line(tmp_path, capsys) -> None:
    from onnx import TensorProto, helper

    paths = []
    for name in ("x", "y"):
        g = helper.make_graph(
            [helper.make_node("Tanh", [name], ["z"])],
            "g",
            [helper.make_tensor_value_info(name, TensorProto.FLOAT, [2, 4])],
            [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 4])],
        )
        paths.append(str(tmp_path / f"{name}.onnx"))
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), paths[-1])
    assert main(["bench", *paths]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "its inputs ['y'] differ from" in err[0]
