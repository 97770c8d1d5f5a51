"""The reference Morlet scattering (frontends/morlet_reference.py, the mathematics with no speed paths) as the
oracle: equal to kymatio's in float64 to rounding, and scatnet's fast version equal to it, forward and input
gradient (the reference's by autograd), on square, non-square and odd-padded sizes."""

from __future__ import annotations

import pytest
import torch

from scatnet.frontends.morlet_reference import scattering2d

pytestmark = pytest.mark.numerics  # compares floats

SIZES = [(32, 32), (20, 28), (36, 44)]


def _kymatio(shape, L):
    from kymatio.scattering2d.frontend.torch_frontend import ScatteringTorch2D

    return ScatteringTorch2D(J=2, shape=shape, L=L, max_order=2).double()


@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("L", [6, 8])
def test_the_reference_is_kymatios_transform_in_float64(shape, L):
    x = torch.randn(2, 3, *shape, generator=torch.Generator().manual_seed(L), dtype=torch.float64)
    ref = scattering2d(x, J=2, L=L)
    assert ref.shape == (2, 3, 1 + 2 * L + L * L, shape[0] // 4, shape[1] // 4)
    assert float((ref - _kymatio(shape, L)(x)).abs().max()) <= 1e-12  # seen: 1.4e-16, values of order 1


@pytest.mark.parametrize("shape", SIZES)
def test_the_fast_version_equals_the_reference_forward_and_gradient(shape):
    from scatnet.frontends.fast_morlet import FastMorletScattering

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, *shape, generator=gen, dtype=torch.float64)
    fast = FastMorletScattering(J=2, shape=shape, L=8).double()
    g = torch.randn(2, 3, 81, shape[0] // 4, shape[1] // 4, generator=gen, dtype=torch.float64)
    grads = []
    for transform in (fast, lambda t: scattering2d(t, J=2, L=8)):
        xi = x.clone().requires_grad_(True)
        y = transform(xi)
        (y * g).sum().backward()
        grads.append((y.detach(), xi.grad))
    (y_fast, gx_fast), (y_ref, gx_ref) = grads
    assert float((y_fast - y_ref).abs().max()) <= 1e-10
    assert float((gx_fast - gx_ref).abs().max()) <= 1e-10 * float(gx_ref.abs().max())
