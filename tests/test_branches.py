"""Sites in If branches: spliced in for the branch the inputs take (rewriter.ir.branches), then
observed on calibration data, given run shapes, and timed like main-graph sites (the zoo's
VAD, whose network sits under If(sr == 16000) / If(sr == 8000)); sites in Loop/Scan bodies,
timed at their first iteration and observed at every one."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from conftest import loop_scan_model
from onnx import TensorProto, helper, numpy_helper

import rewriter
from rewriter.calibrate import observe_sites, run_shapes
from rewriter.cli import main
from rewriter.inputs import generate_inputs
from rewriter.ir import run_model
from rewriter.ir.branches import take_branches
from rewriter.ir.runtime import run_values

BRANCH_16K = {"tanh_1", "silu_0", "sigmoid_1"}  # if_16000/then_branch
BRANCH_8K = {"sigmoid_0", "tanh_0"}  # if_16000/else_branch/if_8000/then_branch


@pytest.fixture(scope="module")
def vad(zoo_paths: dict[str, str]) -> onnx.ModelProto:
    return onnx.load(zoo_paths["vad_if"])


def _feeds(vad: onnx.ModelProto, sr: int, seed: int = 0) -> dict[str, np.ndarray]:
    return generate_inputs(vad, seed=seed).feeds | {"sr": np.array(sr, np.int64)}


@pytest.mark.parametrize("sr", [16000, 8000])
def test_spliced_model_computes_the_same(vad: onnx.ModelProto, sr: int) -> None:
    feeds = _feeds(vad, sr)
    before = vad.SerializeToString()
    flat = take_branches(vad, feeds)
    assert vad.SerializeToString() == before  # the model passed in is not modified
    onnx.checker.check_model(flat.model, full_check=True)
    assert not any(n.op_type == "If" for n in flat.model.graph.node)
    for a, b in zip(run_model(vad, feeds), run_model(flat.model, feeds), strict=True):
        np.testing.assert_array_equal(a, b)
    where = {s.name: flat.where(s.graph) for s in rewriter.find_sites(vad)}
    on, off = (BRANCH_16K, BRANCH_8K) if sr == 16000 else (BRANCH_8K, BRANCH_16K)
    assert {k for k, v in where.items() if v == ""} == on | {"tanh_2"}
    assert {k for k, v in where.items() if v is None} == off
    # the 8 kHz path is two Ifs deep: both spliced, in two rounds
    assert flat.taken == (
        {"if_16000": "then_branch"}
        if sr == 16000
        else {"if_16000": "else_branch", "if_8000": "then_branch"}
    )


def _if_model(collide: bool) -> onnx.ModelProto:
    """y = If(c, Tanh(x), Sigmoid(x)); with ``collide`` the then branch reuses a main name."""
    inner = "y0" if collide else "t"
    then = helper.make_graph(
        [helper.make_node("Tanh", ["x"], [inner], name="tanh")],
        "then",
        [],
        [helper.make_tensor_value_info(inner, TensorProto.FLOAT, [4])],
    )
    other = helper.make_graph(
        [helper.make_node("Sigmoid", ["x"], ["s"], name="sig")],
        "else",
        [],
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, [4])],
    )
    g = helper.make_graph(
        [
            helper.make_node("Relu", ["x"], ["y0"], name="relu"),
            helper.make_node("If", ["c"], ["y1"], name="if", then_branch=then, else_branch=other),
            helper.make_node("Add", ["y0", "y1"], ["y"], name="add"),
        ],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [4]),
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_a_branch_that_reuses_a_name_is_left_nested() -> None:
    feeds = {"x": np.linspace(-2, 2, 4).astype(np.float32), "c": np.array(True)}
    flat = take_branches(_if_model(collide=True), feeds)
    assert flat.taken == {} and flat.where("if/then_branch") == "if/then_branch"
    flat = take_branches(_if_model(collide=False), feeds)
    assert flat.taken == {"if": "then_branch"} and flat.where("if/then_branch") == ""
    np.testing.assert_allclose(
        run_model(flat.model, feeds)[0], np.maximum(feeds["x"], 0) + np.tanh(feeds["x"])
    )


def test_branch_sites_are_observed_on_the_branch_each_batch_takes(vad: onnx.ModelProto) -> None:
    sites = rewriter.find_sites(vad)
    batches = [_feeds(vad, 16000, 0), _feeds(vad, 8000, 1), _feeds(vad, 16000, 2)]
    obs = observe_sites(vad, sites, batches)
    n16, n8 = (int(b["x"].size) for b in batches[:2])  # one value per x element and site
    for name in BRANCH_16K:
        assert obs[name].count == 2 * n16 and obs[name].note is None
    for name in BRANCH_8K:
        assert obs[name].count == n8
    only16 = observe_sites(vad, sites, batches[::2])
    for name in BRANCH_8K:  # never taken: said so, not an empty range
        assert only16[name].count == 0 and "never take" in (only16[name].note or "")
    # the observed values are the branch's own: silu_0 reads MatMul(x, W) of the 16 kHz body
    flat = take_branches(vad, batches[0])
    silu = next(s for s in sites if s.name == "silu_0")
    want = next(run_values(flat.model, [silu.input], [batches[0]]))[silu.input]
    assert want.shape == (1, 64) and silu.input not in {i.name for i in vad.graph.input}
    lo, hi = obs["silu_0"].range
    assert lo <= float(want.min()) and float(want.max()) <= hi


def test_run_shapes_reach_into_the_taken_branch(vad: onnx.ModelProto) -> None:
    sites = rewriter.find_sites(vad)
    run_shapes(vad, sites, _feeds(vad, 16000))
    shapes = {s.name: s.input_shape for s in sites}
    for name in BRANCH_16K:
        assert shapes[name] == [1, 64]
    for name in BRANCH_8K:  # not run: the inferred (symbolic) shape stays
        assert shapes[name] == ["batch", 64]


def _slashed(src: str, dst: str) -> None:
    """The VAD with its If nodes named as the TorchScript exporter names nodes ("/If",
    "/decoder/If"): a "/" inside a node name."""
    from rewriter.ir.graph import subgraph_attrs

    m = onnx.load(src)

    def rename(g: onnx.GraphProto, prefix: str) -> None:
        for n in g.node:
            if n.op_type == "If":
                n.name = f"{prefix}/{n.name}"
            for _, body in subgraph_attrs(n):
                rename(body, f"{prefix}/branch")

    rename(m.graph, "")
    onnx.save(m, dst)


@pytest.mark.parametrize("names", ["plain", "torchscript"])
def test_target_times_the_sites_of_the_taken_branch(
    zoo_paths: dict[str, str], tmp_path, names: str
) -> None:
    """Before: a TorchScript If ("/If") gave the path "If/then_branch" (its leading "/"
    stripped) that no splice matched, so every branch site read "not measurable"."""
    src = zoo_paths["vad_if"]
    if names == "torchscript":
        src = str(tmp_path / "slashed.onnx")
        _slashed(zoo_paths["vad_if"], src)
    out, report = tmp_path / "out.onnx", tmp_path / "r.json"
    args = [src, "--target", "ort-cpu:threads=1", "-o", str(out)]
    assert main([*args, "--report", str(report), "-q", "--db", str(tmp_path / "l.db")]) == 0
    decisions = {d["site"]: d for d in json.loads(report.read_text())["plan"]["decisions"]}
    for name in BRANCH_16K:  # timed at their run shape (before: "inside a subgraph")
        assert decisions[name]["shape"] == [1, 64] and decisions[name]["original_ms"] > 0
    for name in BRANCH_8K:
        assert decisions[name]["original_ms"] is None
        assert "branch these inputs do not take" in decisions[name]["reason"]


def test_unused_initializer_in_a_branch_is_carried() -> None:
    # a branch with its own weights: they move into the main graph with its nodes
    w = numpy_helper.from_array(np.full(4, 2.0, np.float32), "w")
    then = helper.make_graph(
        [helper.make_node("Mul", ["x", "w"], ["t"], name="scale")],
        "then",
        [],
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, [4])],
        [w],
    )
    other = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["n"], name="neg")],
        "else",
        [],
        [helper.make_tensor_value_info("n", TensorProto.FLOAT, [4])],
    )
    g = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], name="if", then_branch=then, else_branch=other)],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [4]),
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    feeds = {"x": np.arange(4, dtype=np.float32), "c": np.array(True)}
    flat = take_branches(m, feeds)
    onnx.checker.check_model(flat.model, full_check=True)
    np.testing.assert_array_equal(run_model(flat.model, feeds)[0], 2 * feeds["x"])


def _branch_inits(m: onnx.ModelProto) -> dict[str, np.ndarray]:
    out = {}
    for n in m.graph.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                for t in a.g.initializer:
                    out[t.name] = numpy_helper.to_array(t)
                for nn in a.g.node:  # the 8 kHz body is one If deeper
                    for b in nn.attribute:
                        if b.type == onnx.AttributeProto.GRAPH:
                            out.update((t.name, numpy_helper.to_array(t)) for t in b.g.initializer)
    return out


def test_retraining_trains_the_branch_the_data_take(vad: onnx.ModelProto) -> None:
    # the torch interpreter has no If: it trains the spliced branch, and the values go back into
    # that branch's own initializers (before: "cannot retrain this model (If)")
    from rewriter.candidates import table_candidate
    from rewriter.emit import emit_result
    from rewriter.errors import ModelError
    from rewriter.tune.e2e import finetune_e2e

    coarse = {"silu_0": table_candidate((3, 2)), "tanh_1": table_candidate((3, 2))}
    student = emit_result(vad, coarse).model  # two sites of the 16 kHz body
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(16, 64)).astype(np.float32) for _ in range(4)]
    batches = [_feeds(vad, 16000) | {"x": xk} for xk in x]
    tuned, hist = finetune_e2e(student, vad, batches, train="coefficients", epochs=5, lr=1e-2)
    before, after = _branch_inits(student), _branch_inits(tuned)
    trained = set(hist.trained)
    assert trained and trained <= set(before)  # the branch's own coefficients, by name
    assert all(not np.array_equal(before[n], after[n]) for n in trained)
    for name in set(before) - trained:  # the weights, the 8 kHz body: untouched
        np.testing.assert_array_equal(before[name], after[name])
    assert hist.heldout.after.rel_l2 < hist.heldout.before.rel_l2
    assert [n.op_type for n in tuned.graph.node] == [n.op_type for n in student.graph.node]
    onnx.checker.check_model(tuned, full_check=True)
    # batches taking other branches (generated inputs: a flag drawn at random) are left out,
    # and said so; they refused the whole retraining before
    mixed = [*batches[:2], _feeds(vad, 8000) | {"x": x[2]}]
    _, hist = finetune_e2e(student, vad, mixed, train="coefficients", epochs=1)
    assert hist.branches and hist.branches.startswith(
        "trained and held out on the 2 of 3 calibration batches that take the If branches"
    )
    assert hist.heldout.of_batches == 2 and hist.fit_samples == 16
    lone = [batches[0], _feeds(vad, 8000) | {"x": x[2]}]
    with pytest.raises(ModelError, match="batch 0 alone takes its If branches"):
        finetune_e2e(student, vad, lone, train="coefficients", epochs=1)


def test_finetune_distill_cli_on_a_rewritten_vad(zoo_paths: dict[str, str], tmp_path) -> None:
    # `rewrite` names a rational's coefficients by function and degrees, so the main graph's
    # tanh and the branch's tanh share them: the same initializer on both sides is no clash
    src, out, tuned = zoo_paths["vad_if"], tmp_path / "r.onnx", tmp_path / "t.onnx"
    assert main([src, "-o", str(out), "-q"]) == 0
    x = np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=x, sr=np.array(16000, np.int64))
    args = ["finetune", str(out), "--teacher", src, "--calibration", str(tmp_path / "cal.npz")]
    assert main([*args, "--mode", "distill", "--epochs", "2", "-o", str(tuned), "-q"]) == 0
    onnx.checker.check_model(onnx.load(tuned), full_check=True)


def test_loop_and_scan_bodies_get_their_first_iteration_in_the_main_graph() -> None:
    m = loop_scan_model()
    rng = np.random.default_rng(1)
    feeds = {
        "x": rng.standard_normal((3, 6)).astype(np.float32),
        "xs": rng.standard_normal((5, 3, 6)).astype(np.float32),
    }
    flat = take_branches(m, feeds, loops=True)
    assert flat.taken == {"Loop": "body", "Scan": "body"} and flat.where("Loop/body") == ""
    onnx.checker.check_model(flat.model, full_check=True)
    for a, b in zip(run_model(m, feeds), run_model(flat.model, feeds), strict=True):
        np.testing.assert_array_equal(a, b)  # the nodes themselves still compute the outputs
    first = [flat.value("Loop/body", "vo"), flat.value("Scan/body", "b")]
    assert first == ["vo::Loop/first", "b::Scan/first"]
    vo, b = next(run_values(flat.model, first, [feeds])).values()
    w = numpy_helper.to_array(m.graph.initializer[0])
    np.testing.assert_allclose(vo, np.tanh(feeds["x"] @ w), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b, feeds["x"] + feeds["xs"][-1])  # scanned in reverse: last
    assert take_branches(m, feeds).model is m  # without loops=True, no If: the model as is


_TRIPS = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[N,6] x, int64 trips) => (float[N,6] y, float[K,N,6] ys) {
   c = Constant <value = bool {1}> ()
   y, ys = Loop (trips, c, x) <body = body (int64 i, bool cin, float[N,6] v) => (bool cout,
                                                                         float[N,6] vo, float[N,6] so) {
      cout = Identity (cin)
      vo = Tanh (v)
      so = Sigmoid (vo)
   }>
}"""


