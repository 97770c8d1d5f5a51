"""A run's stable identity: a hash of the parts of its resolved config that change its result.

Paths, loggers, progress display, device placement, the dataset's location (data.root, data.download and
the source's copies of them, so moving the data keeps every run) and the execution-only speed options
(torch.compile, channels_last, CUDA graphs: the same arithmetic, other kernels or launches, like
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
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from scatnet.errors import ConfigError

# Top-level keys that never change the result.
IGNORED_KEYS = ("paths", "logger", "hydra", "progress_bar", "force", "run_name", "sweep", "run_id", "optimized_metric")
# Callbacks that only show or record (the others, e.g. early stopping, change what a run computes and are in).
DISPLAY_CALLBACKS = (
    "LearningRateMonitor",
    "RichProgressBar",
    "TQDMProgressBar",
    "ModelSummary",
    "RichModelSummary",
    "DeviceStatsMonitor",
)
# Keys inside groups that never change the result.
IGNORED_NESTED = {
    "data": ("root", "download", "eval_batch_size", "device"),
    "data.source": ("root", "download"),
    "trainer": (
        "accelerator",
        "devices",
        "num_nodes",
        "enable_progress_bar",
        "log_every_n_steps",
        "default_root_dir",
        "benchmark",
    ),
    "fast": ("compile", "channels_last", "cuda_graph"),
}


# Options whose null means "not used": a run without one is the run it was before the option existed.
ABSENT_WHEN_NULL = {"model": ("body", "mix")}
# Execution-only options that runs have always been recorded with: hashed at that one value, whatever they
# say. model.frontend_grad only decides whether autograd runs through the front end (null: exactly when it
# learns; false with a front end that learns is refused), never what the run computes.
PINNED = {"model": {"frontend_grad": False}}


def identity_dict(cfg: DictConfig, previous: bool = False, bf16: bool | None = None) -> dict:
    """The resolved config less what never changes a result. ``previous``: as the previous identity had it (the
    source's copies of the data's location in, every callback out), whose folders stable_run_dir still finds
    so that no finished run is trained again after an upgrade. ``bf16``: fast.bf16 as the run resolved it
    (else resolved here from the config)."""
    from scatnet.training.builders import precision_from_config

    d = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    if isinstance(d.get("fast"), dict):
        if bf16 is not None:
            d["fast"]["bf16"] = bf16
        else:
            with contextlib.suppress(ConfigError):  # an invalid value stays as given (the run is refused anyway)
                d["fast"]["bf16"] = precision_from_config(cfg).bf16
    return without_ignored(d, previous)


def _without(d: dict, path: str, keys: tuple) -> dict:
    """d without ``keys`` in the dict at the dotted ``path`` (a copy; d itself is left alone)."""
    head, _, rest = path.partition(".")
    if not isinstance(d.get(head), dict):
        return d
    inner = _without(d[head], rest, keys) if rest else {k: v for k, v in d[head].items() if k not in keys}
    return {**d, head: inner}


def without_ignored(d: dict, previous: bool = False) -> dict:
    """A resolved config (a plain dict, e.g. from a metrics.json) without the keys that never change a result
    (``previous``: as the previous identity had it)."""
    d = {k: v for k, v in d.items() if k not in IGNORED_KEYS}
    callbacks = {
        name: node
        for name, node in (d.pop("callbacks", None) or {}).items()
        if isinstance(node, dict) and str(node.get("_target_", "")).rsplit(".", 1)[-1] not in DISPLAY_CALLBACKS
    }
    if callbacks and not previous:  # absent when none changes the result: earlier runs keep their identity
        d["callbacks"] = callbacks
    for path, keys in IGNORED_NESTED.items():
        if not (previous and path == "data.source"):
            d = _without(d, path, keys)
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
    sgd = {
        "_target_": "torch.optim.SGD",
        "_partial_": True,
        "lr": o.get("lr"),
        "momentum": o.get("momentum"),
        "weight_decay": o.get("weight_decay"),
        "fused": True,
    }
    steps = {
        "_target_": "torch.optim.lr_scheduler.MultiStepLR",
        "_partial_": True,
        "milestones": o.get("milestones"),
        "gamma": o.get("gamma"),
    }
    for key, recipe in (("optimizer", sgd), ("scheduler", steps)):
        if o.get(key) == recipe:
            del o[key]
    return o


def run_id(cfg: DictConfig, previous: bool = False, bf16: bool | None = None) -> str:
    """The identity's hash (``previous``: as the previous identity made it; ``bf16``: as identity_dict)."""
    blob = json.dumps(identity_dict(cfg, previous, bf16), sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def stable_run_dir(runs_dir: Path, cfg: DictConfig, bf16: bool | None = None) -> tuple[Path, str]:
    """(the run's folder under ``runs_dir``, its id): ``<run_name>-<id>``, or a folder of the same run made
    earlier under another name (``*-<id>``: a sweep launched with other location options in its name) or by
    the previous identity (``*-<previous id>``: renamed to the current name, unless a live process holds it)."""
    from scatnet.training.lock import RunLock

    rid = run_id(cfg, bf16=bf16)
    wanted = Path(runs_dir) / f"{slug(cfg.run_name)}-{rid}"
    if wanted.exists() or not Path(runs_dir).is_dir():
        return wanted, rid
    same = sorted(Path(runs_dir).glob(f"*-{rid}"))
    if same:
        return same[0], rid
    old_id = run_id(cfg, previous=True, bf16=bf16)
    older = sorted(Path(runs_dir).glob(f"*-{old_id}")) if old_id != rid else []
    if older and not RunLock(older[0]).is_held():
        try:
            older[0].rename(wanted)
            return wanted, rid
        except OSError:
            pass
    return (older[0], old_id) if older else (wanted, rid)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", str(text)).strip("_")[:80] or "run"
