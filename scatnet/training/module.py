"""LightningModule for the hybrid network, with the thesis recipe as defaults.

SGD (lr 0.5, momentum 0.85, weight decay 1e-4), MultiStepLR x0.2 at the milestones, cross entropy.
Logs train/loss, train/acc, val/loss, val/acc, test/loss, test/acc.
"""
from __future__ import annotations

from typing import Sequence

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy

from scatnet.models.hybrid import HybridNet


class NonFiniteLossError(FloatingPointError):
    pass


class HybridClassifier(pl.LightningModule):
    def __init__(self, net: HybridNet, num_classes: int, lr: float = 0.5, momentum: float = 0.85,
                 weight_decay: float = 1e-4, milestones: Sequence[int] = (60, 80, 100), gamma: float = 0.2):
        super().__init__()
        self.net = net
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.milestones, self.gamma = list(milestones), gamma
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch, stage: str, acc: MulticlassAccuracy):
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits.float(), y)
        acc(logits, y)
        on_step = stage == "train"
        self.log(f"{stage}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, sync_dist=not on_step,
                 batch_size=y.shape[0])
        self.log(f"{stage}/acc", acc, on_step=False, on_epoch=True, prog_bar=True, batch_size=y.shape[0])
        return loss

    def training_step(self, batch, batch_idx):
        loss = self._step(batch, "train", self.train_acc)
        # A NaN/inf loss is a failed run, not a silently diverged one (the sweep records the reason). The flag
        # stays on the device and is read once per epoch: a per-step check would sync the GPU every step.
        self._nonfinite = self._nonfinite | ~torch.isfinite(loss.detach())
        return loss

    def on_train_epoch_start(self) -> None:
        self._nonfinite = torch.zeros((), dtype=torch.bool, device=self.device)

    def on_train_epoch_end(self) -> None:
        if bool(self._nonfinite):
            raise NonFiniteLossError(f"loss became nan or inf during epoch {self.current_epoch}")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val", self.val_acc)

    def test_step(self, batch, batch_idx):
        self._step(batch, "test", self.test_acc)

    def configure_optimizers(self):
        # fused: the whole update (weight decay, momentum, step) in one multi-tensor kernel per device instead
        # of a chain of foreach kernels; same numbers (tests/test_models.py), fewer launches per GPU step
        opt = torch.optim.SGD(self.parameters(), lr=self.lr, momentum=self.momentum,
                              weight_decay=self.weight_decay, fused=True)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=self.milestones, gamma=self.gamma)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
