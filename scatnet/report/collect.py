"""Collect every run's metrics.json under a directory into flat rows, and summarise over seeds."""
from __future__ import annotations

import csv
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

ROW_FIELDS = ("run_name", "status", "data", "frontend", "impl", "wavelet", "padding", "magbias", "L", "seed",
              "test_acc", "best_val_acc", "epochs_completed", "max_epochs", "wall_seconds", "train_seconds",
              "images_per_second", "device", "reason", "run_id", "run_dir")
SETTING = ("data", "frontend", "impl", "wavelet", "padding", "magbias", "L")


def collect(root: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(Path(root).rglob("metrics.json")):
        try:
            m = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            rows.append({"status": "unreadable", "reason": str(e), "run_dir": str(path.parent)})
            continue
        fe = (m.get("config") or {}).get("frontend") or {}
        row = {k: m.get(k) for k in ROW_FIELDS}
        # the DTCWT's implementation (reference pytorch_wavelets or scatnet's fast pair) is kept apart
        row.update(impl=fe.get("impl") or ("reference" if fe.get("name") == "dtcwt" else None),
                   wavelet=fe.get("wavelet"), padding=fe.get("padding"), L=fe.get("L"),
                   magbias=None if fe.get("magbias") is None else float(fe["magbias"]),
                   run_dir=m.get("run_dir") or str(path.parent))
        rows.append(row)
    return rows


def write_csv(rows: list[dict], path: Path, fields=ROW_FIELDS) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(fields), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarise(rows: list[dict]) -> list[dict]:
    """Mean +- std of test accuracy over seeds for each setting, with run counts and mean wall time."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get("status") == "completed" and r.get("test_acc") is not None:
            groups[tuple(r.get(k) for k in SETTING)].append(r)
    out = []
    for key, rs in sorted(groups.items(), key=lambda kv: tuple(str(k) for k in kv[0])):
        m, s = mean_std([float(r["test_acc"]) for r in rs])
        walls = [float(r["wall_seconds"]) for r in rs if r.get("wall_seconds") is not None]
        out.append({**dict(zip(SETTING, key)), "runs": len(rs), "test_acc_mean": round(m, 3),
                    "test_acc_std": round(s, 3),
                    "wall_seconds_mean": round(statistics.fmean(walls), 1) if walls else None,
                    "seeds": sorted(r.get("seed") for r in rs)})
    return out
