"""A run's stable identity: a hash of the parts of its resolved config that change its result.

Paths, loggers, progress display, device placement, the dataset's location and the execution-only speed
options (torch.compile, channels_last, CUDA graphs: the same arithmetic, other kernels or launches, like
cudnn.benchmark) do not change what a run computes, so they are left out: the same experiment relaunched
elsewhere (or with W&B on, or compiled after a crash under compile) is the same run and resumes its
checkpoint. bf16 stays in, as the choice it resolves to on the run's device (fast.bf16=auto is bf16 on a
GPU, fp32 on the CPU: two different runs), and so does fast.tf32: both change the numbers.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import re

from omegaconf import DictConfig, OmegaConf

from scatnet.errors import ConfigError

# Top-level keys that never change the result.
IGNORED_KEYS = ("paths", "logger", "callbacks", "hydra", "progress_bar", "force", "run_name", "sweep", "run_id",
                "optimized_metric")
# Keys inside groups that never change the result.
IGNORED_NESTED = {"data": ("root", "download", "eval_batch_size", "device"),
                  "trainer": ("accelerator", "devices", "num_nodes", "enable_progress_bar", "log_every_n_steps",
                              "default_root_dir", "benchmark"),
                  "fast": ("compile", "channels_last", "cuda_graph")}


# Options whose null means "not used": a run without one is the run it was before the option existed.
ABSENT_WHEN_NULL = {"model": ("body", "mix")}
# Execution-only options that runs have always been recorded with: hashed at that one value, whatever they
# say. model.frontend_grad only decides whether autograd runs through the front end (null: exactly when it
# learns; false with a front end that learns is refused), never what the run computes.
PINNED = {"model": {"frontend_grad": False}}


def identity_dict(cfg: DictConfig) -> dict:
    from scatnet.training.builders import precision_from_config

    d = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    if isinstance(d.get("fast"), dict):
        with contextlib.suppress(ConfigError):  # an invalid value stays as given (the run is refused anyway)
            d["fast"]["bf16"] = precision_from_config(cfg).bf16
    return without_ignored(d)


def without_ignored(d: dict) -> dict:
    """A resolved config (a plain dict, e.g. from a metrics.json) without the keys that never change a result."""
    d = {k: v for k, v in d.items() if k not in IGNORED_KEYS}
    for group, keys in IGNORED_NESTED.items():
        if isinstance(d.get(group), dict):
            d[group] = {k: v for k, v in d[group].items() if k not in keys}
    if isinstance(d.get("optim"), dict):
        d["optim"] = without_recipe_classes(d["optim"])
    for group, keys in ABSENT_WHEN_NULL.items():
        if isinstance(d.get(group), dict):
            d[group] = {k: v for k, v in d[group].items() if not (k in keys and v is None)}
    for group, values in PINNED.items():
        if isinstance(d.get(group), dict):
            d[group] = {**d[group], **{k: v for k, v in values.items() if k in d[group]}}
    return d


def without_recipe_classes(optim: dict) -> dict:
    """optim without its optimizer and scheduler when they are the recipe's SGD and MultiStepLR over optim's
    own values: they then say nothing optim's values do not, and runs recorded without them (or with them)
    keep one identity. Another class, or another argument, stays in."""
    o = dict(optim)
    sgd = {"_target_": "torch.optim.SGD", "_partial_": True, "lr": o.get("lr"), "momentum": o.get("momentum"),
           "weight_decay": o.get("weight_decay"), "fused": True}
    steps = {"_target_": "torch.optim.lr_scheduler.MultiStepLR", "_partial_": True,
             "milestones": o.get("milestones"), "gamma": o.get("gamma")}
    for key, recipe in (("optimizer", sgd), ("scheduler", steps)):
        if o.get(key) == recipe:
            del o[key]
    return o


def run_id(cfg: DictConfig) -> str:
    blob = json.dumps(identity_dict(cfg), sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", str(text)).strip("_")[:80] or "run"
