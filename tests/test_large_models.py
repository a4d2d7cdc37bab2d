"""Models over protobuf's 2 GiB (LLM-sized exports: model.onnx + model.onnx.data).

Such a ModelProto cannot be serialized, so sessions, the checker, OpenVINO, the whole-model
cache key and the written output go through files with external data instead. A real 2.35 GB
model ran end to end (README); here the threshold is lowered so that a small model, exported
with external data the way exporters write large ones, takes the same path."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import rewriter.ir.io as io
from rewriter.cli import main
from rewriter.ir import load_model


@pytest.fixture(scope="module")
def external(tmp_path_factory: pytest.TempPathFactory) -> str:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 128), torch.nn.GELU(), torch.nn.Linear(128, 32), torch.nn.SiLU()
    ).eval()
    d = tmp_path_factory.mktemp("ext")
    plain = str(d / "plain.onnx")
    torch.onnx.export(
        net,
        (torch.randn(1, 64),),
        plain,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    path = str(d / "model.onnx")
    onnx.save(
        onnx.load(plain),
        path,
        save_as_external_data=True,
        location="model.onnx.data",
        size_threshold=0,
    )
    os.unlink(plain)
    return path


@pytest.fixture
def large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(io, "_LARGE", 1000)  # every model with more than 1000 bytes of tensors


def _files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_large_model_is_rewritten_to_model_and_data(external: str, large, tmp_path) -> None:
    src = os.path.dirname(external)
    before = {f: open(os.path.join(src, f), "rb").read() for f in os.listdir(src)}
    runs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        out = tmp_path / name / "out.onnx"
        argv = [external, "-o", str(out), "-q"]
        assert main(argv + ["--report", str(tmp_path / f"{name}.json")]) == 0
        runs.append(_files(tmp_path / name))
    assert {f: open(os.path.join(src, f), "rb").read() for f in os.listdir(src)} == before
    assert sorted(runs[0]) == ["out.onnx", "out.onnx.data"]
    assert runs[0] == runs[1]  # same input and options, same bytes
    out = str(tmp_path / "a" / "out.onnx")
    m = onnx.load(out, load_external_data=False)
    big = [t for t in m.graph.initializer if io._tensor_bytes(t) >= 1024]
    assert len(big) == 2 and all(t.data_location == onnx.TensorProto.EXTERNAL for t in big)
    onnx.checker.check_model(out, full_check=True)
    r = json.loads((tmp_path / "a.json").read_text())
    assert [s["function"] for s in r["sites"]] == ["gelu", "silu"]
    x = {"x": np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)}
    a = ort.InferenceSession(external).run(None, x)[0]
    b = ort.InferenceSession(out).run(None, x)[0]
    assert np.linalg.norm(b - a) <= 1e-2 * np.linalg.norm(a)


def test_save_model_leaves_the_model_as_it_was(external: str, large, tmp_path) -> None:
    m = load_model(external)
    assert io.is_large(m)
    blob = m.SerializeToString(deterministic=True)
    io.save_model(m, str(tmp_path / "m.onnx"))
    assert m.SerializeToString(deterministic=True) == blob
    assert os.path.getsize(tmp_path / "m.onnx.data") >= sum(
        io._tensor_bytes(t) for t in m.graph.initializer if io._tensor_bytes(t) >= 1024
    )
    again = load_model(str(tmp_path / "m.onnx"))
    assert io.model_digest(again) == io.model_digest(m)
    w = next(t for t in again.graph.initializer if len(t.dims) == 2)
    arr = onnx.numpy_helper.to_array(w).copy()
    arr[0, 0] += 1.0
    w.CopyFrom(onnx.numpy_helper.from_array(arr, w.name))
    assert io.model_digest(again) != io.model_digest(m)


def test_is_large_counts_tensor_bytes(external: str) -> None:
    m = load_model(external)
    assert not io.is_large(m)  # the real threshold: about 2 GiB
    assert sum(io._tensor_bytes(t) for t in m.graph.initializer) == 4 * (
        64 * 128 + 128 + 128 * 32 + 32
    )


def test_output_whose_data_file_is_the_input_s_is_refused(external: str, tmp_path, capsys) -> None:
    src = str(tmp_path / "a.onnx")  # its tensors live in other.onnx.data
    onnx.save(load_model(external), src, save_as_external_data=True, location="other.onnx.data")
    data = (tmp_path / "other.onnx.data").read_bytes()
    assert main([src, "-o", str(tmp_path / "other.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"rewrite: error: {tmp_path / 'other.onnx'}: a large output's tensors go to "
        f"{tmp_path / 'other.onnx.data'}, which holds the input's external data; the input is "
        "never overwritten: choose another output name"
    )
    assert (tmp_path / "other.onnx.data").read_bytes() == data
    assert not (tmp_path / "other.onnx").exists()


@pytest.mark.parametrize("target", ["ort-cpu:threads=1", "openvino-cpu"])
def test_a_large_model_is_timed_whole(
    external: str, large, target: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if target.startswith("openvino"):
        pytest.importorskip("openvino")
    out, rep = str(tmp_path / "out.onnx"), tmp_path / "bench.json"
    assert main([external, "-o", out, "-q"]) == 0
    written: list[str] = []  # each model the runtime got, as a file with external data
    real = io._save_external

    def spy(m, path, *args, **kw):
        written.append(path)
        real(m, path, *args, **kw)

    monkeypatch.setattr(io, "_save_external", spy)
    argv = ["bench", external, out, "--target", target, "--time-cap", "1", "--json", str(rep)]
    assert main(argv) == 0
    assert len(written) >= 2  # the original and the rewritten model, both through files
    stats = json.loads(rep.read_text())["comparison"]["stats"]
    assert len(stats) == 2 and all(v["median"] > 0 for v in stats.values())


def _sessions_written(monkeypatch) -> list[str]:
    """The temporary model files ONNX Runtime sessions are made from (one per mapped session)."""
    written: list[str] = []
    real = io._save_external

    def spy(m, path, *args, **kw):
        written.append(path)
        real(m, path, *args, **kw)

    monkeypatch.setattr(io, "_save_external", spy)
    return written


def test_heavy_weights_reach_onnx_runtime_mapped(external: str, monkeypatch) -> None:
    """A model with more than ``MAPPED_WEIGHTS`` of weights (not large) is given to ONNX Runtime
    as a file with external data, which it maps instead of copying (README: a BERT-base
    session 918 -> 357 MiB); the outputs are those of a session made from the bytes."""
    from rewriter.ir.runtime import run_session, session

    model = load_model(external)
    x = {"x": np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)}
    want = run_session(ort.InferenceSession(model.SerializeToString()), x)
    written = _sessions_written(monkeypatch)
    run_session(session(model), x)
    assert written == []  # 41 KiB of weights: serialized bytes
    monkeypatch.setattr(io, "MAPPED_WEIGHTS", 1000)
    got = run_session(session(model), x)
    assert len(written) == 1 and not io.is_large(model)
    np.testing.assert_array_equal(got[0], want[0])


def test_no_room_for_the_mapped_file_falls_back_to_bytes(external: str, monkeypatch) -> None:
    """A temporary folder that cannot take the file (full, read-only): a model protobuf can
    still hold loads from bytes; one too large for that says what to do, in one line."""
    from rewriter.errors import ModelError
    from rewriter.ir.runtime import run_session, session

    model = load_model(external)
    x = {"x": np.ones((2, 64), np.float32)}

    def full(*args, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io, "MAPPED_WEIGHTS", 1000)
    monkeypatch.setattr(io, "_save_external", full)
    assert run_session(session(model), x)[0].shape == (2, 32)
    monkeypatch.setattr(io, "_LARGE", 1000)
    with pytest.raises(
        ModelError, match=r"No space left on device; free space there or set TMPDIR"
    ):
        session(model)


def test_verification_makes_each_model_s_session_once(external: str, monkeypatch) -> None:
    """Three draws (and the runs on other inputs and the noise floors within them) run on one
    session of each model: each draw made both again, and a session of a large model is its
    weights written to a temporary file and loaded (onnxruntime-genai's 2.1 GB Llama: six
    sessions of 6-8 s each; README, `tools/bench_big.py --llama`)."""
    from rewriter.api import rewrite_onnx
    from rewriter.verify import make_inputs, verify

    model = load_model(external)
    new = rewrite_onnx(model).model
    written = _sessions_written(monkeypatch)
    monkeypatch.setattr(io, "MAPPED_WEIGHTS", 1000)
    x = {"x": np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)}
    dev = verify(model, new, x, more_feeds=lambda k: make_inputs(model, seed=k, sizes={"batch": 3}))
    assert dev.draws == 3 and 0 < max(o.rel_l2 for o in dev.outputs) < 1e-3
    assert len(written) == 2  # the original's session and the rewrite's (6 before)


def test_sessions_for_values_map_weights_without_prepacking(external: str, monkeypatch) -> None:
    """A session that only computes values (verification, probing inputs) of a model reaching
    ONNX Runtime as a mapped file leaves its MatMul weights in the file's pages: pre-packed,
    each session held a copy (2.4 GB of anonymous memory per session of the 2.1 GB Llama, 0.26
    GB without). A session that is timed keeps ONNX Runtime's default; small models too."""
    from rewriter.ir.runtime import run_session, runner, session

    model = load_model(external)
    x = {"x": np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)}
    key = "session.disable_prepacking"

    def packing(sess) -> str:
        try:
            return sess.get_session_options().get_session_config_entry(key)
        except RuntimeError:  # "SessionOptions does not have configuration with key"
            return ""

    assert packing(session(model, prepack=False)) == ""  # 41 KiB: bytes, as before
    written = _sessions_written(monkeypatch)
    monkeypatch.setattr(io, "MAPPED_WEIGHTS", 1000)
    timed, values = session(model), session(model, prepack=False)
    assert len(written) == 2 and (packing(timed), packing(values)) == ("", "1")
    want = run_session(timed, x)[0]
    np.testing.assert_allclose(run_session(values, x)[0], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(runner(model)(x)[0], want, rtol=1e-5, atol=1e-6)
    # int4 weights keep their packing: MatMulNBits unpacked ran 4x slower
    rng = np.random.default_rng(0)
    int4 = onnx.helper.make_model(
        onnx.helper.make_graph(
            [onnx.helper.make_node("MatMulNBits", ["x", "b", "scales"], ["y"], domain="com.microsoft", K=64, N=32, bits=4, block_size=32)],
            "int4",
            [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 64])],
            [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
            [
                onnx.numpy_helper.from_array(rng.integers(0, 256, (32, 2, 16), dtype=np.uint8), "b"),
                onnx.numpy_helper.from_array(np.full(64, 0.01, np.float32), "scales"),
            ],
        ),
        opset_imports=[onnx.helper.make_opsetid("", 17), onnx.helper.make_opsetid("com.microsoft", 1)],
    )  # fmt: skip
    assert packing(session(int4, prepack=False)) == "" and len(written) == 4
