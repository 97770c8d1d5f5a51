"""One precision policy: training, evaluation and the benchmark run the scattering front end in true fp32 (TF32
off), the body as fast.bf16 / fast.tf32 say; the flags are what a process-wide hook sees while each part runs."""

from __future__ import annotations

import json

import pytest
import torch

from scatnet.frontends.base import Frontend
from scatnet.precision import Precision, frontend_fp32, precision_policy, tf32_flags
from tests.conftest import compose

pytestmark = pytest.mark.numerics  # trains or compares floats

QUICK = ["experiment=quickstart", "trainer=cpu", "trainer.max_epochs=1", "model.width=4"]


class FlagsSeen:
    """What the TF32 flags were whenever a front end or the conv body started a forward."""

    def __init__(self):
        self.frontend: set[tuple] = set()
        self.body: set[tuple] = set()

    def __enter__(self):
        def hook(module, args):
            flags = tuple(tf32_flags().values())
            if isinstance(module, Frontend):
                self.frontend.add(flags)
            elif isinstance(module, torch.nn.Conv2d):
                self.body.add(flags)

        self.handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
        return self

    def __exit__(self, *exc):
        self.handle.remove()


@pytest.fixture
def tf32_on():
    """Start from torch's CUDA default for convolutions (TF32 allowed), and for matmuls too, so a policy that
    sets nothing shows."""
    with precision_policy(Precision(body_tf32=True)):
        yield


def test_training_turns_tf32_off_records_it_and_restores_the_flags(tmp_path, tf32_on):
    from scatnet.training.run import train

    with FlagsSeen() as seen:
        m = train(compose([*QUICK, "frontend=dtcwt_fast"], tmp_path / "run"))
    assert m["status"] == "completed"
    assert seen.frontend == {(False, False)} and seen.body == {(False, False)}  # training, validation, test
    p = json.loads((tmp_path / "run" / "metrics.json").read_text())["precision"]
    assert p == {
        "frontend": "fp32 (TF32 off)",
        "body": "fp32",
        "bf16": False,
        "body_tf32": False,
        "cudnn_benchmark": False,
        "cudnn_allow_tf32": False,
        "matmul_allow_tf32": False,
    }
    assert tuple(tf32_flags().values()) == (True, True)  # the caller's flags are back


def test_fast_tf32_allows_it_in_the_body_only(tmp_path):
    from scatnet.training.run import train

    before = tf32_flags()
    with FlagsSeen() as seen:
        m = train(compose([*QUICK, "frontend=dtcwt_fast", "fast.tf32=true"], tmp_path / "run"))
    assert m["status"] == "completed" and m["precision"]["body"] == "fp32, TF32 allowed"
    assert seen.frontend == {(False, False)} and seen.body == {(True, True)}
    assert tf32_flags() == before


def test_the_fast_pair_backward_runs_in_true_fp32_too(tf32_on, monkeypatch):
    """Autograd calls the backward outside the forward's block: it sets the flags itself."""
    from scatnet.frontends.fast_dtcwt import FastScatLayerPair
    from scatnet.frontends.fast_dtcwt.backward import SCATTER_BACKWARD

    seen, original = [], SCATTER_BACKWARD[2]

    def spy(*args):
        seen.append(tuple(tf32_flags().values()))
        return original(*args)

    monkeypatch.setitem(SCATTER_BACKWARD, 2, spy)
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    FastScatLayerPair("near_sym_b", strategy="separable")(x).sum().backward()
    assert seen == [(False, False)] and tuple(tf32_flags().values()) == (True, True)


def test_frontend_fp32_restores_what_it_found():
    with precision_policy(Precision(body_tf32=True)):
        with frontend_fp32():
            assert tuple(tf32_flags().values()) == (False, False)
        assert tuple(tf32_flags().values()) == (True, True)
    with precision_policy(Precision()):
        with frontend_fp32():
            assert tuple(tf32_flags().values()) == (False, False)


def test_bad_precision_options_are_one_line(tmp_path):
    from scatnet.errors import ConfigError
    from scatnet.training.run import train

    with pytest.raises(ConfigError, match="fast.tf32='yes' is not valid; choose one of: True, False"):
        train(compose([*QUICK, "fast.tf32=yes"], tmp_path / "a"))
    assert not (tmp_path / "a" / "metrics.json").exists()  # refused before anything is written
    with pytest.raises(ConfigError, match="fast.bf16='maybe' is not valid"):
        train(compose([*QUICK, "fast.bf16=maybe"], tmp_path / "b"))


def test_the_bench_measures_in_the_training_regime_whichever_entry_point(tmp_path, tf32_on):
    """run() (not only main()) sets training's policy, records it per device, and the reference check of a
    front end called on its own computes in fp32 whatever the flags."""
    from scatnet.bench.cases import all_cases, check_against_reference
    from scatnet.cli.bench import new_result, parse, run

    args = parse(
        [
            "--device",
            "cpu",
            "--only",
            "type B",
            "--thesis-size",
            "16",
            "--thesis-batch",
            "1",
            "--train-size",
            "16",
            "--train-batch",
            "2",
            "--repeats",
            "1",
            "--warmup",
            "0",
            "--width",
            "4",
            "--no-training",
            "--out",
            str(tmp_path),
        ]
    )
    with FlagsSeen() as seen:
        result = run(args, new_result(args))
    assert result["status"] == "completed" and seen.frontend == {(False, False)}
    assert result["settings"]["per_device"]["cpu"]["precision"] == Precision.for_device(False).record()
    assert tuple(tf32_flags().values()) == (True, True)
    case = next(c for c in all_cases() if "type B" in c.name and "[scatnet fast]" in c.name)
    with FlagsSeen() as seen:
        assert check_against_reference(case, case.build(16), torch.randn(1, 3, 16, 16)) < 1e-5
    assert seen.frontend == {(False, False)}


def test_the_policy_follows_the_device_and_options():
    assert Precision.for_device(True) == Precision(bf16=True, body_tf32=False, cudnn_benchmark=True)
    assert Precision.for_device(False).bf16 is False
    assert Precision.for_device(True, bf16=False, tf32=True).record()["body"] == "fp32, TF32 allowed"
    record = Precision.for_device(True).record()
    assert record["body"] == "bf16 autocast" and not record["cudnn_allow_tf32"] and not record["matmul_allow_tf32"]


def test_lightnings_tf32_tip_is_not_shown(caplog):
    """On a tensor-core GPU Lightning advises turning TF32 on for matmuls; scatnet keeps it off on purpose."""
    import logging

    import pytorch_lightning  # noqa: F401 - its rank-zero logger is the one the tip goes through
    from lightning_fabric.utilities.rank_zero import rank_zero_info

    from scatnet.cli.common import quiet_upstream_warnings

    quiet_upstream_warnings()
    with caplog.at_level(logging.INFO):
        rank_zero_info(
            "You are using a CUDA device that has Tensor Cores. To properly utilize them, you should "
            "set `torch.set_float32_matmul_precision('medium' | 'high')`"
        )
        rank_zero_info("GPU available: True")
    assert [r.getMessage() for r in caplog.records] == ["GPU available: True"]
