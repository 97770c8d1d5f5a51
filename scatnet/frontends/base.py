"""The interface every scattering front end implements.

A front end is an nn.Module mapping (B, C, H, W) images to (B, C', H/4, W/4) features: a fixed scattering,
or one with learned stages (``learnable``: the Learnable ScatterNet, the learned stem). It reports its output
shape for an input shape so networks are built without a dry run.
"""

from __future__ import annotations

import torch.nn as nn

from scatnet.errors import ConfigError


class Frontend(nn.Module):
    """Base class: subclasses set ``channels_per_input`` and implement ``forward``."""

    #: output channels produced per input channel (7*7 = 49 for J=2 DTCWT, 1+J*L+L^2*J*(J-1)/2 for Morlet)
    channels_per_input: int = 1
    #: spatial downsampling factor (2**J)
    downsample: int = 4
    #: whether forward has no host syncs or host-to-device copies, so torch.compile captures it whole and a
    #: CUDA graph can record it: scatnet's fast DTCWT pair and both Morlet ones, not pytorch_wavelets' pair
    compilable: bool = False
    #: whether it has weights to train (frontend=learned): the network then runs it with autograd
    learnable: bool = False

    def not_compilable_because(self) -> str:
        """Why ``compilable`` is false, and what to use instead (one clause, for error messages)."""
        return "its forward reads from the host"

    def channel_groups(self, in_channels: int = 3) -> dict[str, list[int]]:
        """Output channels by what they are (the scattering's orders), for pictures of what it sees."""
        return {"all channels": list(range(self.out_channels(in_channels)))}

    def out_channels(self, in_channels: int = 3) -> int:
        return in_channels * self.channels_per_input

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, int, int]:
        """(C', H', W') for an input of shape (C, H, W) or (B, C, H, W)."""
        c, h, w = tuple(in_shape)[-3:]
        check_image_side(h, w, self.downsample)
        return self.out_channels(c), h // self.downsample, w // self.downsample


def check_image_side(h: int, w: int, factor: int = 4) -> None:
    if h % factor or w % factor:
        raise ConfigError(
            f"image side {h}x{w} is not divisible by {factor}; the J=2 scattering front ends need "
            f"H and W divisible by {factor} (crop or resize the data, e.g. to 32x32 or 64x64)"
        )
