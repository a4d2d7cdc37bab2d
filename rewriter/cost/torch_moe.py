"""Mixture-of-experts layers for the ONNX -> torch interpreter: com.microsoft MoE and QMoE.

onnxruntime-genai's model builder writes a mixture-of-experts LLM's expert layers as one node
each (gpt-oss, LFM2-MoE; QMoE where the experts' weights are 4- or 8-bit): the router's
scores in, the weighted sum of the chosen experts' outputs out. Without them ``rewrite
finetune --mode distill`` could read such a model only up to its first router, and the torch
targets refused it by name. Each follows ONNX Runtime's CPU kernel, which
``tests/test_torch_convert.py`` checks case by case:

* routing: a softmax over each token's ``router_probs`` row, its ``k`` largest chosen, their
  probabilities the mixing weights, divided by their sum where ``normalize_routing_weights``
  (QMoE's CPU kernel divides in any case); the choice is a pick, the weights differentiable
  (as in training such a model);
* each chosen expert: ``fc2(act(fc1(x) + b1)) + b2``, weights ``[experts, out, in]``;
  ``activation_type`` relu, gelu, silu, identity or swiglu, SwiGLU's gate and linear halves
  interleaved (``swiglu_fusion`` 1) or concatenated (2, as the schema says: ONNX Runtime's CPU
  kernels take 1 only), ``G * sigmoid(alpha * G) * (L +
  beta)`` with ``G`` clamped above and ``L`` both ways at ``swiglu_limit`` (gpt-oss's);
* QMoE: the weights dequantized as MatMulNBits's, ``(q - zero_point) * scale``, ``q`` packed
  ``expert_weight_bits`` to a byte lowest first, one scale per output row or per block of
  ``block_size`` along the input features, the zero point ``2^(bits - 1)`` where none is given.

A third expert projection (``fc3``), a separate ``router_weights``, the sparse mixer, int8
activations (``accuracy_level`` 4) and the other quantization types are refused by name.
Computed in float32.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from rewriter.cost.torch_ops import Fn, Unsupported, _s, _unpack_bits, refuse_others

__all__ = ["MICROSOFT_MOE"]

_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu,
    "gelu": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
    "identity": lambda x: x,
}
_COMPUTED = {
    "k", "activation_type", "normalize_routing_weights", "swiglu_fusion", "activation_alpha",
    "activation_beta", "swiglu_limit", "use_sparse_mixer",
}  # fmt: skip


def _swiglu(a: dict[str, Any], op: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """SwiGLU over fc1's output: its gate and linear halves per ``swiglu_fusion``."""
    fusion = int(a.get("swiglu_fusion", 0))
    if fusion not in (1, 2):
        raise Unsupported(f"com.microsoft.{op} (swiglu_fusion={fusion})")
    alpha, beta = float(a.get("activation_alpha", 1.0)), float(a.get("activation_beta", 0.0))
    limit = float(a.get("swiglu_limit", float("inf")))

    def f(h: torch.Tensor) -> torch.Tensor:
        if fusion == 1:  # g0, l0, g1, l1, ...
            g, lin = h[..., 0::2], h[..., 1::2]
        else:  # [g | l]
            g, lin = h.chunk(2, dim=-1)
        g = g.clamp(max=limit)
        lin = lin.clamp(-limit, limit)
        return g * torch.sigmoid(alpha * g) * (lin + beta)

    return f


def _dequantized(
    op: str,
    packed: torch.Tensor,
    scales: torch.Tensor,
    zero_points: torch.Tensor | None,
    bits: int,
    block: int,
) -> torch.Tensor:
    """QMoE's expert weights ``[experts, out, in]`` in float32 from ``[experts, out, in * bits /
    8]`` bytes and scales per output row (``[experts, out]``) or per block of ``block`` inputs
    (``[experts, out, in / block]``)."""
    q = _unpack_bits(packed, bits).float()
    experts, rows, width = q.shape
    groups = width // block if block > 0 else 1
    scale = scales.float().reshape(experts, rows, groups, 1)
    if zero_points is None:
        zero: Any = float(1 << (bits - 1))
    elif zero_points.dtype == torch.uint8:
        zero = _unpack_bits(zero_points.reshape(experts, -1), bits)
        zero = zero.reshape(experts, rows, -1)[..., :groups].float().unsqueeze(-1)
    else:
        raise ValueError(f"{op}: zero points of type {zero_points.dtype} are not computed")
    return ((q.reshape(experts, rows, groups, -1) - zero) * scale).reshape(experts, rows, width)


