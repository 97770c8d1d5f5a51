"""scatnet's single fast ScatLayer against pytorch_wavelets' ScatLayer on the same input: forward and input
gradient, every setting of the grid, odd sizes, float64 and fp32."""

from __future__ import annotations

import pytest
import torch

from scatnet.errors import ConfigError
from scatnet.frontends.fast_dtcwt.layer import FastScatLayer
from scatnet.frontends.options import MAGBIASES, PADDINGS, WAVELETS
from tests.test_fast_dtcwt import GRID

pytestmark = pytest.mark.numerics  # trains or compares floats


def _pair(wavelet, padding, magbias, dtype):
    """Both built in ``dtype`` (each makes its filters in the default dtype, as pytorch_wavelets' prep_filt)."""
    from pytorch_wavelets.scatternet import ScatLayer

    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        return ScatLayer(wavelet, padding, magbias), FastScatLayer(wavelet, padding, magbias)
    finally:
        torch.set_default_dtype(default)


def _fwd_grad(layer, x, g):
    xi = x.clone().requires_grad_(True)
    y = layer(xi)
    (y * g).sum().backward()
    return y.detach(), xi.grad


@pytest.mark.parametrize("wavelet,padding,magbias", GRID)
def test_forward_and_gradient_equal_pytorch_wavelets_in_float64(wavelet, padding, magbias):
    gen = torch.Generator().manual_seed(len(wavelet) + int(magbias * 1e3))
    x = torch.randn(2, 3, 15, 18, generator=gen, dtype=torch.float64)  # an odd side: ScatLayer extends it
    ref, fast = _pair(wavelet, padding, magbias, torch.float64)
    g = torch.randn(2, 21, 8, 9, generator=gen, dtype=torch.float64)
    y_ref, g_ref = _fwd_grad(ref, x, g)
    y, gx = _fwd_grad(fast, x, g)
    assert y.shape == y_ref.shape == (2, 21, 8, 9)
    assert float((y - y_ref).abs().max()) <= 1e-10 and float((gx - g_ref).abs().max()) <= 1e-10


@pytest.mark.parametrize("wavelet", WAVELETS)
def test_fp32_is_as_close_as_fp32_allows(wavelet):
    """fp32 against the float64 truth, beside pytorch_wavelets' own fp32: the same order of error."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(4, 3, 32, 32, generator=gen, dtype=torch.float64)
    g = torch.randn(4, 21, 16, 16, generator=gen, dtype=torch.float64)
    truth = _fwd_grad(_pair(wavelet, PADDINGS[0], MAGBIASES[2], torch.float64)[0], x, g)
    errs = []
    for layer in _pair(wavelet, PADDINGS[0], MAGBIASES[2], torch.float32):
        y, gx = _fwd_grad(layer, x.float(), g.float())
        errs.append((float((y.double() - truth[0]).abs().max()), float((gx.double() - truth[1]).abs().max())))
    (ref_y, ref_g), (y_err, g_err) = errs
    assert y_err <= max(4 * ref_y, 1e-6) and g_err <= max(4 * ref_g, 1e-5), errs  # measured: ~1e-7 / ~1e-6


def test_backward_holds_only_the_input_and_a_stage_before_it_learns():
    from scatnet.bench.measure import memory_held_for_backward

    layer = FastScatLayer()
    assert memory_held_for_backward(layer, torch.randn(4, 3, 32, 32))["mem_bytes"] == 0
    conv = torch.nn.Conv2d(3, 3, 3, padding=1)
    (layer(conv(torch.randn(2, 3, 16, 16))) ** 2).sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


def test_the_dense_strategy_is_the_pairs():
    with pytest.raises(ConfigError, match="strategy='dense' is the pair's"):
        FastScatLayer(strategy="dense")
