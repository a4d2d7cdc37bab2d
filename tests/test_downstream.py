"""Running only what a rewrite changed: structural keys, the cut, and the evaluator that feeds
it the original's values. Every number is checked against running the changed model whole."""

from __future__ import annotations

import os
import sys

import numpy as np
import onnx
import onnx.parser
import pytest
from onnx import numpy_helper

from rewriter.accuracy import evaluate
from rewriter.accuracy.evaluate import Evaluator
from rewriter.accuracy.study import Study
from rewriter.candidates import Candidate, table_candidate
from rewriter.ir.downstream import Keys, downstream
from rewriter.ir.graph import infer_value_info

sys.path.insert(0, os.path.dirname(__file__))
from accuracy_models import make_model  # noqa: E402

DEGREES = [(3, 2), (5, 4), (7, 6)]

# four shared layers, then a SiLU site whose output meets a shared tensor again (h4), an If
# whose branches read h4 from outside, and a Tanh site; ``side`` is an output of the shared part
DEEP = """
<ir_version: 8, opset_import: ["" : 17]>
deep (float[N, 8] x, bool flag) => (float[N, 8] y, float[N, 8] side) {
    h1 = MatMul(x, w)
    r1 = Relu(h1)
    h2 = MatMul(r1, w)
    r2 = Relu(h2)
    h3 = MatMul(r2, w)
    r3 = Relu(h3)
    h4 = MatMul(r3, w)
    side = Relu(h4)
    s = Sigmoid(h4)
    g = Mul(h4, s)
    h5 = MatMul(g, w2)
    r = Add(h5, h4)
    b = If(flag) <then_branch = yes () => (float[N, 8] o) { o = Add(r, h4) },
                  else_branch = no () => (float[N, 8] o) { o = Sub(r, h4) }>
    y = Tanh(b)
}
"""


def deep_model() -> onnx.ModelProto:
    m = onnx.parser.parse_model(DEEP)
    rng = np.random.default_rng(0)
    for name in ("w", "w2"):
        w = rng.normal(0, 0.5, (8, 8)).astype(np.float32)
        m.graph.initializer.append(numpy_helper.from_array(w, name))
    onnx.checker.check_model(m, full_check=True)
    return m


def _batches(n: int = 3) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    return [
        {"x": rng.normal(0, 1, (5, 8)).astype(np.float32), "flag": np.array(k % 2 == 0)}
        for k in range(n)
    ]


def _swap(m: onnx.ModelProto, op: str, to: str) -> onnx.ModelProto:
    """A copy of ``m`` with its ``op`` nodes made ``to`` (a changed model)."""
    c = onnx.ModelProto()
    c.CopyFrom(m)
    for n in c.graph.node:
        if n.op_type == op:
            n.op_type = to
    return c


def _same(a: Evaluator, b: Evaluator, model: onnx.ModelProto) -> None:
    da, db = a.of(model), b.of(model)
    assert len(da.outputs) == len(db.outputs)
    for x, y in zip(da.outputs, db.outputs, strict=True):
        assert x.rel_l2 == pytest.approx(y.rel_l2, rel=1e-5, abs=1e-9), x.name
        assert x.max_abs == pytest.approx(y.max_abs, rel=1e-5, abs=1e-9), x.name


def test_keys_ignore_names() -> None:
    m = deep_model()
    r = onnx.ModelProto()
    r.CopyFrom(m)
    new = {f"h{k}": f"renamed{k}" for k in (1, 2, 3, 5)}  # h4 is read by name in the bodies
    for n in r.graph.node:
        n.name = "other_" + n.name
        n.input[:] = [new.get(i, i) for i in n.input]
        n.output[:] = [new.get(o, o) for o in n.output]
    a, b = Keys(m), Keys(r)
    assert a.complete and b.complete
    assert a.of["y"] == b.of["y"] and a.of["h5"] == b.of["renamed5"]
    assert a.of["h4"] != a.of["h3"]  # same op, same weight: other inputs


