"""Is it the net or the data? Retrain an all-ReLU copy of a HardSwish/SiLU net and watch the
cosine on its own training images and on held-out ones (issue #12, the README's table).

    python tools/recover_data.py MODEL.onnx CAL.npz [--epochs 60] [--blend] [--onecycle]
                                 [--augment shift|none] [--lr 1e-3] [--generate N --size 96]
                                 [--sites hardswish_7,silu_1] [--e2e]

Every HardSwish and SiLU site of MODEL (as ``rewriter.find_sites`` names them; ``--sites``:
only those) becomes ReLU; with ``--blend`` the site computes
``(1-t) * original + t * relu`` and ``t`` goes from 0 to 1 over the first half of training (the
replacement eased in); without it, the switch is made at once. Every weight trains with Adam on
the MSE to the original's outputs (the rewriter's interpreter, ``rewriter.cost.torch_convert``),
batch 32, on the first three quarters of the images; the rest are held out. ``--generate N``
makes N images as ``tools/recover_bench.py`` makes its calibration set (digits the nets never
trained on) instead of reading CAL.npz's. Prints the held-out and training-set cosines every few
epochs. Seeded; not bit-reproducible across machines.

``--e2e`` retrains as ``rewrite --recover`` does instead: the rewriter emits the student
(``standard:relu`` at ``--sites``), ``rewriter.tune.e2e.finetune_e2e`` trains every weight on
three of every four calibration batches (site activations matched, early stopping on its own
split), once with the constant rate and once with ``schedule="onecycle"``, and the held-out
cosine of each is printed (the README's one-site table).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper

from rewriter.cost.torch_convert import to_torch

PIPELINE = "pau_all,pau_hardswish,pau_hardsigmoid"


def sites(model: onnx.ModelProto, only: list[str] | None = None) -> dict[str, Any]:
    """Site name -> ``Site``: the HardSwish and SiLU sites the rewriter finds (``only``: those)."""
    from rewriter import find_sites

    found = {s.name: s for s in find_sites(model, PIPELINE) if s.function in ("hardswish", "silu")}
    unknown = sorted(set(only or []) - set(found))
    if unknown:
        raise SystemExit(f"no HardSwish/SiLU site {unknown}; the model has {sorted(found)}")
    return {k: v for k, v in found.items() if only is None or k in only}


def blended(model: onnx.ModelProto, only: list[str] | None = None) -> tuple[onnx.ModelProto, int]:
    """``model`` with each site's output y replaced by y + t * (relu(x) - y), ``t`` an
    initializer named ``blend_t``."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    found = {s.output: s.input for s in sites(model, only).values()}
    nodes = []
    for n in m.graph.node:
        nodes.append(n)
        y = n.output[0] if n.output else ""
        if y in found:
            n.output[0] = f"{y}_orig"
            nodes += [
                helper.make_node("Relu", [found[y]], [f"{y}_r"]),
                helper.make_node("Sub", [f"{y}_r", f"{y}_orig"], [f"{y}_d"]),
                helper.make_node("Mul", [f"{y}_d", "blend_t"], [f"{y}_dt"]),
                helper.make_node("Add", [f"{y}_orig", f"{y}_dt"], [y]),
            ]
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    m.graph.initializer.append(numpy_helper.from_array(np.array(0.0, np.float32), "blend_t"))
    return m, len(found)


