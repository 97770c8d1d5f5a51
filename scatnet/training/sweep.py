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
from omegaconf import DictConfig, ListConfig, OmegaConf

from scatnet.errors import ConfigError
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


class CallbackRefused(BaseException):
    """A ScatnetError found by a Hydra callback before a run or sweep starts. Hydra turns a callback's Exception
    into a warning and goes on, so it travels as a BaseException; scatnet-train reports ``error``."""

    def __init__(self, error: ConfigError):
        super().__init__(str(error))
        self.error = error


class StudyFolder(Callback):
    """hparams_search=optuna: the sweeper's keys checked before anything is made (one line each, exit 2),
    then the folder of the study's SQLite file (hydra.sweeper.storage) created (SQLite makes the file only)."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        sweeper = OmegaConf.select(config, "hydra.sweeper") or {}
        try:
            check_optuna_keys(sweeper)
        except ConfigError as e:
            raise CallbackRefused(e) from None
        url = str(sweeper.get("storage") or "")
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)


def check_optuna_keys(sweeper) -> None:
    """The Optuna sweeper's trial counts, direction and storage, as Optuna would refuse them mid-way."""
    for key in ("n_trials", "n_jobs"):
        value = sweeper.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"hydra.sweeper.{key}={value} is not valid; it must be an integer >= 1")
    directions = sweeper.get("direction")
    for d in directions if isinstance(directions, (list, ListConfig)) else [directions]:
        if str(d).lower() not in ("minimize", "maximize"):
            raise ConfigError(f"hydra.sweeper.direction={d} is not valid; choose one of: minimize, maximize")
    url = sweeper.get("storage")
    if url is not None:
        from sqlalchemy.engine import make_url

        try:
            make_url(str(url)).get_dialect()
        except Exception:  # noqa: BLE001 - SQLAlchemy's URL and plugin errors, many classes
            raise ConfigError(
                f"hydra.sweeper.storage={url} is not a database URL SQLAlchemy can open; give "
                "sqlite:///path/to/study.db (or null: the study in memory, not resumable)"
            ) from None


class SweepSummary(Callback):
    """Prints one line at the end of a multirun and exits 1 when any run failed (the others still ran)."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        text, failed = sweep_summary(
            Path(config.hydra.sweep.dir), int(config.sweep.get("shard", 0) or 0), config.sweep.name
        )
        print(text, flush=True)
        if failed:
            sys.exit(1)
