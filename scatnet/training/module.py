"""LightningModule for the hybrid network: cross entropy, with the optimizer and scheduler the config gives
(scatnet/configs/optim/: the thesis' SGD and MultiStepLR).

Logs, once per epoch, train/loss, train/acc, val/loss, val/acc, test/loss, test/acc (exact means over the
epoch and all ranks), and train/loss_step every ``trainer.log_every_n_steps`` steps. Nothing in a step
waits for the GPU: the epoch sums stay on the device (tally.py says why and what it saves).
"""

from __future__ import annotations

from typing import Any, Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from scatnet.models.network import Network
from scatnet.training.tally import EpochTally


class NonFiniteLossError(FloatingPointError):
    pass


def match_state_layout(optimizer: torch.optim.Optimizer) -> None:
    """After loading a checkpoint: each per-parameter state tensor (momentum) in its parameter's memory format.
    ``Optimizer.load_state_dict`` keeps the saved strides, so a run saved with contiguous weights and resumed
    with channels_last ones (CPU -> GPU: fast.channels_last auto) would hand the fused SGD kernel a momentum
    laid out unlike its parameter, which it reads element for element in memory order: a wrong update."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            for key, value in state.items():
                if isinstance(value, torch.Tensor) and value.shape == p.shape and value.stride() != p.stride():
                    state[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


class HybridClassifier(pl.LightningModule):
    """``optimizer``: parameters -> torch Optimizer; ``scheduler``: optimizer -> LR scheduler, stepped once per
    epoch (``_partial_`` configs). ``config``: the run's resolved config, saved in every checkpoint
    (``hyper_parameters``), so that a checkpoint rebuilds its network on its own (``load_checkpoint``)."""

    def __init__(
        self,
        net: Network,
        num_classes: int,
        optimizer: Callable,
        scheduler: Callable,
        cuda_graph: bool = False,
        config: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"])
        self.cuda_graph = cuda_graph  # capture the net's training forward/backward at the first batch
        self.net = net
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.tallies: dict[str, EpochTally] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch, stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits.float(), y)
        self.tallies[stage].update(loss, logits, y)
        return loss

    def _start(self, stage: str) -> None:
        self.tallies[stage] = EpochTally(self.device)

    def _end(self, stage: str) -> torch.Tensor:
        """Log the epoch's mean loss and accuracy (summed over ranks); return the mean loss."""
        reduce_sum = None
        if self.trainer.world_size > 1:
            reduce_sum = lambda t: self.trainer.strategy.reduce(t, reduce_op="sum")  # noqa: E731
        loss, acc = self.tallies.pop(stage).compute(reduce_sum)
        self.log_dict({f"{stage}/loss": loss, f"{stage}/acc": acc}, prog_bar=True)
        return loss

    def training_step(self, batch, batch_idx):
        loss = self._step(batch, "train")
        # Only on the steps the loggers write (Lightning writes step metrics every log_every_n_steps): a
        # self.log call costs more host time than the rest of a GPU step's bookkeeping. Not on the progress
        # bar: Lightning converts a prog_bar value to a Python number after every later batch (a sync each).
        every = self.trainer.log_every_n_steps if self._trainer is not None else 0
        if every and (self.global_step + 1) % every == 0:
            self.log("train/loss_step", loss.detach(), on_step=True, on_epoch=False)
        return loss

    def on_train_batch_start(self, batch, batch_idx) -> None:
        if self.cuda_graph and self.net.graphed is None:
            self.net.capture_cuda_graph(batch[0])

    def on_train_epoch_start(self) -> None:
        self._start("train")

    def on_train_epoch_end(self) -> None:
        # A NaN/inf loss is a failed run, not a silently diverged one (the sweep records the reason). The
        # losses are >= 0, so their sum is finite exactly when every step's loss was.
        if not torch.isfinite(self._end("train")):
            raise NonFiniteLossError(f"loss became nan or inf during epoch {self.current_epoch}")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def on_validation_epoch_start(self) -> None:
        self._average_batchnorm_statistics()
        self._start("val")

    def on_validation_epoch_end(self) -> None:
        self._end("val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def on_test_epoch_start(self) -> None:
        self._average_batchnorm_statistics()
        self._start("test")

    def _average_batchnorm_statistics(self) -> None:
        """Under DDP, before every evaluation (and so before every checkpoint, written after validation): each
        BatchNorm's running mean and variance averaged over the ranks, in one all-reduce. The trainer=ddp config
        does not broadcast buffers at every step (broadcast_buffers: false: the front end's filters are
        constants, and rank 0's statistics would be copied over the others' ~5 times a step), so the ranks'
        statistics drift apart during an epoch; averaged, every rank evaluates with the same model, the one the
        checkpoint holds."""
        if self._trainer is None or self.trainer.world_size == 1:
            return
        stats = [
            t
            for m in self.modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats
            for t in (m.running_mean, m.running_var)
        ]
        if stats:
            flat = self.trainer.strategy.reduce(torch.cat([t.flatten() for t in stats]), reduce_op="mean")
            for t, avg in zip(stats, flat.split([t.numel() for t in stats])):
                t.copy_(avg.view_as(t))

    def on_test_epoch_end(self) -> None:
        self._end("test")

    def configure_optimizers(self):
        opt = self.optimizer_factory(self.parameters())
        opt.register_load_state_dict_post_hook(match_state_layout)
        sched = self.scheduler_factory(opt)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
