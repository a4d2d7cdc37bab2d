"""Make the JAX/Flax test model in tests/data/ (deterministic; ~15 s), as jax2tf writes it.

    python tools/make_jax_models.py     # needs jax, flax and tensorflow (not project extras:
                                        # a venv with tensorflow-cpu==2.21.0 jax flax)

Writes (committed, so the tests need no JAX):
    tests/data/jax_acts/    SavedModel from ``jax2tf.convert`` (a StableHLO module in one
                            XlaCallModule, jax2tf's only serialization since JAX 0.4.30),
                            batch polymorphic: input ``image`` [b, 16, 16, 3] NHWC, output
                            [b, 4]. Conv + SiLU, Conv + exact GELU (erfc lowered to guarded
                            polynomials), self-attention over the 64 positions with a key mask
                            (NaN and -inf fills broadcast to the batch's shape), Dense +
                            tanh-GELU (Flax's default), mean, Dense, sigmoid. Its reshapes
                            compute b*64 with UnsortedSegmentProd over segment ids [0, 0, -1].
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def main() -> None:
    import jax
    import jax.numpy as jnp
    import tensorflow as tf
    from flax import linen as nn
    from jax.experimental import jax2tf

    class Acts(nn.Module):
        @nn.compact
        def __call__(self, x):  # type: ignore[no-untyped-def]
            x = nn.silu(nn.Conv(8, (3, 3), strides=2)(x))
            x = nn.gelu(nn.Conv(16, (3, 3))(x), approximate=False)
            t = x.reshape(x.shape[0], -1, 16)  # 64 positions
            keep = jnp.arange(t.shape[1]) % 5 != 4  # a key mask: every fifth position out
            t = t + nn.MultiHeadDotProductAttention(num_heads=2)(t, t, mask=keep[None, None, None])
            t = nn.gelu(nn.Dense(32)(t))
            return nn.sigmoid(nn.Dense(4)(t.mean(1)))

    model = Acts()
    params = model.init(jax.random.PRNGKey(0), jnp.ones((1, 16, 16, 3)))

    def run(x):  # type: ignore[no-untyped-def]
        return model.apply(params, x)

    spec = tf.TensorSpec([None, 16, 16, 3], tf.float32, name="image")
    fn = tf.function(
        jax2tf.convert(run, polymorphic_shapes=["(b, 16, 16, 3)"]),
        autograph=False,
        input_signature=[spec],
    )
    out = DATA / "jax_acts"
    shutil.rmtree(out, ignore_errors=True)
    module = tf.Module()
    module.fn = fn
    tf.saved_model.save(module, str(out), signatures=fn.get_concrete_function())
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out} ({size / 1024:.0f} KB; jax {jax.__version__}, tf {tf.__version__})")


if __name__ == "__main__":
    main()
