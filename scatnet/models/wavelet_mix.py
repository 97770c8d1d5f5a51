"""Wavelet-domain mixing (``WaveletMixing2D``): a J-level 2-D DWT, a learned transform of the coefficients,
the inverse DWT, added to the input as a residual, so that the block starts as the identity.

``mode="pointwise"``: a learned scale for each channel of each band (the low-pass, and each level's three
detail bands); ``mode="channel"``: a learned C x C matrix for each band of each level (initialised to the
identity). The block computes ``x + IDWT((W - I) c)`` with ``c = DWT(x)``: by linearity that is
``IDWT(W c)``, and at initialisation (W = I) it is x exactly, not to rounding. The DWT / IDWT pair is
pytorch_wavelets' (PyWavelets filters), whose reconstruction is perfect at any size, odd ones included, once
the IDWT's extra row or column is cropped (tested).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from scatnet.errors import ConfigError, check_choice
from scatnet.models.wavelet_pool import DWT_PADDINGS, dwt_filters

MIX_MODES = ("pointwise", "channel")


class WaveletMixing2D(nn.Module):
    def __init__(
        self, channels: int, wavelet: str = "haar", levels: int = 1, mode: str = "pointwise", padding: str = "zero"
    ):
        super().__init__()
        from pytorch_wavelets import DWTForward, DWTInverse

        check_choice("model.mix.mode", mode, MIX_MODES)
        check_choice("model.mix.padding", padding, DWT_PADDINGS)
        if levels < 1 or channels < 1:
            raise ConfigError(f"model.mix.levels={levels} and channels={channels} must be >= 1")
        filters = dwt_filters(wavelet)
        self.dwt = DWTForward(J=levels, wave=filters, mode=padding)
        self.idwt = DWTInverse(wave=filters, mode=padding)
        self.mode, self.levels, self.wavelet = mode, levels, wavelet
        # one weight per band: the low-pass, then 3 detail bands per level; each the identity to start with
        bands = 1 + 3 * levels
        if mode == "pointwise":
            self.weight = nn.Parameter(torch.ones(bands, channels))
        else:
            self.weight = nn.Parameter(torch.eye(channels).repeat(bands, 1, 1))

    def delta(self, c: torch.Tensor, band: int) -> torch.Tensor:
        """(W - I) applied to the coefficients (B, C, h, w) of one band."""
        w = self.weight[band]
        if self.mode == "pointwise":
            return c * (w - 1)[None, :, None, None]
        eye = torch.eye(w.shape[0], device=w.device, dtype=w.dtype)
        return torch.einsum("dc,bchw->bdhw", w - eye, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low, highs = self.dwt(x)
        low = self.delta(low, 0)
        highs = [
            torch.stack([self.delta(h[:, :, k], 1 + 3 * j + k) for k in range(3)], dim=2) for j, h in enumerate(highs)
        ]
        change = self.idwt((low, highs))[..., : x.shape[-2], : x.shape[-1]]
        return x + change

    def extra_repr(self) -> str:
        return f"wavelet={self.wavelet}, levels={self.levels}, mode={self.mode}"
