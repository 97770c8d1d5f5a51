"""fast.cuda_graph: the eager training forward/backward as CUDA-graph replays (HybridNet.capture_cuda_graph).

On the CPU (CI): every way of asking for it where it cannot work is one clear error. With a GPU (the lent
machine: `pytest tests/test_cuda_graph.py`): graphed training makes the same updates as eager training,
including an epoch's smaller last batch, and a Lightning run with it trains."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from scatnet.errors import ConfigError
from scatnet.frontends.dtcwt import DTCWTScattering
from scatnet.models import HybridNet
from scatnet.training.builders import cuda_graph_option

gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")


def test_only_a_front_end_that_never_touches_the_host_is_captured():
    net = HybridNet(DTCWTScattering(impl="reference", name="dtcwt"), num_classes=10, width=4)
    with pytest.raises(ConfigError, match=r"needs frontend=dtcwt_fast \(a front end whose forward never waits on "
                                          r"or copies from the host\); frontend=dtcwt is not one"):
        net.capture_cuda_graph(torch.randn(2, 3, 16, 16))
    net = HybridNet(DTCWTScattering(impl="fast"), num_classes=10, width=4)
    with pytest.raises(ConfigError, match="needs a CUDA device; the batch is on cpu"):
        net.capture_cuda_graph(torch.randn(2, 3, 16, 16))
    assert net.graphed is None  # nothing half-done: the ordinary forward still runs
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 10)


def test_the_option_is_checked_before_training():
    assert cuda_graph_option(False, False, on_cuda=False) is False
    assert cuda_graph_option(True, False, on_cuda=True) is True
    with pytest.raises(ConfigError, match="fast.cuda_graph=true needs a CUDA device"):
        cuda_graph_option(True, False, on_cuda=False)
    with pytest.raises(ConfigError, match="fast.compile=reduce-overhead are alternatives"):
        cuda_graph_option(True, "reduce-overhead", on_cuda=True)
    with pytest.raises(ConfigError, match="fast.cuda_graph='yes' is not valid; choose one of: False, True"):
        cuda_graph_option("yes", False, on_cuda=True)
    reference = DTCWTScattering(impl="reference", name="dtcwt")
    with pytest.raises(ConfigError, match="needs frontend=dtcwt_fast .* frontend=dtcwt is not one"):
        cuda_graph_option(True, False, on_cuda=True, frontend=reference)
    assert cuda_graph_option(True, False, on_cuda=True, frontend=DTCWTScattering(impl="fast")) is True


def test_bench_refuses_cuda_graph_rows_on_the_cpu(capsys):
    from scatnet.cli.bench import main

    with pytest.raises(SystemExit) as e:
        main(["--device", "cpu", "--cuda-graph"])
    assert e.value.code == 2
    assert "--cuda-graph needs a GPU" in capsys.readouterr().err


def _sgd_steps(net, batches):
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.85, weight_decay=1e-4, fused=True)
    losses = []
    for x, y in batches:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return torch.stack(losses)


@gpu
def test_graphed_training_makes_the_eager_updates():
    """Same init, same batches (four full, one smaller as at an epoch's end): the same losses and weights.
    fp32 and deterministic cuDNN, so the graph and eager run the same kernels."""
    torch.manual_seed(0)
    eager = HybridNet(DTCWTScattering(impl="fast"), num_classes=10, width=8).cuda()
    graphed = copy.deepcopy(eager)
    gen = torch.Generator(device="cuda").manual_seed(1)
    batches = [(torch.randn(n, 3, 32, 32, device="cuda", generator=gen),
                torch.randint(0, 10, (n,), device="cuda", generator=gen)) for n in (16, 16, 16, 16, 6)]
    with torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True):
        graphed.capture_cuda_graph(batches[0][0])
        assert graphed.graphed[1] == (16, 3, 32, 32)
        losses = _sgd_steps(graphed, batches), _sgd_steps(eager, batches)
    torch.testing.assert_close(*losses, rtol=1e-5, atol=1e-6)
    for (name, p), q in zip(graphed.named_parameters(), eager.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)
    graphed.eval(), eager.eval()  # eval runs the ordinary forward (running statistics differ by the warm-up)
    x = batches[0][0]
    assert torch.isfinite(graphed(x)).all() and graphed(x).shape == eager(x).shape


@gpu
def test_a_lightning_run_with_cuda_graphs_trains(tmp_path):
    from scatnet.training.run import train
    from tests.conftest import compose

    cfg = compose(["experiment=quickstart", "trainer=gpu", "frontend=dtcwt_fast", "fast.cuda_graph=true",
                   "trainer.max_epochs=4", "optim.milestones=[3]"], tmp_path / "run")
    m = train(cfg)
    assert m["status"] == "completed" and m["test_acc"] > 60.0, m.get("reason")
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["config"]["fast"]["cuda_graph"] is True
