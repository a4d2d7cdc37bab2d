"""Wall time and peak memory of `rewrite` on a model of real size (BERT-base, random weights).

    python tools/bench_big.py [--layers 12] [--hidden 768] [--out DIR] [--sessions] [-- EXTRA REWRITE ARGS]

Exports a ``transformers`` BERT encoder (BERT-base by default: 12 layers, hidden 768, 435 MB of
float32 weights; no download) with dynamic batch and sequence, runs the CLI on it in a
subprocess as a user would (``rewrite MODEL -o OUT`` plus any extra arguments), and prints the
model size, the wall time, the child's peak resident memory (``ru_maxrss``) and that peak as a
multiple of the model size. One machine, one run: the ratio is what to compare across changes.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def export_bert(path: str, layers: int, hidden: int) -> None:
    import torch
    import transformers as tf
    from zoo import _export

    torch.manual_seed(0)
    cfg = tf.BertConfig(
        vocab_size=30522,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        intermediate_size=4 * hidden,
    )
    bert = tf.BertModel(cfg, add_pooling_layer=False).eval()

    class _Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = bert

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor]:
            return (self.m(ids, mask).last_hidden_state,)

    ids = torch.randint(0, 30522, (1, 16))
    mask = torch.ones(1, 16, dtype=torch.int64)
    dyn = {0: "batch", 1: "sequence"}
    _export(
        _Encoder(),
        (ids, mask),
        path,
        ["input_ids", "attention_mask"],
        ["last_hidden_state"],
        {"input_ids": dyn, "attention_mask": dyn},
        False,
    )


_SESSION_COST = """
import sys, onnx
from rewriter.ir import io, runtime
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
m = onnx.load(sys.argv[1])
io.MAPPED_WEIGHTS = 2**62 if sys.argv[2] == "bytes" else 0
before = rss()
s = runtime.session(m)
print(rss() - before)
"""


def session_cost(src: str) -> None:
    """Resident memory one ONNX Runtime session of ``src`` adds, made from serialized bytes and
    from a file with external data (``rewriter.ir.io.mapped``), each in a fresh process."""
    print("| session made from | resident MiB it adds |")
    print("| --- | --- |")
    for how in ("bytes", "mapped"):
        out = subprocess.run(
            [sys.executable, "-c", _SESSION_COST, src, how], capture_output=True, text=True
        )
        print(f"| {how} | {float(out.stdout.strip().splitlines()[-1]):.0f} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--out", default=None, help="folder for the model (default: a temporary one)")
    ap.add_argument("--sessions", action="store_true",
                    help="also print what one ONNX Runtime session costs, bytes vs mapped")  # fmt: skip
    ap.add_argument("extra", nargs=argparse.REMAINDER, help="-- then more `rewrite` arguments")
    a = ap.parse_args(argv)
    extra = a.extra[1:] if a.extra[:1] == ["--"] else a.extra
    with tempfile.TemporaryDirectory() as tmp:
        d = a.out or tmp
        os.makedirs(d, exist_ok=True)
        src, dst = os.path.join(d, "bert.onnx"), os.path.join(d, "bert.rewritten.onnx")
        if not os.path.exists(src):
            export_bert(src, a.layers, a.hidden)
        size = os.path.getsize(src) / 2**20
        cmd = [sys.executable, "-m", "rewriter", src, "-o", dst, "-q", *extra]
        t = time.perf_counter()
        code = subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode
        wall = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB -> MiB
        print("| model | size MiB | exit | wall s | peak RSS MiB | peak / size |")
        print("| --- | --- | --- | --- | --- | --- |")
        print(
            f"| BERT {a.layers}x{a.hidden} | {size:.0f} | {code} | {wall:.1f} | {peak:.0f} | "
            f"{peak / size:.1f} |"
        )
        if a.sessions:  # after the CLI's peak was read: these children have their own
            session_cost(src)
        return code


if __name__ == "__main__":
    raise SystemExit(main())
