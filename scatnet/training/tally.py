"""Per-epoch loss and accuracy sums kept on the device: no host sync and no logging call per step.

Why not torchmetrics + ``self.log`` on every step: Lightning's ``self.log`` moves its whole result
collection on every call and MulticlassAccuracy's forward computes a per-batch value besides the update, so
together they cost more host time a step than a fast step on a GPU has (docs/PERFORMANCE.md, "The training
step"). And a step value logged with ``prog_bar=True`` is turned into a Python number
after every later batch, a device->host sync per step that stops the host from queueing work ahead of the
GPU (here only the steps the loggers write sync). The tally is
two in-place adds per step; the epoch ends with one reduction across ranks (exact global means, whatever
the shard sizes) and one read.
"""

from __future__ import annotations

import torch


class EpochTally:
    def __init__(self, device: torch.device | str):
        self.sums = torch.zeros(2, dtype=torch.float64, device=device)  # sum of loss x batch size, correct
        self.count = 0  # samples, counted on the host (batch sizes are known there)

    def update(self, loss: torch.Tensor, logits: torch.Tensor, target: torch.Tensor) -> None:
        n = target.shape[0]
        self.sums[0].add_(loss.detach(), alpha=n)
        self.sums[1].add_((logits.detach().argmax(1) == target).sum())
        self.count += n

    def compute(self, reduce_sum=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean loss, accuracy in [0, 1]) over the epoch, summed over ranks by ``reduce_sum`` (a
        collective such as ``lambda t: strategy.reduce(t, reduce_op="sum")``; None on one process). An
        epoch with no samples gives NaN."""
        totals = torch.cat([self.sums, self.sums.new_tensor([self.count])])
        if reduce_sum is not None:
            totals = reduce_sum(totals)
        loss_sum, correct, count = totals.unbind()
        return (loss_sum / count).float(), (correct / count).float()
