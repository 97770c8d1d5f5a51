"""The training step's bookkeeping: exact epoch means from the device-side tally, and no device->host sync
anywhere in a step (loader batch, fast front end, body, loss, tally, backward, fused SGD update)."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from scatnet.data import DeviceLoader, ImageSet
from scatnet.frontends import DTCWTScattering
from scatnet.models import HybridNet
from scatnet.training.module import HybridClassifier
from scatnet.training.tally import EpochTally
from tests.conftest import thesis_optim

# aten ops whose result the host must wait for on a GPU (a scalar read, or an output sized by the data)
SYNCING_OPS = {
    "_local_scalar_dense",
    "item",
    "is_nonzero",
    "equal",
    "nonzero",
    "_unique",
    "_unique2",
    "unique_dim",
    "unique_consecutive",
    "bincount",
    "masked_select",
    "repeat_interleave",
}


class RecordOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def test_tally_gives_exact_means_over_batches_and_ranks_of_unequal_sizes():
    torch.manual_seed(0)
    logits, target = torch.randn(10, 4), torch.randint(0, 4, (10,))
    per_sample = F.cross_entropy(logits, target, reduction="none")
    ranks = [EpochTally("cpu"), EpochTally("cpu")]
    for rank, lo, hi in [(0, 0, 3), (0, 3, 4), (1, 4, 9), (1, 9, 10)]:  # rank 0: 4 samples, rank 1: 6
        ranks[rank].update(per_sample[lo:hi].mean(), logits[lo:hi], target[lo:hi])
    assert ranks[0].count == 4 and ranks[1].count == 6
    other = torch.cat([ranks[1].sums, ranks[1].sums.new_tensor([ranks[1].count])])
    loss, acc = ranks[0].compute(reduce_sum=lambda t: t + other)  # what an all-reduce(sum) returns
    assert torch.allclose(loss, per_sample.mean(), atol=1e-6)
    assert acc == (logits.argmax(1) == target).float().mean()
    alone_loss, alone_acc = ranks[1].compute()  # one process: its own samples only
    assert torch.allclose(alone_loss, per_sample[4:].mean(), atol=1e-6)
    assert alone_acc == (logits[4:].argmax(1) == target[4:]).float().mean()


def test_a_training_step_never_waits_for_the_device():
    """What lets the host queue GPU work ahead: run on the CPU, every aten op of a whole step is recorded
    and none of them reads a value back or sizes an output by the data."""
    torch.manual_seed(0)
    data = ImageSet(torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8), torch.randint(0, 10, (16,)))
    loader = DeviceLoader(data, 8, [0.5] * 3, [0.25] * 3, train=True, crop_padding=4, flip=True)
    net = HybridNet(DTCWTScattering(impl="fast", strategy="direct"), num_classes=10, width=4)
    module = HybridClassifier(net, num_classes=10, **thesis_optim())
    opt = module.configure_optimizers()["optimizer"]
    module.on_train_epoch_start()
    batches = iter(loader)
    with RecordOps() as rec:
        batch = next(batches)
        loss = module.training_step(batch, 0)
        loss.backward()
        opt.step()
        opt.zero_grad()
    assert {"convolution", "addmm", "nll_loss_forward", "_fused_sgd_", "argmax"} <= set(rec.names)
    assert not SYNCING_OPS & set(rec.names), sorted(SYNCING_OPS & set(rec.names))
    assert module.tallies["train"].count == 8


def _fit_and_count_syncs(steps_per_epoch: int) -> int:
    torch.manual_seed(0)
    data = ImageSet(
        torch.randint(0, 256, (8 * steps_per_epoch, 3, 16, 16), dtype=torch.uint8),
        torch.randint(0, 10, (8 * steps_per_epoch,)),
    )
    loader = DeviceLoader(data, 8, [0.5] * 3, [0.25] * 3, train=True)
    module = HybridClassifier(
        HybridNet(DTCWTScattering(impl="fast"), num_classes=10, width=2), num_classes=10, **thesis_optim()
    )
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=True,
        enable_model_summary=False,
        log_every_n_steps=1000,
    )
    with RecordOps() as rec:
        trainer.fit(module, train_dataloaders=loader)
    assert module.trainer.callback_metrics["train/acc"] >= 0
    return sum(name in SYNCING_OPS for name in rec.names)


def test_lightning_loop_reads_from_the_device_per_epoch_not_per_step():
    """The whole Lightning fit (progress bar on) makes as many device->host reads at 12 steps an epoch as
    at 3: they come from the epoch ends, none from the steps. (The first module logged the step loss to the
    progress bar: Lightning then read it back after every batch, 1.5 reads a step.)"""
    assert _fit_and_count_syncs(12) == _fit_and_count_syncs(3)