def test_the_cut_starts_at_the_change() -> None:
    m = deep_model()
    changed = _swap(m, "Sigmoid", "HardSigmoid")
    cut = downstream(m, Keys(m), changed, infer_value_info(m))
    assert cut is not None
    ops = [n.op_type for n in cut.model.graph.node]
    assert ops == ["HardSigmoid", "Mul", "MatMul", "Add", "If", "Tanh"]
    # h4 read by the Mul, the Add and both branches; a graph input feeds itself
    assert cut.feeds == {"h4": "h4", "flag": "flag"}
    assert [i.name for i in cut.model.graph.initializer] == ["w2"]  # not the shared w
    assert cut.outputs == [(True, "y"), (False, "side")]
    assert (cut.nodes, cut.total) == (6, 14)
    shape = cut.model.graph.input[0].type.tensor_type
    assert shape.elem_type == onnx.TensorProto.FLOAT and len(shape.shape.dim) == 2


def test_a_retrained_weight_changes_what_reads_it() -> None:
    m = deep_model()
    changed = onnx.ModelProto()
    changed.CopyFrom(m)
    w2 = next(t for t in changed.graph.initializer if t.name == "w2")
    w2.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w2) * 1.01, "w2"))
    cut = downstream(m, Keys(m), changed)
    assert cut is not None
    assert [n.op_type for n in cut.model.graph.node] == ["MatMul", "Add", "If", "Tanh"]
    assert set(cut.feeds) == {"g", "h4", "flag"}


def test_an_unsorted_graph_has_no_cut() -> None:
    m = deep_model()
    nodes = list(m.graph.node)
    del m.graph.node[:]
    m.graph.node.extend(reversed(nodes))
    assert not Keys(m).complete
    assert downstream(m, Keys(m), m) is None


def test_the_evaluator_runs_the_cut_with_the_same_numbers() -> None:
    m = deep_model()
    cut, whole = (
        Evaluator(m, "pau_all", _batches()),
        Evaluator(m, "pau_all", _batches(), downstream=False),
    )
    for changed in (_swap(m, "Sigmoid", "HardSigmoid"), _swap(m, "Tanh", "Softsign")):
        _same(cut, whole, changed)
    assert cut.runs == {"cut": 2, "whole": 0} and whole.runs == {"cut": 0, "whole": 2}
    d = cut.of(m)  # no change at all: the original's outputs
    assert d.rel_l2 == 0.0 and cut.runs["cut"] == 3


def test_what_the_cut_cannot_run_runs_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    m = deep_model()
    whole = Evaluator(m, "pau_all", _batches(), downstream=False)
    # a change of the first layer: nearly every node again
    first = _swap(m, "Relu", "Softplus")
    ev = Evaluator(m, "pau_all", _batches())
    _same(ev, whole, first)
    assert ev.runs == {"cut": 0, "whole": 1}
    # the original's values the cut reads would pass the bound
    monkeypatch.setattr(evaluate, "CAPTURE_BYTES", 64)
    ev = Evaluator(m, "pau_all", _batches())
    _same(ev, whole, _swap(m, "Sigmoid", "HardSigmoid"))
    assert ev.runs == {"cut": 0, "whole": 1}


def test_random_ops_run_whole() -> None:
    m = deep_model()
    m.graph.node.append(onnx.helper.make_node("RandomUniformLike", ["y"], ["noise"], seed=1.0))
    m.graph.output.append(onnx.ValueInfoProto(name="noise"))
    ev = Evaluator(m, "pau_all", _batches())
    ev.of(_swap(m, "Tanh", "Softsign"))
    assert ev.runs == {"cut": 0, "whole": 1}


