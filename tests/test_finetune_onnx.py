"""End-to-end fine-tuning of an ONNX student's rational coefficients (`--mode e2e`)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from rewriter.api import rewrite_onnx
from rewriter.cli import main
from rewriter.tune.e2e import COEFFICIENT, finetune_e2e
from rewriter.tune.refit import compare_over

TEACHER = """
<ir_version: 8, opset_import: ["" : 18]>
g (float[N, 8] x) => (float[N, 8] y) {
  w = Constant<value = float[8, 8] {0.9,0.1,0,0,0,0,0,0, 0,0.9,0.1,0,0,0,0,0, 0,0,0.9,0.1,0,0,0,0,
    0,0,0,0.9,0.1,0,0,0, 0,0,0,0,0.9,0.1,0,0, 0,0,0,0,0,0.9,0.1,0, 0,0,0,0,0,0,0.9,0.1,
    0.1,0,0,0,0,0,0,0.9}>()
  h = MatMul(x, w)
  a = Mish(h)
  h2 = MatMul(a, w)
  y = Tanh(h2)
}
"""


@pytest.fixture(scope="module")
def models():
    teacher = onnx.parser.parse_model(TEACHER)
    student = rewrite_onnx(teacher, "pau_all", degrees=(3, 2)).model
    rng = np.random.default_rng(0)
    batches = [{"x": rng.normal(0, 2.0, (64, 8)).astype(np.float32)} for _ in range(8)]
    return teacher, student, batches


def _coefficients(m: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {
        t.name: numpy_helper.to_array(t) for t in m.graph.initializer if COEFFICIENT.match(t.name)
    }


def test_e2e_lowers_the_deviation_and_moves_only_coefficients(models) -> None:
    teacher, student, batches = models
    tuned, history = finetune_e2e(student, teacher, batches, epochs=6, lr=1e-4)
    before, after = compare_over(teacher, [student, tuned], batches)
    assert after.rel_l2 < before.rel_l2
    assert history and all("loss" in h for h in history)
    onnx.checker.check_model(tuned, full_check=True)
    assert [n.SerializeToString() for n in tuned.graph.node] == [
        n.SerializeToString() for n in student.graph.node
    ]
    old, new = _coefficients(student), _coefficients(tuned)
    assert old.keys() == new.keys() and any(not np.array_equal(old[k], new[k]) for k in old)
    assert all((new[k] >= 0).all() for k in new if COEFFICIENT.match(k).group(1) == "q")  # Q >= 1
    others = {t.name: t.SerializeToString() for t in student.graph.initializer if t.name not in old}
    assert others == {
        t.name: t.SerializeToString() for t in tuned.graph.initializer if t.name not in new
    }


def test_e2e_cli_writes_a_valid_model(models, tmp_path, capsys) -> None:
    teacher, student, batches = models
    onnx.save(teacher, tmp_path / "t.onnx")
    onnx.save(student, tmp_path / "s.onnx")
    np.savez(tmp_path / "cal.npz", x=np.concatenate([b["x"] for b in batches]))
    out = tmp_path / "tuned.onnx"
    code = main(
        [
            "finetune",
            str(tmp_path / "s.onnx"),
            "--teacher",
            str(tmp_path / "t.onnx"),
            "--calibration",
            str(tmp_path / "cal.npz"),
            "--mode",
            "e2e",
            "--epochs",
            "2",
            "-o",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "rel-L2" in captured.out
    assert f"speed not measured: {out} has the nodes of" in captured.out
    onnx.checker.check_model(onnx.load(out), full_check=True)


def test_e2e_refuses_a_model_without_rationals(models) -> None:
    from rewriter.errors import ModelError

    teacher, _, batches = models
    with pytest.raises(ModelError, match="no rational coefficients"):
        finetune_e2e(teacher, teacher, batches, epochs=1)
