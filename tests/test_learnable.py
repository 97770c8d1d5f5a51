"""The Learnable ScatterNet (frontend=learnable_a..d): each of the paper's four networks built from its preset,
its gradients through scatnet's fast ScatLayers against autograd through pytorch_wavelets' own, bf16 autocast of
the learned stages around an fp32 scattering, torch.compile as one graph, and each learning the digits set."""

from __future__ import annotations

import pytest
import torch

from scatnet.errors import ConfigError
from scatnet.frontends import LearnableScatterNet
from scatnet.frontends.learnable import ScatterOrder
from scatnet.models import HybridNet
from tests.conftest import compose

pytestmark = pytest.mark.numerics  # trains or compares floats

VARIANTS = "abcd"


def _net(variant: str, tmp_path, *overrides: str):
    from scatnet.training.builders import build_module

    cfg = compose([f"experiment=learnable_{variant}_cifar10", *overrides], tmp_path)
    return build_module(cfg).net


def _trainable(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _bn(c: int) -> int:
    return 2 * c


# The paper code's front ends (experiments/scat_exps.py), counted by hand: a 3x3 conv 3 -> 16 without bias and its
# BatchNorm; a mixing 7C -> F with bias; a BatchNorm + ReLU after each order.
FRONT_END_PARAMETERS = {
    "a": _bn(21) + _bn(147),
    "b": (21 * 21 + 21) + _bn(21) + (147 * 147 + 147) + _bn(147),
    "c": (3 * 16 * 9 + _bn(16)) + _bn(112) + _bn(784),
    "d": (3 * 16 * 9 + _bn(16)) + (112 * 112 + 112) + _bn(112) + (784 * 784 + 784) + _bn(784),
}
CHANNELS = {"a": 147, "b": 147, "c": 784, "d": 784}


def _body_parameters(scat_ch: int, width: int = 96, classes: int = 10) -> int:
    """The shared body: 3x3 convs (no bias) at 2C, 2C, 4C, 4C with BatchNorm, then fc; no BatchNorm before it."""
    widths = [scat_ch, 2 * width, 2 * width, 4 * width, 4 * width]
    convs = sum(9 * a * b + _bn(b) for a, b in zip(widths, widths[1:]))
    return convs + 4 * width * classes + classes


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_variant_builds_from_its_preset_with_the_papers_shape(variant, tmp_path):
    net = _net(variant, tmp_path)
    fe = net.frontend
    assert isinstance(fe, LearnableScatterNet) and fe.name == f"learnable_{variant}" and fe.impl == "fast"
    assert _trainable(fe) == FRONT_END_PARAMETERS[variant]
    assert _trainable(net) == FRONT_END_PARAMETERS[variant] + _body_parameters(CHANNELS[variant])
    assert fe.out_shape((3, 32, 32)) == (CHANNELS[variant], 8, 8)
    assert sum(isinstance(m, torch.nn.Dropout) and m.p == 0.3 for m in net.body) == 4
    assert isinstance(net.body[0], torch.nn.Conv2d)  # the front end ends in BatchNorm + ReLU: none added
    assert net.frontend_grad  # model.frontend_grad null follows the front end: every variant learns in it
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    groups = fe.channel_groups()  # what scatnet-inspect draws: every channel once
    assert sorted(sum(groups.values(), [])) == list(range(CHANNELS[variant]))
    assert len(groups) == (1 if variant in "bd" else 2)  # mixed channels, or an order's low-pass and bands


def test_the_preset_takes_the_papers_recipe_and_initialisation(tmp_path):
    from scatnet.training.builders import build_module

    module = build_module(compose(["experiment=learnable_d_cifar100"], tmp_path))
    opt = module.configure_optimizers()["optimizer"]
    assert (opt.defaults["lr"], opt.defaults["momentum"], opt.defaults["weight_decay"]) == (0.5, 0.85, 1e-4)
    assert module.net.fc.out_features == 100
    mix = module.net.frontend.stages[2].mix
    bound = 1.5 * (6 / (784 + 784)) ** 0.5  # xavier-uniform with the code's gain 1.5
    assert mix.weight.abs().max() <= bound and mix.weight.abs().max() > 0.9 * bound and not mix.bias.any()


def test_on_tiny_imagenet_the_preset_takes_the_codes_weight_decay_and_schedule(tmp_path):
    from scatnet.training.builders import build_module

    module = build_module(compose(["experiment=learnable_b_tiny_imagenet"], tmp_path))
    optim = module.configure_optimizers()
    opt, sched = optim["optimizer"], optim["lr_scheduler"]["scheduler"]
    assert (opt.defaults["lr"], opt.defaults["momentum"], opt.defaults["weight_decay"]) == (0.5, 0.85, 8e-5)
    assert sorted(sched.milestones) == [18, 30, 40] and sched.gamma == 0.2


def test_each_order_mixes_then_normalises_then_rectifies():
    """mix (1x1 conv with bias) -> BatchNorm -> ReLU, no ReLU inside (the paper's code)."""
    torch.manual_seed(0)
    order = LearnableScatterNet([{"scat": {"mix": 21}}, {"scat": {}}]).stages[0]
    x = torch.randn(2, 3, 16, 16)
    z = order.scat(x)
    assert torch.equal(order(x), torch.relu(order.norm(order.mix(z))))


def test_each_preset_counts_the_parameters_of_the_papers_table3(tmp_path):
    """CIFAR-10, trainable parameters against Table 3's millions: within 0.05M, except where published.py says
    why (B: the table's 2.7M is not what its own architecture and multiplies give)."""
    from scatnet.report.published import LEARNABLE_PARAMS_NOTES, LEARNABLE_TABLE3_ARCH

    counts = {v: _trainable(_net(v, tmp_path)) for v in VARIANTS}
    for v, count in counts.items():
        table = LEARNABLE_TABLE3_ARCH[f"learnable_{v}"]["params_m"]
        assert (abs(count / 1e6 - table) <= 0.05) != (f"learnable_{v}" in LEARNABLE_PARAMS_NOTES), (v, count)
    # B's documented reason: B is A plus 1x1 mixings of 21 and 147 channels with bias, nothing more
    assert counts["b"] - counts["a"] == (21 * 21 + 21) + (147 * 147 + 147)
    assert f"{counts['b'] / 1e6:.2f}M" in LEARNABLE_PARAMS_NOTES["learnable_b"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_tiny_imagenet_presets_build_and_take_a_training_step(variant, tmp_path):
    """The paper's Tiny ImageNet networks: the CIFAR body, a max pool and two 8C convs (768), 200 classes."""
    from scatnet.training.builders import build_module

    module = build_module(compose([f"experiment=learnable_{variant}_tiny_imagenet"], tmp_path))
    net = module.net
    assert net.fc.in_features == 768 and net.fc.out_features == 200
    assert sum(isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3) for m in net.body.modules()) == 6
    opt = module.configure_optimizers()["optimizer"]
    before = [p.detach().clone() for p in net.parameters()]
    x, y = torch.randn(2, 3, 64, 64), torch.tensor([3, 199])
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and all(torch.isfinite(p).all() for p in net.parameters())
    assert sum(not torch.equal(a, b) for a, b in zip(before, net.parameters())) > 10


def _pair_of_front_ends(stages, dtype):
    """The same front end on scatnet's ScatLayers and on pytorch_wavelets', with the same weights."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # each ScatLayer builds its filters in the default dtype
    try:
        torch.manual_seed(0)
        fast = LearnableScatterNet(stages, impl="fast")
        ref = LearnableScatterNet(stages, impl="reference")
    finally:
        torch.set_default_dtype(default)
    trained = {k: v for k, v in fast.state_dict().items()}
    missing, unexpected = ref.load_state_dict(trained, strict=False)
    assert not unexpected and all(".scat." in k for k in missing)  # only pytorch_wavelets' filters
    return fast, ref


def _stage_scale(grads: dict, name: str) -> float:
    """The largest gradient entry of the stage ``name`` belongs to: the scale its errors are measured on (a
    mixing bias before its BatchNorm has a zero gradient in exact arithmetic, rounding error only)."""
    stage = name.split(".")[1]
    return max(float(v.abs().max()) for n, v in grads.items() if n.split(".")[1] == stage)


def _gradients(fe, x, g):
    fe.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    y = fe(x)
    (y * g).sum().backward()
    return y.detach(), x.grad, {n: p.grad for n, p in fe.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_gradient_equals_autograd_through_pytorch_wavelets_in_float64(variant, tmp_path):
    """Forward, input gradient and every weight's gradient (the learned stages before and between the orders
    train through the scattering's backward), at an odd batch and a non-square size."""
    stages = compose([f"frontend=learnable_{variant}"], tmp_path).frontend.stages
    fast, ref = _pair_of_front_ends(list(stages), torch.float64)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 3, 16, 20, generator=gen, dtype=torch.float64)
    g = torch.randn(3, CHANNELS[variant], 4, 5, generator=gen, dtype=torch.float64)
    (y, gx, gp), (y_ref, gx_ref, gp_ref) = _gradients(fast, x, g), _gradients(ref, x, g)
    assert (y - y_ref).abs().max() <= 1e-10
    assert (gx - gx_ref).abs().max() <= 1e-10 * gx_ref.abs().max()
    assert gp.keys() == gp_ref.keys() and len(gp) >= 4
    for name in gp:
        assert (gp[name] - gp_ref[name]).abs().max() <= 1e-10 * _stage_scale(gp_ref, name), name


