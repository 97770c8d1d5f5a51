"""scatnet's fast DTCWT ScatLayer pair against two stacked pytorch_wavelets ScatLayers."""

from __future__ import annotations

import itertools
import zlib

import pytest
import torch

from scatnet.frontends.dtcwt import reference_scat_pair
from scatnet.frontends.fast_dtcwt import FastScatLayerPair
from scatnet.frontends.options import MAGBIASES, PADDINGS, WAVELETS

pytestmark = pytest.mark.numerics  # trains or compares floats

GRID = list(itertools.product(WAVELETS, PADDINGS, MAGBIASES))
SHAPES = [(2, 3, 32, 32), (1, 3, 17, 23)]  # even; batch 1 with odd sides (extended as ScatLayer does)


def fwd_grad(module, x, g):
    x = x.clone().requires_grad_(True)
    y = module(x)
    return y.detach(), torch.autograd.grad(y, x, g)[0]


def grad_tolerance(b: float) -> float:
    # With b -> 0 the gradient x/|z| is ill-conditioned where |z| is small: pytorch_wavelets' own fp32
    # gradient is ~1e-5 away from the float64 truth there (docs/PERFORMANCE.md), so two fp32 implementations
    # can differ by a few 1e-5. The float64 test below shows the mathematics is identical.
    return 1e-5 if b >= 1e-2 else 5e-5


# auto on CPU at these sizes: near_sym_a's direct forward with the dense backward, near_sym_b dense for both
@pytest.mark.parametrize("strategy", ["direct", "separable", "dense", "auto"])
@pytest.mark.parametrize("wavelet,padding,b", GRID)
def test_fp32_forward_and_input_gradient_match_pytorch_wavelets(wavelet, padding, b, strategy):
    for shape in SHAPES:
        torch.manual_seed(zlib.crc32(f"{wavelet}{padding}{b}{shape}".encode()))  # stable across processes
        x = torch.randn(shape)
        ref = reference_scat_pair(wavelet, padding, b)
        y_ref = ref(x)
        g = torch.randn_like(y_ref)
        y0, g0 = fwd_grad(ref, x, g)
        y1, g1 = fwd_grad(FastScatLayerPair(wavelet, padding, b, strategy), x, g)
        assert y1.shape == y0.shape
        assert (y1 - y0).abs().max() <= 1e-5
        assert (g1 - g0).abs().max() <= grad_tolerance(b)


@pytest.mark.parametrize("wavelet", ["near_sym_a", "near_sym_b_bp"])
@pytest.mark.parametrize("tile", [4, 6])
def test_row_pass_tiles_wide_rows_exactly(wavelet, tile, monkeypatch):
    """Rows wider than ROW_TILE are cut into tiles (the last one zero-padded when the width is no multiple,
    and overlapping edges added back in the adjoint): same outputs and gradients as pytorch_wavelets."""
    from scatnet.frontends.fast_dtcwt import rows as dtcwt_rows

    torch.manual_seed(3)
    x = torch.randn(1, 2, 20, 26)
    ref = reference_scat_pair(wavelet, "symmetric", 1e-2)
    g = torch.randn_like(ref(x))
    y0, g0 = fwd_grad(ref, x, g)
    monkeypatch.setattr(dtcwt_rows, "ROW_TILE", tile)  # 26 -> 13 -> 7 wide: several tiles, ragged ends
    y1, g1 = fwd_grad(FastScatLayerPair(wavelet, "symmetric", 1e-2, "separable"), x, g)
    assert (y1 - y0).abs().max() <= 1e-5 and (g1 - g0).abs().max() <= 1e-5


@pytest.mark.parametrize("shape,m", [((2, 3, 8, 10), 3), ((1, 2, 5, 4), 9), ((1, 1, 2, 3), 4)])
def test_gather_padding_is_flip_and_cat_padding(shape, m):
    """The GPU's one-gather symmetric padding, run here on the CPU: identical values, including paddings
    longer than the side (several reflections)."""
    from scatnet.frontends.fast_dtcwt.ops import gather_symmetric_pad, symmetric_pad

    x = torch.randn(shape)
    assert torch.equal(gather_symmetric_pad(x, m), symmetric_pad(symmetric_pad(x, m, -2), m, -1))


