"""Every option a user sets on the command line, checked before anything trains or is written: one line naming
the key, the value and what is allowed (a ConfigError: exit 2), instead of a traceback deep in Lightning or a
run that never ends (trainer.max_epochs=-1 is "forever" to Lightning)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

from omegaconf import DictConfig, ListConfig, OmegaConf

from scatnet.errors import ConfigError
from scatnet.training.schema import check_schema

INT_MAX = 2**31 - 1  # what every count and size here fits in (a larger one is a typo, or an allocation never made)


def integer(low: int) -> tuple[Callable, str]:
    ok = lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= INT_MAX  # noqa: E731
    return ok, f"an integer >= {low} (and < 2^31)"


def number(low: float, high: float | None = None, low_open: bool = False, high_open: bool = False):
    def ok(v) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        above = v > low if low_open else v >= low
        below = high is None or (v < high if high_open else v <= high)
        return above and below

    lo = f"{'>' if low_open else '>='} {low:g}"
    hi = "" if high is None else f" and {'<' if high_open else '<='} {high:g}"
    return ok, f"a number {lo}{hi}, finite"


BOOLEAN = (lambda v: isinstance(v, bool)), "true or false"
MILESTONES = (
    (lambda v: isinstance(v, (list, ListConfig)) and all(integer(1)[0](m) for m in v) and list(v) == sorted(set(v))),
    "a list of increasing epochs >= 1, e.g. [60,80,100]",
)

#: key -> (test, what is allowed). Keys absent from a config (another front end's options) are not checked.
RULES: dict[str, tuple[Callable, str]] = {
    "seed": integer(0),
    "trainer.max_epochs": integer(1),
    "trainer.log_every_n_steps": integer(1),
    "trainer.check_val_every_n_epoch": integer(1),
    "data.batch_size": integer(1),
    "data.eval_batch_size": integer(1),
    "data.image_size": integer(4),
    "data.crop_padding": integer(0),
    "data.flip": BOOLEAN,
    "optim.lr": number(0, low_open=True),
    "optim.momentum": number(0, 1, high_open=True),
    "optim.weight_decay": number(0),
    "optim.gamma": number(0, 1, low_open=True),
    "optim.milestones": MILESTONES,
    "model.width": integer(1),
    "frontend.magbias": number(0),
    "frontend.L": integer(1),
    "force": BOOLEAN,
    "progress_bar": BOOLEAN,
}


def check_config(cfg: DictConfig) -> None:
    check_schema(cfg)  # every key one that scatnet or its target knows
    for key, (ok, allowed) in RULES.items():
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None and not ok(value):
            raise ConfigError(f"{key}={value!r} is not valid; it must be {allowed}")
    root = OmegaConf.select(cfg, "data.root", default=None)
    if root and Path(str(root)).exists() and not Path(str(root)).is_dir():
        raise ConfigError(
            f"data.root={root} is a file, not a folder; give the folder that holds (or will hold) "
            "the dataset, or set SCATNET_DATA"
        )
