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


_went_offline = False  # an online start failed in this process: later runs (a sweep's) go offline at once


def wandb_logger(project: str, name: str, save_dir: str, id: str | None = None, group: str | None = None,
                 tags: Sequence[str] = (), offline: bool = False, init_timeout: float = 30.0, **kwargs):
    import wandb

    global _went_offline
    offline = offline or _went_offline or os.environ.get("WANDB_MODE", "").lower() in ("offline", "dryrun")
    os.makedirs(save_dir, exist_ok=True)
    try:
        return _started(project, name, save_dir, id, group, tags, offline, init_timeout, **kwargs)
    except Exception as e:  # noqa: BLE001 - wandb raises several kinds (UsageError, AuthenticationError, CommError)
        if offline:
            raise
        reason = " ".join(str(e).split()) or type(e).__name__
        log.warning("W&B could not start online (%s); logging offline to %s/wandb/ instead. Sync later with "
                    "`wandb sync %s/wandb/offline-run-*`", reason, save_dir, save_dir)
        _went_offline = True
        # the failed start still holds the run's id in W&B's service (this process's, or one inherited through
        # WANDB_SERVICE): a fresh service of this process's own takes the offline run
        wandb.teardown()
        os.environ.pop("WANDB_SERVICE", None)
        return _started(project, name, save_dir, id, group, tags, True, init_timeout, **kwargs)


def _started(project, name, save_dir, id, group, tags, offline: bool, init_timeout: float, **kwargs):
    """Lightning's WandbLogger with its run started now, so that no key, a wrong key or no network is found
    here, not mid-training. The mode goes into W&B's Settings (explicit Settings override WANDB_MODE, and an
    "online" one logs in); WANDB_MODE, which Lightning sets for an offline run, is put back as it was, so no
    later run of this process inherits it."""
    import wandb
    from pytorch_lightning.loggers import WandbLogger

    before = os.environ.get("WANDB_MODE")
    try:
        logger = WandbLogger(project=project, name=name, save_dir=save_dir, id=id, group=group, tags=list(tags),
                             offline=offline, resume="allow", **kwargs,
                             settings=wandb.Settings(init_timeout=init_timeout,
                                                     mode="offline" if offline else "online"))
        logger.experiment
    finally:
        if before is None:
            os.environ.pop("WANDB_MODE", None)
        else:
            os.environ["WANDB_MODE"] = before
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
