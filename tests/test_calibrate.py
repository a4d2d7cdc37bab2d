"""rewriter.calibrate: loading calibration data and observing site inputs (real ONNX Runtime)."""

from __future__ import annotations

import numpy as np
import onnx
import onnx.parser
import onnxruntime as ort
import pytest

from rewriter import find_sites
from rewriter.calibrate import PERCENTILES, Calibration, load_calibration, observe_sites
from rewriter.errors import UsageError

# x -> Mul(0.4) -> erf GELU -> y, and a second input z added after the activation
GELU_TEXT = """
<ir_version: 8, opset_import: ["" : 17]>
agraph (float[N, 4] x, float[N, 4] z) => (float[N, 4] y) {
    s = Constant <value = float {0.4}> ()
    h = Mul(x, s)
    c = Constant <value = float {1.4142135}> ()
    d = Div(h, c)
    e = Erf(d)
    one = Constant <value = float {1.0}> ()
    a = Add(e, one)
    half = Constant <value = float {0.5}> ()
    m = Mul(h, half)
    g = Mul(m, a)
    y = Add(g, z)
}
"""

STATIC_TEXT = """
<ir_version: 8, opset_import: ["" : 17]>
agraph (float[2, 3] x) => (float[2, 3] y) {
    y = Tanh(x)
}
"""


def _model(text: str = GELU_TEXT) -> onnx.ModelProto:
    return onnx.parser.parse_model(text)


def _arrays(n: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(0, 2, (n, 4)).astype(np.float32),
        "z": rng.normal(0, 1, (n, 4)).astype(np.float32),
    }


def test_npz_is_split_into_batches(tmp_path):
    path = tmp_path / "cal.npz"
    data = _arrays(10)
    np.savez(path, **data, labels=np.arange(10))  # extra arrays are ignored
    cal = load_calibration(str(path), _model(), batch_size=4)
    assert isinstance(cal, Calibration) and not cal.generated
    assert cal.samples == 10 and len(cal) == 3 and cal.source == str(path)
    assert [b["x"].shape[0] for b in cal] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b["x"] for b in cal]), data["x"])


def test_folder_of_npy_and_float_cast(tmp_path):
    data = _arrays(6)
    np.save(tmp_path / "x.npy", data["x"].astype(np.float64))  # float64 -> float32 is fine
    np.save(tmp_path / "z.npy", data["z"])
    cal = load_calibration(str(tmp_path), _model())
    assert cal.samples == 6 and cal[0]["x"].dtype == np.float32
    np.testing.assert_allclose(cal[0]["x"], data["x"])


def test_iterable_of_feeds_and_generated():
    feeds = [_arrays(3, seed=s) for s in range(2)]
    cal = load_calibration(feeds, _model())
    assert len(cal) == 2 and cal.samples == 6 and cal.source == "feeds"
    gen = load_calibration(None, _model())
    assert gen.generated and "generated" in gen.source and len(gen) > 1
    assert not np.array_equal(gen[0]["x"], gen[1]["x"])  # different seeds


def test_static_batch_and_stacked_samples(tmp_path):
    m = _model(STATIC_TEXT)
    x = np.zeros((6, 3), np.float32)
    np.savez(tmp_path / "a.npz", x=x)
    assert [b["x"].shape for b in load_calibration(str(tmp_path / "a.npz"), m)] == [(2, 3)] * 3
    np.savez(tmp_path / "b.npz", x=np.zeros((5, 2, 3), np.float32))  # rank + 1: unbatched samples
    cal = load_calibration(str(tmp_path / "b.npz"), m)
    assert len(cal) == 5 and cal[0]["x"].shape == (2, 3)


