"""The study on a SLURM cluster (``launcher=slurm``): its runs submitted at once as batch jobs, followed
through the runs' own records, and never submitted twice.

Each job trains ``runs_per_job`` runs side by side (several runs share one GPU, as ``runs_per_gpu`` does on
one machine), each a ``scatnet-train`` process. Every job is in SLURM's queue before the study starts
following, and its id is in ``<out>/slurm/jobs.json``: the command that submitted them may end (``wait=false``,
Ctrl-C, a closed SSH session) and nothing queued is lost. Hydra's submitit launcher cannot do this: its
watcher submits an array and must stay alive. A relaunch, or ``scatnet-study ... status``, reads the queue
(``squeue``) and the runs' records: a run whose job is queued or running is attached to, a completed one is
skipped, any other is submitted again (its training resumes from its checkpoint).

Preemption and time limits: each job is ``--requeue``able, and is sent SIGUSR1 ``signal_seconds`` before its
limit. The job script then stops its runs (SIGTERM: each keeps its last finished epoch) and requeues itself,
at most ``max_requeues`` times; the requeued job resumes them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shlex
import subprocess
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from scatnet.errors import ConfigError
from scatnet.files import write_text
from scatnet.study.plan import PlannedRun
from scatnet.study.runner import Outcome, train_command
from scatnet.study.status import RUNNING, run_state, snapshot, write_status
from scatnet.training.metrics_file import read_metrics
from scatnet.training.slurm import squeue_states
from scatnet.training.validate import integer

JOBS = Path("slurm") / "jobs.json"
BENCH = "bench"  # the benchmark's job, by the name of its log
# SLURM job states after which a job does nothing more (squeue still lists a job for MinJobAge after it ends)
ENDED = {
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "BOOT_FAIL",
    "DEADLINE",
    "PREEMPTED",
    "SPECIAL_EXIT",
    "REVOKED",
}


@dataclasses.dataclass
class SlurmSettings:
    """``study.slurm``: what each job asks of the cluster (scatnet/configs/study/thesis.yaml shows them)."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time_min: int = 240  # the job's time limit; a job that reaches it is requeued and resumes
    gpus_per_job: int = 1  # 0 on a CPU partition
    runs_per_job: int = 3  # runs side by side in one job (sharing its GPUs)
    cpus_per_run: int = 4
    mem_gb_per_run: int = 16
    max_requeues: int = 3  # time-limit requeues of one job; preemptions are SLURM's to count
    signal_seconds: int = 120  # SIGUSR1 this long before the time limit: stop, then requeue
    sbatch: list[str] = dataclasses.field(default_factory=list)  # further #SBATCH lines, e.g. ["--constraint=a100"]


def slurm_settings(study: DictConfig) -> SlurmSettings:
    """``study.slurm`` checked against SlurmSettings: one line naming a key that is unknown or of the wrong type."""
    given = study.get("slurm") or {}
    try:
        merged = OmegaConf.merge(OmegaConf.structured(SlurmSettings), given)
    except Exception as e:  # noqa: BLE001 - OmegaConf's validation errors, many classes
        raise ConfigError(
            f"study.slurm: {str(e).splitlines()[0]}; its options: "
            f"{', '.join(f.name for f in dataclasses.fields(SlurmSettings))}"
        ) from None
    settings = SlurmSettings(**OmegaConf.to_container(merged))
    for key, (ok, allowed) in SLURM_RULES.items():
        if not ok(getattr(settings, key)):
            raise ConfigError(f"study.slurm.{key}={getattr(settings, key)} is not valid; it must be {allowed}")
    return settings


def _sbatch_value(v) -> bool:  # one #SBATCH line's value: no line break or space to end it early
    return v is None or (isinstance(v, str) and v != "" and not any(c.isspace() for c in v))