FP32_EPS = torch.finfo(torch.float32).eps


def test_in_fp32_the_gradients_agree_to_what_fp32_allows(tmp_path):
    """ScatNet D (every kind of stage) in fp32 with the float64 network's weights, both implementations against the
    float64 truth. Each error is relative to the largest entry of its stage's gradients (a mixing bias before its
    BatchNorm has a zero gradient in exact arithmetic: its scale is the stage's). The bound is 4x
    pytorch_wavelets' own fp32 error on the same input and machine, and never below 64 fp32 epsilons (7.6e-6):
    each value is a chain of two DTCWT levels and sums of up to 784 terms, whose rounding is a few tens of eps
    (seen: 6 to 19 eps with PyTorch's AVX-512, AVX2 and default CPU kernels, both implementations)."""
    stages = list(compose(["frontend=learnable_d"], tmp_path).frontend.stages)
    truth, _ = _pair_of_front_ends(stages, torch.float64)
    fast, ref = _pair_of_front_ends(stages, torch.float32)
    weights = {k: v.float() for k, v in truth.state_dict().items()}  # the same weights, rounded to fp32
    for fe in (fast, ref):
        fe.load_state_dict(weights, strict=False)
    assert torch.equal(fast.stages[2].mix.weight, truth.stages[2].mix.weight.float())
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(3, 3, 16, 20, generator=gen, dtype=torch.float64)
    g = torch.randn(3, 784, 4, 5, generator=gen, dtype=torch.float64)
    y64, gx64, gp64 = _gradients(truth, x, g)
    y, gx, gp = _gradients(fast, x.float(), g.float())
    y_ref, gx_ref, gp_ref = _gradients(ref, x.float(), g.float())

    def rel(a, b, scale=None):
        return float((a.double() - b).abs().max() / (b.abs().max() if scale is None else scale))

    def bound(ref_error):
        return max(4 * ref_error, 64 * FP32_EPS)

    assert rel(y, y64) <= bound(rel(y_ref, y64))
    assert rel(gx, gx64) <= bound(rel(gx_ref, gx64))
    for name in gp64:
        scale = _stage_scale(gp64, name)
        error, ref_error = rel(gp[name], gp64[name], scale), rel(gp_ref[name], gp64[name], scale)
        assert error <= bound(ref_error), (name, error, ref_error)


