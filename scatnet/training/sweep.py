"""What Hydra's multirun lacks for a long sweep: sharding over several processes, and a closing summary.

Resuming needs nothing here: each run's directory is stable (see run.py), so relaunching the same sweep
skips completed runs and resumes killed ones. Sharding: N processes launched with ``sweep.shard=i
sweep.num_shards=N`` each take every N-th job of the same sweep (one per GPU, or several per GPU when the
runs are small); together they cover the sweep and none duplicates another's work.
"""
from __future__ import annotations

import sys
from collections import Counter
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

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


class SweepSummary(Callback):
    """Prints one line at the end of a multirun and exits 1 when any run failed (the others still ran)."""

    def __init__(self):
        self.results: list[dict[str, Any]] = []

    def on_job_end(self, config: DictConfig, job_return, **kwargs) -> None:
        value = getattr(job_return, "_return_value", None)
        if isinstance(value, dict):
            self.results.append(value)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        mine = [r for r in self.results if r.get("status") != OTHER_SHARD]
        counts = Counter("skipped" if r.get("skipped") else r.get("status", "?") for r in mine)
        failed = [r for r in mine if r.get("status") == "failed"]
        parts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        print(f"scatnet sweep {config.sweep.name}: {len(mine)} runs: {parts}", flush=True)
        for r in failed:
            print(f"  failed: {r.get('run_dir')}: {r.get('reason')}", flush=True)
        if failed:
            sys.exit(1)
