"""Loop and Scan for the ONNX -> torch interpreter (``rewriter.cost.torch_convert``).

A body graph is compiled once into the same kind of steps as the main graph (``Body``); each
iteration runs them in Python with the loop-carried values, the outer-scope values the body
reads, and its own constants. Gradients flow through every iteration into the weights outside
(tf2onnx writes a Keras GRU as a Loop whose body reads the kernels from the main graph), so
such models retrain. A Loop's trip count and condition are read as Python values each
iteration, so ``torch.compile(fullgraph=True)`` cannot trace one: torch targets refuse those
models when they compile them, and retraining runs eagerly anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import onnx
import torch

from rewriter.cost.torch_ops import Unsupported

__all__ = ["Body", "CONTROL"]

# (function, inputs: a value name, None (omitted) or a literal, outputs, takes the module)
Step = tuple[Callable[..., Any], list[Any], list[str], bool]


@dataclass
class Body:
    """A compiled body graph: ``inputs``/``outputs`` by name, its steps, and its constants as
    ``name -> buffer key`` of the module that owns them."""

    inputs: list[str]
    outputs: list[str]
    steps: list[Step]
    consts: dict[str, str] = field(default_factory=dict)
    free: list[str] = field(default_factory=list)  # outer values it reads, in this order

    def run(self, module: Any, outer: dict[str, Any], values: list[Any]) -> list[Any]:
        env = dict(outer)
        for name, key in self.consts.items():
            env[name] = getattr(module, key)
        env.update(zip(self.inputs, values, strict=True))
        module._run(self.steps, env)
        return [env[o] for o in self.outputs]


def _loop(body: Body, n_vars: int) -> Callable[..., Any]:
    """Loop(M, cond, v_initial...): while i < M and cond, body(i, cond, v...) -> (cond,
    v..., scan outputs...); the final v's, then each scan output stacked on a new axis 0."""
    n_scan = len(body.outputs) - 1 - n_vars

    def f(module: Any, m: Any = None, cond: Any = None, *rest: Any) -> Any:
        rest = rest + (None,) * (n_vars + len(body.free) - len(rest))
        vs = list(rest[:n_vars])
        outer = dict(zip(body.free, rest[n_vars:], strict=True))
        trips = None if m is None else int(m)
        keep = True if cond is None else bool(cond)
        scans: list[list[torch.Tensor]] = [[] for _ in range(n_scan)]
        i = 0
        while keep and (trips is None or i < trips):
            out = body.run(module, outer, [torch.tensor(i), torch.tensor(keep), *vs])
            keep = bool(out[0])
            vs = out[1 : 1 + n_vars]
            for s, v in zip(scans, out[1 + n_vars :], strict=True):
                s.append(v)
            i += 1
        stacked = [torch.stack(s) if s else torch.zeros(0) for s in scans]
        result = [*vs, *stacked]
        return result[0] if len(result) == 1 else tuple(result)

    return f


def _scan(body: Body, a: dict[str, Any], n_inputs: int) -> Callable[..., Any]:
    """Scan (opset 9+): states carried, each scan input sliced along its axis (reversed where
    its direction is 1), each scan output stacked along its axis."""
    n_scan_in = int(a["num_scan_inputs"])
    n_state = n_inputs - n_scan_in
    n_scan_out = len(body.outputs) - n_state
    in_axes = list(a.get("scan_input_axes", [0] * n_scan_in))
    in_dirs = list(a.get("scan_input_directions", [0] * n_scan_in))
    out_axes = list(a.get("scan_output_axes", [0] * n_scan_out))
    out_dirs = list(a.get("scan_output_directions", [0] * n_scan_out))

    def f(module: Any, *args: Any) -> Any:
        states = list(args[:n_state])
        xs = list(args[n_state:n_inputs])
        outer = dict(zip(body.free, args[n_inputs:], strict=True))
        axes = [ax % x.dim() for ax, x in zip(in_axes, xs, strict=True)]
        steps = xs[0].shape[axes[0]]
        outs: list[list[torch.Tensor]] = [[] for _ in range(n_scan_out)]
        for t in range(steps):
            sl = [
                x.select(ax, steps - 1 - t if d else t)
                for x, ax, d in zip(xs, axes, in_dirs, strict=True)
            ]
            got = body.run(module, outer, [*states, *sl])
            states = got[:n_state]
            for acc, v in zip(outs, got[n_state:], strict=True):
                acc.append(v)
        stacked = []
        for acc, ax, d in zip(outs, out_axes, out_dirs, strict=True):
            if d:
                acc = acc[::-1]
            rank = acc[0].dim() + 1 if acc else 1
            stacked.append(torch.stack(acc, ax % rank) if acc else torch.zeros(0))
        result = [*states, *stacked]
        return result[0] if len(result) == 1 else tuple(result)

    return f


def control_step(n: onnx.NodeProto, a: dict[str, Any], body: Body, opset: int) -> Any:
    """The step function of Loop or Scan node ``n`` (attributes ``a``) over its compiled
    ``body``."""
    if n.op_type == "Loop":
        if not any(n.input[:2]):  # ONNX's "infinite loop", ended only from inside
            raise Unsupported("Loop (no trip count and no condition)")
        return _loop(body, len(n.input) - 2)
    if opset < 9:
        raise Unsupported("Scan (opset 8, with a batch axis)")
    return _scan(body, a, len(n.input))


CONTROL = {"Loop": "body", "Scan": "body"}  # op -> its body attribute
