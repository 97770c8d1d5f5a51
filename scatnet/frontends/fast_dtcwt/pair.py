"""scatnet's two stacked DTCWT ScatLayers (the module the DTCWT front end runs with ``impl="fast"``)."""

from __future__ import annotations

import torch
import torch.nn as nn

from scatnet.errors import check_choice
from scatnet.frontends.fast_dtcwt.dense import (
    DENSE_FORWARD_MAX_SIDE,
    DENSE_MAX_SIDE,
    DensePairFunction,
    dense_forward,
    dense_matrices,
    device_matrices,
)
from scatnet.frontends.fast_dtcwt.filters import adjoint_filters, build_filters, direct_filters
from scatnet.frontends.fast_dtcwt.ops import SCATTER, ScatFunction
from scatnet.frontends.fast_dtcwt.rows import packed_bands
from scatnet.frontends.options import STRATEGIES, check_dtcwt_options


class FastScatLayerPair(nn.Module):
    """scatnet's own two stacked ScatLayers: the same mathematics as pytorch_wavelets (taps read from its
    tables), no host-device copies or syncs in forward, filters as buffers built once, a backward that saves
    only the input. Works on any size (odd sides are extended as ScatLayer does)."""

    layers = 2  # FastScatLayer (layer.py): 1

    def __init__(
        self, wavelet: str = "near_sym_a", padding: str = "symmetric", magbias: float = 1e-2, strategy: str = "auto"
    ):
        super().__init__()
        check_dtcwt_options(wavelet, padding, magbias)
        check_choice("strategy", strategy, STRATEGIES)
        row, fused = build_filters(wavelet)
        dtype = torch.get_default_dtype()  # as pytorch_wavelets' prep_filt
        self.register_buffer("row_w", row.to(dtype), persistent=False)
        self.register_buffer("fused_w", fused.to(dtype), persistent=False)
        self.register_buffer("direct_w", direct_filters(row, fused).to(dtype), persistent=False)
        self.register_buffer("row_bands", packed_bands(self.row_w), persistent=False)  # the row pass's GEMMs
        for name, w in zip(("adj_comb", "adj_col"), adjoint_filters(wavelet)):
            self.register_buffer(name, w.to(dtype), persistent=False)
        self.wavelet, self.padding, self.magbias, self.strategy = wavelet, padding, float(magbias), strategy
        self._dense = {}  # (h, w, device, dtype) -> the dense path's matrices (constants, not state)

    def weights(self) -> tuple[torch.Tensor, ...]:
        """The conv-based strategies (when the dense one is not taken). direct: one 2-D kernel, fastest for
        near_sym_a's 5/7 taps; separable: row pass + fused kernel, fewer multiply-adds for near_sym_b's 13/19
        taps (measured on CPU in docs/PERFORMANCE.md; the CUDA choice follows the same multiply-add count
        until measured)."""
        strategy = self.strategy
        if strategy == "auto":
            strategy = "separable" if self.row_w.shape[-1] > 7 else "direct"
        return (self.direct_w,) if strategy == "direct" else self.separable_weights()

    def separable_weights(self) -> tuple[torch.Tensor, ...]:
        return self.row_w, self.fused_w, self.row_bands

    def uses_dense(self, x: torch.Tensor) -> tuple[bool, bool]:
        """(forward, backward): whether each runs on the dense path (fast_dtcwt/dense.py: four GEMMs with
        size-specific matrices, fastest on CPU for small images). ``auto`` takes the dense backward on CPU up
        to DENSE_MAX_SIDE, and the dense forward only up to DENSE_FORWARD_MAX_SIDE (above it, near_sym_a's
        direct conv forward is faster; the backward, recomputing from the input alone, does not depend on
        how the forward computed). Neither on CUDA, where dense has not been measured yet, nor under
        torch.compile, where its matrices (a host-side cache keyed by size, built on the first eager call)
        may not exist yet. ``strategy="dense"`` compiles as one graph once they do (tested)."""
        if self.strategy != "auto":
            return (self.strategy == "dense",) * 2
        kind = "long" if self.row_w.shape[-1] > 7 else "short"
        side = max(x.shape[-2:])
        backward = x.device.type == "cpu" and side <= DENSE_MAX_SIDE[kind] and not torch.compiler.is_compiling()
        return backward and side <= DENSE_FORWARD_MAX_SIDE[kind], backward

    def dense_weights(self, x: torch.Tensor) -> tuple[tuple, tuple]:
        key = (*x.shape[-2:], x.device, x.dtype)
        if key not in self._dense:
            self._dense[key] = device_matrices(dense_matrices(self.wavelet, self.padding, *key[:2]), *key[2:])
        return self._dense[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grad = torch.is_grad_enabled() and x.requires_grad
        dense_fwd, dense_bwd = self.uses_dense(x)
        if not grad:
            if dense_fwd:
                return dense_forward(x, self.dense_weights(x)[0], self.magbias)
            return SCATTER[self.layers](x, self.weights(), self.padding, self.magbias)
        if dense_bwd:
            conv = None if dense_fwd else (self.weights(), self.padding)
            return DensePairFunction.apply(x, self.dense_weights(x), self.magbias, conv)
        # The backward recomputes z with the separable filters whatever the forward used: fewer terms per
        # sum, so the magnitude derivative z/|z| is more accurate (docs/PERFORMANCE.md, exactness).
        adjoint = (self.adj_comb, self.adj_col, self.row_w, self.row_bands)
        return ScatFunction.apply(
            x, self.layers, self.padding, self.magbias, self.weights(), self.separable_weights(), adjoint
        )

    def extra_repr(self) -> str:
        return f"wavelet={self.wavelet}, padding={self.padding}, magbias={self.magbias}, strategy={self.strategy}"
