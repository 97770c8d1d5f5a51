"""scripts/morlet_time_split.py splits the fast Morlet's forward with the profiler into FFTs, products and the
rest. Its FFT count is also the transform's plan, checked here: a few batched FFTs a chunk, however many
filters (kymatio's backend takes three per path)."""

from __future__ import annotations

import runpy

import pytest
import torch

from scatnet.frontends.fast_morlet import native
from scatnet.frontends.morlet import MorletScattering
from tests.conftest import REPO

SCRIPT = runpy.run_path(str(REPO / "scripts" / "morlet_time_split.py"))


@pytest.mark.parametrize("L", [6, 8])
def test_a_chunk_takes_five_batched_ffts_whatever_the_number_of_filters(L):
    # one chunk (2 images at 32 x 32): the input's FFT, the first order's inverse FFTs at its two scales, the
    # first-order maps' FFT, one inverse FFT for the whole second order; the averaging is products there.
    # Where the fused loops run the wavelets' FFTs themselves, only the input's is a torch.fft call.
    module = MorletScattering(L, 32, impl="fast")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        with SCRIPT["ffts_apart"]():
            split = SCRIPT["split_ms"](lambda: module(x), torch.device("cpu"), 2)
        fused = SCRIPT["split_ms"](lambda: module(x), torch.device("cpu"), 2)
    assert split["fft_calls"] == 5 and fused["fft_calls"] == (1 if native.fft_linked() else 5)
    assert split["fft"] > 0 and split["products"] > 0


def test_the_script_prints_a_row_per_size_and_L(capsys):
    rows = SCRIPT["main"](["--sizes", "32", "--batch", "2", "--repeats", "1", "--angles", "8", "6"])
    table = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| 2x3x32x32")]
    assert [r["L"] for r in rows] == [8, 6] and len(table) == 2
    assert all(r["fft_calls"] == 5 and r["kymatio_ms"] > 0 and r["fast_ms"] > 0 for r in rows)
