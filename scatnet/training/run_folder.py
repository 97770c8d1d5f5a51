"""Housekeeping of one run's folder: a fresh start, the CSV log kept free of repeated rows, what a full disk leaves."""

from __future__ import annotations

import csv
import logging
import os
import shutil
import struct
import zlib
from pathlib import Path

from scatnet.files import replacing

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
    # a row cut short (a full disk mid-write) lacks its last fields: DictReader fills them with None
    kept = [r for r in rows if _epoch(r) is not None and _epoch(r) < epoch and None not in r.values()]
    if len(kept) == len(rows):
        return
    with replacing(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(kept)


def _epoch(row: dict) -> int | None:
    try:
        return int(float(row.get("epoch") or ""))
    except ValueError:
        return None


def mend_logs_of_earlier_attempts(run_dir: Path) -> None:
    """Before the loggers start: what an attempt cut short (a full disk, a kill) left half-written is made
    whole, so that every file a dashboard or ``wandb sync`` reads is readable to its end. TensorBoard event
    files and W&B offline records are cut back to their last whole record; a W&B record with none goes."""
    for events in Path(run_dir).glob("tensorboard/**/events.out.tfevents.*"):
        _cut_to(events, _whole_event_records(events.read_bytes()))
    for record in Path(run_dir).glob("wandb/offline-run-*/run-*.wandb"):
        whole = _whole_wandb_records(record.read_bytes())
        if whole == 0:
            shutil.rmtree(record.parent, ignore_errors=True)
            log.info("%s: an offline W&B run that recorded nothing; removed", record.parent)
        else:
            _cut_to(record, whole)


def _cut_to(path: Path, whole: int) -> None:
    if whole < path.stat().st_size:
        os.truncate(path, whole)
        log.info("%s: its last record was cut short; trimmed to its %d whole bytes", path, whole)


def _whole_event_records(data: bytes) -> int:
    """The length of the leading whole records of a TFRecord stream: each a length (8 bytes), its CRC (4),
    that many bytes of Event, and their CRC (4)."""
    at = 0
    while at + 12 <= len(data):
        (n,) = struct.unpack("<Q", data[at : at + 8])
        if at + 12 + n + 4 > len(data):
            break
        at += 12 + n + 4
    return at


WANDB_HEADER, WANDB_BLOCK = 7, 32768  # ":W&B", a magic and a version; LevelDB-log blocks


def _whole_wandb_records(data: bytes) -> int:
    """The length of the leading whole records of a W&B offline run file (0: none): LevelDB-log fragments
    (CRC-32 of type and data, length, type: 1 whole, 2 first, 3 middle, 4 last) in 32 KiB blocks."""
    if data[:4] != b":W&B":
        return 0
    at = whole = WANDB_HEADER
    while at < len(data):
        left = WANDB_BLOCK - at % WANDB_BLOCK
        if left < 7:  # a block's tail too short for a header is padding
            at += left
            continue
        if at + 7 > len(data):
            break
        crc, length, kind = struct.unpack("<IHB", data[at : at + 7])
        if at + 7 + length > len(data) or zlib.crc32(data[at + 6 : at + 7 + length]) != crc:
            break
        at += 7 + length
        if kind in (1, 4):  # a record ends here
            whole = at
    return whole if whole > WANDB_HEADER else 0