#: SlurmSettings' values: field -> (test, what is allowed).
SLURM_RULES = {
    **{key: (_sbatch_value, "a name without spaces (or null)") for key in ("partition", "account", "qos")},
    **{key: integer(1) for key in ("time_min", "runs_per_job", "cpus_per_run", "mem_gb_per_run")},
    **{key: integer(0) for key in ("gpus_per_job", "max_requeues", "signal_seconds")},
    "sbatch": (
        lambda v: all(isinstance(a, str) and a.startswith("--") and _sbatch_value(a) for a in v),
        "a list of sbatch options, e.g. [--constraint=a100]",
    ),
}


def job_script(
    name: str, tasks: list[tuple[str, list[str]]], out: Path, s: SlurmSettings, exclusive: bool = False
) -> str:
    """The batch script of one job: its #SBATCH header, then its tasks ((log name, command)) side by side."""
    n = len(tasks)
    header = [
        f"--job-name=scatnet-{name}",
        f"--output={out / 'logs' / 'slurm-%j.out'}",
        "--open-mode=append",
        "--requeue",
        f"--signal=B:USR1@{s.signal_seconds}",
        f"--time={s.time_min}",
        "--nodes=1",
        "--ntasks=1",
        f"--cpus-per-task={s.cpus_per_run * n}",
        f"--mem={s.mem_gb_per_run * n}G",
    ]
    header += [f"--{key}={getattr(s, key)}" for key in ("partition", "account", "qos") if getattr(s, key)]
    header += [f"--gres=gpu:{s.gpus_per_job}"] if s.gpus_per_job else []
    header += ["--exclusive"] if exclusive else []
    header += list(s.sbatch)
    lines = [
        "#!/bin/bash",
        *(f"#SBATCH {h}" for h in header),
        f"# scatnet-study {name}: {', '.join(t[0] for t in tasks)}; each keeps its own log in {out / 'logs'}",
        "pids=()",
        "stop_and_requeue() {  # SIGUSR1 before the time limit: each run keeps its last finished epoch",
        '  kill -TERM "${pids[@]}" 2>/dev/null; wait',
        f'  if [ "${{SLURM_RESTART_COUNT:-0}}" -lt {s.max_requeues} ]; then scontrol requeue "$SLURM_JOB_ID"; fi',
        "  exit 0",
        "}",
        "trap stop_and_requeue USR1",
        'IFS=, read -ra gpus <<< "${CUDA_VISIBLE_DEVICES:-}"',
    ]
    for i, (log_name, cmd) in enumerate(tasks):
        device = f'CUDA_VISIBLE_DEVICES="${{gpus[{i} % ${{#gpus[@]}}]}}" ' if s.gpus_per_job else ""
        log = shlex.quote(str(out / "logs" / f"{log_name}.log"))
        lines += [f"{device}OMP_NUM_THREADS={s.cpus_per_run} {shlex.join(cmd)} >> {log} 2>&1 &", "pids+=($!)"]
    lines += ["wait  # returns early on SIGUSR1 (the trap then stops and requeues)", ""]
    return "\n".join(lines)


