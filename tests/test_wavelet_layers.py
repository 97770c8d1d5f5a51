"""Wavelet pooling (dwt: the LL band; dwt_all: every band), the plain CNN built on it, and the learned-stem
control front end."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from scatnet.errors import ConfigError
from scatnet.models.wavelet_pool import DWTPool, make_pool

pytestmark = pytest.mark.numerics  # trains or compares floats


def test_haar_ll_is_twice_the_average_pool():
    """The orthonormal Haar low-pass is 1/sqrt(2) per axis: LL = 2 x the 2x2 mean, exactly."""
    x = torch.randn(2, 3, 8, 10, dtype=torch.float64)
    assert torch.allclose(DWTPool("haar").double()(x), 2 * F.avg_pool2d(x, 2), atol=1e-12)


@pytest.mark.parametrize("wavelet", ["haar", "db4", "bior2.2", "near_sym_a", "near_sym_b"])
@pytest.mark.parametrize("padding", ["zero", "symmetric"])
@pytest.mark.parametrize("side", [8, 9])
def test_pools_halve_the_side_like_max_pooling_and_keep_four_bands(wavelet, padding, side):
    x = torch.randn(2, 3, side, side + 2)
    for kind, channels in (("dwt", 3), ("dwt_all", 12), ("max", 3), ("avg", 3)):
        pool, factor = make_pool(kind, wavelet, padding)
        assert pool(x).shape == (2, channels, (side + 1) // 2, (side + 3) // 2) and channels == 3 * factor


def test_dwt_all_throws_nothing_away():
    """Haar on an even side crops nothing: the inverse DWT of the four stacked bands is the input."""
    from pytorch_wavelets import DWTInverse

    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    bands = DWTPool("haar", keep="all").double()(x).view(2, 3, 4, 4, 4)
    back = DWTInverse(wave="haar", mode="zero").double()((bands[:, :, 0], [bands[:, :, 1:]]))
    assert torch.allclose(back, x, atol=1e-12)


@pytest.mark.parametrize("keep", ["ll", "all"])
def test_the_gradient_is_exact(keep):
    pool = DWTPool("db2", "symmetric", keep).double()
    x = torch.randn(1, 2, 7, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(pool, (x,), eps=1e-6, atol=1e-8)


def test_bad_pool_options_name_the_valid_values():
    with pytest.raises(ConfigError, match="model.pool='median' is not valid; choose one of: max, avg, dwt, dwt_all"):
        make_pool("median")
    with pytest.raises(ConfigError, match="model.pool_wavelet='morlet' is not a discrete wavelet"):
        make_pool("dwt", "morlet")


QUICK = ["data=digits", "optim.lr=0.1", "trainer.max_epochs=4", "logger=none"]


def median_accuracy(overrides: list[str], tmp_path, seeds=(0, 1, 2)) -> float:
    """Test accuracy %, the median over three seeds: one 4-epoch trajectory depends on the CPU's rounding (seen
    with PyTorch's portable kernels, seeds 0-4: 23-85% for one network), the median of three much less."""
    import statistics

    from scatnet.training.run import train
    from tests.conftest import compose

    accs = []
    for seed in seeds:
        m = train(compose([*QUICK, *overrides, f"seed={seed}"], tmp_path / f"s{seed}"))
        assert m["status"] == "completed"
        accs.append(m["test_acc"])
    return statistics.median(accs)


# floors: chance is 10%; the medians of three seen (seeds 0-2, 1-3, 2-4 with the portable kernels) 49-78
@pytest.mark.parametrize(
    "overrides,floor",
    [
        (["frontend=none", "model=wavepool_cnn", "model.widths=[16,32,32,32]"], 40.0),  # dwt pools
        (["frontend=none", "model=wavepool_cnn", "model.widths=[16,32,32,32]", "model.pool=dwt_all"], 40.0),
        (["frontend=learned", "frontend.hidden=16", "model.width=8"], 40.0),  # the control
    ],
    ids=["wavepool_cnn", "dwt_all", "learned"],
)
@pytest.mark.slow
def test_the_new_networks_learn_digits(overrides, floor, tmp_path):
    assert median_accuracy(overrides, tmp_path) > floor


