"""The real configs compose into what the thesis specifies (presets, sweep grid, launchers)."""

from __future__ import annotations

import itertools

import pytest
from hydra import compose, initialize_config_dir

from scatnet.frontends.options import MAGBIASES, PADDINGS, THESIS_DTCWT, WAVELETS
from tests.conftest import CONFIGS

CELLS = list(itertools.product(["morlet8", "morlet6", "dtcwt"], ["cifar10", "cifar100", "tiny_imagenet"]))


def composed(overrides, hydra=False):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIGS)):
        return compose("train", overrides=overrides, return_hydra_config=hydra)


@pytest.mark.parametrize("frontend,data", CELLS)
def test_table13_presets_carry_the_thesis_recipe(frontend, data):
    cfg = composed([f"experiment={data}_{frontend}"])
    assert cfg.frontend.name == frontend and cfg.data.name == data
    tiny = data == "tiny_imagenet"
    assert cfg.trainer.max_epochs == (45 if tiny else 120)
    assert list(cfg.optim.milestones) == ([18, 30, 40] if tiny else [60, 80, 100])
    assert (cfg.optim.lr, cfg.optim.momentum, cfg.optim.weight_decay, cfg.optim.gamma) == (0.5, 0.85, 1e-4, 0.2)
    assert cfg.data.batch_size == 128 and cfg.model.width == 96 and cfg.model.tiny is tiny
    assert cfg.data.crop_padding == (8 if tiny else 4) and cfg.data.flip is True
    assert cfg.data.num_classes == {"cifar10": 10, "cifar100": 100, "tiny_imagenet": 200}[data]
    if frontend == "dtcwt":
        assert {k: cfg.frontend[k] for k in THESIS_DTCWT} == THESIS_DTCWT
    else:
        assert cfg.frontend.L == int(frontend[-1]) and cfg.frontend.image_size == cfg.data.image_size


def test_table14_sweep_is_24_settings_by_3_seeds():
    cfg = composed(["sweep=table14", "data=cifar10"], hydra=True)
    params = cfg.hydra.sweeper.params
    axes = [str(params[k]).split(",") for k in ("frontend.wavelet", "frontend.padding", "frontend.magbias", "seed")]
    # the sweep's axes are the front end's own option lists (scatnet/frontends/options.py), in order
    assert tuple(axes[0]) == WAVELETS and tuple(axes[1]) == PADDINGS and tuple(map(float, axes[2])) == MAGBIASES
    assert axes[3] == ["0", "1", "2"]
    assert cfg.hydra.mode.name == "MULTIRUN" and cfg.frontend.name == "dtcwt"
    assert cfg.paths.runs_dir.endswith("sweeps/table14/runs")


def test_momentum_of_the_original_code_is_selectable():
    assert composed(["optim.momentum=0.8"]).optim.momentum == 0.8


def test_slurm_launcher_config_targets_submitit():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    cfg = composed(["sweep=table14", "hydra/launcher=slurm"], hydra=True)
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert cfg.hydra.launcher.gpus_per_node == 1 and cfg.hydra.launcher.max_num_timeout >= 1


def test_ddp_trainer_config_scales():
    """No SyncBatchNorm (a host sync per BN layer each step) and no buffer broadcast before every forward."""
    from hydra.utils import instantiate
    from pytorch_lightning.strategies import DDPStrategy

    cfg = composed(["trainer=ddp"])
    assert cfg.trainer.sync_batchnorm is False and cfg.trainer.accelerator == "gpu"
    strategy = instantiate(cfg.trainer.strategy)
    assert isinstance(strategy, DDPStrategy) and strategy._ddp_kwargs == {"broadcast_buffers": False}
    assert composed(["trainer=ddp", "trainer.sync_batchnorm=true"]).trainer.sync_batchnorm is True


def test_synthetic_cifar_has_the_shape_of_cifar10():
    from hydra.utils import instantiate

    cfg = composed(["data=synthetic_cifar", "data.source.n_train=64", "data.source.n_test=16"])
    train, test = instantiate(cfg.data.source).load()
    assert train.images.shape == (64, 3, 32, 32) and test.images.shape == (16, 3, 32, 32)
    assert int(train.labels.max()) < 10 and cfg.trainer.max_epochs == 120


def test_run_identity_ignores_execution_only_speed_options(tmp_path):
    """A run killed under fast.compile resumes (same id, same run dir) when relaunched without it; bf16 and
    the seed change the numbers, so they change the id."""
    from scatnet.training.identity import run_id
    from tests.conftest import compose

    base = run_id(compose([], tmp_path))
    assert run_id(compose(["fast.compile=reduce-overhead", "fast.channels_last=true"], tmp_path)) == base
    assert run_id(compose(["fast.cuda_graph=true"], tmp_path)) == base
    assert run_id(compose(["fast.bf16=true"], tmp_path)) != base
    assert run_id(compose(["seed=1"], tmp_path)) != base


def test_run_identity_leaves_out_location_and_display_but_keeps_callbacks_that_change_the_result(tmp_path):
    """Where the data is (data.root and the source's copy of it, SCATNET_DATA), loggers and progress display
    never change what a run computes; early stopping does."""
    from scatnet.training.identity import run_id
    from tests.conftest import compose

    base = run_id(compose(["data=cifar10"], tmp_path))
    assert run_id(compose(["data=cifar10", "data.root=/elsewhere", "data.download=false"], tmp_path)) == base
    assert (
        run_id(compose(["data=cifar10", "logger=tensorboard", "callbacks=none", "progress_bar=false"], tmp_path))
        == base
    )
    stop = [
        "+callbacks.stop._target_=pytorch_lightning.callbacks.EarlyStopping",
        "+callbacks.stop.monitor=val/acc",
        "+callbacks.stop.mode=max",
    ]
    assert run_id(compose(["data=cifar10", *stop], tmp_path)) != base
    # the previous identity: the source's root in, every callback out
    assert run_id(compose(["data=cifar10", "data.root=/elsewhere"], tmp_path), previous=True) != run_id(
        compose(["data=cifar10"], tmp_path), previous=True
    )
    assert run_id(compose(["data=cifar10", *stop], tmp_path), previous=True) == run_id(
        compose(["data=cifar10"], tmp_path), previous=True
    )
