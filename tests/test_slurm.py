"""scatnet on a real SLURM (the single-node cluster of tests/slurm_cluster.py): sweeps through
hydra/launcher=slurm, requeues and time limits, the whole study as batch jobs (detached, killed, relaunched),
and DDP training under ``srun``. No part of SLURM is mocked; every wait is bounded."""

from __future__ import annotations

import collections
import csv
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import script

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# A CPU run of a few seconds (digits, a narrow body): the launcher is what these tests exercise.
RUN = ["sweep=custom", "experiment=quickstart", "trainer=cpu", "model.width=8", "progress_bar=false"]
LAUNCHER = [
    "hydra/launcher=slurm",
    "hydra.launcher.gpus_per_node=0",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
    "hydra.launcher.partition=debug",
]
STUDY = [
    "study=smoke",
    "launcher=slurm",
    "slurm.gpus_per_job=0",
    "slurm.cpus_per_run=1",
    "slurm.mem_gb_per_run=1",
    "slurm.runs_per_job=1",
    "slurm.time_min=10",
]


@pytest.fixture
def env(cli_env, slurm_cluster):
    return {**cli_env, **slurm_cluster.env}


def queue(env) -> list[dict]:
    out = subprocess.run(["squeue", "-h", "-o", "%i|%T|%r"], env=env, capture_output=True, text=True, timeout=60)
    return [dict(zip(("job", "state", "reason"), line.split("|"))) for line in out.stdout.splitlines()]


def release_requeued(env, seen: dict) -> int:
    """Requeued jobs wait out SLURM's requeue delay (BeginTime): start them now, once they have waited 3 s
    (started within the second of their requeue, slurmd refuses the job's new credential as revoked).
    ``seen``: {job: when first seen waiting}. Returns how many were released."""
    now, released = time.monotonic(), 0
    for j in queue(env):
        if j["state"] == "PENDING" and j["reason"] == "BeginTime":
            if now - seen.setdefault(j["job"], now) >= 3:
                subprocess.run(["scontrol", "update", f"JobId={j['job']}", "StartTime=now"], env=env, timeout=60)
                seen.pop(j["job"])
                released += 1
    return released


def finish(proc: subprocess.Popen, env, timeout: float) -> tuple[str, str, int]:
    """Wait for a launched command, releasing requeued jobs meanwhile; (stdout, stderr, requeues released)."""
    deadline, released, seen = time.monotonic() + timeout, 0, {}
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{proc.args[:3]} still running after {timeout:.0f} s; queue: {queue(env)}")
        released += release_requeued(env, seen)
        time.sleep(1)
    out, err = proc.communicate()
    return out, err, released


