"""The schema of a composed config: every key must be one scatnet or the class it configures knows.

Hydra refuses a misspelt key given on the command line, but not one written in a config file or added with
``+key=value``; without this check such a key would be silently ignored (and a run would train with the
default it meant to change). Two sources, so that nothing is listed twice:
- a node with a ``_target_`` may hold exactly the parameters of that class or function (its signature), so
  the code is the schema (a target that takes ``**kwargs``, like W&B's logger, accepts any key);
- the blocks that configure scatnet itself, without a target, are the dataclasses below (structured configs:
  OmegaConf checks their keys and types).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from typing import Any, Optional

from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from scatnet.errors import ConfigError

HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}


@dataclasses.dataclass
class Fast:
    """fast: the training step's speed options (scatnet/configs/train.yaml says what each does)."""

    channels_last: Any = "auto"
    bf16: Any = "auto"
    tf32: bool = False
    compile: Any = False
    cuda_graph: bool = False


@dataclasses.dataclass
class Optim:
    """optim: the recipe's values, and the optimizer and scheduler built from them (scatnet/configs/optim/)."""

    lr: float = 0.5
    momentum: float = 0.85
    weight_decay: float = 1e-4
    milestones: list[int] = dataclasses.field(default_factory=list)
    gamma: float = 0.2
    optimizer: Any = None
    scheduler: Any = None


@dataclasses.dataclass
class Recipe:
    """data.recipe: the thesis' schedule for a dataset."""

    epochs: int = 1
    milestones: list[int] = dataclasses.field(default_factory=list)
    tiny_net: bool = False
    learnable_weight_decay: Optional[float] = None  # optim=learnable's on this dataset (default 1e-4)


@dataclasses.dataclass
class Sweep:
    """sweep: a named sweep and its share of the grid (scatnet/configs/sweep/base.yaml)."""

    name: str = ""
    shard: int = 0
    num_shards: int = 1


@dataclasses.dataclass
class Paths:
    """paths: where outputs go (scatnet/configs/paths/default.yaml)."""

    root: str = "outputs"
    run_dir: Optional[str] = None
    runs_dir: Optional[str] = None


@dataclasses.dataclass
class Top:
    """The top level: the groups, and the few options of the run itself (scatnet/configs/train.yaml)."""

    frontend: Any = None
    model: Any = None
    data: Any = None
    optim: Any = None
    trainer: Any = None
    callbacks: Any = None
    logger: Any = None
    paths: Any = None
    sweep: Any = None
    fast: Any = None
    hydra: Any = None
    hparams_search: Any = None
    optimized_metric: Optional[str] = None
    seed: int = 0
    progress_bar: bool = True
    force: bool = False
    run_name: str = ""
    run_id: Optional[str] = None


BLOCKS = {"": Top, "fast": Fast, "optim": Optim, "data.recipe": Recipe, "sweep": Sweep, "paths": Paths}


def check_schema(cfg: DictConfig) -> None:
    """Raise a ConfigError naming the first key the schema does not know, or the first value of a wrong type."""
    for path, schema in BLOCKS.items():
        node = cfg if not path else OmegaConf.select(cfg, path, default=None)
        if isinstance(node, DictConfig):
            _check_block(path, node, schema)
    for path, node in _targets(cfg, ""):
        _check_target(path, node)


def _unknown(path: str, key: str, known, where: str) -> ConfigError:
    name = f"{path}.{key}" if path else key
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean {close[0]}?)" if close else f"; its options: {', '.join(sorted(known))}"
    return ConfigError(f"{name} is not an option of {where}{hint}")


def _check_block(path: str, node: DictConfig, schema: type) -> None:
    fields = {f.name for f in dataclasses.fields(schema)}
    for key in node.keys():
        if key not in fields:
            raise _unknown(path, str(key), fields, path or "the run (scatnet/configs/train.yaml)")
    if schema is Top:
        return  # its groups are checked on their own; its three scalars by validate.RULES
    plain = {k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if not isinstance(v, dict)}
    try:
        OmegaConf.merge(OmegaConf.structured(schema), plain)
    except OmegaConfBaseException as e:
        key = str(getattr(e, "full_key", None) or getattr(e, "key", None) or "?").split("[")[0].split(".")[0]
        raise ConfigError(
            f"{path}.{key}={plain.get(key)!r} is not valid; it must be of type {_field_type(schema, key)}"
        ) from None


def _field_type(schema: type, key: str) -> str:
    for f in dataclasses.fields(schema):
        if f.name == key:
            return str(f.type)
    return "?"


def _targets(node: Any, path: str):
    """(dotted path, node) for every node with a _target_ (the hydra block aside: Hydra checks its own)."""
    if not isinstance(node, DictConfig) or path == "hydra":
        return
    if "_target_" in node:
        yield path, node
    for key in node.keys():
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            yield from _targets(child, f"{path}.{key}" if path else str(key))


def _check_target(path: str, node: DictConfig) -> None:
    target = node.get("_target_")
    try:
        obj = get_object(str(target))
    except Exception:  # noqa: BLE001 - any import failure
        raise ConfigError(f"{path}._target_={target} cannot be imported; check the module and name") from None
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return  # a builtin without a signature: nothing to check against
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = {name for name, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL}
    for key in node.keys():
        if key not in known and key not in HYDRA_KEYS:
            raise _unknown(path, str(key), known, f"{target}")
