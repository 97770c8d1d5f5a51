"""Scattering front ends: shapes for the whole grid, equality with the libraries, clear errors."""

from __future__ import annotations

import itertools

import pytest
import torch

from scatnet.errors import ConfigError
from scatnet.frontends import DTCWTScattering, MorletScattering
from scatnet.frontends.options import MAGBIASES, PADDINGS, WAVELETS

pytestmark = pytest.mark.numerics  # trains or compares floats

GRID = list(itertools.product(WAVELETS, PADDINGS, MAGBIASES))


def test_grid_has_24_settings():
    assert len(GRID) == 24


@pytest.mark.parametrize("wavelet,padding,magbias", GRID)
@pytest.mark.parametrize("size", [32, 64])
def test_dtcwt_shapes_match_declared(wavelet, padding, magbias, size):
    fe = DTCWTScattering(wavelet, padding, magbias)
    x = torch.randn(2, 3, size, size)
    y = fe(x)
    assert tuple(y.shape) == (2, 147, size // 4, size // 4)
    assert fe.out_shape(x.shape) == tuple(y.shape[1:])
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("L,channels", [(8, 243), (6, 147)])
@pytest.mark.parametrize("size", [32, 64])
def test_morlet_shapes_match_declared(L, channels, size):
    fe = MorletScattering(L=L, image_size=size)
    x = torch.randn(2, 3, size, size)
    y = fe(x)
    assert tuple(y.shape) == (2, channels, size // 4, size // 4)
    assert fe.out_shape(x.shape) == tuple(y.shape[1:])


@pytest.mark.parametrize("wavelet,padding,magbias", GRID)
def test_dtcwt_equals_two_stacked_pytorch_wavelets_scatlayers(wavelet, padding, magbias):
    from pytorch_wavelets.scatternet import ScatLayer

    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    ref = ScatLayer(wavelet, padding, magbias)(ScatLayer(wavelet, padding, magbias)(x))
    assert torch.equal(DTCWTScattering(wavelet, padding, magbias)(x), ref)


@pytest.mark.parametrize("L", [6, 8])
def test_morlet_equals_kymatio_reshaped(L):
    from kymatio.scattering2d.frontend.torch_frontend import ScatteringTorch2D

    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    ref = ScatteringTorch2D(J=2, shape=(32, 32), L=L, max_order=2)(x)  # (B, 3, K, 8, 8)
    out = MorletScattering(L=L, image_size=32, impl="kymatio")(x)
    assert torch.equal(out, ref.reshape(2, -1, 8, 8))
    # channel c*K + k of ours is coefficient k of colour c in kymatio's layout
    assert torch.equal(out[:, ref.shape[2] + 5], ref[:, 1, 5])


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        (dict(wavelet="haar"), "choose one of: near_sym_a, near_sym_b, near_sym_b_bp"),
        (dict(padding="reflect"), "choose one of: symmetric, zero"),
        (dict(magbias=-0.1), "must be a number >= 0"),
    ],
)
def test_dtcwt_bad_options_name_the_valid_values(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        DTCWTScattering(**kwargs)


def test_morlet_bad_L_and_image_side():
    with pytest.raises(ConfigError, match="choose one of: 6, 8"):
        MorletScattering(L=7)
    with pytest.raises(ConfigError, match="not divisible by 4"):
        MorletScattering(L=8, image_size=30)


def test_dtcwt_rejects_side_not_divisible_by_4():
    with pytest.raises(ConfigError, match="30x32 is not divisible by 4"):
        DTCWTScattering()(torch.randn(1, 3, 30, 32))


def test_front_ends_describe_themselves():
    assert "impl=fast" in repr(DTCWTScattering(impl="fast")) and "strategy=auto" in repr(DTCWTScattering(impl="fast"))
    assert "impl=reference" in repr(DTCWTScattering()) and "L=6" in repr(MorletScattering(L=6))
