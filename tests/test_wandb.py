"""W&B as users meet it: with no account (no key, WANDB_MODE unset) or a key and no reachable server, a run
logs offline, completes, and says once how to sync it; logger=many the same."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import script

pytestmark = pytest.mark.slow  # whole commands or trainings

WARNING = "W&B could not start online"


def _train(cli_env, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [script("scatnet-train"), "experiment=quickstart", "trainer.max_epochs=1", "model.width=8", *overrides],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _offline_run(cli_env, proc: subprocess.CompletedProcess):
    from pathlib import Path

    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "test acc" in proc.stdout
    ours = [line for line in (proc.stdout + proc.stderr).splitlines() if WARNING in line]
    assert len(ours) == 1 and "`wandb sync " in ours[0], ours  # one line, with the command to sync later
    (run,) = Path(cli_env["SCATNET_OUTPUTS"]).glob("runs/*/wandb/offline-run-*")
    return run


@pytest.mark.parametrize("logger", ["wandb", "many"])
def test_with_no_account_a_run_logs_offline_and_says_how_to_sync(logger, cli_env):
    assert "WANDB_MODE" not in cli_env and "WANDB_API_KEY" not in cli_env
    run = _offline_run(cli_env, _train(cli_env, f"logger={logger}"))
    assert any(run.glob("run-*.wandb"))  # the record `wandb sync` uploads later
    csv = (run.parent.parent / "csv" / "metrics.csv").read_text()
    assert "val/acc" in csv  # the CSV logger beside it as always
    if logger == "many":
        assert any((run.parent.parent / "tensorboard").rglob("events.out.tfevents.*"))


def test_with_a_key_and_no_reachable_server_a_run_logs_offline(cli_env):
    # a closed port on this machine: nothing leaves it; the start gives up after init_timeout
    cli_env.update(WANDB_API_KEY="a" * 40, WANDB_BASE_URL="http://127.0.0.1:9")
    run = _offline_run(cli_env, _train(cli_env, "logger=wandb", "logger.wandb.init_timeout=3"))
    assert any(run.glob("run-*.wandb"))  # the offline record, for `wandb sync` once the server is reachable