def test_a_learned_stage_before_the_scattering_trains(tmp_path):
    net = _net("c", tmp_path, "model.width=8")
    conv = net.frontend.stages[0][0]
    net(torch.randn(4, 3, 32, 32)).logsumexp(1).mean().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


def test_under_bf16_autocast_the_learned_stages_run_in_bf16_and_the_scattering_in_fp32(tmp_path):
    net = _net("d", tmp_path, "model.width=8")
    net.configure_speed(bf16=True)
    seen = {}
    for name, m in net.frontend.named_modules():
        if isinstance(m, ScatterOrder):
            m.scat.register_forward_hook(lambda mod, i, o, name=name: seen.update({name: (i[0].dtype, o.dtype)}))
            m.mix.register_forward_hook(lambda mod, i, o, name=name: seen.update({name + ".mix": o.dtype}))
    net(torch.randn(4, 3, 32, 32)).logsumexp(1).mean().backward()
    assert seen == {
        "stages.1": (torch.float32, torch.float32),
        "stages.1.mix": torch.bfloat16,
        "stages.2": (torch.float32, torch.float32),
        "stages.2.mix": torch.bfloat16,
    }
    grads = [p.grad for p in net.frontend.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads) and grads[0].abs().sum() > 0


def test_the_fast_front_end_compiles_as_one_graph_with_its_gradient():
    fe = LearnableScatterNet([{"conv": 4}, {"scat": {"mix": 28}}, {"scat": {"mix": 196}}])
    x = torch.randn(2, 3, 32, 32)
    explained = torch._dynamo.explain(fe)(x)
    assert explained.graph_count == 1 and explained.graph_break_count == 0, explained.break_reasons
    eager = _gradients(fe, x, torch.ones(2, 196, 8, 8))[2]
    fe.compile()  # in place: the same parameters
    compiled = _gradients(fe, x, torch.ones(2, 196, 8, 8))[2]
    for name in eager:
        assert torch.allclose(compiled[name], eager[name], rtol=1e-3, atol=1e-4 * _stage_scale(eager, name)), name


