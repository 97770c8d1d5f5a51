"""The fast Morlet's fused CPU loops (fast_morlet/native.py, kernels.c) against the eager PyTorch steps they
replace, on the same input; and the eager steps where the loops cannot be built."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys

import pytest
import torch

from scatnet.frontends.fast_morlet import native, ops
from scatnet.frontends.morlet import MorletScattering

pytestmark = pytest.mark.numerics  # trains or compares floats

# Where a C compiler exists the loops must build: a failed build fails these tests instead of skipping them.
HAS_COMPILER = sys.platform.startswith("linux") and bool(
    os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
)
needs_loops = pytest.mark.skipif(not HAS_COMPILER, reason="no C compiler here: the eager steps run")


@needs_loops
def test_the_loops_are_built_wherever_there_is_a_c_compiler():
    assert native.library() is not None


PRECISIONS = [(torch.complex64, torch.float32), (torch.complex128, torch.float64)]


def _steps(k: int, cdtype, rdtype):
    gen = torch.Generator().manual_seed(k)
    u = torch.randn(3, 2, 8 * k, 4 * k, generator=gen, dtype=cdtype)
    psi = torch.rand(k * k, 5, 8 * 4, generator=gen, dtype=rdtype)
    g = torch.randn(3, 2, 5, 8, 4, generator=gen, dtype=cdtype)
    grad, z = torch.randn(3, 7, generator=gen, dtype=rdtype), torch.randn(3, 7, generator=gen, dtype=cdtype)
    return (
        ops.filtered(u, psi, k),
        ops.filtered_pairs(u, psi, k),
        ops.filtered_adjoint(g, psi, k),
        ops.modulus(z),
        ops.modulus_adjoint_(z.clone(), grad.clone()),
    )


@needs_loops
@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("cdtype,rdtype", PRECISIONS)
def test_each_loop_equals_its_eager_step(k, cdtype, rdtype, monkeypatch):
    fused = _steps(k, cdtype, rdtype)
    monkeypatch.setattr(native, "applies", lambda *tensors: False)
    expected = _steps(k, cdtype, rdtype)
    eps = torch.finfo(rdtype).eps
    names = ("filtered", "filtered_pairs", "filtered_adjoint", "modulus", "modulus_adjoint_")
    for name, got, want in zip(names, fused, expected):
        assert got.shape == want.shape and got.dtype == want.dtype, name
        # the same products in the same order, but sums may be fused multiply-adds
        assert float((got - want).abs().max()) <= 2 * eps * float(want.abs().max()), name


needs_fft = pytest.mark.skipif(
    not (HAS_COMPILER and torch.backends.mkl.is_available()), reason="PyTorch without MKL here: torch.fft runs"
)


def test_the_loops_run_mkls_ffts_where_pytorch_links_mkl():
    assert native.fft_linked() == (native.library() is not None and torch.backends.mkl.is_available())


@needs_fft
def test_the_fused_fft_loops_run_where_each_thread_has_a_task():
    """A fused loop runs an FFT on one thread per task; with fewer tasks than threads the batched steps run."""
    u, psi, threads = torch.randn(2, 8, 8, dtype=torch.complex64), torch.rand(1, 3, 64), torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert native.fuses_fft(u, psi, tasks=2) and not native.fuses_fft(u, psi, tasks=1)
    finally:
        torch.set_num_threads(threads)


@needs_fft
@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("cdtype,rdtype", PRECISIONS)
def test_the_fused_fft_loops_equal_the_steps_they_fuse(k, cdtype, rdtype):
    """wavelet_modulus and its adjoint (of spectra, and of pairs of real maps' spectra) and first_order
    against the loops and torch.fft they replace, at sizes that are not powers of two (as the padded 264 x 264
    and 40 x 40 are), eleven of them in a row: more than a thread keeps descriptors for."""
    gen = torch.Generator().manual_seed(k)
    eps = torch.finfo(rdtype).eps
    for size in range(11):
        m, n = k * (6 + size), k * (10 - size % 3)
        u = torch.randn(3, 2, m, n, generator=gen, dtype=cdtype)
        psi = torch.rand(k * k, 6, m // k * n // k, generator=gen, dtype=rdtype)
        pairs = torch.fft.fft2(ops._paired(torch.rand(3, 4, m, n, generator=gen, dtype=rdtype)))
        z = torch.fft.ifft2(native.filtered(u, psi, k))
        zp = torch.fft.ifft2(native.filtered(pairs, psi, k, pairs=True))
        g, gp = torch.randn(z.shape, generator=gen, dtype=rdtype), torch.randn(zp.shape, generator=gen, dtype=rdtype)
        checks = [
            (native.wavelet_modulus(u, psi, k), native.modulus(z)),
            (native.wavelet_modulus(pairs, psi, k, pairs=True), native.modulus(zp)),
            *zip(native.first_order(u, psi, k), ops.first_order(z)),
            (
                native.wavelet_modulus(u, psi, k, g=g),
                native.filtered_adjoint(torch.fft.fft2(ops.modulus_adjoint_(z.clone(), g.clone())), psi, k),
            ),
            (
                native.wavelet_modulus(pairs, psi, k, pairs=True, g=gp),
                native.filtered_adjoint(torch.fft.fft2(ops.modulus_adjoint_(zp.clone(), gp.clone())), psi, k),
            ),
        ]
        for got, want in checks:
            assert got.shape == want.shape and got.dtype == want.dtype, (size, got.shape, want.shape)
            # the same products; the same library's FFTs, a map at a time instead of the batch at once
            # measured: up to 0.16 eps of the largest value, 1.1 for the adjoints (g / |z| where |z| is small)
            assert float((got - want).abs().max()) <= 4 * eps * float(want.abs().max()), size


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.float64, 1e-14)])
def test_two_real_maps_share_an_fft(dtype, tol):
    """pair_spectra's FFT of a + ib, separated (unpair_spectra, as filtered_pairs does it), is each map's own."""
    maps = torch.randn(2, 6, 12, 10, generator=torch.Generator().manual_seed(0), dtype=dtype)
    want = torch.fft.fft2(maps)
    got = ops.unpair_spectra(ops.pair_spectra(maps))
    assert got.shape == want.shape and float((got - want).abs().max()) <= tol * float(want.abs().max())


@needs_loops
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-13)])
def test_the_transform_and_its_gradient_are_those_of_the_eager_steps(dtype, tol, monkeypatch):
    gen = torch.Generator().manual_seed(3)
    module = MorletScattering(8, 32, impl="fast").to(dtype)
    x = torch.randn(3, 3, 32, 32, generator=gen, dtype=dtype, requires_grad=True)
    g = torch.randn(3, 3 * 81, 8, 8, generator=gen, dtype=dtype)
    results = []
    for loops in (True, False):
        if not loops:
            monkeypatch.setattr(native, "applies", lambda *tensors: False)
        x.grad = None
        out = module(x)
        (out * g).sum().backward()
        results.append((out.detach(), x.grad.clone()))
    (out_loops, grad_loops), (out_eager, grad_eager) = results
    assert float((out_loops - out_eager).abs().max()) <= tol
    assert float((grad_loops - grad_eager).abs().max()) <= tol


@needs_loops
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.float64, 1e-13)])
@pytest.mark.parametrize("n", [40, 72])  # under one strip of columns; one strip and a part
def test_the_band_loop_is_its_separable_products(dtype, tol, n):
    """native.lowpass_band against rows^T @ x @ cols with the taps laid on the circle, for a band wider than
    k (it wraps around both ends of both sides) on a non-square map."""
    gen = torch.Generator().manual_seed(n)
    m, k, radius = 24, 4, 5
    x = torch.randn(3, 2, m, n, generator=gen, dtype=dtype)
    a, b = (torch.rand(2 * radius + 1, generator=gen, dtype=dtype) for _ in range(2))

    def factor(taps, size):  # (size, size / k - 2): entry [i, p] is the tap at k (p + 1) - i, mod size
        full = torch.zeros(size, dtype=dtype)
        full[torch.arange(-radius, radius + 1) % size] = taps
        return full[ops._offsets(size, k)].T

    want = factor(a, m).T @ x @ factor(b, n)
    got = native.lowpass_band(x, a, b, k, (m // k - 2, n // k - 2))
    assert got.shape == want.shape == (3, 2, m // k - 2, n // k - 2)
    assert float((got - want).abs().max()) <= tol * float(want.abs().max())
    # the same maps two to a complex map (ops.first_order's layout): the same sums, read interleaved
    paired = native.lowpass_band(ops._paired(x), a, b, k, (m // k - 2, n // k - 2))
    assert paired.shape == got.shape and torch.equal(paired, got)


@needs_loops
@pytest.mark.parametrize("cdtype", [torch.complex64, torch.complex128])
def test_the_paired_modulus_is_the_modulus_paired(cdtype):
    """native.modulus_pairs writes maps 2i and 2i+1 of |z| as one complex map, what pair_spectra transforms;
    ops.first_order's spectra are then each map's own FFT (after unpair_spectra)."""
    z = torch.randn(2, 6, 12, 10, generator=torch.Generator().manual_seed(1), dtype=cdtype)
    paired = native.modulus_pairs(z)
    assert paired.shape == (2, 3, 12, 10) and torch.equal(ops.unpaired(paired), native.modulus(z))
    maps, spectra, pairs = ops.first_order(z)
    assert pairs and torch.equal(maps, paired)
    want = torch.fft.fft2(native.modulus(z))
    assert float((ops.unpair_spectra(spectra) - want).abs().max()) <= 1e-5 * float(want.abs().max())


def test_the_band_is_where_phi_fits_one():
    """kymatio's phi at full resolution (a Gaussian) leaves tails under BAND_TAIL past 8 pixels; at half
    resolution its cropped spectrum leaves 1/d tails: no band."""
    from kymatio.scattering2d.filter_bank import filter_bank

    for padded in (40, 136, 264):
        levels = filter_bank(padded, padded, 2, 8)["phi"]["levels"]
        phi = [torch.as_tensor(level, dtype=torch.float32) for level in levels]
        a, b = ops.lowpass_band(phi[0], 4)
        assert a.shape == b.shape == (17,)
        rows, cols, _ = ops.separable_lowpass(phi[0], 4)
        # the taps are the separable factors' own values, each at its offset
        assert torch.equal(a[8], rows[4, 0]) and torch.equal(b[8 - 1], cols[4 + 1, 0])
        assert ops.lowpass_band(phi[1], 2) is None


def test_without_a_compiler_the_eager_steps_run_and_say_so(monkeypatch, caplog):
    monkeypatch.setenv("CC", "/nonexistent/cc")
    native.library.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger=native.__name__):
            assert native.library() is None
        assert "eager PyTorch steps" in caplog.text
        u = torch.randn(2, 8, 8, dtype=torch.complex64)
        assert not native.applies(u)
        # the transform still runs, on the eager steps
        out = MorletScattering(6, 8, impl="fast")(torch.randn(1, 1, 8, 8))
        assert out.shape == (1, 1 + 2 * 6 + 36, 2, 2) and bool(torch.isfinite(out).all())
    finally:
        native.library.cache_clear()


def test_the_loops_stay_out_of_autograd_and_other_devices():
    u = torch.randn(2, 8, 8, dtype=torch.complex64)
    psi = torch.rand(1, 3, 128)
    assert not native.applies(u.to("meta"), psi)
    assert not native.applies(u, psi.double())  # mixed precision: eager promotes as it should
    assert not native.applies(u.requires_grad_(True), psi)  # autograd records the eager steps
    with torch.no_grad():
        assert native.applies(u, psi) == (native.library() is not None)


_LOAD = "from scatnet.frontends.fast_morlet import native; assert native.library() is not None"


def _load_in(cache, count: int) -> list[subprocess.Popen]:
    env = {**os.environ, "SCATNET_CACHE_DIR": str(cache)}
    return [
        subprocess.Popen([sys.executable, "-c", _LOAD], env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(count)
    ]


def _builds(cache) -> list[str]:
    (log,) = cache.glob("kernels/*/build.log")
    assert len(list(cache.glob("kernels/*/kernels.so"))) == 1
    return log.read_text().splitlines()


@needs_loops
def test_the_loops_are_built_once_per_machine_and_loaded_by_every_later_process(tmp_path):
    for _ in range(2):  # one after the other: the second loads the first's build
        (proc,) = _load_in(tmp_path, 1)
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert len(_builds(tmp_path)) == 1


@needs_loops
def test_two_first_builds_at_once_build_once(tmp_path):
    procs = _load_in(tmp_path, 3)
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0], [p.stderr.read() for p in procs]
    assert len(_builds(tmp_path)) == 1


@needs_loops
def test_a_loop_that_fails_raises_a_python_error_instead_of_ending_the_process():
    """Sizes whose buffer no machine can allocate (2**59 bytes): the loop returns, and the call raises."""
    u, psi = torch.zeros(1, 4, 4, dtype=torch.complex64), torch.zeros(1, 1, 16)
    out = torch.zeros(1, 1, 4, 4)
    with pytest.raises(native.LoopError, match="^scatnet's fused CPU loop wavelet_modulus stopped: no memory"):
        native._call("wavelet_modulus", u, psi, None, out, 1, 1, 1, 1 << 28, 1 << 28, 0)
    assert torch.equal(out, torch.zeros(1, 1, 4, 4))  # nothing was written


@needs_loops
@pytest.mark.parametrize(
    "call,needle",
    [
        (
            lambda: native.filtered(torch.zeros(2, 8, 8, dtype=torch.complex64), torch.zeros(4, 3, 15), 2),
            "a filter bank of shape (4, L, 16) for 8 x 8 spectra",
        ),
        (
            lambda: native.wavelet_modulus(
                torch.zeros(2, 8, 8, dtype=torch.complex64), torch.zeros(4, 3, 16), 2, g=torch.zeros(2, 3, 4, 5)
            ),
            "g",
        ),
        (lambda: native.modulus(torch.zeros(3, dtype=torch.complex128).to(torch.complex64).T), None),
        (
            lambda: native._call(
                "modulus", torch.zeros(4, dtype=torch.complex64), torch.zeros(4, dtype=torch.float64), 4
            ),
            "one precision",
        ),
        (lambda: native._call("modulus", torch.zeros(4, 2, dtype=torch.complex64).T, torch.zeros(8), 8), "contiguous"),
    ],
)
def test_tensors_are_checked_before_any_pointer_is_passed(call, needle):
    if needle is None:  # a well-formed call still runs
        assert call().shape == (3,)
        return
    with pytest.raises(native.LoopError) as e:
        call()
    assert needle in str(e.value) and "\n" not in str(e.value)
