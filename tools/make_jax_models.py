"""Make the JAX/Flax models as jax2tf writes them: the test model, and the README's sweep.

    python tools/make_jax_models.py             # tests/data/jax_acts, jax_spellings (~20 s)
    python tools/make_jax_models.py --only spellings
    python tools/make_jax_models.py --acts DIR  # the README's jax.nn table: 12 activations
                                                #   alone, poly and fixed batch (48 files)
    python tools/make_jax_models.py --sweep DIR # the README's jax2tf table, then for each:
                                                #   rewrite DIR/NAME -o out.onnx (no flags)

Needs jax, flax and tensorflow, which are not project extras: a venv with
``tensorflow-cpu==2.21.0 jax flax`` (measured with jax 0.10.2, flax 0.12.8).

Writes (committed, so the tests need no JAX):
    tests/data/jax_acts/    SavedModel from ``jax2tf.convert`` (a StableHLO module in one
                            XlaCallModule, jax2tf's only serialization since JAX 0.4.30),
                            batch polymorphic: input ``image`` [b, 16, 16, 3] NHWC, output
                            [b, 4]. Conv + SiLU, Conv + exact GELU (erfc lowered to guarded
                            polynomials), self-attention over the 64 positions with a key mask
                            (NaN and -inf fills broadcast to the batch's shape), Dense +
                            tanh-GELU (Flax's default), mean, Dense, sigmoid. Its reshapes
                            compute b*64 with UnsortedSegmentProd over segment ids [0, 0, -1].
    tests/data/jax_spellings/  the same way: input ``features`` [b, 8], five Dense(8) each into
                            one of jax.nn's elu, selu, softplus and mish, and x @ w into sigmoid
                            (XLA's spellings: selects around expm1, the logaddexp softplus with
                            its NaN guard, the logistic with a reshape inside), concatenated,
                            Dense(4).

``--sweep DIR`` writes, random weights, each as a SavedModel folder and the ``.tflite``
TensorFlow's converter makes of it: ``cnn_{poly,static}`` (Conv+SiLU, Conv+exact GELU,
Conv+tanh, Dense, sigmoid; 64x64 images), ``block_poly`` (token ids and a mask, embedding,
masked attention, tanh-GELU MLP, SiLU head, tanh), ``resnet_{poly,static}`` (BatchNorm, SiLU
residual blocks, ReLU, average pooling, softmax), ``vit_{poly,static}`` (patch embedding,
two pre-norm blocks, tanh GELU) and ``mixer_{poly,static}`` (token mixing with exact GELU,
channel mixing with ELU and softplus, tanh); ``poly`` has a polymorphic batch.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def _save(run: Any, specs: list[Any], poly: list[str] | None, out: Path, tflite: bool) -> None:
    """``run`` through jax2tf as the SavedModel ``out`` (and ``out.tflite``)."""
    import tensorflow as tf
    from jax.experimental import jax2tf

    fn = tf.function(
        jax2tf.convert(run, polymorphic_shapes=poly), autograph=False, input_signature=specs
    )
    shutil.rmtree(out, ignore_errors=True)
    module = tf.Module()
    module.fn = fn
    tf.saved_model.save(module, str(out), signatures=fn.get_concrete_function())
    if tflite:
        flat = tf.lite.TFLiteConverter.from_saved_model(str(out)).convert()
        out.with_suffix(".tflite").write_bytes(flat)


def _modules() -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    from flax import linen as nn

    class Acts(nn.Module):  # tests/data/jax_acts
        @nn.compact
        def __call__(self, x):  # type: ignore[no-untyped-def]
            x = nn.silu(nn.Conv(8, (3, 3), strides=2)(x))
            x = nn.gelu(nn.Conv(16, (3, 3))(x), approximate=False)
            t = x.reshape(x.shape[0], -1, 16)  # 64 positions
            keep = jnp.arange(t.shape[1]) % 5 != 4  # a key mask: every fifth position out
            t = t + nn.MultiHeadDotProductAttention(num_heads=2)(t, t, mask=keep[None, None, None])
            t = nn.gelu(nn.Dense(32)(t))
            return nn.sigmoid(nn.Dense(4)(t.mean(1)))

    class Spellings(nn.Module):  # tests/data/jax_spellings
        @nn.compact
        def __call__(self, x):  # type: ignore[no-untyped-def]
            acts = (jax.nn.elu, jax.nn.selu, jax.nn.softplus, jax.nn.mish)
            parts = [f(nn.Dense(8)(x)) for f in acts]  # a Dense each: no select shared
            # x @ w (not Dense): with a polymorphic batch its reshape lands inside the logistic
            w = self.param("w", nn.initializers.lecun_normal(), (8, 8))
            parts.append(jax.nn.sigmoid(x @ w))
            return nn.Dense(4)(jnp.concatenate(parts, axis=-1))

    class CNN(nn.Module):
        @nn.compact
        def __call__(self, x):  # type: ignore[no-untyped-def]
            x = nn.silu(nn.Conv(16, (3, 3), strides=2)(x))
            x = nn.gelu(nn.Conv(32, (3, 3), strides=2)(x), approximate=False)
            x = jnp.tanh(nn.Conv(32, (3, 3))(x))
            return nn.sigmoid(nn.Dense(10)(x.mean((1, 2))))

    class Block(nn.Module):
        @nn.compact
        def __call__(self, ids, mask):  # type: ignore[no-untyped-def]
            x = nn.Embed(1000, 64)(ids)
            h = nn.LayerNorm()(x)
            keep = mask[:, None, None, :].astype(bool)
            x = x + nn.MultiHeadDotProductAttention(num_heads=4)(h, h, mask=keep)
            h = nn.Dense(64)(nn.gelu(nn.Dense(256)(nn.LayerNorm()(x))))
            x = x + h
            return jnp.tanh(nn.Dense(2)(nn.swish(nn.Dense(64)(x))).mean(1))

    class ResBlock(nn.Module):
        c: int

        @nn.compact
        def __call__(self, x):  # type: ignore[no-untyped-def]
            h = nn.swish(nn.BatchNorm(use_running_average=True)(nn.Conv(self.c, (3, 3))(x)))
            h = nn.BatchNorm(use_running_average=True)(nn.Conv(self.c, (3, 3))(h))
            return nn.relu(h + x)

    class ResNet(nn.Module):
        @nn.compact
        def __call__(self, x):  # type: ignore[no-untyped-def]
            x = nn.Conv(16, (3, 3), strides=2)(x)
            x = ResBlock(16)(ResBlock(16)(nn.relu(nn.BatchNorm(use_running_average=True)(x))))
            x = nn.avg_pool(x, (2, 2), (2, 2)).mean((1, 2))
            return nn.softmax(nn.Dense(10)(x))

    class ViT(nn.Module):
        @nn.compact
        def __call__(self, x):  # type: ignore[no-untyped-def]
            x = nn.Conv(32, (4, 4), strides=4)(x)
            x = x.reshape(x.shape[0], -1, 32)
            x = x + self.param("pos", nn.initializers.normal(0.02), (1, x.shape[1], 32))
            for _ in range(2):
                x = x + nn.SelfAttention(num_heads=4)(nn.LayerNorm()(x))
                x = x + nn.Dense(32)(nn.gelu(nn.Dense(64)(nn.LayerNorm()(x))))
            return nn.Dense(10)(nn.LayerNorm()(x).mean(1))

    class Mixer(nn.Module):
        @nn.compact
        def __call__(self, x):  # type: ignore[no-untyped-def]
            x = nn.Conv(32, (4, 4), strides=4)(x)
            x = x.reshape(x.shape[0], -1, 32)
            y = nn.Dense(64)(nn.LayerNorm()(x).swapaxes(1, 2))
            x = x + nn.Dense(x.shape[1])(nn.gelu(y, approximate=False)).swapaxes(1, 2)
            y = nn.softplus(nn.Dense(32)(nn.elu(nn.Dense(64)(nn.LayerNorm()(x)))))
            return jnp.tanh(nn.Dense(10)((x + y).mean(1)))

    return {
        "acts": Acts,
        "spellings": Spellings,
        "cnn": CNN,
        "block": Block,
        "resnet": ResNet,
        "vit": ViT,
        "mixer": Mixer,
    }


def _make(name: str, module: Any, size: int, poly: bool, out: Path, tflite: bool) -> None:
    import jax
    import jax.numpy as jnp
    import tensorflow as tf

    m = module()
    if name == "block":
        ids = jnp.ones((1, 16), jnp.int32)
        params = m.init(jax.random.PRNGKey(0), ids, ids)
        specs = [tf.TensorSpec([None, None], tf.int32, name=n) for n in ("input_ids", "mask")]
        _save(lambda i, k: m.apply(params, i, k), specs, ["(b, s)", "(b, s)"], out, tflite)
        return
    if name == "spellings":  # features [b, 8]
        params = m.init(jax.random.PRNGKey(0), jnp.ones((1, 8)))
        spec = tf.TensorSpec([None, 8], tf.float32, name="features")
        _save(lambda x: m.apply(params, x), [spec], ["(b, 8)"], out, tflite)
        return
    params = m.init(jax.random.PRNGKey(0), jnp.ones((1, size, size, 3)))
    spec = tf.TensorSpec([None if poly else 1, size, size, 3], tf.float32, name="image")
    shape = [f"(b, {size}, {size}, 3)"] if poly else None
    _save(lambda x: m.apply(params, x), [spec], shape, out, tflite)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", type=Path, help="write the README table's models here")
    ap.add_argument("--only", nargs="+", choices=["acts", "spellings"], help="test models to write")
    ap.add_argument("--acts", type=Path, help="write the jax.nn activation table's models here")
    a = ap.parse_args()
    if a.acts is not None:
        a.acts.mkdir(parents=True, exist_ok=True)
        _activations(a.acts)
        return
    mods = _modules()
    if a.sweep is None:
        for name in a.only or ["acts", "spellings"]:
            out = DATA / f"jax_{name}"
            _make(name, mods[name], 16, True, out, tflite=False)
            size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
            print(f"wrote {out} ({size / 1024:.0f} KB)")
        return
    a.sweep.mkdir(parents=True, exist_ok=True)
    sizes = {"cnn": 64, "block": 0, "resnet": 32, "vit": 32, "mixer": 32}
    for name, size in sizes.items():
        for poly in (True, False) if name != "block" else (True,):
            out = a.sweep / f"{name}_{'poly' if poly else 'static'}"
            _make(name, mods[name], size, poly, out, tflite=True)
            print(f"wrote {out} and {out.with_suffix('.tflite').name}", flush=True)


def _activations(out: Path) -> None:
    """``--acts``: each of jax.nn's smooth activations alone, ``x @ w1 -> act -> @ w2`` (w1
    8x16, w2 16x4, seeded), batch polymorphic (``NAME_poly``) and fixed at 2 (``NAME_static``),
    each a SavedModel and the ``.tflite`` TensorFlow's converter makes of it: the README's
    jax.nn table (run ``rewrite FILE --dry-run`` on each)."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import tensorflow as tf

    acts = {
        "gelu_exact": lambda x: jax.nn.gelu(x, approximate=False),
        "gelu_tanh": lambda x: jax.nn.gelu(x, approximate=True),
        "silu": jax.nn.silu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh,
        "softplus": jax.nn.softplus, "log_sigmoid": jax.nn.log_sigmoid, "elu": jax.nn.elu,
        "celu": jax.nn.celu, "selu": jax.nn.selu, "mish": jax.nn.mish,
        "soft_sign": jax.nn.soft_sign,
    }  # fmt: skip
    rng = np.random.default_rng(0)
    w1 = rng.normal(size=(8, 16)).astype(np.float32)
    w2 = (rng.normal(size=(16, 4)) * 0.3).astype(np.float32)
    for name, f in acts.items():
        for poly in (True, False):
            dst = out / f"{name}_{'poly' if poly else 'static'}"
            spec = tf.TensorSpec([None if poly else 2, 8], tf.float32, name="x")
            _save(lambda x, f=f: f(x @ w1) @ w2, [spec], ["(b, 8)"] if poly else None, dst, True)
            print(f"wrote {dst} and {dst.with_suffix('.tflite').name}", flush=True)


if __name__ == "__main__":
    main()
