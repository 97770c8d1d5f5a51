"""Random images of a real dataset's shape and size, for timing runs where the data cannot be downloaded
(e.g. a GPU node with no network). Throughput does not depend on pixel values; accuracy here means nothing."""
from __future__ import annotations

import torch

from scatnet.data.imageset import ImageSet


class SyntheticSource:
    def __init__(self, n_train: int = 50000, n_test: int = 10000, image_size: int = 32, num_classes: int = 10,
                 in_channels: int = 3, seed: int = 0):
        self.n_train, self.n_test, self.image_size = n_train, n_test, image_size
        self.num_classes, self.in_channels, self.seed = num_classes, in_channels, seed

    def _split(self, n: int, g: torch.Generator) -> ImageSet:
        s = self.image_size
        x = torch.randint(0, 256, (n, self.in_channels, s, s), dtype=torch.uint8, generator=g)
        y = torch.randint(0, self.num_classes, (n,), generator=g)
        return ImageSet(x, y, [str(c) for c in range(self.num_classes)])

    def load(self) -> tuple[ImageSet, ImageSet]:
        g = torch.Generator().manual_seed(self.seed)
        return self._split(self.n_train, g), self._split(self.n_test, g)