@pytest.mark.parametrize("wavelet", ["near_sym_a", "near_sym_b"])
def test_pair_with_gather_padding_matches_pytorch_wavelets(wavelet, monkeypatch):
    """The whole pair, forward and gradient, on the padding path a GPU takes (forced on here)."""
    from scatnet.frontends.fast_dtcwt import ops as dtcwt_fast_ops

    monkeypatch.setattr(dtcwt_fast_ops, "pad_by_gather", lambda x: True)
    torch.manual_seed(6)
    for shape in SHAPES:
        x = torch.randn(shape)
        fast = FastScatLayerPair(wavelet, "symmetric", 1e-2, "direct")
        ref = reference_scat_pair(wavelet, "symmetric", 1e-2)
        g = torch.randn_like(ref(x))
        (y, gx), (y_ref, gx_ref) = fwd_grad(fast, x, g), fwd_grad(ref, x, g)
        assert (y - y_ref).abs().max() <= 1e-5 and (gx - gx_ref).abs().max() <= 1e-5


def test_cpu_backward_over_batch_chunks_gives_the_same_gradient(monkeypatch):
    """On CPU the conv path's backward runs one chunk of the batch at a time (cache-sized intermediates)."""
    from scatnet.frontends.fast_dtcwt import ops as dtcwt_fast_ops

    torch.manual_seed(4)
    x = torch.randn(3, 2, 20, 18)
    fast = FastScatLayerPair("near_sym_b", "zero", 1e-2, "separable")
    g = torch.randn_like(fast(x))
    _, g_whole = fwd_grad(fast, x, g)
    monkeypatch.setattr(dtcwt_fast_ops, "CPU_BACKWARD_CHUNK", 1)  # one image per chunk
    _, g_chunks = fwd_grad(fast, x, g)
    assert (g_chunks - g_whole).abs().max() <= 1e-6


@pytest.mark.parametrize("wavelet,padding,b", GRID)
def test_float64_is_the_same_mathematics(wavelet, padding, b):
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # both build their filters in the default dtype
    try:
        for shape in [(1, 2, 18, 14), (2, 1, 9, 5)]:  # 9 x 5 -> 5 x 3: reflections longer than the side
            x = torch.randn(shape)
            ref = reference_scat_pair(wavelet, padding, b)
            g = torch.randn_like(ref(x))
            y0, g0 = fwd_grad(ref, x, g)
            for strategy in ("direct", "separable", "dense"):
                y1, g1 = fwd_grad(FastScatLayerPair(wavelet, padding, b, strategy), x, g)
                assert (y1 - y0).abs().max() < 1e-12 and (g1 - g0).abs().max() < 1e-12, (shape, strategy)
    finally:
        torch.set_default_dtype(default)


@pytest.mark.parametrize("strategy", ["direct", "dense"])
def test_backward_holds_nothing_but_the_input(strategy):
    saved = []

    def pack(t):
        saved.append(t)
        return t

    x = torch.randn(4, 3, 32, 32, requires_grad=True)
    fast = FastScatLayerPair("near_sym_a", "symmetric", 1e-2, strategy)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fast(x)
    buffers = {b.data_ptr() for b in fast.buffers()}
    activations = [t for t in saved if t.data_ptr() not in buffers]
    assert len(activations) == 1 and activations[0].data_ptr() == x.data_ptr()

    saved.clear()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        reference_scat_pair("near_sym_a", "symmetric", 1e-2)(x)
    ref_bytes = sum(t.numel() * t.element_size() for t in saved if t.data_ptr() != x.data_ptr() and t.numel() > 1)
    assert ref_bytes > x.numel() * x.element_size()  # pytorch_wavelets holds more than the input


