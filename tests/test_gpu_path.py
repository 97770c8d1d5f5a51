"""What differs on a GPU, checked on the CPU: resuming on another device (memory layout of the optimizer
state, run identity), the CUDA-graph and DDP refusals, the GPU's gather padding and the row pass's bands."""

from __future__ import annotations

import copy
import subprocess

import pytest
import torch

from scatnet.errors import ConfigError
from scatnet.frontends.dtcwt import DTCWTScattering
from scatnet.frontends.fast_dtcwt import FastScatLayerPair
from scatnet.frontends.fast_dtcwt import ops as dtcwt_fast_ops
from scatnet.frontends.fast_dtcwt import rows as dtcwt_rows
from scatnet.frontends.fast_dtcwt.ops import device_symmetric_index
from scatnet.models import HybridNet
from scatnet.training.builders import cuda_graph_option, processes_per_run, trainer_overrides
from scatnet.training.identity import run_id
from scatnet.training.module import HybridClassifier
from tests.conftest import compose, script, thesis_optim
from tests.test_cuda_graph import host_ops_in_training_pass
from tests.test_fast_dtcwt import GRID


def _frontend() -> DTCWTScattering:
    return DTCWTScattering(impl="fast")


def _classifier(channels_last: bool) -> HybridClassifier:
    torch.manual_seed(0)
    net = HybridNet(_frontend(), num_classes=10, width=4)
    net.configure_speed(channels_last=channels_last)
    return HybridClassifier(net, num_classes=10, **thesis_optim(["optim.lr=0.1"]))


def _step(module: HybridClassifier, opt: torch.optim.Optimizer, x, y) -> None:
    opt.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(module(x), y).backward()
    opt.step()


def test_a_run_saved_contiguous_resumes_channels_last_with_the_same_update():
    """CPU -> GPU resume: fast.channels_last=auto turns on, the checkpoint's momentum is contiguous. After
    loading, the momentum has its parameter's layout, and the next update is the one the contiguous run makes
    (the fused SGD reads momentum and parameter element by element in memory order)."""
    gen = torch.Generator().manual_seed(1)
    batches = [(torch.randn(8, 3, 16, 16, generator=gen), torch.randint(0, 10, (8,), generator=gen)) for _ in range(2)]
    saved = _classifier(channels_last=False)
    opt = saved.configure_optimizers()["optimizer"]
    _step(saved, opt, *batches[0])
    state, weights = copy.deepcopy(opt.state_dict()), copy.deepcopy(saved.state_dict())

    resumed = _classifier(channels_last=True)
    resumed.load_state_dict(weights)
    conv = resumed.net.body[1].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    opt2 = resumed.configure_optimizers()["optimizer"]
    opt2.load_state_dict(state)
    assert opt2.state[conv]["momentum_buffer"].stride() == conv.stride()
    _step(saved, opt, *batches[1])
    _step(resumed, opt2, *batches[1])
    for (name, p), q in zip(saved.named_parameters(), resumed.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5, msg=name)


def test_identity_hashes_the_bf16_the_device_resolves_to(tmp_path):
    cpu = run_id(compose(["trainer.accelerator=cpu"], tmp_path))
    gpu = run_id(compose(["trainer.accelerator=gpu"], tmp_path))  # fast.bf16=auto: bf16 on the GPU
    assert cpu != gpu
    assert run_id(compose(["trainer.accelerator=gpu", "fast.bf16=false"], tmp_path)) == cpu
    assert run_id(compose(["trainer.accelerator=cpu", "fast.bf16=true"], tmp_path)) == gpu
    assert run_id(compose(["fast.tf32=true"], tmp_path)) != run_id(compose([], tmp_path))


def test_cuda_graphs_refuse_what_they_cannot_replay(tmp_path):
    front = _frontend()

    def check(*overrides):
        cfg = compose(["trainer=gpu", *overrides], tmp_path)
        return cuda_graph_option(True, False, True, front, cfg.trainer)

    assert check() is True
    with pytest.raises(ConfigError, match=r"cannot accumulate gradients \(trainer.accumulate_grad_batches=2\)"):
        check("+trainer.accumulate_grad_batches=2")
    with pytest.raises(ConfigError, match="cannot run under trainer.detect_anomaly=true"):
        check("+trainer.detect_anomaly=true")
    with pytest.raises(ConfigError, match="runs on one GPU only"):
        check("trainer.devices=2")


