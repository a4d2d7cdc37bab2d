"""Back off instead of refusing: better rationals for the worst sites, then keep sites, until the
whole model is inside the tolerance (rewriter.plan.backoff)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import rewriter
from rewriter.candidates import table_candidate
from rewriter.plan.backoff import back_off_accuracy
from rewriter.verify import make_inputs


def mlp() -> onnx.ModelProto:
    """x -> MatMul -> Mish -> MatMul -> Tanh -> MatMul -> Sigmoid: three sites of different
    sensitivity (the weights scale each layer's pre-activations differently)."""
    rng = np.random.default_rng(0)
    ws = [rng.normal(0, s, size=(16, 16)).astype(np.float32) for s in (0.9, 0.4, 0.6)]
    nodes = [
        helper.make_node("MatMul", ["x", "w0"], ["h0"]),
        helper.make_node("Mish", ["h0"], ["a0"]),
        helper.make_node("MatMul", ["a0", "w1"], ["h1"]),
        helper.make_node("Tanh", ["h1"], ["a1"]),
        helper.make_node("MatMul", ["a1", "w2"], ["h2"]),
        helper.make_node("Sigmoid", ["h2"], ["y"]),
    ]
    g = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 16])],
        [numpy_helper.from_array(w, f"w{k}") for k, w in enumerate(ws)],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    m.ir_version = 8
    return m


def test_better_rationals_bring_a_coarse_rewrite_inside_the_tolerance() -> None:
    m = mlp()
    feeds = make_inputs(m)
    coarse = {s.name: table_candidate((3, 2)) for s in rewriter.find_sites(m)}
    r = back_off_accuracy(m, coarse, feeds, tolerance=2e-4)
    assert not r.deviation.exceeds(2e-4)
    assert r.upgraded and not r.kept  # (7,6) fits on observed inputs were enough
    assert r.worst_site in coarse and r.worst_output == "y"
    assert list(r.contributions) == sorted(r.contributions, key=lambda k: -r.contributions[k])
    assert all(s.replaced for s in r.result.sites)
    assert all(c.degrees == (7, 6) for k, c in r.assignment.items() if k in r.upgraded)
    onnx.checker.check_model(r.result.model, full_check=True)


def test_sites_are_kept_worst_first_when_better_rationals_do_not_suffice() -> None:
    m = mlp()
    feeds = make_inputs(m)
    coarse = {s.name: table_candidate((3, 2)) for s in rewriter.find_sites(m)}
    r = back_off_accuracy(m, coarse, feeds, tolerance=1e-9, max_upgrades=1)
    assert r.kept and not r.deviation.exceeds(1e-9)
    order = list(r.contributions)
    assert list(r.kept) == order[: len(r.kept)]  # worst contributor kept first
    assert all("alone it moves output 'y'" in why for why in r.kept.values())
    replaced = {s.name for s in r.result.sites if s.replaced}
    assert replaced.isdisjoint(r.kept)


def test_nothing_to_do_inside_the_tolerance() -> None:
    m = mlp()
    fine = {s.name: table_candidate((5, 4)) for s in rewriter.find_sites(m)}
    r = back_off_accuracy(m, fine, make_inputs(m), tolerance=1e-2)
    assert not r.steps and not r.kept and r.worst_site is None
