"""The row pass of the fast ScatLayer (1 x K filters of every branch along the rows) and its adjoint, as
GEMMs against a small banded matrix instead of 1 x K convolutions.

Why: oneDNN's 1 x K convolutions with one input channel run far below the CPU's GEMM speed on every layer
shape the ScatLayers have, and the same work as a GEMM is several times faster (docs/PERFORMANCE.md). A
dense W x W band would waste 2W / 2K multiply-adds per pixel on wide rows, so rows are cut into tiles of
ROW_TILE outputs (each reads ROW_TILE + K - 1 inputs, the overlapping windows one strided view) and the band
is ROW_TILE wide whatever the image size. The bands of every tile width are built once, with the filters, as
one constant buffer (packed_bands); a call takes a view (band_view): no kernel, nothing allocated inside a
CUDA graph. Without it (the dense path's one-off matrices) the band is built from the taps on the device.
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


def max_tile(k: int) -> int:
    return max(ROW_TILE, k - 1)


def _tiling(w: int, k: int) -> tuple[int, int]:
    """(tile width, number of tiles) for w outputs of a K-tap filter; the last tile is zero-padded when w is
    not a multiple. Tiles are at least K - 1 wide, so a tile's overlap reaches its next neighbour only."""
    t = min(w, max_tile(k))
    return t, -(-w // t)


def packed_bands(row_w: torch.Tensor) -> torch.Tensor:
    """(nR, 1, 1, K) taps -> the (nR * t, t + K - 1) bands of every tile width t = 1 .. max_tile(K), flattened
    and concatenated (band_view reads one back). 63k numbers for near_sym_b_bp's 3 x 19 taps."""
    n_r, k = row_w.shape[0], row_w.shape[-1]
    return torch.cat([band_matrix(row_w.view(n_r, k), t).flatten() for t in range(1, max_tile(k) + 1)])


def band_view(bands: torch.Tensor, n_r: int, k: int, t: int) -> torch.Tensor:
    """The (nR * t, t + K - 1) band of tile width t inside packed_bands' buffer: a view."""
    start = n_r * ((t - 1) * t * (2 * t - 1) // 6 + (k - 1) * (t - 1) * t // 2)  # sum of the narrower bands
    return bands[start : start + n_r * t * (t + k - 1)].view(n_r * t, t + k - 1)


def _band(row_w: torch.Tensor, t: int, bands: torch.Tensor | None) -> torch.Tensor:
    n_r, k = row_w.shape[0], row_w.shape[-1]
    if bands is not None:
        return band_view(bands, n_r, k, t)
    return band_matrix(row_w.view(n_r, k), t).view(n_r * t, t + k - 1)


def row_pass(xp: torch.Tensor, row_w: torch.Tensor, bands: torch.Tensor | None = None) -> torch.Tensor:
    """(N, 1, Hp, Wp) -> (N, nR, Hp, W), W = Wp - K + 1: every branch's row filter, valid (xp is padded).
    ``bands``: packed_bands(row_w), when the caller keeps it."""
    n, _, hp, wp = xp.shape
    n_r, k = row_w.shape[0], row_w.shape[-1]
    w = wp - k + 1
    t, n_t = _tiling(w, k)
    if n_t * t > w:
        xp = F.pad(xp, (0, n_t * t - w))
    # the overlapping windows: a strided view, copied once into GEMM rows (N Hp tiles, t + K - 1)
    windows = xp.reshape(n * hp, -1).unfold(1, t + k - 1, t).reshape(n * hp * n_t, t + k - 1)
    band = _band(row_w, t, bands)
    out = (windows @ band.t()).view(n, hp, n_t, n_r, t).permute(0, 3, 1, 2, 4).reshape(n, n_r, hp, n_t * t)
    # contiguous: the fused conv that follows is up to 3x slower on a strided view (oneDNN reorders it)
    return out[..., :w].contiguous() if n_t * t > w else out


def row_pass_adjoint(g: torch.Tensor, row_w: torch.Tensor, bands: torch.Tensor | None = None) -> torch.Tensor:
    """Adjoint of row_pass: (N, nR, Hp, W) -> (N, 1, Hp, W + K - 1), summed over the branches: each tile's
    transposed band, then the tiles' overlapping K - 1 edge columns added back together."""
    n, n_r, hp, w = g.shape
    k = row_w.shape[-1]
    t, n_t = _tiling(w, k)
    if n_t * t > w:
        g = F.pad(g, (0, n_t * t - w))
    band = _band(row_w, t, bands)
    tiles = g.reshape(n, n_r, hp, n_t, t).permute(0, 2, 3, 1, 4).reshape(n * hp * n_t, n_r * t)
    c = (tiles @ band).view(n * hp, n_t, t + k - 1)
    if n_t == 1:
        return c.view(n, 1, hp, t + k - 1)
    # overlap-add: tile i covers inputs [i t, i t + t + K - 1), K - 1 <= t
    out = c.new_empty(n * hp, n_t + 1, t)
    out[:, :n_t] = c[:, :, :t]
    out[:, n_t].zero_()
    out[:, 1:, : k - 1] += c[:, :, t:]
    return out.view(n * hp, (n_t + 1) * t)[:, : w + k - 1].reshape(n, 1, hp, w + k - 1)
