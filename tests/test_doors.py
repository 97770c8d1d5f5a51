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


def bad_values():
    """Values a user might type after ``key=`` or an option: empty, text, huge and negative integers,
    non-finite numbers, lists, booleans."""
    from hypothesis import strategies as st

    return st.one_of(
        st.just(""),
        st.text(alphabet=st.characters(codec="ascii", exclude_characters="\x00\n\r"), max_size=20),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(allow_nan=True, allow_infinity=True),
        st.lists(st.integers(min_value=-5, max_value=200), max_size=4),
        st.booleans(),
    )


def generated(examples: int):
    """Hypothesis with a fixed seed, a bounded number of examples and no shrinking (each example runs a
    command: the first failure is reported as generated)."""
    from hypothesis import HealthCheck, Phase, settings

    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def refused_once(argv: list[str], main, command: str) -> str:
    """Runs a command's main() in-process as its console script would; asserts bad input: exit 2, one line
    "<command>: error: ...", no traceback. Returns the line."""
    err = io.StringIO()
    with mock.patch.object(sys, "argv", argv), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e:
        main()  # reads sys.argv, as the console script does
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    assert e.value.code == 2, (argv, lines)
    assert len(lines) == 1 and lines[0].startswith(f"{command}: error: "), (argv, lines)
    return lines[0]


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

    from hypothesis import assume, given
    from hypothesis import strategies as st
    from omegaconf import OmegaConf

    from scatnet.cli.inspect import main as inspect
    from scatnet.cli.train import main
    from scatnet.training.validate import RULES
    from tests.conftest import compose

    @generated(40)
    @given(key=st.sampled_from(sorted(RULES)), value=bad_values())
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
            refused_once(argv, main, "scatnet-train")
            assert not run_dir.exists(), text
            # scatnet-inspect takes the same overrides and checks them the same way
            picture = Path(tmp) / "x.png"
            refused_once(["scatnet-inspect", text, "--out", str(picture)], inspect, "scatnet-inspect")
            assert not picture.exists(), text

    check()


@pytest.mark.slow
def test_generated_bad_values_of_every_study_key_are_one_line_exit_2_and_nothing_written(tmp_path):
    """As above for scatnet-study: any value of a study's keys (plan.STUDY_RULES) or its jobs' settings
    (slurm.SLURM_RULES) that the rule refuses, or that OmegaConf cannot merge, on study=smoke."""
    import tempfile

    from hypothesis import assume, given
    from hypothesis import strategies as st
    from omegaconf import OmegaConf

    from scatnet.cli.study import main
    from scatnet.study.plan import STUDY_RULES
    from scatnet.study.slurm import SLURM_RULES, SlurmSettings

    smoke = OmegaConf.load(Path(config_dir()) / "study" / "smoke.yaml")
    keys = [*STUDY_RULES, *(f"slurm.{k}" for k in SLURM_RULES)]

    def accepted(key: str, text: str) -> bool:
        """The rules' verdict on the value the study would hold (the oracle: the rules, not the command)."""
        try:
            study = OmegaConf.merge(smoke, OmegaConf.from_dotlist([text]))
            if key.startswith("slurm."):
                merged = OmegaConf.merge(OmegaConf.structured(SlurmSettings), study.slurm)
                ok = SLURM_RULES[key.split(".", 1)[1]][0]
                return ok(OmegaConf.to_container(merged)[key.split(".", 1)[1]])
            value = OmegaConf.select(study, key, throw_on_missing=True)
        except Exception:  # noqa: BLE001 - OmegaConf refuses it: the command must say so in one line too
            return False
        return STUDY_RULES[key][0](value)

    @generated(40)
    @given(key=st.sampled_from(keys), value=bad_values())
    def check(key, value):
        text = f"{key}={_override_text(value)}"
        assume(not accepted(key, text))  # a study the rules allow would run
        with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ, {"SCATNET_OUTPUTS": tmp}):
            cwd = os.getcwd()
            os.chdir(tmp)
            try:
                refused_once(["scatnet-study", "study=smoke", text], main, "scatnet-study")
            finally:
                os.chdir(cwd)
            assert not os.listdir(tmp), (text, os.listdir(tmp))

    check()


# the options of each argparse command whose validity the test can judge alone: integers with a range and
# choices (their type and choices say what is allowed), and paths that must exist (in an empty folder, almost
# none do). --out is any new path (checked by its own cases) and --only any text (rows are names).
JUDGED_PATHS = {"scatnet-eval": ["path", "--data-root"], "scatnet-report": ["root"], "scatnet-inspect": ["--run"]}


def _judged_options():
    for command in ("scatnet-bench", "scatnet-eval", "scatnet-inspect", "scatnet-report"):
        module = importlib.import_module(COMMANDS[command].split(":")[0])
        for action in module.parser()._actions:
            name = action.option_strings[0] if action.option_strings else action.dest
            typed = getattr(action.type, "__name__", "").startswith("integer from")
            if typed or action.choices or name in JUDGED_PATHS.get(command, []):
                yield command, module, action, name


