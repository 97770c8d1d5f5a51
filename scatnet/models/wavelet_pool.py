"""Pooling by a one-level 2-D discrete wavelet transform: ``dwt`` keeps the low-pass (LL) band, ``dwt_all``
keeps all four subbands stacked (channels x4: nothing thrown away, the inverse DWT gives the input back).

The transform is pytorch_wavelets' one-level DWT, its filters (from PyWavelets, or the DTCWT's biorthogonal
ones) as fixed convolutions, computed by its own row and column filter banks (``lowlevel.afb1d``) under
autograd: ``DWTForward``'s hand-written backward is the synthesis bank, which is not the exact adjoint for
symmetric padding (gradcheck fails), while autograd through the same forward is exact (tested, and the
forward tested equal to ``DWTForward``'s). A filter longer than 2 taps adds
border coefficients (``zero``/``symmetric`` padding: ceil((N + L - 1) / 2) per side); they are cropped
from both sides, so that, like max pooling, the output is ceil(H / 2) x ceil(W / 2).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from scatnet.errors import ConfigError, check_choice
from scatnet.frontends.options import WAVELETS as DTCWT_WAVELETS

POOLS = ("max", "avg", "dwt", "dwt_all")
DWT_PADDINGS = ("zero", "symmetric")


def dwt_filters(wavelet: str):
    """A PyWavelets name, or one of the DTCWT's biorthogonal first-level filter pairs (analysis h0, h1)."""
    if wavelet in DTCWT_WAVELETS:
        from pytorch_wavelets.dtcwt.coeffs import biort

        h0, _, h1, _ = biort(wavelet)[:4]
        h0, h1 = h0.ravel(), h1.ravel()
        pad = (len(h1) - len(h0)) // 2  # the low-pass is the shorter (5 / 7, 13 / 19 taps): centred zeros
        return (np.pad(h0, pad), h1)
    import pywt

    if wavelet not in pywt.wavelist(kind="discrete"):
        raise ConfigError(
            f"model.pool_wavelet={wavelet!r} is not a discrete wavelet; use a PyWavelets name "
            f"(haar, db2, sym4, bior2.2, ...) or a DTCWT one ({', '.join(DTCWT_WAVELETS)})"
        )
    return wavelet


class DWTPool(nn.Module):
    """(B, C, H, W) -> (B, C, ceil(H/2), ceil(W/2)) (``keep="ll"``) or (B, 4C, ...) (``keep="all"``: LL, then
    the three detail bands of each channel)."""

    def __init__(self, wavelet: str = "haar", padding: str = "zero", keep: str = "ll"):
        super().__init__()
        from pytorch_wavelets import DWTForward

        check_choice("model.pool_padding", padding, DWT_PADDINGS)
        check_choice("keep", keep, ("ll", "all"))
        self.dwt = DWTForward(J=1, wave=dwt_filters(wavelet), mode=padding)
        self.wavelet, self.padding, self.keep = wavelet, padding, keep

    def transform(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(LL (B, C, h, w), the detail bands (B, C, 3, h, w)): DWTForward's outputs, by autograd."""
        from pytorch_wavelets.dwt.lowlevel import afb1d

        d, mode = self.dwt, self.padding
        rows = afb1d(x, d.h0_row, d.h1_row, mode=mode, dim=3)
        y = afb1d(rows, d.h0_col, d.h1_col, mode=mode, dim=2)
        y = y.reshape(y.shape[0], -1, 4, y.shape[-2], y.shape[-1])
        return y[:, :, 0], y[:, :, 1:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ll, bands = self.transform(x)
        h, w = (x.shape[-2] + 1) // 2, (x.shape[-1] + 1) // 2
        top, left = (ll.shape[-2] - h) // 2, (ll.shape[-1] - w) // 2
        ll = ll[..., top : top + h, left : left + w]
        if self.keep == "ll":
            return ll
        bands = bands[..., top : top + h, left : left + w]  # (B, C, 3, h, w)
        return torch.cat([ll.unsqueeze(2), bands], dim=2).flatten(1, 2)

    def extra_repr(self) -> str:
        return f"wavelet={self.wavelet}, padding={self.padding}, keep={self.keep}"


def make_pool(kind: str, wavelet: str = "haar", padding: str = "zero") -> tuple[nn.Module, int]:
    """A 2x pooling layer and the factor it multiplies channels by."""
    check_choice("model.pool", kind, POOLS)
    if kind == "max":
        return nn.MaxPool2d(2, ceil_mode=True), 1
    if kind == "avg":
        return nn.AvgPool2d(2, ceil_mode=True), 1
    return DWTPool(wavelet, padding, "ll" if kind == "dwt" else "all"), 1 if kind == "dwt" else 4
