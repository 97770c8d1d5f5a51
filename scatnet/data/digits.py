"""scikit-learn's bundled handwritten digits (1797 real 8x8 scans, no download) as a 32x32 RGB dataset.

The offline quickstart's data: upsampled bilinearly to 32x32, grey replicated to 3 channels, and split with a
fixed seed into 1438 train / 359 test images (stratified: 20% of each class, rounded, so every class is in
both splits).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from scatnet.data.imageset import ImageSet

TEST_FRACTION = 0.2
SPLIT_SEED = 0


def load_digits_splits(image_size: int = 32) -> tuple[ImageSet, ImageSet]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) * (255.0 / 16.0))[:, None]  # (N,1,8,8), 0..255
    x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    x = x.round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    y = torch.from_numpy(bunch.target.astype(np.int64))

    rng = np.random.default_rng(SPLIT_SEED)
    test_idx = []
    for c in range(10):  # stratified split: the same fraction of each class goes to test
        idx = np.flatnonzero(bunch.target == c)
        test_idx.extend(rng.choice(idx, size=int(round(len(idx) * TEST_FRACTION)), replace=False))
    test_mask = np.zeros(len(y), dtype=bool)
    test_mask[np.array(test_idx)] = True
    classes = [str(c) for c in range(10)]
    tm = torch.from_numpy(test_mask)
    return ImageSet(x[~tm], y[~tm], classes), ImageSet(x[tm], y[tm], classes)


class DigitsSource:
    """Source for :class:`scatnet.data.datamodule.DeviceDataModule`: returns (train, test) ImageSets."""

    def __init__(self, image_size: int = 32):
        self.image_size = image_size

    def load(self) -> tuple[ImageSet, ImageSet]:
        return load_digits_splits(self.image_size)
