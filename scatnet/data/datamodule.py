"""LightningDataModule over any dataset source, with the data held on the training device.

A *source* is any object with ``load()`` returning (train, test) or (train, validation, test) as
:class:`ImageSet` on the CPU (digits, CIFAR, Tiny ImageNet). The module moves the splits to the trainer's device
once, in ``setup``, and serves them through :class:`DeviceLoader`. Without a validation split the test split is
the validation set too, as in the thesis for CIFAR and Tiny ImageNet (the reported number is the final-epoch test
accuracy); digits has its own.
"""
from __future__ import annotations

from typing import Sequence

import pytorch_lightning as pl
import torch

from scatnet.data.device_loader import DeviceLoader
from scatnet.data.imageset import ImageSet


class DeviceDataModule(pl.LightningDataModule):
    def __init__(self, source, name: str, num_classes: int, image_size: int, in_channels: int = 3,
                 batch_size: int = 128, eval_batch_size: int = 500, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None, crop_padding: int = 0, flip: bool = False,
                 drop_last: bool = False, seed: int = 0, device: str | None = None,
                 root: str | None = None, download: bool | None = None, recipe: dict | None = None):
        """``root``, ``download`` and ``recipe`` are the data config's for the source (by interpolation) and for
        the trainer and model; named here so that a key this module does not know is an error, not ignored."""
        super().__init__()
        self.source, self.name, self.num_classes = source, name, int(num_classes)
        self.image_size, self.in_channels = int(image_size), int(in_channels)
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.mean, self.std = mean, std
        self.crop_padding, self.flip, self.drop_last, self.seed = crop_padding, flip, drop_last, seed
        self.device = device
        self.train_set: ImageSet | None = None
        self.val_set: ImageSet | None = None
        self.test_set: ImageSet | None = None

    def _target_device(self) -> torch.device:
        if self.device is not None:
            return torch.device(self.device)
        if self.trainer is not None:
            return self.trainer.strategy.root_device
        return torch.device("cpu")

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        splits = self.source.load()
        train, test = splits[0], splits[-1]
        val = splits[1] if len(splits) == 3 else None
        if self.mean is None or self.std is None:  # statistics of the training set (digits has no published ones)
            x = train.images.float().div(255.0)
            self.mean = x.mean(dim=(0, 2, 3)).tolist()
            self.std = x.std(dim=(0, 2, 3)).tolist()
        device = self._target_device()
        self.train_set, self.test_set = train.to(device), test.to(device)
        self.val_set = self.test_set if val is None else val.to(device)

    def _rank_world(self) -> tuple[int, int]:
        if self.trainer is None:
            return 0, 1
        return self.trainer.global_rank, self.trainer.world_size

    def _epoch(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else 0

    def train_dataloader(self) -> DeviceLoader:
        rank, world = self._rank_world()
        return DeviceLoader(self.train_set, self.batch_size, self.mean, self.std, train=True,
                            crop_padding=self.crop_padding, flip=self.flip, seed=self.seed,
                            drop_last=self.drop_last, rank=rank, world_size=world, epoch_fn=self._epoch)

    def _eval_loader(self, data: ImageSet) -> DeviceLoader:
        rank, world = self._rank_world()
        return DeviceLoader(data, self.eval_batch_size, self.mean, self.std, train=False, rank=rank, world_size=world)

    def val_dataloader(self) -> DeviceLoader:
        return self._eval_loader(self.val_set)

    def test_dataloader(self) -> DeviceLoader:
        return self._eval_loader(self.test_set)
