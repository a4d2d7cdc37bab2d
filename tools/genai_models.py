"""LLMs as onnxruntime-genai's model builder writes them, from random-weight configs (no download).

    python tools/genai_models.py DIR [--layers 2] [--hidden 64] [--heads 4] [--kv-heads 2]
                                     [--vocab 500] [--mlp N] [--precision fp32 int4 ...]
                                     [--arch llama|lfm2|lfm2_moe|qwen3_5|gemma2|gpt_oss]

The ONNX files users download for Phi, Llama, Qwen or Gemma (``cpu-int4-rtn-block-32``) are
the builder's: com.microsoft GroupQueryAttention with rotary tables and a past cache, int4
weights in MatMulNBits, ONNX Runtime's SimplifiedLayerNormalization; a model over 2 GB with its
weights in ``model.onnx.data``. ``build`` saves a ``transformers`` Llama config with random
weights and a word-level tokenizer (the builder reads one), then runs the builder itself once
per precision: ``fp32``, ``int4``, ``int4_qdq`` (int4 initializers through blocked
DequantizeLinear, the NPU toolchains' format), and where asked ``fp16``. ``--arch`` builds a
hybrid instead: LFM2 (short convolutions with a carry state), LFM2-MoE (the same with a
mixture of experts in each layer: a TopK router, com.microsoft MoE, QMoE in the int4 build) or
Qwen3.5's text decoder (gated DeltaNet layers with a recurrent state, multimodal rotary
positions); or Gemma 2 or gpt-oss (fp32: its int4 build wants MXFP4 checkpoint weights), whose
sliding layers keep a window-sized cache and gpt-oss's attention a sink per head.
``tests/test_genai.py`` builds its 2-layer Llama so, ``tools/bench_big.py --llama`` a 2.1 GB
one.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

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
    arch: str = "llama",
) -> dict[str, Path]:
    """``precision -> DIR/<precision>/model.onnx`` for a Llama of ``layers`` layers (``heads``
    query and ``kv_heads`` KV heads, an MLP of ``mlp``, default 2x ``hidden``), its embedding tied to its LM head
    (as Qwen2.5-0.5B and Llama 3.2 1B: the int4 build gathers its rows through
    GatherBlockQuantized; the int4 QDQ build keeps the embedding apart: the builder writes no
    QDQ Gather). ``arch`` ``lfm2``, ``lfm2_moe`` or ``qwen3_5`` builds a hybrid of the same
    sizes instead: LFM2 (a short-convolution layer, com.microsoft CausalConvWithState with a
    ``past.0.conv`` state, then an attention layer), LFM2-MoE (the same, each layer's MLP 4
    experts of a quarter of its width, 2 a token: a sigmoid router's TopK picks scattered
    into com.microsoft MoE's router input) or Qwen3.5's text decoder (a gated DeltaNet layer:
    CausalConvWithState, LinearAttention over a ``past.0.recurrent`` state, LinearAttentionGate,
    GatedRMSNorm; then a gated attention layer whose Q and K are rotated by MRotaryEmbedding at
    ``position_ids`` ``[3, batch, sequence]``), ``layers`` alternating so. ``gemma2`` and
    ``gpt_oss`` (fp32 only) alternate a sliding layer (a window of 8 over a window-sized
    cache, ``past_sliding_length`` long) and a full one; gpt-oss's attention reads a sink per
    head and its MLP is com.microsoft MoE (4 experts, 2 a token). Raises
    ``subprocess.CalledProcessError`` with the builder's output."""
    import torch
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    torch.manual_seed(0)
    sizes = dict(
        hidden_size=hidden, intermediate_size=mlp or 2 * hidden, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, vocab_size=vocab,
        max_position_embeddings=256, tie_word_embeddings=True,
    )  # fmt: skip
    _model(arch, sizes).save_pretrained(root / "hf")
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


ARCHS = ("llama", "lfm2", "lfm2_moe", "qwen3_5", "gemma2", "gpt_oss")


def _model(arch: str, sizes: dict[str, Any]) -> Any:
    """A random-weight ``transformers`` causal LM of ``arch`` (``ARCHS``) and ``sizes``."""
    import transformers

    layers = sizes["num_hidden_layers"]
    if arch == "llama":
        return transformers.LlamaForCausalLM(transformers.LlamaConfig(**sizes))
    if arch == "lfm2":
        kinds = ["conv" if i % 2 == 0 else "full_attention" for i in range(layers)]
        return transformers.Lfm2ForCausalLM(transformers.Lfm2Config(**sizes, layer_types=kinds))
    if arch == "lfm2_moe":  # the conv layer, then attention; each with 4 experts, 2 a token
        kinds = ["conv" if i % 2 == 0 else "full_attention" for i in range(layers)]
        config = transformers.Lfm2MoeConfig(
            **sizes, layer_types=kinds, num_dense_layers=0, num_experts=4,
            num_experts_per_tok=2, moe_intermediate_size=sizes["intermediate_size"] // 4,
        )  # fmt: skip
        return transformers.Lfm2MoeForCausalLM(config)
    if arch == "qwen3_5":
        kinds = ["linear_attention" if i % 2 == 0 else "full_attention" for i in range(layers)]
        head = 32  # a quarter of it rotated: 4 pairs, by the sections below
        rope = dict(
            rope_type="default", rope_theta=10000.0, partial_rotary_factor=0.25,
            mrope_section=[2, 1, 1], mrope_interleaved=True,
        )  # fmt: skip
        text = sizes | dict(
            head_dim=head, layer_types=kinds, rope_parameters=rope,
            linear_num_key_heads=sizes["num_key_value_heads"],
            linear_num_value_heads=sizes["num_attention_heads"],
            linear_key_head_dim=16, linear_value_head_dim=16,
        )  # fmt: skip
        vision = dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2)
        config = transformers.Qwen3_5Config(
            text_config=text, vision_config=vision | {"out_hidden_size": sizes["hidden_size"]}
        )
        return transformers.Qwen3_5ForConditionalGeneration(config)
    if arch == "gemma2":  # sliding and full attention alternating, a window of 8 tokens
        config = transformers.Gemma2Config(**sizes, head_dim=16, sliding_window=8)
        return transformers.Gemma2ForCausalLM(config)
    if arch == "gpt_oss":  # the same, with attention sinks and 4 experts, 2 a token
        kinds = ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)]
        config = transformers.GptOssConfig(
            **sizes, head_dim=16, sliding_window=8, layer_types=kinds, num_local_experts=4,
            num_experts_per_tok=2,
        )  # fmt: skip
        return transformers.GptOssForCausalLM(config)
    raise ValueError(f"arch {arch!r}: one of {', '.join(ARCHS)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=500)
    ap.add_argument("--mlp", type=int, default=None, help="MLP width (default: 2x hidden)")
    ap.add_argument("--arch", choices=ARCHS, default="llama", help="the model (default: llama)")
    ap.add_argument(
        "--precision", nargs="+", choices=PRECISIONS + MORE_PRECISIONS, default=list(PRECISIONS)
    )
    a = ap.parse_args(argv)
    built = build(
        a.out, tuple(a.precision), layers=a.layers, hidden=a.hidden, heads=a.heads,
        kv_heads=a.kv_heads, vocab=a.vocab, mlp=a.mlp, arch=a.arch,
    )  # fmt: skip
    for precision, path in built.items():
        print(f"{precision}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
