"""PyTorch files (``rewriter.frontends.pt2``): a saved ``torch.export`` program is converted with
torch.onnx, rewritten, and checked against the program run in PyTorch; the PyTorch files with no
graph (state dicts, pickled modules, safetensors) get one line saying what they are (TorchScript
archives are converted: tests/test_frontend_torchscript.py).

The program is a small encoder as users export one: token ids and a mask passed by keyword,
``Dim.AUTO`` on batch and sequence (so torch.export makes both at least 2, and the sequence at
most the position table's 32), an erf GELU and a sigmoid gate.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from conftest import searchsorted_module

from rewriter.cli import main


class _Encoder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tok = torch.nn.Embedding(100, 16)
        self.pos = torch.nn.Parameter(torch.randn(32, 16) * 0.1)
        self.up = torch.nn.Linear(16, 32)
        self.down = torch.nn.Linear(32, 16)
        self.gate = torch.nn.Linear(16, 16)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        h = self.tok(input_ids) + self.pos[: input_ids.shape[1]]
        h = h + self.down(torch.nn.functional.gelu(self.up(h)))
        h = h * torch.sigmoid(self.gate(h))
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        return (h * m).sum(1) / m.sum(1).clamp(min=1.0)


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, torch.nn.Module]:
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    module = _Encoder().eval()
    kwargs = {
        "input_ids": torch.randint(0, 100, (2, 8)),
        "attention_mask": torch.ones(2, 8, dtype=torch.int64),
    }
    auto = {0: torch.export.Dim.AUTO, 1: torch.export.Dim.AUTO}
    ep = torch.export.export(
        module, (), kwargs, dynamic_shapes={"input_ids": auto, "attention_mask": auto}
    )
    path = str(tmp_path_factory.mktemp("pt2") / "encoder.pt2")
    torch.export.save(ep, path)
    return path, module


def test_pt2_rewrites_with_no_flags_and_matches_pytorch(program, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    path, module = program
    before = open(path, "rb").read()
    out, rep = tmp_path / "out.onnx", tmp_path / "r.json"
    assert main([path, "-o", str(out), "--report", str(rep)]) == 0
    printed = capsys.readouterr().out
    assert "converted torch.export program with torch.onnx" in printed
    assert "vs pt2 in PyTorch: max-abs" in printed
    src = json.loads(rep.read_text())["source"]
    assert src["kind"] == "pt2" and src["runtime"] == "PyTorch"
    assert src["converted_vs_source"]["rel_l2"] < 1e-5
    assert 1e-7 < src["rewritten_vs_source"]["rel_l2"] < 1e-2
    assert open(path, "rb").read() == before  # the input is never modified
    m = onnx.load(str(out))
    ops = [n.op_type for n in m.graph.node]
    assert "Erf" not in ops and "Sigmoid" not in ops  # both sites replaced
    # the dynamic dims are kept: the output runs at a batch and length the export never saw
    assert all(d.dim_param for i in m.graph.input for d in i.type.tensor_type.shape.dim)
    import onnxruntime as ort

    ids = np.random.default_rng(1).integers(0, 100, (3, 17))
    mask = np.ones((3, 17), dtype=np.int64)
    mask[:, 12:] = 0
    got = ort.InferenceSession(str(out)).run(None, {"input_ids": ids, "attention_mask": mask})[0]
    with torch.no_grad():
        want = module(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-2


def test_pt2_generated_inputs_stay_inside_the_programs_ranges(program) -> None:  # type: ignore[no-untyped-def]
    from rewriter.frontends.pt2 import convert
    from rewriter.inputs import dim_examples, dim_ranges, generate_inputs

    path, _ = program
    conv = convert(path)
    ranges = dim_ranges(conv.model)
    # torch.export declared batch and sequence valid from 2 (the 0/1 specialization) and
    # bounded the sequence by the position table, which its guards enforce
    assert set(ranges.values()) == {(2, 32), (2, None)}, ranges
    ep = torch.export.load(path)
    with pytest.raises(Exception, match="Guard failed"):
        ep.module()(
            input_ids=torch.zeros(2, 33, dtype=torch.int64),
            attention_mask=torch.ones(2, 33, dtype=torch.int64),
        )
    feeds = generate_inputs(conv.model).feeds
    b, s = feeds["input_ids"].shape
    assert b >= 2 and 2 <= s <= 32
    assert any("the program's dims take" in n for n in conv.notes)
    # and the sizes it was exported at, tried when no typical size runs
    seq = conv.model.graph.input[0].type.tensor_type.shape.dim[1].dim_param
    assert dim_examples(conv.model)[seq] == 8 and set(dim_examples(conv.model).values()) == {2, 8}


def test_pt2_is_recognized_by_contents_not_name(program, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rewriter.ir import load_model

    path, _ = program
    other = tmp_path / "encoder.bin"
    shutil.copy(path, other)
    m = load_model(str(other))
    assert [i.name for i in m.graph.input] == ["input_ids", "attention_mask"]


class _Boxes(torch.nn.Module):
    """LayoutLM's box embeddings: a width x1 - x0 looked up in a table. Generated boxes have
    x1 < x0 somewhere; ONNX Runtime's Gather takes the negative index, PyTorch refuses it."""

    def __init__(self) -> None:
        super().__init__()
        self.x = torch.nn.Embedding(64, 8)
        self.w = torch.nn.Embedding(64, 8)

    def forward(self, box: torch.Tensor) -> torch.Tensor:
        h = self.x(box[..., 0]) + self.w(box[..., 2] - box[..., 0])
        return torch.nn.functional.gelu(h).mean(1)


