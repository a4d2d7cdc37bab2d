"""plan_module / rewrite(module, target=...): a torch module planned on measured latencies."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rewriter
from rewriter.errors import UsageError
from rewriter.frontends.fx import ModulePlan, plan_module
from rewriter.rational import PAU


def _paus(gm: nn.Module) -> list[str]:
    return [n for n, m in gm.named_modules() if isinstance(m, PAU)]


def _check_rules(p: ModulePlan) -> None:
    """What the decision rule guarantees, whatever the timings."""
    assert p.decisions
    for d in p.decisions:
        assert d.reason, d
        assert d.decision in ("replace", "keep", "backed-off")
        if d.decision == "replace":
            assert d.ratio_ci is not None and d.ratio_ci[0] > 1.0  # speed-up CI above 1
    replaced = {d.name for d in p.replaced}
    assert len(_paus(p.module)) == len(replaced)
    if replaced:
        assert p.whole is not None and p.whole.faster
    for name in p.backed_off:
        assert next(d for d in p.decisions if d.name == name).decision == "backed-off"


def test_plan_mish_mlp_outputs_within_rational_error() -> None:
    torch.manual_seed(0)
    # Mish on a large activation (a rational can pay in eager: x1.2 measured on one thread),
    # GELU on a tiny one (its 17-op rational cannot)
    m = nn.Sequential(nn.Mish(), nn.Linear(2048, 8), nn.GELU(), nn.Linear(8, 4)).eval()
    x = torch.randn(64, 2048)
    lines: list[str] = []
    p = plan_module(m, (x,), "torch-eager", time_cap=0.5, progress=lines.append)
    _check_rules(p)
    assert [d.name for d in p.decisions] == ["mish_0", "gelu_0"]
    assert len(lines) >= 2
    assert p.to_dict()["target"] == "torch-eager"
    with torch.no_grad():
        ref, out = m(x), p.module(x)
    # each replaced activation is within its rational's error; the Linears scale it by at
    # most the largest row sum of |W| (x lies well inside the global range)
    bound = 1e-4
    w1, w2 = m[1].weight.abs().sum(1).max().item(), m[3].weight.abs().sum(1).max().item()
    err = {d.name: d.error for d in p.replaced}
    if "mish_0" in err:
        bound += err["mish_0"] * w1 * max(1.0, w2)
    if "gelu_0" in err:
        bound += err["gelu_0"] * w2
    assert (out - ref).abs().max().item() <= bound
    assert torch.get_num_threads() >= 1


def test_sites_that_do_not_pay_are_kept() -> None:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(8, 8), nn.GELU(), nn.Linear(8, 2)).eval()
    x = torch.randn(2, 8)
    threads = torch.get_num_threads()
    p = plan_module(m, (x,), "torch-eager", time_cap=0.3)
    assert torch.get_num_threads() == threads  # restored after measuring on one thread
    _check_rules(p)
    (d,) = p.decisions
    assert d.decision == "keep" and "not faster beyond noise" in d.reason
    assert _paus(p.module) == [] and p.whole is None
    with torch.no_grad():
        assert torch.equal(p.module(x), m(x))


def test_rewrite_module_with_target_returns_planned_graph_module() -> None:
    m = nn.Sequential(nn.Linear(8, 8), nn.GELU(), nn.Linear(8, 2)).eval()
    x = torch.randn(2, 8)
    gm = rewriter.rewrite(m, target="torch-eager", example_inputs=(x,), time_cap=0.3)
    assert isinstance(gm, torch.fx.GraphModule) and _paus(gm) == []
    every = rewriter.rewrite(m, example_inputs=(x,))  # no target: every site, as before
    assert len(_paus(every)) == 1


def test_max_site_error_keeps_the_site_unmeasured() -> None:
    m = nn.Sequential(nn.Mish(), nn.Linear(16, 2))
    p = plan_module(m, torch.randn(4, 16), max_site_error=0.0)
    (d,) = p.decisions
    assert d.decision == "keep" and "error" in d.reason and d.ratio_ci is None


@pytest.mark.parametrize("target", ["ort-cpu", "openvino-cpu:threads=1"])
def test_non_torch_target_for_a_module_is_a_usage_error(target: str) -> None:
    m = nn.Sequential(nn.Linear(4, 4), nn.GELU())
    msg = (
        "a torch module is planned on torch-eager or torch-inductor; "
        "export to ONNX for ort-cpu/openvino-cpu"
    )
    with pytest.raises(UsageError) as e:
        rewriter.rewrite(m, target=target, example_inputs=(torch.randn(1, 4),))
    assert str(e.value) == msg
    with pytest.raises(UsageError, match="torch-eager or torch-inductor"):
        plan_module(m, (torch.randn(1, 4),), target)


def test_target_without_example_inputs_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="example_inputs"):
        rewriter.rewrite(nn.GELU(), target="torch-eager")


def test_plan_on_inductor_measures_the_compiled_module() -> None:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Mish(), nn.Linear(512, 8)).eval()
    x = torch.randn(32, 512)
    p = plan_module(m, (x,), "torch-inductor", time_cap=0.3)
    assert p.target == "torch-inductor"
    _check_rules(p)
    with torch.no_grad():
        err = p.decisions[0].error if p.replaced else 0.0
        bound = 1e-4 + err * m[1].weight.abs().sum(1).max().item()
        assert (p.module(x) - m(x)).abs().max().item() <= bound
