"""What Hydra's multirun lacks for a long sweep: sharding over several processes, and a closing summary.

Resuming needs nothing here: each run's directory is stable (see run.py), so relaunching the same sweep
skips completed runs and resumes killed ones. Sharding: N processes launched with ``sweep.shard=i
sweep.num_shards=N`` each take every N-th job of the same sweep (one per GPU, or several per GPU when the
runs are small); together they cover the sweep and none duplicates another's work.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from scatnet.training.lock import RUNNING_ELSEWHERE
from scatnet.training.metrics_file import is_rank_zero, read_metrics

OTHER_SHARD = "other-shard"


def belongs_to_other_shard(cfg: DictConfig) -> bool:
    sweep = cfg.get("sweep") or {}
    n = int(sweep.get("num_shards", 1) or 1)
    if n <= 1:
        return False
    try:
        job_num = HydraConfig.get().job.num
    except ValueError:  # not under Hydra
        return False
    return job_num % n != int(sweep.get("shard", 0))


JOBS_FILE = "scatnet-jobs.jsonl"


def record_job(cfg: DictConfig, outcome: dict[str, Any]) -> None:
    """One line per finished job in the sweep folder (shared by every launcher, submitit's remote jobs
    included): what the closing summary is built from, with each run's own metrics.json."""
    try:
        hc = HydraConfig.get()
    except ValueError:  # not under Hydra
        return
    if hc.mode != RunMode.MULTIRUN or not is_rank_zero():
        return
    line = {
        "job": hc.job.num,
        "shard": int((cfg.get("sweep") or {}).get("shard", 0) or 0),
        "run_dir": outcome.get("run_dir"),
        "status": outcome.get("status"),
        "skipped": bool(outcome.get("skipped")),
        "reason": outcome.get("reason"),
    }
    path = Path(hc.sweep.dir) / JOBS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:  # one short write per line, O_APPEND: lines of concurrent jobs do not interleave
        f.write(json.dumps(line) + "\n")


def sweep_summary(sweep_dir: Path, shard: int, name: str) -> tuple[str, bool]:
    """The closing line (and one line per failed run) of this shard's jobs, and whether any run failed.
    Each run's status is read from its own metrics.json, the record a relaunch trusts too."""
    jobs: dict[int, dict] = {}
    path = Path(sweep_dir) / JOBS_FILE
    if path.exists():
        for text in path.read_text().splitlines():
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                continue
            if line.get("shard", 0) == shard and line.get("status") != OTHER_SHARD:
                jobs[int(line["job"])] = line  # the latest line of a job
    counts: Counter = Counter()
    failed = []
    for line in jobs.values():
        record = read_metrics(Path(line["run_dir"])) if line.get("run_dir") else None
        status = line["status"]
        if status not in (RUNNING_ELSEWHERE,) and record is not None:
            status = record.get("status", status)
        key = "skipped" if line.get("skipped") and status == "completed" else status
        counts[key] += 1
        if status == "failed":
            failed.append((line["run_dir"], (record or line).get("reason")))
    parts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    lines = [f"scatnet sweep {name}: {len(jobs)} runs: {parts}"] + [f"  failed: {d}: {r}" for d, r in failed]
    return "\n".join(lines), bool(failed)


class StudyFolder(Callback):
    """Creates the folder of an Optuna study's SQLite file (hydra.sweeper.storage) before the sweeper opens it."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        url = str(OmegaConf.select(config, "hydra.sweeper.storage", default="") or "")
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)


class SweepSummary(Callback):
    """Prints one line at the end of a multirun and exits 1 when any run failed (the others still ran)."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        text, failed = sweep_summary(
            Path(config.hydra.sweep.dir), int(config.sweep.get("shard", 0) or 0), config.sweep.name
        )
        print(text, flush=True)
        if failed:
            sys.exit(1)