def test_pt2_compared_on_its_example_inputs_where_it_refuses_generated_ones(
    tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    box = torch.randint(0, 30, (2, 6, 4))
    box[..., 2] = box[..., 0] + torch.randint(0, 30, (2, 6))  # x1 >= x0, as real boxes are
    auto = {0: torch.export.Dim.AUTO, 1: torch.export.Dim.AUTO}
    ep = torch.export.export(_Boxes().eval(), (box,), dynamic_shapes=(auto,))
    path = str(tmp_path / "boxes.pt2")
    torch.export.save(ep, path)
    rep = tmp_path / "r.json"
    assert main([path, "-o", str(tmp_path / "out.onnx"), "--report", str(rep)]) == 0
    printed = capsys.readouterr().out
    assert "compared on the program's own example inputs: it rejects the generated ones" in printed
    src = json.loads(rep.read_text())["source"]
    assert src["converted_vs_source"]["inputs"] == "the program's example inputs"
    assert src["converted_vs_source"]["rel_l2"] < 1e-5
    assert 1e-7 < src["rewritten_vs_source"]["rel_l2"] < 1e-2


def _torch_files(folder) -> dict[str, tuple[str, str]]:  # type: ignore[no-untyped-def]
    """file kind -> (path, what its one line must say)."""
    m = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.GELU())
    files = {}
    p = os.path.join(folder, "weights.pt")
    torch.save(m.state_dict(), p)
    files["state dict"] = (p, "PyTorch weights of 2 stored tensors (a state dict")
    p = os.path.join(folder, "legacy.pth")
    torch.save(m.state_dict(), p, _use_new_zipfile_serialization=False)
    files["legacy state dict"] = (p, "PyTorch weights (a state dict")
    p = os.path.join(folder, "module.pth")
    torch.save(m, p)
    files["pickled module"] = (p, "a pickled torch.nn.modules.container.Sequential saved")
    p = os.path.join(folder, "legacy_module.pth")
    torch.save(m, p, _use_new_zipfile_serialization=False)
    files["legacy pickled module"] = (p, "a pickled torch.nn.modules.container.Sequential saved")
    # torch.package archives (Silero's TTS and stress models ship as these): read as a
    # TorchScript archive that torch.jit.load calls corrupted, or as a broken ONNX file
    p = os.path.join(folder, "packaged.pt")
    with torch.package.PackageExporter(p) as e:
        e.extern("**")
        e.save_pickle("models", "model.pkl", m)
    files["torch.package"] = (
        p,
        "a torch.package archive holding models/model.pkl (a torch.nn.modules.container."
        "Sequential): Python code and pickles, not a graph, and loading them runs code from the "
        "file: load it in your own code (torch.package.PackageImporter(path).load_pickle("
        "'models', 'model.pkl')), then export it",
    )
    p = os.path.join(folder, "packaged_script.pt")
    gate = torch.package.package_exporter._gate_torchscript_serialization
    torch.package.package_exporter._gate_torchscript_serialization = False  # a beta feature
    try:
        with torch.package.PackageExporter(p) as e:
            e.extern("**")
            e.save_pickle("models", "script.pkl", torch.jit.script(m))
    finally:
        torch.package.package_exporter._gate_torchscript_serialization = gate
    files["torch.package of TorchScript"] = (
        p,
        "holding models/script.pkl (a TorchScript module): Python code and pickles, not a graph"
        ", and loading them runs code from the file: load it in your own code (torch.package."
        "PackageImporter(path).load_pickle('models', 'script.pkl')), then save a TorchScript "
        "module inside with torch.jit.save and rewrite that, or export it",
    )
    st = pytest.importorskip("safetensors.torch")
    p = os.path.join(folder, "model.safetensors")
    st.save_file(m.state_dict(), p)
    files["safetensors"] = (p, "safetensors weights, no graph")
    return files


