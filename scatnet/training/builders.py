"""Turn the composed config into objects, unwrapping Hydra's instantiate errors into scatnet's one-liners."""
from __future__ import annotations

from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from scatnet.errors import ConfigError, ScatnetError, check_choice


def build(node: DictConfig, **kwargs) -> Any:
    """``hydra.utils.instantiate`` that re-raises a ScatnetError from the target as itself (Hydra wraps it)."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as e:
        cause = e.__cause__
        while cause is not None and not isinstance(cause, ScatnetError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        raise


def build_loggers(cfg: DictConfig) -> list:
    node = cfg.get("logger") or {}
    return [build(conf) for _, conf in node.items() if conf is not None and "_target_" in conf]


def resolve_auto(value, device_is_cuda: bool) -> bool:
    return device_is_cuda if value in ("auto", None) else bool(value)


def cuda_will_be_used(cfg: DictConfig) -> bool:
    acc = str(cfg.trainer.get("accelerator", "auto"))
    return acc in ("gpu", "cuda") or (acc == "auto" and torch.cuda.is_available())


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


def compile_option(value) -> bool | str:
    """fast.compile: false | true | a torch.compile mode ("reduce-overhead" adds CUDA-graph capture)."""
    if value in (None, False, "false", "off"):
        return False
    if value is True or value == "true":
        return "default"
    check_choice("fast.compile", value, (False, True, *COMPILE_MODES))
    return value


FP32_PRECISIONS = ("32-true", "32")


def precision_option(value) -> None:
    """trainer.precision stays fp32: Lightning's mixed precision would autocast the scattering front end too,
    and its fp32 numerics are the study's subject. bf16 for the conv body alone is fast.bf16."""
    if str(value) not in FP32_PRECISIONS:
        raise ConfigError(f"trainer.precision={value} would run the scattering front end in reduced precision "
                          "too; leave trainer.precision=32-true and use fast.bf16=true (bf16 autocast for the "
                          "conv body only)")


def cuda_graph_option(value, compile: bool | str, on_cuda: bool, frontend=None) -> bool:
    """fast.cuda_graph: true captures the eager training forward/backward in CUDA graphs (HybridNet.
    capture_cuda_graph). An alternative to fast.compile, whose reduce-overhead mode records its own graphs.
    Checked here, before training starts, so a run that cannot capture fails at once."""
    check_choice("fast.cuda_graph", value, (False, True))
    if not value:
        return False
    if compile:
        raise ConfigError(f"fast.cuda_graph=true and fast.compile={compile} are alternatives; for compiled code "
                          "with CUDA graphs use fast.compile=reduce-overhead and fast.cuda_graph=false")
    if frontend is not None:
        from scatnet.models.hybrid import check_graph_capturable

        check_graph_capturable(frontend)
    if not on_cuda:
        raise ConfigError("fast.cuda_graph=true needs a CUDA device (trainer=gpu); leave it false on the CPU")
    return True
