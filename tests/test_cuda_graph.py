"""fast.cuda_graph: the eager training forward/backward as CUDA-graph replays (HybridNet.capture_cuda_graph).

On the CPU (CI): the training forward and backward read nothing from the host (run on the meta device, where a
host copy or a sync shows up as a CPU tensor or an op that needs data), and every way of asking for fast.cuda_graph
where it cannot work is one clear error. With a GPU (the lent
machine: `pytest tests/test_cuda_graph.py`): graphed training makes the same updates as eager training,
including an epoch's smaller last batch, and a Lightning run with it trains."""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path

import hydra
import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from scatnet.config_files import config_dir
from scatnet.errors import ConfigError
from scatnet.frontends.dtcwt import DTCWTScattering, reference_scat_pair
from scatnet.frontends.fast_dtcwt import FastScatLayerPair
from scatnet.models import HybridNet
from scatnet.precision import Precision, precision_policy
from scatnet.training.builders import cuda_graph_option
from tests.test_fast_dtcwt import GRID

gpu = pytest.mark.gpu  # CUDA graphs need a GPU: skipped elsewhere (conftest)


class HostWatch:
    """Records every op that reads host memory or needs a tensor's value while a module runs on the meta device
    (shapes, no data): a tensor built from Python or numpy data (torch.tensor, as_tensor, from_numpy), a CPU
    tensor among an aten op's inputs or outputs (an index array copied over), ``lift_fresh`` or
    ``_local_scalar_dense`` (.item(), bool(t)). On a GPU each is a host-to-device copy or a sync inside
    forward: what CUDA-graph capture refuses."""

    def __init__(self):
        self.host_ops: list[str] = []
        self.ops = 0
        self.modes = (_Constructors(self), _Dispatch(self))

    def __enter__(self):
        for mode in self.modes:
            mode.__enter__()
        return self

    def __exit__(self, *exc):
        for mode in reversed(self.modes):
            mode.__exit__(*exc)


class _Constructors(TorchFunctionMode):
    FROM_HOST = {torch.tensor, torch.as_tensor, torch.asarray, torch.from_numpy}

    def __init__(self, watch: HostWatch):
        super().__init__()
        self.watch = watch

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.FROM_HOST:
            self.watch.host_ops.append(f"torch.{func.__name__}")
        return func(*args, **(kwargs or {}))


class _Dispatch(TorchDispatchMode):
    HOST_OPS = {torch.ops.aten.lift_fresh.default, torch.ops.aten._local_scalar_dense.default}

    def __init__(self, watch: HostWatch):
        super().__init__()
        self.watch = watch

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.watch.ops += 1
        tensors = [t for t in tree_leaves((args, kwargs, out)) if isinstance(t, torch.Tensor)]
        if func in self.HOST_OPS or any(t.device.type != "meta" for t in tensors):
            self.watch.host_ops.append(str(func))
        return out


def host_ops_in_training_pass(module: torch.nn.Module, x: torch.Tensor, grad: bool = True) -> HostWatch:
    """Forward and backward of ``module`` on the meta device, under the watch. ``grad``: whether the input needs
    a gradient (the front end's input-gradient path); the module's parameters always get theirs."""
    module.to("meta")
    x = x.to("meta").requires_grad_(grad)
    with HostWatch() as watch:
        y = module(x)
        if grad or y.requires_grad:
            y.float().square().mean().backward()
    assert watch.ops > 10  # the watch saw the pass
    return watch


@pytest.mark.parametrize("wavelet,padding,b", GRID)
def test_the_fast_pair_reads_nothing_from_the_host_in_forward_or_backward(wavelet, padding, b):
    for grad in (False, True):
        for shape in ((4, 3, 32, 32), (1, 3, 17, 23)):
            watch = host_ops_in_training_pass(FastScatLayerPair(wavelet, padding, b), torch.zeros(shape), grad)
            assert watch.host_ops == [], (grad, shape)


def test_the_watch_sees_pytorch_wavelets_index_copies():
    """The control: pytorch_wavelets builds index arrays in numpy and copies them over in every forward."""
    watch = host_ops_in_training_pass(reference_scat_pair("near_sym_a", "symmetric", 1e-2), torch.zeros(2, 3, 32, 32))
    assert "aten.lift_fresh.default" in watch.host_ops and len(watch.host_ops) >= 20


# Every front end the configs offer (the registry: scatnet/configs/frontend/), and the Learnable ScatterNet on
# pytorch_wavelets' ScatLayers: a front end added there is checked here without being named.
REGISTERED = sorted(p.stem for p in (Path(config_dir()) / "frontend").glob("*.yaml"))


@pytest.mark.parametrize("frontend", [*REGISTERED, "learnable_d frontend.impl=reference"])
def test_a_front_end_marked_compilable_reads_nothing_from_the_host(frontend, tmp_path):
    """``Frontend.compilable`` (what fast.cuda_graph and fast.compile rely on) is true only of front ends whose
    whole training step, front end and conv body (channels_last), forward and backward, stays on the device:
    the Learnable ScatterNet's learned stages and the gradient through its ScatLayers too."""
    from tests.conftest import compose

    cfg = compose(["experiment=quickstart", *f"frontend={frontend}".split(), "data.image_size=32"], tmp_path)
    net = HybridNet(hydra.utils.instantiate(cfg.frontend), num_classes=10, width=4)
    net.configure_speed(channels_last=True)
    watch = host_ops_in_training_pass(net, torch.zeros(8, 3, 32, 32), grad=False)
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    assert net.frontend.compilable == (watch.host_ops == [])  # marked exactly when it never touches the host
    if frontend == "dtcwt" or "reference" in frontend:  # pytorch_wavelets' ScatLayers are ones that do
        assert not net.frontend.compilable