def _moe(a: dict[str, Any], quantized: bool) -> Fn:
    """com.microsoft MoE (input, router_probs, fc1, fc1 bias, fc2, fc2 bias, fc3, fc3 bias) or
    QMoE (input, router_probs, fc1, fc1 scales, fc1 bias, fc2, fc2 scales, fc2 bias, fc3, fc3
    scales, fc3 bias, zero points of fc1, fc2, fc3, router_weights) -> output: see the module
    docstring."""
    op = "QMoE" if quantized else "MoE"
    if int(a.get("use_sparse_mixer", 0)):
        raise Unsupported(f"com.microsoft.{op} (use_sparse_mixer=1)")
    kind = _s(a.get("quant_type", "int"))
    if quantized and kind != "int":
        raise Unsupported(f"com.microsoft.{op} (quant_type={kind!r})")
    more = {"expert_weight_bits", "block_size", "quant_type", "weights_prepacked", "accuracy_level"}
    refuse_others(op, a, _COMPUTED | (more if quantized else set()))
    name = _s(a.get("activation_type", "relu"))
    if name == "swiglu":
        act = _swiglu(a, op)
    elif name in _ACTIVATIONS:
        act = _ACTIVATIONS[name]
    else:
        raise Unsupported(f"com.microsoft.{op} (activation_type={name!r})")
    k, normalize = int(a.get("k", 1)), bool(int(a.get("normalize_routing_weights", 0)))
    bits, block = int(a.get("expert_weight_bits", 4)), int(a.get("block_size", 0))
    if quantized and bits not in (4, 8):
        raise Unsupported(f"com.microsoft.{op} (expert_weight_bits={bits})")
    level = int(a.get("accuracy_level", 0))
    if level not in (0, 1):  # 4: int8 activations
        raise Unsupported(f"com.microsoft.{op} (accuracy_level={level})")
    normalize = normalize or quantized  # QMoE's CPU kernel divides by their sum in any case

    def f(x: torch.Tensor, router: torch.Tensor, *rest: torch.Tensor | None) -> torch.Tensor:
        # the third projection, router_weights and fp4/fp8 scales are refused by name before
        # (``torch_convert._MICROSOFT_INPUTS``): None here
        if quantized:
            w1, s1, b1, w2, s2, b2, _, _, _, z1, z2 = (*rest, *[None] * 11)[:11]
            if w1 is None or s1 is None or w2 is None or s2 is None:
                raise ValueError(f"{op}: expert weights and scales are required")
            fc1 = _dequantized(op, w1, s1, z1, bits, block)
            fc2 = _dequantized(op, w2, s2, z2, bits, block)
        else:
            w1, b1, w2, b2 = (*rest, *[None] * 4)[:4]
            if w1 is None or w2 is None:
                raise ValueError(f"{op}: expert weights are required")
            fc1, fc2 = w1.float(), w2.float()
        tokens = x.reshape(-1, x.shape[-1]).float()
        probs = torch.softmax(router.reshape(tokens.shape[0], -1).float(), dim=-1)
        weight, chosen = probs.topk(k, dim=-1)
        if normalize:
            weight = weight / weight.sum(dim=-1, keepdim=True)
        out = torch.zeros_like(tokens)
        for e in torch.unique(chosen).tolist():
            row, slot = torch.nonzero(chosen == e, as_tuple=True)
            h = tokens[row] @ fc1[e].transpose(0, 1)
            if b1 is not None:
                h = h + b1[e].float()
            y = act(h) @ fc2[e].transpose(0, 1)
            if b2 is not None:
                y = y + b2[e].float()
            out = out.index_add(0, row, y * weight[row, slot].unsqueeze(-1))
        return out.reshape(x.shape).to(x.dtype)

    return f


MICROSOFT_MOE: dict[str, Callable[[dict[str, Any], int, int], Fn]] = {
    "MoE": lambda a, n, v: _moe(a, False),
    "QMoE": lambda a, n, v: _moe(a, True),
}
