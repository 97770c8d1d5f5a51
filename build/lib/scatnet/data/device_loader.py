"""A data loader that keeps the whole dataset on the training device (the cifar10-airbench model).

Each epoch draws one permutation on the device; a batch is an index slice of it; augmentation runs on the
whole batch at once. There is no per-sample Python work and no host-to-device copy in the loop.

Shuffling is deterministic given (seed, epoch) and identical on every rank, so under DDP the ranks cut the
same permutation: global batch g is perm[g*W*B:(g+1)*W*B] and rank r takes every W-th index of it. Shards are
disjoint, every rank runs the same number of steps, and the union covers the set. The last global batch is
partial (split evenly across ranks) unless ``drop_last``; with W > 1, when fewer than W samples remain they
are dropped for that epoch (they differ every epoch). Evaluation loaders do not shuffle and never drop.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator

import torch

from scatnet.data.augment import normalize, random_crop, random_flip
from scatnet.data.imageset import ImageSet


class DeviceLoader:
    def __init__(self, data: ImageSet, batch_size: int, mean, std, *, train: bool, crop_padding: int = 0,
                 flip: bool = False, seed: int = 0, drop_last: bool = False, rank: int = 0, world_size: int = 1,
                 epoch_fn: Callable[[], int] | None = None):
        self.data = data
        self.device = data.images.device
        self.batch_size = int(batch_size)
        c = data.images.shape[1]
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=self.device).reshape(1, c, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32, device=self.device).reshape(1, c, 1, 1)
        self.train, self.crop_padding, self.flip = train, int(crop_padding), bool(flip)
        self.seed, self.drop_last = int(seed), bool(drop_last)
        self.rank, self.world_size = int(rank), int(world_size)
        self.epoch_fn = epoch_fn
        self._epoch = 0

    # -- epochs -----------------------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        self._epoch = int(epoch)

    @property
    def epoch(self) -> int:
        return self.epoch_fn() if self.epoch_fn is not None else self._epoch

    def _generator(self, stream: int) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed((self.seed * 1_000_003 + self.epoch * 1_009 + stream) % (2**63))
        return g

    # -- indices ----------------------------------------------------------------------------------------
    def batch_indices(self) -> list[torch.Tensor]:
        """This rank's index batches for the current epoch (on the device)."""
        n, b, w = len(self.data), self.batch_size, self.world_size
        if not self.train:
            shard = torch.arange(self.rank, n, w, device=self.device)
            return list(shard.split(b))
        perm = torch.randperm(n, device=self.device, generator=self._generator(stream=0))  # same on all ranks
        global_b = b * w
        return [perm[s * global_b:(s + 1) * global_b][self.rank::w] for s in range(self._train_steps())]

    def _train_steps(self) -> int:
        n, global_b, w = len(self.data), self.batch_size * self.world_size, self.world_size
        steps = n // global_b if self.drop_last else math.ceil(n / global_b)
        if not self.drop_last and steps and n - (steps - 1) * global_b < w:
            steps -= 1  # fewer samples left than ranks: drop them this epoch
        return steps

    def __len__(self) -> int:
        if not self.train:
            return math.ceil(len(range(self.rank, len(self.data), self.world_size)) / self.batch_size)
        return self._train_steps()

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        gen = self._generator(stream=1 + self.rank) if self.train else None
        for idx in self.batch_indices():
            x = self.data.images[idx]
            if self.train:
                x = random_crop(x, self.crop_padding, gen)
                if self.flip:
                    x = random_flip(x, gen)
            yield normalize(x, self.mean, self.std), self.data.labels[idx]