class SlurmStudy:
    """The study's runs as SLURM jobs: submit what is neither completed nor queued, then follow."""

    def __init__(self, name: str, out: Path, runs: list[PlannedRun], settings: SlurmSettings, show):
        self.name, self.out, self.runs, self.s, self.show = name, out, runs, settings, show
        self.started = time.time()
        self.jobs: dict[str, dict] = self._load()
        self.queue: dict[str, str] = {}
        self.stopping: int | None = None

    # --- the record of submitted jobs -------------------------------------------------------------------
    def _load(self) -> dict[str, dict]:
        path = self.out / JOBS
        if not path.exists():
            return {}
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            raise ConfigError(
                f"{path} is not a jobs file scatnet wrote (damaged JSON); check squeue for the "
                f"study's jobs (job name scatnet-{self.name}), cancel them, remove the file and "
                "relaunch"
            ) from None

    def _save(self) -> None:
        write_text(self.out / JOBS, json.dumps(self.jobs, indent=1) + "\n")

    # --- the queue --------------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.queue = squeue_states(list(self.jobs))

    def job_of(self, run: PlannedRun) -> str | None:
        """The newest job of this run still queued or running."""
        for job, info in sorted(self.jobs.items(), key=lambda kv: -int(kv[0])):
            if run.name in info["runs"] and self.live(job):
                return job
        return None

    def live(self, job: str) -> bool:
        """Queued, running or requeued: the queue lists it in a state other than an ended one."""
        return job in self.queue and self.queue[job] not in ENDED

    def live_jobs(self) -> list[str]:
        return [j for j in self.queue if self.live(j)]

    def submit_missing(self) -> list[str]:
        """Submit every run that is neither completed nor in a live job, ``runs_per_job`` per job (a lock
        makes two launches at once submit once)."""
        with self._submitting():
            todo = [
                r
                for r in self.runs
                if (read_metrics(r.run_dir) or {}).get("status") != "completed" and self.job_of(r) is None
            ]
            groups = [todo[i : i + self.s.runs_per_job] for i in range(0, len(todo), self.s.runs_per_job)]
            return [self._submit([(r.name, train_command(r, self.out)) for r in group]) for group in groups]

    @contextlib.contextmanager
    def _submitting(self):
        """Under the study's submit lock, with the jobs file and the queue read afresh (then again after)."""
        from filelock import FileLock

        for d in ("slurm", "logs"):
            (self.out / d).mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.out / "slurm" / ".submit.lock")):
            self.jobs = self._load()
            self.refresh()
            yield
            self.refresh()

    def submit_bench(self, command: list[str]) -> str | None:
        """Table 1.2 as a job of its own, alone on its node (--exclusive); None when done or queued."""
        with self._submitting():
            if any(i["runs"] == [BENCH] and self.live(j) for j, i in self.jobs.items()):
                return None
            return self._submit([(BENCH, command)], exclusive=True)

    def _submit(self, tasks: list[tuple[str, list[str]]], exclusive: bool = False) -> str:
        script = job_script(self.name, tasks, self.out, self.s, exclusive)
        path = self.out / "slurm" / f"{tasks[0][0]}.sbatch"
        path.write_text(script)
        proc = subprocess.run(["sbatch", "--parsable", str(path)], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise ConfigError(
                f"sbatch refused {path}: {' '.join(proc.stderr.split())}; fix study.slurm "
                "(partition, account, gpus_per_job, ...) and relaunch: submitted jobs are kept"
            )
        job = proc.stdout.strip().split(";")[0]
        self.jobs[job] = {"runs": [t[0] for t in tasks], "script": str(path), "submitted": time.time()}
        self._save()  # recorded before the next submission: a study killed here loses nothing
        return job

    # --- where the study stands -------------------------------------------------------------------------
    def states(self) -> list[dict]:
        out = []
        for r in self.runs:
            job = self.job_of(r)
            running = job is not None and self.queue.get(job) in ("RUNNING", "COMPLETING")
            ended_unfinished = (
                job is None
                and any(r.name in i["runs"] for i in self.jobs.values())
                and (read_metrics(r.run_dir) or {}).get("status") != "completed"
            )
            state = run_state(r, running, ended_unfinished)
            state["job"] = job
            out.append(state)
        return out

    def status(self, phase: str) -> dict:
        states = self.states()
        slots = max(sum(s["state"] == RUNNING for s in states), 1)
        status = snapshot(self.name, self.out, states, slots, self.started, phase)
        status["launcher"] = "slurm"
        status["jobs"] = {"live": len(self.live_jobs()), "submitted": len(self.jobs)}
        write_status(self.out, status)
        return status

    def follow(self, poll_seconds: float = 5.0) -> Outcome:
        """Until no job of the study is queued or running; the outcome as a local run's."""
        import signal

        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while self.stopping is None:
                self.refresh()
                self.show(self.status("training"))
                if not self.live_jobs():
                    break
                end = time.monotonic() + poll_seconds
                while time.monotonic() < end and self.stopping is None:
                    time.sleep(0.2)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        outcome = Outcome()
        for s, r in zip(self.states(), self.runs):
            if s["state"] == "failed":
                outcome.failed.append(r)
        return outcome

    def _on_signal(self, signum, frame) -> None:
        self.stopping = signum