def test_a_loop_the_inputs_run_zero_times_is_not_peeled(tmp_path) -> None:
    """Its first iteration does not exist: before, a Scan over an empty sequence failed in the
    tool's own slice ("Gather 'Scan/first/bind2' fails") and a Loop of 0 trips had its sites
    timed at an iteration that never runs. Now the body is like a branch not taken."""
    m = onnx.parser.parse_model(_TRIPS)
    x = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    none, three = {"x": x, "trips": np.array(0)}, {"x": x, "trips": np.array(3)}
    flat = take_branches(m, none, loops=True)
    assert flat.taken == {"Loop": ""} and flat.where("Loop/body") is None
    assert len(flat.model.graph.node) == len(m.graph.node)
    flat = take_branches(m, three, loops=True)
    assert flat.taken == {"Loop": "body"} and flat.where("Loop/body") == ""
    src, report = tmp_path / "trips.onnx", tmp_path / "r.json"
    onnx.save(m, src)
    np.savez(tmp_path / "none.npz", **none)
    args = [str(src), "--inputs", str(tmp_path / "none.npz"), "--target", "ort-cpu:threads=1"]
    args += [
        "-o",
        str(tmp_path / "o.onnx"),
        "--report",
        str(report),
        "--db",
        str(tmp_path / "l.db"),
    ]
    assert main([*args, "-q"]) == 0
    reasons = {d["site"]: d["reason"] for d in json.loads(report.read_text())["plan"]["decisions"]}
    assert len(reasons) == 2, reasons
    for r in reasons.values():
        assert "is in a loop body these inputs run zero times (Loop/body)" in r, r