def test_the_learned_stem_has_the_scatterings_shape_and_learns():
    from scatnet.frontends import DTCWTScattering, LearnedStem
    from scatnet.models import HybridNet

    stem = LearnedStem()
    x = torch.randn(2, 3, 32, 32)
    assert stem(x).shape == DTCWTScattering()(x).shape == (2, 147, 8, 8)
    net = HybridNet(stem, num_classes=10, width=4)  # model.frontend_grad left null: it follows the stem
    net(x).sum().backward()
    assert net.frontend_grad and stem.stem[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("wavelet,padding", [("db2", "symmetric"), ("near_sym_b", "zero"), ("haar", "symmetric")])
def test_the_transform_is_pytorch_wavelets_dwt(wavelet, padding):
    pool = DWTPool(wavelet, padding).double()
    x = torch.randn(2, 3, 11, 12, dtype=torch.float64)
    ll, bands = pool.transform(x)
    ref_ll, (ref_bands,) = pool.dwt(x)
    assert torch.equal(ll, ref_ll) and torch.equal(bands, ref_bands)


@pytest.mark.parametrize("mode", ["pointwise", "channel"])
@pytest.mark.parametrize("side", [16, 13])
def test_the_mixing_block_starts_as_the_identity_exactly(mode, side):
    from scatnet.models.wavelet_mix import WaveletMixing2D

    block = WaveletMixing2D(6, "db2", levels=2, mode=mode)
    x = torch.randn(2, 6, side, side + 3)
    assert torch.equal(block(x), x)
    (block(x) * torch.randn_like(x)).sum().backward()
    assert block.weight.grad.abs().sum() > 0  # and it learns from there


@pytest.mark.parametrize("side", [8, 9, 15])
@pytest.mark.parametrize("padding", ["zero", "symmetric"])
def test_its_dwt_idwt_pair_reconstructs_any_size_perfectly(side, padding):
    """A scale of 2 on every band doubles the input: IDWT(DWT(x)) = x at every size, odd ones included."""
    from scatnet.models.wavelet_mix import WaveletMixing2D

    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # pytorch_wavelets builds its filters in the default dtype
    try:
        block = WaveletMixing2D(3, "db3", levels=2, mode="pointwise", padding=padding)
    finally:
        torch.set_default_dtype(default)
    with torch.no_grad():
        block.weight.fill_(2.0)
    x = torch.randn(1, 3, side, side + 1, dtype=torch.float64)
    assert torch.allclose(block(x), 2 * x, atol=1e-12)


@pytest.mark.slow
def test_a_hybrid_with_a_mixing_block_learns_digits(tmp_path):
    # chance is 10%; medians of three seen 46-52% (one run 25-57%)
    assert median_accuracy(["model.width=8", "model.mix={after: 2, levels: 1, mode: channel}"], tmp_path) > 30.0


def test_existing_presets_keep_their_parameters_and_outputs():
    """model.mix null (the presets): the Table 1.3 networks as they were, parameter for parameter."""
    from scatnet.frontends import DTCWTScattering
    from scatnet.models import HybridNet

    counts = {}
    for tiny in (False, True):
        torch.manual_seed(0)
        a = HybridNet(DTCWTScattering(), num_classes=10, width=8, tiny=tiny)
        torch.manual_seed(0)
        b = HybridNet(DTCWTScattering(), num_classes=10, width=8, tiny=tiny, mix=None)
        x = torch.randn(2, 3, 32, 32)
        assert torch.equal(a.eval()(x), b.eval()(x))
        counts[tiny] = sum(p.numel() for p in a.parameters())
    # C = 8: BN(147) 294, convs 147x16x9 + 16x16x9 + 16x32x9 + 32x32x9 with their BNs, fc 32x10 + 10, and the
    # pytorch_wavelets pair's 24 filter taps: 38136; Tiny ImageNet adds conv5/conv6 at 64 and a wider fc
    assert counts == {False: 38136, True: 94008}


def test_bad_mixing_options_are_one_line():
    from scatnet.frontends import DTCWTScattering
    from scatnet.models import HybridNet

    with pytest.raises(ConfigError, match="model.mix.after=7 is not valid; choose the conv it follows: 1 to 4"):
        HybridNet(DTCWTScattering(), num_classes=10, width=4, mix={"after": 7})
    with pytest.raises(ConfigError, match="model.mix.mode='spectral' is not valid; choose one of: pointwise, channel"):
        HybridNet(DTCWTScattering(), num_classes=10, width=4, mix={"after": 1, "mode": "spectral"})


def test_the_front_ends_name_their_channels_by_scattering_order():
    """A grey image (three equal colours) gives three equal order-0 maps only if the grouping is right."""
    from scatnet.frontends import DTCWTScattering, MorletScattering

    x = torch.zeros(1, 3, 32, 32)
    x[..., 10:22, 14:18] = 1.0
    for fe, sizes in ((DTCWTScattering(), [3, 18, 18, 108]), (MorletScattering(6, 32), [3, 36, 108])):
        groups = fe.channel_groups(3)
        assert [len(g) for g in groups.values()] == sizes
        assert sorted(i for g in groups.values() for i in g) == list(range(fe.out_channels(3)))
        z = fe(x)[0, groups["order 0"]]
        assert torch.allclose(z[0], z[1]) and torch.allclose(z[0], z[2])


@pytest.mark.parametrize(
    "overrides,panels",
    [
        (
            ["frontend=dtcwt"],
            [
                "input",
                "front end: order 0",
                "front end: order 1, scale 1",
                "front end: order 1, scale 2",
                "front end: order 2",
                "after the last conv",
            ],
        ),
        (
            ["frontend=none", "model=wavepool_cnn", "model.widths=[8,8,8,8]", "model.pool=dwt_all"],
            [
                "input",
                "after pool 1 (DWTPool)",
                "after pool 2 (DWTPool)",
                "after pool 3 (DWTPool)",
                "after the last conv",
            ],
        ),
    ],
)
def test_inspect_draws_every_stage(overrides, panels, tmp_path):
    from PIL import Image

    from scatnet.cli.inspect import draw

    out = tmp_path / "inspect.png"
    assert draw([*overrides, "data=digits", "--images", "3", "--out", str(out)]) == panels
    width, height = Image.open(out).size
    assert width > height and abs(width / height - len(panels) / 3) < 0.5  # 3 rows of len(panels) panels


def test_the_inspect_input_is_the_image_as_the_dataset_holds_it(tmp_path):
    """The first panel undoes the loader's normalisation: the test images' own pixels, in their colours."""
    from scatnet.report.inspect import as_image
    from scatnet.training.builders import build, composed_config

    data = build(composed_config(["data=digits", "paths.run_dir=."]).data, device="cpu")
    data.setup("test")
    x = next(iter(data.test_dataloader()))[0][:3]
    assert x.mean().abs() < 0.5 and x.min() < 0  # what the network sees: normalised
    raw = data.test_set.images[:3].float().div(255).permute(0, 2, 3, 1)
    assert torch.allclose(as_image(x, data.mean, data.std), raw, atol=1e-5)


def _table13_as_it_was_built(scat_ch: int, width: int, tiny: bool) -> torch.nn.Sequential:
    """The Table 1.3 body as HybridNet built it before bodies were lists of blocks (the reference)."""
    from scatnet.layers import conv_bn_relu

    layers, cin = [torch.nn.BatchNorm2d(scat_ch)], scat_ch
    for cout in (2 * width, 2 * width, 4 * width, 4 * width):
        layers += conv_bn_relu(cin, cout)
        cin = cout
    if tiny:
        layers.append(torch.nn.MaxPool2d(2))
        for cout in (8 * width, 8 * width):
            layers += conv_bn_relu(cin, cout)
            cin = cout
    return torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())


