"""scikit-learn's bundled handwritten digits (1797 real 8x8 scans, no download) as a 32x32 RGB dataset.

The offline quickstart's data: upsampled bilinearly to 32x32, grey replicated to 3 channels, and split with a
fixed seed, stratified (the same fraction of each class, rounded, so every class is in every split): 20% test
(359 images), then 10% of the rest for validation (143), so that nothing a run is judged by is chosen
on the test set; 1295 images train.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from scatnet.data.imageset import ImageSet

TEST_FRACTION = 0.2
VAL_FRACTION = 0.1  # of what the test split leaves
SPLIT_SEED = 0


def _stratified_pick(labels: np.ndarray, candidates: np.ndarray, fraction: float, rng) -> np.ndarray:
    """A boolean mask over ``labels``: ``fraction`` of each class's candidates (rounded), drawn by ``rng``."""
    mask = np.zeros(len(labels), dtype=bool)
    for c in range(10):
        idx = candidates[labels[candidates] == c]
        mask[rng.choice(idx, size=int(round(len(idx) * fraction)), replace=False)] = True
    return mask


def load_digits_splits(image_size: int = 32) -> tuple[ImageSet, ImageSet, ImageSet]:
    """(train, validation, test)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) * (255.0 / 16.0))[:, None]  # (N,1,8,8), 0..255
    x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    x = x.round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    labels = bunch.target.astype(np.int64)
    y = torch.from_numpy(labels)

    rng = np.random.default_rng(SPLIT_SEED)
    test = _stratified_pick(labels, np.arange(len(labels)), TEST_FRACTION, rng)  # the split of old, kept
    val = _stratified_pick(labels, np.flatnonzero(~test), VAL_FRACTION, rng)
    classes = [str(c) for c in range(10)]
    return tuple(ImageSet(x[torch.from_numpy(m)], y[torch.from_numpy(m)], classes)
                 for m in (~test & ~val, val, test))


class DigitsSource:
    """Source for :class:`scatnet.data.datamodule.DeviceDataModule`: (train, validation, test) ImageSets."""

    def __init__(self, image_size: int = 32):
        self.image_size = image_size

    def load(self) -> tuple[ImageSet, ImageSet, ImageSet]:
        return load_digits_splits(self.image_size)
