"""The pieces of scatnet's Morlet scattering (fast_morlet/) and their adjoints, for the hand-written backward.

Spectra are complex tensors; a filter bank is real (kymatio's Morlet filters are real in the Fourier domain),
kept as its k x k alias blocks (``filter_blocks``), so that a product with every filter and the periodisation
that follows it are one multiply-add per alias block on the real view of the spectra. On a CPU the filtering,
its adjoint, the modulus and its adjoint run as fused loops (native.py) where those can be built.
"""

from __future__ import annotations

import torch

from scatnet.frontends.fast_morlet import native


def alias_blocks(u: torch.Tensor, k: int) -> torch.Tensor:
    """(..., M, N) complex -> (..., k*k, M/k * N/k * 2) real: the k x k aliases that periodisation sums."""
    *lead, m, n = u.shape
    nd = len(lead)
    r = torch.view_as_real(u).reshape(*lead, k, m // k, k, n // k, 2)
    r = r.permute(*range(nd), nd, nd + 2, nd + 1, nd + 3, nd + 4)
    return r.reshape(*lead, k * k, -1)


def from_alias_blocks(r: torch.Tensor, k: int, m: int, n: int) -> torch.Tensor:
    """The inverse of alias_blocks: (..., k*k, M/k * N/k * 2) real -> (..., M, N) complex."""
    *lead, _, _ = r.shape
    nd = len(lead)
    r = r.reshape(*lead, k, k, m // k, n // k, 2).permute(*range(nd), nd, nd + 2, nd + 1, nd + 3, nd + 4)
    return torch.view_as_complex(r.reshape(*lead, m, n, 2).contiguous())


def filter_blocks(psi: torch.Tensor, k: int) -> torch.Tensor:
    """(L, M, N) real filters -> (k*k, L, M/k * N/k): each alias block divided by k*k (the mean of
    periodisation; a power of two, so exact)."""
    *lead, m, n = psi.shape
    blocks = psi.reshape(*lead, k, m // k, k, n // k).movedim(-3, -2).flatten(-4, -3).flatten(-2)
    return (blocks / (k * k)).movedim(-2, 0).contiguous()


def filtered(u: torch.Tensor, psi_blocks: torch.Tensor, k: int) -> torch.Tensor:
    """Every filter applied to every spectrum, then periodised by k: (..., M, N) spectra and (k*k, L, ...)
    filter blocks -> (..., L, M/k, N/k) spectra. One multiply-add per alias block (a real filter value
    times both parts of a complex one)."""
    if native.applies(u, psi_blocks):
        return native.filtered(u, psi_blocks, k)
    *lead, m, w = u.shape
    r = alias_blocks(u, k).unsqueeze(-3)  # (..., 1, k*k, 2D)
    psi = _per_part(psi_blocks)  # (k*k, L, 2D)
    out = r[..., 0, :] * psi[0]
    for b in range(1, k * k):
        out = out.addcmul_(r[..., b, :], psi[b])
    return torch.view_as_complex(out.view(*lead, -1, m // k, w // k, 2))


def first_order(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """The first-order maps |z| of complex z (..., L, M, N), their fft2, and whether they are paired: where
    the fused CPU loops run, two maps to a complex map (as pair_spectra pairs them, written so by the
    modulus) and to an FFT (half the FFTs, separated inside the filtering); elsewhere real maps, one FFT
    each (on a GPU separating them would take more passes over the spectra than the FFTs it saves)."""
    if z.shape[-3] % 2 == 0 and native.applies(z):
        maps = native.modulus_pairs(z)
        return maps, torch.fft.fft2(maps), True
    maps = modulus(z)
    return maps, torch.fft.fft2(maps), False


def pair_spectra(maps: torch.Tensor) -> torch.Tensor:
    """(..., 2P, M, N) real maps -> (..., P, M, N): fft2(a + i b) for each pair (a, b) of consecutive maps
    (``filtered_pairs`` separates the two)."""
    return torch.fft.fft2(_paired(maps))


def unpair_spectra(u: torch.Tensor) -> torch.Tensor:
    """The inverse of pair_spectra after its FFT: (..., P, M, N) -> (..., 2P, M, N), the maps' own spectra.
    For u = fft2(a + i b) and q = u(-w): fft2(a) = (u + conj q) / 2, fft2(b) = (u - conj q) / 2i, in real
    arithmetic as kernels.c does it."""
    p = torch.view_as_real(u)
    q = torch.view_as_real(torch.roll(u.flip(-2, -1), (1, 1), (-2, -1)))
    a = torch.stack(((p[..., 0] + q[..., 0]) / 2, (p[..., 1] - q[..., 1]) / 2), -1)
    b = torch.stack(((p[..., 1] + q[..., 1]) / 2, (q[..., 0] - p[..., 0]) / 2), -1)
    return torch.view_as_complex(torch.stack((a, b), -4).flatten(-5, -4))


def filtered_pairs(u: torch.Tensor, psi_blocks: torch.Tensor, k: int) -> torch.Tensor:
    """``filtered`` of both maps of each pair from pair_spectra: (..., P, M, N) -> (..., 2P, L, M/k, N/k)."""
    if native.applies(u, psi_blocks):
        return native.filtered(u, psi_blocks, k, pairs=True)
    return filtered(unpair_spectra(u), psi_blocks, k)


def filtered_adjoint(g: torch.Tensor, psi_blocks: torch.Tensor, k: int) -> torch.Tensor:
    """The adjoint of ``filtered``: (..., L, M/k, N/k) -> (..., M, N); each alias block gets the sum over
    the filters of gradient times filter (periodisation's adjoint repeats a spectrum over its aliases)."""
    if native.applies(g, psi_blocks):
        return native.filtered_adjoint(g, psi_blocks, k)
    *lead, l_, m, w = g.shape
    r = torch.view_as_real(g).reshape(*lead, l_, 1, -1)
    psi = _per_part(psi_blocks)
    blocks = r[..., 0, :, :] * psi[:, 0]  # (..., k*k, 2D)
    for f in range(1, l_):
        blocks = blocks.addcmul_(r[..., f, :, :], psi[:, f])
    return from_alias_blocks(blocks, k, m * k, w * k)


def _per_part(psi_blocks: torch.Tensor) -> torch.Tensor:
    """(..., D) filter values -> (..., 2D), each repeated for a complex value's real and imaginary parts: the
    eager steps' products then run over contiguous reals (broadcasting the filter over the parts instead
    was several times slower on a CPU; the copy is a small part of the filtering's time)."""
    return torch.stack((psi_blocks, psi_blocks), -1).flatten(-2)


def modulus(z: torch.Tensor) -> torch.Tensor:
    """|z| as kymatio computes it, sqrt(re^2 + im^2); complex abs is a slower hypot on a CPU."""
    if native.applies(z):
        return native.modulus(z)
    r = torch.view_as_real(z)
    re, im = r[..., 0], r[..., 1]
    return torch.addcmul(re * re, im, im).sqrt_()


def modulus_adjoint_(z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """g z / |z|, the modulus' adjoint for the gradient g of |z|, in z (and g) in place: complex z times the
    real ratio as two real products (a complex product would first make it complex). |z| is recomputed, as
    ``modulus`` computes it: one pass less than reading it back."""
    if native.applies(z, g) and z.is_contiguous():
        return native.times_phase_(z, g)
    torch.view_as_real(z).mul_(g.div_(modulus(z)).unsqueeze(-1))
    return z


def symmetric_part(phi: torch.Tensor) -> torch.Tensor:
    """(phi(w) + phi(-w)) / 2, in float64. For a real map m, Re ifft2(fft2(m) * phi) = ifft2(fft2(m) *
    symmetric_part(phi)), whose spectrum is Hermitian: the averaging of a real map is then real before any
    real part is taken, so two real maps can share one complex FFT (``lowpass_fft``)."""
    p = phi.double()
    return (p + torch.roll(p.flip(-2, -1), (1, 1), (-2, -1))) / 2


def _paired(maps: torch.Tensor) -> torch.Tensor:
    """(..., 2P, M, N) real -> (..., P, M, N) complex: maps 2i and 2i+1 as real and imaginary parts."""
    return torch.view_as_complex(maps.unflatten(-3, (-1, 2)).movedim(-3, -1).contiguous())


def unpaired(z: torch.Tensor) -> torch.Tensor:
    """The inverse of _paired, on real-valued results: (..., P, M, N) complex -> (..., 2P, M, N) real."""
    return torch.view_as_real(z).movedim(-1, -3).flatten(-4, -3)


def lowpass_fft(maps: torch.Tensor, phi_blocks: torch.Tensor, k: int) -> torch.Tensor:
    """kymatio's averaging of real maps: ifft2(periodize(fft2(maps) * phi, k)).real, unpadded by one pixel,
    with phi's symmetric part (the same values; ``phi_blocks``, its alias blocks): two maps per complex FFT
    when their number is even."""
    paired = maps.dim() >= 3 and maps.shape[-3] % 2 == 0
    out = lowpass_of_spectra(torch.fft.fft2(_paired(maps) if paired else maps), phi_blocks, k)
    return unpaired(out) if paired else out.real


def lowpass_of_spectra(u: torch.Tensor, phi_blocks: torch.Tensor, k: int) -> torch.Tensor:
    """The same averaging from spectra at hand: (..., M, N) -> complex (..., M/k - 2, N/k - 2), whose real
    part is the averaging of a real map (for a pair's spectrum, real and imaginary parts are the pair's)."""
    return torch.fft.ifft2(filtered(u, phi_blocks, k)[..., 0, :, :])[..., 1:-1, 1:-1]


def lowpass_fft_adjoint(g: torch.Tensor, phi_blocks: torch.Tensor, k: int) -> torch.Tensor:
    """The adjoint of lowpass_fft: the unpadding's adjoint pads with zeros, periodisation's repeats the
    spectrum over its k x k aliases; the FFT scalings (1/(M/k N/k), 1/k^2, M N) cancel, less the 1/k^2
    that ``phi_blocks`` holds (put back on the small padded maps). Paired as forward."""
    paired = g.dim() >= 3 and g.shape[-3] % 2 == 0
    padded = torch.nn.functional.pad(_paired(g) if paired else g, (1, 1, 1, 1)).mul_(k * k)
    out = torch.fft.ifft2(filtered_adjoint(torch.fft.fft2(padded).unsqueeze(-3), phi_blocks, k))
    return unpaired(out) if paired else out.real


def _offsets(m: int, k: int) -> torch.Tensor:
    """(P, M): the circular offsets from each of M input positions to each output position of the averaging
    (every k-th pixel, less the one-pixel unpadding at each end)."""
    return (torch.arange(1, m // k - 1)[:, None] * k - torch.arange(m)) % m


def _kernel(phi: torch.Tensor) -> torch.Tensor:
    """h = Re ifft2(phi), float64: the averaging's circular kernel, whose values are its matrix's entries."""
    return torch.fft.ifft2(phi.double()).real


def lowpass_operator(phi: torch.Tensor, k: int) -> torch.Tensor:
    """The matrix T with ``m.flatten() @ T`` = lowpass_fft(m, phi, k). Periodisation then an inverse FFT at
    1/k the size is the inverse FFT sampled every k pixels, and the real part of ifft2(fft2(m) * phi) is m
    circularly convolved with h = Re ifft2(phi): T's entries are h at the differences between output and
    input positions. (M*N, P*Q), float64."""
    m, n = phi.shape
    h = _kernel(phi)
    dr, dc = _offsets(m, k), _offsets(n, k)  # (P, M), (Q, N)
    t = h[dr[:, None, :, None], dc[None, :, None, :]]  # (P, Q, M, N)
    return t.reshape(dr.shape[0] * dc.shape[0], m * n).T.contiguous()


def separable_lowpass(phi: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """lowpass_operator's T as two factors, (rows (M, P), cols (N, Q), residual), with T[(i, j), (p, q)] ~=
    rows[i, p] cols[j, q]: a map's coefficients are then rows^T @ m @ cols (M N Q + P M Q multiply-adds
    against M N P Q, and nothing of size M N P Q is built). kymatio's phi is a Gaussian, so h = Re ifft2(phi)
    is an outer product up to the float32 rounding of phi: h ~= a b^T, from h's largest entry's column and
    row (exact for a rank-1 h). residual: the largest |h - a b^T| over the largest |h|, which is T's too
    (T's entries are h's)."""
    m, n = phi.shape
    h, a, b = _separable_kernel(phi)
    residual = float((h - torch.outer(a, b)).abs().max() / h.abs().max())
    return a[_offsets(m, k)].T.contiguous(), b[_offsets(n, k)].T.contiguous(), residual


def _separable_kernel(phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(h, a, b): the averaging's kernel h (``_kernel``) and its factors h ~= a b^T, its largest entry's
    column and row (exact for a rank-1 h)."""
    h = _kernel(phi)
    i, j = divmod(int(h.abs().argmax()), h.shape[1])
    return h, h[:, j], h[i, :] / h[i, j]


# The largest tail (the sum of |taps| dropped, over the sum of all) a band may leave: a few times fp32's
# epsilon, the size of fp32's own rounding in the sums it replaces
BAND_TAIL = 4 * torch.finfo(torch.float32).eps
# A wider band would not pay: the taps' multiply-adds approach the products' at 256 x 256 well before 33 wide
BAND_MAX_RADIUS = 16


def lowpass_band(phi: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """separable_lowpass's two factors as taps -R..R about each output pixel, (2R+1,) float64 each, for the
    smallest R whose dropped tails are within BAND_TAIL; None where R would pass BAND_MAX_RADIUS. phi at full
    resolution is a Gaussian of 1.6 pixels whose taps fall to fp32's noise by ~8 pixels (R = 8 for J = 2); at
    half resolution kymatio crops its spectrum at 5% of its peak, and the 1/d tails that leaves take the
    whole map (no band)."""
    _, a, b = _separable_kernel(phi)
    taps = []
    for factor in (a, b):
        size = factor.numel()
        distance = torch.minimum(torch.arange(size), size - torch.arange(size))
        total = float(factor.abs().sum())
        radius = next(
            (
                r
                for r in range(min(BAND_MAX_RADIUS, (size - 1) // 2) + 1)
                if float(factor[distance > r].abs().sum()) <= BAND_TAIL * total
            ),
            None,
        )
        if radius is None:
            return None
        taps.append((factor, radius))
    radius = max(r for _, r in taps)
    return tuple(factor[torch.arange(-radius, radius + 1) % factor.numel()] for factor, _ in taps)