def test_evaluation_leaves_inference_mode_when_compiled_code_records_cuda_graphs(tmp_path):
    assert trainer_overrides(compose(["trainer=gpu", "fast.compile=reduce-overhead"], tmp_path)) == {
        "inference_mode": False
    }
    assert trainer_overrides(compose(["trainer=gpu", "fast.compile=max-autotune"], tmp_path)) == {
        "inference_mode": False
    }
    assert trainer_overrides(compose(["trainer=gpu", "fast.compile=default"], tmp_path)) == {}
    assert trainer_overrides(compose(["trainer=cpu", "fast.compile=reduce-overhead"], tmp_path)) == {}


def test_processes_per_run_reads_devices_and_nodes(tmp_path):
    assert processes_per_run(compose(["trainer=cpu"], tmp_path).trainer) == 1
    assert processes_per_run(compose(["trainer=cpu", "trainer.devices=2"], tmp_path).trainer) == 2
    assert (
        processes_per_run(compose(["trainer=gpu", "trainer.devices=[0,1]", "+trainer.num_nodes=2"], tmp_path).trainer)
        == 4
    )


@pytest.mark.slow
def test_ddp_inside_a_multirun_is_refused_in_one_line(tmp_path, cli_env):
    proc = subprocess.run(
        [
            script("scatnet-train"),
            "-m",
            "experiment=quickstart",
            "trainer=ddp",
            "trainer.accelerator=cpu",
            "trainer.devices=2",
            "seed=0,1",
            "progress_bar=false",
            f"paths.root={tmp_path / 'out'}",
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    err = proc.stderr.strip().splitlines()
    assert err[-1].startswith("scatnet-train: error: a run over 2 processes") and "multirun (-m)" in err[-1]
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "out").rglob("metrics.json"))  # nothing started, nothing recorded


@pytest.mark.parametrize("wavelet,padding,b", [g for g in GRID if g[1] == "symmetric" and g[2] == 1e-2])
def test_the_gpu_gather_padding_reads_nothing_from_the_host(wavelet, padding, b, monkeypatch):
    """The CUDA-only path (one gather with indices built on the device), forced here: no host op in forward or
    backward (on the meta device, where is_cuda is False and the path would otherwise never run)."""
    calls = []
    monkeypatch.setattr(dtcwt_fast_ops, "pad_by_gather", lambda x: calls.append(1) or True)
    for grad in (False, True):
        watch = host_ops_in_training_pass(FastScatLayerPair(wavelet, padding, b), torch.zeros(4, 3, 32, 32), grad)
        assert watch.host_ops == [], grad
    assert calls  # the gather path ran
    x = torch.randn(2, 3, 20, 28)
    gathered = FastScatLayerPair(wavelet, padding, b)(x)
    monkeypatch.setattr(dtcwt_fast_ops, "pad_by_gather", lambda x: False)
    assert torch.equal(gathered, FastScatLayerPair(wavelet, padding, b)(x))  # the same as flip + cat


def test_the_padding_index_cache_never_evicts():
    """A CUDA graph keeps reading the index tensor it recorded: the cache must never drop it."""
    assert device_symmetric_index.cache_info().maxsize is None


@pytest.mark.parametrize("wavelet", ["near_sym_a", "near_sym_b", "near_sym_b_bp"])
def test_row_pass_bands_are_one_buffer_built_with_the_filters(wavelet, monkeypatch):
    pair = FastScatLayerPair(wavelet, "symmetric", 1e-2, strategy="separable")
    n_r, k = pair.row_w.shape[0], pair.row_w.shape[-1]
    for t in range(1, dtcwt_rows.max_tile(k) + 1):
        expected = dtcwt_rows.band_matrix(pair.row_w.view(n_r, k), t).view(n_r * t, t + k - 1)
        view = dtcwt_rows.band_view(pair.row_bands, n_r, k, t)
        assert torch.equal(view, expected) and view.data_ptr() >= pair.row_bands.data_ptr()
    assert (
        dtcwt_rows.band_view(pair.row_bands, n_r, k, dtcwt_rows.max_tile(k)).numel()
        + dtcwt_rows.band_view(pair.row_bands, n_r, k, dtcwt_rows.max_tile(k) - 1).numel()
        <= pair.row_bands.numel()
    )
    x = torch.randn(2, 3, 40, 24, requires_grad=True)
    expected = torch.autograd.grad(pair(x).square().sum(), x)[0]

    def no_band(*args):
        raise AssertionError("a band was built during a forward or backward")

    monkeypatch.setattr(dtcwt_rows, "band_matrix", no_band)
    x2 = x.detach().requires_grad_(True)
    y = pair(x2)
    assert torch.equal(torch.autograd.grad(y.square().sum(), x2)[0], expected)
