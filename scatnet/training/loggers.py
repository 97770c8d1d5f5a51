"""Loggers in the form scatnet needs.

W&B: never hangs a run; offline works with no account and no network, and an online start that cannot reach
the server falls back to offline (sync later with ``wandb sync <run_dir>/wandb/...``).
CSV: Lightning's CSV layout, appended to across a resume instead of deleted (public Logger API only).
"""

from __future__ import annotations

import logging
import os
from typing import Sequence

log = logging.getLogger("scatnet")


_went_offline = False  # an online start failed in this process: later runs (a sweep's) go offline at once


def wandb_logger(
    project: str,
    name: str,
    save_dir: str,
    id: str | None = None,
    group: str | None = None,
    tags: Sequence[str] = (),
    offline: bool = False,
    init_timeout: float = 30.0,
    **kwargs,
):
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
        log.warning(
            "W&B could not start online (%s); logging offline to %s/wandb/ instead. Sync later with "
            "`wandb sync %s/wandb/offline-run-*`",
            reason,
            save_dir,
            save_dir,
        )
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
        logger = WandbLogger(
            project=project,
            name=name,
            save_dir=save_dir,
            id=id,
            group=group,
            tags=list(tags),
            offline=offline,
            resume="allow",
            **kwargs,
            settings=wandb.Settings(init_timeout=init_timeout, mode="offline" if offline else "online"),
        )
        logger.experiment
    finally:
        if before is None:
            os.environ.pop("WANDB_MODE", None)
        else:
            os.environ["WANDB_MODE"] = before
    return logger


def csv_logger(save_dir: str, name: str = "csv", version: str = ""):
    """metrics.csv in ``<save_dir>/<name>/``, in Lightning's CSV layout (a row per logging call, its keys as
    sorted columns, "step"), that survives a kill and resume: the log of the whole run stays in one file.
    Written with Lightning's public Logger API only: its CSVLogger removes metrics.csv when a process starts,
    and changing that meant overriding private internals."""
    from pytorch_lightning.loggers.logger import Logger
    from pytorch_lightning.utilities import rank_zero_only

    class AppendingCSVLogger(Logger):
        def __init__(self):
            super().__init__()
            self._dir, self._rows = os.path.join(save_dir, name), []

        name = property(lambda self: name)
        version = property(lambda self: version)
        save_dir = property(lambda self: save_dir)
        log_dir = property(lambda self: self._dir)

        @rank_zero_only
        def log_hyperparams(self, params, *args, **kwargs) -> None:
            pass  # the resolved config is in metrics.json and the checkpoint

        @rank_zero_only
        def log_metrics(self, metrics: dict, step: int | None = None) -> None:
            row = {k: (v.item() if hasattr(v, "item") else v) for k, v in metrics.items()}
            self._rows.append({**row, "step": len(self._rows) if step is None else step})

        @rank_zero_only
        def save(self) -> None:
            if self._rows:
                append_csv_rows(os.path.join(self._dir, "metrics.csv"), self._rows)
                self._rows = []

        @rank_zero_only
        def finalize(self, status: str) -> None:
            self.save()

    return AppendingCSVLogger()


def append_csv_rows(path: str, rows: list[dict]) -> None:
    """Appends rows to a CSV file; a key it has not seen re-headers it (the sorted union of keys)."""
    import csv

    os.makedirs(os.path.dirname(path), exist_ok=True)
    old: list[dict] = []
    keys: list[str] = []
    if os.path.isfile(path):
        with open(path, newline="") as f:
            keys = next(csv.reader(f), [])
    new = set().union(*rows) - set(keys)
    if new:
        if keys:
            with open(path, newline="") as f:
                old = list(csv.DictReader(f))
        keys = sorted(set(keys) | new)
    with open(path, "w" if new else "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        if new:
            writer.writeheader()
            writer.writerows(old)
        writer.writerows(rows)