def test_study_numbers_are_those_of_whole_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every site's every candidate, on one switch model (the default), as cuts of emitted
    models, or as emitted models run whole: the map's and the budget search's numbers do not
    depend on how the models ran."""
    m = make_model()
    rng = np.random.default_rng(0)
    batches = [{"x": rng.normal(0, 1.5, (16, 8)).astype(np.float32)} for _ in range(4)]
    switched = Study(m, "pau_all", batches)
    assert switched.evaluator.switched == sum(len(s.candidates) - 1 for s in switched.sites)
    assert switched.evaluator.runs == {"cut": 0, "whole": 0}
    kw = evaluate.Evaluator.__init__.__kwdefaults__
    monkeypatch.setattr(evaluate.Evaluator.__init__, "__kwdefaults__", {**kw, "switch": False})
    cut = Study(m, "pau_all", batches)
    assert cut.evaluator.runs["cut"] > 0 and cut.evaluator.switched == 0
    monkeypatch.setattr(
        evaluate.Evaluator.__init__, "__kwdefaults__", {**kw, "downstream": False, "switch": False}
    )
    slow = Study(m, "pau_all", batches)
    assert slow.evaluator.runs["cut"] == 0
    for fast in (switched, cut):
        for a, b in zip(fast.sites, slow.sites, strict=True):
            assert a.solo.keys() == b.solo.keys()
            for k in a.solo:
                assert a.solo[k].rel_l2 == pytest.approx(b.solo[k].rel_l2, rel=1e-5, abs=1e-9), k
                assert a.solo[k].cosine == pytest.approx(b.solo[k].cosine, abs=1e-9), k


@pytest.mark.parametrize("case", ["prepared", "unprepared", "a cut fails"])
def test_evaluations_in_threads_are_those_one_by_one(
    monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """``Evaluator.deviations`` evaluates in threads, then settles in order what evaluating
    one after another does: the same numbers and runs, also when what the cuts read is not
    captured yet (each evaluated in order, capturing) and when a cut fails to run (it and every
    later cut run whole: here the cut of silu_0's first candidate fails, and its other three
    ran as cuts in the threads and are run whole again; gelu_0's, nearly the whole model, run
    whole in any case)."""
    m = make_model()
    batches = _make_model_batches()
    st = Study(m, "pau_all", batches)
    solo = [{s.name: c} for s in st.sites for c in s.candidates]
    if case == "a cut fails":
        real_build, real_run = Evaluator.build, Evaluator._cut_outputs
        first = f"silu_0={st.site('silu_0').candidates[1].name}"

        def tagged(self, assignment):  # type: ignore[no-untyped-def]
            """The emitted nodes say which assignment made them (the cut copies them)."""
            model = real_build(self, assignment)
            tag = ",".join(f"{k}={c.name}" for k, c in sorted(assignment.items()))
            for n in model.graph.node:
                if n.name.startswith("pau/"):
                    n.doc_string = tag
            return model

        def refuse(self, cut):  # type: ignore[no-untyped-def]
            if any(n.doc_string == first for n in cut.model.graph.node):
                return None  # as ONNX Runtime refusing the cut
            return real_run(self, cut)

        monkeypatch.setattr(Evaluator, "build", tagged)
        monkeypatch.setattr(Evaluator, "_cut_outputs", refuse)
    got = {}
    for workers in (1, 2):
        ev = Evaluator(m, "pau_all", batches)
        if case != "unprepared":
            ev.prepare([{s.name: s.candidates[1]} for s in st.sites])
        ticks: list[tuple[int, int]] = []
        said = ev.deviations(solo, workers=workers, progress=lambda d, t, k=ticks: k.append((d, t)))
        devs = [d.to_dict() for d in said]
        got[workers] = devs, dict(ev.runs), ev._downstream
        # one tick per distinct assignment evaluated (the "keep" ones need no run)
        assert ticks == [(k, 8) for k in range(1, 9)]
    assert got[1] == got[2]
    _, runs, downstream_after = got[2]
    if case == "a cut fails":
        assert runs == {"cut": 0, "whole": 8} and downstream_after is False
    else:
        assert runs == {"cut": 4, "whole": 4} and downstream_after is True


def test_a_long_study_says_how_far_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """The evaluations of a study log how many are done while they run (a diffusion UNet's
    take minutes): here on every one but the last, whose end the next line says."""
    from rewriter.accuracy import study

    monkeypatch.setattr(study, "PROGRESS_EVERY", 0.0)
    lines: list[str] = []
    Study(make_model(), "pau_all", _make_model_batches(), log=lines.append)
    said = [x for x in lines if "candidate(s) evaluated" in x]
    assert len(said) == 7
    assert said[0].startswith("1 of 8 candidate(s) evaluated (")
    assert said[-1].startswith("7 of 8 candidate(s) evaluated (") and said[-1].endswith(" s)")


def _make_model_batches() -> list[dict[str, np.ndarray]]:
    """Four batches for ``make_model``'s 8-wide input."""
    rng = np.random.default_rng(0)
    return [{"x": rng.normal(0, 1.5, (16, 8)).astype(np.float32)} for _ in range(4)]


def test_another_opset_has_no_cut() -> None:
    """One op may mean another thing at another opset version: nothing is shared then."""
    m = deep_model()
    changed = _swap(m, "Sigmoid", "HardSigmoid")
    changed.opset_import[0].version = 18
    assert downstream(m, Keys(m), changed) is None
    changed.opset_import[0].version = 17
    changed.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))  # added: fine
    assert downstream(m, Keys(m), changed) is not None


