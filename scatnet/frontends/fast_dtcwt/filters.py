"""Filter taps for the fast DTCWT ScatLayer, built once from pytorch_wavelets' coefficient tables.

One ScatLayer (thesis Algorithm B.2) is linear up to the magnitude: rows filtered by h0/h1 (and h2 for the
rotationally symmetric near_sym_b_bp), columns by h0/h1(/h2), then each 2x2 block is combined: averaged for
the lowpass, and turned into complex numbers by q2c ((a-d, b+c)/sqrt2 and (a+d, b-c)/sqrt2, with a b / c d the
block's corners). We fold the column filter and the 2x2 combination into one stride-2 kernel, so a layer is
two convolutions: a row pass (1 x K) and a fused column + combine pass ((K+1) x 2, stride 2), giving 13
linear outputs per input channel:

    [ll, re15, im15, re45, im45, re75, im75, re105, im105, re135, im135, re165, im165]

Shorter filters are zero-padded to the common odd length K (centred), which with padding of K//2 is exactly
the per-filter padding pytorch_wavelets applies.
"""

from __future__ import annotations

import math

import numpy as np
import torch

N_OUT = 13
S = 1.0 / math.sqrt(2.0)
# q2c corner weights c[u, v] (u: row parity, v: column parity) for the two complex outputs of a subband
Q2C = {
    "re1": np.array([[S, 0.0], [0.0, -S]]),
    "im1": np.array([[0.0, S], [S, 0.0]]),  # (a - d, b + c)
    "re2": np.array([[S, 0.0], [0.0, S]]),
    "im2": np.array([[0.0, S], [-S, 0.0]]),  # (a + d, b - c)
}
POOL = np.full((2, 2), 0.25)


def _taps(h: np.ndarray, K: int) -> np.ndarray:
    """Reversed (convolution, as pytorch_wavelets' prep_filt) and zero-padded to K, centred."""
    h = np.asarray(h, dtype=np.float64).ravel()[::-1]
    pad = (K - len(h)) // 2
    return np.pad(h, (pad, pad))


def _fuse(col: np.ndarray, combine: np.ndarray) -> np.ndarray:
    """(K+1) x 2 kernel equal to a K-tap column filter followed by a 2x2 stride-2 combination."""
    K = len(col)
    out = np.zeros((K + 1, 2))
    for u in range(2):
        for v in range(2):
            out[u : u + K, v] += combine[u, v] * col
    return out


def _plan(wavelet: str, transposed: bool = False):
    """Row taps per branch, and per output: (subband, row branch, column taps, 2x2 combination).
    ``transposed``: the plan of the same layer applied to the transposed image (row and column filters swap,
    and so do the corners b and c of each 2x2 block), which the dense path's second layer uses.
    Subbands and branches as in pytorch_wavelets' fwd_j1 / fwd_j1_rot: ll = (h0, h0), lh = (h0 rows, h1
    columns), hl = (h1, h0), hh = (h1, h1), or (h2, h2) for near_sym_b_bp."""
    from pytorch_wavelets.dtcwt.coeffs import biort

    taps = biort(wavelet)
    rot = wavelet == "near_sym_b_bp"
    filters = [taps[0], taps[2]] + ([taps[4]] if rot else [])
    K = max(len(np.ravel(f)) for f in filters)
    f = [_taps(h, K) for h in filters]
    # (subband, row branch, column branch)
    ll, lh, hl, hh = (0, 0, 0), (1, 0, 1), (2, 1, 0), ((3, 2, 2) if rot else (3, 1, 1))
    bands = [(ll, POOL)]
    # orientation order 15, 45, 75, 105, 135, 165 (pytorch_wavelets' highs_to_orientations)
    for band, which in [(lh, "1"), (hh, "1"), (hl, "1"), (hl, "2"), (hh, "2"), (lh, "2")]:
        bands += [(band, Q2C["re" + which]), (band, Q2C["im" + which])]
    if transposed:
        return f, [(s, c, f[r], comb.T) for (s, r, c), comb in bands]
    return f, [(s, r, f[c], comb) for (s, r, c), comb in bands]


def build_filters(wavelet: str, transposed: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(row weight (nR, 1, 1, K), fused weight (13, nR, K+1, 2)) for conv2d, in float64 (cast by the caller)."""
    f, outputs = _plan(wavelet, transposed)
    K = len(f[0])
    row = np.stack(f)[:, None, None, :]
    fused = np.zeros((N_OUT, len(f), K + 1, 2))
    for o, (_, branch, col, combine) in enumerate(outputs):
        fused[o, branch] = _fuse(col, combine)
    return torch.from_numpy(row), torch.from_numpy(fused)


def adjoint_filters(wavelet: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights of the hand-written backward: combine^T as a (16 x 13) matrix (13 outputs -> 4 subbands x
    4 phases of the 2x2 block), and the flipped column taps of each subband (4, 1, K, 1) for a depthwise full
    correlation (the row pass's adjoint uses the row taps themselves: rows.row_pass_adjoint)."""
    f, outputs = _plan(wavelet)
    K = len(f[0])
    comb = np.zeros((16, N_OUT))
    col = np.zeros((4, 1, K, 1))
    for o, (band, _, taps, combine) in enumerate(outputs):
        for u in range(2):
            for v in range(2):
                comb[band * 4 + u * 2 + v, o] = combine[u, v]
        col[band, 0, :, 0] = taps[::-1]
    return torch.from_numpy(comb), torch.from_numpy(col)


def direct_filters(row: torch.Tensor, fused: torch.Tensor) -> torch.Tensor:
    """The row pass folded into the fused kernel: one (13, 1, K+1, K+1) stride-2 kernel per layer.
    More multiply-adds than the separable pair, but a single convolution with one input channel, which is
    what CPU (oneDNN) and small-image GPU runs are fastest at (docs/PERFORMANCE.md)."""
    # fused[o, r, s, v] acts on rows[r][y, x] = sum_k row[r, k] * xp[y, x + k]; stride 2 in both dims
    K = row.shape[-1]
    out = torch.zeros(fused.shape[0], 1, K + 1, K + 1, dtype=fused.dtype)
    for r in range(row.shape[0]):
        for v in range(2):
            out[:, 0, :, v : v + K] += fused[:, r, :, v, None] * row[r, 0, 0][None, None, :]
    return out
