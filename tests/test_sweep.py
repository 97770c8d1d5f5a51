"""Sweeps that survive real life: skip completed, resume killed, record failed; shards; the report."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import script

pytestmark = pytest.mark.slow  # whole commands or trainings

SMALL = [
    "-m",
    "sweep=table14",
    "data=digits",
    "model.width=8",
    "trainer.max_epochs=1",
    "progress_bar=false",
    "frontend.wavelet=near_sym_a",
    "frontend.magbias=0.01",
]


def sweep(args, env, timeout=600):
    return subprocess.run([script("scatnet-train"), *args], env=env, capture_output=True, text=True, timeout=timeout)


def runs(env) -> list[Path]:
    return sorted((Path(env["SCATNET_OUTPUTS"]) / "sweeps" / "table14" / "runs").glob("*/metrics.json"))


def wait_for_checkpoint(folder: Path, pattern: str = "*/checkpoints/last.ckpt", timeout: float = 300) -> None:
    """Until a run under ``folder`` has written its first epoch's checkpoint (a kill or signal then lands
    mid-training, with something to resume from)."""
    deadline = time.time() + timeout
    while not list(folder.glob(pattern)):
        assert time.time() < deadline, f"no {pattern} under {folder} after {timeout} s"
        time.sleep(0.05)


def test_small_sweep_report_and_rerun_that_trains_nothing(tmp_path, cli_env):
    proc = sweep([*SMALL, "frontend.padding=symmetric,zero", "seed=0,1"], cli_env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "scatnet sweep table14: 4 runs: 4 completed" in proc.stdout
    files = runs(cli_env)
    assert len(files) == 4
    stamps = {p: p.stat().st_mtime_ns for p in files}

    again = sweep([*SMALL, "frontend.padding=symmetric,zero", "seed=0,1"], cli_env)
    assert again.returncode == 0 and "4 runs: 4 skipped" in again.stdout
    assert "Trainer.fit" not in again.stdout + again.stderr  # no training was launched
    assert {p: p.stat().st_mtime_ns for p in files} == stamps

    sweep_dir = Path(cli_env["SCATNET_OUTPUTS"]) / "sweeps" / "table14"
    rep = subprocess.run(
        [script("scatnet-report"), str(sweep_dir)], env=cli_env, capture_output=True, text=True, timeout=300
    )
    assert rep.returncode == 0, rep.stderr
    out = sweep_dir / "report"
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 4 and {r["status"] for r in rows} == {"completed"}
    assert sorted((r["padding"], r["seed"]) for r in rows) == [
        ("symmetric", "0"),
        ("symmetric", "1"),
        ("zero", "0"),
        ("zero", "1"),
    ]
    png = out / "figure12_digits.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / "figure12_digits.pdf").stat().st_size > 1000
    summary = list(csv.DictReader(open(out / "summary.csv")))
    assert len(summary) == 2 and all(r["runs"] == "2" for r in summary)
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and "Figure 1.2" in page and "Learning curves" in page
    assert (out / "curves_digits.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the sweep launched was narrowed to one wavelet and one bias: complete as launched, nothing missing
    assert "missing:" not in rep.stdout and "no completed run" not in page

    # one run of the launched grid gone: exactly that one is listed
    victim = next(
        p
        for p in files
        if json.loads(p.read_text())["config"]["frontend"]["padding"] == "zero"
        and json.loads(p.read_text())["seed"] == 1
    )
    victim.unlink()
    rep = subprocess.run(
        [script("scatnet-report"), str(sweep_dir)], env=cli_env, capture_output=True, text=True, timeout=300
    )
    assert [ln.strip() for ln in rep.stdout.splitlines() if "missing:" in ln] == [
        "missing: no completed run for frontend.padding=zero, seed=1"
    ]


def test_killed_run_resumes_from_its_checkpoint(tmp_path, cli_env):
    # width 32: an epoch takes about a second on 2 CPU cores, so the kill lands inside epoch 2 or 3
    args = [*SMALL, "frontend.padding=symmetric", "seed=0", "trainer.max_epochs=4", "model.width=32"]
    proc = subprocess.Popen(
        [script("scatnet-train"), *args],
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    # checkpoints are written whole or not at all (AtomicCheckpointIO): the kill may land anywhere after this
    wait_for_checkpoint(Path(cli_env["SCATNET_OUTPUTS"]) / "sweeps" / "table14" / "runs")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    (metrics,) = runs(cli_env)
    assert json.loads(metrics.read_text())["status"] == "running"  # never reads as complete

    again = sweep(args, cli_env)
    assert again.returncode == 0, again.stderr[-2000:]
    m = json.loads(metrics.read_text())
    assert m["status"] == "completed" and m["epochs_completed"] == 4
    assert 1 <= m["resumed_from_epoch"] < 4
    rows = list(csv.DictReader(open(metrics.parent / "csv" / "metrics.csv")))
    assert len([r for r in rows if r.get("val/acc")]) >= 4  # the CSV log continues across the kill
    ckpt = torch.load(metrics.parent / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    (state,) = [v for k, v in ckpt["callbacks"].items() if "ThroughputMonitor" in k]
    assert len(state["epoch_seconds"]) == 4  # every epoch's time, those before the kill included
    assert m["train_seconds"] == pytest.approx(sum(state["epoch_seconds"]), abs=1e-3)


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path, cli_env):
    args = [a for a in SMALL if not a.startswith("frontend.magbias")]
    proc = sweep([*args, "frontend.padding=symmetric", "frontend.magbias=0.01,-1,0.1", "seed=0"], cli_env)
    assert proc.returncode == 1  # the sweep finished, and says that a run failed
    assert "3 runs: 2 completed, 1 failed" in proc.stdout
    results = {
        json.loads(p.read_text())["config"]["frontend"]["magbias"]: json.loads(p.read_text()) for p in runs(cli_env)
    }
    assert results[0.01]["status"] == results[0.1]["status"] == "completed"
    assert results[-1]["status"] == "failed"
    assert "ConfigError: frontend.magbias=-1 is not valid" in results[-1]["reason"]


def test_shards_split_one_sweep_between_processes(tmp_path, cli_env):
    args = [*SMALL, "frontend.padding=symmetric,zero", "seed=0", "sweep.num_shards=2"]
    first = sweep([*args, "sweep.shard=1"], cli_env)
    assert first.returncode == 0 and "1 runs: 1 completed" in first.stdout
    (only,) = runs(cli_env)
    assert "-zero-" in only.parent.name  # job #1 of [symmetric, zero]
    second = sweep([*args, "sweep.shard=0"], cli_env)
    assert "1 runs: 1 completed" in second.stdout and len(runs(cli_env)) == 2


def test_report_on_empty_directory_is_a_clear_error(tmp_path, cli_env):
    proc = subprocess.run([script("scatnet-report"), str(tmp_path)], env=cli_env, capture_output=True, text=True)
    assert proc.returncode == 2 and "no metrics.json under" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "report").exists()


def test_wandb_offline_writes_a_run_without_network(tmp_path, monkeypatch):
    from scatnet.training.run import train
    from tests.conftest import compose

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    cfg = compose(["experiment=quickstart", "logger=wandb", "trainer.max_epochs=1", "model.width=8"], tmp_path / "run")
    m = train(cfg)
    assert m["status"] == "completed"
    (run,) = (tmp_path / "run" / "wandb").glob("offline-run-*")
    assert run.name.endswith(m["run_id"])  # one W&B run per training run, id = the run's identity
    # run.finish() only tells W&B's service process that the run is over; the service writes the record's
    # last blocks after that (it flaked here with only the file header on disk). At process exit an atexit
    # hook waits for the service, which is what `wandb sync` later sees; the test waits the same way.
    import wandb

    wandb.teardown()
    (log,) = run.glob("run-*.wandb")  # the offline run's record, for `wandb sync` later
    logged = log.read_bytes()
    assert b"near_sym_a" in logged and b"${" not in logged  # resolved config, no interpolations
    assert b"val/acc" in logged and b"digits" in logged  # metrics and the dataset tag
    assert (tmp_path / "run" / "csv" / "metrics.csv").exists()  # CSV always


def _recipe(preset: str) -> dict:
    """The resolved config of a preset (the published recipe it reproduces), less what a run records itself."""
    from omegaconf import OmegaConf

    from scatnet.training.builders import composed_config

    cfg = OmegaConf.to_container(composed_config([f"experiment={preset}", "paths.run_dir=."]), resolve=True)
    return {k: v for k, v in cfg.items() if k not in ("frontend", "seed")}


def _fake_run(
    root: Path,
    name: str,
    frontend: dict,
    data: str,
    seed: int,
    acc: float,
    status="completed",
    recipe: str | dict | None = None,
    **config,
):
    """A run's metrics.json; ``recipe``: a preset whose config (its published recipe) the run records, or
    such a config."""
    d = root / name
    d.mkdir(parents=True)
    base = _recipe(recipe) if isinstance(recipe, str) else (recipe or {})
    (d / "metrics.json").write_text(
        json.dumps(
            {
                "status": status,
                "run_name": name,
                "data": data,
                "frontend": frontend["name"],
                "seed": seed,
                "test_acc": acc,
                "wall_seconds": 100.0,
                "run_dir": str(d),
                "config": {
                    **base,
                    "frontend": frontend,
                    "data": {**base.get("data", {}), "name": data, "seed": seed},
                    "seed": seed,
                    **config,
                },
            }
        )
    )


def test_the_report_never_averages_runs_that_differ_in_more_than_the_seed(tmp_path):
    """A mixed folder: a 1-epoch quick look beside 3-epoch runs, and two widths. Each value is its own group
    (and column); nothing seed-tied (data.seed) splits a group."""
    from scatnet.report.build import build_report

    fe = {"name": "dtcwt", "wavelet": "near_sym_a", "padding": "symmetric", "magbias": 0.01}
    for seed, acc in ((0, 80.0), (1, 82.0)):
        _fake_run(tmp_path, f"long-w8-s{seed}", fe, "digits", seed, acc, trainer={"max_epochs": 3}, model={"width": 8})
    _fake_run(tmp_path, "quick-w8-s0", fe, "digits", 0, 20.0, trainer={"max_epochs": 1}, model={"width": 8})
    _fake_run(tmp_path, "long-w16-s0", fe, "digits", 0, 90.0, trainer={"max_epochs": 3}, model={"width": 16})
    res = build_report(tmp_path, tmp_path / "report")
    groups = {
        (s["trainer.max_epochs"], s["model.width"]): (s["runs"], s["test_acc_mean"], s["test_acc_std"])
        for s in res["summary"]
    }
    assert groups == {(3, 8): (2, 81.0, 1.414), (1, 8): (1, 20.0, None), (3, 16): (1, 90.0, None)}
    results = list(csv.DictReader(open(tmp_path / "report" / "results.csv")))
    assert {"model.width", "trainer.max_epochs"} <= set(results[0]) and "data.seed" not in results[0]
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert "| model.width | trainer.max_epochs |" in summary and "| 81.00 ± 1.41 | 2 |" in summary
    assert "| 20.00 | 1 |" in summary


def mixed_folder(tmp_path: Path) -> None:
    """Runs of the published recipe (Table 1.3's cells, a failed one, one off the table) beside a short look."""
    thesis = {"name": "dtcwt", "wavelet": "near_sym_a", "padding": "symmetric", "magbias": 0.01}
    _fake_run(tmp_path, "a", thesis, "cifar10", 0, 89.5, recipe="cifar10_dtcwt")
    _fake_run(tmp_path, "b", thesis, "cifar10", 1, 90.1, recipe="cifar10_dtcwt")
    _fake_run(tmp_path, "c", {**thesis, "impl": "fast"}, "cifar10", 0, 90.0, recipe="cifar10_dtcwt")
    _fake_run(tmp_path, "d", {"name": "morlet8", "L": 8}, "cifar100", 0, 64.3, recipe="cifar100_morlet8")
    _fake_run(
        tmp_path, "e", {**thesis, "padding": "zero"}, "cifar10", 0, 88.0, recipe="cifar10_dtcwt"
    )  # not Table 1.3's
    _fake_run(tmp_path, "f", {"name": "morlet8", "L": 8}, "cifar10", 0, None, status="failed", recipe="cifar10_morlet8")
    # a quick look beside them: 2 of 120 epochs at width 32, never compared with the thesis' number
    short = _recipe("cifar10_morlet6")
    short["trainer"]["max_epochs"], short["model"]["width"] = 2, 32
    _fake_run(tmp_path, "g", {"name": "morlet6", "L": 6}, "cifar10", 0, 41.0, recipe=short)


def test_table13_beside_the_published_numbers(tmp_path):
    from scatnet.report.build import build_report

    mixed_folder(tmp_path)
    res = build_report(tmp_path, tmp_path / "report")
    table = (tmp_path / "report" / "table13.md").read_text()
    assert "| dtcwt | cifar10 | 89.80 ± 0.42 | 2 | 89.8 | +0.00 |" in table
    assert "| dtcwt (scatnet fast) | cifar10 | 90.00 | 1 | 89.8 | +0.20 |" in table  # one run: no ±
    assert "| morlet8 | cifar100 | 64.30 | 1 | 65.3 | -1.00 |" in table
    assert "| morlet6 | cifar10 | 41.00 | 1 | 89.1 | not the published recipe: 2 of 120 epochs, width 32 |" in table
    assert any("run f is failed" in g for g in res["missing"])
    assert (tmp_path / "report" / "figure12_cifar10.png").exists()
    assert (tmp_path / "report" / "figure12_cifar10_fast.png").exists()


def test_the_learnable_scatternets_beside_the_papers_table3(tmp_path):
    """ScatNets A-D get their own table beside the paper's Table 3 (C included; Tiny ImageNet from the draft,
    marked), each network's parameters beside the table's, each implementation apart; they stay out of
    Table 1.3."""
    from scatnet.report.build import build_report

    def fe(variant, **extra):
        return {
            "_target_": "scatnet.frontends.LearnableScatterNet",
            "name": f"learnable_{variant}",
            "wavelet": "near_sym_a",
            "padding": "symmetric",
            "magbias": 0.01,
            "impl": "fast",
            **extra,
        }

    def run(name, variant, data, seed, acc, **extra):
        _fake_run(tmp_path, name, fe(variant, **extra), data, seed, acc, recipe=f"learnable_{variant}_{data}")
        path = tmp_path / name / "metrics.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "parameters": 2_605_204}))

    run("b0", "b", "cifar10", 0, 91.0)
    run("b1", "b", "cifar10", 1, 91.4)
    run("b-ref", "b", "cifar10", 0, 90.9, impl="reference")
    run("c0", "c", "cifar100", 0, 70.0)
    run("d-ti", "d", "tiny_imagenet", 0, 61.0)
    _fake_run(tmp_path, "mine", fe("x"), "digits", 0, 97.0)  # a learnable front end of one's own, any name
    _fake_run(
        tmp_path,
        "dtcwt",
        {"name": "dtcwt", "wavelet": "near_sym_a", "padding": "symmetric", "magbias": 0.01},
        "cifar10",
        0,
        89.0,
    )
    build_report(tmp_path, tmp_path / "report")
    table = (tmp_path / "report" / "learnable_table3.md").read_text()
    assert "| learnable_b | cifar10 | 91.20 ± 0.28 | 2 | 91.1 | +0.10 | 2.61M (Table 3: 2.7M) |" in table
    assert "| learnable_b (pytorch_wavelets) | cifar10 | 90.90 | 1 | 91.1 | -0.20 | 2.61M (Table 3: 2.7M) |" in table
    assert "| learnable_c | cifar100 | 70.00 | 1 | 70.8 | -0.80 |" in table
    assert "| learnable_d | tiny_imagenet | 61.00 | 1 | 62.1 (draft) | -1.10 |" in table
    assert "| learnable_x | digits | 97.00 | 1 | not in the paper's Table 3 |  | not recorded |" in table
    assert "learnable" not in (tmp_path / "report" / "table13.md").read_text()
    html = (tmp_path / "report" / "report.html").read_text()
    assert "Learnable ScatterNet, Table 3: measured vs published" in html and "ScatNet B: 2.61M here" in html
    assert "left them out of its Table 3" in html


def test_learning_curves_tick_whole_epochs(tmp_path):
    """Epochs are integers on the curves' axis (no 1.2, 1.4, ... between two epochs)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.ticker import MaxNLocator

    from scatnet.report import figures

    captured = {}
    real = figures.plt.close

    def keep(fig=None):
        captured.setdefault("fig", fig)
        return real(fig)

    figures.plt.close = keep
    try:
        for seed in (0, 1):
            run = tmp_path / f"r{seed}"
            (run / "csv").mkdir(parents=True)
            (run / "csv" / "metrics.csv").write_text("epoch,step,val/acc\n0,5,0.5\n1,10,0.7\n")
        summary = [
            {
                "data": "digits",
                "frontend": "dtcwt",
                "variant": "",
                "run_dirs": [str(tmp_path / "r0"), str(tmp_path / "r1")],
            }
        ]
        paths = figures.learning_curves(summary, "digits", tmp_path)
    finally:
        figures.plt.close = real
    assert paths and paths[0].exists()
    locator = captured["fig"].axes[0].xaxis.get_major_locator()
    assert isinstance(locator, MaxNLocator) and all(float(t).is_integer() for t in locator.tick_values(1, 2))


def test_missing_runs_are_listed_for_every_finite_grid_hydra_expresses(tmp_path):
    """List values, lists, ranges and choice() as Hydra's parser reads them; an interval is no finite grid."""
    from scatnet.report.launched import missing_runs

    def launched(folder: str, task: list[str]) -> None:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "multirun.yaml").write_text(json.dumps({"hydra": {"overrides": {"task": task}}}))

    launched("grid", ["optim.milestones=[1]", "seed=range(0,2)", "frontend=choice(dtcwt,morlet6)"])
    rows = [
        {"status": "completed", "settings": {"optim.milestones": [1], "seed": 0, "frontend.name": "dtcwt"}},
        {"status": "completed", "settings": {"optim.milestones": [1], "seed": 1, "frontend.name": "dtcwt"}},
        {"status": "completed", "settings": {"optim.milestones": [2], "seed": 0, "frontend.name": "morlet6"}},
    ]
    assert missing_runs(rows, tmp_path) == [
        "no completed run for seed=0, frontend=morlet6",
        "no completed run for seed=1, frontend=morlet6",
    ]
    launched("search", ["optim.lr=interval(0.1,1)"])
    assert any("is no finite grid" in note for note in missing_runs(rows, tmp_path))
