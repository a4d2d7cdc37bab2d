"""GRU, LSTM and RNN for the ONNX -> torch interpreter (``rewriter.cost.torch_convert``).

A node torch's own kernels compute (default activations, no ``clip``, ``sequence_lens``,
peepholes or ``input_forget``, not reverse-only; a GRU with ``linear_before_reset=1``, as torch
exports it) runs through ``torch.lstm`` / ``torch.gru`` with its gate blocks reordered: one
call, as fast as the module the model was exported from. Every other one is written out step by
step from the ONNX equations, which have what torch's ops do not (peepholes, ``clip`` on the
gate pre-activations, ``input_forget``, GRU's ``linear_before_reset=0``, per-direction
activation lists with alpha/beta, ``sequence_lens``); a Python loop over the time steps is
differentiable in every weight too, so either way a recurrent model (a VAD with its state, an
OCR head) retrains with ``rewrite finetune --mode distill``. ``torch.compile`` unrolls the loop
for the sequence length it is traced at.

``sequence_lens``: steps at or past a batch row's length leave its state as it was and write 0
to ``Y``; a reverse direction starts at the row's last valid step. That is what ONNX Runtime
computes (``tests/test_torch_convert.py`` checks each configuration against it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from rewriter.cost.torch_ops import OPS, Fn, Unsupported, _s

__all__ = ["RECURRENT"]

Act = Callable[[torch.Tensor], torch.Tensor]

# the activations ONNX's recurrent ops name -> the op of the table that computes them, and
# which of activation_alpha / activation_beta it takes; ONNX's defaults are the op's own
_STANDARD: dict[str, tuple[str, tuple[str, ...]]] = {
    "sigmoid": ("Sigmoid", ()),
    "tanh": ("Tanh", ()),
    "relu": ("Relu", ()),
    "softsign": ("Softsign", ()),
    "softplus": ("Softplus", ()),
    "leakyrelu": ("LeakyRelu", ("alpha",)),
    "thresholdedrelu": ("ThresholdedRelu", ("alpha",)),
    "elu": ("Elu", ("alpha",)),
    "hardsigmoid": ("HardSigmoid", ("alpha", "beta")),
}
# the two that are no ONNX op: x -> alpha * x + beta, alpha * tanh(beta * x)
_ONLY_HERE: dict[str, Callable[[float, float], Act]] = {
    "affine": lambda al, be: lambda x: al * x + be,
    "scaledtanh": lambda al, be: lambda x: al * torch.tanh(be * x),
}


def _activations(op: str, a: dict[str, Any], defaults: list[str], dirs: int) -> list[list[Act]]:
    """Per direction, the gate activations the node names (ONNX's defaults when it names none;
    a list for one direction serves both of a bidirectional node)."""
    names = [_s(v).lower() for v in a.get("activations", [])] or defaults
    if len(names) == len(defaults) and dirs == 2:
        names = names * 2
    if len(names) != len(defaults) * dirs:
        raise Unsupported(f"{op} (activations={','.join(names)})")
    given = {
        "alpha": list(a.get("activation_alpha", [])),
        "beta": list(a.get("activation_beta", [])),
    }
    fns: list[Act] = []
    for name in names:
        if name in _ONLY_HERE:
            al = given["alpha"].pop(0) if given["alpha"] else 1.0
            be = given["beta"].pop(0) if given["beta"] else 0.0
            fns.append(_ONLY_HERE[name](float(al), float(be)))
        elif name in _STANDARD:
            std, takes = _STANDARD[name]
            attrs = {k: given[k].pop(0) for k in takes if given[k]}
            fns.append(OPS[std](attrs, 1, 21))
        else:
            raise Unsupported(f"{op} (activation {name})")
    k = len(defaults)
    return [fns[d * k : (d + 1) * k] for d in range(dirs)]


class _Recurrent:
    """What GRU, LSTM and RNN share: layout, directions, sequence lengths, initial states."""

    def __init__(self, op: str, a: dict[str, Any], n_out: int, gates: int, acts: list[str]):
        self.op, self.n_out, self.gates = op, n_out, gates
        direction = _s(a.get("direction", "forward"))
        if direction not in ("forward", "reverse", "bidirectional"):
            raise Unsupported(f"{op} (direction={direction})")
        self.dirs = 2 if direction == "bidirectional" else 1
        self.reverse = [False, True] if self.dirs == 2 else [direction == "reverse"]
        self.layout = int(a.get("layout", 0))
        clip = a.get("clip")
        self.clip = None if clip is None else float(clip)
        self.acts = _activations(op, a, acts, self.dirs)
        names = [_s(v).lower() for v in a.get("activations", [])] or acts
        # torch's own kernel computes this node when nothing ONNX-only is asked for (the
        # caller adds its op's conditions): one call instead of a Python loop over time steps
        self.native = (
            names in (acts, acts * self.dirs) and self.clip is None and self.reverse != [True]
        )

    def _clip(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.clip is None else torch.clamp(x, -self.clip, self.clip)

    def _state(self, t: torch.Tensor | None, batch: int, hidden: int, like: torch.Tensor) -> Any:
        if t is None:
            return [like.new_zeros(batch, hidden) for _ in range(self.dirs)]
        if self.layout:
            t = t.transpose(0, 1)  # [batch, dirs, hidden] -> [dirs, batch, hidden]
        return [t[d] for d in range(self.dirs)]

    def run(
        self,
        x: torch.Tensor,
        lens: torch.Tensor | None,
        states: list[torch.Tensor | None],
        step: Callable[[int, torch.Tensor, list[torch.Tensor]], list[torch.Tensor]],
        hidden: int,
    ) -> tuple[torch.Tensor, ...]:
        """Run ``step(direction, x_t, state) -> new state`` (``state[0]`` is H) over time."""
        if self.layout:
            x = x.transpose(0, 1)  # [batch, seq, in] -> [seq, batch, in]
        seq, batch = x.shape[0], x.shape[1]
        init = [self._state(t, batch, hidden, x) for t in states]
        ys: list[torch.Tensor] = []
        finals: list[list[torch.Tensor]] = []
        for d in range(self.dirs):
            state = [st[d] for st in init]
            out: list[torch.Tensor | None] = [None] * seq
            order = range(seq - 1, -1, -1) if self.reverse[d] else range(seq)
            for t in order:
                new = step(d, x[t], state)
                if lens is None:
                    state = new
                    out[t] = new[0]
                else:
                    valid = (lens > t).reshape(batch, 1)
                    state = [torch.where(valid, n, o) for n, o in zip(new, state, strict=True)]
                    out[t] = torch.where(valid, new[0], torch.zeros_like(new[0]))
            ys.append(torch.stack([o for o in out if o is not None]))  # [seq, batch, hidden]
            finals.append(state)
        y = torch.stack(ys, 1)  # [seq, dirs, batch, hidden]
        results = [y.permute(2, 0, 1, 3) if self.layout else y]
        for k in range(len(init)):
            h = torch.stack([f[k] for f in finals])  # [dirs, batch, hidden]
            results.append(h.transpose(0, 1) if self.layout else h)
        return tuple(results[: self.n_out])

    def run_native(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        rw: torch.Tensor,
        b: torch.Tensor | None,
        states: list[torch.Tensor | None],
        hidden: int,
        order: list[int],
    ) -> tuple[torch.Tensor, ...]:
        """The node through ``torch.lstm`` / ``torch.gru``: the gate blocks reordered from ONNX's
        (i, o, f, c / z, r, h) to torch's ``order``, Y from [seq, batch, dirs*hidden]."""
        if self.layout:
            x = x.transpose(0, 1)
        seq, batch = x.shape[0], x.shape[1]
        init = [torch.stack(self._state(s, batch, hidden, x)) for s in states]
        idx = torch.cat([torch.arange(g * hidden, (g + 1) * hidden) for g in order])
        n = self.gates * hidden
        params: list[torch.Tensor] = []
        for d in range(self.dirs):
            bias = b[d] if b is not None else x.new_zeros(2 * n)
            params += [w[d][idx], rw[d][idx], bias[:n][idx], bias[n:][idx]]
        two = self.dirs == 2
        if self.op == "LSTM":
            y, h, c = torch.lstm(x, (init[0], init[1]), params, True, 1, 0.0, False, two, False)
            finals = [h, c]
        else:
            y, h = torch.gru(x, init[0], params, True, 1, 0.0, False, two, False)
            finals = [h]
        y = y.reshape(seq, batch, self.dirs, hidden).permute(0, 2, 1, 3)
        results = [y.permute(2, 0, 1, 3) if self.layout else y]
        results += [f.transpose(0, 1) if self.layout else f for f in finals]
        return tuple(results[: self.n_out])


