"""A plain CNN whose downsampling is a choice of pooling (max, avg, or a wavelet transform's bands): the
network of the question "why does detail vanish after the second wavelet pool?" (conv blocks at 64, 128, 256,
512 channels, a pool after each of the first three), as ``model=wavepool_cnn`` (``model.pool=max`` for the
same net with max pooling). It takes whatever the front end gives (``frontend=none``: the images); the
forward, speed options and initialisation are every network's (network.py)."""

from __future__ import annotations

import torch.nn as nn

from scatnet.errors import ConfigError
from scatnet.frontends.base import Frontend
from scatnet.layers import conv_bn_relu
from scatnet.models.network import Network
from scatnet.models.wavelet_pool import make_pool


class PoolingCNN(Network):
    def __init__(
        self,
        frontend: Frontend,
        num_classes: int,
        in_channels: int = 3,
        widths: tuple[int, ...] = (64, 128, 256, 512),
        pool: str = "dwt",
        pool_wavelet: str = "haar",
        pool_padding: str = "zero",
    ):
        if not widths or min(widths) < 1 or num_classes < 2:
            raise ConfigError(f"model.widths={list(widths)} and num_classes={num_classes} must be >= 1 and >= 2")
        layers: list[nn.Module] = []
        cin = frontend.out_channels(in_channels)
        for i, width in enumerate(widths):
            layers += conv_bn_relu(cin, width)
            cin = width
            if i < len(widths) - 1:
                p, factor = make_pool(pool, pool_wavelet, pool_padding)
                layers.append(p)
                cin *= factor
        super().__init__(
            frontend, nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), nn.Linear(cin, num_classes)
        )
        self.pool = pool