def test_target_times_the_sites_of_loop_and_scan_bodies(tmp_path) -> None:
    """Before, every site in a Loop or Scan body read 'not measurable' (a tf2onnx Keras GRU's
    gates); now each is timed at its first iteration's shape."""
    src, out, report = tmp_path / "loop.onnx", tmp_path / "out.onnx", tmp_path / "r.json"
    onnx.save(loop_scan_model(), src)
    args = [str(src), "--target", "ort-cpu:threads=1", "-o", str(out), "-q"]
    assert main([*args, "--report", str(report), "--db", str(tmp_path / "l.db")]) == 0
    r = json.loads(report.read_text())
    decisions = {d["site"]: d for d in r["plan"]["decisions"]}
    assert len(decisions) == 3
    for d in decisions.values():
        assert d["shape"] == [1, 6] and d["original_ms"] > 0, d
    assert {s["name"]: s["input_shape"] for s in r["sites"]} == {n: [1, 6] for n in decisions}


def test_sites_in_loop_and_scan_bodies_are_observed_at_every_iteration() -> None:
    """No graph output can expose a body's values; the ONNX-to-torch interpreter records them
    (before: 'not observed', and `map` printed [nan, nan])."""
    m = loop_scan_model()
    rng = np.random.default_rng(2)
    batches = [
        {
            "x": rng.standard_normal((3, 6)).astype(np.float32),
            "xs": rng.standard_normal((5, 3, 6)).astype(np.float32),
        }
        for _ in range(2)
    ]
    sites = rewriter.find_sites(m)
    by_input = {s.input: s.name for s in sites}
    assert set(by_input) == {"a", "vo", "b"}
    obs = observe_sites(m, sites, batches)
    w = numpy_helper.to_array(m.graph.initializer[0])
    seen = []
    for f in batches:
        v = f["x"]
        for _ in range(4):  # the Loop's trips: a = v @ w, v = tanh(a)
            seen.append(v @ w)
            v = np.tanh(seen[-1])
    a = obs[by_input["a"]]
    assert a.note is None and a.count == 2 * 4 * 18
    assert a.range == pytest.approx(
        (min(x.min() for x in seen), max(x.max() for x in seen)), abs=1e-5
    )
    assert obs[by_input["b"]].count == 2 * 5 * 18  # the Scan's five steps