@pytest.mark.parametrize(
    "arrays, match",
    [
        ({"x": np.zeros((4, 4), np.float32)}, r"no array for model input\(s\) \['z'\]"),
        (
            {"x": np.zeros((4, 4, 1, 1), np.float32), "z": np.zeros((4, 4), np.float32)},
            "'x' has rank 4",
        ),
        (
            {"x": np.zeros((4, 4), np.int64), "z": np.zeros((4, 4), np.float32)},
            "'x' has dtype int64",
        ),
        (
            {"x": np.zeros((4, 4), np.float32), "z": np.zeros((3, 4), np.float32)},
            "different sample counts",
        ),
        (
            {"x": np.zeros((4, 5), np.float32), "z": np.zeros((4, 4), np.float32)},
            "'x' has size 5 on axis 1",
        ),
        ({"x": np.zeros((0, 4), np.float32), "z": np.zeros((0, 4), np.float32)}, "no samples"),
    ],
)
def test_malformed_npz(tmp_path, arrays, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(UsageError, match=match) as e:
        load_calibration(str(path), _model())
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_malformed_sources(tmp_path):
    m = _model()
    with pytest.raises(UsageError, match="no such calibration file"):
        load_calibration(str(tmp_path / "missing.npz"), m)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(UsageError, match="cannot read calibration data"):
        load_calibration(str(tmp_path / "junk.npz"), m)
    with pytest.raises(UsageError, match="empty"):
        load_calibration([], m)
    with pytest.raises(UsageError, match="one dict"):
        load_calibration(_arrays(2), m)
    with pytest.raises(UsageError, match="calibration batch 1: no array"):
        load_calibration([_arrays(2), {"x": np.zeros((2, 4), np.float32)}], m)
    with pytest.raises(UsageError, match="not a multiple of the model's static batch size 2"):
        np.savez(tmp_path / "odd.npz", x=np.zeros((5, 3), np.float32))
        load_calibration(str(tmp_path / "odd.npz"), _model(STATIC_TEXT))


def _exposed(model: onnx.ModelProto, value: str, feeds: list[dict]) -> np.ndarray:
    """The value computed by hand: add it as a graph output and run ONNX Runtime."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    m.graph.output.append(onnx.helper.make_tensor_value_info(value, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run([value], f)[0].ravel() for f in feeds]).astype(np.float64)


def test_observation_equals_direct_computation():
    m = _model()
    sites = find_sites(m)
    assert [s.name for s in sites] == ["gelu_0"]
    feeds = [_arrays(8, seed=s) for s in range(3)]
    obs = observe_sites(m, sites, load_calibration(feeds, m))["gelu_0"]
    x = _exposed(m, sites[0].input, feeds)
    assert obs.count == x.size == 96 and obs.samples.size == 96
    assert obs.min == x.min() and obs.max == x.max()
    np.testing.assert_allclose(obs.mean, x.mean(), rtol=1e-12)
    np.testing.assert_allclose(obs.std, x.std(), rtol=1e-9)
    np.testing.assert_allclose(list(obs.percentiles.values()), np.percentile(x, PERCENTILES))
    assert list(obs.percentiles) == ["0.1", "1", "50", "99", "99.9"]
    assert sum(obs.histogram["counts"]) == 96 and len(obs.histogram["edges"]) == 65
    d = obs.to_dict()
    assert d["samples"] == 96 and "note" in d and isinstance(d["histogram"]["counts"], list)


def test_subsample_is_capped_and_deterministic():
    m = _model()
    sites = find_sites(m)
    cal = load_calibration([_arrays(64, seed=s) for s in range(4)], m)
    a = observe_sites(m, sites, cal, max_samples=300)["gelu_0"]
    b = observe_sites(m, sites, cal, max_samples=300)["gelu_0"]
    assert a.count == 1024 and a.samples.size == 300
    np.testing.assert_array_equal(a.samples, b.samples)
    x = _exposed(m, sites[0].input, cal.batches)
    assert a.min == x.min() and a.max == x.max()  # exact despite the subsample


# a sequence-first recurrent net with a state input, as torch exports nn.GRU: the samples are
# on axis 1 of x and h0 and axis 0 of sequence_lens
GRU_TEXT = """
<ir_version: 8, opset_import: ["" : 17]>
agraph (float[T, B, 3] x, int32[B] sequence_lens, float[1, B, 4] h0) => (float[1, B, 4] h) {
    w = Constant <value = float[1, 12, 3] w_init = {"""
GRU_TEXT += (
    ", ".join(f"{0.05 * ((i * 7) % 11 - 5):.2f}" for i in range(36))
    + """}> ()
    r = Constant <value = float[1, 12, 4] r_init = {"""
)
GRU_TEXT += (
    ", ".join(f"{0.04 * ((i * 5) % 13 - 6):.2f}" for i in range(48))
    + """}> ()
    s, h = GRU <hidden_size = 4> (x, w, r, , sequence_lens, h0)
}
"""
)


def test_batch_axes_come_from_the_shared_batch_dimension():
    from rewriter.calibrate import batch_axes

    gru = onnx.parser.parse_model(GRU_TEXT)
    assert batch_axes(gru) == {"x": 1, "sequence_lens": 0, "h0": 1}
    assert batch_axes(onnx.parser.parse_model(GELU_TEXT)) == {"x": 0, "z": 0}
    assert batch_axes(onnx.parser.parse_model(STATIC_TEXT)) == {"x": 0}
    bert = onnx.parser.parse_model("""
<ir_version: 8, opset_import: ["" : 17]>
agraph (int64[batch, seq] ids, int64[batch, seq] mask) => (int64[batch, seq] y) {
    y = Add(ids, mask)
}
""")
    assert batch_axes(bert) == {"ids": 0, "mask": 0}  # both names shared: the first one
    # torch.export's made-up names: the sequences are one s0, the batches unrelated; an integer
    # [batch, sequence] input is batch-first
    auto = onnx.parser.parse_model(bert_text := bert_text_for("s4, s0", "s6, s0"))
    assert batch_axes(auto) == {"ids": 0, "mask": 0}, bert_text
    # ... while a float sequence-first input keeps its shared batch at axis 1
    seq_first = onnx.parser.parse_model("""
<ir_version: 8, opset_import: ["" : 17]>
agraph (float[s0, s1, 8] x, float[1, s1, 8] h) => (float[s0, s1, 8] y) {
    y = Add(x, h)
}
""")
    assert batch_axes(seq_first) == {"x": 1, "h": 1}
    # a dim named as a batch wins wherever it sits, shared or not
    named = onnx.parser.parse_model(bert_text_for("sequence, batch_size", "s9, batch_size"))
    assert batch_axes(named) == {"ids": 1, "mask": 1}


def bert_text_for(ids: str, mask: str) -> str:
    return f"""
<ir_version: 8, opset_import: ["" : 17]>
agraph (int64[{ids}] ids, int64[{mask}] mask) => (int64[{ids}] y) {{
    y = Add(ids, mask)
}}
"""


@pytest.fixture(scope="module")
def bert_auto(tmp_path_factory) -> str:
    """A BERT exported as users do with torch.export's ``Dim.AUTO``: its inputs come out as
    ``input_ids[s72, s53]``, ``attention_mask[s43, s53]`` (one sequence, two batch names)."""
    torch = pytest.importorskip("torch")
    tf = pytest.importorskip("transformers")
    from conftest import export_text_auto

    torch.manual_seed(0)
    cfg = tf.BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)  # fmt: skip
    bert = tf.BertModel(cfg, add_pooling_layer=False)
    return export_text_auto(bert, str(tmp_path_factory.mktemp("bert_auto") / "bert.onnx"))


def test_auto_named_bert_is_split_along_its_batch(bert_auto, tmp_path, capsys):
    """Calibration data, timing batches and the finetune report count sentences, not tokens."""
    from rewriter.calibrate import batch_axes
    from rewriter.cli import main
    from rewriter.cost.bench import with_batch

    model = onnx.load(bert_auto)
    dims = [[d.dim_param for d in i.type.tensor_type.shape.dim] for i in model.graph.input]
    assert dims[0][1] == dims[1][1] and dims[0][0] != dims[1][0], dims  # what the test is about
    assert batch_axes(model) == {"input_ids": 0, "attention_mask": 0}
    rng = np.random.default_rng(0)
    ids, mask = rng.integers(0, 100, (80, 24)), np.ones((80, 24), np.int64)
    np.savez(tmp_path / "cal.npz", input_ids=ids, attention_mask=mask)
    cal = load_calibration(str(tmp_path / "cal.npz"), model, batch_size=8)
    assert cal.samples == 80 and [b["input_ids"].shape for b in cal.batches] == [
        *[(8, 24)] * 10]  # fmt: skip
    assert with_batch(cal.batches[0], model, 6)["input_ids"].shape == (6, 24)
    student = tmp_path / "student.onnx"
    assert main([bert_auto, "-q", "-o", str(student)]) == 0
    args = ["finetune", str(student), "--teacher", bert_auto, "--calibration",
            str(tmp_path / "cal.npz"), "--mode", "distill", "--epochs", "1", "-o",
            str(tmp_path / "t.onnx")]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "on 48 sample(s)" in out and "1 of 3 batch(es), 32 sample(s)" in out, out


def test_sequence_first_state_inputs_split_along_their_batch_axis(tmp_path):
    from rewriter.calibrate import holdout

    m = onnx.parser.parse_model(GRU_TEXT)
    onnx.checker.check_model(m, full_check=True)
    rng = np.random.default_rng(0)
    n = 80
    x = rng.normal(size=(5, n, 3)).astype(np.float32)
    lens = rng.integers(1, 6, n).astype(np.int32)
    h0 = rng.normal(size=(1, n, 4)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, sequence_lens=lens, h0=h0)
    cal = load_calibration(str(tmp_path / "d.npz"), m, batch_size=32)
    assert cal.samples == n and cal.axes == {"x": 1, "h0": 1}
    assert [b["x"].shape for b in cal] == [(5, 32, 3), (5, 32, 3), (5, 16, 3)]
    assert [b["h0"].shape for b in cal] == [(1, 32, 4), (1, 32, 4), (1, 16, 4)]
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    whole = sess.run(None, {"x": x, "sequence_lens": lens, "h0": h0})[0]
    parts = np.concatenate([sess.run(None, b)[0] for b in cal], axis=1)
    np.testing.assert_allclose(parts, whole, rtol=1e-6, atol=1e-6)  # the same samples, in order
    one = holdout(load_calibration(str(tmp_path / "d.npz"), m, batch_size=128))
    assert one.check is not None and one.fit.samples == 60 and one.check.samples == 20
    assert one.check.batches[0]["x"].shape == (5, 20, 3)
    np.testing.assert_array_equal(one.check.batches[0]["h0"], h0[:, 60:])
    from rewriter.cost.bench import with_batch  # rewrite bench --batch N: the same axes

    b8 = with_batch({"x": x, "sequence_lens": lens, "h0": h0}, m, 8)
    assert (b8["x"].shape, b8["sequence_lens"].shape, b8["h0"].shape) == (
        (5, 8, 3),
        (8,),
        (1, 8, 4),
    )
    np.savez(tmp_path / "bad.npz", x=x, sequence_lens=lens[:10], h0=h0)
    with pytest.raises(UsageError, match=r"different sample counts .*axis 1 of 'h0', 1 of 'x'"):
        load_calibration(str(tmp_path / "bad.npz"), m)


def test_cli_rewrites_a_state_model_with_model_layout_calibration(tmp_path, capsys):
    from rewriter.cli import main

    text = GRU_TEXT.replace("=> (float[1, B, 4] h)", "=> (float[1, B, 4] y)").replace(
        "sequence_lens, h0)\n}", "sequence_lens, h0)\n    y = Tanh(h)\n}"
    )
    m = onnx.parser.parse_model(text)
    onnx.save(m, tmp_path / "gru.onnx")
    rng = np.random.default_rng(1)
    np.savez(
        tmp_path / "d.npz",
        x=rng.normal(size=(5, 40, 3)).astype(np.float32),
        sequence_lens=np.full(40, 5, np.int32),
        h0=rng.normal(size=(1, 40, 4)).astype(np.float32),
    )
    out = tmp_path / "o.onnx"
    argv = [str(tmp_path / "gru.onnx"), "-p", "pau_tanh", "--calibration", str(tmp_path / "d.npz")]
    assert main([*argv, "-o", str(out), "--report", str(tmp_path / "r.json")]) == 0
    import json

    r = json.load(open(tmp_path / "r.json"))
    assert [s["input_shape"] for s in r["sites"]] == [[1, 32, 4]]  # batch 32 on axis 1
    assert r["verification"]["inputs"] == "--calibration" and out.exists()


def test_a_scalar_input_is_fed_to_every_batch(tmp_path):
    """A VAD's sample rate: one scalar for all samples (it was an internal IndexError)."""
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [
            helper.make_node("Cast", ["sr"], ["f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["x", "f"], ["y"]),
        ],
        "vad",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4]),
            helper.make_tensor_value_info("sr", TensorProto.INT64, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    x = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, sr=np.array(16000))
    cal = load_calibration(str(tmp_path / "d.npz"), m, batch_size=32)
    assert cal.samples == 40 and [b["x"].shape[0] for b in cal] == [32, 8]
    assert all(b["sr"].shape == () and int(b["sr"]) == 16000 for b in cal)
