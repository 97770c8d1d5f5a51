"""Run a study's plan: every run a ``scatnet-train`` process of its own, several at a time on each device.

Slots: ``runs_per_gpu`` per visible GPU (each process sees only its GPU), or ``cpu_runs`` on a machine
without one (the CPU's threads shared between them). Runs are started longest first. A run whose record says
completed is not started at all; any other is started, and training itself resumes a killed run from its
checkpoint or retries a failed one. A signal to the study (SIGTERM, Ctrl-C) is passed to the runs, each
records itself as interrupted, and the study exits 143 / 130: relaunching the same command continues.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from scatnet.study.plan import PlannedRun
from scatnet.study.status import RUNNING, run_state, snapshot, write_status
from scatnet.training.lock import RunLock
from scatnet.training.metrics_file import read_metrics
from scatnet.training.signals import RunInterrupted


@dataclass
class Slot:
    device: str | None  # CUDA_VISIBLE_DEVICES for its runs; None on a CPU-only machine
    threads: int | None = None  # torch threads per run on a CPU
    process: subprocess.Popen | None = None
    run: PlannedRun | None = None
    log: object = None


@dataclass
class Outcome:
    failed: list[PlannedRun] = field(default_factory=list)
    trained: list[PlannedRun] = field(default_factory=list)
    elsewhere: list[PlannedRun] = field(default_factory=list)


def slots_for(gpus: int, runs_per_gpu: int, cpu_runs: int) -> list[Slot]:
    if gpus:
        # the study's own CUDA_VISIBLE_DEVICES, if set, names the GPUs it may use: each run gets one of those
        visible = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
        names = visible[:gpus] if len(visible) >= gpus else [str(g) for g in range(gpus)]
        return [Slot(name) for name in names for _ in range(max(runs_per_gpu, 1))]
    n = max(cpu_runs, 1)
    return [Slot(None, max((os.cpu_count() or 1) // n, 1)) for _ in range(n)]


def train_command(run: PlannedRun, out: Path) -> list[str]:
    """The run as ``scatnet-train`` runs it: its sweep's config and grid point, as one run (not a multirun),
    in the folder the plan computed (Hydra's own output goes there too)."""
    exe = Path(sys.executable).parent / "scatnet-train"
    head = [str(exe)] if exe.exists() else [sys.executable, "-m", "scatnet.cli.train"]
    return [
        *head,
        *run.overrides,
        "hydra.mode=RUN",
        f"paths.runs_dir={quoted(out / 'runs')}",
        f"hydra.run.dir={quoted(run.run_dir)}",
        f"hydra.sweep.dir={quoted(out / 'hydra')}",
        "progress_bar=false",
    ]


def quoted(path: Path) -> str:
    """A path as a Hydra override value: quoted, since a run folder's name may hold '=' or ',' (sweep=custom
    names runs after their overrides)."""
    return "'" + str(path).replace("'", "\\'") + "'"


class StudyRunner:
    def __init__(self, name: str, out: Path, runs: list[PlannedRun], slots: list[Slot], show):
        self.name, self.out, self.runs, self.slots, self.show = name, out, runs, slots, show
        self.started = time.time()
        self.outcome = Outcome()
        self.stopping: int | None = None

    def states(self) -> list[dict]:
        active = {s.run.run_dir for s in self.slots if s.run is not None}
        failed = {r.run_dir for r in self.outcome.failed}
        return [run_state(r, r.run_dir in active, r.run_dir in failed) for r in self.runs]

    def status(self, phase: str) -> dict:
        status = snapshot(self.name, self.out, self.states(), len(self.slots), self.started, phase)
        write_status(self.out, status)
        return status

    def run(self) -> Outcome:
        pending = [r for r in self.runs if (read_metrics(r.run_dir) or {}).get("status") != "completed"]
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while (pending or any(s.process for s in self.slots)) and self.stopping is None:
                for slot in self.slots:
                    if slot.process is None and pending:
                        self._start(slot, pending.pop(0))
                self._reap()
                self.show(self.status("training"))
                time.sleep(0.5)
            if self.stopping is not None:
                self._stop_all()
                self.show(self.status("interrupted"))
                raise RunInterrupted(
                    self.stopping,
                    f"scatnet-study {self.name}: stopped by "
                    f"{signal.Signals(self.stopping).name}; each run keeps its last finished "
                    "epoch; relaunch the same command to continue",
                )
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.outcome

    def _on_signal(self, signum, frame) -> None:
        self.stopping = signum

    def _start(self, slot: Slot, run: PlannedRun) -> None:
        env = dict(os.environ)
        if slot.device is not None:
            env["CUDA_VISIBLE_DEVICES"] = slot.device
        if slot.threads is not None:
            env["OMP_NUM_THREADS"] = str(slot.threads)
        (self.out / "logs").mkdir(parents=True, exist_ok=True)
        slot.log = open(self.out / "logs" / f"{run.name}.log", "a")
        # its own process group: a Ctrl-C in the terminal reaches the study, which stops the runs in order
        slot.process = subprocess.Popen(
            train_command(run, self.out), env=env, stdout=slot.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        slot.run = run

    def _reap(self) -> None:
        for slot in self.slots:
            if slot.process is None or slot.process.poll() is None:
                continue
            record = read_metrics(slot.run.run_dir) or {}
            if record.get("status") == "running" and RunLock(slot.run.run_dir).is_held():
                self.outcome.elsewhere.append(slot.run)  # another process trains it (a second study, a sweep)
            elif record.get("status") != "completed":
                self.outcome.failed.append(slot.run)
            self.outcome.trained.append(slot.run)
            self._free(slot)

    def _free(self, slot: Slot) -> None:
        slot.log.close()
        slot.process, slot.run, slot.log = None, None, None

    def _stop_all(self) -> None:
        """SIGTERM to every run (each saves nothing new: its last checkpoint stands, its record says
        interrupted), then wait for them."""
        for slot in self.slots:
            if slot.process is not None and slot.process.poll() is None:
                slot.process.send_signal(signal.SIGTERM)
        for slot in self.slots:
            if slot.process is not None:
                try:
                    slot.process.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    slot.process.kill()
                    slot.process.wait()
                self._free(slot)


def visible_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def running_runs(status: dict) -> list[dict]:
    return [s for s in status["runs"] if s["state"] == RUNNING]
