"""scatnet-study end to end on digits (CPU, no network): the report with all its tables, a relaunch that
trains nothing, a kill mid-way and a relaunch that finish with each run trained once, status counts that agree
with the runs' own records, an ETA once an epoch has finished, and a failing run that is listed while the
others complete."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import script

pytestmark = pytest.mark.slow  # whole commands or trainings


def study(args: list[str], env, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([script("scatnet-study"), *args], env=env, capture_output=True, text=True, timeout=900, **kw)


def records(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in (out / "runs").glob("*/metrics.json")}


def write_study(path: Path, grid: str, epochs: int) -> Path:
    path.write_text(f"""name: {path.stem}
out: {path.parent / path.stem}
runs_per_gpu: 2
cpu_runs: 2
bench: null
parts:
  grid:
    sweep: table14
    data: [digits]
    overrides: [trainer.max_epochs={epochs}, model.width=8, "optim.milestones=[1]"]
    grid: {{frontend.wavelet: [near_sym_a], frontend.magbias: [0.01], {grid}}}
""")
    return path


def test_smoke_makes_every_table_and_a_relaunch_trains_nothing(tmp_path, cli_env):
    out = tmp_path / "smoke"
    first = study(["study=smoke", f"out={out}"], cli_env)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    last = first.stdout.strip().splitlines()[-1]
    assert last.startswith("scatnet-study smoke: 3/3 done, 0 running, 0 failed, 0 left") and "report.html" in last
    report = (out / "report.html").read_text()
    for section in (
        "Time per part",
        "Table 1.2: the benchmark on this machine",
        "Table 1.3: measured vs published",
        "Figure 1.2: DTCWT grid",
        "Learning curves",
        "Summary over seeds",
    ):
        assert f"<h2>{section}</h2>" in report
    assert "thesis default" in (out / "bench" / "table12.md").read_text() and "<img" in report
    assert "<th>package</th>" in report and "<pre>" not in report and "|---" not in report  # Table 1.2 as HTML
    before = records(out)
    assert len(before) == 3 and all(m["status"] == "completed" for m in before.values())
    assert json.loads((out / "status.json").read_text())["counts"] == {
        "done": 3,
        "running": 0,
        "failed": 0,
        "left": 0,
        "total": 3,
    }

    again = study(["study=smoke", f"out={out}"], cli_env)
    assert again.returncode == 0 and "3/3 done" in again.stdout and "Table 1.2 first" not in again.stdout
    assert records(out) == before  # nothing trained, nothing rewritten


def test_a_kill_mid_way_and_a_relaunch_finish_each_run_once(tmp_path, cli_env):
    """Sampled while it runs: the status counts agree with the runs' records, the ETA is a number once an
    epoch has finished; SIGTERM stops it (143), the relaunch resumes and finishes (0)."""
    path = write_study(tmp_path / "kill.yaml", "frontend.padding: [symmetric, zero], seed: [0, 1]", 4)
    out = tmp_path / "kill"
    proc = subprocess.Popen(
        [script("scatnet-study"), f"study={path}"],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    samples, deadline = 0, time.time() + 300
    while time.time() < deadline:
        done_before = {n for n, m in records(out).items() if m["status"] == "completed"} if out.exists() else set()
        time.sleep(1.2)  # at least two status writes
        if not (out / "status.json").exists():
            continue
        status = json.loads((out / "status.json").read_text())
        done_after = {n for n, m in records(out).items() if m["status"] == "completed"}
        done = {s["name"] for s in status["runs"] if s["state"] == "done"}
        assert done_before <= done <= done_after, (done_before, done, done_after)
        assert status["counts"]["total"] == 4 == sum(v for k, v in status["counts"].items() if k != "total")
        if any(s["epoch"] >= 1 for s in status["runs"]):
            assert isinstance(status["eta_seconds"], float)
            samples += 1
        if any(s["state"] == "running" and 1 <= s["epoch"] < s["max_epochs"] for s in status["runs"]):
            break
    else:
        proc.kill()
        pytest.fail(f"no run was mid-way within 300 s: {proc.communicate()[0][-2000:]}")
    proc.send_signal(signal.SIGTERM)
    text = proc.communicate(timeout=300)[0]
    assert proc.returncode == 143 and "relaunch the same command to continue" in text, text[-2000:]
    assert samples >= 1 and json.loads((out / "status.json").read_text())["phase"] == "interrupted"
    stopped = [m for m in records(out).values() if m["status"] == "interrupted"]
    assert stopped  # at least the run it caught mid-way

    again = study([f"study={path}"], cli_env)
    assert again.returncode == 0, again.stdout[-2000:]
    final = records(out)
    assert len(final) == 4 and all(m["status"] == "completed" and m["epochs_completed"] == 4 for m in final.values())
    resumed = [m for m in final.values() if len(m["launches"]) == 2]
    assert resumed and all(m["launches"][1]["resumed_from_epoch"] >= 1 for m in resumed)
    for name in final:  # each epoch trained and logged once
        epochs = [
            row["epoch"]
            for row in csv.DictReader(open(out / "runs" / name / "csv" / "metrics.csv"))
            if row.get("val/acc")
        ]
        assert sorted(map(int, epochs)) == [0, 1, 2, 3], (name, epochs)


def test_a_failing_run_is_listed_the_others_complete_and_the_exit_is_1(tmp_path, cli_env):
    path = write_study(tmp_path / "bad.yaml", "frontend.padding: [symmetric], optim.lr: [0.1, 1e12], seed: [0]", 1)
    res = study([f"study={path}"], cli_env)
    assert res.returncode == 1, res.stdout[-2000:]
    lines = res.stdout.strip().splitlines()
    assert any(ln.startswith("scatnet-study bad: 1/2 done, 0 running, 1 failed, 0 left") for ln in lines)
    assert any(ln.startswith("  failed: ") and "NonFiniteLossError" in ln for ln in lines)
    status = json.loads((tmp_path / "bad" / "status.json").read_text())
    assert [s["state"] for s in status["runs"] if "1e12" in str(s["setting"]) or s["state"] == "failed"] == ["failed"]
    assert "NonFiniteLossError" in (tmp_path / "bad" / "report.html").read_text()


def test_an_unknown_study_is_one_line(tmp_path, cli_env):
    res = study(["study=nosuch"], cli_env)
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0
    assert "study=nosuch is not a study; choose one of: learnable, quick, smoke, thesis" in res.stderr


@pytest.mark.parametrize(
    "override,needle",
    [
        ("cpu_runs=abc", "cpu_runs=abc is not valid; it must be an integer >= 1 (and < 2^31)"),
        ("runs_per_gpu=0", "runs_per_gpu=0 is not valid"),
    ],
)
def test_a_bad_count_is_one_line_before_anything_is_written(override, needle, tmp_path, cli_env):
    out = tmp_path / "never"
    res = study(["study=smoke", override, f"out={out}"], cli_env)
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0 and "Traceback" not in res.stderr
    assert needle in res.stderr and not out.exists()


def test_launcher_slurm_without_slurm_on_path_is_one_line(tmp_path, cli_env):
    out = tmp_path / "never"
    env = {**cli_env, "PATH": str(tmp_path)}  # no sbatch, no squeue
    res = study(["study=smoke", "launcher=slurm", f"out={out}"], env)
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
    assert "launcher=slurm needs SLURM's sbatch and squeue on PATH" in res.stderr and not out.exists()


def test_a_slurm_job_script_asks_for_what_the_study_says(tmp_path):
    """The batch script: the resources of study.slurm times the runs it holds, requeueable, signalled before
    its time limit, each run on its own GPU of the job and in its own log."""
    from omegaconf import OmegaConf

    from scatnet.study.slurm import job_script, slurm_settings

    s = slurm_settings(
        OmegaConf.create(
            {
                "slurm": {
                    "partition": "gpu",
                    "account": "lab",
                    "gpus_per_job": 2,
                    "cpus_per_run": 4,
                    "mem_gb_per_run": 8,
                    "sbatch": ["--constraint=a100"],
                }
            }
        )
    )
    text = job_script(
        "thesis", [("run-a", ["scatnet-train", "seed=0"]), ("run-b", ["scatnet-train", "seed=1"])], tmp_path, s
    )
    for line in (
        "--partition=gpu",
        "--account=lab",
        "--gres=gpu:2",
        "--cpus-per-task=8",
        "--mem=16G",
        "--requeue",
        "--signal=B:USR1@120",
        "--time=240",
        "--constraint=a100",
    ):
        assert f"#SBATCH {line}\n" in text
    assert (
        'CUDA_VISIBLE_DEVICES="${gpus[1 % ${#gpus[@]}]}" OMP_NUM_THREADS=4 scatnet-train seed=1 >> '
        f"{tmp_path / 'logs' / 'run-b.log'} 2>&1 &" in text
    )
    assert 'scontrol requeue "$SLURM_JOB_ID"' in text and "--exclusive" not in text
    proc = subprocess.run(["bash", "-n"], input=text, text=True, capture_output=True)  # the script parses
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", ["thesis"])  # study=quick: the same plan, one seed
def test_the_full_studies_plan_every_run_of_the_thesis(name):
    """Planned, not run: the thesis' 27 Table 1.3 runs and 216 grid runs, less the 9 Table 1.3 DTCWT runs that
    are points of the grid (3 seeds x 3 datasets); longest first."""
    from hydra import initialize_config_dir

    from scatnet.cli.study import composer
    from scatnet.config_files import config_dir
    from scatnet.study.plan import load_study, plan

    s = load_study(Path(config_dir()), name, [])
    with initialize_config_dir(version_base="1.3", config_dir=config_dir()):
        runs = plan(s, Path("/nonexistent"), composer(Path("/nonexistent/runs")))
    seeds = 3 if name == "thesis" else 1
    assert len(runs) == (27 + 216 - 9) * seeds // 3
    assert runs[0].data == "tiny_imagenet" and runs[0].frontend == "morlet8" and runs[-1].data != "tiny_imagenet"


def test_the_learnable_study_plans_table3_on_both_cifars():
    """study=learnable: ScatNets A-D x 3 seeds x CIFAR-10/100, the slowest networks (C, D) first, each composed as
    its preset (the paper code's body and recipe), the benchmark limited to their step rows."""
    from hydra import initialize_config_dir

    from scatnet.cli.study import composer
    from scatnet.config_files import config_dir
    from scatnet.study.plan import load_study, plan

    s = load_study(Path(config_dir()), "learnable", [])
    with initialize_config_dir(version_base="1.3", config_dir=config_dir()):
        runs = plan(s, Path("/nonexistent"), composer(Path("/nonexistent/runs")))
    assert len(runs) == 4 * 3 * 2 and len({r.run_id for r in runs}) == 24
    assert {r.frontend for r in runs[:6]} == {"learnable_d"} and runs[-1].frontend in ("learnable_a", "learnable_b")
    assert list(s.bench) == ["--only", "learnable"]


def test_slots_pack_runs_per_gpu_on_the_gpus_the_study_may_use(monkeypatch):
    from scatnet.study.runner import slots_for

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert [s.device for s in slots_for(2, 3, 1)] == ["2", "2", "2", "5", "5", "5"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert [s.device for s in slots_for(2, 1, 1)] == ["0", "1"]
    cpu = slots_for(0, 3, 2)
    assert [s.device for s in cpu] == [None, None] and all(s.threads >= 1 for s in cpu)


def test_a_study_grid_is_read_as_hydra_reads_a_sweep():
    """Lists, ranges, list values and choice(), as ``-m`` takes them; an interval is refused in one line."""
    from scatnet.errors import ConfigError
    from scatnet.study.plan import flat_grid, grid_points, override_value

    points = grid_points({"seed": "range(3)", "optim.milestones": "[1],[2, 3]", "frontend": "choice(dtcwt,morlet6)"})
    assert len(points) == 12 and ["seed=2", "optim.milestones=[2,3]", "frontend=morlet6"] in points
    yaml_grid = flat_grid({"optim": {"milestones": [[1], [2, 3]]}, "seed": "range(2)"})
    assert ",".join(override_value(v) for v in yaml_grid["optim.milestones"]) == "[1],[2,3]"
    assert grid_points({k: ",".join(override_value(v) for v in vs) for k, vs in yaml_grid.items()}) == [
        ["optim.milestones=[1]", "seed=0"],
        ["optim.milestones=[1]", "seed=1"],
        ["optim.milestones=[2,3]", "seed=0"],
        ["optim.milestones=[2,3]", "seed=1"],
    ]
    with pytest.raises(ConfigError, match="no finite grid"):
        grid_points({"optim.lr": "interval(0.1,1.0)"})


@pytest.mark.parametrize("text, needle", [("name: x\nparts: [\n", "is not a study file"), ("- a\n", "not a study")])
def test_a_damaged_study_file_is_one_line(text, needle, tmp_path, cli_env):
    (tmp_path / "mine.yaml").write_text(text)
    res = study([f"study={tmp_path / 'mine.yaml'}"], cli_env)
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0 and "Traceback" not in res.stderr
    assert needle in res.stderr and "mine.yaml" in res.stderr


def test_damaged_run_records_are_named_by_the_report_and_redone_by_training(tmp_path):
    """A metrics.json that is not JSON, or JSON but no record: the report names the file and what to do;
    training reads it as absent (the run is redone); a damaged progress.json reads as no progress."""
    from scatnet.report.collect import collect
    from scatnet.study.status import read_progress
    from scatnet.training.metrics_file import read_metrics

    for name, text in (("a", "{bad"), ("b", "[1, 2]")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(text)
        (tmp_path / name / "progress.json").write_text(text)
        assert read_metrics(tmp_path / name) is None and read_progress(tmp_path / name) == {}
    rows = collect(tmp_path)
    assert [r["status"] for r in rows] == ["unreadable", "unreadable"]
    assert all("metrics.json is damaged" in r["reason"] and "relaunch" in r["reason"] for r in rows)
