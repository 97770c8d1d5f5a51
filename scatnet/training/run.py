"""One training run, from a composed config to a metrics.json: skip if done, resume if killed, record failure.

The run directory is either Hydra's output dir (single runs) or, in sweeps, ``<paths.runs_dir>/<name>-<id>``
where ``id`` hashes the resolved config (see identity.py). A relaunched sweep therefore finds each run's
previous state: "completed" -> skipped; a ``checkpoints/last.ckpt`` -> resumed from it; otherwise started.
"""
from __future__ import annotations

import datetime as dt
import logging
import platform
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint, RichProgressBar

import scatnet
from scatnet.precision import Precision, precision_policy
from scatnet.training.builders import (build, build_loggers, check_launch, compile_option, cuda_graph_option,
                                      cuda_will_be_used, precision_from_config, precision_option, resolve_auto,
                                      trainer_overrides)
from scatnet.training.callbacks import ThroughputMonitor
from scatnet.training.identity import run_id, slug
from scatnet.training.metrics_file import git_commit, is_completed, read_metrics, write_metrics
from scatnet.training.module import HybridClassifier

log = logging.getLogger("scatnet")
LAST_CKPT = "last.ckpt"


def resolve_run_dir(cfg: DictConfig) -> Path:
    """Fix this run's directory and write it back into ``cfg.paths.run_dir`` (loggers interpolate it)."""
    rid = run_id(cfg)
    if cfg.paths.get("runs_dir"):
        run_dir = Path(cfg.paths.runs_dir) / f"{slug(cfg.run_name)}-{rid}"
    else:
        run_dir = Path(cfg.paths.run_dir)
    with open_dict(cfg):
        cfg.paths.run_dir = str(run_dir)
        cfg.run_id = rid  # loggers use it (a resumed run continues the same W&B run)
    return run_dir


def train(cfg: DictConfig, reraise: bool = True) -> dict[str, Any]:
    """Run (or skip, or resume) one training run; return its metrics.json content.

    On an exception the run is recorded as failed with its reason; it is re-raised when ``reraise``.
    """
    t0 = time.perf_counter()
    check_launch(cfg)  # before anything is written: a launch that cannot work is refused, not recorded
    precision = precision_from_config(cfg)
    run_dir = resolve_run_dir(cfg)
    previous = read_metrics(run_dir)
    if is_completed(previous) and not cfg.get("force", False):
        log.info("skip %s: already completed (test_acc %.2f%%)", run_dir, previous.get("test_acc") or float("nan"))
        previous["skipped"] = True
        return previous

    metrics: dict[str, Any] = {
        "status": "running", "run_id": str(cfg.run_id), "run_name": str(cfg.run_name), "run_dir": str(run_dir),
        "data": str(cfg.data.name), "frontend": str(cfg.frontend.name), "seed": int(cfg.seed),
        "test_acc": None, "best_val_acc": None, "epochs_completed": 0, "max_epochs": int(cfg.trainer.max_epochs),
        "wall_seconds": None, "images_per_second": None,
        "config": OmegaConf.to_container(cfg, resolve=True),
        "version": scatnet.__version__, "git_commit": git_commit(),
        "started_at": dt.datetime.now().isoformat(timespec="seconds"), "host_python": platform.python_version(),
        "torch": torch.__version__, "precision": precision.record(),
    }
    write_metrics(run_dir, metrics)
    try:
        with precision_policy(precision):
            metrics.update(_fit_and_test(cfg, run_dir, precision))
        metrics["status"] = "completed"
    except BaseException as e:  # noqa: BLE001 - any ending that is not completion is recorded, then re-raised
        metrics.update(status="failed", reason=f"{type(e).__name__}: {e}".strip())
        metrics["wall_seconds"] = round(time.perf_counter() - t0, 3)
        write_metrics(run_dir, metrics)
        if reraise or not isinstance(e, Exception):
            raise
        log.error("run %s failed: %s", run_dir, metrics["reason"])
        return metrics
    metrics["wall_seconds"] = round(time.perf_counter() - t0, 3)
    metrics["finished_at"] = dt.datetime.now().isoformat(timespec="seconds")
    write_metrics(run_dir, metrics)
    return metrics