# -- verification runs every If branch the rewrite changed ----------------------------------


def test_rewrite_verifies_the_vad_on_both_sample_rates(
    zoo_paths: dict[str, str], tmp_path, capsys
) -> None:
    """Generated inputs take sr == 16000; the 8 kHz branch's sites were replaced and never run
    ("verified" on the other branch only). Now sr = 8000, the constant the else branch compares
    it with, runs them too."""
    assert main([zoo_paths["vad_if"], "-o", str(tmp_path / "o.onnx")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("verification"))
    assert "also run on generated inputs: else_branch of 'if_16000' (sr=8000)" in line
    assert "NOT RUN" not in line


def test_rewrite_verifies_both_passes_of_a_merged_decoder(
    zoo_paths: dict[str, str], tmp_path, capsys
) -> None:
    """Optimum's merged decoder: generated inputs take the cached step (use_cache_branch is
    ones, as a mask); the first pass's two GELU sites were replaced and never run."""
    assert main([zoo_paths["gpt2_merged"], "-o", str(tmp_path / "o.onnx")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("verification"))
    assert (
        "also run on generated inputs: else_branch of 'optimum::if' (use_cache_branch=False)"
    ) in line


def _flag_model(reachable: bool = True, same_names: bool = False) -> onnx.ModelProto:
    """If(flag) over x [1, 8]: then Tanh, else SiLU (x * sigmoid(x)), as an Optimum merged
    decoder chooses its cached or first pass on ``use_cache_branch``; ``reachable=False``: the
    condition is ReduceMax(x) > 1e9, which no input drawn in range reaches; ``same_names``:
    each branch's output is named ``y``, as the If's (optimum-onnx's merged decoders)."""

    def branch(name: str, nodes: list[onnx.NodeProto], out: str) -> onnx.GraphProto:
        return helper.make_graph(
            nodes, name, [], [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, 8])]
        )

    t, e = ("y", "y") if same_names else ("t", "e")
    then_g = branch("then", [helper.make_node("Tanh", ["x"], [t])], t)
    else_g = branch(
        "else",
        [helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Mul", ["x", "s"], [e])],
        e,
    )
    nodes, inputs, inits = [], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])], []
    if reachable:
        inputs.append(helper.make_tensor_value_info("flag", TensorProto.BOOL, [1]))
        cond = "flag"
    else:
        inits.append(numpy_helper.from_array(np.array(1e9, np.float32), "big"))
        nodes += [
            helper.make_node("ReduceMax", ["x"], ["peak"], keepdims=0),
            helper.make_node("Greater", ["peak", "big"], ["cond"]),
        ]
        cond = "cond"
    nodes.append(
        helper.make_node("If", [cond], ["y"], name="gate", then_branch=then_g, else_branch=else_g)
    )
    g = helper.make_graph(
        nodes,
        "flag",
        inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("same_names", [False, True])
def test_a_boolean_input_is_flipped_to_run_the_other_branch(tmp_path, capsys, same_names) -> None:
    """``same_names``: optimum-onnx 0.1's merged T5 and Whisper decoders name each branch's
    outputs as the If's; the branch taken was not found (the names read as a clash), and both
    branches' sites were "NOT RUN by any input tried"."""
    onnx.save(_flag_model(same_names=same_names), tmp_path / "m.onnx")
    out = tmp_path / "o.onnx"
    assert (
        main([str(tmp_path / "m.onnx"), "-o", str(out), "--report", str(tmp_path / "r.json")]) == 0
    )
    text = capsys.readouterr().out
    taken = "then_branch" if generate_inputs(_flag_model()).feeds["flag"][0] else "else_branch"
    other, value = ("else_branch", False) if taken == "then_branch" else ("then_branch", True)
    assert f"also run on generated inputs: {other} of 'gate' (flag={value})" in text
    r = json.loads((tmp_path / "r.json").read_text())["verification"]
    assert r["branches_run"] == [f"{other} of 'gate' (flag={value})"]
    assert r["branches_not_run"] == []
    # with the user's data, the other branch runs on generated inputs alike
    np.savez(tmp_path / "d.npz", x=np.ones((1, 8), np.float32), flag=np.array([True]))
    args = [str(tmp_path / "m.onnx"), "--inputs", str(tmp_path / "d.npz"), "-o", str(out)]
    assert main(args) == 0
    assert "(flag=False)" in capsys.readouterr().out


def test_a_branch_no_input_runs_is_said(tmp_path, capsys) -> None:
    onnx.save(_flag_model(reachable=False), tmp_path / "m.onnx")
    assert main([str(tmp_path / "m.onnx"), "-o", str(tmp_path / "o.onnx")]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "NOT RUN by any input tried, though sites there were replaced: then_branch of 'gate' "
        "(pass --inputs that take them)"
    ) in text


# -- a VAD as its package ships it (Silero VAD v5's silero_vad.onnx) --------------------------


def _silero_like(tmp_path, output_dims: bool = False) -> str:
    """Silero VAD v5's layout: ``input`` [?, ?] and ``state`` [2, ?, H] with no dim names at
    all, ``sr`` an int64 scalar read as ``sr.reshape(-1)[0] == 16000``, the 16 kHz network in
    the then branch and the 8 kHz one in the else branch (no constant 8000 anywhere). Each
    network: reflect-pad 64, a strided "STFT" conv, a SiLU encoder, an LSTM from the state, a
    Sigmoid head; both exported with torch's TorchScript exporter. ``output_dims``: the state
    keeps its ``batch`` name and the updated one gets names no input has (silero's op15 file:
    ``AddstateN_dim_0``)."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self, win: int) -> None:
            super().__init__()
            self.stft = nn.Conv1d(1, 16, win, stride=win // 2, bias=False)
            self.enc = nn.Sequential(nn.Conv1d(16, 24, 3, padding=1), nn.SiLU())
            self.lstm = nn.LSTM(24, 32)
            self.dec = nn.Conv1d(32, 1, 1)

        def forward(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, ...]:
            x = nn.functional.pad(x[:, None], (0, 64), mode="reflect")
            f = self.enc(self.stft(x).abs()).mean(-1)
            y, (h, c) = self.lstm(f[None], (state[:1], state[1:]))
            return torch.sigmoid(self.dec(y.permute(1, 2, 0)))[..., 0], torch.cat([h, c])

    def branch(win: int, prefix: str) -> onnx.GraphProto:
        torch.manual_seed(win)
        path = tmp_path / f"{prefix}.onnx"
        args = (torch.randn(1, 512), torch.zeros(2, 1, 32))
        axes = {"x": {0: "b", 1: "n"}, "state": {1: "b"}}
        torch.onnx.export(Net(win).eval(), args, str(path), input_names=["x", "state"],
                          output_names=["p", "s"], dynamic_axes=axes, dynamo=False, opset_version=17)  # fmt: skip
        g = onnx.compose.add_prefix(onnx.load(path), f"{prefix}/").graph
        renames = {f"{prefix}/x": "input", f"{prefix}/state": "state"}
        for n in g.node:
            n.input[:] = [renames.get(i, i) for i in n.input]
        del g.input[:]
        return g

    then_g, else_g = branch(256, "b16k"), branch(128, "b8k")
    for g, p in ((then_g, "b16k"), (else_g, "b8k")):
        g.node.extend([helper.make_node("Identity", [f"{p}/p"], [f"{p}/prob"]),
                       helper.make_node("Identity", [f"{p}/s"], [f"{p}/stateN"])])  # fmt: skip
        del g.output[:]
        g.output.extend([helper.make_tensor_value_info(f"{p}/prob", TensorProto.FLOAT, None),
                         helper.make_tensor_value_info(f"{p}/stateN", TensorProto.FLOAT, None)])  # fmt: skip
    nodes = [
        helper.make_node("Reshape", ["sr", "minus1"], ["sr_flat"]),
        helper.make_node("Gather", ["sr_flat", "zero"], ["sr0"], axis=0),
        helper.make_node("Equal", ["sr0", "c16000"], ["is16k"]),
        helper.make_node(
            "If",
            ["is16k"],
            ["output", "stateN"],
            name="If_0",
            then_branch=then_g,
            else_branch=else_g,
        ),  # fmt: skip
    ]
    batch: list = ["batch"] if output_dims else [None]
    state_out = ["AddstateN_dim_0", "batch", "AddstateN_dim_2"] if output_dims else [None] * 3
    g = helper.make_graph(
        nodes,
        "silero_like",
        [
            helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, None]),
            helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, *batch, 32]),
            helper.make_tensor_value_info("sr", TensorProto.INT64, []),
        ],
        [
            helper.make_tensor_value_info("output", TensorProto.FLOAT, [*batch, 1]),
            helper.make_tensor_value_info("stateN", TensorProto.FLOAT, state_out),
        ],
        [
            numpy_helper.from_array(np.array([-1], np.int64), "minus1"),
            numpy_helper.from_array(np.array(0, np.int64), "zero"),
            numpy_helper.from_array(np.array(16000, np.int64), "c16000"),
        ],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(m)
    path = tmp_path / "silero_like.onnx"
    onnx.save(m, path)
    return str(path)


def test_silero_like_vad_rewrites_with_no_flags_and_verifies_both_rates(tmp_path, capsys) -> None:
    """The shipped Silero VAD failed with no flags: its state's unnamed batch dim was read as a
    sequence (128) and the LSTM refused every probe; with the state given, the 8 kHz branch
    (taken by any sr but 16000, no 8000 to read) was "NOT RUN"."""
    path = _silero_like(tmp_path)
    gen = generate_inputs(onnx.load(path))
    assert {k: v.shape for k, v in gen.feeds.items()} == {
        "input": (1, 16000),
        "state": (2, 1, 32),
        "sr": (),
    }
    assert not gen.feeds["state"].any()  # the VAD's state starts at zeros
    out = tmp_path / "o.onnx"
    assert main([path, "-o", str(out)]) == 0
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if x.startswith("verification"))
    assert "also run on generated inputs: else_branch of 'If_0' (sr=8000)" in line
    assert "NOT RUN" not in line
    assert "4 of 4 sites replaced" in text  # SiLU and Sigmoid in each branch


def test_state_returned_under_names_no_input_has_starts_at_zeros(tmp_path) -> None:
    """silero_vad_16k_op15: state [2, batch, 128] returns as [AddstateN_dim_0, batch,
    AddstateN_dim_2]; the state was standard normal, not the zeros a stream starts from."""
    gen = generate_inputs(onnx.load(_silero_like(tmp_path, output_dims=True)))
    assert gen.feeds["state"].shape == (2, 1, 32) and not gen.feeds["state"].any()
    assert "zeros (state: its name)" in next(n for n in gen.notes if n.startswith("state:"))
