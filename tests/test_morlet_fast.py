"""scatnet's batched Morlet scattering (frontend.impl=fast) against kymatio 0.3.0 on the same input: forward
and input gradient, float64 to 1e-10 and fp32 to what fp32 allows; nothing read from the host; the hybrid
trains to the same accuracy."""
from __future__ import annotations

import pytest
import torch

from scatnet.frontends.morlet import MorletScattering
from tests.test_cuda_graph import host_ops_in_training_pass

CASES = [(L, size, batch) for L in (6, 8) for size in (32, 64) for batch in (1, 3)]


def _pair(L: int, size: int, dtype=torch.float32):
    return (MorletScattering(L, size, impl="kymatio").to(dtype), MorletScattering(L, size, impl="fast").to(dtype))


@pytest.mark.parametrize("L,size,batch", CASES)
def test_forward_equals_kymatio(L, size, batch):
    gen = torch.Generator().manual_seed(L * size + batch)
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
        ref, fast = _pair(L, size, dtype)
        x = torch.randn(batch, 3, size, size, generator=gen, dtype=dtype)
        with torch.no_grad():
            expected, got = ref(x), fast(x)
        assert got.shape == expected.shape == (batch, 3 * (1 + 2 * L + L * L), size // 4, size // 4)
        err = float((got - expected).abs().max())
        assert err <= tol, (dtype, err)  # measured: float64 2e-16, fp32 1e-7 (values of order 1)


@pytest.mark.parametrize("L", [6, 8])
def test_input_gradient_equals_kymatios_autograd(L):
    gen = torch.Generator().manual_seed(L)
    ref, fast = _pair(L, 32, torch.float64)
    x = torch.randn(2, 3, 32, 32, generator=gen, dtype=torch.float64)
    g = torch.randn(2, 3 * (1 + 2 * L + L * L), 8, 8, generator=gen, dtype=torch.float64)
    grads = []
    for module in (ref, fast):
        xi = x.clone().requires_grad_(True)
        (module(xi) * g).sum().backward()
        grads.append(xi.grad)
    assert float((grads[0] - grads[1]).abs().max()) <= 1e-10
    # fp32 against the float64 truth, beside kymatio's own fp32 gradient: the same order of error
    errs = []
    for module in _pair(L, 32, torch.float32):
        xi = x.float().requires_grad_(True)
        (module(xi) * g.float()).sum().backward()
        errs.append(float((xi.grad.double() - grads[0]).abs().max()))
    assert errs[1] <= max(4 * errs[0], 1e-5), errs  # measured: both ~1e-6 (gradients of order 1)


def test_backward_holds_only_the_input():
    """The transform is recomputed in backward: what autograd keeps besides the input is nothing."""
    from scatnet.bench.measure import memory_held_for_backward

    ref, fast = _pair(8, 32)
    x = torch.randn(4, 3, 32, 32)
    held_ref = memory_held_for_backward(ref, x)["mem_bytes"]
    held_fast = memory_held_for_backward(fast, x)["mem_bytes"]
    assert held_ref > 1_000_000 and held_fast <= held_ref / 4, (held_ref, held_fast)


def test_reads_nothing_from_the_host():
    for grad in (False, True):
        watch = host_ops_in_training_pass(MorletScattering(8, 32, impl="fast"), torch.zeros(2, 3, 32, 32), grad)
        assert watch.host_ops == [], grad


def test_the_fast_morlet_hybrid_trains_to_the_kymatio_hybrids_accuracy(tmp_path):
    from scatnet.training.run import train
    from tests.conftest import compose

    acc = {}
    for impl in ("kymatio", "fast"):
        cfg = compose(["experiment=quickstart", "trainer=cpu", "frontend=morlet6", f"frontend.impl={impl}",
                       "trainer.max_epochs=4", "model.width=16"], tmp_path / impl)
        m = train(cfg)
        assert m["status"] == "completed" and m["config"]["frontend"]["impl"] == impl
        acc[impl] = m["test_acc"]
    assert acc["kymatio"] > 20.0 and abs(acc["fast"] - acc["kymatio"]) <= 1.0, acc
