"""Whether a run followed the recipe of the published number it would be set beside. The recipe is the preset
that reproduces that number (``experiment=<data>_<front end>``, ``experiment=<learnable front end>_<data>``),
composed from the configs, so the report holds no second copy of it."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from omegaconf import OmegaConf

# What a recipe fixes, and how a difference is said. The front end's own options (wavelet, padding, bias)
# are the published setting's (tables.py); the optimizer and scheduler classes are absent when they are the
# recipe's (identity.without_recipe_classes).
RECIPE_KEYS = {
    "trainer.max_epochs": "epochs",
    "model.width": "width",
    "data.batch_size": "batch",
    "optim.lr": "lr",
    "optim.momentum": "momentum",
    "optim.weight_decay": "weight decay",
    "optim.milestones": "milestones",
    "optim.gamma": "gamma",
    "optim.optimizer": "optimizer",
    "optim.scheduler": "scheduler",
    "model.body": "body",
    "model.mix": "mixing",
    "model.pool": "pool",
}


def _preset(frontend: str, data: str) -> str:
    return f"{frontend}_{data}" if frontend.startswith("learnable") else f"{data}_{frontend}"


@functools.lru_cache(maxsize=None)
def published_recipe(frontend: str, data: str) -> dict | None:
    """The recipe's values (by RECIPE_KEYS) of the preset behind a published cell; None without one. Cached:
    read it, never change it."""
    from scatnet.config_files import config_dir
    from scatnet.report.collect import flatten
    from scatnet.training.builders import composed_config
    from scatnet.training.identity import without_ignored

    name = _preset(frontend, data)
    if not (Path(config_dir()) / "experiment" / f"{name}.yaml").is_file():
        return None
    cfg = composed_config([f"experiment={name}", "paths.run_dir=."])
    settings = flatten(without_ignored(OmegaConf.to_container(cfg, resolve=True)))
    return {key: _prefix(settings, key) for key in RECIPE_KEYS}


def _prefix(settings: dict, key: str):
    """A flattened key's value, or the values under it (optim.optimizer is a node), or None."""
    if key in settings:
        return settings[key]
    under = {k: v for k, v in settings.items() if k.startswith(key + ".")}
    return under or None


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def recipe_gaps(row: dict, frontend: str, data: str) -> list[str]:
    """How a run's recipe differs from the published one, e.g. ["2 of 120 epochs", "width 32"]; [] when it is
    the recipe (or nothing was published for the cell)."""
    want = published_recipe(frontend, data)
    if want is None:
        return []
    settings, gaps = row.get("settings") or {}, []
    for key, label in RECIPE_KEYS.items():
        got = _prefix(settings, key)
        if _canonical(got) == _canonical(want[key]):
            continue
        if key == "trainer.max_epochs":
            gaps.append(f"{got} of {want[key]} epochs")
        elif isinstance(got, dict) or isinstance(want[key], dict):
            gaps.append(f"another {label}")
        else:
            gaps.append(f"{label} {got}")
    return gaps
