"""Front ends without scattering, for controls: ``none`` (the images themselves) and ``learned`` (a trained
convolutional stem with the scattering's output shape, so that the same body can be compared with and without
the scattering: the control every hybrid paper reports)."""

from __future__ import annotations

import torch
import torch.nn as nn

from scatnet.errors import ConfigError
from scatnet.frontends.base import Frontend


class NoFrontend(Frontend):
    """The images as they are (a network that starts from pixels, e.g. model=wavepool_cnn)."""

    channels_per_input, downsample, compilable = 1, 1, True

    def __init__(self, name: str = "none"):
        super().__init__()
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class LearnedStem(Frontend):
    """Two learned 3x3 convolutions of stride 2 (conv, BatchNorm, ReLU, then conv): (B, C, H, W) ->
    (B, out_channels, H/4, W/4), the DTCWT scattering's shape by default (147 channels for RGB)."""

    downsample, compilable, learnable = 4, True, True

    def __init__(self, out_channels: int = 147, hidden: int = 64, in_channels: int = 3, name: str = "learned"):
        super().__init__()
        if out_channels < 1 or hidden < 1:
            raise ConfigError(f"frontend.out_channels={out_channels} and frontend.hidden={hidden} must be >= 1")
        self.name, self.channels = name, out_channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, out_channels, 3, stride=2, padding=1, bias=False),
        )

    def out_channels(self, in_channels: int = 3) -> int:
        return self.channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.out_shape(x.shape)
        return self.stem(x)