def test_frontend_grad_false_is_refused_only_for_a_front_end_that_learns():
    from scatnet.frontends import DTCWTScattering

    with pytest.raises(
        ConfigError,
        match=r"^model.frontend_grad=false, but frontend=learnable has learned stages "
        r"\(mix, norm\): without autograd through the front end they would never train",
    ):
        HybridNet(LearnableScatterNet([{"scat": {"mix": 21}}, {"scat": {}}]), 10, frontend_grad=False)
    fixed = LearnableScatterNet([{"scat": {"norm": False}}, {"scat": {"norm": False}}])
    assert not fixed.learnable and not HybridNet(fixed, 10, frontend_grad=False).frontend_grad
    assert not HybridNet(fixed, 10).frontend_grad  # null: nothing to train, no autograd
    x = torch.randn(2, 3, 16, 16)
    assert torch.allclose(fixed(x), DTCWTScattering(impl="fast")(x), atol=1e-6)  # no stage: the fixed pair


@pytest.mark.parametrize(
    "stages,needle",
    [
        ([], "frontend.stages=[] is not a list of stages"),
        ([{"conv": 0}, {"scat": {}}], "frontend.stages[0].conv=0 is not valid; give a number of channels >= 1"),
        ([{"pool": 2}, {"scat": {}}], "frontend.stages[0] is a 'pool' stage; choose conv or scat"),
        ([{"scat": {"mix": -3}}], "frontend.stages[0].scat.mix=-3 is not valid"),
    ],
)
def test_bad_stages_are_one_line(stages, needle):
    with pytest.raises(ConfigError) as e:
        LearnableScatterNet(stages)
    assert needle in str(e.value) and "\n" not in str(e.value)


SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def digits_accuracy(tmp_path_factory):
    """Each variant trained briefly on the digits set from its preset (the paper's front end, recipe and dropout;
    a narrower body, smaller batches for more steps in 3 epochs), three seeds: test accuracy % per variant and
    seed. One run depends on the CPU's rounding (the same seed differs by up to 20 points between PyTorch's
    AVX-512, AVX2 and default kernels), so the tests assert what holds over the seeds, not one trajectory.
    Seen over seeds 0-2 with each of those kernels: A 78-93, B 67-95, C 75-98, D 83-98; the medians of three
    A 79-86, B 80-92, C 93-94, D 89-95."""
    from scatnet.training.run import train

    acc = {}
    for v in VARIANTS:
        for seed in SEEDS:
            cfg = compose(
                [
                    f"experiment=learnable_{v}_cifar10",
                    "data=digits",
                    "model.width=32",
                    "trainer.max_epochs=3",
                    "data.batch_size=32",
                    "logger=none",
                    f"seed={seed}",
                ],
                tmp_path_factory.mktemp(f"{v}{seed}"),
            )
            m = train(cfg)
            assert m["status"] == "completed"
            acc.setdefault(v, []).append(m["test_acc"])
    return acc


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_each_variant_learns_digits(variant, digits_accuracy):
    import statistics

    # chance is 10%; the lowest median of three seen is 79
    assert statistics.median(digits_accuracy[variant]) > 60.0, digits_accuracy


@pytest.mark.slow
def test_learned_mixing_at_least_matches_the_fixed_scatternet_on_digits(digits_accuracy):
    """B and D (the orders mixed by learned 1x1 convs) against A (the fixed pair with BatchNorm), over every
    seed: seen 3 to 7 points above A with each CPU kernel set; the margin is about three standard deviations of
    the difference of these means (one run's spread is ~7 points)."""
    import statistics

    mixed = statistics.mean(digits_accuracy["b"] + digits_accuracy["d"])
    assert mixed >= statistics.mean(digits_accuracy["a"]) - 10.0, digits_accuracy