def _build_module(cfg: DictConfig, precision: Precision | None = None) -> HybridClassifier:
    on_cuda = cuda_will_be_used(cfg)
    precision = precision or precision_from_config(cfg)
    precision_option(cfg.trainer.get("precision", "32-true"))
    frontend = build(cfg.frontend)
    size = int(cfg.data.image_size)
    frontend.out_shape((int(cfg.data.in_channels), size, size))  # image side not divisible by 4: fail now
    net = build(cfg.model, frontend=frontend, num_classes=cfg.data.num_classes, in_channels=cfg.data.in_channels)
    fast = cfg.get("fast", {}) or {}
    compile = compile_option(fast.get("compile", False))
    cuda_graph = cuda_graph_option(fast.get("cuda_graph", False), compile, on_cuda, frontend, cfg.trainer)
    net.configure_speed(channels_last=resolve_auto(fast.get("channels_last"), on_cuda), bf16=precision.bf16,
                        compile=compile)
    o = cfg.optim
    return HybridClassifier(net, num_classes=cfg.data.num_classes, lr=o.lr, momentum=o.momentum,
                            weight_decay=o.weight_decay, milestones=list(o.milestones), gamma=o.gamma,
                            cuda_graph=cuda_graph)


def _fit_and_test(cfg: DictConfig, run_dir: Path, precision: Precision) -> dict[str, Any]:
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    datamodule = build(cfg.data)
    module = _build_module(cfg, precision)
    throughput = ThroughputMonitor()
    ckpt_dir = run_dir / "checkpoints"
    callbacks: list[pl.Callback] = [
        throughput,
        # One rolling checkpoint, rewritten at the end of every epoch (after validation and after the
        # throughput monitor has recorded the epoch, so its state is complete): what a killed run resumes from.
        ModelCheckpoint(dirpath=ckpt_dir, filename=LAST_CKPT[:-5], save_top_k=1, every_n_epochs=1,
                        enable_version_counter=False, save_on_train_epoch_end=True),
    ]
    loggers = build_loggers(cfg)
    if loggers:
        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    if cfg.get("progress_bar", True):
        callbacks.append(RichProgressBar())
    trainer: pl.Trainer = build(cfg.trainer, logger=loggers or False, callbacks=callbacks,
                                default_root_dir=str(run_dir), enable_progress_bar=bool(cfg.get("progress_bar", True)),
                                enable_model_summary=False, **trainer_overrides(cfg))
    for lg in loggers:  # the resolved config, interpolations resolved, on every dashboard
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    last = ckpt_dir / LAST_CKPT
    resumed_from = _resumable_epoch(last)
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(last) if resumed_from is not None else None)
        if trainer.interrupted:
            raise KeyboardInterrupt("training was interrupted")
        epochs_done = int(trainer.current_epoch)
        test = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    finally:
        _finish_loggers(loggers)
    out = {
        "test_acc": round(float(test["test/acc"]) * 100.0, 4),
        "test_loss": float(test["test/loss"]),
        "best_val_acc": None if throughput.best_val_acc is None else round(throughput.best_val_acc, 4),
        "epochs_completed": epochs_done,
        "resumed_from_epoch": resumed_from,
        "device": _device_name(module.device),
        "world_size": trainer.world_size,
        # all epochs' time, including those before a resume (the callback's state is in the checkpoint)
        "train_seconds": round(sum(throughput.epoch_seconds), 3),
        **throughput.summary(),
    }
    return out


def _finish_loggers(loggers: list) -> None:
    """Close each W&B run: the next run of a sweep (same process) must start its own."""
    for lg in loggers:
        if type(lg).__name__ == "WandbLogger" and getattr(lg, "_experiment", None) is not None:
            lg.experiment.finish()


def _resumable_epoch(last: Path) -> int | None:
    """The epoch a killed run resumes at, or None to start afresh. A checkpoint cut short by the kill is set
    aside (renamed ``.corrupt``) rather than trusted."""
    if not last.exists():
        return None
    try:
        epoch = int(torch.load(last, map_location="cpu", weights_only=False)["epoch"]) + 1
    except Exception as e:  # noqa: BLE001 - any unreadable checkpoint
        log.warning("checkpoint %s is unreadable (%s); starting this run afresh", last, e)
        last.replace(last.with_suffix(".ckpt.corrupt"))
        return None
    log.info("resuming from %s at epoch %d", last, epoch)
    return epoch


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"
