"""The fast DTCWT ScatLayer pair as pure functions plus one autograd Function.

Design (see docs/PERFORMANCE.md): channels are folded into the batch, so the forward's filters are
fixed-size buffers (no per-call ``repeat``); symmetric padding is flip + cat, or on a GPU one gather with
indices built on the device once per size (no index arrays copied from the host, no syncs); each layer is
one conv2d (direct) or a row pass (a banded GEMM, built on the device) plus one conv2d (separable), then one
elementwise magnitude. The backward saves only the input and recomputes the forward, so no activation is
held between forward and backward.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from scatnet.frontends.fast_dtcwt.filters import N_OUT
from scatnet.frontends.fast_dtcwt.rows import row_pass
from scatnet.precision import frontend_fp32


def extend_to_even(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Repeat the last sample along dim when that side is odd."""
    n = x.shape[dim]
    return torch.cat((x, x.narrow(dim, n - 1, 1)), dim=dim) if n % 2 else x


def pad_to_even(x: torch.Tensor) -> torch.Tensor:
    """Repeat the last row/column of an odd-sized image (what pytorch_wavelets' ScatLayer does)."""
    return extend_to_even(extend_to_even(x, -2), -1)


def symmetric_index(n: int, m: int, device) -> torch.Tensor:
    """Half-sample symmetric extension indices for any m (several reflections when m > n)."""
    i = torch.remainder(torch.arange(-m, n + m, device=device), 2 * n)
    return torch.where(i < n, i, 2 * n - 1 - i)


def symmetric_pad(x: torch.Tensor, m: int, dim: int) -> torch.Tensor:
    n = x.shape[dim]
    if m == 0:
        return x
    if m <= n:  # the common case: two flipped slices, no index tensor at all
        return torch.cat((x.narrow(dim, 0, m).flip(dim), x, x.narrow(dim, n - m, m).flip(dim)), dim=dim)
    return x.index_select(dim, symmetric_index(n, m, x.device))


@functools.cache
def device_symmetric_index(n: int, m: int, device: torch.device) -> torch.Tensor:
    """symmetric_index built once per (side, padding, device), on the device (no host copy at all). Never
    evicted: a CUDA graph that recorded a gather keeps reading this very tensor (a few KB per image size).
    Its first call must come before any capture (make_graphed_callables' warm-up passes make it so):
    built during a capture, it would live in the graph's private memory pool."""
    if device.type == "cuda" and torch.cuda.is_current_stream_capturing():
        raise RuntimeError(
            f"symmetric padding indices for side {n}, padding {m} first needed while a CUDA graph "
            "records; run the same shapes once eagerly before capturing"
        )
    return symmetric_index(n, m, device)


def pad2d(x: torch.Tensor, m: int, mode: str) -> torch.Tensor:
    if mode != "symmetric":
        return F.pad(x, (m, m, m, m))  # zero padding
    if pad_by_gather(x):
        return gather_symmetric_pad(x, m)
    return symmetric_pad(symmetric_pad(x, m, -2), m, -1)


def pad_by_gather(x: torch.Tensor) -> bool:
    """One gather kernel instead of four flips and two cats on a GPU in eager, where a small-image forward
    is bound by kernel launches (docs/PERFORMANCE.md). Not on CPU, where advanced indexing is several times
    slower than flip + cat at CIFAR and 256x256 sizes, and not under torch.compile, which fuses flip + cat."""
    return x.is_cuda and not torch.compiler.is_compiling()


def gather_symmetric_pad(x: torch.Tensor, m: int) -> torch.Tensor:
    """Symmetric padding by m on both image axes as one advanced-indexing gather."""
    h, w = x.shape[-2:]
    return x[..., device_symmetric_index(h, m, x.device)[:, None], device_symmetric_index(w, m, x.device)]


