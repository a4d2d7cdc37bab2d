"""What ``--recover`` buys on trained nets: speed paid for with retraining (issue #12 section 4).

    python tools/recover_bench.py OUTDIR [--seconds 20] [--models mobilenet_hswish,yolo_silu]

For the zoo's MobileNetV3-small-like net (``mobilenet_hswish``, HardSwish/SiLU) and YOLO-like
SiLU detector (``yolo_silu``), and a wider variant of each (same family: same op types and site
functions), this

1. trains the net for ``--seconds`` on a task made from scikit-learn's bundled digits (8x8
   digits scaled 3-5x and placed at random in a noisy 96x96 (MobileNet) or 128x128 (YOLO)
   colour image): classification for MobileNet; for YOLO an objectness heat map (1 at the
   digit's stride-16 cell) plus the cell offset, size and class bits (4) at that cell, through
   its Sigmoid output. Random weights make activations nearly interchangeable; trained ones do
   not.
2. exports it to ONNX (tools/zoo.py's exporters, dynamic batch) and writes a calibration .npz of
   ``--samples`` images of digits the training never saw (batches of 32 run; the whole-model
   speed is measured on one such batch).
3. runs the CLI on ``ort-cpu:threads=1`` three ways: (a) ``--min-cosine 0.999`` (rationals
   only), (b) ``... --allow-standard``, (c) ``... --allow-standard --recover``, and prints one
   table row per plan: sites replaced, held-out cosine before/after retraining, retraining
   runs, measured whole-model speed-up with its 95% CI.
4. learned ordering: runs (c) on the wider variant with a fresh database and with the database
   the narrow model's run wrote, and prints both retraining-run counts.
5. the headroom: ``rewrite bench --headroom`` (every site of the pipeline replaced by ReLU,
   fused into the Conv where ONNX Runtime can) against the original on one calibration batch.

Writes OUTDIR/results.json and OUTDIR/table.md. Timings are one thread of this machine;
everything is seeded, but retraining and timing are not bit-reproducible across machines.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zoo  # noqa: E402  (tools/zoo.py)

TARGET = "ort-cpu:threads=1"
COSINE = "0.999"

# name -> (kind, width, image size); the second of a kind is "a model of the same family"
# pau_all covers the smooth activations; HardSwish and HardSigmoid sites need their pipelines
MODELS = {
    "mobilenet_hswish": ("mobilenet", 1.0, 96),
    "mobilenet_hswish_wide": ("mobilenet", 1.5, 96),
    "yolo_silu": ("yolo", 1, 128),
    "yolo_silu_wide": ("yolo", 2, 128),
}
PIPELINE = {
    "mobilenet": "pau_all,pau_hardswish,pau_hardsigmoid",
    "yolo": "pau_all",
}
FAMILY = {"mobilenet_hswish": "mobilenet_hswish_wide", "yolo_silu": "yolo_silu_wide"}


def digit_images(
    n: int, size: int, seed: int, part: str = "train"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` images [n, 3, size, size] of sklearn digits (first 1400 for "train", the other 397
    for "test", drawn with replacement), their labels, and boxes (cx, cy, side) in pixels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs, labels = d.images.astype(np.float32) / 16.0, d.target
    pool = np.arange(1400) if part == "train" else np.arange(1400, len(labels))
    rng = np.random.default_rng(seed)
    out = rng.normal(0.0, 0.1, (n, 3, size, size)).astype(np.float32)
    out += rng.uniform(-0.3, 0.3, (n, 3, 1, 1)).astype(np.float32)  # background tint
    lab = np.empty(n, np.int64)
    boxes = np.empty((n, 3), np.float32)
    for i in range(n):
        k = int(rng.choice(pool))
        s = int(rng.integers(3, 6))
        big = np.kron(imgs[k], np.ones((s, s), np.float32))
        side = big.shape[0]
        y, x = rng.integers(0, size - side + 1, 2)
        colour = rng.uniform(0.5, 1.5, 3).astype(np.float32)
        out[i, :, y : y + side, x : x + side] += colour[:, None, None] * big
        lab[i] = labels[k]
        boxes[i] = (x + side / 2, y + side / 2, side)
    return out, lab, boxes


def yolo_targets(labels: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """[n, 9, size/16, size/16]: channel 0 objectness (1 at the digit's cell), at that cell 1-2
    the centre's offset in the cell, 3 the side / 64, 5-8 the class's four bits."""
    g = size // 16
    t = np.zeros((len(labels), 9, g, g), np.float32)
    for i, ((cx, cy, side), c) in enumerate(zip(boxes, labels, strict=True)):
        gx, gy = min(int(cx // 16), g - 1), min(int(cy // 16), g - 1)
        t[i, 0, gy, gx] = 1.0
        t[i, 1, gy, gx] = cx / 16 - gx
        t[i, 2, gy, gx] = cy / 16 - gy
        t[i, 3, gy, gx] = side / 64
        t[i, 4, gy, gx] = 1.0
        t[i, 5:, gy, gx] = [(c >> b) & 1 for b in range(4)]
    return t


def train(name: str, seconds: float, seed: int = 0) -> tuple[object, dict]:
    """The named net trained for ``seconds`` on its digits task; returns it and its metrics on
    unseen digits."""
    import torch

    kind, width, size = MODELS[name]
    torch.manual_seed(seed)
    torch.set_num_threads(1)  # the machine may be shared: one thread runs steadiest
    net = zoo.mobilenet_module(width) if kind == "mobilenet" else zoo.yolo_module(int(width))
    x, y, b = digit_images(3000, size, seed)
    xt = torch.from_numpy(x)
    if kind == "mobilenet":
        yt = torch.from_numpy(y)
    else:
        yt = torch.from_numpy(yolo_targets(y, b, size))
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    net.train()
    t0, steps = time.perf_counter(), 0
    rng = np.random.default_rng(seed)
    while time.perf_counter() - t0 < seconds:
        idx = torch.from_numpy(rng.integers(0, len(xt), 32))
        frac = min(1.0, (time.perf_counter() - t0) / seconds)
        for group in opt.param_groups:  # cosine decay over the time budget
            group["lr"] = 2e-3 * 0.5 * (1 + np.cos(np.pi * frac))
        out = net(xt[idx])
        if kind == "mobilenet":
            loss = torch.nn.functional.cross_entropy(out, yt[idx])
        else:
            tgt = yt[idx]
            w = 1.0 + 20.0 * tgt[:, 4:5]  # the object's cell weighs as much as the background
            loss = (w * (out - tgt) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    net.eval()
    xv, yv, bv = digit_images(400, size, seed + 1, "test")
    with torch.no_grad():
        out = net(torch.from_numpy(xv)).numpy()
    if kind == "mobilenet":
        metric = {"accuracy": float((out.argmax(1) == yv).mean())}
    else:
        g = size // 16
        cell = out[:, 0].reshape(len(out), -1).argmax(1)
        want = [min(int(cy // 16), g - 1) * g + min(int(cx // 16), g - 1) for cx, cy, _ in bv]
        bits = (out[np.arange(len(out)), 5:, cell // g, cell % g] > 0.5).astype(int)
        cls = (bits * (1 << np.arange(4))).sum(1)
        metric = {
            "cell_accuracy": float((cell == np.array(want)).mean()),
            "class_accuracy": float(((cell == np.array(want)) & (cls == yv)).mean()),
        }
    metric.update(steps=steps, seconds=round(time.perf_counter() - t0, 1))
    return net, metric


def prepare(name: str, outdir: str, seconds: float, samples: int) -> tuple[str, str, dict]:
    """Train, export, write the calibration .npz; returns (model, calibration, metrics)."""
    kind, _, size = MODELS[name]
    net, metric = train(name, seconds)
    path = os.path.join(outdir, f"{name}.onnx")
    if kind == "mobilenet":
        zoo.export_mobilenet(net, path, size)
        inp = "images"
    else:
        zoo.export_yolo(net, path)
        inp = "images"
    x, y, _ = digit_images(samples, size, 1234, "test")
    cal = os.path.join(outdir, f"{name}_cal.npz")
    np.savez(cal, **{inp: x, "labels": y})
    return path, cal, metric


def rewrite(model: str, cal: str, out: str, db: str, *extra: str) -> tuple[dict, float]:
    """One CLI run; returns its report and wall seconds."""
    from rewriter.cli import main

    rep = out.replace(".onnx", ".json")
    kind = "mobilenet" if "mobilenet" in os.path.basename(model) else "yolo"
    argv = [model, "-p", PIPELINE[kind], "--target", TARGET, "--calibration", cal]
    argv += ["--min-cosine", COSINE, "--db", db, "-o", out, "--report", rep, "-q", *extra]
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    wall = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"rewrite failed ({code}): {' '.join(argv)}")
    return json.load(open(rep)), wall


def row(model: str, plan: str, r: dict, wall: float) -> dict:
    """The table's row from one report."""
    p = r["plan"]
    rec = p.get("recover") or {}
    sites = r.get("sites", [])
    replaced = [s for s in sites if s.get("replaced")]
    budget = p.get("budget") or {}
    before = (rec.get("before_retraining") or {}).get("cosine")
    after = (rec.get("after_retraining") or {}).get("cosine")
    verified = (budget.get("verified") or {}).get("cosine")
    whole = p.get("whole") or {}
    kinds: dict[str, int] = {}
    for d in p.get("decisions", []):
        if d.get("decision") == "replace":
            kinds[d["candidate"]["name"]] = kinds.get(d["candidate"]["name"], 0) + 1
    return {
        "model": model,
        "plan": plan,
        "sites": len(sites),
        "replaced": len(replaced),
        "replacements": kinds,
        "cosine_before": before if before is not None else verified,
        "cosine_after": after,
        "verified_cosine": verified,
        "within_budget": budget.get("within_budget"),
        "runs": rec.get("retraining_runs", 0),
        "skipped": len(rec.get("skipped_from_earlier_runs", [])),
        "speedup": whole.get("speedup"),
        "speedup_lo": whole.get("speedup_lo"),
        "speedup_hi": whole.get("speedup_hi"),
        "original_ms": whole.get("original_ms"),
        "rewritten_ms": whole.get("rewritten_ms"),
        "wall_s": round(wall, 1),
    }


def headroom(model: str, cal: str, outdir: str) -> dict:
    """``rewrite bench --headroom``: the original against every site of the pipeline replaced
    by ReLU (fused into the Conv where ONNX Runtime can), on one calibration batch of 32."""
    from rewriter.cli import main

    name = os.path.basename(model).replace(".onnx", "")
    kind = "mobilenet" if "mobilenet" in name else "yolo"
    feeds = os.path.join(outdir, f"{name}_batch.npz")
    with np.load(cal) as d:
        np.savez(feeds, images=d["images"][:32])
    rep = os.path.join(outdir, f"{name}_headroom.json")
    argv = ["bench", model, "--headroom", "-p", PIPELINE[kind], "--target", TARGET]
    argv += ["--inputs", feeds, "--json", rep, "--time-cap", "20"]
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    if code != 0:
        return {"error": f"rewrite bench failed ({code})"}
    c = json.load(open(rep))["comparison"]
    base = [k for k in c["stats"] if k.startswith("A ")][0]
    lim = c["ratios"]["ReLU limit"]
    return {
        "relu_speedup": lim["speedup"],
        "relu_lo": 1.0 / lim["hi"],
        "relu_hi": 1.0 / lim["lo"],
        "relu_min_ratio": c["stats"][base]["min"] / c["stats"]["ReLU limit"]["min"],
        "original_ms": c["stats"][base]["median"] * 1e3,
        "relu_ms": c["stats"]["ReLU limit"]["median"] * 1e3,
    }


def augment_sweep(
    model: str, cal: str, epochs: list[int], sites: list[str] | None = None
) -> list[dict]:
    """Every SiLU/HardSwish site (or only ``sites``) -> ReLU, retrained (``--train all``) on
    the fit batches with ``augment`` none, mixup and shift for each of ``epochs`` (patience
    max(3, epochs/15)); the cosine before and after on the held-out batches (every 4th batch of
    32, as ``--recover`` holds out) and, after, on the fit batches."""
    import onnx

    from rewriter.candidates import Candidate
    from rewriter.cost.bench import relu_model
    from rewriter.emit import emit_result
    from rewriter.tune.e2e import finetune_e2e
    from rewriter.tune.refit import compare_over

    name = os.path.basename(model).replace(".onnx", "")
    kind = "mobilenet" if "mobilenet" in name else "yolo"
    m = onnx.load(model)
    with np.load(cal) as d:
        x = d["images"]
    batches = [{"images": x[i : i + 32]} for i in range(0, len(x), 32)]
    fit = [b for i, b in enumerate(batches) if i % 4 != 3]
    held = [b for i, b in enumerate(batches) if i % 4 == 3]
    # HardSigmoid gates (squeeze-excite) stay: a ReLU gate is not a candidate for them
    pipeline = PIPELINE[kind].replace(",pau_hardsigmoid", "")
    if sites:
        relu = Candidate("standard", "standard:relu", op="relu")
        student = emit_result(m, dict.fromkeys(sites, relu), pipeline).model
    else:
        student = relu_model(m, pipeline)
    what = ", ".join(sites) if sites else "all"
    (before,) = compare_over(m, [student], held)
    rows = []
    for ep in epochs:
        for aug in ("none", "mixup", "shift"):
            t0 = time.perf_counter()
            tuned, hist = finetune_e2e(
                student, m, fit, train="all", epochs=ep, patience=max(3, ep // 15), augment=aug
            )
            (after,) = compare_over(m, [tuned], held)
            (on_fit,) = compare_over(m, [tuned], fit)
            rows.append(
                {
                    "model": name,
                    "relu": what,
                    "epochs": ep,
                    "augment": aug,
                    "epochs_run": len(hist),
                    "cosine_before": before.cosine,
                    "cosine_after": after.cosine,
                    "fit_cosine_after": on_fit.cosine,
                    "seconds": round(time.perf_counter() - t0, 1),
                }
            )
            print(
                f"{name}: ReLU at {what}, {ep} epochs, augment {aug}: held-out cosine "
                f"{before.cosine:.5f} -> {after.cosine:.5f} (fit data {on_fit.cosine:.5f}; "
                f"{len(hist)} epochs run, {rows[-1]['seconds']} s)",
                flush=True,
            )
    return rows


def fmt(v: float | None, spec: str = ".5f") -> str:
    return "-" if v is None else format(v, spec)


def table(rows: list[dict]) -> str:
    head = (
        "| model | plan | sites replaced | held-out cosine before retraining | after retraining "
        "| retraining runs | whole-model speed-up (95% CI) |"
    )
    lines = [head, "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        su = (
            "-"
            if r["speedup"] is None
            else f"{r['speedup']:.2f}x ({r['speedup_lo']:.2f}-{r['speedup_hi']:.2f})"
        )
        kinds = ", ".join(f"{v} {k}" for k, v in sorted(r["replacements"].items()))
        lines.append(
            f"| {r['model']} | {r['plan']} | {r['replaced']}/{r['sites']}"
            f"{f' ({kinds})' if kinds else ''} | {fmt(r['cosine_before'])} "
            f"| {fmt(r['cosine_after'])} | {r['runs']} | {su} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("outdir")
    p.add_argument("--seconds", type=float, default=60.0, help="training time per net")
    p.add_argument("--samples", type=int, default=320, help="calibration images")
    p.add_argument("--models", default="mobilenet_hswish,yolo_silu")
    p.add_argument("--plans", default="a,b,c", help="which of (a) (b) (c) to run")
    p.add_argument("--no-family", action="store_true", help="skip the learned-ordering runs")
    p.add_argument("--reuse", action="store_true", help="reuse OUTDIR's trained models")
    p.add_argument(
        "--augment",
        choices=("none", "mixup", "shift"),
        default="none",
        help="(c)'s retraining inputs",
    )
    p.add_argument(
        "--schedule",
        choices=("constant", "onecycle"),
        default="constant",
        help="(c)'s retraining rate",
    )
    p.add_argument(
        "--sweep-sites",
        default="",
        help="with --augment-sweep: replace only these sites (e.g. silu_0), not all",
    )
    p.add_argument(
        "--augment-sweep",
        default="",
        help="epochs, e.g. 30,150: also retrain each net's all-ReLU model with --augment none, "
        "mixup and shift and print the held-out cosines",
    )
    a = p.parse_args(argv)
    os.makedirs(a.outdir, exist_ok=True)
    results: dict = {"rows": [], "family": [], "headroom": {}, "training": {}}
    plans = {
        "a": ("(a) rationals only", []),
        "b": ("(b) --allow-standard", ["--allow-standard"]),
        "c": ("(c) --allow-standard --recover", ["--allow-standard", "--recover"]),
    }
    if a.augment != "none":
        plans["c"] = (
            f"(c) ... --recover --augment {a.augment}",
            [*plans["c"][1], "--augment", a.augment],
        )
    if a.schedule != "constant":
        label, extra = plans["c"]
        plans["c"] = (f"{label} --schedule {a.schedule}", [*extra, "--schedule", a.schedule])
    for name in a.models.split(","):
        names = [name] + ([] if a.no_family else [FAMILY[name]])
        prepared = {}
        for n in names:
            if a.reuse and os.path.exists(os.path.join(a.outdir, f"{n}.onnx")):
                path = os.path.join(a.outdir, f"{n}.onnx")
                cal, metric = path.replace(".onnx", "_cal.npz"), {"reused": True}
            else:
                path, cal, metric = prepare(n, a.outdir, a.seconds, a.samples)
            prepared[n] = (path, cal)
            results["training"][n] = metric
            print(f"{n}: trained {metric}", flush=True)
        path, cal = prepared[name]
        shared = os.path.join(a.outdir, f"{name}_shared.sqlite")
        for key in [k for k in a.plans.split(",") if k]:
            label, extra = plans[key]
            db = shared if key == "c" else os.path.join(a.outdir, f"{name}_{key}.sqlite")
            out = os.path.join(a.outdir, f"{name}_{key}.onnx")
            r, wall = rewrite(path, cal, out, db, *extra)
            results["rows"].append(row(name, label, r, wall))
            print(table(results["rows"][-1:]).splitlines()[-1], f"[{wall:.0f} s]", flush=True)
        if a.augment_sweep:
            results.setdefault("augment_sweep", []).extend(
                augment_sweep(
                    path,
                    cal,
                    [int(e) for e in a.augment_sweep.split(",")],
                    [x for x in a.sweep_sites.split(",") if x] or None,
                )
            )
        for n, (pth, cl) in prepared.items():
            results["headroom"][n] = headroom(pth, cl, a.outdir)
            print(f"{n}: every site ReLU (rewrite bench --headroom): {results['headroom'][n]}")
        if a.no_family:
            continue
        wide = FAMILY[name]
        wpath, wcal = prepared[wide]
        fresh = os.path.join(a.outdir, f"{wide}_fresh.sqlite")
        rf, wf = rewrite(wpath, wcal, os.path.join(a.outdir, f"{wide}_fresh.onnx"), fresh,
                         "--allow-standard", "--recover")  # fmt: skip
        copy = os.path.join(a.outdir, f"{wide}_shared.sqlite")
        shutil.copyfile(shared, copy)  # the narrow model's trials (and latencies)
        rs, ws = rewrite(wpath, wcal, os.path.join(a.outdir, f"{wide}_shared.onnx"), copy,
                         "--allow-standard", "--recover")  # fmt: skip
        fam = {
            "model": wide,
            "after": name,
            "fresh": row(wide, "(c) fresh --db", rf, wf),
            "shared": row(wide, f"(c) --db shared with {name}", rs, ws),
        }
        results["family"].append(fam)
        print(
            f"{wide}: retraining runs with a fresh --db {fam['fresh']['runs']}, with {name}'s "
            f"--db {fam['shared']['runs']} (skipped {fam['shared']['skipped']} site candidate(s))",
            flush=True,
        )
    rows = results["rows"] + [r for f in results["family"] for r in (f["fresh"], f["shared"])]
    md = table(rows)
    print()
    print(md)
    open(os.path.join(a.outdir, "table.md"), "w").write(md + "\n")
    json.dump(results, open(os.path.join(a.outdir, "results.json"), "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
