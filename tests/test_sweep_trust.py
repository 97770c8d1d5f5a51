"""Sweeps under real-life accidents: two launches at once, signals, a full disk, a forced retrain, a resumed CSV
log, and the submitit launcher's summary. Each asserts what a user reads afterwards."""

from __future__ import annotations

import csv
import errno
import json
import signal
import subprocess
from pathlib import Path

import pytest

from scatnet.training.lock import RunLock
from tests.conftest import compose, script
from tests.test_sweep import SMALL, runs, sweep, wait_for_checkpoint

pytestmark = pytest.mark.slow  # whole commands or trainings

QUICK = ["experiment=quickstart", "trainer=cpu", "model.width=8", "progress_bar=false"]


def _csv_rows(run_dir: Path) -> list[dict]:
    return list(csv.DictReader(open(run_dir / "csv" / "metrics.csv")))


def _epochs_logged(rows: list[dict], key: str) -> list[int]:
    return [int(r["epoch"]) for r in rows if r.get(key)]


def test_two_launches_of_one_sweep_train_every_run_exactly_once(tmp_path, cli_env):
    args = [*SMALL, "frontend.padding=symmetric,zero", "seed=0,1"]
    procs = [
        subprocess.Popen(
            [script("scatnet-train"), *args], env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    files = runs(cli_env)
    assert len(files) == 4
    for f in files:
        m = json.loads(f.read_text())
        assert m["status"] == "completed" and len(m["launches"]) == 1  # trained once, by one process
        rows = _csv_rows(f.parent)
        assert _epochs_logged(rows, "val/acc") == [0] and _epochs_logged(rows, "train/acc") == [0]
    # each run trained in one process and was skipped or left to its owner by the other
    lines = [ln for out, _ in outs for ln in out.splitlines() if ln.startswith("scatnet: ")]
    assert len([ln for ln in lines if "test acc" in ln and "skipped" not in ln]) == 4, lines
    for out, _ in outs:
        line = next(ln for ln in out.splitlines() if ln.startswith("scatnet sweep table14: 4 runs:"))
        assert "completed" in line and "failed" not in line


def test_a_run_held_by_a_live_process_is_skipped_and_left_untouched(tmp_path):
    from scatnet.training.run import resolve_run_dir, train

    cfg = compose([*QUICK, "trainer.max_epochs=1"], tmp_path / "run")
    run_dir = resolve_run_dir(cfg)
    run_dir.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            "python3",
            "-c",
            "import fcntl, os, sys, time; fd = os.open(sys.argv[1], "
            "os.O_RDWR | os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); "
            "time.sleep(60)",
            str(run_dir / ".lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        m = train(cfg)
        assert m["status"] == "running elsewhere" and not (run_dir / "metrics.json").exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder died: its lock went with it, and the next launch takes the run over
    assert train(compose([*QUICK, "trainer.max_epochs=1"], tmp_path / "run"))["status"] == "completed"
    lock = RunLock(run_dir)
    assert lock.acquire() and "pid" in lock.holder()
    lock.release()


@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_a_run_resumably_with_one_line_and_the_relaunch_matches(tmp_path, cli_env, signum, code):
    args = [*QUICK, "trainer.max_epochs=4", "model.width=32", f"hydra.run.dir={tmp_path / 'run'}"]
    proc = subprocess.Popen(
        [script("scatnet-train"), *args], env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for_checkpoint(tmp_path / "run", "checkpoints/last.ckpt")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    name = signal.Signals(signum).name
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"scatnet-train: error: stopped by {name} in run ") and "relaunch the same command" in last
    assert "Traceback" not in err
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["status"] == "interrupted" and m["reason"].startswith(f"stopped by {name}")

    again = subprocess.run([script("scatnet-train"), *args], env=cli_env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["status"] == "completed" and m["epochs_completed"] == 4 and m["resumed_from_epoch"] >= 1
    assert [lc["status"] for lc in m["launches"]] == ["interrupted", "completed"]
    assert m["wall_seconds"] == pytest.approx(sum(lc["wall_seconds"] for lc in m["launches"]), abs=1e-2)
    rows = _csv_rows(tmp_path / "run")
    assert _epochs_logged(rows, "val/acc") == [0, 1, 2, 3] and _epochs_logged(rows, "train/acc") == [0, 1, 2, 3]

    if signum != signal.SIGTERM:
        return
    # the same run uninterrupted reaches the same weights, so the same test accuracy
    whole = subprocess.run(
        [script("scatnet-train"), *args[:-1], f"hydra.run.dir={tmp_path / 'whole'}"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert whole.returncode == 0
    assert json.loads((tmp_path / "whole" / "metrics.json").read_text())["test_acc"] == m["test_acc"]


def test_sigterm_stops_a_sweep_after_the_run_it_hit_and_prints_the_summary(tmp_path, cli_env):
    args = [*SMALL, "frontend.padding=symmetric,zero", "seed=0,1", "trainer.max_epochs=3", "model.width=32"]
    proc = subprocess.Popen(
        [script("scatnet-train"), *args], env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    runs_dir = Path(cli_env["SCATNET_OUTPUTS"]) / "sweeps" / "table14" / "runs"
    wait_for_checkpoint(runs_dir)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert "scatnet sweep table14: 1 runs: 1 interrupted" in out
    assert err.strip().splitlines()[-1].endswith("the sweep's remaining runs were not started")
    assert len(list(runs_dir.glob("*/metrics.json"))) == 1  # no further run was started

    again = sweep(args, cli_env)
    assert again.returncode == 0 and "4 runs: 4 completed" in again.stdout


def test_a_full_disk_is_one_line_and_the_run_stays_resumable(tmp_path, monkeypatch):
    """A save that fails with ENOSPC (what a full filesystem raises): one clear error, metrics.json says
    failed with that reason (never running or completed), no half-written checkpoint; with space again the
    relaunch resumes."""
    from scatnet.files import DiskFull
    from scatnet.training import checkpoint_io
    from scatnet.training.run import train

    real_save = checkpoint_io.torch.save
    saves = []

    def save(obj, f):
        saves.append(1)
        if len(saves) == 2:  # the second epoch's checkpoint: the disk has filled up
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f)

    monkeypatch.setattr(checkpoint_io.torch, "save", save)
    with pytest.raises(
        DiskFull,
        match=r"no space left on the device of .* MiB free there\); the run keeps its last "
        r"complete checkpoint: free some space and relaunch the same command",
    ):
        train(compose([*QUICK, "trainer.max_epochs=3"], tmp_path / "run"))
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["status"] == "failed" and m["reason"].startswith("DiskFull: no space left")
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert ckpts == ["last.ckpt"]  # the first epoch's, whole; no temporary file left

    monkeypatch.setattr(checkpoint_io.torch, "save", real_save)
    m = train(compose([*QUICK, "trainer.max_epochs=3"], tmp_path / "run"))
    assert m["status"] == "completed" and m["resumed_from_epoch"] == 1


def test_metrics_json_gets_its_final_status_even_when_no_new_file_fits(tmp_path, monkeypatch):
    from scatnet.training import metrics_file

    metrics_file.write_metrics(tmp_path, {"status": "running", "config": {"a": list(range(50))}})
    real = Path.write_text

    def full(self, *a, **k):
        if self.name.endswith(".tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", full)
    metrics_file.write_metrics(tmp_path, {"status": "failed", "reason": "DiskFull", "config": {"a": list(range(50))}})
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "failed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_force_retrains_from_scratch(tmp_path):
    from scatnet.training.run import train

    first = train(compose([*QUICK, "trainer.max_epochs=2"], tmp_path / "run"))
    again = train(compose([*QUICK, "trainer.max_epochs=2", "force=true"], tmp_path / "run"))
    assert again["status"] == "completed" and again["resumed_from_epoch"] is None and len(again["launches"]) == 1
    assert again["train_seconds"] > 0 and again["started_at"] >= first["started_at"]
    rows = _csv_rows(tmp_path / "run")
    assert _epochs_logged(rows, "val/acc") == [0, 1]  # the first attempt's rows are gone, none repeated
    assert again["test_acc"] == first["test_acc"]  # retrained, deterministically, to the same result


def test_a_retried_failed_run_starts_its_csv_log_afresh(tmp_path):
    """A relaunch retries a failed run from scratch: the CSV log then holds that attempt's rows only."""
    from scatnet.training.run import train

    def attempt():
        m = train(
            compose([*QUICK, "trainer.max_epochs=1", "optim.lr=1e12", "trainer.log_every_n_steps=2"], tmp_path / "run"),
            reraise=False,
        )
        assert m["status"] == "failed"
        return _csv_rows(tmp_path / "run")

    first = attempt()
    assert first  # the failed attempt logged its steps
    assert attempt() == first


def test_a_loadable_checkpoint_that_is_not_lightnings_is_set_aside(tmp_path):
    import torch

    from scatnet.training.run import resolve_run_dir, train

    cfg = compose([*QUICK, "trainer.max_epochs=1"], tmp_path / "run")
    ckpt = resolve_run_dir(cfg) / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"epoch": 0, "weights": torch.zeros(2)}, ckpt)
    m = train(cfg)
    assert m["status"] == "completed" and m["resumed_from_epoch"] is None
    assert (ckpt.parent / "last.ckpt.corrupt").exists()


def test_submitit_local_sweep_summary_counts_every_run(tmp_path, cli_env):
    """Under submitit the jobs run in other processes: the summary still counts them, and a failed one
    makes the sweep exit 1."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    args = [
        *SMALL,
        "frontend.padding=symmetric",
        "seed=0",
        "optim.lr=0.1,1e12",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=10",
    ]
    proc = sweep(args, cli_env, timeout=900)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "scatnet sweep table14: 2 runs: 1 completed, 1 failed" in proc.stdout
    assert "NonFiniteLossError" in proc.stdout


def test_a_custom_grid_gets_stable_folders_resume_summary_and_its_own_report(tmp_path, cli_env):
    args = [
        "-m",
        "sweep=custom",
        "experiment=quickstart",
        "model.width=4,8",
        "trainer.max_epochs=1",
        "seed=0",
        "progress_bar=false",
    ]
    proc = sweep(args, cli_env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "scatnet sweep custom: 2 runs: 2 completed" in proc.stdout
    sweep_dir = Path(cli_env["SCATNET_OUTPUTS"]) / "sweeps" / "custom"
    folders = sorted(p.parent.name for p in (sweep_dir / "runs").glob("*/metrics.json"))
    assert len(folders) == 2 and all("model.width=" in f for f in folders)  # named after the overrides
    again = sweep(args, cli_env)
    assert again.returncode == 0 and "2 runs: 2 skipped" in again.stdout

    rep = subprocess.run(
        [script("scatnet-report"), str(sweep_dir)], env=cli_env, capture_output=True, text=True, timeout=300
    )
    assert rep.returncode == 0 and "missing" not in rep.stdout, rep.stderr
    summary = list(csv.DictReader(open(sweep_dir / "report" / "summary.csv")))
    assert sorted(r["model.width"] for r in summary) == ["4", "8"] and all(r["runs"] == "1" for r in summary)


def test_the_report_tells_a_killed_run_from_a_running_one(tmp_path):
    from scatnet.report.build import build_report
    from scatnet.training.metrics_file import write_metrics

    for name in ("live", "dead"):
        write_metrics(tmp_path / name, {"status": "running", "run_name": name, "config": {}})
    lock = RunLock(tmp_path / "live")
    assert lock.acquire()
    try:
        probe = subprocess.run(
            [
                "python3",
                "-c",
                "import sys; sys.path.insert(0, sys.argv[1]); "
                "from scatnet.training.lock import RunLock; from pathlib import Path; "
                "print(RunLock(Path(sys.argv[2])).is_held(), RunLock(Path(sys.argv[3])).is_held())",
                str(Path(__file__).parents[1]),
                str(tmp_path / "live"),
                str(tmp_path / "dead"),
            ],
            capture_output=True,
            text=True,
        )
        assert probe.stdout.split() == ["True", "False"], probe.stderr
        res = build_report(tmp_path, tmp_path / "report")
    finally:
        lock.release()
    status = {r["run_name"]: r["status"] for r in res["rows"]}
    assert status == {"live": "running", "dead": "killed"}
    assert any("run dead is killed: it says running but no process owns it" in g for g in res["missing"])
    assert not (tmp_path / "dead" / ".lock").exists()  # the reader wrote nothing


def _cifar_fixture(root: Path) -> str:
    """CIFAR-10's on-disk format under root; the override that checks the fixture's own checksums."""
    from tests.fixtures import write_cifar

    md5 = write_cifar(root, "cifar10", n_train=100, n_test=50)
    sums = root.parent / "fixture.md5"
    sums.write_text("".join(f"{v}  {k}\n" for k, v in md5.items()))
    return f"+data.source.file_md5={sums}"


MOVED = [
    "-m",
    "sweep=custom",
    "data=cifar10",
    "data.download=false",
    "trainer.max_epochs=1",
    "model.width=4",
    "data.batch_size=50",
    "seed=0,1",
    "progress_bar=false",
    "logger=csv",
]


def test_moving_the_data_between_two_launches_keeps_every_run(tmp_path, cli_env):
    """The data copied elsewhere (scratch space) and the sweep launched again with data.root pointing there,
    or SCATNET_DATA: every run is found and skipped, none trained again; the folders are named without it."""
    import shutil

    sums = _cifar_fixture(tmp_path / "home")
    shutil.copytree(tmp_path / "home", tmp_path / "scratch")
    first = sweep([*MOVED, sums, f"data.root={tmp_path / 'home'}"], cli_env)
    assert first.returncode == 0 and "2 runs: 2 completed" in first.stdout, first.stderr[-2000:]
    folders = sorted(
        p.parent for p in (Path(cli_env["SCATNET_OUTPUTS"]) / "sweeps" / "custom" / "runs").glob("*/metrics.json")
    )
    assert len(folders) == 2 and not any("root" in f.name or "home" in f.name for f in folders)
    moved = sweep([*MOVED, sums, f"data.root={tmp_path / 'scratch'}"], cli_env)
    assert moved.returncode == 0 and "2 runs: 2 skipped" in moved.stdout, moved.stdout[-2000:]
    by_env = sweep([*MOVED, sums], {**cli_env, "SCATNET_DATA": str(tmp_path / "scratch")})
    assert by_env.returncode == 0 and "2 runs: 2 skipped" in by_env.stdout, by_env.stdout[-2000:]


def test_a_run_folder_of_the_previous_identity_is_taken_over_not_retrained(tmp_path):
    """A run made before the data's location left the identity (its folder named by the previous hash, which
    included the source's root) is found, renamed to the current name and skipped as completed."""
    from omegaconf import open_dict

    from scatnet.training.identity import run_id
    from scatnet.training.run import train

    sums = _cifar_fixture(tmp_path / "data")

    def cfg():
        c = compose(
            [
                "data=cifar10",
                sums,
                f"data.root={tmp_path / 'data'}",
                "data.download=false",
                "trainer.max_epochs=1",
                "model.width=4",
                "data.batch_size=50",
                "logger=none",
            ],
            tmp_path / "unused",
        )
        with open_dict(c):
            c.paths.runs_dir = str(tmp_path / "runs")
        return c

    first = train(cfg())
    assert first["status"] == "completed"
    current = Path(first["run_dir"])
    old_id = run_id(cfg(), previous=True)
    assert old_id != first["run_id"]  # the previous identity hashed the data's location too
    previous = current.with_name(current.name.replace(first["run_id"], old_id))
    current.rename(previous)  # what the previous version left on disk
    again = train(cfg())
    assert again["status"] == "completed" and again.get("skipped") and Path(again["run_dir"]) == current
    assert current.is_dir() and not previous.exists()
