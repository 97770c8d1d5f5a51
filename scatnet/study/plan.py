"""A study's plan: every run of every part, with the folder it trains in and what it should cost.

A part is one of the sweeps (``scatnet/configs/sweep/``) on some datasets, its grid the sweep's own
(``hydra.sweeper.params``) unless the study narrows it. Each run is composed here exactly as
``scatnet-train`` will compose it, so its identity, and therefore its folder under ``<study>/runs/``, is the
one the training process will use: a relaunch finds completed runs (skipped), killed ones (resumed) and
failed ones (retried) by the same rules as any sweep.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import shutil
from pathlib import Path
from typing import Callable

from omegaconf import DictConfig, ListConfig, OmegaConf

from scatnet.errors import ConfigError
from scatnet.training.identity import stable_run_dir
from scatnet.training.validate import BOOLEAN, integer

# Relative cost of one epoch, to start the long runs first (the tail of a packed study is then short):
# training images x pixels, and the Morlet front ends' extra work on top of the body.
DATA_COST = {"digits": 0.03, "cifar10": 1.0, "cifar100": 1.0, "synthetic_cifar": 1.0, "tiny_imagenet": 8.0}
FRONTEND_COST = {
    "morlet8": 1.6,
    "morlet6": 1.4,
    # the Learnable ScatterNets' steps against ScatNet A's (scatnet-bench, 2-core CPU, docs/PERFORMANCE.md)
    "learnable_c": 1.4,
    "learnable_d": 1.6,
}


@dataclasses.dataclass
class PlannedRun:
    part: str
    overrides: list[str]  # scatnet-train's overrides for this run (the sweep config, its grid point)
    run_dir: Path
    data: str
    frontend: str
    setting: str  # what distinguishes it within its part, e.g. "near_sym_a, zero, b=0.01, s0"
    max_epochs: int
    cost: float  # relative, for the order of launch
    run_id: str  # the identity: the same run named in two parts trains once

    @property
    def name(self) -> str:
        return self.run_dir.name


def grid_points(params: dict[str, str]) -> list[list[str]]:
    """A sweeper's ``params`` ({key: "a,b,c"}) as the list of its points, each a list of overrides, read by
    Hydra's own override parser: any finite grid ``-m`` takes (lists, ranges, list values, ``choice``)."""
    from scatnet.report.launched import sweep_values

    axes = []
    for key, text in params.items():
        values = sweep_values(key, str(text))
        if values is None:
            raise ConfigError(
                f"{key}={text} is no finite grid (an interval or a glob); a study needs lists, "
                "ranges or choice(...), e.g. seed=0,1,2 or seed=range(3)"
            )
        axes.append([f"{key}={v}" for v in values])
    return [list(point) for point in itertools.product(*axes)]


def override_value(value) -> str:
    """A value of a study's grid (from YAML) as Hydra override text: a list as a list value, [1, 2]."""
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    return str(value)


