"""Hand-written backward of the fast ScatLayer pair, from the saved input only.

It recomputes the two layers' linear outputs (needed for the magnitude derivative dr/dz = z / |z|), then
applies the exact adjoint of each linear map with plain forward ops — a (16 x 13) matmul for the 2x2
stride-2 combination, a depthwise full correlation with the flipped column taps, the row pass's banded GEMM
transposed (fast_dtcwt/rows.py) — and folds the padding back. No transposed convolutions: oneDNN's (CPU) ones
with one output channel are several times slower. On CPU this path is memory-bound, so it is written to
make few full-size passes (docs/PERFORMANCE.md, "The DTCWT backward").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from scatnet.frontends.fast_dtcwt.ops import magnitude, scat_linear, symmetric_index, write
from scatnet.frontends.fast_dtcwt.rows import row_pass_adjoint


def _unpad_symmetric(g: torch.Tensor, n: int, m: int, dim: int) -> torch.Tensor:
    """Adjoint of half-sample symmetric padding by m along dim (the extension folded back onto the edges)."""
    if m == 0:
        return g
    if m <= n:
        core = g.narrow(dim, m, n).clone()
        core.narrow(dim, 0, m).add_(g.narrow(dim, 0, m).flip(dim))
        core.narrow(dim, n - m, m).add_(g.narrow(dim, n + m, m).flip(dim))
        return core
    shape = list(g.shape)
    shape[dim] = n
    return g.new_zeros(shape).index_add_(dim % g.ndim, symmetric_index(n, m, g.device), g)


def _unpad(g: torch.Tensor, h: int, w: int, m: int, mode: str) -> torch.Tensor:
    if mode == "symmetric":
        return _unpad_symmetric(_unpad_symmetric(g, h, m, -2), w, m, -1)
    return g[..., m : m + h, m : m + w]


def _unextend(g: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Adjoint of pad_to_even: the repeated last row/column sends its gradient back to the original."""
    if g.shape[-2] != h:
        g = torch.cat((g[..., : h - 1, :], g[..., h - 1 : h, :] + g[..., h:, :]), dim=-2)
    if g.shape[-1] != w:
        g = torch.cat((g[..., : w - 1], g[..., w - 1 : w] + g[..., w:]), dim=-1)
    return g


def linear_adjoint(dz: torch.Tensor, in_hw: tuple[int, int], adjoint: tuple, mode: str):
    """Adjoint of scat_linear: (B, C, 13, h, w) -> (B, C, H, W) for an input of spatial size in_hw.
    ``adjoint`` = (combine^T (16, 13), column taps per subband (4, 1, K, 1), row taps (nR, 1, 1, K), their
    packed_bands or None)."""
    comb, col, row_w, bands = (a if a is None else a.to(dz.dtype) for a in adjoint)
    b, c, n, h2, w2 = dz.shape
    k = col.shape[-2]
    m = k // 2
    # combine^T: a (16 x 13) matrix on every pixel (a batched matmul: oneDNN's 1x1 conv is much slower here)
    # computed pixel-major, (BC, h * w, [subband, u, v]): the copy below then reads runs of 4 (faster)
    phases = torch.matmul(dz.reshape(b * c, n, h2 * w2).transpose(1, 2), comb.t())
    # One copy interleaves the 4 phases of each subband into its 2x2 blocks and makes the result
    # channels-last: oneDNN's NHWC depthwise kernel runs on it with no reorder and pads by itself, while NCHW
    # input is reordered to a blocked layout and back (2 extra passes; with padding, several times slower).
    # On this memory-bound CPU path every fresh full-size tensor costs a pass: pixel_shuffle + pad +
    # to(channels_last) were three.
    sub = dz.new_empty(b, 2 * h2, 2 * w2, c * 4)
    sub.view(b, h2, 2, w2, 2, c, 4).copy_(phases.view(b, c, h2, w2, 4, 2, 2).permute(0, 2, 5, 3, 6, 1, 4))
    # column^T of each subband: a full correlation with its flipped taps, one depthwise conv for all
    cols = F.conv2d(sub.permute(0, 3, 1, 2), col.repeat(c, 1, 1, 1), padding=(k - 1, 0), groups=c * 4)
    hp, w = cols.shape[-2:]
    cols = cols.view(b, c, 4, hp, w)
    # subbands sharing a row branch are summed, straight into the (BC, Hp, nR, W) layout of the row pass's
    # adjoint: ll + lh -> h0 rows, hl + hh -> h1 rows (near_sym_b_bp: hl -> h1, hh -> h2)
    n_branch = row_w.shape[0]
    branches = cols.new_empty(b, c, hp, n_branch, w)
    write(branches[:, :, :, 0], torch.add, cols[:, :, 0], cols[:, :, 1])
    if n_branch == 3:
        branches[:, :, :, 1:] = cols[:, :, 2:].transpose(2, 3)
    else:
        write(branches[:, :, :, 1], torch.add, cols[:, :, 2], cols[:, :, 3])
    xp = row_pass_adjoint(branches.view(b * c, hp, n_branch, w).transpose(1, 2), row_w, bands)
    g = _unpad(xp, 2 * h2, 2 * w2, m, mode).view(b, c, 2 * h2, 2 * w2)
    return _unextend(g, *in_hw)


