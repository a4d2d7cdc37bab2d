"""Micro-models cut from a graph are valid and reproduce the site's shapes; candidates build."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from rewriter.api import find_sites
from rewriter.candidates import candidates_for
from rewriter.cost import cut_site
from rewriter.cost.micro import random_feeds, resolve_dims
from rewriter.emit import emit
from rewriter.ir import run_model

MODEL = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[N,3,16,16] x, float[N,10,64] t) => (float[N,8,8,8] y, float[N,10,64] z) <float[8,3,3,3] w1, float[8] b1, float[8,8,3,3] w2, float[64,64] wm, float[64] bm> {
    h1 = Conv <pads = [1,1,1,1], strides = [2,2]> (x, w1, b1)
    s1 = Softplus(h1)
    th = Tanh(s1)
    a1 = Mul(h1, th)
    h2 = Conv <pads = [1,1,1,1]> (a1, w2)
    r2 = Add(h2, a1)
    sg = Sigmoid(r2)
    y = Mul(r2, sg)
    m = MatMul(t, wm)
    mb = Add(m, bm)
    c = Constant <value = float {0.7071067811865476}> ()
    d = Mul(mb, c)
    e = Erf(d)
    one = Constant <value = float {1.0}> ()
    p = Add(e, one)
    half = Constant <value = float {0.5}> ()
    q = Mul(mb, half)
    z = Mul(q, p)
}
"""


@pytest.fixture(scope="module")
def model() -> onnx.ModelProto:
    m = onnx.parser.parse_model(MODEL)
    rng = np.random.default_rng(0)
    shapes = {"w1": (8, 3, 3, 3), "b1": (8,), "w2": (8, 8, 3, 3), "wm": (64, 64), "bm": (64,)}
    m.graph.initializer.extend(
        numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), k)
        for k, s in shapes.items()
    )
    onnx.checker.check_model(m, full_check=True)
    return m


def _shape(m: onnx.ModelProto, name: str) -> list[int]:
    inf = onnx.shape_inference.infer_shapes(m)
    for vi in list(inf.graph.value_info) + list(inf.graph.output) + list(inf.graph.input):
        if vi.name == name:
            return [d.dim_value for d in vi.type.tensor_type.shape.dim]
    raise KeyError(name)


@pytest.mark.parametrize("batch", [1, 3])
def test_micro_models_valid_and_shaped(model, batch):
    sites = find_sites(model, "pau_all")
    assert sorted(s.function for s in sites) == ["gelu", "mish", "silu"]
    full = resolve_dims(model, batch)
    for s in sites:
        mi = cut_site(model, s, batch=batch)
        onnx.checker.check_model(mi.model, full_check=True)
        assert [o.name for o in mi.model.graph.output] == [s.output]
        assert mi.output_shape == _shape(full, s.output) and mi.output_shape[0] == batch
        for name, shp in mi.input_shapes.items():
            assert shp == _shape(full, name)
        assert [n.op_type for n in mi.model.graph.node][: len(mi.producer_ops)] == mi.producer_ops
        # the micro-model computes what the site computes in the whole model
        out = run_model(mi.model, random_feeds(mi.model))[0]
        assert list(out.shape) == mi.output_shape
    by_fn = {s.function: cut_site(model, s, batch=batch) for s in sites}
    assert by_fn["mish"].producer_ops == ["Conv"]
    assert by_fn["silu"].producer_ops == ["Conv", "Add"]  # residual add and its conv
    assert by_fn["gelu"].producer_ops == ["MatMul", "Add"]  # bias add and its matmul


