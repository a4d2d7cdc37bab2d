"""Shared fixtures: the zoo of realistic models (tools/zoo.py), built once per test process."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_zoo_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("zoo", ROOT / "tools" / "zoo.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@pytest.fixture(scope="session")
def zoo_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``name -> path`` of every zoo model (BERT/GPT-2/ViT from both exporters, a stride-32
    detector, a GRU with state, an LSTM CRNN, an If-branching VAD, a reflect-Pad net, a quantized MLP)."""
    pytest.importorskip("transformers")
    return load_zoo_module().build_zoo(str(tmp_path_factory.mktemp("zoo")))


def fixed_reshape_model() -> onnx.ModelProto:
    """x [batch, features] -> Tanh -> Reshape to a fixed 65537 elements: only that count runs,
    a prime past the largest size a probe tries (65536), so no generated input runs it (one
    site, tanh_0, before the Reshape). (7x13 was found once two refusals of the Reshape gave
    the count where they meet: 1x91.)"""
    g = helper.make_graph(
        [
            helper.make_node("Tanh", ["x"], ["t"], name="tanh"),
            helper.make_node("Reshape", ["t", "shape"], ["y"], name="fixed_reshape"),
        ],
        "fixed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "features"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [65537])],
        [numpy_helper.from_array(np.array([65537], np.int64), "shape")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


_LOOP_SCAN = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[N, 6] x, float[5, N, 6] xs) => (float[N, 6] y, float[4, N, 6] ys, float[N, 6] h) {
    m = Constant <value = int64 {4}> ()
    c = Constant <value = bool {1}> ()
    y, ys = Loop (m, c, x) <body = body (int64 i, bool cin, float[N, 6] v)
                                         => (bool cout, float[N, 6] vo, float[N, 6] so) {
        cout = Identity (cin)
        a = MatMul (v, w)
        vo = Tanh (a)
        so = Sigmoid (vo)
    }>
    h = Scan (x, xs) <num_scan_inputs = 1, scan_input_directions = [1], body = step
        (float[N, 6] s, float[N, 6] e) => (float[N, 6] so) {
        b = Add (s, e)
        so = Tanh (b)
    }>
}
"""


def loop_scan_model() -> onnx.ModelProto:
    """x [N, 6] through a Loop of 4 trips (v = tanh(v @ w), a Sigmoid scan output; ``w`` a
    main-graph weight read from the body) and a Scan over xs [5, N, 6] in reverse (s =
    tanh(s + e)): the recurrences tf2onnx writes, with sites in both bodies."""
    m = onnx.parser.parse_model(_LOOP_SCAN)
    w = np.random.default_rng(0).normal(0, 0.5, (6, 6)).astype(np.float32)
    m.graph.initializer.append(numpy_helper.from_array(w, "w"))
    onnx.checker.check_model(m, full_check=True)
    return m


def searchsorted_module():  # type: ignore[no-untyped-def]
    """Values binned among fixed sorted edges (to the right of equal ones, by ``right`` and by
    ``side``) and among their row's running sums, as int32 (``searchsorted``, which neither
    torch exporter has a function for): Music Flamingo finds its audio windows' samples so."""
    import torch

    class Bins(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(8, 8)
            self.register_buffer("edges", torch.linspace(-1.5, 1.5, 7))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            ends = torch.cumsum(x.abs(), -1)
            fixed = torch.searchsorted(self.edges, x.contiguous(), right=True)
            doubled = torch.searchsorted(self.edges, (x * 2).contiguous(), side="right")
            running = torch.searchsorted(ends, (x * 3).contiguous(), out_int32=True)
            return torch.nn.functional.gelu(self.fc(x)) + fixed + doubled + running.float()

    return Bins().eval()


def export_text_auto(hf_model, path: str, opset: int | None = None) -> str:  # type: ignore[no-untyped-def]
    """``hf_model`` (a ``transformers`` text model) exported as users do who name no dims:
    ``torch.onnx.export(dynamo=True)`` with ``Dim.AUTO`` on the batch and sequence of
    ``input_ids`` and ``attention_mask`` (dim_params like ``s72``, ``s43``), output
    ``last_hidden_state`` as ``y``; at ``opset`` when given (tools/zoo.py's ``_export``)."""
    import torch

    class Text(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = hf_model.eval()

        def forward(self, input_ids, attention_mask):  # type: ignore[no-untyped-def]
            return self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    torch.manual_seed(0)
    ids, mask = torch.randint(0, 100, (2, 8)), torch.ones(2, 8, dtype=torch.int64)
    names = ["input_ids", "attention_mask"]
    axes = dict.fromkeys(names, {0: "batch", 1: "sequence"})
    load_zoo_module()._export(Text(), (ids, mask), path, names, ["y"], axes, True,
                              auto_dims=True, opset=opset)  # fmt: skip
    return path
