"""The Table 1.3 networks: layer widths, Tiny ImageNet variant, init, no-grad front end."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from scatnet.frontends import DTCWTScattering, MorletScattering
from scatnet.models import HybridNet

pytestmark = pytest.mark.numerics  # trains or compares floats


def convs(net):
    return [m for m in net.body if isinstance(m, nn.Conv2d)]


def test_cifar_hybrid_matches_table_1_3():
    net = HybridNet(DTCWTScattering(), num_classes=10)
    assert [(c.in_channels, c.out_channels) for c in convs(net)] == [(147, 192), (192, 192), (192, 384), (384, 384)]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) and c.bias is None for c in convs(net))
    assert isinstance(net.body[0], nn.BatchNorm2d) and net.body[0].num_features == 147
    assert not any(isinstance(m, nn.Dropout) for m in net.modules())
    assert net.fc.in_features == 384 and net.fc.out_features == 10
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_morlet8_hybrid_takes_243_channels():
    net = HybridNet(MorletScattering(L=8, image_size=32), num_classes=100)
    assert convs(net)[0].in_channels == 243
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 100)


def test_tiny_imagenet_variant():
    net = HybridNet(DTCWTScattering(), num_classes=200, tiny=True)
    assert [c.out_channels for c in convs(net)] == [192, 192, 384, 384, 768, 768]
    assert any(isinstance(m, nn.MaxPool2d) for m in net.body)
    assert net(torch.randn(2, 3, 64, 64)).shape == (2, 200)


def test_xavier_init_with_gain_sqrt2():
    torch.manual_seed(0)
    net = HybridNet(DTCWTScattering(), num_classes=10)
    w = convs(net)[2].weight  # 192 -> 384, 3x3
    fan_in, fan_out = 192 * 9, 384 * 9
    bound = math.sqrt(2) * math.sqrt(6.0 / (fan_in + fan_out))
    assert w.abs().max() <= bound
    assert w.abs().max() > 0.95 * bound  # uniform on [-bound, bound]: the max gets close
    assert torch.count_nonzero(net.fc.bias) == 0


def test_frontend_runs_without_autograd_by_default():
    net = HybridNet(DTCWTScattering(), num_classes=10, width=8)
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    assert not net.features(x).requires_grad
    net.frontend_grad = True
    assert net.features(x).requires_grad


def test_bf16_channels_last_body_matches_fp32_and_keeps_the_front_end_exact():
    """The GPU speed path (bf16 autocast + channels_last for the conv body), exercised on the CPU."""
    torch.manual_seed(0)
    net = HybridNet(DTCWTScattering(impl="fast"), num_classes=10, width=8).eval()
    x = torch.randn(4, 3, 32, 32)
    ref = net(x)
    net.configure_speed(channels_last=True, bf16=True)
    out = net(x)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert (out - ref).abs().max() < 0.05 * ref.abs().max()  # bf16 body: close, not equal
    assert torch.equal(net.features(x), DTCWTScattering(impl="fast")(x))  # front end untouched (fp32)
    net.train()
    loss = torch.nn.functional.cross_entropy(net(x), torch.arange(4))
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in net.body.parameters())


def test_compiled_net_keeps_its_state_dict_keys_and_output():
    """fast.compile compiles in place: a checkpoint taken under compile loads into an eager net (and back),
    so a killed run resumes whatever fast.compile says now; the compiled net computes the same logits."""
    torch.manual_seed(0)
    eager = HybridNet(DTCWTScattering(impl="fast"), num_classes=10, width=4).eval()
    compiled = HybridNet(DTCWTScattering(impl="fast"), num_classes=10, width=4).eval()
    compiled.configure_speed(compile=True)
    assert compiled.body._compiled_call_impl is not None and compiled.frontend._compiled_call_impl is not None
    assert list(compiled.state_dict()) == list(eager.state_dict())
    compiled.load_state_dict(eager.state_dict())  # strict: same keys both ways
    eager.load_state_dict(compiled.state_dict())
    x = torch.randn(2, 3, 16, 16)
    assert torch.allclose(compiled(x), eager(x), atol=1e-5, rtol=1e-4)


def test_morlet_front_ends_trace_as_one_graph():
    """MorletScattering is marked compilable: dynamo captures kymatio's forward, and scatnet's, whole, no graph
    breaks (that it reads nothing from the host is tests/test_cuda_graph.py's)."""
    torch._dynamo.reset()
    explain = torch._dynamo.explain(MorletScattering(6, 16, impl="kymatio"))(torch.randn(2, 3, 16, 16))
    assert explain.graph_count == 1 and explain.graph_break_count == 0 and explain.op_count > 100
    torch._dynamo.reset()
    explain = torch._dynamo.explain(MorletScattering(6, 16, impl="fast"))(torch.randn(2, 3, 16, 16))
    assert explain.graph_count == 1 and explain.graph_break_count == 0, explain.break_reasons


def test_optimizer_is_the_thesis_sgd_as_one_fused_update():
    """The optim config's fused SGD makes the same update as plain SGD with the thesis recipe, and its
    scheduler multiplies the rate by 0.2 at the dataset's milestones."""
    from scatnet.training.module import HybridClassifier
    from tests.conftest import thesis_optim

    torch.manual_seed(0)
    net = HybridNet(DTCWTScattering(), num_classes=10, width=8)
    module = HybridClassifier(net, num_classes=10, **thesis_optim(["data=cifar10"]))
    configured = module.configure_optimizers()
    fused, sched = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    assert sched.milestones == {60: 1, 80: 1, 100: 1} and sched.gamma == 0.2
    params = [p for p in module.parameters() if p.requires_grad]
    plain_params = [nn.Parameter(p.detach().clone()) for p in params]
    plain = torch.optim.SGD(plain_params, lr=0.5, momentum=0.85, weight_decay=1e-4, foreach=False)
    for _ in range(3):
        for p, q in zip(params, plain_params):
            p.grad = torch.randn_like(p)
            q.grad = p.grad.clone()
        fused.step()
        plain.step()
    assert fused.defaults["fused"] is True
    assert max((p - q).abs().max().item() for p, q in zip(params, plain_params)) < 1e-6
