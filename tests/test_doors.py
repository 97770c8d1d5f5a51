"""Every command refuses bad input the same way: one line on stderr, "<command>: error: ...", exit 2, no
traceback, nothing written. The cases are generated from the commands themselves: every console script
scatnet installs gets an option it does not have, every config group an option that does not exist, every
path argument a path that does not exist."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from unittest import mock

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


def _override_text(value) -> str:
    """A generated value as a user would type it after ``key=``."""
    if isinstance(value, list):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


@pytest.mark.slow
def test_generated_bad_values_of_every_checked_key_are_one_line_exit_2_and_nothing_written(tmp_path):
    """Property-based (hypothesis, fixed seed, bounded, no shrinking): any value of any key scatnet-train
    checks (validate.RULES) that the rule refuses once composed (a wrong type, out of range, empty, huge,
    non-finite, a list), or that Hydra's grammar refuses, is one line, exit 2, no traceback and no folder.
    Values the composed config holds and the rule accepts are skipped (they would train)."""
    import tempfile

    from hypothesis import HealthCheck, Phase, assume, given, settings
    from hypothesis import strategies as st
    from omegaconf import OmegaConf

    from scatnet.cli.train import main
    from scatnet.training.validate import RULES
    from tests.conftest import compose

    values = st.one_of(
        st.just(""),
        st.text(alphabet=st.characters(codec="ascii", exclude_characters="\x00\n\r"), max_size=20),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(allow_nan=True, allow_infinity=True),
        st.lists(st.integers(min_value=-5, max_value=200), max_size=4),
        st.booleans(),
    )

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(key=st.sampled_from(sorted(RULES)), value=values)
    def check(key, value):
        text = f"{key}={_override_text(value)}"
        try:
            composed = OmegaConf.select(compose(["experiment=quickstart", text], tmp_path / "unused"), key)
        except Exception:  # noqa: BLE001 - Hydra refuses it: the command must say so in one line too
            composed = None
        else:
            assume(not RULES[key][0](composed))  # what the run would hold is allowed: it would train
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = Path(tmp) / "run"
            argv = ["scatnet-train", "experiment=quickstart", "progress_bar=false", text, f"hydra.run.dir={run_dir}"]
            err = io.StringIO()
            with mock.patch.object(sys, "argv", argv), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e:
                main()
            lines = [line for line in err.getvalue().splitlines() if line.strip()]
            assert e.value.code == 2, (text, composed, lines)
            assert len(lines) == 1 and lines[0].startswith("scatnet-train: error: "), (text, lines)
            assert not run_dir.exists(), text

    check()
