"""The row pass of the fast ScatLayer (1 x K filters of every branch along the rows) and its adjoint, as
GEMMs against a small banded matrix instead of 1 x K convolutions.

Why: oneDNN's 1 x K convolutions with one input channel run at 1-3 GFLOP/s on every layer shape we have
(near_sym_b's 19 taps: 32 ms for 2688 x 34 x 34; near_sym_a's 7 taps on 12 x 262 x 262: 11 ms), against a
few ms as a GEMM (notes/PERFORMANCE.md). A dense W x W band would waste 2W / 2K multiply-adds per pixel on
wide rows, so rows are cut into tiles of ROW_TILE outputs (each reads ROW_TILE + K - 1 inputs, the
overlapping windows one strided view) and the band is ROW_TILE wide whatever the image size. The band is
built on the device from the taps buffer (one strided copy: no host data, capturable in a CUDA graph).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

ROW_TILE = 32  # outputs per GEMM row: band (nR * 32) x (32 + K - 1); 16 and 64 measured slower on CPU


def band_matrix(taps: torch.Tensor, n_out: int) -> torch.Tensor:
    """(nR, K) taps -> (nR, n_out, n_out + K - 1) with M[r, j, j + k] = taps[r, k]: the valid correlation of a
    row of length n_out + K - 1 as a matrix."""
    n_r, k = taps.shape
    n_in = n_out + k - 1
    m = taps.new_zeros(n_r, n_out, n_in)
    m.as_strided((n_r, n_out, k), (n_out * n_in, n_in + 1, 1)).copy_(taps[:, None, :].expand(n_r, n_out, k))
    return m


def _tiling(w: int, k: int) -> tuple[int, int]:
    """(tile width, number of tiles) for w outputs of a K-tap filter; the last tile is zero-padded when w is
    not a multiple. Tiles are at least K - 1 wide, so a tile's overlap reaches its next neighbour only."""
    t = min(w, max(ROW_TILE, k - 1))
    return t, -(-w // t)


def row_pass(xp: torch.Tensor, row_w: torch.Tensor) -> torch.Tensor:
    """(N, 1, Hp, Wp) -> (N, nR, Hp, W), W = Wp - K + 1: every branch's row filter, valid (xp is padded)."""
    n, _, hp, wp = xp.shape
    n_r, k = row_w.shape[0], row_w.shape[-1]
    w = wp - k + 1
    t, n_t = _tiling(w, k)
    if n_t * t > w:
        xp = F.pad(xp, (0, n_t * t - w))
    # the overlapping windows: a strided view, copied once into GEMM rows (N Hp tiles, t + K - 1)
    windows = xp.reshape(n * hp, -1).unfold(1, t + k - 1, t).reshape(n * hp * n_t, t + k - 1)
    band = band_matrix(row_w.view(n_r, k), t).view(n_r * t, t + k - 1)
    out = (windows @ band.t()).view(n, hp, n_t, n_r, t).permute(0, 3, 1, 2, 4).reshape(n, n_r, hp, n_t * t)
    # contiguous: the fused conv that follows is up to 3x slower on a strided view (oneDNN reorders it)
    return out[..., :w].contiguous() if n_t * t > w else out


def row_pass_adjoint(g: torch.Tensor, row_w: torch.Tensor) -> torch.Tensor:
    """Adjoint of row_pass: (N, nR, Hp, W) -> (N, 1, Hp, W + K - 1), summed over the branches: each tile's
    transposed band, then the tiles' overlapping K - 1 edge columns added back together."""
    n, n_r, hp, w = g.shape
    k = row_w.shape[-1]
    t, n_t = _tiling(w, k)
    if n_t * t > w:
        g = F.pad(g, (0, n_t * t - w))
    band = band_matrix(row_w.view(n_r, k), t).view(n_r * t, t + k - 1)
    tiles = g.reshape(n, n_r, hp, n_t, t).permute(0, 2, 3, 1, 4).reshape(n * hp * n_t, n_r * t)
    c = (tiles @ band).view(n * hp, n_t, t + k - 1)
    if n_t == 1:
        return c.view(n, 1, hp, t + k - 1)
    # overlap-add: tile i covers inputs [i t, i t + t + K - 1), K - 1 <= t
    out = c.new_empty(n * hp, n_t + 1, t)
    out[:, :n_t] = c[:, :, :t]
    out[:, n_t].zero_()
    out[:, 1:, :k - 1] += c[:, :, t:]
    return out.view(n * hp, (n_t + 1) * t)[:, :w + k - 1].reshape(n, 1, hp, w + k - 1)
