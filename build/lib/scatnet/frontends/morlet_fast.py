"""scatnet's Morlet scattering: kymatio 0.3.0's 2-D scattering (order 2), computed in a few batched kernels.

The same mathematics, step for step (kymatio/scattering2d/core/scattering2d.py): kymatio's reflection padding
(its own ``Pad``), its filter bank (``filter_bank``, built once as buffers), products with the filters in the
Fourier domain, subsampling by periodisation (the mean of the k x k aliases: the spectrum of x[::k, ::k]),
the modulus, the low-pass averaging, the unpadding, and its output order (S0; S1 by scale then angle; S2 by
first path, then second scale and angle). What changes is how: one FFT of the padded input; per scale, every
angle's filter in one broadcast multiply, one batched inverse FFT, one modulus, one FFT; the second order
batched per first-order scale. kymatio's torch backend runs each path on its own (a few hundred small kernels).

Backward: the transform is recomputed from its input (activation checkpointing), so what it holds for the
backward is the input alone; the gradient is autograd's through the same operations.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint


def periodize(x: torch.Tensor, k: int) -> torch.Tensor:
    """kymatio's subsample_fourier: the spectrum of the signal subsampled by k on both axes (the mean of the
    k x k aliases), as slice sums on the real view: a strided mean over complex values is several times
    slower on a CPU."""
    if k == 1:
        return x
    r = torch.view_as_real(x)                     # (..., m, n, 2)
    m, n = r.shape[-3], r.shape[-2]
    r = sum(r[..., i * (m // k):(i + 1) * (m // k), :, :] for i in range(k))
    r = sum(r[..., i * (n // k):(i + 1) * (n // k), :] for i in range(k))
    return torch.view_as_complex(r * (1.0 / (k * k)))


def fft2_of_real(x: torch.Tensor) -> torch.Tensor:
    """kymatio's rfft: the FFT of a real signal (torch's real-input FFT: the same values to rounding)."""
    return torch.fft.fft2(x)


def lowpass(u: torch.Tensor, phi: torch.Tensor, k: int) -> torch.Tensor:
    """Averaging by phi, subsampling by k, back to space, unpadded: one scattering coefficient map."""
    return torch.fft.ifft2(periodize(u * phi, k)).real[..., 1:-1, 1:-1]


def modulus_spectrum(u: torch.Tensor) -> torch.Tensor:
    """|ifft2(u)|, back in the Fourier domain: the nonlinearity between two orders. The modulus as kymatio
    computes it, sqrt(re^2 + im^2) (complex abs is a slower hypot on a CPU)."""
    z = torch.view_as_real(torch.fft.ifft2(u))
    return fft2_of_real(z.square().sum(-1).sqrt())


def scattering2d(x_padded: torch.Tensor, phi: list[torch.Tensor], psi: list[list[torch.Tensor]], J: int
                 ) -> torch.Tensor:
    """(N, Mp, Np) padded images -> (N, K, Mp / 2^J - 2, Np / 2^J - 2), K = 1 + J L + L^2 J (J - 1) / 2.

    ``phi[res]``: the low-pass at resolution res; ``psi[j][res]``: the (L, Mr, Nr) wavelets of scale j, every
    angle, at resolution res (kymatio's ``psi[n]['levels'][res]`` stacked over its angles)."""
    u0 = fft2_of_real(x_padded)
    maps = [lowpass(u0, phi[0], 2**J)[:, None]]
    second = []
    for j1 in range(J):
        u1 = modulus_spectrum(periodize(u0[:, None] * psi[j1][0], 2**j1))     # (N, L, M1, N1)
        maps.append(lowpass(u1, phi[j1], 2 ** (J - j1)))
        if j1 + 1 < J:
            # every larger scale's angles for each first-order path: (N, L1, (J - j1 - 1) L, h, w)
            paths = [lowpass(modulus_spectrum(periodize(u1[:, :, None] * psi[j2][j1], 2 ** (j2 - j1))),
                             phi[j2], 2 ** (J - j2)) for j2 in range(j1 + 1, J)]
            second.append(torch.cat(paths, dim=2).flatten(1, 2))
    return torch.cat(maps + second, dim=1)


CPU_CHUNK_MAPS = 8


class FastMorletScattering(nn.Module):
    """Morlet scattering (J, L, order 2) of (B, C, H, W) images -> (B, C, K, H / 2^J, W / 2^J), as kymatio's
    Scattering2D returns it. Built for one image size (the filters are per size, as kymatio's)."""

    def __init__(self, J: int, shape: tuple[int, int], L: int = 8):
        super().__init__()
        from kymatio.scattering2d.backend.torch_backend import Pad
        from kymatio.scattering2d.filter_bank import filter_bank
        from kymatio.scattering2d.utils import compute_padding

        (m, n), (mp, np_) = shape, compute_padding(*shape, J)
        self.J, self.L, self.shape = J, L, (m, n)
        self.pad = Pad([(mp - m) // 2, (mp - m + 1) // 2, (np_ - n) // 2, (np_ - n + 1) // 2], [m, n])
        bank = filter_bank(mp, np_, J, L)
        dtype = torch.float32  # as kymatio's buffers; .double() converts them with the module

        def tensor(a):
            return torch.as_tensor(a, dtype=dtype)

        for res, level in enumerate(bank["phi"]["levels"]):
            self.register_buffer(f"phi_{res}", tensor(level), persistent=False)
        for j in range(J):
            filters = [p for p in bank["psi"] if p["j"] == j]
            assert [p["theta"] for p in filters] == list(range(L))  # kymatio's order: angle within scale
            for res in range(max(j, 1)):
                stacked = torch.stack([tensor(p["levels"][res]) for p in filters])
                self.register_buffer(f"psi_{j}_{res}", stacked, persistent=False)

    def filters(self) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        phi = [getattr(self, f"phi_{res}") for res in range(self.J)]
        psi = [[getattr(self, f"psi_{j}_{res}") for res in range(max(j, 1))] for j in range(self.J)]
        return phi, psi

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        b, c, m, n = x.shape
        phi, psi = self.filters()
        maps = self.pad(x.reshape(b * c, m, n))[..., 0]
        # On a CPU the batched intermediates (the second order is N x L^2 spectra) outgrow the caches: a few
        # maps at a time is ~2x faster at 128x3x32x32. On a GPU, the whole batch at once.
        step = CPU_CHUNK_MAPS if x.device.type == "cpu" and not torch.compiler.is_compiling() else len(maps)
        chunks = [scattering2d(chunk, phi, psi, self.J) for chunk in maps.split(step)]
        s = chunks[0] if len(chunks) == 1 else torch.cat(chunks)
        return s.reshape(b, c, *s.shape[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            return checkpoint(self.transform, x, use_reentrant=False)
        return self.transform(x)