def launch(args, env) -> subprocess.Popen:
    return subprocess.Popen(
        [script(args[0]), *args[1:]], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def epochs_logged(run_dir: Path) -> collections.Counter:
    rows = csv.DictReader(open(run_dir / "csv" / "metrics.csv"))
    return collections.Counter(int(r["epoch"]) for r in rows if r.get("val/acc"))


def only_run(env) -> Path:
    (metrics,) = (Path(env["SCATNET_OUTPUTS"]) / "sweeps" / "custom" / "runs").glob("*/metrics.json")
    return metrics.parent


def test_a_sweep_on_slurm_sums_up_right_lists_its_failure_and_keeps_the_log_quiet(env):
    """Two runs as an array, one with a learning rate that diverges: exit 1, the summary counts both and
    names the failed run; a cluster without accounting is said once, Lightning's srun hint never."""
    proc = subprocess.run(
        [
            script("scatnet-train"),
            "-m",
            *RUN,
            "trainer.max_epochs=2",
            "seed=0",
            "optim.lr=0.1,1e12",
            *LAUNCHER,
            "hydra.launcher.timeout_min=5",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 1, log[-3000:]
    assert "scatnet sweep custom: 2 runs: 1 completed, 1 failed" in proc.stdout
    assert "  failed: " in proc.stdout and "NonFiniteLossError" in proc.stdout
    assert log.count("keeps no accounting") == 1 and "Bypassing sacct" not in log, log[-3000:]
    assert "accounting storage is disabled" not in log
    hydra_dir = next((Path(env["SCATNET_OUTPUTS"]) / "sweeps" / "custom" / "hydra").iterdir())
    assert list(hydra_dir.glob(".submitit/*/*_submission.sh")), "not submitted through sbatch"
    train_logs = "".join(p.read_text() for p in hydra_dir.glob(".submitit/*/*_log.*"))
    assert "is available on your system but is not used" not in train_logs


def test_a_requeued_run_resumes_from_its_checkpoint_each_epoch_logged_once(env):
    proc = launch(
        ["scatnet-train", "-m", *RUN, "trainer.max_epochs=30", "seed=0", *LAUNCHER, "hydra.launcher.timeout_min=5"], env
    )
    runs = Path(env["SCATNET_OUTPUTS"]) / "sweeps" / "custom" / "runs"
    deadline = time.monotonic() + 120
    while not any(json.loads(p.read_text()).get("epoch", 0) >= 5 for p in runs.glob("*/progress.json")):
        assert time.monotonic() < deadline and proc.poll() is None, "the run never reached epoch 5"
        time.sleep(0.5)
    (job,) = [j["job"] for j in queue(env)]
    subprocess.run(["scontrol", "requeue", job], env=env, check=True, timeout=60)
    out, err, released = finish(proc, env, timeout=420)
    assert proc.returncode == 0, (out + err)[-3000:]
    assert "1 runs: 1 completed" in out and released >= 1
    m = json.loads((only_run(env) / "metrics.json").read_text())
    assert m["status"] == "completed" and m["resumed_from_epoch"] >= 5
    logged = epochs_logged(only_run(env))
    assert sorted(logged) == list(range(30)) and set(logged.values()) == {1}


def test_a_job_at_its_time_limit_is_resubmitted_and_resumes(env):
    """A 1-minute limit, SIGUSR2 30 s before it: submitit requeues the job, which resumes the run. (SLURM
    checks time limits every few seconds, so how much an attempt trains varies with the machine's load: as
    many requeues are allowed as a slow machine needs.)"""
    args = [
        "-m",
        *RUN,
        "trainer.max_epochs=80",
        "seed=0",
        *LAUNCHER,
        "hydra.launcher.timeout_min=1",
        "hydra.launcher.signal_delay_s=30",
        "hydra.launcher.max_num_timeout=10",
    ]
    proc = launch(["scatnet-train", *args], env)
    out, err, released = finish(proc, env, timeout=480)
    assert proc.returncode == 0, (out + err)[-3000:]
    m = json.loads((only_run(env) / "metrics.json").read_text())
    assert m["status"] == "completed" and m["resumed_from_epoch"] is not None and released >= 1
    hydra_dir = next((Path(env["SCATNET_OUTPUTS"]) / "sweeps" / "custom" / "hydra").iterdir())
    assert "Job has timed out" in (hydra_dir / "0" / "train.log").read_text()  # the job's log, every attempt
    logged = epochs_logged(only_run(env))
    assert sorted(logged) == list(range(80)) and set(logged.values()) == {1}


def test_the_study_on_slurm_detaches_survives_a_kill_and_is_never_submitted_twice(env):
    out_dir = Path(env["SCATNET_OUTPUTS"]) / "study" / "smoke"
    first = subprocess.run(
        [script("scatnet-study"), *STUDY, "wait=false"], env=env, capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr[-2000:]
    assert "4 job(s) submitted, 0 already queued or running" in first.stdout  # the benchmark and 3 runs
    assert "relaunch the same command" in first.stdout and not (out_dir / "report.html").exists()
    jobs = json.loads((out_dir / "slurm" / "jobs.json").read_text())
    assert sorted(len(j["runs"]) for j in jobs.values()) == [1, 1, 1, 1]

    look = subprocess.run(
        [script("scatnet-study"), *STUDY, "status"], env=env, capture_output=True, text=True, timeout=120
    )
    assert look.returncode == 0 and "scatnet-study smoke: " in look.stdout, look.stderr[-2000:]
    assert json.loads((out_dir / "status.json").read_text())["counts"]["total"] == 3

    cancelled = max(jobs, key=int)  # a run's job (the benchmark's is the first): gone, so submitted again
    subprocess.run(["scancel", cancelled], env=env, check=True, timeout=60)
    before = (out_dir / "status.json").stat().st_mtime_ns
    follower = launch(["scatnet-study", *STUDY], env)  # attaches, then dies while following
    deadline = time.monotonic() + 60
    while (out_dir / "status.json").stat().st_mtime_ns == before:  # until it has followed one poll
        assert time.monotonic() < deadline and follower.poll() is None, follower.communicate()
        time.sleep(0.2)
    follower.send_signal(signal.SIGKILL)
    follower.wait(timeout=30)

    last = subprocess.run([script("scatnet-study"), *STUDY], env=env, capture_output=True, text=True, timeout=420)
    assert last.returncode == 0, (last.stdout + last.stderr)[-3000:]
    assert "0 job(s) submitted" in last.stdout
    final = json.loads((out_dir / "slurm" / "jobs.json").read_text())
    assert len(final) == 5 and set(jobs) < set(final)  # the cancelled run's job once more, nothing else twice
    assert final[max(final, key=int)]["runs"] == jobs[cancelled]["runs"]
    status = json.loads((out_dir / "status.json").read_text())
    assert status["phase"] == "finished" and status["counts"]["done"] == 3 and status["launcher"] == "slurm"
    assert (out_dir / "report.html").exists() and json.loads((out_dir / "bench" / "bench.json").read_text())[
        "status"
    ] == "completed"
    for run in status["runs"]:
        logged = epochs_logged(Path(run["run_dir"]))
        assert sorted(logged) == [0, 1] and set(logged.values()) == {1}


def test_ddp_under_srun_matches_a_one_process_evaluation_of_its_checkpoint(env, tmp_path):
    run_dir = tmp_path / "ddp"
    args = [
        "experiment=quickstart",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "model.width=8",
        "trainer.max_epochs=2",
        "progress_bar=false",
        f"hydra.run.dir={run_dir}",
    ]
    proc = subprocess.run(
        ["srun", "--ntasks-per-node=2", "--cpus-per-task=1", script("scatnet-train"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert proc.stdout.count("scatnet: dtcwt") == 1  # rank 0 alone sums it up
    trained = json.loads((run_dir / "metrics.json").read_text())
    assert trained["status"] == "completed"
    ev = subprocess.run(
        [script("scatnet-eval"), str(run_dir), "--device", "cpu"], env=env, capture_output=True, text=True, timeout=300
    )
    assert ev.returncode == 0, ev.stderr[-2000:]
    again = json.loads((run_dir / "eval.json").read_text())
    assert again["test_acc"] == pytest.approx(trained["test_acc"], abs=1e-9)


@pytest.mark.parametrize(
    "layout, devices, hint",
    [
        (["--ntasks=2"], 2, "--ntasks-per-node=2"),
        (["--ntasks-per-node=2"], 1, "trainer.devices=2"),
    ],
)
def test_a_wrong_task_layout_is_one_line_printed_once(env, tmp_path, layout, devices, hint):
    proc = subprocess.run(
        [
            "srun",
            *layout,
            script("scatnet-train"),
            "experiment=quickstart",
            "trainer=ddp",
            "trainer.accelerator=cpu",
            f"trainer.devices={devices}",
            "progress_bar=false",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("scatnet-train: error:")]
    assert len(errors) == 1 and hint in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "Error executing job" not in proc.stderr
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_a_study_job_signalled_before_its_time_limit_requeues_itself_and_resumes(env, tmp_path):
    """The job script's own path to a time limit: SIGUSR1 (here sent at once, as SLURM sends it
    ``slurm.signal_seconds`` before the limit) stops the run at its last checkpoint and requeues the job; a
    relaunch attaches to it, and the run resumes and completes, every epoch logged once."""
    out = tmp_path / "study"
    (tmp_path / "long.yaml").write_text(f"""\
name: long
out: {out}
bench: null
parts:
  one: {{sweep: custom, data: [digits], overrides: [experiment=quickstart, trainer=cpu, model.width=8,
                                                    trainer.max_epochs=40]}}
""")
    args = [f"study={tmp_path / 'long.yaml'}", *STUDY[1:]]
    first = subprocess.run(
        [script("scatnet-study"), *args, "wait=false"], env=env, capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0 and "1 job(s) submitted" in first.stdout, first.stderr[-2000:]
    (job,) = json.loads((out / "slurm" / "jobs.json").read_text())
    deadline = time.monotonic() + 120
    while not any(json.loads(p.read_text()).get("epoch", 0) >= 5 for p in out.glob("runs/*/progress.json")):
        assert time.monotonic() < deadline, f"the run never reached epoch 5; queue: {queue(env)}"
        time.sleep(0.5)
    subprocess.run(["scancel", "--batch", "--signal=USR1", job], env=env, check=True, timeout=60)
    out_text, err, released = finish(launch(["scatnet-study", *args], env), env, timeout=420)
    assert "0 job(s) submitted, 1 already queued or running" in out_text, (out_text + err)[-3000:]
    assert released >= 1 and "1/1 done" in out_text
    (metrics,) = out.glob("runs/*/metrics.json")
    m = json.loads(metrics.read_text())
    assert m["status"] == "completed" and m["resumed_from_epoch"] >= 5
    logged = epochs_logged(metrics.parent)
    assert sorted(logged) == list(range(40)) and set(logged.values()) == {1}
    assert list(json.loads((out / "slurm" / "jobs.json").read_text())) == [job]