def test_only_a_front_end_that_never_touches_the_host_is_captured():
    net = HybridNet(DTCWTScattering(impl="reference", name="dtcwt"), num_classes=10, width=4)
    with pytest.raises(
        ConfigError,
        match=r"needs a front end whose forward never waits on or copies from the "
        r"host; frontend=dtcwt is not one \(pytorch_wavelets' .* "
        r"frontend.impl=fast computes the same without\)",
    ):
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
    with pytest.raises(ConfigError, match="needs a front end .* frontend=dtcwt is not one"):
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


class Replays:
    """Counts CUDA-graph replays (forward and backward graphs alike): a test of graphed training that falls
    through to the eager forward would otherwise make the same numbers and pass."""

    def __init__(self, monkeypatch):
        self.count = 0
        original = torch.cuda.CUDAGraph.replay

        def replay(graph):
            self.count += 1
            return original(graph)

        monkeypatch.setattr(torch.cuda.CUDAGraph, "replay", replay)


@contextlib.contextmanager
def regime(production: bool):
    """production: training's own settings on a GPU (bf16 body, channels_last, cudnn.benchmark, TF32 off);
    else fp32 with deterministic cuDNN, so graph and eager run the very same kernels."""
    with precision_policy(Precision.for_device(True, bf16=production, cudnn_benchmark=production)):
        deterministic, torch.backends.cudnn.deterministic = torch.backends.cudnn.deterministic, not production
        try:
            yield
        finally:
            torch.backends.cudnn.deterministic = deterministic


# Every registered front end, and the Morlet presets on kymatio too: the graphed-training test runs those that
# say a CUDA graph can record them (Frontend.compilable) and skips the others, so a new front end is covered
# without being named.
GRAPH_CANDIDATES = [*REGISTERED, "morlet6 frontend.impl=kymatio"]


def graph_candidate(spec: str, tmp_path) -> torch.nn.Module:
    """The network a CIFAR-sized run of ``spec`` (a front end and its overrides) trains, width 8, as training
    builds it (build_module)."""
    from scatnet.training.builders import build_module
    from tests.conftest import compose

    name, *extra = spec.split()
    cfg = compose(["data=cifar10", f"frontend={name}", *extra, "model.width=8", "trainer=cpu"], tmp_path / "run")
    return build_module(cfg).net


@pytest.mark.parametrize("spec", GRAPH_CANDIDATES)
def test_every_graph_candidate_builds_and_says_whether_a_graph_can_record_it(spec, tmp_path):
    """The CPU half of the GPU test below: each candidate builds as training builds it and steps on a CIFAR
    batch, and the presets that fast.cuda_graph names are among those recordable."""
    net = graph_candidate(spec, tmp_path)
    out = net(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    if spec in ("dtcwt_fast", "morlet6", "morlet8"):
        assert net.frontend.compilable


@gpu
@pytest.mark.parametrize("production", [False, True], ids=["fp32-deterministic", "bf16-channels_last-benchmark"])
@pytest.mark.parametrize("spec", GRAPH_CANDIDATES)
def test_graphed_training_makes_the_eager_updates(spec, production, monkeypatch, tmp_path):
    """Same init, same batches (four full, one smaller as at an epoch's end): the same losses and weights, and
    the four full batches really replayed the graphs (one forward and one backward replay each)."""
    torch.manual_seed(0)
    eager = graph_candidate(spec, tmp_path).cuda()
    if not eager.frontend.compilable:
        pytest.skip(f"{spec}: its front end reads from the host, so no CUDA graph can record it")
    eager.configure_speed(channels_last=production, bf16=production)
    graphed = copy.deepcopy(eager)
    gen = torch.Generator(device="cuda").manual_seed(1)
    batches = [
        (
            torch.randn(n, 3, 32, 32, device="cuda", generator=gen),
            torch.randint(0, 10, (n,), device="cuda", generator=gen),
        )
        for n in (16, 16, 16, 16, 6)
    ]
    replays = Replays(monkeypatch)
    with regime(production):
        graphed.capture_cuda_graph(batches[0][0])
        assert graphed.graphed[1] == (16, 3, 32, 32)
        replays.count = 0
        graphed_losses = _sgd_steps(graphed, batches)
        assert replays.count == 2 * 4  # the smaller fifth batch ran eagerly
        eager_losses = _sgd_steps(eager, batches)
        assert replays.count == 2 * 4
    tol = dict(rtol=2e-2, atol=2e-3) if production else dict(rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(graphed_losses, eager_losses, **tol)
    for (name, p), q in zip(graphed.named_parameters(), eager.parameters()):
        torch.testing.assert_close(p, q, **tol, msg=name)
    graphed.eval(), eager.eval()  # eval runs the ordinary forward (running statistics differ by the warm-up)
    x = batches[0][0]
    assert torch.isfinite(graphed(x)).all() and graphed(x).shape == eager(x).shape


@gpu
def test_a_lightning_run_with_cuda_graphs_trains(tmp_path, monkeypatch):
    from scatnet.training.run import train
    from tests.conftest import compose

    replays = Replays(monkeypatch)
    cfg = compose(
        [
            "experiment=quickstart",
            "trainer=gpu",
            "frontend=dtcwt_fast",
            "fast.cuda_graph=true",
            "trainer.max_epochs=4",
            "optim.milestones=[3]",
        ],
        tmp_path / "run",
    )
    m = train(cfg)
    assert m["status"] == "completed" and m["test_acc"] > 60.0, m.get("reason")
    # every full training batch (1295 digits, 128 a batch: 10 an epoch) is one forward and one backward replay
    assert replays.count == 2 * 4 * (1295 // cfg.data.batch_size)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["config"]["fast"]["cuda_graph"] is True and saved["precision"]["body"] == "bf16 autocast"
