"""The hybrid ScatterNet of thesis Table 1.3: fixed scattering front end -> BatchNorm -> small CNN (and the
Learnable ScatterNet's networks: a front end with learned stages, trained through it, then the same CNN).

CIFAR (32x32 -> 8x8 after scattering), with C = ``width`` (96 in the thesis code):
    scat -> BN -> conv(2C) -> conv(2C) -> conv(4C) -> conv(4C) -> global avg pool -> fc
Tiny ImageNet (``tiny=True``, 64x64 -> 16x16): after conv4 a 2x2 max pool, conv5 and conv6 at 8C, then pool, fc.
Every conv is 3x3, padding 1, no bias, followed by BatchNorm and ReLU. No dropout. Both bodies are lists of
blocks (blocks.py); ``body`` (model.body) replaces them with another list, and ``mix`` (model.mix) puts a
wavelet-domain mixing block after one of the convs, e.g. {after: 2, levels: 1, mode: channel}.
Init as in the code: xavier_uniform with gain sqrt(2), biases 0 (network.py, shared by every network).
"""

from __future__ import annotations

import torch.nn as nn

from scatnet.errors import ConfigError
from scatnet.frontends.base import Frontend
from scatnet.models.blocks import TABLE13_BODY, TABLE13_TINY_BODY, build_body, with_mix
from scatnet.models.network import Network


class HybridNet(Network):
    """Front end + conv body. ``frontend_grad``: whether the front end runs with autograd (frontend_grad_option;
    a fixed one runs without, as nothing before it learns and its input gradient is never needed)."""

    def __init__(
        self,
        frontend: Frontend,
        num_classes: int,
        in_channels: int = 3,
        width: int = 96,
        tiny: bool = False,
        frontend_grad: bool | None = None,
        body: list | None = None,
        mix: dict | None = None,
    ):
        if width < 1 or num_classes < 2:
            raise ConfigError(f"model.width={width} and num_classes={num_classes} must be >= 1 and >= 2")
        scat_ch = frontend.out_channels(in_channels)
        blocks = list(body) if body is not None else (TABLE13_TINY_BODY if tiny else TABLE13_BODY)
        if mix:
            blocks = with_mix(blocks, mix)
        layers, cin = build_body(blocks, scat_ch, width)
        # a front end whose output is already normalised (a Learnable ScatterNet's last BatchNorm + ReLU) gets
        # no second BatchNorm
        if not getattr(frontend, "normalises_output", False):
            layers = [nn.BatchNorm2d(scat_ch), *layers]
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        super().__init__(frontend, nn.Sequential(*layers), nn.Linear(cin, num_classes), frontend_grad)
