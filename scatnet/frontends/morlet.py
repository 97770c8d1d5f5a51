"""Morlet scattering front end: kymatio's Scattering2D (J=2, order 2), computed by scatnet's exact batched
version of it (``impl="fast"``, fast_morlet/, the default) or by kymatio itself (``impl="kymatio"``, the
reference), reshaped for a CNN.

kymatio returns (B, C, K, H/4, W/4) with K = 1 + J*L + L^2*J*(J-1)/2 (81 for L=8, 49 for L=6); the hybrid
needs (B, C*K, H/4, W/4).

We import kymatio's 2-D torch frontend module directly: ``from kymatio.torch import Scattering2D`` also
imports the 3-D code, which needs ``scipy.special.sph_harm`` and breaks with SciPy >= 1.17.
"""

from __future__ import annotations

import torch

from scatnet.errors import ConfigError, check_choice
from scatnet.frontends.base import Frontend, check_image_side
from scatnet.frontends.options import MORLET_IMPLS, ORIENTATIONS


def morlet_coefficients(J: int, L: int) -> int:
    return 1 + J * L + L * L * J * (J - 1) // 2


class MorletScattering(Frontend):
    """kymatio Scattering2D(J=2, L, max_order=2) for a fixed image size (kymatio builds filters per shape)."""

    # kymatio's torch backend keeps its filters on the device and never reads a value back: its forward reads
    # nothing from the host (tests/test_cuda_graph.py) and dynamo traces it as one graph (tests/test_models.py)
    compilable = True

    def __init__(
        self,
        L: int = 8,
        image_size: int | tuple[int, int] = 32,
        J: int = 2,
        name: str | None = None,
        impl: str = "fast",
    ):
        super().__init__()
        self.name = name or f"morlet{L}"
        check_choice("frontend.L", L, ORIENTATIONS)
        check_choice("frontend.impl", impl, MORLET_IMPLS)
        h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        check_image_side(h, w, 2**J)
        self.L, self.J, self.image_size, self.impl = L, J, (h, w), impl
        self.channels_per_input = morlet_coefficients(J, L)
        self.downsample = 2**J
        if impl == "fast":
            from scatnet.frontends.fast_morlet import FastMorletScattering

            self.scattering = FastMorletScattering(J=J, shape=(h, w), L=L)
        else:
            from kymatio.scattering2d.frontend.torch_frontend import ScatteringTorch2D

            self.scattering = ScatteringTorch2D(J=J, shape=(h, w), L=L, max_order=2)

    def channel_groups(self, in_channels: int = 3) -> dict[str, list[int]]:
        """kymatio's order within each colour's K coefficients: S0, then J * L first-order, then second-order."""
        k, first = self.channels_per_input, self.J * self.L
        return {
            "order 0": [c * k for c in range(in_channels)],
            "order 1": [c * k + 1 + i for c in range(in_channels) for i in range(first)],
            "order 2": [c * k + 1 + first + i for c in range(in_channels) for i in range(k - 1 - first)],
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.image_size:
            raise ConfigError(
                f"Morlet front end was built for {self.image_size[0]}x{self.image_size[1]} images "
                f"but got {x.shape[-2]}x{x.shape[-1]}; set frontend.image_size to the data's size"
            )
        s = self.scattering(x.contiguous())
        b, c, k, h, w = s.shape
        return s.reshape(b, c * k, h, w)

    def extra_repr(self) -> str:
        return f"L={self.L}, J={self.J}, image_size={self.image_size}, impl={self.impl}"
