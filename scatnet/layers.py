"""Layers that both the front ends (the Learnable ScatterNet's learned stages) and the networks' bodies build."""

from __future__ import annotations

import torch.nn as nn


def conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    """A 3x3 convolution without bias, its BatchNorm and a ReLU."""
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
