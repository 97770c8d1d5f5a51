"""The tools of a Lightning + Hydra project: scatnet-eval, TensorBoard, an Optuna search that a relaunch
continues."""

from __future__ import annotations

import json
import struct
import subprocess

import pytest

from tests.conftest import compose, script

pytestmark = pytest.mark.slow  # whole commands or trainings

TINY = ["experiment=quickstart", "trainer.max_epochs=2", "model.width=8"]


def test_eval_reproduces_a_finished_runs_test_accuracy_from_its_checkpoint(tmp_path, capsys):
    from scatnet.cli.eval import run
    from scatnet.training.run import train

    m = train(compose([*TINY, "logger=none"], tmp_path / "run"))
    result = run([str(tmp_path / "run"), "--device", "cpu"])
    assert result["test_acc"] == pytest.approx(m["test_acc"], abs=1e-3) and result["epoch"] == 2
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["test_acc"] == result["test_acc"]
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(
        f"scatnet-eval: dtcwt on digits, epoch 2: test acc {m['test_acc']:.2f}% (the run recorded {m['test_acc']:.2f}%)"
    )
    # the checkpoint alone, moved away from its run folder, carries what it needs
    alone = tmp_path / "elsewhere.ckpt"
    (tmp_path / "run" / "checkpoints" / "last.ckpt").rename(alone)
    again = run([str(alone), "--device", "cpu", "--out", str(tmp_path / "e.json")])
    assert again["test_acc"] == result["test_acc"] and again["recorded_test_acc"] is None


def test_eval_of_a_folder_without_a_checkpoint_is_one_line(tmp_path, capsys):
    from scatnet.cli.eval import run

    with pytest.raises(SystemExit) as e:
        run([str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and err.count("\n") == 0
    assert "is neither a checkpoint nor a run folder with checkpoints/last.ckpt" in err


def scalar_tags(path) -> set[str]:
    """The tags of an event file's summaries, read record by record (TFRecord: length, its CRC, the Event
    protobuf, its CRC)."""
    from tensorboardX.proto import event_pb2

    data, i, tags = path.read_bytes(), 0, set()
    while i < len(data):
        (n,) = struct.unpack("<Q", data[i : i + 8])
        event = event_pb2.Event.FromString(data[i + 12 : i + 12 + n])
        tags |= {v.tag for v in event.summary.value}
        i += 12 + n + 4
    return tags


def test_tensorboard_writes_event_files_with_the_metrics(tmp_path):
    from scatnet.training.run import train

    m = train(compose([*TINY, "logger=tensorboard"], tmp_path / "run"))
    events = list((tmp_path / "run" / "tensorboard").rglob("events.out.tfevents.*"))
    assert m["status"] == "completed" and events  # the metrics, and the config as hyperparameters
    assert {"train/acc", "val/acc", "test/acc", "lr-SGD"} <= set().union(*map(scalar_tags, events))


def test_an_optuna_search_completes_and_a_relaunch_adds_trials_to_the_same_study(tmp_path, cli_env):
    import optuna

    cmd = [
        script("scatnet-train"),
        "-m",
        "hparams_search=optuna",
        "trainer.max_epochs=1",
        "model.width=4",
        "hydra.sweeper.n_trials=3",
        "progress_bar=false",
    ]
    for launch in (1, 2):
        proc = subprocess.run(cmd, env=cli_env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "Best value:" in proc.stdout + proc.stderr
        study = optuna.load_study(
            study_name="optuna-digits", storage=f"sqlite:///{tmp_path / 'outputs/sweeps/optuna-digits/optuna.db'}"
        )
        done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        assert len(done) == 3 * launch and all(0 <= t.value <= 100 for t in done)
    runs = list((tmp_path / "outputs/sweeps/optuna-digits/runs").glob("*/metrics.json"))
    values = sorted(json.loads(p.read_text())["best_val_acc"] for p in runs)
    assert len(runs) == len({t.params["optim.lr"] for t in done})  # one run folder per distinct trial
    assert max(t.value for t in done) == values[-1]  # the study's best is a run's own number


def test_the_eval_command_exits_0_with_its_line_and_a_damaged_checkpoint_is_one_line(tmp_path, cli_env):
    """As a console script: success exits 0 with one line on stdout and nothing on stderr; a checkpoint that
    is not one (garbage bytes) is one line and exit 2, no traceback."""
    from scatnet.training.run import train

    train(compose([*TINY, "logger=none"], tmp_path / "run"))
    proc = subprocess.run(
        [script("scatnet-eval"), str(tmp_path / "run"), "--device", "cpu"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1].startswith("scatnet-eval: dtcwt on digits, epoch 2: test acc")
    assert "test_acc" not in proc.stderr  # the result is in eval.json, not dumped to stderr
    (tmp_path / "run" / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint" * 64)
    bad = subprocess.run(
        [script("scatnet-eval"), str(tmp_path / "run")], env=cli_env, capture_output=True, text=True, timeout=300
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr
    assert "last.ckpt is not a readable scatnet checkpoint" in bad.stderr


def test_the_optuna_sweeper_reads_every_search_space_hydra_writes():
    """The sweeper's space, as Hydra's override syntax writes it, in the current Optuna's distributions."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from scatnet.training.optuna_sweeper import search_space

    space, fixed = search_space(
        [
            "optim.lr=tag(log, interval(1e-4, 1.0))",
            "optim.momentum=interval(0.5, 0.95)",
            "model.width=range(4, 65, 4)",
            "frontend.magbias=choice(0, 0.01, 0.1)",
            "seed=range(0, 6, 2)",
            "frontend=choice(dtcwt, morlet6)",
            "data=digits",
        ]
    )
    assert space["optim.lr"] == FloatDistribution(1e-4, 1.0, log=True)
    assert space["optim.momentum"] == FloatDistribution(0.5, 0.95)
    assert space["model.width"] == IntDistribution(4, 64, step=4)  # integers: a range (interval() is floats)
    assert space["frontend.magbias"] == CategoricalDistribution([0, 0.01, 0.1])
    assert space["seed"] == IntDistribution(0, 5, step=2)  # range's stop is exclusive: 0, 2, 4
    assert space["frontend"] == CategoricalDistribution(["dtcwt", "morlet6"])
    assert fixed == {"data": "digits"}
