"""Benchmark (not a test): what Lightning's loop costs per training step, against a bare PyTorch loop doing
the same work (device loader batch, the hybrid's forward, loss, the epoch tally, backward, fused SGD).

    python scripts/bench_step_overhead.py [--device cuda] [--model tiny|hybrid] [--steps 200] [--rounds 3]

``--model tiny`` (a linear layer on the pooled image) leaves almost only host work, so the difference is the
loop's own overhead; ``--model hybrid`` is the CIFAR DTCWT hybrid (fast front end, bf16 + channels_last on
CUDA), where on a GPU the question is whether that overhead hides behind the GPU's work. Median ms per step
over the epochs after each loop's first (warm-up), both loops alternating in one run; the ratio compares them.
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import tempfile
import time
import warnings

import pytorch_lightning as pl
import torch
import torch.nn as nn
import torch.nn.functional as F
from pytorch_lightning.loggers import CSVLogger

from scatnet.data import DeviceLoader, ImageSet
from scatnet.frontends import DTCWTScattering
from scatnet.models import HybridNet
from scatnet.precision import Precision, precision_policy
from scatnet.training.builders import composed_config, optimizer_factories
from scatnet.training.callbacks import ThroughputMonitor, synchronize
from scatnet.training.module import HybridClassifier
from scatnet.training.tally import EpochTally


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 10)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))


def build_net(kind: str, cuda: bool) -> nn.Module:
    if kind == "tiny":
        return Tiny()
    net = HybridNet(DTCWTScattering(impl="fast"), num_classes=10)
    net.configure_speed(channels_last=cuda, bf16=Precision.for_device(cuda).bf16)
    return net


def bare_loop(module: HybridClassifier, loader: DeviceLoader, epochs: int) -> list[float]:
    opt = module.configure_optimizers()["optimizer"]
    per_step = []
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        tally = EpochTally(loader.device)
        synchronize(loader.device)
        t0 = time.perf_counter()
        for x, y in loader:
            logits = module(x)
            loss = F.cross_entropy(logits.float(), y)
            tally.update(loss, logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        tally.compute()  # the epoch's one read, as in the module
        synchronize(loader.device)
        per_step.append((time.perf_counter() - t0) / len(loader))
    return per_step


def lightning_loop(module: HybridClassifier, loader: DeviceLoader, epochs: int, accelerator: str) -> list[float]:
    timer = ThroughputMonitor()  # the training runs' own clock: train-loop images/s per epoch, synced
    with tempfile.TemporaryDirectory() as logs:  # a real logger, writing every 10 steps as in a run
        trainer = pl.Trainer(
            accelerator=accelerator,
            devices=1,
            max_epochs=epochs,
            logger=CSVLogger(logs),
            log_every_n_steps=10,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            callbacks=[timer],
        )
        trainer.fit(module, train_dataloaders=loader)
    return [loader.batch_size / ips for ips in timer.images_per_second]  # every batch is full here


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", choices=["tiny", "hybrid"], default="tiny")
    ap.add_argument("--steps", type=int, default=200, help="steps per epoch")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per loop and round (the first is warm-up)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of (bare, lightning)")
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args(argv)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")  # "no val_dataloader" and deprecation notes from Lightning
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    torch.manual_seed(0)
    n = args.steps * args.batch
    data = ImageSet(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8), torch.randint(0, 10, (n,))).to(device)
    loader = DeviceLoader(data, args.batch, [0.5] * 3, [0.25] * 3, train=True, crop_padding=4, flip=True)
    machine = (
        torch.cuda.get_device_name(device)
        if cuda
        else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    )
    print(
        f"machine: {machine}; torch {torch.__version__}, lightning {pl.__version__}; model {args.model}, "
        f"batch {args.batch}, {args.rounds} rounds of {args.epochs} epochs x {args.steps} steps per loop, "
        "first epoch of each = warm-up"
    )
    times: dict[str, list[float]] = {"bare": [], "lightning": []}
    recipe = optimizer_factories(composed_config(["data=cifar10"]))  # the thesis' SGD and schedule
    for _ in range(args.rounds):  # alternate the loops, so drifts of a shared machine hit both alike
        for name in times:
            module = HybridClassifier(build_net(args.model, cuda), num_classes=10, **recipe).to(device)
            with precision_policy(Precision.for_device(cuda)):  # training's TF32 and cudnn.benchmark settings
                if name == "bare":
                    t = bare_loop(module, loader, args.epochs)
                else:
                    t = lightning_loop(module, loader, args.epochs, "gpu" if cuda else "cpu")
            times[name] += t[1:] or t
    results = {}
    for name, t in times.items():
        results[name] = statistics.median(t) * 1e3
        print(
            f"{name:>9}: {results[name]:.3f} ms/step  ({args.batch / results[name] * 1e3:,.0f} images/s)  "
            f"epochs: {' '.join(f'{x * 1e3:.2f}' for x in t)}"
        )
    print(
        f"lightning / bare: {results['lightning'] / results['bare']:.2f}x; "
        f"loop overhead {results['lightning'] - results['bare']:.3f} ms/step"
    )


if __name__ == "__main__":
    main()
