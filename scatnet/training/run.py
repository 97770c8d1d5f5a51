"""One training run, from a composed config to a metrics.json: skip if done, resume if killed, record failure.

The run directory is either Hydra's output dir (single runs) or, in sweeps, ``<paths.runs_dir>/<name>-<id>``
where ``id`` hashes the resolved config (see identity.py). A relaunched sweep therefore finds each run's
previous state: "completed" -> skipped; a ``checkpoints/last.ckpt`` -> resumed from it; otherwise started.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import platform
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint, RichProgressBar

import scatnet
from scatnet.errors import ConfigError
from scatnet.files import DiskFull, disk_full_message, is_disk_full
from scatnet.models.network import frontend_grad_option
from scatnet.precision import Precision, precision_policy
from scatnet.training.builders import (
    build,
    build_loggers,
    build_module,
    check_launch,
    check_speed_and_size,
    precision_from_config,
    trainer_overrides,
)
from scatnet.training.callbacks import FlushLoggers, ProgressFile, ThroughputMonitor
from scatnet.training.checkpoint_io import AtomicCheckpointIO
from scatnet.training.identity import run_id, stable_run_dir
from scatnet.training.lock import RUNNING_ELSEWHERE, RunLock
from scatnet.training.metrics_file import git_commit, is_completed, is_rank_zero, read_metrics, write_metrics
from scatnet.training.run_folder import (
    RUN_KEEPS_CHECKPOINT,
    keep_csv_rows_before,
    mend_logs_of_earlier_attempts,
    start_afresh,
)
from scatnet.training.signals import RunInterrupted, stop_on_signals
from scatnet.training.sweep import CallbackRefused
from scatnet.training.validate import check_config

log = logging.getLogger("scatnet")
LAST_CKPT = "last.ckpt"


@dataclasses.dataclass
class Setup:
    """A run's options checked and resolved once, before anything is written: what it builds with and where it
    writes. ``refused``: one point of a sweep whose options were refused (recorded as failed, not raised)."""

    precision: Precision
    frontend: Any
    run_dir: Path
    refused: ConfigError | None = None


def set_up(cfg: DictConfig, reraise: bool = True) -> Setup:
    """The run's first pass, in order: the launch (check_launch), every option (preflight: keys, values,
    precision, the front end built), then the identity and the folder it names (resolve_run_dir)."""
    check_launch(cfg)  # a launch that cannot work stops everything, a sweep included
    refused, frontend = None, None
    try:
        precision, frontend = preflight(cfg)
    except ConfigError as e:
        if reraise:  # a single run: refused before anything is written
            raise
        refused, precision = e, Precision()  # one point of a sweep's grid: recorded as failed, the sweep goes on
    return Setup(precision, frontend, resolve_run_dir(cfg, None if refused else precision.bf16), refused)


def resolve_run_dir(cfg: DictConfig, bf16: bool | None = None) -> Path:
    """Fix this run's directory and write it back into ``cfg.paths.run_dir`` (loggers interpolate it).
    ``bf16``: the body's precision as the run resolved it (its identity holds it)."""
    if cfg.paths.get("runs_dir"):
        run_dir, rid = stable_run_dir(Path(cfg.paths.runs_dir), cfg, bf16)
    else:
        run_dir, rid = Path(cfg.paths.run_dir), run_id(cfg, bf16=bf16)
    with open_dict(cfg):
        cfg.paths.run_dir = str(run_dir)
        cfg.run_id = rid  # loggers use it (a resumed run continues the same W&B run)
    return run_dir


def preflight(cfg: DictConfig) -> tuple[Precision, Any]:
    """Every check of a run's options that needs no data and no folder: the keys and values (validate.py), the
    precision, the front end's own options (it is built: a few filters), its autograd, the speed options and
    the image size. (precision, front end); a ConfigError names what is wrong."""
    check_config(cfg)
    precision = precision_from_config(cfg)
    frontend = build(cfg.frontend)  # each front end checks its own options (wavelet, L, impl, ...)
    if "frontend_grad" in cfg.model:  # a learning front end that would run without autograd
        frontend_grad_option(frontend, cfg.model.frontend_grad)
    check_speed_and_size(cfg, frontend)
    return precision, frontend


class CheckBeforeWriting(Callback):
    """A Hydra callback: a single run's options checked (preflight) before Hydra makes its run folder, so a bad
    input leaves nothing behind. (A sweep's points are checked by train(), each recorded as failed.)"""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        cfg = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
        try:
            with _hydra_config(config):
                check_launch(cfg)
                preflight(cfg)
        except ConfigError as e:
            raise CallbackRefused(e) from None


@contextlib.contextmanager
def _hydra_config(config: DictConfig):
    """Hydra's own config set while checking (the ${hydra:...} a run's name may read), as during the run."""
    from hydra.core.hydra_config import HydraConfig

    instance = HydraConfig.instance()
    previous = instance.cfg
    instance.set_config(config)
    try:
        yield
    finally:
        instance.cfg = previous


