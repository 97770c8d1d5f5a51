"""DTCWT scattering front end: two stacked pytorch_wavelets ScatLayers (the thesis' reference code).

3 -> 21 -> 147 channels, H/4. Each ScatLayer is a one-level biorthogonal DTCWT: the lowpass averaged 2x2
plus the smoothed magnitude sqrt(x^2 + y^2 + b^2) - b of the 6 oriented bandpass outputs.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from scatnet.errors import ConfigError, check_choice
from scatnet.frontends.base import Frontend

WAVELETS = ("near_sym_a", "near_sym_b", "near_sym_b_bp")
PADDINGS = ("symmetric", "zero")


def check_dtcwt_options(wavelet: str, padding: str, magbias: float) -> None:
    check_choice("frontend.wavelet", wavelet, WAVELETS)
    check_choice("frontend.padding", padding, PADDINGS)
    if not isinstance(magbias, (int, float)) or magbias < 0:
        raise ConfigError(f"frontend.magbias={magbias!r} is not valid; it must be a number >= 0 (the thesis "
                          "grid uses 0, 1e-3, 1e-2, 1e-1)")


class DTCWTScattering(Frontend):
    """Reference DTCWT ScatterNet (J=2, order 2) built from ``pytorch_wavelets.scatternet.ScatLayer``."""

    channels_per_input = 49

    def __init__(self, wavelet: str = "near_sym_a", padding: str = "symmetric", magbias: float = 1e-2,
                 name: str = "dtcwt"):
        super().__init__()
        self.name = name
        check_dtcwt_options(wavelet, padding, magbias)
        from pytorch_wavelets.scatternet import ScatLayer  # heavy import (pkg_resources), done lazily

        self.wavelet, self.padding, self.magbias = wavelet, padding, float(magbias)
        self.layers = nn.Sequential(
            ScatLayer(biort=wavelet, mode=padding, magbias=self.magbias),
            ScatLayer(biort=wavelet, mode=padding, magbias=self.magbias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.out_shape(x.shape)
        return self.layers(x)

    def extra_repr(self) -> str:
        return f"wavelet={self.wavelet}, padding={self.padding}, magbias={self.magbias}"
