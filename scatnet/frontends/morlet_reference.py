"""The 2-D Morlet scattering transform of order 2 as the mathematics reads: the oracle that the fast version
(fast_morlet/) and kymatio are tested against. No speed paths: one path at a time, whole-size FFTs, in the
input's dtype. The definition is kymatio 0.3.0's (kymatio/scattering2d/core/scattering2d.py), step for step:

    x is padded by reflection to a size divisible by 2^J (two more blocks of 2^J), with spectrum X;
    S0       = A_J x                               A_j: low-pass phi, then subsampling by 2^(J - j)
    U1[l1]   = |psi_l1 * x|                        sampled every 2^j1 pixels (l1 = (j1, theta1))
    S1[l1]   = A_j1 U1[l1]
    U2[l1,l2] = |psi_l2 * U1[l1]|,  j2 > j1        sampled every 2^j2 pixels
    S2[l1,l2] = A_j2 U2[l1,l2]
    each S unpadded (one sample each side).

Filtering is a product in the Fourier domain; subsampling by k is periodisation of the spectrum (the mean of
its k x k aliases: the spectrum of z[::k, ::k]). Output: (..., K, H / 2^J, W / 2^J), K = 1 + JL + L^2 J(J-1)/2,
in kymatio's order: S0; S1 by scale, then angle; S2 by first path, then second scale and angle.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def filters(shape: tuple[int, int], J: int, L: int, dtype=torch.float64) -> tuple[list, list]:
    """kymatio's filter bank for this image size: phi's levels, and (j, theta, levels) of each wavelet; each
    level j is the filter's spectrum periodised to the size of a map sampled every 2^j pixels."""
    from kymatio.scattering2d.filter_bank import filter_bank

    bank = filter_bank(*padded_size(shape, J), J, L)
    as_tensor = lambda levels: [torch.as_tensor(f, dtype=dtype) for f in levels]  # noqa: E731
    return as_tensor(bank["phi"]["levels"]), [(p["j"], p["theta"], as_tensor(p["levels"])) for p in bank["psi"]]


def padded_size(shape: tuple[int, int], J: int) -> tuple[int, int]:
    """kymatio's: the next multiple of 2^J, plus one block of 2^J on each side."""
    return tuple(((s + 2**J - 1) // 2**J + 2) * 2**J for s in shape)


def pad(x: torch.Tensor, J: int) -> torch.Tensor:
    """Reflection padding to the padded size, the odd pixel at the end (as kymatio's Pad)."""
    (m, n), (pm, pn) = x.shape[-2:], padded_size(x.shape[-2:], J)
    top, left = (pm - m) // 2, (pn - n) // 2
    sizes = [left, pn - n - left, top, pm - m - top]
    return F.pad(x.reshape(-1, 1, m, n), sizes, mode="reflect").reshape(*x.shape[:-2], pm, pn)


def periodise(z_hat: torch.Tensor, k: int) -> torch.Tensor:
    """The spectrum of z[::k, ::k] from z's: the mean of the k x k aliases."""
    *lead, m, n = z_hat.shape
    return z_hat.reshape(*lead, k, m // k, k, n // k).mean(dim=(-4, -2))


def wavelet_modulus(u_hat: torch.Tensor, psi: torch.Tensor, k: int) -> torch.Tensor:
    """|psi * u| sampled every k pixels, from u's spectrum; returned as its spectrum (what comes next needs)."""
    return torch.fft.fft2(torch.fft.ifft2(periodise(u_hat * psi, k)).abs())


def average(u_hat: torch.Tensor, phi: torch.Tensor, k: int) -> torch.Tensor:
    """phi * u sampled every k pixels, unpadded: the coefficients."""
    return torch.fft.ifft2(periodise(u_hat * phi, k)).real[..., 1:-1, 1:-1]


def scattering2d(x: torch.Tensor, J: int = 2, L: int = 8) -> torch.Tensor:
    """S[x] of real images (..., H, W): (..., K, H / 2^J, W / 2^J)."""
    phi, psi = filters(tuple(x.shape[-2:]), J, L, x.dtype)
    x_hat = torch.fft.fft2(pad(x, J))
    s0 = [average(x_hat, phi[0], 2**J)]
    s1, s2 = [], []
    for j1, _, psi1 in psi:
        u1_hat = wavelet_modulus(x_hat, psi1[0], 2**j1)
        s1.append(average(u1_hat, phi[j1], 2 ** (J - j1)))
        for j2, _, psi2 in psi:
            if j2 > j1:
                u2_hat = wavelet_modulus(u1_hat, psi2[j1], 2 ** (j2 - j1))
                s2.append(average(u2_hat, phi[j2], 2 ** (J - j2)))
    return torch.stack(s0 + s1 + s2, dim=-3)
