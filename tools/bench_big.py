"""Wall time and peak memory of `rewrite` on a model of real size (BERT-base, random weights).

    python tools/bench_big.py [--layers 12] [--hidden 768] [--llama] [--out DIR] [--sessions]
                              [-- EXTRA REWRITE ARGS]

Exports a ``transformers`` BERT encoder (BERT-base by default: 12 layers, hidden 768, 435 MB of
float32 weights; no download) with dynamic batch and sequence, or with ``--llama`` has
onnxruntime-genai's builder write a float32 Llama (8 layers of hidden 2048 by default, 32 query
and 8 KV heads, MLP 8192, 32000 tokens: 2.1 GB, its weights in ``model.onnx.data``; a KV cache
of 16 inputs; ``tools/genai_models.py``), runs the CLI on it in a subprocess as a user would
(``rewrite MODEL -o OUT`` plus any extra arguments), and prints the model size, the wall time,
the child's peak resident memory (``ru_maxrss``), that peak as a multiple of the model size,
and its peak anonymous memory (``RssAnon``, polled every 50 ms: the pages of mapped weights
count in the RSS, but the kernel can drop them and read them again). One machine, one run: the
ratio is what to compare across changes.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def _anon_mib(pid: int) -> float:
    """``RssAnon`` of ``pid`` and its descendants in MiB (the CLI works in a child process; 0
    where they have ended). The pages of a mapped file count in the RSS too, but the kernel can
    drop them and read them again; anonymous memory it cannot."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(
                    (int(ln.split()[1]) / 1024 for ln in f if ln.startswith("RssAnon:")), 0.0
                )
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=None, help="default: 12 (BERT), 8 (Llama)")
    ap.add_argument("--hidden", type=int, default=None, help="default: 768 (BERT), 2048 (Llama)")
    ap.add_argument("--llama", action="store_true",
                    help="onnxruntime-genai's float32 Llama instead of BERT")  # fmt: skip
    ap.add_argument("--out", default=None, help="folder for the model (default: a temporary one)")
    ap.add_argument("--sessions", action="store_true",
                    help="also print what one ONNX Runtime session costs, bytes vs mapped")  # fmt: skip
    ap.add_argument("extra", nargs=argparse.REMAINDER, help="-- then more `rewrite` arguments")
    a = ap.parse_args(argv)
    extra = a.extra[1:] if a.extra[:1] == ["--"] else a.extra
    with tempfile.TemporaryDirectory() as tmp:
        d = a.out or tmp
        os.makedirs(d, exist_ok=True)
        layers, hidden = a.layers or (8 if a.llama else 12), a.hidden or (2048 if a.llama else 768)
        name = f"{'Llama' if a.llama else 'BERT'} {layers}x{hidden}"
        if a.llama:
            src = os.path.join(d, "fp32", "model.onnx")
            if not os.path.exists(src):
                from genai_models import build

                heads = hidden // 64
                build(Path(d), layers=layers, hidden=hidden, heads=heads, kv_heads=max(1, heads // 4),
                      vocab=32000, mlp=4 * hidden)  # fmt: skip
        else:
            src = os.path.join(d, "bert.onnx")
            if not os.path.exists(src):
                export_bert(src, layers, hidden)
        dst = os.path.join(d, "rewritten.onnx")
        data = src + ".data"
        size = (
            os.path.getsize(src) + (os.path.getsize(data) if os.path.exists(data) else 0)
        ) / 2**20
        cmd = [sys.executable, "-m", "rewriter", src, "-o", dst, "-q", *extra]
        t = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        anon = 0.0  # the child's anonymous resident memory, polled
        while child.poll() is None:
            anon = max(anon, _anon_mib(child.pid))
            time.sleep(0.05)
        code = child.returncode
        wall = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB -> MiB
        print(
            "| model | size MiB | exit | wall s | peak RSS MiB | peak / size | peak anonymous MiB |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        print(
            f"| {name} | {size:.0f} | {code} | {wall:.1f} | {peak:.0f} | {peak / size:.1f} | "
            f"{anon:.0f} |"
        )
        if a.sessions:  # after the CLI's peak was read: these children have their own
            session_cost(src)
        return code


if __name__ == "__main__":
    raise SystemExit(main())