def test_an_input_with_a_default_has_no_cut() -> None:
    """``w2`` declared as a graph input too: a caller may feed it, so what the cut reads is not
    the initializer's value alone."""
    m = deep_model()
    m.graph.input.append(onnx.helper.make_tensor_value_info("w2", onnx.TensorProto.FLOAT, [8, 8]))
    assert downstream(m, Keys(m), _swap(m, "Sigmoid", "HardSigmoid")) is None


@pytest.mark.parametrize("noise", [False, True])
def test_one_switch_model_gives_each_candidates_numbers(noise: bool) -> None:
    """``Evaluator.solos``: every site's every candidate as runs of one switch model, its cut
    downstream of the sites where it has one (the deep model's SiLU and Tanh come after the
    shared layers); the numbers are those of each candidate's model run whole. A model that
    draws random numbers is declined (a session per run: emitting each costs less there)."""
    m = deep_model()
    # forty more shared layers first: the cut of the switch model, every candidate of both
    # sites, is then under 90% of its nodes (else it runs whole, as a candidate's would)
    w = numpy_helper.from_array(np.eye(8, dtype=np.float32) * 0.9, "w_pre")
    pre = [
        onnx.helper.make_node(op, [f"p{k}", "w_pre"] if op == "MatMul" else [f"q{k}"], [out])
        for k in range(40)
        for op, out in (("MatMul", f"q{k}"), ("Relu", f"p{k + 1}"))
    ]
    for n in m.graph.node:
        n.input[:] = ["p40" if x == "x" else x for x in n.input]
    pre[0].input[0] = "x"
    rest = list(m.graph.node)
    del m.graph.node[:]
    m.graph.node.extend(pre + rest)
    m.graph.initializer.append(w)
    if noise:
        m.graph.node.append(onnx.helper.make_node("RandomUniformLike", ["y"], ["noise"]))
        m.graph.output.append(onnx.ValueInfoProto(name="noise"))
    relu = Candidate("standard", "standard:relu", op="relu")
    cands = [Candidate("keep", "keep"), *(table_candidate(d) for d in DEGREES), relu]
    alternatives = {"silu_0": cands, "tanh_0": cands}
    ev = Evaluator(m, "pau_all", _batches())
    assert ev.solos(alternatives) is not noise
    if noise:
        assert ev.switched == 0 and ev._switch_run is None
        return
    assert ev.switched == 2 * 4
    assert ev.switch_cut and ev.runs == {"cut": 0, "whole": 0}
    whole = Evaluator(m, "pau_all", _batches(), downstream=False, switch=False)
    for name, cands in alternatives.items():
        for c in cands:
            a, b = ev.deviation({name: c}), whole.deviation({name: c})
            assert a.rel_l2 == pytest.approx(b.rel_l2, rel=1e-5, abs=1e-9), (name, c.name)
            assert a.cosine == pytest.approx(b.cosine, abs=1e-9), (name, c.name)
    assert whole.runs["whole"] == ev.switched
    # a plan of several sites (the sweep's, the budget search's) is a run of it too
    plan = {"silu_0": cands[2], "tanh_0": cands[4]}
    a, b = ev.deviation(plan), whole.deviation(plan)
    assert ev.switched == 2 * 4 + 1 and ev.runs == {"cut": 0, "whole": 0}
    assert a.rel_l2 == pytest.approx(b.rel_l2, rel=1e-5, abs=1e-9) and a.rel_l2 > 0
    other = {"silu_0": table_candidate((4, 3))}  # not one of the switch model's: emitted
    ev.deviation(other)
    assert ev.switched == 2 * 4 + 1 and sum(ev.runs.values()) == 1


def _chain(layers: int = 12, sites: tuple[int, ...] = (1, 5, 9)) -> onnx.ModelProto:
    """``layers`` MatMul layers, each followed by a Tanh (a site) at ``sites`` and a Relu
    elsewhere, every layer from the second on adding the layer two back (a skip across each
    site, as a detector's blocks have)."""
    lines, prev, back = [], "x", "x"
    for k in range(layers):
        act = "Tanh" if k in sites else "Relu"
        lines += [f"m{k} = MatMul({prev}, w)", f"a{k} = {act}(m{k})"]
        lines.append(f"h{k} = Add(a{k}, {back})" if k else f"h{k} = Identity(a{k})")
        back, prev = prev, f"h{k}"
    lines.append(f"y = Identity({prev})")
    body = "\n    ".join(lines)
    m = onnx.parser.parse_model(
        f"""<ir_version: 8, opset_import: ["" : 17]>
chain (float[N, 8] x) => (float[N, 8] y) {{
    {body}
}}"""
    )
    w = np.random.default_rng(0).normal(0, 0.4, (8, 8)).astype(np.float32)
    m.graph.initializer.append(numpy_helper.from_array(w, "w"))
    onnx.checker.check_model(m, full_check=True)
    return m