def flat_grid(grid: dict, prefix: str = "") -> dict[str, list]:
    """{"frontend.wavelet": [...]} or {"frontend": {"wavelet": [...]}} (as a key=value override makes it)
    alike: dotted keys to lists of values."""
    out = {}
    for key, value in grid.items():
        if isinstance(value, dict):
            out.update(flat_grid(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value if isinstance(value, list) else [value]
    return out


def plan_part(name: str, part: DictConfig, runs_root: Path, compose) -> list[PlannedRun]:
    """Every run of one part. ``compose(overrides)`` -> (scatnet/configs/train.yaml composed as scatnet-train will,
    its sweep's grid)."""
    sweep = str(part.sweep)
    extra = [str(o) for o in part.get("overrides") or []]
    runs = []
    for data in part.data:
        base = [f"sweep={sweep}", f"data={data}"]
        params = compose([*base, *extra])[1]
        grid = OmegaConf.to_container(part.get("grid") or OmegaConf.create({}), resolve=True)
        for key, values in flat_grid(grid).items():  # the study narrows (or widens) the sweep's grid
            params[key] = ",".join(override_value(v) for v in values)
        for point in grid_points(params):
            overrides = [*base, *extra, *point]
            cfg = compose(overrides)[0]
            runs.append(planned(name, overrides, cfg, runs_root, point))
    return runs


def planned(part: str, overrides: list[str], cfg: DictConfig, runs_root: Path, point: list[str]) -> PlannedRun:
    epochs = int(cfg.trainer.max_epochs)
    data, frontend = str(cfg.data.name), str(cfg.frontend.name)
    setting = ", ".join(
        p.split("=", 1)[1] if not p.startswith("seed=") else "s" + p.split("=", 1)[1]
        for p in point
        if not p.startswith("frontend=")
    )
    cost = epochs * DATA_COST.get(data, 1.0) * FRONTEND_COST.get(frontend, 1.0)
    run_dir, rid = stable_run_dir(runs_root, cfg)
    return PlannedRun(part, overrides, run_dir, data, frontend, setting, epochs, cost, rid)


def plan(study: DictConfig, out: Path, compose) -> list[PlannedRun]:
    """The study's runs, longest first (ties: in the order of the parts)."""
    if not study.get("parts"):
        raise ConfigError(f"study {study.get('name')} has no parts: nothing to run")
    runs = []
    for name, part in study.parts.items():
        for key in ("sweep", "data"):
            if not part.get(key):
                raise ConfigError(
                    f"study.parts.{name}.{key} is missing; a part names a sweep (scatnet/configs/sweep/) "
                    "and the datasets to run it on"
                )
        runs += plan_part(str(name), part, out / "runs", compose)
    seen, unique = set(), []
    for r in runs:  # the same run in two parts (Table 1.3's DTCWT cells are points of the grid) trains once
        if r.run_id not in seen:
            seen.add(r.run_id)
            unique.append(r)
    return sorted(unique, key=lambda r: -r.cost)


LAUNCHERS = ("local", "slurm")  # this machine's GPUs (or CPU) | batch jobs on a SLURM cluster (study/slurm.py)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # it names folders and SLURM jobs


def _mapping(v) -> bool:
    return isinstance(v, (dict, DictConfig))


#: What a study file holds (scatnet/configs/study/thesis.yaml says what each is): key -> (test, what is allowed).
STUDY_RULES: dict[str, tuple[Callable, str]] = {
    "name": (lambda v: isinstance(v, str) and NAME.fullmatch(v) is not None, "a name of letters, digits, . _ -"),
    "out": (lambda v: isinstance(v, str) and v.strip() != "", "a folder path"),
    "runs_per_gpu": integer(1),
    "cpu_runs": integer(1),
    "bench": (
        lambda v: v is None or (isinstance(v, (list, ListConfig)) and all(isinstance(a, (str, int, float)) for a in v)),
        "null or a list of scatnet-bench's arguments, e.g. [--repeats, '5']",
    ),
    "parts": (lambda v: _mapping(v) and len(v) > 0 and all(_mapping(p) for p in v.values()), "a mapping of parts"),
    "report_only": BOOLEAN,
    "launcher": ((lambda v: v in LAUNCHERS), f"one of {', '.join(LAUNCHERS)}"),
    "slurm": ((lambda v: v is None or _mapping(v)), "a mapping of the jobs' settings (study/slurm.py)"),
    "wait": BOOLEAN,
}
STUDY_KEYS = tuple(STUDY_RULES)
DEFAULTS = {"runs_per_gpu": 1, "cpu_runs": 1, "bench": None, "report_only": False, "launcher": "local", "wait": True}


def _shown(value) -> str:
    text = str(OmegaConf.to_container(value) if isinstance(value, (DictConfig, ListConfig)) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_study(config_dir: Path, name: str, overrides: list[str]) -> DictConfig:
    """configs/study/<name>.yaml, or a study file of one's own (``study=path/to/mine.yaml``)."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else Path(config_dir) / "study" / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in (Path(config_dir) / "study").glob("*.yaml")))
        raise ConfigError(f"study={name} is not a study; choose one of: {known}, or give a .yaml file")
    try:
        study = OmegaConf.load(path)
    except Exception as e:  # noqa: BLE001 - YAML's and OmegaConf's parse errors, many classes
        raise ConfigError(
            f"{path} is not a study file ({' '.join(str(e).split())[:200]}); fix its YAML, or start "
            "from a copy of scatnet/configs/study/smoke.yaml"
        ) from None
    if not isinstance(study, DictConfig):
        raise ConfigError(
            f"{path} holds a {type(study).__name__}, not a study (keys name, out, parts, ...); start "
            "from a copy of scatnet/configs/study/smoke.yaml"
        )
    for override in overrides:  # a key a study does not have (a run's option) would be merged and ignored
        key = override.split("=", 1)[0].lstrip("+").split(".")[0]
        if key not in STUDY_KEYS:
            raise ConfigError(
                f"{key} is not an option of a study; its options: {', '.join(sorted(STUDY_KEYS))} "
                "(a run's options go in a part's overrides: parts.<part>.overrides)"
            )
    try:
        study.merge_with(OmegaConf.from_dotlist(overrides))
    except Exception as e:  # noqa: BLE001 - a malformed override
        raise ConfigError(f"cannot apply {' '.join(overrides)} to study={name}: {' '.join(str(e).split())}") from None
    if "name" not in study:  # a study file of one's own, named by its file
        study.name = path.stem
    for key, (ok, allowed) in STUDY_RULES.items():  # checked here, before anything is planned or written
        try:
            value = study.get(key, DEFAULTS.get(key))
        except Exception as e:  # noqa: BLE001 - an interpolation that cannot resolve (${oc.env:...}, a typo)
            raise ConfigError(f"{key} cannot be resolved: {' '.join(str(e).split())[:200]}") from None
        if not ok(value):
            raise ConfigError(f"{key}={_shown(value)} is not valid; it must be {allowed}")
        study[key] = value
    if study.launcher == "slurm" or study.get("slurm"):
        from scatnet.study.slurm import slurm_settings

        slurm_settings(study)  # its keys and types, checked before anything is planned or written
    absent = [c for c in ("sbatch", "squeue") if shutil.which(c) is None]
    if study.launcher == "slurm" and absent:
        raise ConfigError(
            f"launcher=slurm needs SLURM's {' and '.join(absent)} on PATH; run scatnet-study on the "
            "cluster's login node (or launcher=local on this machine)"
        )
    return study