def train(cfg: DictConfig, reraise: bool = True) -> dict[str, Any]:
    """Run (or skip, or resume) one training run; return its metrics.json content.

    The run folder is locked while this process owns it (lock.py): when another live process holds it, the
    run is skipped with status "running elsewhere" and nothing is written. On an exception the run is
    recorded as failed with its reason; it is re-raised when ``reraise``. A signal (SIGTERM, Ctrl-C) records
    it as interrupted and always re-raises RunInterrupted, so a sweep starts no further run.
    """
    setup = set_up(cfg, reraise)
    run_dir = setup.run_dir
    lock = RunLock(run_dir)
    if is_rank_zero() and not lock.acquire():  # DDP's other ranks run inside rank 0's ownership
        log.warning("skip %s: %s holds it", run_dir, lock.holder())
        return {
            "status": RUNNING_ELSEWHERE,
            "run_dir": str(run_dir),
            "run_name": str(cfg.run_name),
            "data": str(cfg.data.name),
            "frontend": str(cfg.frontend.name),
            "holder": lock.holder(),
        }
    try:
        with stop_on_signals():
            return _train_owned(cfg, setup, reraise)
    finally:
        lock.release()


def _train_owned(cfg: DictConfig, setup: Setup, reraise: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    run_dir, precision = setup.run_dir, setup.precision
    previous = read_metrics(run_dir)
    if cfg.get("force", False):
        start_afresh(run_dir)
    elif is_completed(previous):
        log.info("skip %s: already completed (test_acc %.2f%%)", run_dir, previous.get("test_acc") or float("nan"))
        previous["skipped"] = True
        return previous

    metrics: dict[str, Any] = {
        "status": "running",
        "run_id": str(cfg.run_id),
        "run_name": str(cfg.run_name),
        "run_dir": str(run_dir),
        "data": str(cfg.data.name),
        "frontend": str(cfg.frontend.name),
        "seed": int(cfg.seed),
        "test_acc": None,
        "best_val_acc": None,
        "epochs_completed": 0,
        "max_epochs": int(cfg.trainer.max_epochs),
        "wall_seconds": None,
        "images_per_second": None,
        "config": OmegaConf.to_container(cfg, resolve=True),
        "version": scatnet.__version__,
        "git_commit": git_commit(),
        "started_at": dt.datetime.now().isoformat(timespec="seconds"),
        "host_python": platform.python_version(),
        "torch": torch.__version__,
        "precision": precision.record(),
    }
    last = run_dir / "checkpoints" / LAST_CKPT
    resumed_from = _resumable_epoch(last)
    # the launches that built the current checkpoint (a fresh start forgets the earlier attempts' time)
    launches = list((previous or {}).get("launches") or []) if resumed_from is not None else []
    launch = {"started_at": metrics["started_at"], "resumed_from_epoch": resumed_from}
    metrics["launches"] = [*launches, launch]

    def finish(status: str, **extra) -> dict[str, Any]:
        launch.update(wall_seconds=round(time.perf_counter() - t0, 3), status=status)
        metrics.update(status=status, **extra)
        metrics["wall_seconds"] = round(sum(lc.get("wall_seconds") or 0.0 for lc in metrics["launches"]), 3)
        write_metrics(run_dir, metrics)
        return metrics

    try:
        write_metrics(run_dir, metrics)
        if setup.refused is not None:
            raise setup.refused
        with precision_policy(precision):
            metrics.update(_fit_and_test(cfg, setup, resumed_from))
    except RunInterrupted as e:
        e.args = (_interrupted_message(e, run_dir),)
        finish("interrupted", reason=str(e))
        raise
    except BaseException as e:  # noqa: BLE001 - any ending that is not completion is recorded, then re-raised
        if is_disk_full(e) or isinstance(e, DiskFull):  # said of the run's folder, whichever file it hit
            e = DiskFull(disk_full_message(run_dir, RUN_KEEPS_CHECKPOINT))
        finish("failed", reason=f"{type(e).__name__}: {e}".strip())
        if isinstance(e, DiskFull):
            raise e from None
        if reraise or not isinstance(e, Exception):
            raise
        log.error("run %s failed: %s", run_dir, metrics["reason"])
        return metrics
    metrics["finished_at"] = dt.datetime.now().isoformat(timespec="seconds")
    return finish("completed")


def _interrupted_message(e: RunInterrupted, run_dir: Path) -> str:
    epoch = _resumable_epoch(run_dir / "checkpoints" / LAST_CKPT, quiet=True)
    kept = f"its checkpoint resumes at epoch {epoch}" if epoch is not None else "no epoch had finished"
    return (
        f"{e.args[0]} in run {run_dir} ({kept}); relaunch the same command to "
        f"{'resume' if epoch is not None else 'start it again'}"
    )


def _fit_and_test(cfg: DictConfig, setup: Setup, resumed_from: int | None) -> dict[str, Any]:
    run_dir = setup.run_dir
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    datamodule = build(cfg.data)
    module = build_module(cfg, setup.precision, setup.frontend)
    throughput = ThroughputMonitor()
    ckpt_dir = run_dir / "checkpoints"
    # What every run needs, whatever the callbacks config says: the per-epoch timing metrics.json reports,
    # the loggers' flush, and one rolling checkpoint, rewritten at the end of every epoch (after validation
    # and after the throughput monitor has recorded the epoch, so its state is complete): what a killed run
    # resumes from.
    callbacks: list[pl.Callback] = [
        throughput,
        ProgressFile(run_dir, throughput),
        FlushLoggers(),
        ModelCheckpoint(
            dirpath=ckpt_dir,
            filename=LAST_CKPT[:-5],
            save_top_k=1,
            every_n_epochs=1,
            enable_version_counter=False,
            save_on_train_epoch_end=True,
        ),
    ]
    mend_logs_of_earlier_attempts(run_dir)  # before the loggers open new files beside them
    loggers = build_loggers(cfg)
    callbacks += optional_callbacks(cfg, bool(loggers))
    trainer: pl.Trainer = build(
        cfg.trainer,
        logger=loggers or False,
        callbacks=callbacks,
        default_root_dir=str(run_dir),
        enable_progress_bar=bool(cfg.get("progress_bar", True)),
        enable_model_summary=False,
        plugins=[AtomicCheckpointIO()],
        **trainer_overrides(cfg),
    )
    for lg in loggers:  # the resolved config, interpolations resolved, on every dashboard
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    last = ckpt_dir / LAST_CKPT
    keep_csv_rows_before(run_dir, resumed_from or 0)  # a resume, restart or retry never repeats rows
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(last) if resumed_from is not None else None)
        if trainer.interrupted:
            raise KeyboardInterrupt("training was interrupted")
        epochs_done = int(trainer.current_epoch)
        test = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    finally:
        _finish_loggers(loggers)
        _close_process_group()
    out = {
        "test_acc": round(float(test["test/acc"]) * 100.0, 4),
        "test_loss": float(test["test/loss"]),
        "best_val_acc": None if throughput.best_val_acc is None else round(throughput.best_val_acc, 4),
        "epochs_completed": epochs_done,
        "resumed_from_epoch": resumed_from,
        "device": _device_name(module.device),
        "world_size": trainer.world_size,
        "parameters": sum(p.numel() for p in module.net.parameters() if p.requires_grad),  # trainable
        # all epochs' time, including those before a resume (the callback's state is in the checkpoint)
        "train_seconds": round(sum(throughput.epoch_seconds), 3),
        **throughput.summary(),
    }
    return out