def test_each_site_of_a_switch_model_runs_only_below_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sites all along the model (a detector's): each site's candidates run on the part of the
    switch model below that site (``Below``), fed the original's values by name, not on the
    switch model's one cut from the first site on; the numbers are those of each candidate's
    model run whole. Where what the sites' cuts read would pass the capture bound, the switch
    model's cut runs them, the same numbers."""
    from rewriter.emit.switch import switch_model
    from rewriter.ir.downstream import Below

    m = _chain()
    batches = [{"x": np.random.default_rng(k).normal(0, 1, (4, 8)).astype(np.float32)}
               for k in range(3)]  # fmt: skip
    cands = [Candidate("keep", "keep"), *(table_candidate(d) for d in DEGREES)]
    alternatives = {f"tanh_{k}": cands for k in range(3)}
    sw = switch_model(m, {k: v[1:] for k, v in alternatives.items()})
    assert sw.same_elsewhere(m)
    held = {o for n in m.graph.node for o in n.output} | {"x", "w"}
    each = Below(sw.model, held)
    sizes = [each.cut([sw.selectors[k]]).nodes for k in alternatives]
    # each site's switch (Equal, If) and its layer's Add, 3 nodes a layer after it, one more
    # for each later site's switch (its Equal), the output's Identity
    assert sizes == [3 + 3 * 10 + 2 + 1, 3 + 3 * 6 + 1 + 1, 3 + 3 * 2 + 1]
    # with the later sites' switches at their original nodes (a Tanh each): one If in each
    cuts = [each.cut([sw.selectors[k]], inline=lambda n, k=k: sw.fixed(n, k)) for k in sw.selectors]
    assert [c.nodes for c in cuts] == [3 + 3 * 10 + 1, 3 + 3 * 6 + 1, 3 + 3 * 2 + 1]
    assert [sum(n.op_type == "If" for n in c.model.graph.node) for c in cuts] == [1, 1, 1]
    assert [sorted(c.feeds) for c in cuts] == [
        ["h0", "m1", "pau/tanh_0/choice", "x"],
        ["h3", "h4", "m5", "pau/tanh_1/choice"],
        ["h7", "h8", "m9", "pau/tanh_2/choice"],
    ]
    whole = Evaluator(m, "pau_all", batches, downstream=False, switch=False)
    ev = Evaluator(m, "pau_all", batches)
    assert ev.solos(alternatives) and ev.own_cuts == 0  # 3 sites: the switch model's one cut
    monkeypatch.setattr(evaluate, "_SITE_CUTS_FROM", 3)
    # each cut reads the site's input and two skips (the first site: one, and x, fed), 4 x 8
    # floats a batch; the switch model's cut reads what the first site's does (2 tensors), then
    # the smallest cuts (the last sites) are taken first while what they read fits
    per = 3 * 4 * 8 * 4
    for bound, site_cuts in ((evaluate.CAPTURE_BYTES, 3), (5 * per, 2), (4 * per, 1), (64, 0)):
        monkeypatch.setattr(evaluate, "CAPTURE_BYTES", bound)
        ev = Evaluator(m, "pau_all", batches)
        assert ev.solos(alternatives)
        assert ev.switched == 3 * 3 and ev.own_cuts == site_cuts
        for name in alternatives:
            for c in cands[1:]:
                a, b = ev.deviation({name: c}), whole.deviation({name: c})
                assert a.rel_l2 == pytest.approx(b.rel_l2, rel=1e-5, abs=1e-9), (name, c.name)
                assert a.cosine == pytest.approx(b.cosine, abs=1e-9), (name, c.name)
                assert a.rel_l2 > 0
    # a switch model of a model changed elsewhere than at its sites is not fed by name
    other = onnx.ModelProto()
    other.CopyFrom(m)
    other.graph.node[0].op_type = "Add"
    assert not sw.same_elsewhere(other)
