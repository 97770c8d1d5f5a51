"""DTCWT scattering front end: two stacked ScatLayers, either pytorch_wavelets' (the thesis' reference code) or
scatnet's FastScatLayerPair (the same mathematics, faster: the fast_dtcwt package).

3 -> 21 -> 147 channels, H/4. Each ScatLayer is a one-level biorthogonal DTCWT: the lowpass averaged 2x2
plus the smoothed magnitude sqrt(x^2 + y^2 + b^2) - b of the 6 oriented bandpass outputs.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from scatnet.errors import check_choice
from scatnet.frontends.base import Frontend
from scatnet.frontends.options import DTCWT_IMPLS, check_dtcwt_options

REFERENCE_HOST_COPIES = (
    "pytorch_wavelets' ScatLayers copy index arrays from the host in every forward; "
    "frontend.impl=fast computes the same without"
)


def reference_scat_pair(wavelet: str, padding: str, magbias: float) -> nn.Sequential:
    """Two stacked ``pytorch_wavelets.scatternet.ScatLayer`` (the thesis' code)."""
    from pytorch_wavelets.scatternet import ScatLayer  # heavy import (pkg_resources), done lazily

    return nn.Sequential(
        ScatLayer(biort=wavelet, mode=padding, magbias=magbias), ScatLayer(biort=wavelet, mode=padding, magbias=magbias)
    )


class DTCWTScattering(Frontend):
    """DTCWT ScatterNet (J=2, order 2). ``impl="reference"``: pytorch_wavelets' ScatLayers (the thesis code);
    ``impl="fast"``: scatnet's FastScatLayerPair (same outputs to 1e-5, much faster, CUDA-graph friendly)."""

    channels_per_input = 49

    def __init__(
        self,
        wavelet: str = "near_sym_a",
        padding: str = "symmetric",
        magbias: float = 1e-2,
        impl: str = "reference",
        strategy: str = "auto",
        name: str = "dtcwt",
    ):
        super().__init__()
        self.name = name
        check_dtcwt_options(wavelet, padding, magbias)
        check_choice("frontend.impl", impl, DTCWT_IMPLS)
        self.wavelet, self.padding, self.magbias, self.impl = wavelet, padding, float(magbias), impl
        self.compilable = impl == "fast"
        if impl == "fast":
            from scatnet.frontends.fast_dtcwt import FastScatLayerPair

            self.layers = FastScatLayerPair(wavelet, padding, self.magbias, strategy)
        else:
            self.layers = reference_scat_pair(wavelet, padding, self.magbias)

    def channel_groups(self, in_channels: int = 3) -> dict[str, list[int]]:
        """Channel j * 7C + i * C + c (a ScatLayer stacks its 7 outputs band-major: (B, 7, C, h, w) viewed as
        (B, 7C, h, w)): colour c, first layer's output i, second layer's j (0: the low-pass, 1-6: the magnitudes
        of the 6 orientations). Order 0: i = j = 0; order 1: one of them a band (scale 1 averaged, or scale 2);
        order 2: both."""
        groups = {"order 0": [], "order 1, scale 1": [], "order 1, scale 2": [], "order 2": []}
        for c in range(in_channels):
            for i in range(7):
                for j in range(7):
                    key = (
                        ("order 0" if not j else "order 1, scale 2")
                        if not i
                        else ("order 1, scale 1" if not j else "order 2")
                    )
                    groups[key].append(j * 7 * in_channels + i * in_channels + c)
        return groups

    def not_compilable_because(self) -> str:
        return REFERENCE_HOST_COPIES

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.out_shape(x.shape)
        return self.layers(x)

    def extra_repr(self) -> str:
        return f"wavelet={self.wavelet}, padding={self.padding}, magbias={self.magbias}, impl={self.impl}"
