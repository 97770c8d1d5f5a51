"""Benchmark (not a test): images/s for one augmented training epoch, scatnet's device loader vs a standard
torch DataLoader with per-sample transforms (random crop pad 4 + flip + normalise, done per image).

    python scripts/bench_loader.py [--n 50000] [--device cuda] [--workers 2] [--repeats 3]

Uses real CIFAR-10 from data/ when present, otherwise CIFAR-sized random uint8 images (same cost: the work
is per pixel, not per content). Prints the medians and their ratio, measured side by side in one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from scatnet.data import DeviceLoader, ImageSet

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


class PerSampleCIFAR(Dataset):
    """What a torchvision pipeline does, in plain torch: one image at a time, in worker processes."""

    def __init__(self, data: ImageSet, padding: int = 4):
        self.x, self.y, self.p = data.images, data.labels, padding
        self.mean = torch.tensor(MEAN).view(3, 1, 1)
        self.std = torch.tensor(STD).view(3, 1, 1)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        img = F.pad(self.x[i], (self.p,) * 4)
        dy, dx = torch.randint(0, 2 * self.p + 1, (2,)).tolist()
        img = img[:, dy : dy + 32, dx : dx + 32]
        if torch.rand(()) < 0.5:
            img = img.flip(2)
        return (img.float() / 255 - self.mean) / self.std, self.y[i]


def load_data(n: int) -> tuple[ImageSet, str]:
    try:
        from scatnet.data.cifar import CIFARSource

        train, _ = CIFARSource("cifar10", os.environ.get("SCATNET_DATA", "data"), download=False).load()
        return ImageSet(train.images[:n], train.labels[:n]), "CIFAR-10 train"
    except Exception:
        g = torch.Generator().manual_seed(0)
        x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
        return ImageSet(x, torch.randint(0, 10, (n,), generator=g)), "random CIFAR-sized uint8"


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_epoch(iterable, device) -> float:
    sync(device)
    t = time.perf_counter()
    n = 0
    for x, y in iterable:
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        n += y.shape[0]
    sync(device)
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    device = torch.device(a.device)
    data, what = load_data(a.n)
    dev = DeviceLoader(data.to(device), a.batch, MEAN, STD, train=True, crop_padding=4, flip=True)
    ref = DataLoader(
        PerSampleCIFAR(data),
        batch_size=a.batch,
        shuffle=True,
        num_workers=a.workers,
        pin_memory=device.type == "cuda",
        persistent_workers=a.workers > 0,
    )
    time_epoch(dev, device)  # warm-up (allocations, kernels)
    results = {"device loader": [], f"DataLoader, per-sample, {a.workers} workers": []}
    for r in range(a.repeats):
        dev.set_epoch(r + 1)
        results["device loader"].append(time_epoch(dev, device))
        results[f"DataLoader, per-sample, {a.workers} workers"].append(time_epoch(ref, device))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or 'cpu'}"
    print(f"machine: {name}; torch {torch.__version__}; {torch.get_num_threads()} threads; {os.cpu_count()} cores")
    print(f"data: {what}, {len(data)} images, batch {a.batch}, one augmented epoch, median of {a.repeats}")
    med = {k: statistics.median(v) for k, v in results.items()}
    base = list(med.values())[1]
    for k, v in med.items():
        print(f"  {k:40s} {v:12,.0f} images/s   x{v / base:6.1f}")


if __name__ == "__main__":
    main()