def magnitude_adjoint(z: torch.Tensor, g: torch.Tensor, bias: float) -> torch.Tensor:
    """(B, C, 13, h, w) linear outputs and (B, C, 7, h, w) output gradient -> gradient of z.
    dr/dre = re / sqrt(re^2 + im^2 + b^2) (0 where that is 0; pytorch_wavelets gives NaN there).
    Written into one preallocated tensor with in-place ops: fewer full-size passes on CPU."""
    re, im = z[:, :, 1::2], z[:, :, 2::2]
    f = re * re
    f.addcmul_(im, im).add_(bias**2).sqrt_()  # |z| smoothed, as in the forward
    if bias > 0:
        f = torch.div(g[:, :, 1:], f, out=f)
    else:
        f = torch.where(f > 0, g[:, :, 1:] / f, torch.zeros_like(f))
    dz = torch.empty_like(z)
    dz[:, :, 0] = g[:, :, 0]
    write(dz[:, :, 1::2], torch.mul, f, re)
    write(dz[:, :, 2::2], torch.mul, f, im)
    return dz


def scat_pair_backward(
    x: torch.Tensor, grad: torch.Tensor, weights: tuple, adjoint: tuple, mode: str, bias: float
) -> torch.Tensor:
    """Input gradient of scat_pair at x for output gradient grad (B, 49 C, h2, w2)."""
    bsz, c, h, w = x.shape
    z1 = scat_linear(x, weights, mode)  # (B, C, 13, h1, w1)
    y1 = magnitude(z1, bias).reshape(bsz, c * 7, *z1.shape[-2:])
    z2 = scat_linear(y1, weights, mode)  # (B, 7C, 13, h2, w2)
    h2, w2 = z2.shape[-2:]
    g2 = grad.view(bsz, 7, 7, c, h2, w2).permute(0, 3, 2, 1, 4, 5).reshape(bsz, 7 * c, 7, h2, w2)
    dy1 = linear_adjoint(magnitude_adjoint(z2, g2, bias), tuple(y1.shape[-2:]), adjoint, mode)
    dz1 = magnitude_adjoint(z1, dy1.view(bsz, c, 7, *dy1.shape[-2:]), bias)
    return linear_adjoint(dz1, (h, w), adjoint, mode)


def scat_layer_backward(
    x: torch.Tensor, grad: torch.Tensor, weights: tuple, adjoint: tuple, mode: str, bias: float
) -> torch.Tensor:
    """Input gradient of scat_layer at x for output gradient grad (B, 7 C, h1, w1)."""
    bsz, c, h, w = x.shape
    z = scat_linear(x, weights, mode)  # (B, C, 13, h1, w1)
    g = grad.view(bsz, 7, c, *grad.shape[-2:]).transpose(1, 2)  # (B, C, 7, h1, w1)
    return linear_adjoint(magnitude_adjoint(z, g, bias), (h, w), adjoint, mode)


SCATTER_BACKWARD = {1: scat_layer_backward, 2: scat_pair_backward}  # by the number of layers, as ops.SCATTER