def optional_callbacks(cfg: DictConfig, have_loggers: bool) -> list[pl.Callback]:
    """The callbacks config's callbacks: a learning-rate monitor only with a logger to write to, a progress
    bar only with progress_bar=true."""
    out = []
    for name, node in (cfg.get("callbacks") or {}).items():
        callback = build(node)
        if isinstance(callback, LearningRateMonitor) and not have_loggers:
            continue
        if isinstance(callback, RichProgressBar) and not cfg.get("progress_bar", True):
            continue
        out.append(callback)
    return out


def _close_process_group() -> None:
    """DDP's process group, closed once the run is done: left to the interpreter's exit, gloo's threads can
    abort a rank ("terminate called without an active exception", exit 134) after a run that succeeded."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _finish_loggers(loggers: list) -> None:
    """Write every logger's buffered rows, then close each W&B run: the next run of a sweep (same process) must
    start its own. The rows of the last finished epoch are logged after its checkpoint, so a run stopped by a
    signal before the next epoch's flush (FlushLoggers) would resume without them. A logger that cannot write
    or a W&B record that cannot be finished (a full disk) costs a warning, never the run's own ending or its
    error."""
    for lg in loggers:
        try:
            lg.save()
        except Exception as e:  # noqa: BLE001 - each logger raises its own kinds
            log.warning("%s could not write its last rows (%s)", type(lg).__name__, " ".join(str(e).split())[:200])
        if type(lg).__name__ == "WandbLogger" and getattr(lg, "_experiment", None) is not None:
            try:
                lg.experiment.finish()
            except Exception as e:  # noqa: BLE001 - wandb raises several kinds
                log.warning("W&B could not finish its record (%s)", " ".join(str(e).split())[:200])


def _resumable_epoch(last: Path, quiet: bool = False) -> int | None:
    """The epoch a killed run resumes at, or None to start afresh. A checkpoint that cannot be read, or is not
    a Lightning checkpoint of this kind, is set aside (renamed ``.corrupt``) rather than trusted."""
    if not last.exists():
        return None
    try:
        ckpt = torch.load(last, map_location="cpu", weights_only=False)
        epoch = int(ckpt["epoch"]) + 1
        missing = [k for k in ("pytorch-lightning_version", "state_dict", "optimizer_states") if k not in ckpt]
        if missing:
            raise KeyError(f"not a Lightning training checkpoint (no {', '.join(missing)})")
    except Exception as e:  # noqa: BLE001 - any unreadable checkpoint
        log.warning(
            "checkpoint %s is unusable (%s); set aside as %s.corrupt, starting this run afresh", last, e, last.name
        )
        last.replace(last.with_suffix(".ckpt.corrupt"))
        return None
    if not quiet:
        log.info("resuming from %s at epoch %d", last, epoch)
    return epoch


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"
