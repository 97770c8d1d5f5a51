"""Callbacks Lightning lacks: epoch wall time, training throughput, best validation accuracy, logs flushed
once an epoch, and a progress file a watcher can read."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from scatnet.files import write_text


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on CPU): wall-clock timing of GPU work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class ThroughputMonitor(pl.Callback):
    """Logs perf/epoch_seconds and perf/images_per_second (training images per second of the train loop,
    summed over ranks) and keeps the per-epoch figures for metrics.json."""

    def __init__(self):
        self.epoch_seconds: list[float] = []
        self.images_per_second: list[float] = []
        self.best_val_acc: float | None = None
        self.last_val_acc: float | None = None
        self._t0 = 0.0
        self._images = 0
        self._train_end: float | None = None

    def on_train_epoch_start(self, trainer, pl_module):
        synchronize(pl_module.device)
        self._t0, self._images, self._train_end = time.perf_counter(), 0, None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._images += int(batch[1].shape[0])

    def _mark_train_end(self, pl_module) -> None:
        if self._train_end is None:
            synchronize(pl_module.device)
            self._train_end = time.perf_counter()

    def on_validation_epoch_start(self, trainer, pl_module):
        # Validation runs inside the training epoch: the train loop's time ends here.
        if not trainer.sanity_checking and self._images:
            self._mark_train_end(pl_module)

    def on_train_epoch_end(self, trainer, pl_module):
        self._mark_train_end(pl_module)
        now = time.perf_counter()
        train_dt = self._train_end - self._t0
        ips = self._images * trainer.world_size / train_dt if train_dt > 0 else 0.0
        self.epoch_seconds.append(now - self._t0)
        self.images_per_second.append(ips)
        pl_module.log("perf/epoch_seconds", now - self._t0, on_epoch=True, sync_dist=True)
        pl_module.log("perf/images_per_second", ips, on_epoch=True, sync_dist=True)

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        acc = trainer.callback_metrics.get("val/acc")
        if acc is not None:
            acc = float(acc) * 100.0
            self.best_val_acc = acc if self.best_val_acc is None else max(self.best_val_acc, acc)
            self.last_val_acc = acc

    def summary(self) -> dict:
        # Median over epochs, skipping the first when there are more (it pays for warm-up / cudnn autotune).
        ips = self.images_per_second[1:] or self.images_per_second
        return {
            "images_per_second": statistics.median(ips) if ips else None,
            "epoch_seconds_median": statistics.median(self.epoch_seconds) if self.epoch_seconds else None,
        }

    def state_dict(self):
        return {
            "best_val_acc": self.best_val_acc,
            "epoch_seconds": self.epoch_seconds,
            "images_per_second": self.images_per_second,
        }

    def load_state_dict(self, state):
        self.best_val_acc = state.get("best_val_acc")
        self.epoch_seconds = list(state.get("epoch_seconds", []))
        self.images_per_second = list(state.get("images_per_second", []))


class FlushLoggers(pl.Callback):
    """Writes the loggers' buffered rows at the start of every epoch, when the previous epoch's rows (logged
    after its checkpoint) are all in: Lightning's CSV logger otherwise flushes every 100 steps, and a run
    killed before that would resume from a checkpoint whose epochs the CSV log lacks."""

    def on_train_epoch_start(self, trainer, pl_module):
        for logger in trainer.loggers:
            logger.save()


class ProgressFile(pl.Callback):
    """``<run>/progress.json`` at the end of every epoch (rank zero): the epoch, the validation accuracy so far
    and the epoch times (``throughput``'s, so it comes after it among the callbacks); what scatnet-study
    shows while the run trains and estimates the time left from."""

    def __init__(self, run_dir, throughput: ThroughputMonitor):
        self.path, self.throughput = Path(run_dir) / "progress.json", throughput

    def on_train_epoch_end(self, trainer, pl_module):
        # the throughput monitor's figures, not trainer.callback_metrics: reading those on one rank alone would
        # start a collective (an all-reduce of the sync_dist metrics) that the other ranks never join
        if trainer.global_rank != 0:
            return
        acc = self.throughput.last_val_acc
        state = {
            "epoch": trainer.current_epoch + 1,
            "max_epochs": trainer.max_epochs,
            "val_acc": None if acc is None else round(acc, 4),
            "epoch_seconds": [round(t, 3) for t in self.throughput.epoch_seconds],
        }
        write_text(self.path, json.dumps(state) + "\n")  # whole or not at all, a full disk included