def scat_linear(x: torch.Tensor, weights: tuple[torch.Tensor, ...], mode: str) -> torch.Tensor:
    """The linear part of one ScatLayer: (B, C, H, W) -> (B, C, 13, ceil(H/2), ceil(W/2)).

    ``weights`` is either (direct,) — one (13, 1, K+1, K+1) stride-2 kernel — or (row, fused, bands) — a 1 x K
    row pass (bands: its packed_bands, or None) then a (K+1) x 2 stride-2 pass (fewer multiply-adds for long
    filters)."""
    x = pad_to_even(x)
    b, c, h, w = x.shape
    m = (weights[0 if len(weights) == 1 else 1].shape[-2] - 1) // 2
    xp = pad2d(x, m, mode).reshape(b * c, 1, h + 2 * m, w + 2 * m)
    if len(weights) == 1:
        z = F.conv2d(xp, weights[0].to(x.dtype), stride=2)
    else:
        bands = None if weights[2] is None else weights[2].to(x.dtype)
        rows = row_pass(xp, weights[0].to(x.dtype), bands)  # (B*C, nR, H+2m, W): 1 x K, valid
        z = F.conv2d(rows, weights[1].to(x.dtype), stride=2)  # (B*C, 13, H/2, W/2): columns + 2x2 combine
    return z.view(b, c, N_OUT, h // 2, w // 2)


def write(out: torch.Tensor, op, *args) -> torch.Tensor:
    """``op(*args, out=out)``: no temporary in eager mode. Under torch.compile, which cannot trace ``out=`` into
    a strided view, an assignment (inductor fuses it into the op)."""
    if torch.compiler.is_compiling():
        out.copy_(op(*args))
    else:
        op(*args, out=out)
    return out


def magnitude(z: torch.Tensor, b: float, out: torch.Tensor | None = None) -> torch.Tensor:
    """(..., 13, h, w) linear outputs -> (..., 7, h, w): lowpass and 6 smoothed magnitudes
    sqrt(re^2 + im^2 + b^2) - b (pytorch_wavelets' formula; fp32 rounding may differ by ~1 ulp).
    ``out``: a tensor of the output's shape to write into, possibly a strided view of the caller's final
    layout (saves the copy into it). Few full-size passes: 5 kernels and no temporary besides |z|."""
    re, im = z[..., 1::2, :, :], z[..., 2::2, :, :]
    if out is None:
        out = z.new_empty(*z.shape[:-3], 7, *z.shape[-2:])
    out[..., 0, :, :] = z[..., 0, :, :]
    mag = (re * re).addcmul_(im, im).add_(b * b).sqrt_()
    write(out[..., 1:, :, :], torch.sub, mag, b)
    return out


def scat_layer(x: torch.Tensor, weights: tuple, mode: str, b: float) -> torch.Tensor:
    """One ScatLayer: (B, C, H, W) -> (B, 7 C, H/2, W/2), channel k * C + c (pytorch_wavelets' order)."""
    bsz, c = x.shape[:2]
    y = magnitude(scat_linear(x, weights, mode), b)  # (B, C, 7, h, w)
    return y.transpose(1, 2).reshape(bsz, 7 * c, *y.shape[-2:])


def scat_pair(x: torch.Tensor, weights: tuple, mode: str, b: float) -> torch.Tensor:
    """Two ScatLayers: (B, C, H, W) -> (B, 49 C, H/4, W/4), channels in pytorch_wavelets' order
    (index k2 * 7C + k1 * C + c for second-layer subband k2, first-layer subband k1, colour c)."""
    bsz, c = x.shape[:2]
    y1 = magnitude(scat_linear(x, weights, mode), b)  # (B, C, 7, h1, w1)
    y1 = y1.reshape(bsz, c * 7, *y1.shape[-2:])  # channel c*7 + k1
    z2 = scat_linear(y1, weights, mode)  # (B, 7C, 13, h2, w2)
    h2, w2 = z2.shape[-2:]
    out = z2.new_empty(bsz, 49 * c, h2, w2)
    # the second magnitude writes straight into the final channel order (no permuting copy after it)
    magnitude(z2.view(bsz, c, 7, N_OUT, h2, w2), b, out=out.view(bsz, 7, 7, c, h2, w2).permute(0, 3, 2, 1, 4, 5))
    return out


# On CPU the backward runs over chunks of the batch of at most this many input elements: its ~20 full-size
# intermediates then stay in cache and their memory is reused (4x3x256x256: 15-20% faster one image at a
# time; at 128x3x32x32 no difference, so the chunk is large; docs/PERFORMANCE.md)
CPU_BACKWARD_CHUNK = 1 << 18


SCATTER = {1: scat_layer, 2: scat_pair}  # by the number of layers


class ScatFunction(torch.autograd.Function):
    """One ScatLayer or the pair (``layers``): forward without autograd; backward from the saved input only
    (backward.py): no activation is held between forward and backward. The filters are constant buffers,
    kept on ctx."""

    @staticmethod
    def forward(ctx, x, layers: int, mode: str, b: float, weights: tuple, recompute: tuple, adjoint: tuple):
        ctx.save_for_backward(x)
        ctx.layers, ctx.mode, ctx.b, ctx.recompute, ctx.adjoint = layers, mode, b, recompute, adjoint
        return SCATTER[layers](x, weights, mode, b)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        from scatnet.frontends.fast_dtcwt.backward import SCATTER_BACKWARD

        (x,) = ctx.saved_tensors
        grad = grad.contiguous()
        step = max(1, CPU_BACKWARD_CHUNK // max(1, x[0].numel())) if x.device.type == "cpu" else len(x)
        with frontend_fp32():  # autograd runs this outside the forward's precision block
            parts = [
                SCATTER_BACKWARD[ctx.layers](xc, gc, ctx.recompute, ctx.adjoint, ctx.mode, ctx.b)
                for xc, gc in zip(x.split(step), grad.split(step))
            ]
        return (parts[0] if len(parts) == 1 else torch.cat(parts)), None, None, None, None, None, None