Step = Callable[..., list[torch.Tensor]]


def _op(r: _Recurrent, n_states: int, step: Step, native: list[int] | None = None) -> Fn:
    """The node's function: ``(X, W, R, B, sequence_lens, initial states..., extra...)``;
    ``step(direction, x_t, state, W_d, R_d, bias_d, hidden, *extra)`` is one time step.
    ``native``: torch's gate order, when torch's kernel computes the node (``r.native``, no
    ``sequence_lens``, no extra input such as peepholes)."""

    def f(
        x: torch.Tensor,
        w: torch.Tensor,
        rw: torch.Tensor,
        b: torch.Tensor | None = None,
        lens: torch.Tensor | None = None,
        *rest: torch.Tensor | None,
    ) -> Any:
        rest = rest + (None,) * (n_states - len(rest))
        states, extra = list(rest[:n_states]), rest[n_states:]
        hidden = rw.shape[-1]
        if native is not None and lens is None and all(e is None for e in extra):
            ys = r.run_native(x, w, rw, b, states, hidden, native)
            return ys[0] if r.n_out <= 1 else ys

        def one(d: int, xt: torch.Tensor, st: list[torch.Tensor]) -> list[torch.Tensor]:
            bias = b[d] if b is not None else xt.new_zeros(2 * r.gates * hidden)
            return step(d, xt, st, w[d], rw[d], bias, hidden, *extra)

        ys = r.run(x, lens, states, one, hidden)
        return ys[0] if r.n_out <= 1 else ys

    return f


