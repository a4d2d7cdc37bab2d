"""Attention, RotaryEmbedding and RMSNormalization (opset 23) for the ONNX -> torch interpreter
(and ONNX Runtime's forms of them: SimplifiedLayerNormalization, GroupQueryAttention,
MultiHeadAttention, the fused Attention, com.microsoft RotaryEmbedding).

torch's dynamo exporter writes a transformer at opset 23 with these ops instead of their
MatMul/Softmax/Pow spellings: a Llama exported with ``opset_version=23`` holds 5
RMSNormalization, 4 RotaryEmbedding and 2 Attention nodes, a BERT 2 Attention. Without them
``rewrite finetune --mode distill`` and the torch targets refused such models by name.

Each follows the ONNX specification and ONNX Runtime's CPU kernels, which
``tests/test_torch_convert.py`` checks case by case:

* RMSNormalization: ``x / sqrt(mean(x^2 over axis..last) + epsilon) * scale``, in float32 for
  half-precision inputs (``stash_type`` 1).
* RotaryEmbedding: the rotation of the first ``rotary_embedding_dim`` features of each head
  (all by default) by ``cos``/``sin`` caches, looked up by ``position_ids`` when given;
  halves (``interleaved=0``, GPT-NeoX/Llama) or even/odd pairs (``interleaved=1``, GPT-J); 4-d
  ``[batch, heads, sequence, head]`` or 3-d ``[batch, sequence, hidden]`` with ``num_heads``.
* Attention: scaled dot-product attention on 4-d inputs, or 3-d ones split into
  ``q_num_heads`` / ``kv_num_heads``; grouped-query attention (each KV head repeated for its
  query heads); a boolean (True attends) or additive mask, padded to the keys with "masked";
  ``is_causal`` aligned to the last query (a query at ``i`` sees keys up to ``i`` plus the past
  length); ``past_key``/``past_value`` concatenated in front (the present outputs); opset
  24's ``nonpad_kv_seqlen`` (each batch row's valid keys, the causal frontier aligned to
  them); ``softcap``; the scale applied as its square root to Q and K both, as the specification
  does; a query row that sees no key gives 0, not NaN. The optional fourth output (the QK
  scores) is computed for ``qk_matmul_output_mode`` 0 (scores) and 3 (after softmax).

And com.microsoft GroupQueryAttention, the attention of onnxruntime-genai's LLMs, as ONNX
Runtime's CPU kernel computes it: Q, K and V apart or packed in one input; each batch row's
valid past is ``seqlens_k + 1`` less the new tokens (none in a first prompt, where the new
tokens are ``total_sequence_length``); the new keys, rotated at their positions (past + i) by
the cos/sin tables when ``do_rotary``, are written after it into a present cache as long as
the past buffer or ``total_sequence_length``, zeros after each row's keys; a query sees the
keys up to its own, only the last ``local_window_size`` of them where one is set; ``scale``,
``softcap``, ``smooth_softmax`` (a zero logit beside the keys) and ``head_sink`` (each head's
own logit there: gpt-oss's attention sinks). And the window-sized cache of Gemma 2's and
gpt-oss's sliding layers (``sliding_window_cache``): the past buffer's first rows hold the
most recent positions the op kept, as many as its specification's ``L(T)`` for the tokens
before the step (all of them up to the capacity ``C``, then fewer by ``C - W + 1`` at a
time), the new keys go after them, and the present buffer's first ``L(T)`` rows are the most
recent positions after the step (the rows after them are unspecified there, zeros here).
Quantized caches, position ids and an attention bias are refused by name.

And com.microsoft MultiHeadAttention and RotaryEmbedding, which onnxruntime-genai's float16 CPU
build writes instead (and ONNX Runtime's transformer fusions), and the transformer optimizer's
fused BERT/GPT-2 Attention and its dynamically quantized QAttention: ``_multi_head_attention``,
``_microsoft_rotary``, ``_fused_attention`` and ``_quantized_attention`` say what they compute
and refuse.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from rewriter.cost.torch_ops import Fn, Unsupported, dequantize, refuse_others, torch_dtype

__all__ = ["ATTENTION", "MICROSOFT_ATTENTION"]

_HALF = (torch.float16, torch.bfloat16)


def _rms_norm(a: dict[str, Any], nout: int = 1, op: str = "RMSNormalization") -> Fn:
    """RMSNormalization, and ONNX Runtime's SimplifiedLayerNormalization (its own op in the
    default domain, written by onnxruntime-genai's builder), whose second output is the
    inverse RMS."""
    axis, eps = int(a.get("axis", -1)), float(a.get("epsilon", 1e-5))
    if int(a.get("stash_type", 1)) != 1:
        raise Unsupported(f"{op} stash_type={a['stash_type']}")

    def f(x: torch.Tensor, scale: torch.Tensor) -> Any:
        dims = list(range(axis % x.dim(), x.dim()))
        xf = x.float() if x.dtype in _HALF else x
        rms = torch.sqrt((xf * xf).mean(dim=dims, keepdim=True) + eps)
        y = (xf / rms).to(x.dtype) * scale
        return y if nout == 1 else (y, 1 / rms)[:nout]

    return f


def _rotary(a: dict[str, Any]) -> Fn:
    interleaved = bool(a.get("interleaved", 0))
    rotary_dim, heads = int(a.get("rotary_embedding_dim", 0)), int(a.get("num_heads", 0))

    def f(
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if x.dim() == 4:  # [batch, heads, sequence, head]
            h = x
        elif heads:
            h = _heads(x, heads)
        else:
            raise ValueError("RotaryEmbedding of a 3-d input needs num_heads")
        half = (rotary_dim or h.shape[-1]) // 2
        if position_ids is not None:
            cos, sin = cos[position_ids.long()], sin[position_ids.long()]
        out = _rope(h, cos[..., :half], sin[..., :half], interleaved)
        return out if x.dim() == 4 else out.transpose(1, 2).reshape(x.shape)

    return f


def _heads(t: torch.Tensor, n: int) -> torch.Tensor:
    """``[batch, sequence, n * head]`` -> ``[batch, n, sequence, head]``."""
    return t.reshape(t.shape[0], t.shape[1], n, -1).transpose(1, 2)


def _attention(a: dict[str, Any], nout: int) -> Fn:
    causal = bool(a.get("is_causal", 0))
    q_heads, kv_heads = a.get("q_num_heads"), a.get("kv_num_heads")
    scale, softcap = a.get("scale"), float(a.get("softcap", 0.0))
    mode = int(a.get("qk_matmul_output_mode", 0))
    precision = a.get("softmax_precision")
    if nout == 4 and (mode not in (0, 3) or (mode == 0 and softcap > 0)):
        raise Unsupported(f"Attention qk_matmul_output_mode={mode} (softcap {softcap:g})")
    if a.get("left_window_size", -1) != -1 or a.get("right_window_size", -1) != -1:
        raise Unsupported("Attention with a sliding window")

    def f(
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None = None,
        past_k: torch.Tensor | None = None,
        past_v: torch.Tensor | None = None,
        nonpad: torch.Tensor | None = None,
    ) -> Any:
        three = q.dim() == 3
        if three:
            if q_heads is None or kv_heads is None:
                raise ValueError("Attention on 3-d inputs needs q_num_heads and kv_num_heads")
            batch = q.shape[0]
            q, k, v = _heads(q, int(q_heads)), _heads(k, int(kv_heads)), _heads(v, int(kv_heads))
        if past_k is not None and past_v is not None:
            k, v = torch.cat((past_k, k), dim=2), torch.cat((past_v, v), dim=2)
        present_k, present_v = k, v
        sq, skv = q.shape[2], k.shape[2]
        s = scale if scale is not None else 1.0 / math.sqrt(q.shape[3])
        root = math.sqrt(s)
        neg = torch.tensor(-math.inf, dtype=q.dtype)
        zero = torch.zeros((), dtype=q.dtype)
        bias = torch.zeros((sq, skv), dtype=q.dtype)
        if mask is not None:
            if mask.shape[-1] < skv:  # keys past the mask's length are masked
                fill = False if mask.dtype == torch.bool else -math.inf
                mask = torch.nn.functional.pad(mask, (0, skv - mask.shape[-1]), value=fill)
            if mask.dtype == torch.bool:
                mask = torch.where(mask, zero, neg)
            bias = bias + mask
        if causal or nonpad is not None:
            i = torch.arange(sq).reshape(sq, 1)
            j = torch.arange(skv).reshape(1, skv)
            if nonpad is not None and past_k is None:  # per batch row: [batch, 1, 1, 1]
                offset: Any = (nonpad.reshape(-1) - sq).reshape(-1, 1, 1, 1)
            else:
                offset = past_k.shape[2] if past_k is not None else 0
            if causal:
                bias = bias + torch.where(j <= i + offset, zero, neg)
            if nonpad is not None:
                keep = torch.arange(skv).reshape(1, 1, 1, skv) < nonpad.reshape(-1, 1, 1, 1)
                bias = bias + torch.where(keep, zero, neg)
        if q.shape[1] != k.shape[1] and q.shape[1] % k.shape[1] == 0:  # grouped-query
            rep = q.shape[1] // k.shape[1]
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        scores = torch.matmul(q * root, (k * root).transpose(-1, -2))
        if softcap > 0:
            scores = softcap * torch.tanh(scores / softcap)
        logits = scores + bias
        blind = torch.isneginf(bias.amax(dim=-1, keepdim=True))  # rows that see no key
        logits = torch.where(blind, zero, logits)  # softmax of a finite row: no NaN
        if precision is not None:
            logits = logits.to(torch_dtype(int(precision)))
        elif q.dtype in _HALF:
            logits = logits.float()
        probs = torch.where(blind, 0.0, torch.softmax(logits, dim=-1)).to(q.dtype)
        y = torch.matmul(probs, v)
        if three:
            y = y.transpose(1, 2).reshape(batch, sq, -1)
        qk = probs if mode == 3 else scores
        return y if nout == 1 else (y, present_k, present_v, qk)[:nout]

    return f


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, interleaved: bool) -> torch.Tensor:
    """``x`` [batch, heads, sequence, head] rotated in its first ``2 * cos.shape[-1]`` features by
    ``cos``/``sin`` [batch, sequence, rotary / 2] (halves, or even/odd pairs if ``interleaved``)."""
    d = 2 * cos.shape[-1]
    rot, rest = x[..., :d], x[..., d:]
    cos, sin = cos.unsqueeze(1).to(x.dtype), sin.unsqueeze(1).to(x.dtype)
    x1, x2 = (
        (rot[..., 0::2], rot[..., 1::2])
        if interleaved
        else (rot[..., : d // 2], rot[..., d // 2 :])
    )
    real, imag = cos * x1 - sin * x2, sin * x1 + cos * x2
    if interleaved:
        rot = torch.stack((real, imag), dim=-1).flatten(-2)
    else:
        rot = torch.cat((real, imag), dim=-1)
    return torch.cat((rot, rest), dim=-1)


# the GroupQueryAttention attributes computed here; any other set to other than its default
# (``k_quant_type``, ``qk_norm_epsilon``, ...) is refused by name
_GQA_COMPUTED = {
    "num_heads",
    "kv_num_heads",
    "scale",
    "softcap",
    "local_window_size",
    "smooth_softmax",
    "sliding_window_cache",
    "do_rotary",
    "rotary_interleaved",
    "qk_output",
}


def _resident(tokens: torch.Tensor, capacity: int, window: int) -> torch.Tensor:
    """How many of a row's ``tokens`` so far a window-sized cache of ``capacity`` rows holds
    (GroupQueryAttention's ``L(T)``): all up to the capacity, then fewer by ``capacity -
    window + 1`` at a time, so the last ``window`` are always there."""
    room = capacity - window + 1
    over = torch.div(tokens - capacity + room - 1, room, rounding_mode="floor")
    return torch.where(tokens <= capacity, tokens, tokens - room * over)


def _group_query_attention(a: dict[str, Any], nout: int) -> Fn:
    """com.microsoft GroupQueryAttention as ONNX Runtime's CPU kernel computes it (see the module
    docstring); its position ids and attention bias (``torch_convert``), quantized caches and
    its scores output are refused by name."""
    heads, kv_heads = int(a["num_heads"]), int(a["kv_num_heads"])
    scale, softcap = float(a.get("scale", 0.0)), float(a.get("softcap", 0.0))
    window, smooth = int(a.get("local_window_size", -1)), bool(a.get("smooth_softmax", 0))
    rotary, interleaved = bool(a.get("do_rotary", 0)), bool(a.get("rotary_interleaved", 0))
    windowed = bool(a.get("sliding_window_cache", 0))
    if nout > 3:
        raise Unsupported("com.microsoft.GroupQueryAttention (its output_qk)")
    if windowed and window <= 0:
        raise Unsupported("com.microsoft.GroupQueryAttention (sliding_window_cache=1, no window)")
    refuse_others("GroupQueryAttention", a, _GQA_COMPUTED)  # quantized caches, ...

    def f(
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        past_key: torch.Tensor | None = None,
        past_value: torch.Tensor | None = None,
        seqlens_k: torch.Tensor | None = None,
        total_length: torch.Tensor | None = None,
        cos: torch.Tensor | None = None,
        sin: torch.Tensor | None = None,
        position_ids: None = None,  # refused by name where given (``torch_convert``)
        attention_bias: None = None,
        head_sink: torch.Tensor | None = None,
    ) -> Any:
        if seqlens_k is None or total_length is None:
            raise ValueError("GroupQueryAttention needs seqlens_k and total_sequence_length")
        if windowed and (past_key is None or past_value is None):
            raise ValueError(
                "GroupQueryAttention's window-sized cache needs past_key and past_value"
            )
        batch, s = query.shape[0], query.shape[1]
        if key is None or value is None:  # packed [batch, s, (heads + 2 kv_heads) * head]
            size = query.shape[2] // (heads + 2 * kv_heads)
            query, key, value = query.split([heads * size, kv_heads * size, kv_heads * size], 2)
        q, k, v = _heads(query, heads), _heads(key, kv_heads), _heads(value, kv_heads)
        size = q.shape[3]
        # each row's valid past keys: its valid keys (the new ones included) less the new ones,
        # none in a first prompt (where a row's valid keys are at most the new ones)
        past = (seqlens_k.reshape(-1).long() + 1 - s).clamp(min=0)
        steps = torch.arange(s)
        if rotary and cos is not None and sin is not None:
            positions = past.reshape(-1, 1) + steps.reshape(1, -1)  # [batch, s]
            q = _rope(q, cos[positions], sin[positions], interleaved)
            k = _rope(k, cos[positions], sin[positions], interleaved)
        # the keys each row attends: the past it holds (all of its valid past; a window-sized
        # cache, the most recent it kept), then its new keys, then zeros (the present cache of
        # a full-length one, as long as the past buffer or total_sequence_length)
        buffer = past_key.shape[2] if past_key is not None else 0
        if windowed:
            held = _resident(past, buffer, window)
            length = int((held + s).max())
        else:
            held = past
            length = max(buffer, int(total_length.reshape(-1)[0]))  # as ONNX Runtime sizes it
        t = torch.arange(length).reshape(1, -1)
        p = held.reshape(-1, 1)
        index = torch.where(t < p, t, torch.where(t < p + s, buffer + t - p, buffer + s))
        index = index.reshape(batch, 1, length, 1).expand(batch, kv_heads, length, size)

        def cache(old: torch.Tensor | None, new: torch.Tensor) -> torch.Tensor:
            parts = [new, new.new_zeros(batch, kv_heads, 1, size)]
            full = torch.cat(parts if old is None else [old, *parts], dim=2)
            return torch.gather(full, 2, index)

        held_k, held_v = cache(past_key, k), cache(past_value, v)
        if windowed:  # the present buffer: the most recent it keeps after the step, then zeros
            kept = _resident(past + s, buffer, window).reshape(-1, 1)
            rows = torch.arange(buffer).reshape(1, -1)
            rows = torch.where(rows < kept, p + s - kept + rows, length)
            rows = rows.reshape(batch, 1, buffer, 1).expand(batch, kv_heads, buffer, size)
            zero = held_k.new_zeros(batch, kv_heads, 1, size)
            present_k = torch.gather(torch.cat([held_k, zero], 2), 2, rows)
            present_v = torch.gather(torch.cat([held_v, zero], 2), 2, rows)
        else:
            present_k, present_v = held_k, held_v
        rep = heads // kv_heads
        keys = held_k.repeat_interleave(rep, dim=1)
        values = held_v.repeat_interleave(rep, dim=1)
        alpha = scale if scale != 0.0 else 1.0 / math.sqrt(size)
        work = torch.float32 if q.dtype in _HALF else q.dtype
        scores = torch.matmul(q.to(work), keys.to(work).transpose(-1, -2)) * alpha
        if softcap > 0:
            scores = softcap * torch.tanh(scores / softcap)
        # each query's position and each key's (a row's first held key is at past - held)
        last = (past.reshape(-1, 1) + steps.reshape(1, -1)).reshape(batch, 1, s, 1)
        j = (past.reshape(-1, 1) - p + t).reshape(batch, 1, 1, length)
        seen = j <= last
        if window > 0:
            seen = seen & (j > last - window)
        scores = scores.masked_fill(~seen, -math.inf)
        if smooth or head_sink is not None:  # a logit beside the keys that takes some weight
            sink = scores.new_zeros(scores.shape[:-1] + (1,))
            if head_sink is not None:  # each head's own (gpt-oss's attention sinks)
                sink = sink + head_sink.to(work).reshape(1, heads, 1, 1)
            probs = torch.softmax(torch.cat((scores, sink), dim=-1), dim=-1)[..., :-1]
        else:
            probs = torch.softmax(scores, dim=-1)
        y = torch.matmul(probs, values.to(work)).to(q.dtype)
        y = y.transpose(1, 2).reshape(batch, s, heads * size)
        return y if nout == 1 else (y, present_k, present_v)[:nout]

    return f


def _microsoft_rotary(a: dict[str, Any], op: str = "RotaryEmbedding") -> Fn:
    """com.microsoft RotaryEmbedding (input, position_ids, cos_cache, sin_cache): ONNX's
    rotation with its inputs in another order; a 3-d input's heads are ``num_heads``, else as
    wide as the rotation (``rotary_embedding_dim``, else twice the tables' width); one
    position id is the first of every row's. ``scale`` and packed batching are refused.

    And com.microsoft MRotaryEmbedding (``op``), the multimodal rotation of Qwen2-VL to Qwen3.5
    as onnxruntime-genai's builder writes their text decoders: ``position_ids`` ``[3, batch,
    sequence]`` (temporal, height, width), each rotation pair's cos/sin looked up at the stream
    ``mrope_section`` gives it: in three blocks (``mrope_layout`` 0), or temporal everywhere
    but every third pair from the second (height) and from the third (width), ``section[1]``
    and ``section[2]`` of them (layout 1)."""
    interleaved = bool(a.get("interleaved", 0))
    rotary_dim, heads = int(a.get("rotary_embedding_dim", 0)), int(a.get("num_heads", 0))
    if float(a.get("scale", 1.0)) != 1.0:
        raise Unsupported(f"com.microsoft.{op} (scale={a['scale']!r})")
    if int(a.get("is_packed_batching", 0)):
        raise Unsupported(f"com.microsoft.{op} (is_packed_batching=1)")
    streams = None
    if op == "MRotaryEmbedding":
        section, layout = [int(n) for n in a["mrope_section"]], int(a.get("mrope_layout", 0))
        if len(section) != 3 or layout not in (0, 1):
            raise Unsupported(f"com.microsoft.{op} (mrope_section={section}, layout {layout})")
        if layout == 0:  # blocks: [T] * section[0] + [H] * section[1] + [W] * section[2]
            streams = torch.repeat_interleave(torch.arange(3), torch.tensor(section))
        else:  # interleaved: T, then H at 1, 4, 7, ... and W at 2, 5, 8, ...
            streams = torch.zeros(sum(section), dtype=torch.long)
            for k in (1, 2):
                streams[k : 3 * section[k] : 3] = k

    def f(
        x: torch.Tensor, position_ids: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
    ) -> torch.Tensor:
        rot = rotary_dim or 2 * cos.shape[-1]
        h = x if x.dim() == 4 else _heads(x, heads or x.shape[-1] // rot)
        positions = position_ids.long()
        half = rot // 2
        if streams is not None:  # [3, batch, sequence] -> each pair's stream's position
            pick = streams.to(x.device).reshape(1, 1, 1, -1).expand(*positions.shape[1:], 1, -1)
            c, s = (
                torch.gather(t[positions][..., :half].movedim(0, -2), -2, pick).squeeze(-2)
                for t in (cos, sin)
            )
        else:
            if positions.numel() == 1:  # the first position of every row
                positions = positions.reshape(1, 1) + torch.arange(h.shape[2]).reshape(1, -1)
            c, s = cos[positions][..., :half], sin[positions][..., :half]
        out = _rope(h, c, s, interleaved)
        return out if x.dim() == 4 else out.transpose(1, 2).reshape(x.shape)

    return f


# the MultiHeadAttention attributes computed here; any other set to other than its default is
# refused by name
_MHA_COMPUTED = {"num_heads", "scale", "unidirectional", "mask_filter_value"}


def _multi_head_attention(a: dict[str, Any], nout: int) -> Fn:
    """com.microsoft MultiHeadAttention as ONNX Runtime's CPU kernel computes it (written by
    onnxruntime-genai's float16 CPU build and ONNX Runtime's transformer fusions): Q, K and V
    3-d (``[batch, sequence, heads * head]``) or K and V 4-d ``[batch, heads, keys, head]`` (a
    cross-attention cache), a fused projection bias added to the 3-d ones, a past cache in
    front of the new keys (the present outputs), then ``scale`` (default ``1/sqrt(head)``) times
    Q K^T plus ``attention_bias``, and ``mask_filter_value`` (default -10000) added where the 2-d
    ``key_padding_mask`` is 0 and, ``unidirectional``, after each query's own key; softmax in
    float32 for half-precision inputs. Packed QKV, other mask layouts, ``past_sequence_length``
    and ``cache_indirection``, and the scores output are refused."""
    heads, scale = int(a["num_heads"]), float(a.get("scale", 0.0))
    causal, fill = bool(a.get("unidirectional", 0)), float(a.get("mask_filter_value", -10000.0))
    if nout > 3:
        raise Unsupported("com.microsoft.MultiHeadAttention (its output_qk)")
    refuse_others("MultiHeadAttention", a, _MHA_COMPUTED)

    def f(
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
        padding: torch.Tensor | None = None,
        attention_bias: torch.Tensor | None = None,
        past_key: torch.Tensor | None = None,
        past_value: torch.Tensor | None = None,
    ) -> Any:
        if query.dim() != 3 or key is None or value is None:
            raise ValueError("MultiHeadAttention: packed Q, K and V are not computed")
        if bias is not None:
            if key.dim() != 3:
                raise ValueError("MultiHeadAttention: a bias beside 4-d keys is not computed")
            d, dk = query.shape[-1], key.shape[-1]
            query, key = query + bias[:d], key + bias[d : d + dk]
            value = value + bias[d + dk :]
        q = _heads(query, heads)
        if key.dim() == 3:
            k, v = _heads(key, heads), _heads(value, heads)
            if past_key is not None and past_value is not None:
                k, v = torch.cat((past_key, k), dim=2), torch.cat((past_value, v), dim=2)
        else:  # [batch, heads, keys, head] as they are
            k, v = key, value
        batch, t = q.shape[0], k.shape[2]
        keep = None
        if padding is not None:
            if tuple(padding.shape) != (batch, t):
                raise ValueError(
                    f"MultiHeadAttention: a key_padding_mask of shape {tuple(padding.shape)} "
                    "is not computed (only [batch, keys])"
                )
            keep = padding.reshape(batch, 1, 1, t) != 0
        y = _attend(q, k, v, scale, attention_bias, keep, causal, fill)
        return y if nout == 1 else (y, k, v)[:nout]

    return f


def _attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    scale: float,
    attention_bias: torch.Tensor | None,
    keep: torch.Tensor | None,
    causal: bool,
    fill: float,
) -> torch.Tensor:
    """ONNX Runtime's CPU attention of com.microsoft MultiHeadAttention and Attention: ``scale``
    (0: ``1/sqrt(head)``) times Q K^T plus ``attention_bias``, ``fill`` added where ``keep``
    (broadcast to [batch, heads, queries, keys]) is false and, ``causal``, after each query's
    own key (the queries are the last of the keys); softmax in float32 for half-precision
    inputs. [batch, heads, queries, head] in, [batch, queries, heads * head] out."""
    batch, s, t = q.shape[0], q.shape[2], k.shape[2]
    work = torch.float32 if q.dtype in _HALF else q.dtype
    alpha = scale if scale != 0.0 else 1.0 / math.sqrt(q.shape[3])
    scores = torch.matmul(q.to(work), k.to(work).transpose(-1, -2)) * alpha
    if attention_bias is not None:
        scores = scores + attention_bias.to(work)
    if keep is not None:
        scores = scores + torch.where(keep, 0.0, fill).to(work)
    if causal:
        i, j = torch.arange(s).reshape(s, 1), torch.arange(t).reshape(1, t)
        scores = scores + torch.where(j > i + (t - s), fill, 0.0).to(work)
    probs = torch.softmax(scores, dim=-1)
    y = torch.matmul(probs, v.to(work)).to(q.dtype)
    return y.transpose(1, 2).reshape(batch, s, -1)


# the Attention attributes computed here; any other set to other than its default (a shared
# past buffer, rotary, ...) is refused by name
_FUSED_COMPUTED = {"num_heads", "qkv_hidden_sizes", "scale", "unidirectional", "mask_filter_value"}


def _fused_attention(a: dict[str, Any], nout: int) -> Fn:
    """com.microsoft Attention, the fused BERT/GPT-2 attention of ONNX Runtime's transformer
    optimizer, as its CPU kernel computes it: the input times the packed weights plus the bias,
    split into Q, K and V (``qkv_hidden_sizes``, else thirds); a past ``[2, batch, heads, past,
    head]`` in front of the new keys (the present output); then as MultiHeadAttention
    (``_attend``), its ``mask_index`` each row's end (``[batch]``: keys from it on are padding)
    or a raw 0/1 mask of ``[batch, keys]`` or ``[batch, queries, keys]``. Other mask layouts,
    ``past_sequence_length`` and the attributes not computed are refused."""
    heads, scale = int(a["num_heads"]), float(a.get("scale", 0.0))
    causal, fill = bool(a.get("unidirectional", 0)), float(a.get("mask_filter_value", -10000.0))
    sizes = [int(x) for x in a.get("qkv_hidden_sizes", [])]
    if nout > 2:
        raise Unsupported("com.microsoft.Attention (its output_qk)")
    refuse_others("Attention", a, _FUSED_COMPUTED)

    def f(
        x: torch.Tensor,
        weights: torch.Tensor,
        bias: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        past: torch.Tensor | None = None,
        attention_bias: torch.Tensor | None = None,
    ) -> Any:
        qkv = torch.matmul(x, weights) + (bias if bias is not None else 0)
        split = sizes or [qkv.shape[-1] // 3] * 3
        query, key, value = qkv.split(split, dim=-1)
        q, k, v = _heads(query, heads), _heads(key, heads), _heads(value, heads)
        if past is not None:
            k, v = torch.cat((past[0], k), dim=2), torch.cat((past[1], v), dim=2)
        batch, s, t = q.shape[0], q.shape[2], k.shape[2]
        keep = None
        if mask is not None:
            shape = tuple(mask.shape)
            if shape == (batch,):  # each row's end: its keys from there on are padding
                keep = torch.arange(t).reshape(1, 1, 1, t) < mask.reshape(batch, 1, 1, 1)
            elif shape in ((batch, t), (batch, s, t)):  # raw: 0 where a key is padding
                keep = mask.reshape(batch, 1, -1, t) != 0
            else:
                raise ValueError(f"Attention: a mask_index of shape {shape} is not computed")
        y = _attend(q, k, v, scale, attention_bias, keep, causal, fill)
        return y if nout == 1 else (y, torch.stack((k, v)))

    return f


def _quantized_attention(a: dict[str, Any], nout: int) -> Fn:
    """com.microsoft QAttention, the fused Attention once ``quantize_dynamic`` has quantized it
    (an optimized BERT quantized dynamically): its int8 input (from the DynamicQuantizeLinear
    before it) and int8 weights dequantized by their scales and zero points (the weights' per
    tensor or per column), then computed as Attention (``_fused_attention``); ONNX Runtime's
    integer GEMM gives the same products, rounded once in float."""
    inner = _fused_attention(a, nout)

    def f(
        x: torch.Tensor,
        weights: torch.Tensor,
        bias: torch.Tensor,
        x_scale: torch.Tensor,
        w_scale: torch.Tensor,
        mask: torch.Tensor | None = None,
        x_zero: torch.Tensor | None = None,
        w_zero: torch.Tensor | None = None,
        past: torch.Tensor | None = None,
    ) -> Any:
        xf, wf = dequantize(x, x_scale, x_zero), dequantize(weights, w_scale, w_zero)
        return inner(xf, wf, bias, mask, past)

    return f


ATTENTION: dict[str, Callable[[dict[str, Any], int, int], Fn]] = {
    "RMSNormalization": lambda a, n, v: _rms_norm(a),
    "SimplifiedLayerNormalization": lambda a, n, v: _rms_norm(a, n, "SimplifiedLayerNormalization"),
    "RotaryEmbedding": lambda a, n, v: _rotary(a),
    "Attention": lambda a, n, v: _attention(a, n),
}

# com.microsoft attention, as onnxruntime-genai's model builder and ONNX Runtime's fusions write it
MICROSOFT_ATTENTION: dict[str, Callable[[dict[str, Any], int, int], Fn]] = {
    "GroupQueryAttention": lambda a, n, v: _group_query_attention(a, n),
    "MultiHeadAttention": lambda a, n, v: _multi_head_attention(a, n),
    "Attention": lambda a, n, v: _fused_attention(a, n),
    "QAttention": lambda a, n, v: _quantized_attention(a, n),
    "RotaryEmbedding": lambda a, n, v: _microsoft_rotary(a),
    "MRotaryEmbedding": lambda a, n, v: _microsoft_rotary(a, "MRotaryEmbedding"),
}
