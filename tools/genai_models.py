"""LLMs as onnxruntime-genai's model builder writes them, from random-weight configs (no download).

    python tools/genai_models.py DIR [--layers 2] [--hidden 64] [--heads 4] [--kv-heads 2]
                                     [--vocab 500] [--mlp N] [--precision fp32 int4 ...]

The ONNX files users download for Phi, Llama, Qwen or Gemma (``cpu-int4-rtn-block-32``) are
the builder's: com.microsoft GroupQueryAttention with rotary tables and a past cache, int4
weights in MatMulNBits, ONNX Runtime's SimplifiedLayerNormalization; a model over 2 GB with its
weights in ``model.onnx.data``. ``build`` saves a ``transformers`` Llama config with random
weights and a word-level tokenizer (the builder reads one), then runs the builder itself once
per precision: ``fp32``, ``int4``, ``int4_qdq`` (int4 initializers through blocked
DequantizeLinear, the NPU toolchains' format), and where asked ``fp16``.
``tests/test_genai.py`` builds its 2-layer Llama so, ``tools/bench_big.py --llama`` a 2.1 GB
one.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

PRECISIONS = ("fp32", "int4", "int4_qdq")
# the float16 CPU build (MultiHeadAttention and com.microsoft RotaryEmbedding, runs in ONNX
# Runtime with an empty cache only): built where asked for (``--precision fp16``)
MORE_PRECISIONS = ("fp16",)


def build(
    root: Path,
    precisions: tuple[str, ...] = ("fp32",),
    *,
    layers: int = 2,
    hidden: int = 64,
    heads: int = 4,
    kv_heads: int = 2,
    vocab: int = 500,
    mlp: int | None = None,
) -> dict[str, Path]:
    """``precision -> DIR/<precision>/model.onnx`` for a Llama of ``layers`` layers (``heads``
    query and ``kv_heads`` KV heads, an MLP of ``mlp``, default 2x ``hidden``), its embedding tied to its LM head
    (as Qwen2.5-0.5B and Llama 3.2 1B: the int4 build gathers its rows through
    GatherBlockQuantized; the int4 QDQ build keeps the embedding apart: the builder writes no
    QDQ Gather). Raises ``subprocess.CalledProcessError`` with the builder's output."""
    import torch
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        hidden_size=hidden, intermediate_size=mlp or 2 * hidden, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, vocab_size=vocab,
        max_position_embeddings=256, tie_word_embeddings=True,
    )  # fmt: skip
    transformers.LlamaForCausalLM(config).save_pretrained(root / "hf")
    words = Tokenizer(models.WordLevel({f"t{i}": i for i in range(vocab)}, unk_token="t0"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=words, unk_token="t0", bos_token="t1", eos_token="t2"
    )
    tokenizer.save_pretrained(root / "hf")
    out = {}
    for precision in precisions:
        args = ["-i", root / "hf", "-o", root / precision, "-p", precision[:4], "-e", "cpu"]
        args += ["-c", root / "cache"]
        if precision == "int4_qdq":  # blocked int4 DequantizeLinear (opset 21) before MatMuls
            args += ["--extra_options", "use_qdq=true", "shared_embeddings=false"]
        subprocess.run(
            [sys.executable, "-m", "onnxruntime_genai.models.builder", *map(str, args)],
            check=True,
            capture_output=True,
        )
        out[precision] = root / precision / "model.onnx"
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=500)
    ap.add_argument("--mlp", type=int, default=None, help="MLP width (default: 2x hidden)")
    ap.add_argument(
        "--precision", nargs="+", choices=PRECISIONS + MORE_PRECISIONS, default=list(PRECISIONS)
    )
    a = ap.parse_args(argv)
    built = build(
        a.out, tuple(a.precision), layers=a.layers, hidden=a.hidden, heads=a.heads,
        kv_heads=a.kv_heads, vocab=a.vocab, mlp=a.mlp,
    )  # fmt: skip
    for precision, path in built.items():
        print(f"{precision}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
