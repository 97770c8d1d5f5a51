"""Every command refuses bad input the same way: one line on stderr, "<command>: error: ...", exit 2, no
traceback, nothing written. The cases are generated from the commands themselves: every console script
scatnet installs gets an option it does not have, every config group an option that does not exist, every
path argument a path that does not exist."""

from __future__ import annotations

import importlib
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from scatnet.config_files import config_dir

COMMANDS = {ep.name: ep.value for ep in entry_points(group="console_scripts") if ep.value.startswith("scatnet.")}
GROUPS = sorted(p.name for p in Path(config_dir()).iterdir() if p.is_dir() and p.name not in ("hydra", "study"))
# the commands that take scatnet-train's overrides, and those that take a path first
TAKES_OVERRIDES = ("scatnet-train", "scatnet-inspect")
TAKES_A_PATH = {"scatnet-eval": [], "scatnet-report": [], "scatnet-inspect": ["--run"]}


def _cases():
    for name in sorted(COMMANDS):
        yield name, ["--no-such-option"]
    for name in TAKES_OVERRIDES:
        for group in GROUPS:
            yield name, [f"{group}=no_such_{group}"]
    for name, before in TAKES_A_PATH.items():
        yield name, [*before, "/no/such/folder"]
    yield "scatnet-train", ["-m", "sweep=base"]  # a sweep without its name: Hydra's own resolution fails
    for bad in ("hydra.sweeper.n_trials=0", "hydra.sweeper.direction=up", "hydra.sweeper.storage=nosuch://x"):
        yield "scatnet-train", ["-m", "hparams_search=optuna", bad]  # the keys of the sweeper scatnet ships
    yield "scatnet-study", ["study=no_such_study"]
    yield "scatnet-study", ["frontend=dtcwt"]  # a run's option, not a study's
    for bad in (
        "launcher=cloud",
        "wait=maybe",
        "slurm.bogus=1",
        "slurm.runs_per_job=0",
        "slurm.gpus_per_job=x",
        "slurm=3",
    ):
        yield "scatnet-study", ["study=smoke", bad]


def test_every_installed_command_is_covered():
    assert set(COMMANDS) == {
        "scatnet-train",
        "scatnet-report",
        "scatnet-bench",
        "scatnet-eval",
        "scatnet-study",
        "scatnet-inspect",
    }
    assert len(GROUPS) >= 10 and "frontend" in GROUPS


@pytest.mark.parametrize("command,args", list(_cases()), ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_bad_input_is_one_line_exit_2_and_no_traceback(command, args, tmp_path, monkeypatch, capfd):
    module, function = COMMANDS[command].split(":")
    monkeypatch.setattr(sys, "argv", [command, *args])
    monkeypatch.setenv("SCATNET_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        getattr(importlib.import_module(module), function)()
    err = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert e.value.code == 2, err
    assert len(err) == 1 and err[0].startswith(f"{command}: error: "), err
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "inspect.png").exists()


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_installed_script_exits_0_on_help_and_2_on_bad_input(command, tmp_path):
    """As a user's shell sees them (the console script's own ``sys.exit(main())``, not main() in-process):
    help is success (0), an option the command does not have is bad input (2, one line, nothing written)."""
    import subprocess

    from tests.conftest import script

    env = {**os.environ, "SCATNET_OUTPUTS": str(tmp_path / "outputs")}
    ok = subprocess.run([script(command), "--help"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and ok.stdout.strip(), ok.stderr[-1000:]
    bad = subprocess.run(
        [script(command), "--no-such-option"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    err = [line for line in bad.stderr.splitlines() if line.strip()]
    assert bad.returncode == 2 and len(err) == 1 and err[0].startswith(f"{command}: error: "), bad.stderr[-1000:]
    assert not (tmp_path / "outputs").exists()
