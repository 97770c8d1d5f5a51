"""Loggers in the form scatnet needs.

W&B: never hangs a run; offline works with no account and no network, and an online start that cannot reach
the server falls back to offline (sync later with ``wandb sync <run_dir>/wandb/...``).
CSV: Lightning's CSVLogger, except that a resumed run appends to its metrics.csv instead of deleting it.
"""
from __future__ import annotations

import logging
import os
from typing import Sequence

log = logging.getLogger("scatnet")


def wandb_logger(project: str, name: str, save_dir: str, id: str | None = None, group: str | None = None,
                 tags: Sequence[str] = (), offline: bool = False, init_timeout: float = 30.0, **kwargs):
    import wandb
    from pytorch_lightning.loggers import WandbLogger

    offline = offline or os.environ.get("WANDB_MODE", "").lower() in ("offline", "dryrun")
    os.makedirs(save_dir, exist_ok=True)

    def make(off: bool) -> WandbLogger:
        # the mode goes into the Settings too: explicit Settings override WANDB_MODE, and an "online" one logs in
        settings = wandb.Settings(init_timeout=init_timeout, mode="offline" if off else "online")
        return WandbLogger(project=project, name=name, save_dir=save_dir, id=id, group=group, tags=list(tags),
                           offline=off, resume="allow", settings=settings, **kwargs)

    logger = make(offline)
    try:
        logger.experiment  # start the run now: no key, a wrong key or no network is found here, not mid-training
    except Exception as e:  # noqa: BLE001 - wandb raises several kinds (UsageError, AuthenticationError, CommError)
        if offline:
            raise
        reason = " ".join(str(e).split()) or type(e).__name__
        log.warning("W&B could not start online (%s); logging offline to %s/wandb/ instead. Sync later with "
                    "`wandb sync %s/wandb/offline-run-*`", reason, save_dir, save_dir)
        os.environ["WANDB_MODE"] = "offline"  # the next runs of this process (a sweep) go offline at once
        wandb.teardown()  # the failed start still holds the run's id in W&B's service: a fresh service takes it
        logger = make(True)
        logger.experiment
    return logger


def _appending_writer_class():
    from pytorch_lightning.loggers.csv_logs import ExperimentWriter

    class AppendingExperimentWriter(ExperimentWriter):
        """Lightning's writer deletes metrics.csv when it starts; a resumed run must keep its earlier epochs.
        This one keeps the file and starts from its header, so new rows append (and new keys re-header it)."""

        def _check_log_dir_exists(self) -> None:
            if self._fs.isfile(self.metrics_file_path):
                import csv

                with self._fs.open(self.metrics_file_path, "r", newline="") as f:
                    self.metrics_keys = sorted(next(csv.reader(f), []))

    return AppendingExperimentWriter


def csv_logger(save_dir: str, name: str = "csv", version: str = ""):
    """CSVLogger whose metrics.csv survives a kill and resume (the log of the whole run stays in one file)."""
    from pytorch_lightning.loggers import CSVLogger

    class ResumableCSVLogger(CSVLogger):
        @property
        def experiment(self):
            if self._experiment is None:
                self._fs.makedirs(self.root_dir, exist_ok=True)
                self._experiment = _appending_writer_class()(log_dir=self.log_dir)
            return self._experiment

    return ResumableCSVLogger(save_dir=save_dir, name=name, version=version)