def test_micro_matches_whole_model_values(model):
    s = next(s for s in find_sites(model, "pau_all") if s.function == "mish")
    mi = cut_site(model, s, batch=2)
    full = resolve_dims(model, 2)
    del full.graph.output[:]
    full.graph.output.extend(
        onnx.helper.make_tensor_value_info(v, onnx.TensorProto.FLOAT, None) for v in [s.output]
    )
    feeds = random_feeds(resolve_dims(model, 2))
    ref = run_model(full, feeds)[0]
    got = run_model(mi.model, {"x": feeds["x"]})[0]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_candidates_build_valid_models(model):
    for s in find_sites(model, "pau_all"):
        mi = cut_site(model, s)
        cands = candidates_for(
            s, allow_standard=True, max_error=float("inf"), extra_degrees=((3, 2),)
        )
        kinds = {c.kind for c in cands}
        assert "keep" in kinds and "rational" in kinds
        feeds = random_feeds(mi.model)
        ref = run_model(mi.model, feeds)[0]
        for c in cands:
            cm = emit(mi.model, {s.output: c}, None, by="output")
            onnx.checker.check_model(cm, full_check=True)
            out = run_model(cm, feeds)[0]
            assert out.shape == ref.shape
            if c.kind in ("rational", "exact"):
                assert np.max(np.abs(out - ref)) <= c.error * 1.5 + 1e-5, c.name


def test_dynamic_micro_models_leave_the_batch_free(model):
    # for a target that compiles dynamic dims as dynamic (openvino-cpu without static=1)
    for s in find_sites(model, "pau_all"):
        fixed, free = cut_site(model, s, batch=2), cut_site(model, s, batch=2, dynamic=True)
        onnx.checker.check_model(free.model, full_check=True)
        for vi in [*free.model.graph.input, *free.model.graph.output]:
            dims = vi.type.tensor_type.shape.dim
            assert dims[0].dim_param == "batch" and all(d.dim_value for d in dims[1:])
        assert free.signature != fixed.signature  # measured apart in the database
        out = run_model(free.model, random_feeds(fixed.model))[0]  # runs at the cut shapes
        assert list(out.shape) == fixed.output_shape


def test_a_weight_computed_from_constants_stays_a_weight_of_the_cut() -> None:
    """The TorchScript exporter writes a bias equal to another's as ``Identity`` of it (a
    Whisper encoder's ``conv2.bias``, both zero-initialized): the cut took it for an input,
    made one up, and the Conv refused it ("bias must be a 1D tensor of size output_channels"),
    so an OpenVINO plan, which measures a site with its Conv, stopped. It is folded into the
    cut as the weight it is."""
    text = """
    <ir_version: 8, opset_import: ["" : 17]>
    g (float[N,4,32] x) => (float[N,4,32] y) <float[4,4,3] w1, float[4] b1, float[4,4,3] w2> {
        h1 = Conv <pads = [1,1]> (x, w1, b1)
        s1 = Sigmoid(h1)
        a1 = Mul(h1, s1)
        b2 = Identity(b1)
        h2 = Conv <pads = [1,1]> (a1, w2, b2)
        s2 = Sigmoid(h2)
        y = Mul(h2, s2)
    }
    """
    model = onnx.parser.parse_model(text)
    rng = np.random.default_rng(0)
    del model.graph.initializer[:]
    for name, shape in (("w1", (4, 4, 3)), ("b1", (4,)), ("w2", (4, 4, 3))):
        w = rng.standard_normal(shape).astype(np.float32)
        model.graph.initializer.append(numpy_helper.from_array(w, name))
    (site,) = [s for s in find_sites(model, "pau_all") if s.output == "y"]
    mi = cut_site(model, site, batch=1)
    assert [i.name for i in mi.model.graph.input] == ["a1"]
    assert "b2" in {t.name for t in mi.model.graph.initializer}
    onnx.checker.check_model(mi.model, full_check=True)
    feeds = random_feeds(mi.model, seed=0)
    (got,) = run_model(mi.model, feeds)
    b1 = numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == "b1"))
    w2 = numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == "w2"))
    a = feeds["a1"]
    h = np.stack([sum(np.convolve(np.pad(a[0, i], 1), w2[o, i][::-1], "valid") for i in range(4)) + b1[o] for o in range(4)])[None]  # fmt: skip
    np.testing.assert_allclose(got, h / (1 + np.exp(-h)), rtol=1e-4, atol=1e-4)