def _lstm(a: dict[str, Any], n_out: int, opset: int) -> Fn:
    """LSTM: gates i, o, f, c; peepholes P (i, o, f); ``input_forget`` couples f to 1 - i."""
    r = _Recurrent("LSTM", a, n_out, 4, ["sigmoid", "tanh", "tanh"])
    couple = bool(a.get("input_forget", 0))

    def step(
        d: int, xt: torch.Tensor, st: list[torch.Tensor], w: torch.Tensor, rw: torch.Tensor,
        bias: torch.Tensor, hidden: int, p: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:  # fmt: skip
        h, c = st
        g = xt @ w.T + h @ rw.T + bias[: 4 * hidden] + bias[4 * hidden :]
        gi, go, gf, gc = g.split(hidden, -1)
        if p is not None:
            pi, po, pf = p[d].split(hidden)
            gi, gf = gi + pi * c, gf + pf * c
        fa, ga, ha = r.acts[d]
        i = fa(r._clip(gi))
        fg = 1 - i if couple else fa(r._clip(gf))
        c_new = fg * c + i * ga(r._clip(gc))
        if p is not None:
            go = go + po * c_new
        return [fa(r._clip(go)) * ha(c_new), c_new]

    return _op(r, 2, step, [0, 2, 3, 1] if r.native and not couple else None)  # i f c o


def _gru(a: dict[str, Any], n_out: int, opset: int) -> Fn:
    """GRU: gates z, r, h; ``linear_before_reset`` applies r after R's product and bias."""
    r = _Recurrent("GRU", a, n_out, 3, ["sigmoid", "tanh"])
    before_reset = bool(a.get("linear_before_reset", 0))

    def step(
        d: int, xt: torch.Tensor, st: list[torch.Tensor], w: torch.Tensor, rw: torch.Tensor,
        bias: torch.Tensor, hidden: int,
    ) -> list[torch.Tensor]:  # fmt: skip
        (h,) = st
        wz, wr, wh = (xt @ w.T + bias[: 3 * hidden]).split(hidden, -1)
        rz, rr, rh = rw.split(hidden)
        bz, br, bh = bias[3 * hidden :].split(hidden)
        fa, ga = r.acts[d]
        z = fa(r._clip(wz + h @ rz.T + bz))
        rg = fa(r._clip(wr + h @ rr.T + br))
        if before_reset:
            hh = ga(r._clip(wh + rg * (h @ rh.T + bh)))
        else:
            hh = ga(r._clip(wh + (rg * h) @ rh.T + bh))
        return [(1 - z) * hh + z * h]

    # torch's GRU applies r after the recurrent product (linear_before_reset=1, as torch exports)
    return _op(r, 1, step, [1, 0, 2] if r.native and before_reset else None)  # r z n


def _rnn(a: dict[str, Any], n_out: int, opset: int) -> Fn:
    r = _Recurrent("RNN", a, n_out, 1, ["tanh"])

    def step(
        d: int, xt: torch.Tensor, st: list[torch.Tensor], w: torch.Tensor, rw: torch.Tensor,
        bias: torch.Tensor, hidden: int,
    ) -> list[torch.Tensor]:  # fmt: skip
        (fa,) = r.acts[d]
        return [fa(r._clip(xt @ w.T + st[0] @ rw.T + bias[:hidden] + bias[hidden:]))]

    return _op(r, 1, step)


RECURRENT: dict[str, Callable[[dict[str, Any], int, int], Fn]] = {
    "GRU": _gru,
    "LSTM": _lstm,
    "RNN": _rnn,
}
