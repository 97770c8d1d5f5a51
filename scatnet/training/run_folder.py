"""Housekeeping of one run's folder: a fresh start, the CSV log kept free of repeated rows, what a full disk leaves."""

from __future__ import annotations

import csv
import logging
import shutil
from pathlib import Path

log = logging.getLogger("scatnet")
CSV_LOG = Path("csv") / "metrics.csv"
RUN_KEEPS_CHECKPOINT = (
    "the run keeps its last complete checkpoint: free some space and relaunch the same command to resume"
)


def start_afresh(run_dir: Path) -> None:
    """force=true: train from scratch. The old checkpoints, CSV log and metrics.json are removed (W&B keeps its
    own record of the earlier attempt)."""
    for name in ("checkpoints", "csv"):
        shutil.rmtree(Path(run_dir) / name, ignore_errors=True)
    (Path(run_dir) / "metrics.json").unlink(missing_ok=True)
    log.info("force=true: %s starts afresh", run_dir)


def keep_csv_rows_before(run_dir: Path, epoch: int) -> None:
    """Before a run trains from ``epoch`` (0: from scratch), drop the CSV rows of epochs >= ``epoch``: those an
    attempt logged after its last checkpoint (a resume redoes them) or, from scratch, every earlier attempt's.
    The file is rewritten atomically; its header is kept."""
    path = Path(run_dir) / CSV_LOG
    if not path.exists():
        return
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames or [], list(reader)
    kept = [r for r in rows if _epoch(r) is not None and _epoch(r) < epoch]
    if len(kept) == len(rows):
        return
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(kept)
    tmp.replace(path)


def _epoch(row: dict) -> int | None:
    try:
        return int(float(row.get("epoch") or ""))
    except ValueError:
        return None