def test_pytorch_files_without_a_graph_get_one_line(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    for kind, (path, says) in _torch_files(str(tmp_path)).items():
        out = tmp_path / "out.onnx"
        assert main([path, "-o", str(out)]) == 1, kind
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith(f"rewrite: error: {path}: "), (kind, err)
        assert says in err, (kind, err)
        assert "truncated" not in err and not out.exists()
        assert "rewriter.rewrite(module, example_inputs=(x,))" in err


def test_pickled_module_is_named_without_unpickling_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rewriter.frontends.pt2 import describe

    p = tmp_path / "evil.pt"
    torch.save(_Encoder(), p)
    line = describe(str(p), p.read_bytes())
    assert line is not None and f"{_Encoder.__module__}._Encoder" in line


def test_writing_a_pytorch_file_is_refused(program, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    path, _ = program
    assert main([path, "-o", str(tmp_path / "out.pt2")]) == 2
    err = capsys.readouterr().err
    assert "commands write ONNX, not PyTorch files" in err and "-o " in err
    assert not (tmp_path / "out.pt2").exists()


def test_pt2_with_a_custom_op_not_registered_here_names_the_op(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A program that calls a library's custom op (transformers' MoE ``grouped_mm_fallback``
    in Mixtral) loads only where that library registered it: a fresh ``rewrite`` process says
    which op, in one line."""
    import subprocess
    import sys
    import textwrap

    pytest.importorskip("onnxscript")
    path = tmp_path / "custom.pt2"
    make = textwrap.dedent(f"""
        import torch

        @torch.library.custom_op("pau_test::scaled", mutates_args=())
        def scaled(x: torch.Tensor) -> torch.Tensor:
            return x * 2.0

        @scaled.register_fake
        def _(x):
            return torch.empty_like(x)

        class M(torch.nn.Module):
            def forward(self, x):
                return torch.nn.functional.gelu(scaled(x))

        ep = torch.export.export(M(), (torch.randn(2, 4),))
        torch.export.save(ep, {str(path)!r})
    """)
    subprocess.run([sys.executable, "-c", make], check=True, capture_output=True)
    got = subprocess.run(
        [sys.executable, "-m", "rewriter", str(path), "-o", str(tmp_path / "out.onnx")],
        capture_output=True,
        text=True,
    )
    assert got.returncode == 1, got.stderr
    err = got.stderr.strip()
    assert err.count("\n") == 0, err
    assert "calls torch.ops.pau_test.scaled.default, a custom op this process does not" in err
    assert not (tmp_path / "out.onnx").exists()


def test_pt2_with_transformers_experts_op_loads_it_and_converts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Every ``transformers`` mixture of experts exported with torch.export calls its custom
    op ``grouped_mm_fallback`` (Mixtral, Qwen3-MoE, OLMoE, gpt-oss, DeepSeek-V3): a fresh
    ``rewrite`` process could not load the program (the op's one line above). It imports the
    module that registers the op where ``transformers`` is installed, and converts the op."""
    import subprocess
    import sys
    import textwrap

    pytest.importorskip("onnxscript")
    pytest.importorskip("transformers")
    path = tmp_path / "experts.pt2"
    make = textwrap.dedent(f"""
        import torch
        import transformers.integrations.moe  # registers torch.ops.transformers.*

        class Experts(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.router = torch.nn.Linear(16, 4)
                self.w = torch.nn.Parameter(torch.randn(4, 16, 24) * 0.3)

            def forward(self, x):
                flat = x.reshape(-1, 16)
                ids, perm = torch.sort(self.router(flat).topk(2, dim=-1).indices.reshape(-1))
                counts = torch.histc(ids.float(), bins=4, min=0, max=3)
                offs = torch.cumsum(counts, 0, dtype=torch.int32)
                rows = torch.ops.transformers.grouped_mm_fallback(flat[perm // 2], self.w, offs)
                back = torch.zeros(flat.shape[0], 24).index_add(0, perm // 2, rows)
                return torch.nn.functional.gelu(back)

        torch.manual_seed(0)
        ep = torch.export.export(Experts().eval(), (torch.randn(2, 8, 16),))
        torch.export.save(ep, {str(path)!r})
    """)
    subprocess.run([sys.executable, "-c", make], check=True, capture_output=True)
    rep = tmp_path / "r.json"
    got = subprocess.run(
        [sys.executable, "-m", "rewriter", str(path), "-o", str(tmp_path / "out.onnx"),
         "--report", str(rep)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert "1 of 1 sites replaced" in " ".join(got.stdout.split()), got.stdout
    assert json.loads(rep.read_text())["source"]["converted_vs_source"]["rel_l2"] < 1e-6


def test_pt2_t5_encoder_converts_where_torch_onnx_cannot_view_its_heads(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A transformers T5 encoder saved as a program (ids + mask, ``Dim.AUTO``): torch.onnx's
    decomposition fails on it ("Cannot view a tensor with shape [s4, s0, 2, 16] and strides
    ..." after SDPA's decomposition); with contiguous copies it converts and matches PyTorch."""
    pytest.importorskip("onnxscript")
    tf = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = tf.T5Config(vocab_size=1000, d_model=32, d_kv=16, d_ff=64, num_layers=2,
                         num_heads=2, feed_forward_proj="gated-gelu")  # fmt: skip
    model = tf.T5EncoderModel(config).eval()

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return self.m(input_ids=ids, attention_mask=mask).last_hidden_state

    args = (torch.randint(3, 1000, (2, 8)), torch.ones(2, 8, dtype=torch.int64))
    auto = {0: torch.export.Dim.AUTO, 1: torch.export.Dim.AUTO}
    ep = torch.export.export(Hidden().eval(), args, dynamic_shapes=(auto, auto))
    path = str(tmp_path / "t5.pt2")
    torch.export.save(ep, path)
    rep = tmp_path / "r.json"
    assert main([path, "-o", str(tmp_path / "out.onnx"), "--report", str(rep)]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"torch.onnx could not reshape .* converted with \d+ contiguous", printed)
    src = json.loads(rep.read_text())["source"]
    assert src["converted_vs_source"]["rel_l2"] < 1e-5
    assert src["rewritten_vs_source"]["rel_l2"] < 1e-2


def _converted(path: str, tmp_path: Any, capsys: Any) -> str:
    """``rewrite PATH`` with no flags, which must exit 0 with the conversion within float
    rounding of the program and the rewrite within 1e-2; what it printed."""
    rep = tmp_path / "r.json"
    assert main([path, "-o", str(tmp_path / "out.onnx"), "--report", str(rep)]) == 0
    src = json.loads(rep.read_text())["source"]
    assert src["converted_vs_source"]["rel_l2"] < 1e-5
    assert src["rewritten_vs_source"]["rel_l2"] < 1e-2
    return str(capsys.readouterr().out)


def test_pt2_with_a_runtime_check_of_tensor_values_converts(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """``torch._check_tensor_all(sizes > 0)`` (SigLIP 2 checks its patch grid so, through
    transformers' ``torch_compilable_check``) saves an ``aten._is_all_true`` in the program, for
    which torch.onnx has no function: "cannot convert the program". The checks and what only
    they read are removed (ONNX has no assertion; torch.onnx drops the checks themselves), the
    conversion says so, and it matches the program in PyTorch."""
    pytest.importorskip("onnxscript")

    class Checked(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(8, 8)

        def forward(self, x: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
            torch._check_tensor_all(sizes > 0)
            return torch.nn.functional.gelu(self.fc(x)) * sizes.sum().float()

    torch.manual_seed(0)
    ep = torch.export.export(Checked().eval(), (torch.randn(2, 8), torch.tensor([3, 4])))
    assert "aten._is_all_true.default" in {str(n.target) for n in ep.graph.nodes}
    path = str(tmp_path / "checked.pt2")
    torch.export.save(ep, path)
    before = open(path, "rb").read()
    printed = _converted(path, tmp_path, capsys)
    assert re.search(
        r"converted without the program's runtime checks of tensor values \(\d+ nodes", printed
    )
    assert open(path, "rb").read() == before


def test_pt2_exported_on_a_slice_of_a_tensor_converts(program, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Exported on ``ids[:, :5]`` (decoder ids cut from a longer tensor, as Whisper's are), the
    program keeps the larger tensor's width in the input's strides and in guards on its
    ``_base``: torch.onnx failed ("'NoneType' object has no attribute 'size'") and so did the
    program itself on any other input. Converted as a plain input, said, and it matches the
    program in PyTorch on generated inputs."""
    _, module = program
    ids = torch.randint(0, 100, (2, 12))
    auto = {0: torch.export.Dim.AUTO, 1: torch.export.Dim.AUTO}
    ep = torch.export.export(
        module, (ids[:, :5], torch.ones(2, 5, dtype=torch.int64)), dynamic_shapes=(auto, auto)
    )
    path = str(tmp_path / "sliced.pt2")
    torch.export.save(ep, path)
    printed = _converted(path, tmp_path, capsys)
    assert "converted as if the example input_ids had been no view of a larger tensor" in printed


class _Seq2Seq(torch.nn.Module):
    """Encoder ids and decoder ids, the decoder's viewed as rows (``view(-1, length)``, as BART's
    family does)."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(100, 8)

    def forward(self, input_ids: torch.Tensor, decoder_input_ids: torch.Tensor) -> torch.Tensor:
        memory = torch.nn.functional.gelu(self.emb(input_ids)).mean(1, keepdim=True)
        rows = decoder_input_ids.view(-1, decoder_input_ids.shape[-1])
        return memory + torch.nn.functional.gelu(self.emb(rows))


def test_pt2_exported_on_a_slice_of_another_input_converts(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Decoder ids cut from the encoder's own ids (``ids, ids[:, :5]``, as a user tries a
    seq2seq model): the program's guard is on the slice's strides ("stride()[0] != size()[1]"),
    not on its ``_base``, and the conversion failed ("vr must not be None for symbol s55":
    PEGASUS-X's and ProphetNet's programs). Converted as a plain input, said, and it matches
    the program in PyTorch on generated inputs."""
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    ids = torch.randint(0, 100, (2, 8))
    auto = {0: torch.export.Dim.AUTO, 1: torch.export.Dim.AUTO}
    ep = torch.export.export(_Seq2Seq().eval(), (ids, ids[:, :5]), dynamic_shapes=(auto, auto))
    assert any(".stride()" in g for g in ep._guards_code)  # the guard this is about
    path = str(tmp_path / "seq2seq.pt2")
    torch.export.save(ep, path)
    printed = _converted(path, tmp_path, capsys)
    assert "as if the example decoder_input_ids had been no view of a larger tensor" in printed


def test_aoti_package_is_named_not_parsed(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """An AOTInductor package is a .pt2 too. Compiling one takes ~40 s here, so this archive
    has the member names ``torch._inductor.aoti_compile_and_package`` wrote for a Linear+GELU
    (the compiled files' bytes are not needed to tell what it is)."""
    import zipfile

    path = tmp_path / "model.pt2"
    with zipfile.ZipFile(path, "w") as z:
        for name in ("data/aotinductor/model/c43h6.wrapper.cpp",
                     "data/aotinductor/model/c43h6.wrapper.so", "archive_format",
                     "archive_version", ".data/version", "byteorder"):  # fmt: skip
            z.writestr(f"aoti/{name}", b"pt2" if name == "archive_format" else b"")
    assert main([str(path), "-o", str(tmp_path / "out.onnx")]) == 1
    err = capsys.readouterr().err
    assert "an AOTInductor package (machine code compiled for one device), not a graph" in err


def test_a_save_pretrained_folder_is_named(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    tf = pytest.importorskip("transformers")
    config = tf.BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1,
                           num_attention_heads=2, intermediate_size=32)  # fmt: skip
    folder = tmp_path / "bert"
    tf.BertModel(config).save_pretrained(folder)
    capsys.readouterr()  # transformers' progress bar
    assert main([str(folder), "-o", str(tmp_path / "out.onnx")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"rewrite: error: {folder}: a transformers checkpoint folder (config.json and weights), "
        f"no graph: export it to ONNX (optimum-cli export onnx --model {folder} OUT_DIR) or save "
        "a torch.export program of the loaded model, and rewrite that"
    )
    onnx_folder = tmp_path / "exported"
    onnx_folder.mkdir()
    (onnx_folder / "model.onnx").write_bytes(b"")
    assert main([str(onnx_folder), "-o", str(tmp_path / "out.onnx")]) == 1
    assert "is a directory; pass the path of an .onnx model file (model.onnx here)" in (
        capsys.readouterr().err
    )


def test_rewrite_takes_an_exported_program_in_python(program) -> None:  # type: ignore[no-untyped-def]
    import rewriter

    _, module = program
    x = torch.randint(0, 100, (2, 8))
    m = torch.ones(2, 8, dtype=torch.int64)
    ep = torch.export.export(module, (x, m))
    gm = rewriter.rewrite(ep)
    assert isinstance(gm, torch.fx.GraphModule)
    paus = [n for n in gm.graph.nodes if n.op == "call_module" and "pau" in str(n.target)]
    assert len(paus) == 2  # the GELU and the sigmoid
    with torch.no_grad():
        want, got = module(x, m), gm(x, m)
    assert 1e-7 < float((got - want).norm() / want.norm()) < 1e-2
    kw = torch.export.export(module, (), {"input_ids": x, "attention_mask": m})
    with pytest.raises(rewriter.UsageError, match="takes keyword inputs"):
        rewriter.rewrite(kw)


class _MaskedPatches(torch.nn.Module):
    """ViT-MAE's masking in small: patches kept by the order of ``torch.rand`` noise (in ONNX a
    RandomUniformLike, whose draws in ONNX Runtime are not PyTorch's); the pooled GELU features
    of every patch beside it are computed from the input alone."""

    def __init__(self) -> None:
        super().__init__()
        self.up = torch.nn.Linear(8, 16)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.nn.functional.gelu(self.up(x))
        order = torch.argsort(torch.rand(x.shape[0], x.shape[1]), dim=1)
        kept = torch.gather(h, 1, order[:, :4, None].expand(-1, -1, h.shape[2]))
        return h.mean(1), kept


@pytest.mark.parametrize("archive", [False, True], ids=["pt2", "torchscript"])
def test_outputs_drawn_at_random_are_not_compared_with_the_source(
    archive: bool, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """Before: "the model to write does not compute what the pt2 does in PyTorch on generated
    inputs (output 'gather': rel-L2 1.58; torch.onnx 2.13.0+cpu converted it wrong)", exit 1, for
    any conversion of a model that draws. Now the drawn output is set
    aside and said; the other is still compared with the source."""
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    module, x = _MaskedPatches().eval(), torch.randn(2, 8, 8)
    path = str(tmp_path / ("masked.pt" if archive else "masked.pt2"))
    if archive:
        torch.jit.save(torch.jit.trace(module, (x,), check_trace=False), path)
    else:
        auto = {0: torch.export.Dim.AUTO}
        torch.export.save(torch.export.export(module, (x,), dynamic_shapes=({**auto},)), path)
    out, report = str(tmp_path / "out.onnx"), str(tmp_path / "r.json")
    assert main([path, "-o", out, "--report", report]) == 0
    text = capsys.readouterr().out
    source = json.loads(open(report).read())["source"]
    outs = {o["name"]: o for o in source["converted_vs_source"]["outputs"]}
    random = [n for n, o in outs.items() if not o["checked"]]
    assert len(random) == 1 and len(outs) == 2  # 'kept' drawn; the mean compared
    (kept,) = random
    (mean,) = set(outs) - {kept}
    assert outs[kept]["note"] == "drawn at random"
    assert outs[mean]["rel_l2"] < 1e-5  # the deterministic output matches the source
    assert f"'{kept}' drawn from random ops (1 of 2 outputs)" in text
    assert "draws are not PyTorch's, so not compared" in text
    assert onnx.load(out).graph.node  # written


class _GaussianTopK(torch.nn.Module):
    """Gemma 3n's activation sparsity in small: a unit kept where it exceeds its row's mean by
    the normal quantile of 0.95 standard deviations (``icdf``: an ``erfinv``, which torch.onnx
    has no function for), and an ``erfinv`` of the data besides."""

    def __init__(self) -> None:
        super().__init__()
        self.up = torch.nn.Linear(8, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.up(x)
        q = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(0.95))
        cut = h.mean(-1, keepdim=True) + h.std(-1, keepdim=True) * q
        return torch.nn.functional.gelu(torch.relu(h - cut)) + torch.erfinv(torch.tanh(h) * 0.999)


def test_pt2_with_erfinv_converts(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Before: "torch.onnx 2.13.0+cpu cannot convert the program: ... No ONNX function found for
    <OpOverload(op='prims.erf_inv', ...)>" (Gemma 3n's .pt2 too), exit 1. Now erfinv is
    written as ONNX ops (Giles' approximation, one Newton step) and matches PyTorch."""
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    module, x = _GaussianTopK().eval(), torch.randn(4, 16, 8)
    path = str(tmp_path / "topk.pt2")
    auto = {0: torch.export.Dim.AUTO}
    torch.export.save(torch.export.export(module, (x,), dynamic_shapes=({**auto},)), path)
    out, report = str(tmp_path / "out.onnx"), str(tmp_path / "r.json")
    assert main([path, "-o", out, "--report", report]) == 0
    source = json.loads(open(report).read())["source"]
    (conv,) = source["converted_vs_source"]["outputs"]
    assert conv["checked"] and conv["rel_l2"] < 1e-5, conv
    nodes = [n.op_type for n in onnx.load(out).graph.node]
    assert "Erf" in nodes and "Log" in nodes  # erfinv spelled in ONNX ops
    capsys.readouterr()


class _RunningExtremes(torch.nn.Module):
    """MM Grounding DINO's text blocks in small: the running largest and smallest along the
    tokens, values and where they were (``cummax``/``cummin``, which torch.onnx has no function
    for), of rounded values so that ties occur."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        top, at = torch.cummax(h.round(), 1)
        low, where = torch.cummin(h.round(), -1)
        return torch.nn.functional.gelu(h) + top + low + at.float() + where.float()


@pytest.mark.parametrize(
    ("op", "nodes"),
    [
        ("searchsorted", {"Less", "LessOrEqual", "ReduceSum"}),
        ("cummax", {"ReduceMax", "ReduceMin"}),
    ],
)
def test_pt2_with_ops_torch_onnx_lacks_converts(op, nodes, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Before: "torch.onnx 2.13.0+cpu cannot convert the program: No ONNX function found for
    <OpOverload(op='aten.searchsorted', overload='Tensor')>" (Music Flamingo's .pt2, MM Grounding
    DINO's), then for aten.cummax (MM Grounding DINO's once its searchsorted converted), exit 1.
    Now written as ONNX ops by the conversion itself: each index a count of the items below the
    value (``searchsorted_nodes``); the running extremes and where they were, ties at the later
    (``cumulative_nodes``, cummin too): exactly PyTorch's bins and indices."""
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    module = searchsorted_module() if op == "searchsorted" else _RunningExtremes().eval()
    path = str(tmp_path / f"{op}.pt2")
    torch.export.save(torch.export.export(module, (torch.randn(3, 8) * 2,)), path)
    out, report = str(tmp_path / "out.onnx"), str(tmp_path / "r.json")
    assert main([path, "-o", out, "--report", report]) == 0
    (conv,) = json.loads(open(report).read())["source"]["converted_vs_source"]["outputs"]
    assert conv["checked"] and conv["max_abs"] < 1e-5, conv  # every bin and index the same
    assert nodes <= {n.op_type for n in onnx.load(out).graph.node}
    capsys.readouterr()


class _ComplexRotary(torch.nn.Module):
    """DeepSeek-V2's and Llama 4's rotary embedding: the queries' pairs as complex numbers,
    times ``polar(1, position * frequency)`` unsqueezed over the batch."""

    def __init__(self) -> None:
        super().__init__()
        self.q = torch.nn.Linear(16, 16)
        self.register_buffer("inv_freq", 1.0 / 10000 ** (torch.arange(8) / 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.q(x)
        angles = torch.outer(torch.arange(x.shape[1], dtype=torch.float32), self.inv_freq)
        cis = torch.polar(torch.ones_like(angles), angles).to(torch.complex64)
        pairs = torch.view_as_complex(q.float().reshape(*q.shape[:-1], 8, 2))
        return torch.nn.functional.gelu(torch.view_as_real(pairs * cis.unsqueeze(0)).flatten(2))


def test_pt2_with_complex_rotary_converts_on_pairs(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """torch.onnx holds a complex tensor as its (real, imag) pairs but has no complex
    ``unsqueeze`` (DeepSeek-V2's program: "No ONNX function found for aten.unsqueeze ... No
    decompositions registered for the complex-valued input", exit 1). The op is done on the
    pairs, and a cast to the complex dtype it has is dropped; the note says so."""
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    path = str(tmp_path / "rotary.pt2")
    auto = {0: torch.export.Dim.AUTO, 1: torch.export.Dim.AUTO}
    ep = torch.export.export(_ComplexRotary().eval(), (torch.randn(2, 8, 16),), dynamic_shapes=(auto,))  # fmt: skip
    torch.export.save(ep, path)
    out, report = str(tmp_path / "out.onnx"), str(tmp_path / "r.json")
    assert main([path, "-o", out, "--report", report]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "ops of the program on complex tensors" in printed, printed
    assert "converted on their (real, imag) pairs (values unchanged)" in printed, printed
    source = json.loads(open(report).read())["source"]
    assert source["converted_vs_source"]["rel_l2"] < 1e-6, source
    assert "1 of 1 sites replaced" in printed, printed


def test_erfinv_nodes_are_within_float_precision_of_float64(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The README's claim: the ONNX erfinv (Giles' polynomials, one Newton step) is within
    2.1e-7 relative of float64 over (-1, 1), +-inf at +-1, where torch's float32 erfinv is
    within 5.9e-8."""
    pytest.importorskip("onnxscript")
    import onnxruntime as ort

    from rewriter.frontends.pt2._convert import _translations

    class Erfinv(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.erfinv(x)

    ep = torch.export.export(
        Erfinv(), (torch.rand(8) - 0.5,), dynamic_shapes=({0: torch.export.Dim.AUTO},)
    )
    model = torch.onnx.export(ep, dynamo=True, custom_translation_table=_translations())
    assert model is not None
    sess = ort.InferenceSession(
        model.model_proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    xs = np.linspace(-1, 1, 20001, dtype=np.float32)
    (got,) = sess.run(None, {sess.get_inputs()[0].name: xs})
    want = torch.erfinv(torch.from_numpy(xs).double()).numpy()
    inner = np.isfinite(want)
    rel = np.abs(got[inner] - want[inner]) / np.maximum(np.abs(want[inner]), 1e-30)
    assert rel.max() < 2.2e-7, rel.max()
    assert got[0] == -np.inf and got[-1] == np.inf


def test_the_exporters_reason_is_said_without_its_exception_class() -> None:
    from rewriter.frontends.pt2._convert import _export_error

    e = RuntimeError(
        "Failed to convert the exported program to an ONNX model.\n"
        "<class 'torch.onnx._internal.exporter._errors.DispatchError'>: No ONNX function found "
        "for <OpOverload(op='prims.erf_inv', overload='default')>. Failure message: No "
        "decompositions registered for the real-valued input"
    )
    assert _export_error(e).startswith("No ONNX function found for <OpOverload(op='prims.erf_inv'")


class _Ceil(torch.nn.Module):
    """A size through ``math.ceil`` (Granite Speech's encoder): torch.export.save cannot
    serialize that node."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.gelu(x[:, : math.ceil(x.shape[1] / 2)])


def test_a_pt2_save_that_did_not_finish_is_named(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """torch.export.save writes the weights before the program; its SerializeError leaves an
    archive without the program, which was read as an ONNX model: "not an ONNX model (protobuf
    parse failed ...)". One line says what the file is and what to do."""
    auto = {0: torch.export.Dim.AUTO, 1: torch.export.Dim.AUTO}
    ep = torch.export.export(_Ceil(), (torch.randn(2, 8),), dynamic_shapes=(auto,))
    path = str(tmp_path / "partial.pt2")
    with pytest.raises(Exception, match="Failed serializing node ceil"):
        torch.export.save(ep, path)
    assert main([path, "-o", str(tmp_path / "out.onnx")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("rewrite that") and "\n" not in err, err
    assert "a torch.export archive without its program (no models/*.json)" in err
    assert not os.path.exists(tmp_path / "out.onnx")


def _saved_program(module: torch.nn.Module, args: tuple[torch.Tensor, ...], path: str) -> str:
    """``module`` through ``torch.export`` with every dim of every input ``Dim.AUTO``, saved."""
    auto = tuple({k: torch.export.Dim.AUTO for k in range(a.dim())} for a in args)
    torch.export.save(torch.export.export(module.eval(), args, dynamic_shapes=auto), path)
    return path


def _program_rewritten(module: torch.nn.Module, args: tuple[torch.Tensor, ...], tmp_path: Any, capsys: Any) -> str:  # fmt: skip
    """``rewrite`` of ``module``'s saved program with no flags, which must exit 0 and convert to
    float rounding; what it printed, on one line."""
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    path = _saved_program(module, args, str(tmp_path / "program.pt2"))
    out, report = str(tmp_path / "out.onnx"), str(tmp_path / "r.json")
    capsys.readouterr()
    assert main([path, "-o", out, "--report", report]) == 0
    source = json.loads(open(report).read())["source"]
    assert source["converted_vs_source"]["rel_l2"] < 1e-5, source
    return " ".join(capsys.readouterr().out.split())


class _WindowAttention(torch.nn.Module):
    """Florence-2's DaViT window attention: windows cut from the map (a contiguous copy), SDPA
    per window, its heads merged by a view; and a runtime check of a tensor's values, as
    transformers writes them, which fails the first conversion."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv, self.proj = torch.nn.Linear(32, 96), torch.nn.Linear(32, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        torch._check_tensor_all(x == x)
        x = x.view(b, h // 4, 4, w // 4, 4, c).permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, 16, c)  # fmt: skip
        windows, n, c = x.shape
        q, k, v = self.qkv(x).reshape(windows, n, 3, 2, 16).permute(2, 0, 3, 1, 4).unbind(0)
        o = torch.nn.functional.scaled_dot_product_attention(q, k, v).reshape(windows, -1, n, 16)
        o = o.transpose(1, 2).contiguous().view(windows, n, c)
        return torch.nn.functional.gelu(self.proj(o))


def test_a_view_of_a_transposed_attention_output_gets_a_copy_in_front(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The program records SDPA's output with the strides of PyTorch's kernel, under which
    its transpose is contiguous and needs no copy before the view; converted again (after its
    runtime check failed the first try), torch.onnx's SDPA has the plain strides and the view
    failed: "Cannot view a tensor with shape [4*s77, 16, 2, 16] and strides (512, 16, 256, 1)"
    (Florence-2's program, exit 1). A transpose's output is copied whatever its metadata says."""
    printed = _program_rewritten(_WindowAttention(), (torch.randn(2, 8, 8, 32),), tmp_path, capsys)  # fmt: skip
    assert "contiguous copies in front (values unchanged)" in printed, printed
    assert "1 of 1 sites replaced" in printed, printed


class _InvertedMask(torch.nn.Module):
    """Mllama's ``1.0 - cross_attention_mask``: an int64 mask made float by a float number."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(16, 16)

    def forward(self, x: torch.Tensor, cross_attention_mask: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.gelu(self.proj(x)) * (1.0 - cross_attention_mask[..., None])


def test_integer_tensor_minus_a_float_is_cast_before_it(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """torch.onnx finds no function for ``aten.rsub`` of an int64 tensor and a float ("Cannot
    find a compatible OpOverload for aten.sub", Mllama's and ProphetNet's programs, exit 1): the
    tensor is cast to the result's dtype in front, as PyTorch computes it."""
    args = (torch.randn(2, 8, 16), torch.zeros(2, 8, dtype=torch.int64))
    printed = _program_rewritten(_InvertedMask(), args, tmp_path, capsys)
    assert "converted with 1 cast of the tensor to the result's float dtype" in printed, printed
    assert "1 of 1 sites replaced" in printed, printed


class _NgramStreams(torch.nn.Module):
    """ProphetNet's main and predicting streams: ``chunk`` along the (dynamic) sequence."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main, *predict = self.proj(x).chunk(3, dim=1)
        return torch.nn.functional.gelu(main) + sum(p.sum(1, keepdim=True) for p in predict)


def test_a_failed_graph_optimization_does_not_fail_the_conversion(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """torch.onnx's last step, onnxscript's optimizer, fails folding the SplitToSequence of a
    ``chunk`` along a dynamic axis ("An error occurred at step 0", ProphetNet's program, exit
    1). The graph is taken unoptimized (ONNX Runtime optimizes it when it loads it), and the
    note says why."""
    printed = _program_rewritten(_NgramStreams(), (torch.randn(2, 12, 16),), tmp_path, capsys)
    assert "converted without torch.onnx's graph optimization, which failed ('NoneType'" in printed, printed  # fmt: skip
    assert "1 of 1 sites replaced" in printed, printed


class _DepthBins(torch.nn.Module):
    """CHMv2's depth head: the ReLU of each bin's logit + 1e-8, normalized into the weights of
    the bins' depths; where every logit is negative, every bin weighs the same."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(16, 8)
        with torch.no_grad():
            self.proj.bias.fill_(-4.0)  # most rows: every logit negative

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.relu(self.proj(torch.nn.functional.gelu(x))) + 1e-8
        return (w / w.sum(-1, keepdim=True) * torch.linspace(0.5, 4.0, 8)).sum(-1)


def test_an_optimization_that_changes_the_graph_is_not_taken(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """onnxscript's optimizer drops an Add of a constant it takes for 0, and 1e-8 passes
    (CHMv2's program: rel-L2 0.26 to PyTorch, exit 1; here 0 / 0 where every logit is
    negative). The optimized graph is checked on the program's example inputs; the graph
    before the optimizer, which computes what the program does, is taken, and said."""
    printed = _program_rewritten(_DepthBins(), (torch.randn(4, 16),), tmp_path, capsys)
    assert "converted without torch.onnx's graph optimization, which changed what the graph computes (output 'sum_2': NaN/inf where the source's output is finite, on the program's example inputs)" in printed, printed  # fmt: skip
    assert "1 of 1 sites replaced" in printed, printed


class _ClippedLinear(torch.nn.Module):
    """Gemma 4's clipped Linear: its input and output clamped to bounds held in buffers."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(16, 16)
        for name, v in (("input_min", -1e4), ("input_max", 1e4), ("output_min", -1e4), ("output_max", 1e4)):  # fmt: skip
            self.register_buffer(name, torch.tensor(v))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lin(torch.clamp(x, self.input_min, self.input_max))
        return torch.clamp(x, self.output_min, self.output_max)


class _ClippedProjections(torch.nn.Module):
    """Gemma 4's audio attention: one tensor into three clipped Linears (its q, k and v)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(16))
        self.q, self.k, self.v = _ClippedLinear(), _ClippedLinear(), _ClippedLinear()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x * self.scale
        return torch.nn.functional.gelu(self.q(h) + self.k(h) + self.v(h))


def test_an_optimized_graph_onnx_runtime_cannot_load_is_not_taken(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """onnxscript's optimizer fuses each clamp into a Clip and names its bounds after the
    tensor clamped, the second and third not written ("Node input 'mul_min_1' is not a graph
    input, initializer, or output of a previous node": Gemma 4's audio encoder, exit 1)."""
    printed = _program_rewritten(_ClippedProjections(), (torch.randn(2, 8, 16),), tmp_path, capsys)
    assert "which changed what the graph computes (ONNX Runtime cannot load the model: Invalid model. Node input" in printed, printed  # fmt: skip
    assert "1 of 1 sites replaced" in printed, printed


class _Bessel(torch.nn.Module):
    """A GELU and ``torch.special.i1``, which torch.onnx has no function for (``searchsorted``,
    MM Grounding DINO's positions, was this example until the conversion wrote it itself)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.gelu(x) + torch.special.i1(x)


def test_an_op_torch_onnx_lacks_is_named_with_what_to_do(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The line said exporting the module itself "can succeed where the saved program fails";
    for an op torch.onnx has no function for it fails the same way: the line says so and what
    does help."""
    src = _saved_program(_Bessel().eval(), (torch.randn(4, 8),), str(tmp_path / "b.pt2"))
    assert main([src, "-o", str(tmp_path / "o.onnx")]) == 1
    err = capsys.readouterr().err.strip()
    assert "No ONNX function found for <OpOverload(op='prims.bessel_i1'" in err, err
    assert err.endswith(
        "exporting the module itself meets prims.bessel_i1 too: replace it in the model, or "
        "give torch.onnx.export a custom_translation_table entry for it"
    ), err
    assert "can succeed" not in err and not (tmp_path / "o.onnx").exists()
