"""The fast ScatLayer pair for small images as four large GEMMs (strategy ``dense``; ``auto`` on CPU).

Why: on CPU the conv-based pair is memory-bound at CIFAR sizes. Its backward makes ~8 full-size passes per
layer (combine^T, 2x2 interleave, depthwise column conv, subband sums, row GEMM, unpadding), and the
separable recompute's stride-2 conv with 2 input channels runs far below GEMM speed. A layer is linear up to
the magnitude and separable, so it is exactly two matrix products:

    stage A  Y = X A^T    along the image's contiguous axis: every branch's filter, both output phases,
                          the padding and the odd-size extension folded into A (2 nR ceil(n/2) x n);
    stage B  z = M Y'     along the other axis: column taps, stride 2 and the 2x2 combination folded
                          into M (13 ceil(n/2) x nR 2 n), Y' being Y with that axis brought next to the
                          branch ((branch, index, phase) per row, one transposing copy).

Each stage multiplies the whole batch at once: stage A as one GEMM, stage B as one GEMM per run of outputs
that read the same branch (branch_runs: the other branches' columns are zeros). The matrices are still
banded (a row of M touches ~K + 1 of n inputs), so this does several times the multiply-adds of the conv
path: it wins at small sizes only (thresholds measured: ``DENSE_MAX_SIDE``). The backward is the same
products transposed, in reverse, with no padding, interleaving or summing step at all.

The second layer reads the first layer's output in the layout stage B leaves it in: each image transposed
(x outer, y inner). Rather than transposing back, it runs the transposed plan of the same layer
(filters._plan(transposed=True)) on it, and its output comes out in normal orientation.

The matrices are built once per (wavelet, padding, size) by applying the conv-based operators to an identity
basis in float64, so they are the same mathematics by construction (tested against pytorch_wavelets).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from scatnet.frontends.fast_dtcwt.backward import magnitude_adjoint
from scatnet.frontends.fast_dtcwt.filters import N_OUT, build_filters
from scatnet.frontends.fast_dtcwt.ops import extend_to_even, magnitude, scat_pair, symmetric_pad
from scatnet.frontends.fast_dtcwt.rows import row_pass
from scatnet.precision import frontend_fp32

# `auto` on CPU takes the dense backward up to this side: 32 for near_sym_a (at 48-64 its banded forward is
# faster), 64 for the 13/19-tap near_sym_b filters (docs/PERFORMANCE.md, measured side by side)
DENSE_MAX_SIDE = {"short": 32, "long": 64}
# ... and the dense forward up to this side: near_sym_a's direct conv forward (16 ops) is faster than dense
# at 20-32, dense faster at 16 (paired runs, docs/PERFORMANCE.md)
DENSE_FORWARD_MAX_SIDE = {"short": 16, "long": 64}


def _halve(n: int) -> int:
    return -(-n // 2)


def _sizes(x: torch.Tensor) -> tuple[int, ...]:
    """(B, C, H, W, B C, h1, w1, h2, w2): the input's and both layers' output sizes (odd sides extended)."""
    bsz, c, h, w = x.shape
    h1, w1 = _halve(h), _halve(w)
    return bsz, c, h, w, bsz * c, h1, w1, _halve(h1), _halve(w1)


def _extend_and_pad(x: torch.Tensor, m: int, mode: str, dim: int) -> torch.Tensor:
    """Along one axis: pad_to_even's repeated last sample (odd sizes), then the layer's padding by m."""
    x = extend_to_even(x, dim)
    if mode == "symmetric":
        return symmetric_pad(x, m, dim)
    pad = [0, 0] * (x.ndim - dim % x.ndim - 1) + [m, m]
    return F.pad(x, pad)


def stage_a_matrix(row_w: torch.Tensor, mode: str, n: int) -> torch.Tensor:
    """(nR * 2 * ceil(n/2), n): row (branch, output phase, output index) of every branch's row filter."""
    n_r, k = row_w.shape[0], row_w.shape[-1]
    basis = torch.eye(n, dtype=row_w.dtype).view(n, 1, 1, n)
    rows = row_pass(_extend_and_pad(basis, k // 2, mode, -1), row_w)  # (n, nR, 1, n_even)
    n_even = rows.shape[-1]
    return rows.view(n, n_r, n_even // 2, 2).permute(1, 3, 2, 0).reshape(n_r * n_even, n)


def stage_b_matrix(fused_w: torch.Tensor, mode: str, n: int) -> torch.Tensor:
    """(13 * ceil(n/2), nR * n * 2): output (subband j, index) from inputs (branch, index, phase)."""
    n_r, k1 = fused_w.shape[1], fused_w.shape[2]
    size = n_r * n * 2
    basis = torch.eye(size, dtype=fused_w.dtype).view(size, n_r, n, 2)
    out = F.conv2d(_extend_and_pad(basis, (k1 - 1) // 2, mode, -2), fused_w, stride=2)  # (., 13, h, 1)
    return out.reshape(size, -1).t().contiguous()


def branch_runs(m: torch.Tensor, n_r: int) -> list[tuple[int, int, int, int, torch.Tensor]]:
    """Split a stage-B matrix into (j0, j1, b0, b1, block): outputs j0..j1-1 read branches b0..b1-1 only.
    Each output reads one branch, so M is at least (nR - 1) / nR zeros; a GEMM per run of consecutive
    outputs sharing a branch, over that branch's columns, halves the multiply-adds. A run of a single output
    joins the next (a GEMM 8 columns wide ran several times slower per column on CPU)."""
    n_b = m.shape[1] // n_r
    used = m.view(N_OUT, -1, n_r, n_b).abs().sum((1, 3)) > 0  # (13, nR)
    assert bool((used.sum(1) == 1).all()), "every output reads exactly one branch"
    branch = used.int().argmax(1).tolist()
    spans, j0 = [], 0
    for j in range(1, N_OUT + 1):
        if j == N_OUT or branch[j] != branch[j0]:
            spans.append([j0, j, branch[j0], branch[j0] + 1])
            j0 = j
    for i in range(len(spans) - 2, -1, -1):  # merge single outputs forwards
        if spans[i][1] - spans[i][0] == 1:
            nxt = spans.pop(i + 1)
            spans[i] = [spans[i][0], nxt[1], min(spans[i][2], nxt[2]), max(spans[i][3], nxt[3])]
    rows = m.shape[0] // N_OUT
    return [(j0, j1, b0, b1, m[j0 * rows : j1 * rows, b0 * n_b : b1 * n_b]) for j0, j1, b0, b1 in spans]


def stage_b(t: torch.Tensor, runs: tuple, rows: int, n_b: int) -> torch.Tensor:
    """(R, nR * n_b) inputs -> (R, 13 * rows) outputs, one GEMM per run written straight into its columns
    (under torch.compile, which cannot trace a strided ``out=``, the runs are concatenated instead)."""
    if torch.compiler.is_compiling():
        return torch.cat([t[:, b0 * n_b : b1 * n_b] @ block_t for _, _, b0, b1, block_t in runs], dim=1)
    out = t.new_empty(t.shape[0], N_OUT * rows)
    for j0, j1, b0, b1, block_t in runs:
        torch.mm(t[:, b0 * n_b : b1 * n_b], block_t, out=out[:, j0 * rows : j1 * rows])
    return out


def stage_b_adjoint(dz: torch.Tensor, runs: tuple, n_r: int, n_b: int) -> torch.Tensor:
    """Adjoint of stage_b: (R, 13 * rows) -> (R, nR * n_b); runs reading a branch already written add to it."""
    rows = dz.shape[1] // N_OUT
    out = dz.new_empty(dz.shape[0], n_r * n_b)
    written: set[int] = set()
    for j0, j1, b0, b1, block in runs:
        dst, src = out[:, b0 * n_b : b1 * n_b], dz[:, j0 * rows : j1 * rows]
        fresh = [b for b in range(b0, b1) if b not in written]
        if len(fresh) == b1 - b0:
            if torch.compiler.is_compiling():
                dst.copy_(src @ block)  # no strided out= under torch.compile
            else:
                torch.mm(src, block, out=dst)
        else:
            for b in fresh:
                out[:, b * n_b : (b + 1) * n_b].zero_()
            dst.addmm_(src, block)
        written.update(range(b0, b1))
    return out


@functools.lru_cache(maxsize=32)
def dense_matrices(wavelet: str, mode: str, h: int, w: int) -> tuple[torch.Tensor, ...]:
    """(A1, M1, A2, M2) in float64 on the CPU for an (h, w) input: layer 1 in normal orientation, layer 2 on
    its transposed input (the transposed plan)."""
    row, fused = build_filters(wavelet)
    _, fused_t = build_filters(wavelet, transposed=True)
    h1, w1 = _halve(h), _halve(w)
    return (
        stage_a_matrix(row, mode, w),
        stage_b_matrix(fused, mode, h),
        stage_a_matrix(row, mode, h1),
        stage_b_matrix(fused_t, mode, w1),
    )


def device_matrices(mats: tuple[torch.Tensor, ...], device, dtype) -> tuple[tuple, tuple]:
    """(forward, adjoint) sets: stage A matrices and stage B runs (branch_runs). The forward multiplies by
    each block transposed, the adjoint by it as is; both are kept contiguous (oneDNN runs a product on a
    transposed view markedly slower: docs/PERFORMANCE.md)."""

    def put(m):
        return m.to(device, dtype).contiguous()

    a1, m1, a2, m2 = mats
    n_r = a1.shape[0] // (2 * _halve(a1.shape[1]))
    runs = [branch_runs(m, n_r) for m in (m1, m2)]
    adj = (put(a1), tuple((*r[:4], put(r[4])) for r in runs[0]), put(a2), tuple((*r[:4], put(r[4])) for r in runs[1]))
    fwd = (
        put(a1.t()),
        tuple((*r[:4], put(r[4].t())) for r in runs[0]),
        put(a2.t()),
        tuple((*r[:4], put(r[4].t())) for r in runs[1]),
    )
    return fwd, adj


def dense_forward(x: torch.Tensor, mats: tuple, bias: float, keep: bool = False):
    """scat_pair as four GEMMs: (B, C, H, W) -> (B, 49 C, H/4, W/4) in pytorch_wavelets' channel order.
    ``mats``: device_matrices(...)[0], the transposed matrices. ``keep``: return the linear outputs z1 and z2
    instead (in their internal layouts), for the backward."""
    a1, m1, a2, m2 = mats
    bsz, c, h, w, n1, h1, w1, h2, w2 = _sizes(x)
    n_r = a1.shape[1] // (2 * w1)
    # layer 1: stage A along x, stage B along y; z1 comes out as (n1, x, j, y)
    y = (x.reshape(n1 * h, w) @ a1).view(n1, h, n_r, 2, w1)  # (n1, y, branch, phase, x)
    z1 = stage_b(y.permute(0, 4, 2, 1, 3).reshape(n1 * w1, -1), m1, h1, 2 * h)  # (n1 x, [j, y])
    y1 = magnitude(z1.view(n1, w1, N_OUT, h1, 1), bias)  # (n1, x, k1, y, 1): transposed
    # layer 2 on the transposed images (transposed plan): stage A along y, stage B along x
    y = (y1.view(n1 * w1 * 7, h1) @ a2).view(n1, w1, 7, n_r, 2, h2)  # (n1, x, k1, branch, phase, y)
    z2 = stage_b(y.permute(0, 2, 5, 3, 1, 4).reshape(n1 * 7 * h2, -1), m2, w2, 2 * w1)  # (n1 k1 y, [j, x])
    if keep:  # the backward needs the linear outputs only
        return z1, z2
    out = z2.new_empty(bsz, 49 * c, h2, w2)  # channel k2 * 7C + k1 * C + c
    dst = out.view(bsz, 7, 7, c, h2, w2).permute(0, 3, 2, 4, 1, 5).unsqueeze(-1)  # (b, c, k1, y, k2, x, 1)
    magnitude(z2.view(bsz, c, 7, h2, N_OUT, w2, 1), bias, out=dst)  # straight into the final order
    return out


def dense_backward(x: torch.Tensor, grad: torch.Tensor, mats: tuple[tuple, tuple], bias: float) -> torch.Tensor:
    """Input gradient of dense_forward from x alone: recompute, then the four GEMMs transposed in reverse."""
    a1, m1, a2, m2 = mats[1]
    bsz, c, h, w, n1, h1, w1, h2, w2 = _sizes(x)
    n_r = a1.shape[0] // (2 * w1)
    z1, z2 = dense_forward(x, mats[0], bias, keep=True)
    g2 = grad.view(bsz, 7, 7, c, h2, w2).permute(0, 3, 2, 4, 1, 5).reshape(n1 * 7, h2, 7, w2, 1)
    dz2 = magnitude_adjoint(z2.view(n1 * 7, h2, N_OUT, w2, 1), g2, bias)
    dy = stage_b_adjoint(dz2.view(n1 * 7 * h2, -1), m2, n_r, 2 * w1).view(n1, 7, h2, n_r, w1, 2)  # (., b, x, p)
    dy1 = dy.permute(0, 4, 1, 3, 5, 2).reshape(n1 * w1 * 7, -1) @ a2  # (n1 x k1, y)
    dz1 = magnitude_adjoint(z1.view(n1, w1, N_OUT, h1, 1), dy1.view(n1, w1, 7, h1, 1), bias)
    dy = stage_b_adjoint(dz1.view(n1 * w1, -1), m1, n_r, 2 * h).view(n1, w1, n_r, h, 2)  # (n1, x, b, y, q)
    return (dy.permute(0, 3, 2, 4, 1).reshape(n1 * h, -1) @ a1).view(bsz, c, h, w)


class DensePairFunction(torch.autograd.Function):
    """dense_forward with a backward from the saved input only (the matrices are constants, on ctx).
    ``conv`` = (weights, padding): compute the forward with the conv-based scat_pair instead (faster for
    some sizes); the backward recomputes from x on the dense path either way."""

    @staticmethod
    def forward(ctx, x, mats: tuple[tuple, tuple], bias: float, conv: tuple | None = None):
        ctx.save_for_backward(x)
        ctx.mats, ctx.bias = mats, bias
        if conv is not None:
            return scat_pair(x, conv[0], conv[1], bias)
        return dense_forward(x, mats[0], bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        with frontend_fp32():  # autograd runs this outside the forward's precision block
            return dense_backward(x, grad.contiguous(), ctx.mats, ctx.bias), None, None, None
