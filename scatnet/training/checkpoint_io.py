"""Checkpoints that are either complete or absent.

Lightning's default save writes through fsspec's transaction, whose temporary file lives in the system temp
folder: on another filesystem the final "move" is a copy, and a kill or a full disk during it leaves a
truncated ``last.ckpt`` at the final path. Here the temporary file sits beside the target, is flushed to disk
and renamed over it (atomic on POSIX), so the previous checkpoint stays until the new one is whole.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        # serialised in memory first: torch's zip writer turns a failed write into a RuntimeError ("unexpected
        # pos"), while Python's own write raises the OSError (ENOSPC) that names a full disk
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        try:
            with open(tmp, "wb") as f:
                f.write(buffer.getbuffer())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
