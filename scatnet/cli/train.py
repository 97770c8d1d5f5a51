"""scatnet-train: the thin Hydra entry point. All work happens in scatnet.training.run.train."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from scatnet.cli.common import fail, report_error, start_command
from scatnet.config_files import config_dir
from scatnet.errors import ScatnetError
from scatnet.files import DiskFull
from scatnet.frontends.options import SETTING_KEYS
from scatnet.training.lock import RUNNING_ELSEWHERE
from scatnet.training.metrics_file import is_rank_zero
from scatnet.training.run import train
from scatnet.training.signals import RunInterrupted
from scatnet.training.sweep import OTHER_SHARD, CallbackRefused, belongs_to_other_shard, record_job, sweep_summary

log = logging.getLogger("scatnet")


def summary_line(m: dict) -> str:
    fe = m.get("config", {}).get("frontend", {})
    model = m.get("config", {}).get("model", {})
    opts = ", ".join(
        [
            *(f"{k}={fe[k]}" for k in SETTING_KEYS if k in fe),
            *(f"model.{k}={model[k]}" for k in ("pool", "body", "mix") if model.get(k) is not None),
        ]
    )
    if m.get("status") == RUNNING_ELSEWHERE:
        return f"scatnet: {m.get('run_name')}: skipped, running elsewhere ({m.get('holder')}) -> {m.get('run_dir')}"
    if m.get("status") != "completed":
        return (
            f"scatnet: {m.get('frontend')}({opts}) on {m.get('data')}: {m.get('status')}: {m.get('reason')}"
            f" -> {m.get('run_dir')}"
        )
    skipped = " (already completed, skipped)" if m.get("skipped") else ""
    return (
        f"scatnet: {m['frontend']}({opts}) on {m['data']}: test acc {m['test_acc']:.2f}% after "
        f"{m['epochs_completed']} epochs in {m['wall_seconds']:.1f} s{skipped} -> {m['run_dir']}"
    )


def run_task(cfg: DictConfig) -> dict | None:
    in_sweep = cfg.get("sweep") is not None
    if belongs_to_other_shard(cfg):
        record_job(cfg, {"status": OTHER_SHARD})
        return {"status": OTHER_SHARD}
    try:
        metrics = train(cfg, reraise=not in_sweep)
    except (RunInterrupted, DiskFull) as e:
        # the sweep stops here: no further run starts, and what it did so far is summed up
        record_job(
            cfg,
            {
                "status": "interrupted" if isinstance(e, RunInterrupted) else "failed",
                "run_dir": cfg.paths.run_dir,
                "reason": str(e),
            },
        )
        hc = HydraConfig.get()
        if in_sweep and is_rank_zero() and hc.mode == RunMode.MULTIRUN:  # not one run of a study
            print(sweep_summary(Path(hc.sweep.dir), int(cfg.sweep.get("shard", 0) or 0), cfg.sweep.name)[0], flush=True)
            e.args = (f"{e.args[0]}; the sweep's remaining runs were not started",)
        report_error(e)
    except ScatnetError as e:
        report_error(e)
    record_job(cfg, metrics)
    if is_rank_zero():
        print(summary_line(metrics), flush=True)
    return objective(cfg, metrics)


def objective(cfg: DictConfig, metrics: dict) -> dict | float:
    """What the job returns to the sweeper: the metrics, or under a search (optimized_metric: a metrics.json
    key, e.g. hparams_search=optuna) that one number; nan for a run without it (a failed trial)."""
    key = cfg.get("optimized_metric")
    if not key:
        return metrics
    value = metrics.get(key)
    return float("nan") if value is None else float(value)


# Hydra's own command-line flags (hydra/_internal/utils.py, get_args_parser): any other "-..." argument would
# get Hydra's argparse usage block instead of one line.
HYDRA_FLAGS = (
    "-h",
    "--help",
    "--hydra-help",
    "--version",
    "-c",
    "--cfg",
    "--resolve",
    "-p",
    "--package",
    "-r",
    "--run",
    "-m",
    "--multirun",
    "-sc",
    "--shell-completion",
    "-cp",
    "--config-path",
    "-cn",
    "--config-name",
    "-cd",
    "--config-dir",
    "--experimental-rerun",
    "-i",
    "--info",
)


def main() -> None:
    start_command()
    for arg in sys.argv[1:]:
        if arg.startswith("-") and arg.split("=", 1)[0] not in HYDRA_FLAGS:
            fail(
                f"{arg} is not an option; scatnet-train takes key=value overrides (e.g. data=digits) and Hydra's "
                "flags (-m for a sweep; see scatnet-train --help)"
            )
    # Hydra's own errors (an unknown option, an override of a key that does not exist, a run folder it cannot
    # create) reach this function instead of Hydra's printer (multi-line, exit 1): one line and exit 2
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    try:
        configs = config_dir()
    except ScatnetError as e:
        report_error(e)
    try:
        hydra.main(version_base="1.3", config_path=configs, config_name="train")(run_task)()
    except HydraException as e:
        fail(" ".join(str(e).split("Config search path")[0].split()))
    except CallbackRefused as e:  # found by a Hydra callback before anything is written (a run's options)
        report_error(e.error)
    except OmegaConfBaseException as e:  # a value Hydra resolves itself, e.g. a sweep's name in hydra.sweep.dir
        where = f" (in {e.full_key})" if getattr(e, "full_key", None) else ""
        fail(f"{str(e).splitlines()[0]}{where}; give it a value in the config or on the command line")
    except OSError as e:
        fail(
            f"cannot write {e.filename or 'the run folder'} ({e.strerror or e}); choose a writable folder with "
            "hydra.run.dir=... (or SCATNET_OUTPUTS=... for every output)"
        )


if __name__ == "__main__":
    main()
