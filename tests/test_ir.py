"""The IR helpers on a model with real weights: shape inference on a skeleton gives the same
types and shapes as on the whole model; run_values fetches inner values without modifying (or
copying) the model it is given."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from rewriter.inputs import generate_inputs
from rewriter.ir import graph as ir_graph
from rewriter.ir import infer_value_info, run_values


@pytest.fixture(scope="module")
def bert(zoo_paths: dict[str, str]) -> onnx.ModelProto:
    return onnx.load(zoo_paths["bert_torchscript"])


def test_skeleton_shape_inference_matches_the_whole_model(bert, monkeypatch) -> None:
    big = [t.name for t in bert.graph.initializer if np.prod(t.dims) >= ir_graph._SKELETON_MIN]
    assert big  # the embedding tables and the dense weights
    skeleton = ir_graph._skeleton(bert)
    assert not {t.name for t in skeleton.graph.initializer} & set(big)
    fast = infer_value_info(bert)
    monkeypatch.setattr(ir_graph, "_SKELETON_MIN", 10**12)  # nothing moved: the whole model
    whole = infer_value_info(bert)
    names = {o for n in bert.graph.node for o in n.output if o} | set(big)
    for v in sorted(names):
        a, b = fast.get(v), whole.get(v)
        assert (a is None) == (b is None), v
        if a is not None and b is not None:
            assert (a.elem_type, a.shape) == (b.elem_type, b.shape), v


def test_run_values_leaves_the_model_as_it_was(bert) -> None:
    feeds = generate_inputs(bert).feeds
    inner = [n.output[0] for n in bert.graph.node if n.op_type == "Erf"]
    before = bert.SerializeToString()
    got = next(run_values(bert, inner, [feeds]))
    assert bert.SerializeToString() == before
    assert set(got) == set(inner) and all(np.isfinite(x).all() for x in got.values())
