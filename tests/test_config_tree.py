"""Every config of every group composes, passes the schema and instantiates; a misspelt key in any group is
one error naming it (scatnet/training/schema.py)."""

from __future__ import annotations

import pytest
from hydra.utils import instantiate

from scatnet.errors import ConfigError
from scatnet.training.validate import check_config
from tests.conftest import CONFIGS, compose

GROUPS = (
    "frontend",
    "model",
    "data",
    "optim",
    "trainer",
    "callbacks",
    "logger",
    "experiment",
    "sweep",
    "hparams_search",
)
BASES = {("sweep", "base"), ("data", "base")}  # what the options of a group build on, not options
TREE = [(g, p.stem) for g in GROUPS for p in sorted((CONFIGS / g).glob("*.yaml")) if (g, p.stem) not in BASES]
# on this machine: a GPU trainer config is instantiated as it would be, on the CPU
CPU = ["trainer.accelerator=cpu", "trainer.devices=1"]


def test_the_tree_is_what_it_was():
    assert len(TREE) >= 34 and ("optim", "sgd") in TREE and ("callbacks", "default") in TREE


@pytest.mark.parametrize("group,name", TREE)
def test_every_config_composes_and_instantiates(group, name, tmp_path, monkeypatch):
    from scatnet.training.builders import build_loggers, build_module
    from scatnet.training.run import _finish_loggers, optional_callbacks

    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    extra = ["sweep.name=tree", "run_name=tree"] if group in ("sweep", "hparams_search") else []  # ${hydra:...}
    cfg = compose([f"{group}={name}", *extra, *CPU], tmp_path)
    check_config(cfg)
    module = build_module(cfg)  # front end, network, optimizer and scheduler
    assert module.configure_optimizers()["optimizer"].param_groups[0]["lr"] == cfg.optim.lr
    assert instantiate(cfg.data).num_classes == cfg.data.num_classes
    assert instantiate(cfg.trainer, logger=False).max_epochs == cfg.trainer.max_epochs
    made = {type(c).__name__ for c in optional_callbacks(cfg, True)}
    named = {node._target_.rsplit(".", 1)[1] for node in cfg.callbacks.values()}
    assert made == named - {"RichProgressBar"}  # compose() sets progress_bar=false
    loggers = build_loggers(cfg)  # a W&B logger starts its (offline) run: finished, as a run's end does
    try:
        assert len(loggers) == len(cfg.get("logger") or {}) and all(lg.save_dir for lg in loggers)
    finally:
        _finish_loggers(loggers)


MISSPELT = [
    (
        "frontend",
        "+frontend.wavlet=near_sym_a",
        "frontend.wavlet is not an option of scatnet.frontends.DTCWTScattering (did you mean wavelet?)",
    ),
    ("model", "+model.widht=8", "model.widht is not an option of scatnet.models.HybridNet (did you mean width?)"),
    ("data", "+data.batchsize=8", "data.batchsize is not an option of scatnet.data.DeviceDataModule"),
    (
        "data.source",
        "+data.source.imagesize=32",
        "data.source.imagesize is not an option of scatnet.data.digits.DigitsSource",
    ),
    ("data.recipe", "+data.recipe.epoch=3", "data.recipe.epoch is not an option of data.recipe (did you mean epochs?)"),
    ("optim", "+optim.lrr=0.1", "optim.lrr is not an option of optim (did you mean lr?)"),
    (
        "optim.optimizer",
        "+optim.optimizer.momentun=0.9",
        "optim.optimizer.momentun is not an option of torch.optim.SGD (did you mean momentum?)",
    ),
    ("trainer", "+trainer.max_epoch=3", "trainer.max_epoch is not an option of pytorch_lightning.Trainer"),
    (
        "callbacks",
        "+callbacks.learning_rate_monitor.interval=step",
        "callbacks.learning_rate_monitor.interval is not an option of pytorch_lightning.callbacks.LearningRateMonitor",
    ),
    ("logger", "+logger.csv.save=x", "logger.csv.save is not an option of scatnet.training.loggers.csv_logger"),
    ("fast", "+fast.bf17=true", "fast.bf17 is not an option of fast (did you mean bf16?)"),
    ("top", "+seeed=1", "seeed is not an option of the run (scatnet/configs/train.yaml) (did you mean seed?)"),
    ("type", "fast.cuda_graph=maybe", "fast.cuda_graph='maybe' is not valid; it must be of type bool"),
]


@pytest.mark.parametrize("where,override,message", MISSPELT, ids=[m[0] for m in MISSPELT])
def test_a_misspelt_key_in_any_group_is_one_error_naming_it(where, override, message, tmp_path):
    cfg = compose([override], tmp_path)
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
