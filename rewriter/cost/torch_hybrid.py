"""The state ops of hybrid LLMs for the ONNX -> torch interpreter: com.microsoft
CausalConvWithState, LinearAttention, LinearAttentionGate and GatedRMSNorm.

onnxruntime-genai's model builder writes a hybrid model's recurrent layers with them: LFM2's
short convolutions (CausalConvWithState, its carry state a ``past.N.conv`` input) and
Qwen3.5's gated DeltaNet layers (the convolution, then LinearAttention over a
``past.N.recurrent`` state, its decay and update rate from LinearAttentionGate, its output
normalized by GatedRMSNorm). Without them ``rewrite finetune --mode distill`` and the torch
targets refused such models by name. Each follows ONNX Runtime's CPU kernel, which
``tests/test_torch_convert.py`` checks case by case:

* CausalConvWithState: a depthwise 1-d convolution over the carry state followed by the input
  (zeros where no state is given), ``dilation`` spacing its taps, ``activation`` ``silu``
  (or ``swish``) after the bias; the present state is the last ``(k - 1) * dilation`` values
  of that concatenation. ``channels_last`` reads and writes ``[batch, length, channels...]``.
  More spatial dimensions (``ndim``), a window of states and the CUDA-only attributes are
  refused by name.
* LinearAttention: the recurrence of its ``update_rule`` (``linear``, ``gated``, ``delta``,
  ``gated_delta``) run token by token on a ``[batch, kv_heads, d_k, d_v]`` state; the decay
  per head or per key feature; grouped heads either way: a state shared by consecutive query
  heads, or a query head (and its key) by consecutive states (Qwen3.5's 16 query and key heads
  over 32 value heads).
  Half-precision inputs are computed in float32. A window of states is refused by name.
* LinearAttentionGate: ``decay_scale * softplus(a + dt_bias)`` and ``sigmoid(b)``.
* GatedRMSNorm: RMS normalization over each group of ``len(scale)`` features times
  ``silu(gate)`` (or ``sigmoid(gate)``), in float32.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from rewriter.cost.torch_ops import Fn, Unsupported, _s, refuse_others

__all__ = ["MICROSOFT_HYBRID"]

_HALF = (torch.float16, torch.bfloat16)


def _gate(name: str, op: str) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The fused activation ``name`` of ``op`` (None: none)."""
    if name in ("silu", "swish"):
        return F.silu
    if name == "sigmoid" and op == "GatedRMSNorm":
        return torch.sigmoid
    if name in ("none", "") and op == "CausalConvWithState":
        return None
    raise Unsupported(f"com.microsoft.{op} (activation={name!r})")


def _causal_conv(a: dict[str, Any], nout: int) -> Fn:
    """com.microsoft CausalConvWithState (input, weight, bias, past_state) -> (output,
    present_state): see the module docstring."""
    if int(a.get("ndim", 1)) != 1:
        raise Unsupported(f"com.microsoft.CausalConvWithState (ndim={a['ndim']})")
    refuse_others("CausalConvWithState", a, {"ndim", "activation", "dilation", "channels_last"})
    act = _gate(_s(a.get("activation", "none")), "CausalConvWithState")
    dilation, last = int(a.get("dilation", 1)), bool(a.get("channels_last", 0))

    def f(
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None = None,
        past: torch.Tensor | None = None,
    ) -> Any:
        shape = x.shape
        if last:  # [batch, length, channels...] -> [batch, channels, length]
            x = x.reshape(shape[0], shape[1], -1).transpose(1, 2)
            if past is not None:
                past = past.reshape(past.shape[0], past.shape[1], -1).transpose(1, 2)
        state = (weight.shape[-1] - 1) * dilation
        if past is None:
            past = x.new_zeros(x.shape[0], x.shape[1], state)
        full = torch.cat((past, x), dim=-1)
        y = F.conv1d(full, weight, bias, dilation=dilation, groups=x.shape[1])
        if act is not None:
            y = act(y)
        present = full[..., full.shape[-1] - state :]
        if last:
            y = y.transpose(1, 2).reshape(shape)
            present = present.transpose(1, 2).reshape(shape[0], state, *shape[2:])
        return y if nout == 1 else (y, present)[:nout]

    return f