@pytest.mark.parametrize("strategy", ["direct", "dense"])
def test_zero_input_with_zero_bias_gives_a_finite_gradient(strategy):
    x = torch.zeros(1, 3, 16, 16, requires_grad=True)
    FastScatLayerPair("near_sym_a", "symmetric", 0.0, strategy)(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    xr = torch.zeros(1, 3, 16, 16, requires_grad=True)
    reference_scat_pair("near_sym_a", "symmetric", 0.0)(xr).sum().backward()
    assert torch.isnan(xr.grad).any()  # pytorch_wavelets' 0/0 where |z| = 0
    # only the lowpass path carries gradient at zero: 1/16 per pixel through two 2x2 averages
    assert torch.allclose(x.grad, torch.full_like(x.grad, 1 / 16))


def test_auto_takes_the_dense_path_for_small_images_on_cpu_only_outside_compile():
    """The dense path's matrices come from a per-size cache, so `auto` keeps it to eager CPU runs of small
    images (thresholds measured in docs/PERFORMANCE.md); the conv-based path covers the rest."""
    short, long = FastScatLayerPair("near_sym_a"), FastScatLayerPair("near_sym_b")
    # (forward, backward): near_sym_a's forward leaves the dense path above 16, its backward above 32
    assert short.uses_dense(torch.zeros(1, 3, 16, 16)) == (True, True)
    assert short.uses_dense(torch.zeros(1, 3, 32, 32)) == (False, True)
    assert short.uses_dense(torch.zeros(1, 3, 48, 48)) == (False, False)
    assert long.uses_dense(torch.zeros(1, 3, 64, 64)) == (True, True)
    assert long.uses_dense(torch.zeros(1, 3, 65, 64)) == (False, False)
    assert FastScatLayerPair("near_sym_a", strategy="dense").uses_dense(torch.zeros(1, 3, 256, 256)) == (True, True)
    assert FastScatLayerPair("near_sym_a", strategy="direct").uses_dense(torch.zeros(1, 3, 8, 8)) == (False, False)
    short(torch.randn(2, 3, 32, 32))
    assert short._dense == {}  # a forward without autograd on the conv path builds no matrices
    short(torch.randn(2, 3, 32, 32, requires_grad=True))
    short(torch.randn(2, 3, 32, 32, requires_grad=True))
    assert list(short._dense) == [(32, 32, torch.device("cpu"), torch.float32)]  # built once per size


@pytest.mark.parametrize("wavelet", WAVELETS)
def test_dense_stage_b_reads_one_branch_per_output(wavelet):
    """Each of the 13 outputs reads one row branch: the runs cover every output once and multiply by 1 / nR of
    the dense matrix, plus what a merged single output adds (0.5 and 0.69 of it for nR = 2, 0.33 and 0.41
    for near_sym_b_bp): fewer multiply-adds, the same result (the exactness tests above)."""
    from scatnet.frontends.fast_dtcwt.dense import branch_runs, dense_matrices

    _, m1, _, m2 = dense_matrices(wavelet, "symmetric", 32, 32)
    n_r = 3 if wavelet == "near_sym_b_bp" else 2
    for m in (m1, m2):
        runs = branch_runs(m, n_r)
        assert [j for j0, j1, *_ in runs for j in range(j0, j1)] == list(range(13))
        assert all(j1 - j0 >= 2 for j0, j1, *_ in runs)  # single outputs are merged into a neighbour
        assert sum(block.numel() for *_, block in runs) <= 0.7 * m.numel()


@pytest.mark.parametrize("requires_grad", [False, True])
def test_forward_traces_as_one_graph_without_breaks(requires_grad):
    """No host syncs, .item() or numpy in forward: dynamo captures it whole (what CUDA graphs need too)."""
    torch._dynamo.reset()
    x = torch.randn(2, 3, 32, 32, requires_grad=requires_grad)
    explain = torch._dynamo.explain(FastScatLayerPair("near_sym_b", "zero", 1e-2))(x)
    assert explain.graph_count == 1 and explain.graph_break_count == 0


def test_dense_stage_b_adjoint_is_its_transpose_for_any_runs():
    """<stage_b(t), dz> = <t, stage_b_adjoint(dz)> in float64, also for a run that reads one branch already
    written and one not yet (none of the wavelets' plans has one, but the adjoint handles it)."""
    from scatnet.frontends.fast_dtcwt.dense import stage_b, stage_b_adjoint

    torch.manual_seed(5)
    n_r, n_b, rows = 2, 6, 3
    spans = [(0, 1, 0, 1), (1, 3, 0, 2), (3, 13, 1, 2)]  # the second reads branch 0 (written) and 1 (fresh)
    blocks = [torch.randn((b1 - b0) * n_b, (j1 - j0) * rows, dtype=torch.float64) for j0, j1, b0, b1 in spans]
    t = torch.randn(5, n_r * n_b, dtype=torch.float64)
    dz = torch.randn(5, 13 * rows, dtype=torch.float64)
    z = stage_b(t, [(*sp, blk) for sp, blk in zip(spans, blocks)], rows, n_b)
    dt = stage_b_adjoint(dz, [(*sp, blk.t().contiguous()) for sp, blk in zip(spans, blocks)], n_r, n_b)
    assert torch.allclose((z * dz).sum(), (t * dt).sum(), rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("requires_grad", [False, True])
def test_dense_strategy_traces_as_one_graph_once_its_matrices_are_built(requires_grad):
    """The dense path's size-keyed matrices are built eagerly on the first call; after that dynamo captures it
    whole (its strided ``out=`` GEMMs become a concatenation when compiling), so `strategy=dense` can be
    compiled and CUDA-graph captured."""
    fast = FastScatLayerPair("near_sym_a", "symmetric", 1e-2, "dense")
    x = torch.randn(2, 3, 32, 32, requires_grad=requires_grad)
    y, g = fwd_grad(fast, x, torch.ones(2, 147, 8, 8))
    torch._dynamo.reset()
    explain = torch._dynamo.explain(fast)(x)
    assert explain.graph_count == 1 and explain.graph_break_count == 0
    torch._dynamo.reset()
    y_c, g_c = fwd_grad(torch.compile(fast), x, torch.ones(2, 147, 8, 8))
    assert (y_c - y).abs().max() <= 1e-5 and (g_c - g).abs().max() <= 1e-5


@pytest.mark.slow
def test_fast_path_trains_to_the_reference_accuracy_on_digits(tmp_path):
    import statistics

    from scatnet.training.run import train
    from tests.conftest import compose

    # Same seed, same data order: the two differ only by fp32 rounding, which training amplifies (one seed's
    # runs differed by up to 1.7 points with PyTorch's portable kernels), so over three seeds: the means within
    # 2 points (seen within 0.6), and both learn (one run 62-70%; chance is 10%).
    quick = ["experiment=quickstart", "trainer.max_epochs=4", "optim.milestones=[3]", "logger=none"]
    ref, fast = [], []
    for seed in (0, 1, 2):
        r = train(compose([*quick, "frontend.impl=reference", f"seed={seed}"], tmp_path / f"ref{seed}"))
        f = train(compose([*quick, "frontend=dtcwt_fast", f"seed={seed}"], tmp_path / f"fast{seed}"))
        assert f["config"]["frontend"]["impl"] == "fast" and r["config"]["frontend"]["impl"] == "reference"
        ref.append(r["test_acc"])
        fast.append(f["test_acc"])
    assert statistics.mean(ref) > 50 and abs(statistics.mean(fast) - statistics.mean(ref)) <= 2.0, (ref, fast)


def test_fast_path_trains_to_the_reference_accuracy_on_the_cifar_fixture(tmp_path):
    """The same comparison on CIFAR-10's on-disk format (the fixture's classes differ in colour, under noise)."""
    from scatnet.training.run import train
    from tests.conftest import compose
    from tests.fixtures import write_cifar

    md5 = write_cifar(tmp_path / "data", "cifar10", n_train=300, n_test=100)
    (tmp_path / "fixture.md5").write_text("".join(f"{v}  {k}\n" for k, v in md5.items()))
    common = [
        "data=cifar10",
        f"data.root={tmp_path / 'data'}",
        "data.download=false",
        "data.batch_size=50",
        f"+data.source.file_md5={tmp_path / 'fixture.md5'}",
        "model.width=16",
        "trainer.max_epochs=4",
        "optim.milestones=[3]",
        "optim.lr=0.1",
        "logger=none",
    ]
    ref = train(compose([*common, "frontend.impl=reference"], tmp_path / "ref"))
    fast = train(compose([*common, "frontend=dtcwt_fast"], tmp_path / "fast"))
    assert fast["config"]["frontend"]["impl"] == "fast" and ref["config"]["frontend"]["impl"] == "reference"
    assert ref["test_acc"] > 50 and abs(fast["test_acc"] - ref["test_acc"]) <= 5.0  # 100 test images


@pytest.mark.parametrize("wavelet", ["near_sym_a", "near_sym_b"])  # direct kernel; banded-GEMM row pass
def test_torch_compile_of_the_fast_pair_keeps_its_output(wavelet):
    torch._dynamo.reset()
    x = torch.randn(2, 3, 16, 16)
    compiled = torch.compile(FastScatLayerPair(wavelet, "symmetric", 1e-2))
    with torch.no_grad():
        out = compiled(x)
        ref = reference_scat_pair(wavelet, "symmetric", 1e-2)(x)
    assert (out - ref).abs().max() <= 1e-5
