"""What a launched sweep comprises, read from the ``multirun.yaml`` Hydra writes into every sweep folder: the
grid its sweeper parameters and command-line overrides span. A report lists as missing exactly the runs of
the sweeps that were launched, not the thesis' full grid (a narrowed sweep is not incomplete)."""
from __future__ import annotations

import itertools
import re
from pathlib import Path

from omegaconf import OmegaConf


def _values(text: str) -> list[str] | None:
    """A sweep value as its list of choices: "a,b" / "choice(a,b)" / "range(0,3)"; None for other syntax."""
    text = str(text).strip()
    if m := re.fullmatch(r"range\((-?\d+),\s*(-?\d+)(?:,\s*(-?\d+))?\)", text):
        start, stop, step = int(m[1]), int(m[2]), int(m[3] or 1)
        return [str(v) for v in range(start, stop, step)]
    if m := re.fullmatch(r"choice\((.*)\)", text):
        text = m[1]
    if re.search(r"[()\[\]{}]", text):  # glob(), interval(), lists: not a plain grid
        return None
    return [v.strip() for v in text.split(",")]


def launched_grid(multirun_yaml: Path) -> dict[str, list[str]] | None:
    """{key: values} of one launched sweep; single values included (they narrow the grid). None when its
    syntax is not a plain grid."""
    cfg = OmegaConf.load(multirun_yaml)
    axes: dict[str, list[str]] = {}
    for key, value in (OmegaConf.select(cfg, "hydra.sweeper.params") or {}).items():
        axes[str(key)] = _values(value)
    for override in OmegaConf.select(cfg, "hydra.overrides.task") or []:
        key, _, value = str(override).partition("=")
        key = key.lstrip("+")
        if not value or key.startswith("~") or "/" in key:
            continue
        axes[key] = _values(value)
    if any(v is None for v in axes.values()):
        return None
    return axes


def _same(a, b) -> bool:
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
            notes.append(f"the sweep of {path.parent} uses sweep syntax other than lists and ranges: its missing "
                         "runs are not listed")
            continue
        keys = [k for k in axes if any(_matches(r, k, axes[k][0]) is not None for r in completed)
                or len(axes[k]) > 1]
        for combo in itertools.product(*(axes[k] for k in keys)):
            point = tuple(zip(keys, combo))
            if point in seen:
                continue
            seen.add(point)
            if not any(all(_matches(r, k, v) is not False for k, v in point) for r in completed):
                notes.append("no completed run for " + ", ".join(f"{k}={v}" for k, v in point if len(axes[k]) > 1))
    return notes
