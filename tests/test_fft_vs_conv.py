"""scripts/fft_vs_conv.py answers "FFT or direct convolution?" for the DTCWT filters with numbers: its FFT path
must compute what the convolutions compute, or the comparison means nothing."""

from __future__ import annotations

import runpy

import pytest
import torch

from scatnet.frontends.fast_dtcwt import FastScatLayerPair
from scatnet.frontends.fast_dtcwt.ops import scat_linear
from tests.conftest import REPO

pytestmark = pytest.mark.numerics  # trains or compares floats

SCRIPT = runpy.run_path(str(REPO / "scripts" / "fft_vs_conv.py"))


@pytest.mark.parametrize("wavelet", ["near_sym_a", "near_sym_b", "near_sym_b_bp"])
@pytest.mark.parametrize("padding", ["symmetric", "zero"])
def test_the_fft_path_equals_the_convolutions(wavelet, padding):
    pair = FastScatLayerPair(wavelet, padding, 1e-2).double()
    for shape in ((2, 3, 32, 32), (1, 2, 17, 30)):
        x = torch.randn(*shape, dtype=torch.float64)
        ref = scat_linear(x, (pair.direct_w,), padding)
        assert float((SCRIPT["fft_linear"](x, pair.direct_w, padding) - ref).abs().max()) < 1e-12


def test_the_script_prints_one_checked_row_per_filter_and_size(capsys):
    SCRIPT["main"](["--sizes", "16", "--repeats", "1"])
    rows = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| near_sym")]
    assert len(rows) == 2 and all(float(r.split("|")[-2]) <= 1e-5 for r in rows)
