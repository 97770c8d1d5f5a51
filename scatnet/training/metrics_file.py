"""``metrics.json``: the per-run contract that sweeps and reports build on.

Written atomically (temp file + rename), first with ``status: "running"``, finally with ``"completed"`` (only
after training and the final test finished), ``"failed"`` with a ``reason``, or ``"interrupted"`` (a signal;
resumable). A reader therefore never sees a half-written file, and never mistakes an unfinished run for a
result. "running" with no live owner (the run folder's lock is free) is a run killed outright.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import scatnet

FILENAME = "metrics.json"
STATUSES = ("running", "completed", "failed", "interrupted")
REQUIRED = (
    "status",
    "test_acc",
    "best_val_acc",
    "epochs_completed",
    "wall_seconds",
    "images_per_second",
    "config",
    "version",
    "git_commit",
)


def read_metrics(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / FILENAME
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # unreadable counts as absent: the run is redone
    return record if isinstance(record, dict) else None  # so does a JSON value that is no record


def is_rank_zero() -> bool:
    """Under DDP every rank runs train(); only global rank 0 writes metrics.json and prints the summary."""
    from lightning_fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> Path:
    if metrics.get("status") not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}")
    if not is_rank_zero():
        return Path(run_dir) / FILENAME
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / FILENAME
    tmp = path.with_suffix(".json.tmp")
    try:
        tmp.write_text(json.dumps(metrics, indent=2, sort_keys=True, default=str))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        if not path.exists():
            raise
        _overwrite_in_place(path, json.dumps(metrics, sort_keys=True, default=str))
    return path


def _overwrite_in_place(path: Path, text: str) -> None:
    """On a full disk a new file cannot be made, but the old one's blocks can be rewritten: the final status
    (compact JSON, shorter than the indented "running" record) replaces it in place."""
    data = text.encode()
    with open(path, "r+b") as f:
        f.write(data)
        f.truncate(len(data))


def is_completed(metrics: dict[str, Any] | None) -> bool:
    return bool(metrics) and metrics.get("status") == "completed"


def git_commit() -> str | None:
    here = Path(scatnet.__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