def e2e(model: onnx.ModelProto, calibration: str, only: list[str] | None, epochs: int) -> None:
    """The sites as ``--recover`` retrains them, constant rate against one cycle."""
    from rewriter.calibrate import load_calibration
    from rewriter.candidates import standard_candidate
    from rewriter.emit import emit_result
    from rewriter.tune.e2e import finetune_e2e
    from rewriter.tune.refit import compare_over

    chosen = sites(model, only)
    student = emit_result(
        model, {k: standard_candidate(s.function, {}, "relu") for k, s in chosen.items()}, PIPELINE
    ).model
    batches = list(load_calibration(calibration, model).batches)
    fit = [b for k, b in enumerate(batches) if k % 4 != 3]
    held = batches[3::4]
    (before,) = compare_over(model, [student], held)
    for schedule in ("constant", "onecycle"):
        tuned, history = finetune_e2e(
            student, model, fit, train="all", epochs=epochs, schedule=schedule
        )
        (after,) = compare_over(model, [tuned], held)
        print(f"{', '.join(chosen)} -> ReLU, {schedule}: held-out cosine {before.cosine:.5f} -> "
              f"{after.cosine:.5f} ({len(history)} epochs)", flush=True)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("calibration", nargs="?")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--blend", action="store_true", help="ease the ReLU in over half the epochs")
    p.add_argument("--onecycle", action="store_true", help="one-cycle rate, else constant")
    p.add_argument("--augment", choices=("shift", "none"), default="shift")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--generate", type=int, default=0, help="N generated images instead")
    p.add_argument("--size", type=int, default=96, help="with --generate: image side")
    p.add_argument("--sites", default="", help="only these sites, e.g. hardswish_7,silu_1")
    p.add_argument("--e2e", action="store_true", help="retrain as --recover does (see above)")
    a = p.parse_args(argv)
    torch.manual_seed(0)
    teacher_m = onnx.load(a.model)
    only = a.sites.split(",") if a.sites else None
    if a.e2e:
        e2e(teacher_m, a.calibration, only, a.epochs)
        return 0
    student_m, n_sites = blended(teacher_m, only)
    teacher, student = to_torch(teacher_m).eval(), to_torch(student_m)
    tkey = student._const_names["blend_t"]
    params = []
    for name, key in student._const_names.items():
        buf = getattr(student, key)
        if name != "blend_t" and buf.is_floating_point() and buf.numel() > 1:
            student._buffers.pop(key)
            student.register_parameter(key, torch.nn.Parameter(buf.detach().clone()))
            params.append(getattr(student, key))
    if a.generate:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from recover_bench import digit_images

        x = torch.from_numpy(digit_images(a.generate, a.size, 7, "test")[0])
    else:
        z = np.load(a.calibration)
        x = torch.from_numpy(z[z.files[0]].astype(np.float32))
    n_fit = len(x) * 3 // 4
    fit, held = x[:n_fit], x[n_fit:]

    def flat(mod: torch.nn.Module, xs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat(
                [torch.cat([o.reshape(len(b), -1) for o in mod(b)], 1) for b in xs.split(64)]
            )

    t_fit, t_held = flat(teacher, fit), flat(teacher, held)

    def cosine(xs: torch.Tensor, ts: torch.Tensor) -> float:
        getattr(student, tkey).fill_(1.0)
        return float(F.cosine_similarity(flat(student, xs).reshape(1, -1), ts.reshape(1, -1)))

    print(f"{n_sites} sites, {sum(q.numel() for q in params)} weights, {n_fit} training and "
          f"{len(held)} held-out images; all-ReLU before: held-out cosine "
          f"{cosine(held, t_held):.5f}", flush=True)  # fmt: skip
    opt = torch.optim.Adam(params, lr=a.lr)
    steps = n_fit // 32
    total = a.epochs * steps
    sched = (
        torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=total, pct_start=0.1)
        if a.onecycle
        else None
    )
    gen = torch.Generator().manual_seed(0)
    start, step = time.perf_counter(), 0
    for ep in range(a.epochs):
        order = torch.randperm(n_fit, generator=gen)
        for b in range(steps):
            xb = fit[order[b * 32 : (b + 1) * 32]]
            if a.augment == "shift":
                h, w = xb.shape[-2:]
                dy, dx = (int(v) for v in torch.randint(-(h // 8), h // 8 + 1, (2,), generator=gen))
                xb = torch.roll(xb, (dy, dx), (2, 3))
            t = min(1.0, step / (0.5 * total)) if a.blend else 1.0
            getattr(student, tkey).fill_(t)
            with torch.no_grad():
                want = torch.cat([o.reshape(len(xb), -1) for o in teacher(xb)], 1)
            got = torch.cat([o.reshape(len(xb), -1) for o in student(xb)], 1)
            loss = F.mse_loss(got, want)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            step += 1
        if ep % max(1, a.epochs // 8) == 0 or ep == a.epochs - 1:
            print(f"epoch {ep + 1}: t={t:.2f} held-out cosine {cosine(held, t_held):.5f}, "
                  f"training images {cosine(fit, t_fit):.5f} "
                  f"[{time.perf_counter() - start:.0f} s]", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
