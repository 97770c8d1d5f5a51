"""scatnet's Morlet scattering: kymatio 0.3.0's 2-D scattering (order 2), computed in a few batched kernels.

The same mathematics, step for step (kymatio/scattering2d/core/scattering2d.py): kymatio's reflection padding
(its own ``Pad``), its filter bank (``filter_bank``, built once as buffers), products with the filters in the
Fourier domain, subsampling by periodisation (the mean of the k x k aliases: the spectrum of x[::k, ::k]),
the modulus, the low-pass averaging, the unpadding, and its output order (S0; S1 by scale then angle; S2 by
first path, then second scale and angle); ``scatnet/frontends/morlet_reference.py`` is that mathematics in
one function with none of what follows, and the tests hold this version to it. What changes is how:

- one FFT of the padded input; per scale, every angle's filter applied and periodised in one pass over the
  k x k aliases (``filtered``), one batched inverse FFT, one modulus; the second order batched per first-order
  scale. kymatio's torch backend runs each path on its own (a few hundred small kernels).
- the low-pass averaging is linear and ends in a few output pixels: low-pass, periodisation, inverse FFT and
  unpadding together are one matrix from a map to its coefficients (``lowpass_operator``, built in float64
  from kymatio's filter), so a coefficient map costs a matrix product instead of an FFT, a product, a
  periodisation and an inverse FFT. phi is a Gaussian, so in fp32 that matrix is applied as its separable
  factors (``separable_lowpass``: they reproduce it to fp32's resolution; two products of a map with a
  64 x 132 matrix at 256 x 256). float64 keeps the whole matrix up to 64 x 64, both exact. Over 64 x 64
  float64 and a GPU take the FFT way (the low-pass applied per alias block like the wavelets; ``fft_lowpass``),
  and the first order is averaged that way from the spectra the second order needs anyway. There fp32 on a
  CPU averages the full-resolution maps (the input's, the first scale's) with the factors cut to the band
  where their taps are above fp32's noise (``lowpass_band``, 17 taps: a fused loop with 1/12 of the products'
  multiply-adds); at half resolution kymatio's phi has tails over the whole map and the products stay.
- on a CPU the filtering, the modulus and their adjoints run as fused loops (native.py) where they can be
  built, and then two real first-order maps share one FFT (``first_order``: the modulus writes them as one
  complex map), separated inside the filtering. Where PyTorch links MKL (its x86 builds) the loops also run
  the wavelets' FFTs themselves, a map at a time in a core's cache (``wavelet_modulus``, ``first_order`` and
  ``wavelet_modulus_adjoint``): the wavelets' spectra are never written out and read back.
- the backward is written by hand (``scattering2d_backward``: the adjoint of each step, in reverse), from the
  input alone: it recomputes the forward's intermediates a chunk at a time, so it holds nothing else.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from scatnet.frontends.fast_morlet import native
from scatnet.frontends.fast_morlet.ops import (
    filter_blocks,
    filtered,
    filtered_adjoint,
    filtered_pairs,
    first_order,
    lowpass_band,
    lowpass_fft,
    lowpass_fft_adjoint,
    lowpass_of_spectra,
    lowpass_operator,
    modulus,
    modulus_adjoint_,
    separable_lowpass,
    symmetric_part,
    unpaired,
)
from scatnet.frontends.morlet import morlet_coefficients
from scatnet.memory import freed_memory_kept

# Largest low-pass matrix (entries) used instead of FFTs: 64 x 64 images (5184 x 256) fit, 128 x 128 do not.
DENSE_LOWPASS_MAX = 1 << 22
# Maps are transformed a chunk at a time, so that one chunk's spectra (first and second order) stay near this
# many bytes: on a CPU so that a chunk's passes stay near the cores' caches while each batched step still has
# enough maps to pay for its dispatch, on a GPU so that a thesis-size batch (128 x 3 x 256 x 256: gigabytes of
# such spectra at once) fits beside training. On a CPU, each measured on its path (docs/PERFORMANCE.md): 6 MB with
# glibc's defaults, which fault larger chunks' freed spectra in anew as often as not; 12 MB where freed memory is
# kept for reuse (scatnet/memory.py; the CLIs do it), where the larger chunks read faster; and 36 MB where the
# loops run the wavelets' FFTs themselves, so that a chunk's spectra are never all written out (two maps at
# 256 x 256, L=8, and 122 at 32 x 32), faster again forward and backward.
CPU_CHUNK_BYTES = 6 << 20
CPU_CHUNK_BYTES_KEPT = 12 << 20
CPU_CHUNK_BYTES_FUSED = 36 << 20
GPU_CHUNK_BYTES = 1 << 30


class FastMorletScattering(nn.Module):
    """Morlet scattering (J, L, order 2) of (B, C, H, W) images -> (B, C, K, H / 2^J, W / 2^J), as kymatio's
    Scattering2D returns it. Built for one image size (the filters are per size, as kymatio's)."""

    # How fp32 averages maps over 64 x 64: "auto" (on a CPU the band where there is one, else the separable
    # products; the FFT way elsewhere; see band and fft_lowpass), "band", "products" or "fft" (to time one
    # against another: scripts/morlet_lowpass_ways.py)
    lowpass_way = "auto"

    def __init__(self, J: int, shape: tuple[int, int], L: int = 8):
        super().__init__()
        from kymatio.scattering2d.backend.torch_backend import Pad
        from kymatio.scattering2d.filter_bank import filter_bank
        from kymatio.scattering2d.utils import compute_padding

        (m, n), (mp, np_) = shape, compute_padding(*shape, J)
        self.J, self.L, self.shape, self.padded = J, L, (m, n), (mp, np_)
        self.out_shape = (mp // 2**J - 2, np_ // 2**J - 2)
        self.channels = morlet_coefficients(J, L)  # K: S0, the first order, the second
        self.pad = Pad([(mp - m) // 2, (mp - m + 1) // 2, (np_ - n) // 2, (np_ - n + 1) // 2], [m, n])
        bank = filter_bank(mp, np_, J, L)
        # kymatio's filters are float32 (so are its buffers); .double() converts them with the module
        phi = [torch.as_tensor(level, dtype=torch.float32) for level in bank["phi"]["levels"]]
        self.dense_lowpass = mp * np_ * self.out_shape[0] * self.out_shape[1] <= DENSE_LOWPASS_MAX
        for res in range(J):
            # fp32: the separable factors, which reproduce the low-pass to fp32's resolution (checked here)
            rows, cols, residual = separable_lowpass(phi[res], 2 ** (J - res))
            assert residual <= torch.finfo(torch.float32).eps, residual  # rounding only, well under fp32's eps
            self.register_buffer(f"lowpass_rows_{res}", rows.float(), persistent=False)
            self.register_buffer(f"lowpass_cols_{res}", cols.float(), persistent=False)
            # float64 (a float64 module is then exact): the whole matrix, or the FFT way where it is large;
            # its filter blocks also serve fp32 on a GPU and where spectra are at hand
            if self.dense_lowpass:
                self.register_buffer(f"lowpass64_{res}", lowpass_operator(phi[res], 2 ** (J - res)), persistent=False)
            else:
                band = lowpass_band(phi[res], 2 ** (J - res))
                if band is not None:
                    self.register_buffer(f"band_rows_{res}", band[0].float(), persistent=False)
                    self.register_buffer(f"band_cols_{res}", band[1].float(), persistent=False)
                phi_sym = filter_blocks(symmetric_part(phi[res])[None], 2 ** (J - res))
                self.register_buffer(f"phi_{res}", phi_sym.float(), persistent=False)
                self.register_buffer(f"phi64_{res}", phi_sym, persistent=False)
        for j in range(J):
            filters = [p for p in bank["psi"] if p["j"] == j]
            assert [p["theta"] for p in filters] == list(range(L))  # kymatio's order: angle within scale
            for res in range(max(j, 1)):  # scale j is applied at every coarser first-order resolution
                stacked = torch.stack([torch.as_tensor(p["levels"][res], dtype=torch.float32) for p in filters])
                self.register_buffer(f"psi_{j}_{res}", filter_blocks(stacked, 2 ** (j - res)), persistent=False)

    # -- the pieces, at the resolution of a scale ------------------------------------------------------------

    def wavelets(self, u: torch.Tensor, j: int, res: int, pairs: bool = False) -> torch.Tensor:
        """Spectra (..., M_res, N_res) -> every angle of scale j applied, (..., L, M_j, N_j). ``pairs``: u
        holds two maps per spectrum (pair_spectra), and the result is both maps' (..., 2P, L, M_j, N_j)."""
        psi, k = getattr(self, f"psi_{j}_{res}"), 2 ** (j - res)
        return torch.fft.ifft2(filtered_pairs(u, psi, k) if pairs else filtered(u, psi, k))

    def wavelet_modulus(self, u: torch.Tensor, j: int, res: int, pairs: bool = False) -> torch.Tensor:
        """The modulus of ``wavelets``, real; on a CPU each map's filterings, inverse FFTs and moduli in cache
        where the fused loops call MKL's FFTs (native.wavelet_modulus)."""
        psi = getattr(self, f"psi_{j}_{res}")
        if native.fuses_fft(u, psi, tasks=_maps(u, pairs) * self.L):
            return native.wavelet_modulus(u, psi, 2 ** (j - res), pairs)
        return modulus(self.wavelets(u, j, res, pairs))

    def wavelet_modulus_adjoint(
        self, u: torch.Tensor, j: int, res: int, g: torch.Tensor, pairs: bool = False, z: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The adjoint of ``wavelet_modulus`` at u for the gradient g of its output: the gradient w.r.t. the
        maps' own spectra (..., M_res, N_res), with the wavelets ``z`` where they are at hand, else recomputed
        (fused, as the forward's, where it can be: native.wavelet_modulus with g). The adjoint of ifft2 is
        fft2 / size, which g holds (lowpass_adjoint's scale)."""
        psi, k = getattr(self, f"psi_{j}_{res}"), 2 ** (j - res)
        if z is None and native.fuses_fft(u, psi, g, tasks=_maps(u, pairs)):
            return native.wavelet_modulus(u, psi, k, pairs, g=g)
        z = self.wavelets(u, j, res, pairs) if z is None else z
        return filtered_adjoint(torch.fft.fft2(modulus_adjoint_(z, g)), psi, k)  # z ends here

    def first_order(self, u0: torch.Tensor, j1: int) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """ops.first_order of scale j1's wavelets of the input's spectra u0: (maps, their fft2, paired); fused
        as ``wavelet_modulus`` where it can be (native.first_order)."""
        psi = getattr(self, f"psi_{j1}_0")
        if self.L % 2 == 0 and native.fuses_fft(u0, psi, tasks=_maps(u0) * self.L // 2):
            return *native.first_order(u0, psi, 2**j1), True
        return first_order(self.wavelets(u0, j1, 0))

    def lowpass(
        self, maps: torch.Tensor, res: int, out: torch.Tensor, spectra: torch.Tensor | None = None, pairs: bool = False
    ) -> None:
        """Real maps at resolution res -> their scattering coefficients, written into ``out`` (..., H / 2^J,
        W / 2^J; a view of the transform's output, written in place where it is contiguous: no copies of the
        output to assemble it); ``spectra``, the maps' FFT where it is at hand (the FFT way then starts from
        it). ``pairs``: the maps are ops.first_order's complex maps of two real maps each, as are their
        spectra."""
        # where a step writes its result itself (an out= argument), or None: it is copied into out
        direct = out if _writes_in_place(out, maps) else None
        written = None
        band = self.band(res, maps)
        if band is not None:  # real maps, or paired ones (ops.first_order), read where they lie
            written = direct
            result = native.lowpass_band(maps, *band, 2 ** (self.J - res), self.out_shape, out=written)
        elif (spectra is not None and not self.dense_lowpass) or self.fft_lowpass(maps):
            # the FFT way; from spectra at hand faster than the separable products (docs/PERFORMANCE.md);
            # phi's symmetric part keeps a pair's averages apart, in the real and imaginary parts
            phi, k = self.lowpass_filter(res, maps.dtype.to_real()), 2 ** (self.J - res)
            if spectra is None:
                result = lowpass_fft(maps, phi, k)
            else:
                result = lowpass_of_spectra(spectra, phi, k)
                result = unpaired(result) if pairs else result.real
        else:
            maps = unpaired(maps) if maps.is_complex() else maps  # pairs as real maps (a copy in the product)
            if maps.dtype == torch.float64:
                t = self.lowpass64(res)
                written = None if direct is None else direct.view(-1, t.shape[1])
                result = torch.mm(maps.reshape(-1, t.shape[0]), t, out=written)
            else:
                # rows^T @ m @ cols: a wide product, then a batched one (rows^T broadcast by stride, not copied)
                rows, cols = self.lowpass_factors(res, maps.dtype)
                t = (maps @ cols).reshape(-1, maps.shape[-2], cols.shape[1])
                written = None if direct is None else direct.view(-1, *self.out_shape)
                result = torch.bmm(rows.T.expand(t.shape[0], -1, -1), t, out=written)
        if written is None:
            out.copy_(result.reshape(out.shape))

    def lowpass_adjoint(self, g: torch.Tensor, res: int, scale: float = 1.0) -> torch.Tensor:
        """The adjoint of ``lowpass``, times ``scale`` (applied to the few coefficients, which also makes a
        sliced gradient contiguous for the matrix product)."""
        g = g * scale if scale != 1.0 else g
        if self.fft_lowpass(g):
            return lowpass_fft_adjoint(g, self.lowpass_filter(res, g.dtype), 2 ** (self.J - res))
        if g.dtype == torch.float64:
            size = (self.padded[0] // 2**res, self.padded[1] // 2**res)
            return (g.flatten(-2) @ self.lowpass64(res).T).unflatten(-1, size)
        rows, cols = self.lowpass_factors(res, g.dtype)  # rows @ g @ cols^T
        return rows @ (g @ cols.T)

    def fft_lowpass(self, maps: torch.Tensor) -> bool:
        """Whether maps this large are averaged the FFT way: in float64 (exact), and by default on a GPU,
        where the separable products' flops (fp32, TF32 off) would cost more than the FFT way's passes over
        memory (predicted from the flops and bytes of a thesis-size batch's second order). Up to 64 x 64: never
        (the whole matrix, or its factors)."""
        if self.dense_lowpass:
            return False
        if maps.dtype.to_real() == torch.float64 or self.lowpass_way == "fft":
            return True
        return self.lowpass_way == "auto" and maps.device.type != "cpu"

    def band(self, res: int, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The band's (column, row) taps where these maps are averaged by them: fp32 over 64 x 64, at a
        resolution whose phi has a band, through the fused CPU loop (at 256 x 256 faster than the products or
        the FFT way from their spectra; up to 64 x 64 the whole-map products are faster: docs/PERFORMANCE.md).
        Else None."""
        if (
            self.dense_lowpass
            or maps.dtype.to_real() != torch.float32
            or self.lowpass_way not in ("auto", "band")
            or not hasattr(self, f"band_rows_{res}")
            or not native.runs_on(maps)
        ):
            return None
        return getattr(self, f"band_rows_{res}"), getattr(self, f"band_cols_{res}")

    def lowpass64(self, res: int) -> torch.Tensor:
        return getattr(self, f"lowpass64_{res}").to(torch.float64)

    def lowpass_factors(self, res: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        return getattr(self, f"lowpass_rows_{res}").to(dtype), getattr(self, f"lowpass_cols_{res}").to(dtype)

    def lowpass_filter(self, res: int, dtype: torch.dtype) -> torch.Tensor:
        return getattr(self, f"phi{'64' if dtype == torch.float64 else ''}_{res}").to(dtype)

    # -- the transform and its adjoint -----------------------------------------------------------------------

    def scattering2d(self, x: torch.Tensor, angles: int, out: torch.Tensor) -> torch.Tensor:
        """(n, Mp, Np) padded maps -> their coefficients, written into ``out`` (n, K, Mp / 2^J - 2,
        Np / 2^J - 2): S0, S1 by scale then angle, S2 by first path (scale, then angle), then second scale and
        angle (kymatio's order). ``angles``: how many first-order maps go through the second order together
        (``chunking``)."""
        J, L = self.J, self.L
        u0 = torch.fft.fft2(x)
        self.lowpass(x, 0, out[:, 0])
        start = 1 + J * L  # where j1's second-order paths begin in out
        for j1 in range(J):
            s1 = out[:, 1 + j1 * L : 1 + (j1 + 1) * L]
            if j1 + 1 == J:
                self.lowpass(self.wavelet_modulus(u0, j1, 0), j1, s1)
                continue
            m1, u1, pairs = self.first_order(u0, j1)  # m1 and u1: (n, L or L / 2, M_j1, N_j1)
            self.lowpass(m1, j1, s1, u1, pairs)
            paths = (J - 1 - j1) * L
            s2 = out[:, start : start + L * paths].unflatten(1, (L, paths))  # by first angle, then paths
            start += L * paths
            for u, dst in zip(u1.split(angles // (1 + pairs), dim=1), s2.split(angles, dim=1)):
                self.second_order(u, j1, pairs, dst)
        return out

    def second_order(self, u1: torch.Tensor, j1: int, pairs: bool, out: torch.Tensor) -> None:
        """Spectra of first-order maps (n, P, M_j1, N_j1), two to an FFT if ``pairs`` -> their second-order
        coefficients, written into ``out`` (n, P or 2P, paths, h, w), the paths by second scale, then angle."""
        L = self.L
        for i, j2 in enumerate(range(j1 + 1, self.J)):
            self.lowpass(self.wavelet_modulus(u1, j2, j1, pairs), j2, out[:, :, i * L : (i + 1) * L])

    def scattering2d_backward(self, x: torch.Tensor, g: torch.Tensor, angles: int) -> torch.Tensor:
        """The gradient w.r.t. the padded maps x (n, Mp, Np) of <scattering2d(x), g>: each step's adjoint in
        reverse, with the intermediates recomputed from x. The adjoint of ifft2 is fft2 / size, of fft2 on a
        real map size * ifft2's real part, of the modulus g z / |z|."""
        J, L = self.J, self.L
        gs1 = g[:, 1 : 1 + J * L].unflatten(1, (J, L))
        u0 = torch.fft.fft2(x)
        gu0, start = None, 1 + J * L  # start: where j1's second-order paths begin in g
        for j1 in range(J):
            # the wavelets, kept for the first order's maps and the modulus' adjoint, where no fused loop
            # recomputes them in cache (the adjoint's tasks, a map each, are the fewer)
            fused = native.fuses_fft(u0, getattr(self, f"psi_{j1}_0"), tasks=_maps(u0))
            z1 = None if fused else self.wavelets(u0, j1, 0)
            # the gradient w.r.t. m1 over m1's size: the next step is the adjoint of an ifft2 (fft2 / size)
            gm1 = self.lowpass_adjoint(gs1[:, j1], j1, 1 / self.size(j1))
            if j1 + 1 < J:
                paths = (J - 1 - j1) * L
                gs2 = g[:, start : start + L * paths].unflatten(1, (L, paths))
                start += L * paths
                _, u1, pairs = self.first_order(u0, j1) if fused else first_order(z1)
                gu1 = _cat(
                    [
                        self.second_order_adjoint(u, gu, j1, pairs)
                        for u, gu in zip(u1.split(angles // (1 + pairs), dim=1), gs2.split(angles, dim=1))
                    ],
                    dim=1,
                )
                gm1 = gm1.add_(torch.fft.ifft2(gu1).real)
            gu0 = _accumulate(gu0, self.wavelet_modulus_adjoint(u0, j1, 0, gm1, z=z1))
        return self.lowpass_adjoint(g[:, 0], 0).add_(torch.fft.ifft2(gu0).real, alpha=self.size(0))

    def second_order_adjoint(self, u1: torch.Tensor, g2: torch.Tensor, j1: int, pairs: bool) -> torch.Tensor:
        """The adjoint of ``second_order`` at u1, for the gradient g2 (n, maps, paths, h, w) of its output: the
        gradient w.r.t. the maps' own spectra (n, maps, M_j1, N_j1), before the inverse FFT that made them."""
        gu1, L = None, self.L
        for i, j2 in enumerate(range(j1 + 1, self.J)):
            gm2 = self.lowpass_adjoint(g2[:, :, i * L : (i + 1) * L], j2, 1 / self.size(j2))
            gu1 = _accumulate(gu1, self.wavelet_modulus_adjoint(u1, j2, j1, gm2, pairs))
        return gu1

    def size(self, res: int) -> int:
        """Pixels of a map at resolution res (the scale of an FFT there)."""
        return (self.padded[0] // 2**res) * (self.padded[1] // 2**res)

    # -- batches ---------------------------------------------------------------------------------------------

    def chunking(self, x: torch.Tensor) -> tuple[int, int]:
        """(maps per chunk, first-order angles per second-order pass), so that a chunk's spectra (a map's L
        first-order and L^2 second-order ones) stay near the budget: whole maps while one map's fit, else
        one map, its second order a few first-order angles at a time within the budget, so that the working
        set stays bounded for any image size (one map's are 13 MB at 256 x 256, L=8; 210 MB at 1024 x 1024).
        Counting the first order too keeps L=6 chunks as small as L=8 ones in bytes (counting the second order
        alone had made them 30-50% slower on a CPU, docs/PERFORMANCE.md). The angles are an even number: on a
        CPU two first-order maps share an FFT (first_order)."""
        if x.device.type != "cpu":
            budget = GPU_CHUNK_BYTES
        elif not freed_memory_kept():
            budget = CPU_CHUNK_BYTES
        else:
            fused = native.runs_on(x) and native.fft_linked()
            budget = CPU_CHUNK_BYTES_FUSED if fused else CPU_CHUNK_BYTES_KEPT
        first = self.L * self.padded[0] * self.padded[1] * 2 * x.element_size()
        per_angle = first // 4  # one first-order map's second order, at H/2
        if first + self.L * per_angle <= budget:
            return budget // (first + self.L * per_angle), self.L
        return 1, max(2, budget // per_angle // 2 * 2)

    def padded_maps(self, x: torch.Tensor) -> torch.Tensor:
        b, c, m, n = x.shape
        return self.pad(x.reshape(b * c, m, n))[..., 0]

    def padded_maps_adjoint(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The adjoint of ``padded_maps`` at x: (B*C, Mp, Np) -> (B, C, H, W). kymatio's Pad is a
        ReflectionPad2d, then, where the padding equals the side (4-pixel images), one more reflected row or
        column each side; aten's own adjoint of the first (no autograd call: dynamo traces it whole)."""
        g, (m, n) = g[:, None], self.shape
        if self.pad.pad_size[0] == m:
            g = _fold_edges(g, 2)
        if self.pad.pad_size[2] == n:
            g = _fold_edges(g, 3)
        padding = list(self.pad.padding_module.padding)
        return torch.ops.aten.reflection_pad2d_backward(g, x.reshape(-1, 1, m, n), padding).reshape(x.shape)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B*C, K, h, w), a chunk of maps at a time."""
        maps = self.padded_maps(x)
        step, angles = self.chunking(maps)
        out = maps.new_empty(maps.shape[0], self.channels, *self.out_shape)
        for chunk, dst in zip(maps.split(step), out.split(step)):
            self.scattering2d(chunk, angles, dst)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        needs_grad = torch.is_grad_enabled() and x.requires_grad
        s = MorletScatteringFunction.apply(x, self) if needs_grad else self.transform(x)
        return s.reshape(b, c, *s.shape[1:])


class MorletScatteringFunction(torch.autograd.Function):
    """(B, C, H, W) images -> (B*C, K, h, w) coefficients; saves only the images for the backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, module: FastMorletScattering) -> torch.Tensor:
        ctx.module = module
        ctx.save_for_backward(x)
        return module.transform(x)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g: torch.Tensor):
        (x,) = ctx.saved_tensors
        module = ctx.module
        maps = module.padded_maps(x)
        step, angles = module.chunking(maps)
        g_maps = torch.cat(
            [module.scattering2d_backward(xc, gc, angles) for xc, gc in zip(maps.split(step), g.split(step))]
        )
        return module.padded_maps_adjoint(g_maps, x), None


def _maps(u: torch.Tensor, pairs: bool = False) -> int:
    """How many maps the spectra u (..., M, N) hold: one each, or two with ``pairs``."""
    return u.numel() // (u.shape[-2] * u.shape[-1]) * (2 if pairs else 1)


def _cat(parts: list[torch.Tensor], dim: int) -> torch.Tensor:
    """torch.cat, without its copy when there is one part (the usual case: all first-order angles at once, and
    J = 2's one second scale)."""
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim)


def _writes_in_place(out: torch.Tensor, maps: torch.Tensor) -> bool:
    """Whether a step may write its result straight into ``out`` (an out= argument): a contiguous view, in eager
    mode (dynamo traces the copy instead), without autograd (out= arguments have none)."""
    return (
        out.is_contiguous()
        and not torch.compiler.is_compiling()
        and not (torch.is_grad_enabled() and maps.requires_grad)
    )


def _accumulate(total: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    """total + x, in place after the first term (a sum started from 0 would copy the first term)."""
    return x if total is None else total.add_(x)


def _fold_edges(g: torch.Tensor, dim: int) -> torch.Tensor:
    """The adjoint of ``cat([y[1], y, y[-2]], dim)`` (kymatio's extra reflection): (.., s + 2, ..) -> (.., s, ..)."""
    s = g.shape[dim] - 2
    inner = g.narrow(dim, 1, s).clone()
    inner.narrow(dim, 1, 1).add_(g.narrow(dim, 0, 1))
    inner.narrow(dim, s - 2, 1).add_(g.narrow(dim, s + 1, 1))
    return inner