@pytest.mark.parametrize("tiny", [False, True])
def test_the_table13_bodies_written_as_blocks_are_the_networks_they_were(tiny):
    from scatnet.frontends import DTCWTScattering
    from scatnet.models import HybridNet

    torch.manual_seed(0)
    net = HybridNet(DTCWTScattering(), num_classes=10, width=8, tiny=tiny)
    torch.manual_seed(0)
    ref = HybridNet(DTCWTScattering(), num_classes=10, width=8, tiny=tiny)
    ref.body = _table13_as_it_was_built(147, 8, tiny)
    torch.manual_seed(0)  # the same seed, the same initialisation order: the same weights
    ref.reset_parameters()
    torch.manual_seed(0)
    net.reset_parameters()
    a, b = net.state_dict(), ref.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(2, 3, 64 if tiny else 32, 64 if tiny else 32)
    assert torch.equal(net.eval()(x), ref.eval()(x))


@pytest.mark.slow
def test_a_body_from_the_config_builds_and_learns(tmp_path):
    body = "[{conv: 2},{pool: dwt},{conv: 4},{mix: {levels: 1, mode: channel}},{conv: 4}]"
    assert median_accuracy(["model.width=8", f"model.body={body}"], tmp_path) > 40.0  # chance: 10%; medians seen 62-65


@pytest.mark.parametrize(
    "body,message",
    [
        ([{"conv": 2}, {"norm": 1}], "model.body[1] is a 'norm' block; choose one of: conv, pool, mix"),
        ([{"conv": 2, "pool": "max"}], "model.body[0]="),
        ([{"conv": -1}], "a conv block's {conv: -1} is not valid"),
        ([{"pool": "median"}], "model.pool='median' is not valid"),
    ],
)
def test_a_bad_body_is_one_line(body, message):
    from scatnet.frontends import DTCWTScattering
    from scatnet.models import HybridNet

    with pytest.raises(ConfigError) as err:
        HybridNet(DTCWTScattering(), num_classes=10, width=4, body=body)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.slow
def test_the_inspect_command_exits_0_once_the_picture_is_written(tmp_path, cli_env):
    """The console script (``sys.exit(main())``): exit status 0 and one line naming the picture, nothing on
    stderr: a returned value would have been printed there and become exit status 1."""
    import subprocess

    from tests.conftest import script

    out = tmp_path / "l.png"
    proc = subprocess.run(
        [
            script("scatnet-inspect"),
            "frontend=learnable_c",
            "model=learnable",
            "data=digits",
            "model.width=8",
            "--images",
            "2",
            "--out",
            str(out),
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-800:]
    assert proc.stdout.strip().endswith(f"-> {out}") and out.read_bytes()[:4] == b"\x89PNG"
    bad = subprocess.run(
        [script("scatnet-inspect"), "frontend=nonexistent"], env=cli_env, capture_output=True, text=True, timeout=300
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr
    assert "frontend" in bad.stderr and "nonexistent" in bad.stderr
    assert "front end: the last order's 6 orientations" in proc.stdout  # ScatNet C's channels by kind
