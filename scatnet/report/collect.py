"""Collect every run's metrics.json under a directory into flat rows, and summarise over seeds.

Runs are grouped by everything that changes their result, not by a fixed list: the thesis' setting columns
(data, front end, wavelet, padding, magbias, L) plus every other key of the resolved config (with the identity
rules of training/identity.py) whose value differs between runs of one setting, e.g. epochs, lr or width.
Runs that differ in such a key are never averaged together; the key becomes a column.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from scatnet.files import replacing
from scatnet.frontends.options import DEFAULT_IMPL, SETTING_KEYS
from scatnet.training.identity import without_ignored
from scatnet.training.lock import RunLock

SETTING = ("data", "frontend", *SETTING_KEYS)
ROW_FIELDS = (
    "run_name",
    "status",
    *SETTING,
    "seed",
    "test_acc",
    "best_val_acc",
    "epochs_completed",
    "max_epochs",
    "wall_seconds",
    "train_seconds",
    "images_per_second",
    "parameters",
    "device",
    "reason",
    "run_id",
    "run_dir",
)
# config keys shown as SETTING columns already, or following from them
SETTING_CONFIG_KEYS = {"data.name", "frontend.name", "seed", *(f"frontend.{k}" for k in SETTING_KEYS)}


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def run_settings(m: dict) -> dict[str, Any]:
    """The run's result-changing options as dotted keys (fast.bf16 as it resolved on the run's device)."""
    config = without_ignored(m.get("config") or {})
    flat = flatten(config)
    if "fast.bf16" in flat and isinstance(m.get("precision"), dict):
        flat["fast.bf16"] = m["precision"].get("bf16")
    return flat


def collect(root: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(Path(root).rglob("metrics.json")):
        try:
            m = json.loads(path.read_text())
            if not isinstance(m, dict):
                raise ValueError(f"a JSON {type(m).__name__}, not a run's record")
        except (OSError, ValueError) as e:  # JSONDecodeError is a ValueError
            reason = f"{path.name} is damaged ({e}); relaunch the run's command to redo it, or delete the folder"
            rows.append({"status": "unreadable", "reason": reason, "run_dir": str(path.parent)})
            continue
        fe = (m.get("config") or {}).get("frontend") or {}
        row = {k: m.get(k) for k in ROW_FIELDS}
        row.update({k: fe.get(k) for k in SETTING_KEYS})
        # each implementation (a reference library or scatnet's own) is kept apart
        row.update(
            impl=fe.get("impl") or DEFAULT_IMPL.get(fe.get("name")),
            magbias=None if fe.get("magbias") is None else float(fe["magbias"]),
            run_dir=str(path.parent),
        )  # where it is now (a moved folder keeps its old path inside)
        row["settings"] = run_settings(m)
        if row["status"] == "running" and not RunLock(path.parent).is_held():
            row.update(
                status="killed",
                reason="it says running but no process owns it (killed outright); "
                "relaunch its sweep or command to resume it",
            )
        rows.append(row)
    return rows


def _key(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def extra_keys(rows: list[dict]) -> list[str]:
    """Keys whose value differs between runs of one setting (seed-tied keys, like data.seed, left out)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get("settings"):
            groups[tuple(r.get(k) for k in SETTING)].append(r)
    keys = set()
    for rs in groups.values():
        for k in set().union(*(r["settings"] for r in rs)) - SETTING_CONFIG_KEYS:
            values = [r["settings"].get(k) for r in rs]
            if len({_key(v) for v in values}) > 1 and not all(v == r.get("seed") for v, r in zip(values, rs)):
                keys.add(k)
    return sorted(keys)


def variant(row: dict, keys: list[str]) -> str:
    """The extra keys of a row as one label, e.g. "model.width=48, optim.lr=0.1" ("" when there are none)."""
    return ", ".join(f"{k}={row.get('settings', {}).get(k)}" for k in keys)


def write_csv(rows: list[dict], path: Path, fields=ROW_FIELDS) -> Path:
    with replacing(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(fields), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and standard deviation; the deviation is None for a single value (there is no spread to show)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def summarise(rows: list[dict], keys: list[str] | None = None) -> list[dict]:
    """Mean +- std of test accuracy over seeds for each setting (and each value of the extra keys), with run
    counts and mean wall time (every launch of a resumed run counted)."""
    keys = extra_keys(rows) if keys is None else keys
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get("status") == "completed" and r.get("test_acc") is not None:
            groups[(*(r.get(k) for k in SETTING), variant(r, keys))].append(r)
    out = []
    for key, rs in sorted(groups.items(), key=lambda kv: tuple(str(k) for k in kv[0])):
        m, s = mean_std([float(r["test_acc"]) for r in rs])
        walls = [float(r["wall_seconds"]) for r in rs if r.get("wall_seconds") is not None]
        out.append(
            {
                **dict(zip(SETTING, key)),
                "variant": key[-1],
                **{k: rs[0]["settings"].get(k) for k in keys},
                "runs": len(rs),
                "test_acc_mean": round(m, 3),
                "test_acc_std": None if s is None else round(s, 3),
                "wall_seconds_mean": round(statistics.fmean(walls), 1) if walls else None,
                "seeds": sorted(r.get("seed") for r in rs),
                "run_dirs": [r["run_dir"] for r in rs],
            }
        )
    return out
