"""One fast ScatLayer (one order of the DTCWT ScatterNet), for networks that learn between or before the
orders (the Learnable ScatterNet): (B, C, H, W) -> (B, 7C, ceil(H/2), ceil(W/2)), channels in
pytorch_wavelets' order (subband k outer, colour c inner: k * C + c). The pair's module with one layer: the
same filters, strategies and padding, and the same backward from the saved input alone (ops.scat_layer,
backward.scat_layer_backward)."""

from __future__ import annotations

import torch

from scatnet.errors import ConfigError
from scatnet.frontends.fast_dtcwt.pair import FastScatLayerPair


class FastScatLayer(FastScatLayerPair):
    """pytorch_wavelets' ``ScatLayer(biort, mode, magbias)``, computed by scatnet. The conv strategies only
    (``direct`` / ``separable``; ``auto`` picks by filter length): the dense one is the pair's."""

    layers = 1

    def __init__(
        self, wavelet: str = "near_sym_a", padding: str = "symmetric", magbias: float = 1e-2, strategy: str = "auto"
    ):
        if strategy == "dense":
            raise ConfigError(
                "strategy='dense' is the pair's (two layers in four GEMMs); a single ScatLayer "
                "takes auto, direct or separable"
            )
        super().__init__(wavelet, padding, magbias, strategy)

    def uses_dense(self, x: torch.Tensor) -> tuple[bool, bool]:
        return False, False
