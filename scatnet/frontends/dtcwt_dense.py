"""The fast ScatLayer pair for small images as four large GEMMs (strategy ``dense``; ``auto`` on CPU).

Why: on CPU the conv-based pair is memory-bound at CIFAR sizes. Its backward makes ~8 full-size passes per
layer (combine^T, 2x2 interleave, depthwise column conv, subband sums, row GEMM, unpadding), and the
separable recompute's stride-2 conv with 2 input channels runs far below GEMM speed. A layer is linear up to
the magnitude and separable, so it is exactly two matrix products:

    stage A  Y = X A^T    along the image's contiguous axis: every branch's filter, both output phases,
                          the padding and the odd-size extension folded into A (2 nR ceil(n/2) x n);
    stage B  z = M Y'     along the other axis: column taps, stride 2 and the 2x2 combination folded
                          into M (13 ceil(n/2) x 2 nR n), Y' being Y with that axis brought next to the branch.

Both are one GEMM over the whole batch; in between is one transposing copy. The matrices are mostly zeros
(a row of M touches ~K + 1 of n inputs), so this does 2-8x the multiply-adds of the banded path: it wins at
small sizes only (threshold measured: ``DENSE_MAX_SIDE``). The backward is the same four products
transposed, in reverse, with no padding, interleaving or summing step at all.

The second layer reads the first layer's output in the layout stage B leaves it in: each image transposed
(x outer, y inner). Rather than transposing back, it runs the transposed plan of the same layer
(dtcwt_filters._plan(transposed=True)) on it, and its output comes out in normal orientation.

The matrices are built once per (wavelet, padding, size) by applying the conv-based operators to an identity
basis in float64, so they are the same mathematics by construction (tested against pytorch_wavelets).
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from scatnet.frontends.dtcwt_fast_ops import magnitude, symmetric_pad
from scatnet.frontends.dtcwt_filters import N_OUT, build_filters
from scatnet.frontends.dtcwt_rows import row_pass

DENSE_MAX_SIDE = 64  # `auto` on CPU takes the dense path up to this side (notes/PERFORMANCE.md)


def _halve(n: int) -> int:
    return -(-n // 2)


def _extend_and_pad(x: torch.Tensor, m: int, mode: str, dim: int) -> torch.Tensor:
    """Along one axis: pad_to_even's repeated last sample (odd sizes), then the layer's padding by m."""
    n = x.shape[dim]
    if n % 2:
        x = torch.cat((x, x.narrow(dim, n - 1, 1)), dim=dim)
    if mode == "symmetric":
        return symmetric_pad(x, m, dim)
    pad = [0, 0] * (x.ndim - dim % x.ndim - 1) + [m, m]
    return F.pad(x, pad)


def stage_a_matrix(row_w: torch.Tensor, mode: str, n: int) -> torch.Tensor:
    """(nR * 2 * ceil(n/2), n): row (branch, output phase, output index) of every branch's row filter."""
    n_r, k = row_w.shape[0], row_w.shape[-1]
    basis = torch.eye(n, dtype=row_w.dtype).view(n, 1, 1, n)
    rows = row_pass(_extend_and_pad(basis, k // 2, mode, -1), row_w)           # (n, nR, 1, n_even)
    n_even = rows.shape[-1]
    return rows.view(n, n_r, n_even // 2, 2).permute(1, 3, 2, 0).reshape(n_r * n_even, n)


def stage_b_matrix(fused_w: torch.Tensor, mode: str, n: int) -> torch.Tensor:
    """(13 * ceil(n/2), n * nR * 2): output (subband j, index) from inputs (index, branch, phase)."""
    n_r, k1 = fused_w.shape[1], fused_w.shape[2]
    size = n * n_r * 2
    basis = torch.eye(size, dtype=fused_w.dtype).view(size, n, n_r, 2).permute(0, 2, 1, 3)  # (., nR, n, 2)
    out = F.conv2d(_extend_and_pad(basis, (k1 - 1) // 2, mode, -2), fused_w, stride=2)  # (., 13, h, 1)
    return out.reshape(size, -1).t().contiguous()


@functools.lru_cache(maxsize=32)
def dense_matrices(wavelet: str, mode: str, h: int, w: int) -> tuple[torch.Tensor, ...]:
    """(A1, M1, A2, M2) in float64 on the CPU for an (h, w) input: layer 1 in normal orientation, layer 2 on
    its transposed input (the transposed plan)."""
    row, fused = build_filters(wavelet)
    _, fused_t = build_filters(wavelet, transposed=True)
    h1, w1 = _halve(h), _halve(w)
    return (stage_a_matrix(row, mode, w), stage_b_matrix(fused, mode, h),
            stage_a_matrix(row, mode, h1), stage_b_matrix(fused_t, mode, w1))


def device_matrices(mats: tuple[torch.Tensor, ...], device, dtype) -> tuple[tuple, tuple]:
    """(forward, adjoint) sets: the forward multiplies by each matrix transposed, the adjoint by it as is;
    both are kept contiguous (oneDNN ran the layer-2 product 1.8x slower on a transposed view)."""
    adj = tuple(m.to(device, dtype).contiguous() for m in mats)
    return tuple(m.t().contiguous() for m in adj), adj


def dense_forward(x: torch.Tensor, mats: tuple, bias: float, keep: bool = False):
    """scat_pair as four GEMMs: (B, C, H, W) -> (B, 49 C, H/4, W/4) in pytorch_wavelets' channel order.
    ``mats``: device_matrices(...)[0], the transposed matrices. ``keep``: also return z1 and z2 (in their
    internal layouts) for the backward."""
    a1, m1, a2, m2 = mats
    bsz, c, h, w = x.shape
    n1, h1, w1 = bsz * c, _halve(h), _halve(w)
    h2, w2 = _halve(h1), _halve(w1)
    # layer 1: stage A along x, stage B along y; z1 comes out as (n1, x, j, y)
    y = (x.reshape(n1 * h, w) @ a1).view(n1, -1, w1)                   # (n1, [y, branch, phase], x)
    z1 = y.transpose(1, 2).reshape(n1 * w1, -1) @ m1                   # (n1 x, [j, y])
    y1 = magnitude(z1.view(n1, w1, N_OUT, h1, 1), bias)                    # (n1, x, k1, y, 1): transposed
    # layer 2 on the transposed images (transposed plan): stage A along y, stage B along x
    y = (y1.view(n1 * w1 * 7, h1) @ a2).view(n1, w1, 7, -1, h2)       # (n1, x, k1, [branch, phase], y)
    z2 = y.permute(0, 2, 4, 1, 3).reshape(n1 * 7 * h2, -1) @ m2       # (n1 k1 y, [j, x])
    y2 = magnitude(z2.view(n1 * 7, h2, N_OUT, w2, 1), bias)                # (n1 k1, y, k2, x, 1)
    out = y2.view(bsz, c, 7, h2, 7, w2).permute(0, 4, 2, 1, 3, 5).reshape(bsz, 49 * c, h2, w2)
    return (out, z1, z2) if keep else out


def dense_backward(x: torch.Tensor, grad: torch.Tensor, mats: tuple[tuple, tuple], bias: float) -> torch.Tensor:
    """Input gradient of dense_forward from x alone: recompute, then the four GEMMs transposed in reverse."""
    from scatnet.frontends.dtcwt_fast_backward import magnitude_adjoint

    a1, m1, a2, m2 = mats[1]
    bsz, c, h, w = x.shape
    n1, h1, w1 = bsz * c, _halve(h), _halve(w)
    h2, w2 = _halve(h1), _halve(w1)
    _, z1, z2 = dense_forward(x, mats[0], bias, keep=True)
    g2 = grad.view(bsz, 7, 7, c, h2, w2).permute(0, 3, 2, 4, 1, 5).reshape(n1 * 7, h2, 7, w2, 1)
    dz2 = magnitude_adjoint(z2.view(n1 * 7, h2, N_OUT, w2, 1), g2, bias)
    dy = (dz2.view(n1 * 7 * h2, -1) @ m2).view(n1, 7, h2, w1, -1)        # (n1, k1, y, x, [branch, phase])
    dy1 = dy.permute(0, 3, 1, 4, 2).reshape(n1 * w1 * 7, -1) @ a2          # (n1 x k1, y)
    dz1 = magnitude_adjoint(z1.view(n1, w1, N_OUT, h1, 1), dy1.view(n1, w1, 7, h1, 1), bias)
    dy = (dz1.view(n1 * w1, -1) @ m1).view(n1, w1, -1)                     # (n1, x, [y, branch, phase])
    return (dy.transpose(1, 2).reshape(n1 * h, -1) @ a1).view(bsz, c, h, w)


class DensePairFunction(torch.autograd.Function):
    """dense_forward with a backward from the saved input only (the matrices are constants, on ctx)."""

    @staticmethod
    def forward(ctx, x, mats: tuple[tuple, tuple], bias: float):
        ctx.save_for_backward(x)
        ctx.mats, ctx.bias = mats, bias
        return dense_forward(x, mats[0], bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return dense_backward(x, grad.contiguous(), ctx.mats, ctx.bias), None, None
