"""Shared fixtures: the zoo of realistic models (tools/zoo.py), built once per test session
(across pytest-xdist's workers: ``BuiltOnce``), and small models several test files build."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
from collections.abc import Callable, Iterator, Mapping

import filelock
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parents[1]

# pytest-xdist runs a worker per core: each one's torch (and the commands the tests start)
# on one thread, not a pool per core in every worker spinning against the others
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

_BUSY = object()  # another worker holds the model's lock


class BuiltOnce(Mapping[str, str]):
    """``name -> path`` of files built on first use, each once per test session: the first
    pytest-xdist worker to ask builds it under a file lock, the others read the path it
    recorded. A model is built when it is looked up; iterating builds every one, skipping those
    another worker is building and waiting for them last, so two workers share the work.

    ``builders[name](folder)`` writes the model under ``folder`` and returns its path, or None
    where it cannot be built (an exporter's limitation, printed by the builder): such a model
    is not in the mapping, as ``build_zoo`` leaves it out. An exception is not recorded: the
    next to ask builds again."""

    def __init__(self, root: pathlib.Path, builders: dict[str, Callable[[pathlib.Path], object]]):
        self.root, self.builders = root, builders
        self._paths: dict[str, str | None] = {}
        root.mkdir(parents=True, exist_ok=True)

    @classmethod
    def shared(
        cls, factory: pytest.TempPathFactory, key: str, builders: dict[str, Callable]
    ) -> BuiltOnce:
        """Under the run's temp folder the workers share (one worker's own without xdist)."""
        root = factory.getbasetemp()
        if os.environ.get("PYTEST_XDIST_WORKER"):
            root = root.parent
        return cls(root / key, builders)

    def _get(self, name: str, wait: bool = True) -> object:
        if name in self._paths:
            return self._paths[name]
        lock = filelock.FileLock(str(self.root / f"{name}.lock"))
        try:
            lock.acquire(timeout=-1 if wait else 0)
        except filelock.Timeout:
            return _BUSY
        try:
            record = self.root / f"{name}.json"
            if not record.exists():
                built = self.builders[name](self.root / name)
                record.write_text(json.dumps(None if built is None else str(built)))
            self._paths[name] = json.loads(record.read_text())
        finally:
            lock.release()
        return self._paths[name]

    def __getitem__(self, name: str) -> str:
        path = self._get(name) if name in self.builders else None
        if not isinstance(path, str):
            raise KeyError(name)
        return path

    def _all(self) -> dict[str, str]:
        busy = [n for n in self.builders if self._get(n, wait=False) is _BUSY]
        for name in busy:
            self._get(name)
        return {n: p for n in self.builders if isinstance(p := self._paths[n], str)}

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def load_zoo_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("zoo", ROOT / "tools" / "zoo.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@pytest.fixture(scope="session")
def zoo_paths(tmp_path_factory: pytest.TempPathFactory) -> Mapping[str, str]:
    """``name -> path`` of every zoo model (BERT/GPT-2/ViT from both exporters, a stride-32
    detector, a GRU with state, an LSTM CRNN, an If-branching VAD, a reflect-Pad net, a
    quantized MLP, ...), each built when first looked up, once for all workers (``BuiltOnce``);
    one an exporter cannot export is left out, as ``build_zoo`` leaves it out."""
    pytest.importorskip("transformers")
    zoo = load_zoo_module()

    def builder(name: str) -> Callable[[pathlib.Path], str | None]:
        return lambda folder: zoo.build_zoo(str(folder), [name]).get(name)

    return BuiltOnce.shared(tmp_path_factory, "zoo", {n: builder(n) for n in zoo.BUILDERS})


def window_cache_rows(tokens: int, capacity: int, window: int) -> int:
    """The rows of a GroupQueryAttention window-sized cache (``sliding_window_cache=1``) that
    hold positions after ``tokens`` tokens, by the op's specification's formula: ``L(T) = T``
    up to the capacity ``C``, else ``T - G ceil((T - C) / G)``, ``G = C - W + 1``."""
    room = capacity - window + 1
    return tokens if tokens <= capacity else tokens - room * -(-(tokens - capacity) // room)


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