def _accepted(action, text: str) -> bool:
    try:
        value = action.type(text) if action.type is not None else text
    except Exception:  # noqa: BLE001 - argparse's ArgumentTypeError, ValueError
        return False
    if isinstance(value, Path):
        return value.exists()
    return action.choices is None or value in action.choices


@pytest.mark.slow
def test_generated_bad_arguments_of_every_command_are_one_line_exit_2_and_nothing_written(tmp_path):
    """As above for the argparse commands (bench, eval, inspect, report): every option with a range, choices
    or a path that must exist, given generated values its type refuses, in an empty folder."""
    import tempfile

    from hypothesis import assume, given
    from hypothesis import strategies as st

    options = list(_judged_options())
    assert {c for c, *_ in options} == {"scatnet-bench", "scatnet-eval", "scatnet-inspect", "scatnet-report"}
    positional = {"scatnet-eval": ["/no/such/run"], "scatnet-report": ["/no/such/sweep"]}

    @generated(60)
    @given(option=st.sampled_from(options), value=bad_values())
    def check(option, value):
        command, module, action, name = option
        text = _override_text(value)
        with tempfile.TemporaryDirectory() as tmp:
            cwd = os.getcwd()
            os.chdir(tmp)
            try:
                assume(not _accepted(action, text))
                if action.option_strings:
                    argv = [command, *positional.get(command, []), f"{name}={text}"]
                else:
                    argv = [command, text]
                if command == "scatnet-bench":
                    argv += ["--device", "cpu"] if name != "--device" else []
                refused_once(argv, module.main, command)
            finally:
                os.chdir(cwd)
            assert not os.listdir(tmp), (argv, os.listdir(tmp))

    check()


def _fifo_copy(src: Path, dst: Path) -> list[Path]:
    """src's files as named pipes under dst: a command that reads one blocks there until the test acts."""
    dst.mkdir(parents=True)
    fifos = []
    for f in sorted(src.iterdir()):
        os.mkfifo(dst / f.name)
        fifos.append(dst / f.name)
    return fifos


def _when_reading(proc, fifos: list[Path], timeout: float = 120) -> int:
    """Waits until the command has opened one of the pipes to read (it is mid-work), and returns a write end
    held open, so the read blocks until the signal comes."""
    import errno
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        for fifo in fifos:
            try:
                return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                assert e.errno == errno.ENXIO  # no reader yet
        time.sleep(0.05)
    raise AssertionError(f"the command never read {fifos[0].parent}")


@pytest.mark.slow
@pytest.mark.parametrize("signum,code", [(15, 143), (2, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_work_is_one_line_and_its_code_for_every_command_that_reads_data(tmp_path, cli_env, signum, code):
    """scatnet-eval, -inspect and -report stopped while reading (a named pipe holds them there): exit 143 on
    SIGTERM, 130 on Ctrl-C, one line, no traceback, nothing written. (scatnet-train, -study and -bench have
    their own tests: they stop resumably and keep what they measured.)"""
    import subprocess

    from tests.conftest import script
    from tests.test_sweep_trust import _cifar_fixture

    sums = _cifar_fixture(tmp_path / "data")
    (folder,) = (tmp_path / "data").iterdir()
    cifar = ["data=cifar10", "data.download=false", sums, "model.width=4", "progress_bar=false", "logger=csv"]
    run = tmp_path / "run"
    trained = subprocess.run(
        [script("scatnet-train"), "experiment=quickstart", *cifar, f"data.root={tmp_path / 'data'}",
         "trainer.max_epochs=1", f"hydra.run.dir={run}"],
        env=cli_env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-2000:]
    piped = tmp_path / "piped"
    fifos = _fifo_copy(folder, piped / folder.name)
    sweep = tmp_path / "sweep" / "run"
    sweep.mkdir(parents=True)
    os.mkfifo(sweep / "metrics.json")
    commands = {
        "scatnet-eval": [str(run), "--device", "cpu", "--data-root", str(piped), "--out", str(tmp_path / "e.json")],
        "scatnet-inspect": [*cifar, f"data.root={piped}", "--out", str(tmp_path / "i.png")],
        "scatnet-report": [str(tmp_path / "sweep"), "--out", str(tmp_path / "report")],
    }
    for command, args in commands.items():
        proc = subprocess.Popen([script(command), *args], env=cli_env, stderr=subprocess.PIPE, text=True)
        held = _when_reading(proc, [sweep / "metrics.json"] if command == "scatnet-report" else fifos)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
        os.close(held)
        lines = [ln for ln in err.splitlines() if ln.startswith(f"{command}: error:")]
        assert proc.returncode == code and "Traceback" not in err, (command, err[-2000:])
        assert len(lines) == 1 and "interrupted" in lines[0], (command, err[-2000:])
    assert not [p.name for p in tmp_path.iterdir() if p.name in ("e.json", "i.png", "report")]
