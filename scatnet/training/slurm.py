"""SLURM as a run meets it: the task layout ``srun`` gives a multi-process run, checked before anything is
written, and a quiet submitit on a cluster that keeps no accounting.

submitit (hydra/launcher=slurm) polls ``sacct`` for its jobs' states. Where SLURM keeps no accounting, every
poll fails and submitit logs "Bypassing sacct error ..." (three times, with sacct's own stderr) every few
seconds. The watcher installed here asks ``sacct`` once; if that fails it says so in one line and asks ``squeue``
from then on (a job gone from the queue has ended; submitit then reads its result file).
"""

from __future__ import annotations

import logging
import os
import subprocess
import time

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from scatnet.errors import ClusterError, ConfigError

log = logging.getLogger("scatnet")


def srun_tasks() -> tuple[int, int | None, int]:
    """(tasks, tasks per node or None, nodes) of the ``srun`` step this process is a task of; (1, None, 1)
    outside one. An interactive allocation (``salloc`` without ``srun``) is not a step."""
    if "SLURM_NTASKS" not in os.environ or os.environ.get("SLURM_JOB_NAME") in ("bash", "interactive"):
        return 1, None, 1
    per_node = os.environ.get("SLURM_NTASKS_PER_NODE")
    # "2(x3)" is SLURM's way of saying 2 tasks on each of 3 nodes
    per_node_n = int(per_node.split("(")[0]) if per_node else None
    return int(os.environ["SLURM_NTASKS"]), per_node_n, int(os.environ.get("SLURM_NNODES", "1"))


def check_srun_layout(cfg: DictConfig, processes_per_node: int) -> None:
    """A run started as several ``srun`` tasks: one task per device, every node alike, as Lightning needs.
    Said in one line with the flags to use, before Lightning refuses it in its own words on every rank."""
    tasks, per_node, nodes = srun_tasks()
    if tasks <= 1:
        return
    want = f"--nodes={int(cfg.trainer.get('num_nodes', 1) or 1)} --ntasks-per-node={processes_per_node}"
    if per_node is None:
        raise ConfigError(
            f"srun/sbatch gave --ntasks={tasks} without --ntasks-per-node: Lightning needs the tasks "
            f"per node; use {want} (one task per device: trainer.devices tasks on each of "
            "trainer.num_nodes nodes)"
        )
    if per_node != processes_per_node or nodes != int(cfg.trainer.get("num_nodes", 1) or 1):
        raise ConfigError(
            f"srun/sbatch gave {per_node} task(s) per node on {nodes} node(s), but trainer.devices="
            f"{cfg.trainer.get('devices')} and trainer.num_nodes={cfg.trainer.get('num_nodes', 1)} "
            f"need {want}; change the srun/sbatch flags or set trainer.devices={per_node} "
            f"trainer.num_nodes={nodes}"
        )


def other_srun_task() -> bool:
    """This process is a task of an ``srun`` step other than its first (its errors are the first's)."""
    return srun_tasks()[0] > 1 and os.environ.get("SLURM_PROCID", "0") != "0"


def accounting_enabled() -> bool:
    """Whether ``sacct`` answers on this cluster (SLURM keeps a job database)."""
    try:
        return subprocess.run(["sacct", "-n", "-X", "-j", "1"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def squeue_states(job_ids: list[str]) -> dict[str, str]:
    """{job id: SLURM state} of the given jobs the queue still knows (pending, running, requeued, and for
    ``MinJobAge`` after they end, ended); an array's tasks as ``<array id>_<index>``. A job it no longer knows
    has ended. Raises ClusterError when the queue cannot be read (a busy or down controller), so that no
    caller takes an unanswered question for "every job ended"."""
    states: dict[str, str] = {}
    for i in range(0, len(job_ids), 200):
        ids = ",".join(job_ids[i : i + 200])
        try:
            out = subprocess.run(
                ["squeue", "-h", "-r", "-o", "%i|%T", "-j", ids], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ClusterError(
                f"cannot read the SLURM queue (squeue: {e}); try again when the controller answers"
            ) from None
        if out.returncode != 0:
            if "Invalid job id" in out.stderr:  # every job asked about has left the queue
                continue
            raise ClusterError(
                f"cannot read the SLURM queue: squeue: {' '.join(out.stderr.split())}; try again "
                "when the controller answers"
            )
        for line in out.stdout.splitlines():
            job, _, state = line.partition("|")
            states[job.strip()] = state.strip()
    return states


def install_quiet_watcher() -> None:
    """submitit's SLURM jobs get a watcher that asks ``squeue`` where ``sacct`` cannot answer (said once); it
    replaces the class's shared watcher. submitit is an optional dependency, so the class is made here."""
    import submitit
    from submitit.slurm.slurm import SlurmInfoWatcher

    class QuietSlurmWatcher(SlurmInfoWatcher):
        use_squeue: bool | None = None

        def update(self) -> None:
            if self.use_squeue is None:
                self.use_squeue = not accounting_enabled()
                if self.use_squeue:
                    log.warning(
                        "this SLURM cluster keeps no accounting (sacct fails): job states come from "
                        "squeue and the runs' own records"
                    )
            if not self.use_squeue:
                return super().update()
            to_check = sorted(self._registered - self._finished)
            if not to_check:
                return
            self._num_calls += 1
            try:
                states = squeue_states(sorted({j.split("_")[0] for j in to_check}))
            except ClusterError:
                return  # the controller is busy: ask again at the next poll
            for job in to_check:
                # gone from the queue: ended (submitit reads its result file, or says it failed without one)
                self._info_dict[job] = {"JobID": job, "State": states.get(job, "COMPLETED"), "NodeList": ""}
            self._last_status_check = time.time()
            for job in to_check:
                if self.is_done(job, mode="cache"):
                    self._finished.add(job)

    if type(submitit.SlurmJob.watcher).__name__ != "QuietSlurmWatcher":
        submitit.SlurmJob.watcher = QuietSlurmWatcher(delay_s=600)


class QuietSlurm(Callback):
    """A Hydra callback: under hydra/launcher=slurm, submitit's watcher that says a cluster without accounting
    once (install_quiet_watcher)."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        if "SlurmLauncher" in str(config.hydra.launcher.get("_target_", "")):
            install_quiet_watcher()
