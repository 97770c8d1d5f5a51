"""What a launched sweep comprises, read from the ``multirun.yaml`` Hydra writes into every sweep folder: the
grid its sweeper parameters and command-line overrides span. A report lists as missing exactly the runs of
the sweeps that were launched, not the thesis' full grid (a narrowed sweep is not incomplete)."""

from __future__ import annotations

import itertools
from pathlib import Path

from omegaconf import OmegaConf


def sweep_values(key: str, text: str) -> list[str] | None:
    """A sweep value as its list of choices, as Hydra's own override parser reads it: a value, a list value
    ("[1]"), "a,b", "choice(a,b)", "range(0,3)"; None for what is no finite grid (interval, glob)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        override = OverridesParser.create().parse_overrides([f"{key}={text}"])[0]
        if override.is_sweep_override():
            return list(override.sweep_string_iterator())
        return [override.get_value_element_as_str()]
    except HydraException:
        return None


def launched_grid(multirun_yaml: Path) -> dict[str, list[str]] | None:
    """{key: values} of one launched sweep; single values included (they narrow the grid). None when it is no
    finite grid."""
    cfg = OmegaConf.load(multirun_yaml)
    axes: dict[str, list[str] | None] = {}
    for key, value in (OmegaConf.select(cfg, "hydra.sweeper.params") or {}).items():
        axes[str(key)] = sweep_values(str(key), str(value))
    for override in OmegaConf.select(cfg, "hydra.overrides.task") or []:
        key, _, value = str(override).partition("=")
        key = key.lstrip("+")
        if not value or key.startswith("~") or "/" in key:
            continue
        axes[key] = sweep_values(key, value)
    if any(v is None for v in axes.values()):
        return None
    return axes


def _same(a, b) -> bool:
    """A recorded value against a grid value's text: numbers as numbers, lists as lists, else the words."""
    import yaml

    try:
        b = yaml.safe_load(str(b))
    except yaml.YAMLError:
        pass
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return (
            isinstance(a, (list, tuple))
            and isinstance(b, (list, tuple))
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b))
        )
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a).lower() == str(b).lower()


def _matches(row: dict, key: str, value: str) -> bool | None:
    """Whether the run has ``key=value``; None when its config does not say (the key does not apply)."""
    settings = row.get("settings") or {}
    if key in settings:
        return _same(settings[key], value)
    if f"{key}.name" in settings:  # a config group choice, e.g. frontend=morlet6 -> frontend.name
        return _same(settings[f"{key}.name"], value)
    return None


def missing_runs(rows: list[dict], root: Path) -> list[str]:
    """One line per grid point of a launched sweep under ``root`` with no completed run."""
    completed = [r for r in rows if r.get("status") == "completed"]
    notes, seen = [], set()
    for path in sorted(Path(root).rglob("multirun.yaml")):
        axes = launched_grid(path)
        if axes is None:
            notes.append(
                f"the sweep of {path.parent} is no finite grid (an interval or glob): its missing runs are not listed"
            )
            continue
        keys = [k for k in axes if any(_matches(r, k, axes[k][0]) is not None for r in completed) or len(axes[k]) > 1]
        for combo in itertools.product(*(axes[k] for k in keys)):
            point = tuple(zip(keys, combo))
            if point in seen:
                continue
            seen.add(point)
            if not any(all(_matches(r, k, v) is not False for k, v in point) for r in completed):
                notes.append("no completed run for " + ", ".join(f"{k}={v}" for k, v in point if len(axes[k]) > 1))
    return notes
