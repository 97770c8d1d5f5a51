"""Test a trained network again from its checkpoint alone: the network, the dataset and the precision are
rebuilt from the run's resolved config, which every checkpoint carries (``HybridClassifier``'s
``hyper_parameters["config"]``; a run folder's metrics.json for checkpoints written before it did)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from scatnet.errors import ConfigError
from scatnet.precision import precision_policy
from scatnet.training.builders import build, build_module, precision_from_config
from scatnet.training.run import LAST_CKPT, _device_name


def find_checkpoint(path: Path) -> tuple[Path, Path]:
    """(checkpoint, run folder) for a run folder or a .ckpt file."""
    path = Path(path)
    ckpt = path / "checkpoints" / LAST_CKPT if path.is_dir() else path
    if not ckpt.is_file():
        raise ConfigError(
            f"{path} is neither a checkpoint nor a run folder with checkpoints/{LAST_CKPT}; give "
            "a run folder (outputs/runs/...) or a .ckpt file"
        )
    return ckpt, ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


def run_config(ckpt: dict, run_dir: Path) -> DictConfig:
    config = (ckpt.get("hyper_parameters") or {}).get("config")
    if config is None and (run_dir / "metrics.json").is_file():
        config = json.loads((run_dir / "metrics.json").read_text()).get("config")
    if not config:
        raise ConfigError(
            f"{run_dir}: the checkpoint carries no config and there is no metrics.json beside it; "
            "it was not written by scatnet-train"
        )
    return OmegaConf.create(config)


def load_run(path: Path, configure=None) -> tuple[Any, DictConfig, dict, Path, Path]:
    """(the trained module, its config, the checkpoint, the checkpoint's path, the run folder) of a run folder
    or checkpoint. ``configure(cfg)`` may change the config before the network is built."""
    ckpt_path, run_dir = find_checkpoint(path)
    try:
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        ckpt["state_dict"]
    except Exception as e:  # noqa: BLE001 - torch.load raises many kinds on a damaged or foreign file
        reason = " ".join(str(e).split())[:120] or type(e).__name__
        raise ConfigError(
            f"{ckpt_path} is not a readable scatnet checkpoint ({type(e).__name__}: {reason}); "
            "give another run folder or .ckpt file"
        ) from None
    cfg = run_config(ckpt, run_dir)
    if configure is not None:
        configure(cfg)
    module = build_module(cfg, precision_from_config(cfg))
    module.load_state_dict(ckpt["state_dict"])
    return module, cfg, ckpt, ckpt_path, run_dir


def evaluate(path: Path, data_root: str | None = None, device: str = "auto") -> dict[str, Any]:
    """The test loss and accuracy of the network in ``path`` on its dataset's test split."""

    def configure(cfg: DictConfig) -> None:
        cfg.trainer.accelerator = device
        cfg.trainer.devices = 1
        cfg.fast.compile, cfg.fast.cuda_graph = False, False  # the same numbers, without the warm-up
        if data_root is not None:  # the run's config is stored resolved: its source holds the old root itself
            cfg.data.root = data_root
            if "root" in (cfg.data.get("source") or {}):
                cfg.data.source.root = data_root

    module, cfg, ckpt, ckpt_path, run_dir = load_run(path, configure)
    precision = precision_from_config(cfg)
    trainer = pl.Trainer(
        accelerator=device,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with precision_policy(precision):
        test = trainer.test(module, datamodule=build(cfg.data), verbose=False)[0]
    recorded = None
    if (run_dir / "metrics.json").is_file():
        recorded = json.loads((run_dir / "metrics.json").read_text()).get("test_acc")
    return {
        "checkpoint": str(ckpt_path),
        "run_dir": str(run_dir),
        "data": str(cfg.data.name),
        "frontend": str(cfg.frontend.name),
        "epoch": int(ckpt.get("epoch", -1)) + 1,
        "test_acc": round(float(test["test/acc"]) * 100.0, 4),
        "test_loss": float(test["test/loss"]),
        "recorded_test_acc": recorded,
        "device": _device_name(module.device),
    }
