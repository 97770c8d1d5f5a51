"""Turn the composed config into objects, unwrapping Hydra's instantiate errors into scatnet's one-liners."""

from __future__ import annotations

from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from scatnet.errors import ConfigError, ScatnetError, check_choice
from scatnet.precision import Precision
from scatnet.training.module import HybridClassifier


def build(node: DictConfig, **kwargs) -> Any:
    """``hydra.utils.instantiate`` that re-raises a ScatnetError from the target as itself (Hydra wraps it).
    ``kwargs`` (objects made here: a front end, callbacks, loggers) go to the target as they are: instantiated
    through Hydra, a list of them reaches it as a ListConfig in Hydra 1.3.2 (Lightning then takes the whole
    list for one plugin)."""
    try:
        if kwargs:
            return instantiate(node, _partial_=True)(**kwargs)
        return instantiate(node)
    except InstantiationException as e:
        cause = e.__cause__
        while cause is not None and not isinstance(cause, ScatnetError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        raise


def composed_config(overrides: list[str] = ()) -> DictConfig:
    """configs/train.yaml composed with ``overrides`` outside a Hydra run (scripts, tests): what
    ``scatnet-train`` would run, without its output folder."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    from scatnet.config_files import config_dir

    try:
        with initialize_config_dir(version_base="1.3", config_dir=config_dir()):
            return compose("train", overrides=list(overrides))
    except HydraException as e:  # an unknown option or a malformed override: Hydra's message, on one line
        raise ConfigError(" ".join(str(e).split("Config search path")[0].split())) from None


def optimizer_factories(cfg: DictConfig) -> dict[str, Any]:
    """The module's ``optimizer=`` and ``scheduler=`` from the optim config (``_partial_`` targets)."""
    return {"optimizer": build(cfg.optim.optimizer), "scheduler": build(cfg.optim.scheduler)}


def build_loggers(cfg: DictConfig) -> list:
    node = cfg.get("logger") or {}
    return [build(conf) for _, conf in node.items() if conf is not None and "_target_" in conf]


def resolve_auto(value, device_is_cuda: bool) -> bool:
    return device_is_cuda if value in ("auto", None) else bool(value)


def cuda_will_be_used(cfg: DictConfig) -> bool:
    acc = str(cfg.trainer.get("accelerator", "auto"))
    return acc in ("gpu", "cuda") or (acc == "auto" and torch.cuda.is_available())


def precision_from_config(cfg: DictConfig) -> Precision:
    """The run's precision policy (scatnet/precision.py) from fast.bf16, fast.tf32 and trainer.benchmark."""
    fast = cfg.get("fast", {}) or {}
    return Precision.for_device(
        cuda_will_be_used(cfg),
        bf16=fast.get("bf16", "auto"),
        tf32=fast.get("tf32", False),
        cudnn_benchmark=bool(cfg.trainer.get("benchmark") or False),
    )


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
        raise ConfigError(
            f"trainer.precision={value} would run the scattering front end in reduced precision "
            "too; leave trainer.precision=32-true and use fast.bf16=true (bf16 autocast for the "
            "conv body only)"
        )


def cuda_graph_option(value, compile: bool | str, on_cuda: bool, frontend=None, trainer=None) -> bool:
    """fast.cuda_graph: true captures the eager training forward/backward in CUDA graphs (HybridNet.
    capture_cuda_graph). An alternative to fast.compile, whose reduce-overhead mode records its own graphs.
    Checked here, before training starts, so a run that cannot capture fails at once."""
    check_choice("fast.cuda_graph", value, (False, True))
    if not value:
        return False
    if compile:
        raise ConfigError(
            f"fast.cuda_graph=true and fast.compile={compile} are alternatives; for compiled code "
            "with CUDA graphs use fast.compile=reduce-overhead and fast.cuda_graph=false"
        )
    if frontend is not None:
        from scatnet.models.network import check_graph_capturable

        check_graph_capturable(frontend)
    if not on_cuda:
        raise ConfigError("fast.cuda_graph=true needs a CUDA device (trainer=gpu); leave it false on the CPU")
    if trainer is not None:
        check_graph_trainer(trainer)
    return True


def check_graph_trainer(trainer: DictConfig) -> None:
    """What the graphed forward/backward cannot do. Its gradients are the graph's static output buffers
    (pytorch#181723): a second backward before zero_grad overwrites the first instead of adding to it."""
    accumulate = trainer.get("accumulate_grad_batches", 1)
    if accumulate not in (None, 1, "1"):
        raise ConfigError(
            f"fast.cuda_graph=true cannot accumulate gradients (trainer.accumulate_grad_batches="
            f"{accumulate}): each graph replay overwrites the last one's gradients; use "
            "trainer.accumulate_grad_batches=1 (a larger data.batch_size) or fast.cuda_graph=false"
        )
    if trainer.get("detect_anomaly"):
        raise ConfigError(
            "fast.cuda_graph=true cannot run under trainer.detect_anomaly=true (anomaly checks read "
            "values on the host, which a CUDA graph cannot record); set one of them false"
        )
    if processes_per_run(trainer) > 1:
        raise ConfigError(
            "fast.cuda_graph runs on one GPU only (DDP needs its own capture rules); "
            "use trainer.devices=1 or leave fast.cuda_graph false"
        )


def processes_per_run(trainer: DictConfig) -> int:
    """How many processes Lightning runs for one run: devices (x nodes)."""
    devices, nodes = trainer.get("devices", 1), int(trainer.get("num_nodes", 1) or 1)
    if isinstance(devices, str) and "," in devices:  # "0,1": a list of device ids, as Lightning reads it
        devices = [d for d in devices.split(",") if d.strip()]
    if isinstance(devices, (list, tuple, ListConfig)):
        n = len(devices)
    elif devices in (-1, "-1", "auto"):
        acc = str(trainer.get("accelerator", "auto"))
        n = torch.cuda.device_count() if acc in ("gpu", "cuda", "auto") else 1
    else:
        n = int(devices)
    return max(n, 1) * nodes


def check_launch(cfg: DictConfig) -> None:
    """A run of several processes inside a Hydra multirun (-m) is refused: Lightning starts each extra rank by
    re-running the command line (sys.argv), so every rank would run the whole sweep. Processes started by the
    cluster (SLURM tasks, torchrun) are fine: each runs its own job, when srun's layout matches the trainer's."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from pytorch_lightning.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    from scatnet.training.slurm import check_srun_layout

    nodes = int(cfg.trainer.get("num_nodes", 1) or 1)
    check_srun_layout(cfg, processes_per_run(cfg.trainer) // nodes)
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return
    n = processes_per_run(cfg.trainer)
    if n > 1 and not (SLURMEnvironment.detect() or TorchElasticEnvironment.detect()):
        raise ConfigError(
            f"a run over {n} processes (trainer=ddp / trainer.devices={cfg.trainer.get('devices')}) "
            "cannot run inside a Hydra multirun (-m): Lightning re-launches each rank with the whole "
            "command line, so every rank would run the whole sweep. Launch one DDP run per job "
            "instead (hydra/launcher=slurm with hydra.launcher.tasks_per_node and gpus_per_node = "
            "GPUs per run), or run the sweep with trainer.devices=1"
        )


def trainer_overrides(cfg: DictConfig) -> dict:
    """Trainer arguments scatnet decides. Evaluation under inference_mode is off when compiled code records
    CUDA graphs (fast.compile reduce-overhead / max-autotune on a GPU): graphs first recorded under inference
    mode make later training captures fail (torch.compile's cudagraph trees)."""
    mode = compile_option((cfg.get("fast", {}) or {}).get("compile", False))
    if mode in ("reduce-overhead", "max-autotune") and cuda_will_be_used(cfg):
        return {"inference_mode": False}
    return {}


def check_speed_and_size(cfg: DictConfig, frontend) -> None:
    """What build_module checks, checked before any file is written: the trainer's precision, the speed
    options (compile, CUDA graphs) and an image size the front end can take."""
    precision_option(cfg.trainer.get("precision", "32-true"))
    fast = cfg.get("fast", {}) or {}
    compile = compile_option(fast.get("compile", False))
    cuda_graph_option(fast.get("cuda_graph", False), compile, cuda_will_be_used(cfg), frontend, cfg.trainer)
    size = int(cfg.data.image_size)
    frontend.out_shape((int(cfg.data.in_channels), size, size))


def build_module(cfg: DictConfig, precision: Precision | None = None, frontend=None) -> HybridClassifier:
    """The LightningModule a run trains (its network around its front end, its optimizer and schedule, its
    speed options), from the composed config alone: training, scatnet-eval and scatnet-inspect build it here.
    ``precision``: resolved already (else from the config); ``frontend``: the one train() built (and so
    checked) already, else built here."""
    on_cuda = cuda_will_be_used(cfg)
    precision = precision or precision_from_config(cfg)
    precision_option(cfg.trainer.get("precision", "32-true"))
    frontend = frontend if frontend is not None else build(cfg.frontend)
    size = int(cfg.data.image_size)
    frontend.out_shape((int(cfg.data.in_channels), size, size))  # image side not divisible by 4: fail now
    net = build(cfg.model, frontend=frontend, num_classes=cfg.data.num_classes, in_channels=cfg.data.in_channels)
    fast = cfg.get("fast", {}) or {}
    compile = compile_option(fast.get("compile", False))
    cuda_graph = cuda_graph_option(fast.get("cuda_graph", False), compile, on_cuda, frontend, cfg.trainer)
    net.configure_speed(
        channels_last=resolve_auto(fast.get("channels_last"), on_cuda), bf16=precision.bf16, compile=compile
    )
    return HybridClassifier(
        net,
        num_classes=cfg.data.num_classes,
        **optimizer_factories(cfg),
        cuda_graph=cuda_graph,
        config=OmegaConf.to_container(cfg, resolve=True),
    )