def _linear_attention(a: dict[str, Any], nout: int) -> Fn:
    """com.microsoft LinearAttention (query, key, value, past_state, decay, beta) -> (output,
    present_state): see the module docstring."""
    refuse_others(
        "LinearAttention", a, {"q_num_heads", "kv_num_heads", "update_rule", "scale", "chunk_size"}
    )
    q_heads, kv_heads = int(a["q_num_heads"]), int(a["kv_num_heads"])
    rule, scale = _s(a.get("update_rule", "gated_delta")), float(a.get("scale", 0.0))
    if rule not in ("linear", "gated", "delta", "gated_delta"):
        raise Unsupported(f"com.microsoft.LinearAttention (update_rule={rule!r})")
    heads = max(q_heads, kv_heads)
    if heads % q_heads or heads % kv_heads:
        raise Unsupported(f"com.microsoft.LinearAttention ({q_heads} over {kv_heads} heads)")
    gated, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")

    def f(
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        past: torch.Tensor | None = None,
        decay: torch.Tensor | None = None,
        beta: torch.Tensor | None = None,
    ) -> Any:
        if (gated and decay is None) or (delta and beta is None):
            raise ValueError(f"LinearAttention {rule!r} needs its decay and beta inputs")
        work = torch.float32 if query.dtype in _HALF else query.dtype
        batch, steps = query.shape[0], query.shape[1]
        dk, dv = query.shape[-1] // q_heads, value.shape[-1] // kv_heads
        q = query.to(work).reshape(batch, steps, q_heads, dk)
        q = q.repeat_interleave(heads // q_heads, dim=2)
        # the keys as wide as the queries (Qwen3.5's) or the states: one per state either way
        k = key.to(work).reshape(batch, steps, -1, dk)
        k = k.repeat_interleave(kv_heads // k.shape[2], dim=2)
        v = value.to(work).reshape(batch, steps, kv_heads, dv)
        s = past.to(work) if past is not None else q.new_zeros(batch, kv_heads, dk, dv)
        g = b = None
        if gated:
            assert decay is not None
            g = torch.exp(decay.to(work)).reshape(batch, steps, kv_heads, -1, 1)  # per head or key
        if delta:
            assert beta is not None
            b = beta.to(work).reshape(batch, steps, -1, 1).expand(batch, steps, kv_heads, 1)
        alpha = scale if scale != 0.0 else dk**-0.5
        out = []
        for t in range(steps):
            kt, vt = k[:, t], v[:, t]
            if g is not None:
                s = s * g[:, t]
            if b is not None:  # the state's prediction of v corrected at the update rate
                vt = b[:, t] * (vt - torch.einsum("bhk,bhkv->bhv", kt, s))
            s = s + kt.unsqueeze(-1) * vt.unsqueeze(-2)
            shared = s.repeat_interleave(heads // kv_heads, dim=1)
            out.append(alpha * torch.einsum("bhk,bhkv->bhv", q[:, t], shared))
        y = torch.stack(out, dim=1).reshape(batch, steps, heads * dv).to(query.dtype)
        return y if nout == 1 else (y, s.to(query.dtype))[:nout]

    return f


def _linear_attention_gate(a: dict[str, Any], nout: int) -> Fn:
    """com.microsoft LinearAttentionGate (a, dt_bias, decay_scale, b) -> (decay, beta), in
    float32."""
    refuse_others("LinearAttentionGate", a, set())

    def f(
        x: torch.Tensor, dt_bias: torch.Tensor, scale: torch.Tensor, b: torch.Tensor | None = None
    ) -> Any:
        decay = (scale.float() * F.softplus(x.float() + dt_bias.float())).to(x.dtype)
        if nout == 1:
            return decay
        if b is None:
            raise ValueError("LinearAttentionGate's beta output needs its input b")
        return decay, torch.sigmoid(b.float()).to(b.dtype)

    return f


def _gated_rms_norm(a: dict[str, Any]) -> Fn:
    """com.microsoft GatedRMSNorm (X, scale, gate), in float32."""
    refuse_others("GatedRMSNorm", a, {"activation", "epsilon"})
    act = _gate(_s(a.get("activation", "silu")), "GatedRMSNorm")
    assert act is not None
    eps = float(a.get("epsilon", 1e-5))

    def f(x: torch.Tensor, scale: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        xf = x.float().reshape(*x.shape[:-1], -1, scale.shape[0])
        y = xf * torch.rsqrt((xf * xf).mean(dim=-1, keepdim=True) + eps) * scale.float()
        return (y.reshape(x.shape) * act(gate.float())).to(x.dtype)

    return f


MICROSOFT_HYBRID: dict[str, Callable[[dict[str, Any], int, int], Fn]] = {
    "CausalConvWithState": lambda a, n, v: _causal_conv(a, n),
    "LinearAttention": lambda a, n, v: _linear_attention(a, n),
    "LinearAttentionGate": lambda a, n, v: _linear_attention_gate(a, n),
    "GatedRMSNorm": lambda a, n, v: _gated_rms_norm(a),
}
