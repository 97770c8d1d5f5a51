"""One fast ScatLayer (one order of the DTCWT ScatterNet), for networks that learn between or before the
orders (the Learnable ScatterNet): (B, C, H, W) -> (B, 7C, ceil(H/2), ceil(W/2)), channels in
pytorch_wavelets' order (subband k outer, colour c inner: k * C + c). Its backward, like the pair's, saves only
the input and recomputes the layer's linear part (``scat_layer_backward``); the filters, strategies and
padding are the pair's (``FastScatLayerPair``, whose buffers it shares by subclassing)."""
from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from scatnet.frontends.fast_dtcwt.backward import linear_adjoint, magnitude_adjoint
from scatnet.frontends.fast_dtcwt.ops import CPU_BACKWARD_CHUNK, magnitude, scat_linear
from scatnet.frontends.fast_dtcwt.pair import FastScatLayerPair
from scatnet.precision import frontend_fp32


def scat_layer(x: torch.Tensor, weights: tuple, mode: str, b: float) -> torch.Tensor:
    bsz, c = x.shape[:2]
    y = magnitude(scat_linear(x, weights, mode), b)                   # (B, C, 7, h, w)
    return y.transpose(1, 2).reshape(bsz, 7 * c, *y.shape[-2:])      # channel k * C + c


def scat_layer_backward(x: torch.Tensor, grad: torch.Tensor, weights: tuple, adjoint: tuple, mode: str,
                        b: float) -> torch.Tensor:
    bsz, c, h, w = x.shape
    z = scat_linear(x, weights, mode)                                  # (B, C, 13, h1, w1)
    g = grad.view(bsz, 7, c, *grad.shape[-2:]).transpose(1, 2)         # (B, C, 7, h1, w1)
    return linear_adjoint(magnitude_adjoint(z, g, b), (h, w), adjoint, mode)


class ScatLayerFunction(torch.autograd.Function):
    """Forward without autograd; backward from the saved input only."""

    @staticmethod
    def forward(ctx, x, mode: str, b: float, weights: tuple, recompute: tuple, adjoint: tuple):
        ctx.save_for_backward(x)
        ctx.mode, ctx.b, ctx.recompute, ctx.adjoint = mode, b, recompute, adjoint
        return scat_layer(x, weights, mode, b)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        grad = grad.contiguous()
        step = max(1, CPU_BACKWARD_CHUNK // max(1, x[0].numel())) if x.device.type == "cpu" else len(x)
        with frontend_fp32():
            parts = [scat_layer_backward(xc, gc, ctx.recompute, ctx.adjoint, ctx.mode, ctx.b)
                     for xc, gc in zip(x.split(step), grad.split(step))]
        return (parts[0] if len(parts) == 1 else torch.cat(parts)), None, None, None, None, None


class FastScatLayer(FastScatLayerPair):
    """pytorch_wavelets' ``ScatLayer(biort, mode, magbias)``, computed by scatnet. The conv strategies only
    (``direct`` / ``separable``; ``auto`` picks by filter length): the dense one is the pair's."""

    def __init__(self, wavelet: str = "near_sym_a", padding: str = "symmetric", magbias: float = 1e-2,
                 strategy: str = "auto"):
        if strategy == "dense":
            from scatnet.errors import ConfigError

            raise ConfigError("strategy='dense' is the pair's (two layers in four GEMMs); a single ScatLayer "
                              "takes auto, direct or separable")
        super().__init__(wavelet, padding, magbias, strategy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (torch.is_grad_enabled() and x.requires_grad):
            return scat_layer(x, self.weights(), self.padding, self.magbias)
        adjoint = (self.adj_comb, self.adj_col, self.row_w, self.row_bands)
        return ScatLayerFunction.apply(x, self.padding, self.magbias, self.weights(), self.separable_weights(),
                                       adjoint)
