"""PAU: gradients, half types, torch.compile, to_rational."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rewriter.rational import PAU, fit, table_rational
from rewriter.rational.torch_pau import pau_forward


@pytest.mark.parametrize(
    "name,deg",
    [
        ("gelu", (5, 4)),
        ("softplus", (4, 3)),
        ("tanh", (5, 4)),
        ("leaky_relu", (3, 2)),
        ("mish", (5, 4)),
    ],
)
def test_gradcheck_float64(name: str, deg: tuple[int, int]) -> None:
    r = table_rational(name, deg)
    m = PAU(r, dtype=torch.float64)
    with torch.no_grad():  # |q| is not differentiable at 0: move tiny coefficients off it
        m.q[m.q.abs() < 1e-4] = 1e-2
    # points away from clamp knots and relu kinks, where F is not differentiable; beyond a
    # pinned clamp F is the exact limit, clipped, whatever the coefficients (gradient 0)
    lo, hi = -6.13, 5.87
    if r.r_clip is not None and r.clamp is not None:
        c_lo, c_hi = (v / r.s for v in r.clamp)
        if r.parity == "abs":
            c_lo = -c_hi
        lo = max(lo, 0.9 * c_lo) if c_lo < 0 else lo
        hi = min(hi, 0.9 * c_hi) if c_hi > 0 else hi
    xs = np.linspace(lo, hi, 23)
    xs[np.abs(xs) < 0.05] += 0.1
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, p, q: pau_forward(x, p, q, r), (x, m.p, m.q), eps=1e-6, atol=1e-6
    )


def test_gradcheck_pau_b_module() -> None:
    r = fit("silu", -4, 4, (3, 3), "pau_b")
    m = PAU(r).double()
    x = torch.linspace(-3.9, 3.7, 17, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,), eps=1e-6, atol=1e-6)
    m(x).sum().backward()
    assert m.p.grad is not None and m.q.grad is not None


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_half_types(dtype: torch.dtype) -> None:
    r = table_rational("gelu", (5, 4))
    x = torch.linspace(-10, 10, 1001)
    y = PAU(r)(x.to(dtype))
    assert y.dtype == dtype
    ref = torch.nn.functional.gelu(x)
    tol = {torch.float16: 1e-2, torch.bfloat16: 8e-2}.get(dtype, 1e-3)
    assert torch.allclose(y.float(), ref, atol=tol, rtol=tol)


def test_torch_compile_matches_eager() -> None:
    m = PAU(table_rational("silu", (5, 4)))
    x = torch.randn(64, 33, generator=torch.Generator().manual_seed(0)) * 6
    x[0, :3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    eager = m(x)
    compiled = torch.compile(m, fullgraph=True)(x)
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-5, equal_nan=True)


def test_to_rational_after_training() -> None:
    r = table_rational("tanh", (5, 4))
    m = PAU(r, dtype=torch.float64)
    r0 = m.to_rational()
    assert np.array_equal(r0.p, r.p) and np.array_equal(r0.q, r.q)
    with torch.no_grad():
        m.p.mul_(1.01)
    r1 = m.to_rational()
    assert not np.array_equal(r1.p, r.p)
    x = np.linspace(-5, 5, 101)
    np.testing.assert_allclose(r1(x), m(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)
    assert r1.global_error > r.global_error
