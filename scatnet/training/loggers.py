"""W&B logger that never hangs a run: offline works with no account and no network, and an online start
that cannot reach the server falls back to offline (sync later with ``wandb sync <run_dir>/wandb/...``)."""
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
        return WandbLogger(project=project, name=name, save_dir=save_dir, id=id, group=group, tags=list(tags),
                           offline=off, resume="allow", settings=wandb.Settings(init_timeout=init_timeout),
                           **kwargs)

    logger = make(offline)
    try:
        logger.experiment  # start the run now, so a dead network is found here, not mid-training
    except Exception as e:  # noqa: BLE001 - wandb raises several kinds on network trouble
        log.warning("W&B could not start online (%s); logging offline to %s instead. Sync later with "
                    "`wandb sync %s/wandb/offline-run-*`", e, save_dir, save_dir)
        os.environ["WANDB_MODE"] = "offline"
        logger = make(True)
    return logger
