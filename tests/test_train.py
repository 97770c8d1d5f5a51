"""Training through the real configs: the compose API and the console script both learn and write metrics."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
import torch

from scatnet.training.builders import build, build_module
from scatnet.training.metrics_file import REQUIRED
from scatnet.training.run import train
from tests.conftest import compose, script

pytestmark = pytest.mark.slow  # whole commands or trainings

QUICK = ["experiment=quickstart", "trainer.max_epochs=4", "optim.milestones=[3]"]


def test_compose_quickstart_learns_and_writes_complete_metrics(tmp_path):
    cfg = compose(QUICK, tmp_path / "run")
    m = train(cfg)
    assert m["status"] == "completed"
    assert m["test_acc"] > 40.0  # chance is 10%; seeds 0-4 gave 62-70% with PyTorch's portable kernels
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(REQUIRED) <= set(on_disk)
    assert on_disk["epochs_completed"] == 4 and on_disk["images_per_second"] > 0 and on_disk["wall_seconds"] > 0
    assert on_disk["config"]["frontend"]["wavelet"] == "near_sym_a"
    assert on_disk["config"]["model"]["width"] == 24
    rows = list(csv.DictReader(open(tmp_path / "run" / "csv" / "metrics.csv")))
    val = [float(r["val/acc"]) for r in rows if r.get("val/acc")]
    assert len(val) == 4 and val[-1] > val[0]
    # best_val_acc is the best epoch on digits' own validation split, not on the test set
    assert on_disk["best_val_acc"] == pytest.approx(100.0 * max(val), abs=1e-3)
    assert any(r.get("lr-SGD") for r in rows)  # the learning rate is logged


def test_console_script_trains_morlet6(tmp_path, cli_env):
    run_dir = tmp_path / "m6"
    proc = subprocess.run(
        [
            script("scatnet-train"),
            *QUICK,
            "frontend=morlet6",
            "optim.lr=0.5",
            "progress_bar=false",
            f"hydra.run.dir={run_dir}",
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["status"] == "completed" and m["frontend"] == "morlet6"
    assert m["test_acc"] > 15.0  # chance is 10%; seeds 0-4 gave 22-43% (4 epochs, portable kernels)
    assert m["config"]["frontend"]["L"] == 6
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("scatnet: morlet6(L=6, impl=fast) on digits: test acc") and str(run_dir) in last


@pytest.mark.parametrize(
    "override,needle",
    [
        (
            "frontend.wavelet=haar",
            "frontend.wavelet='haar' is not valid; choose one of: near_sym_a, near_sym_b, near_sym_b_bp",
        ),
        ("frontend.padding=reflect", "choose one of: symmetric, zero"),
        ("frontend.magbias=-1", "frontend.magbias=-1 is not valid; it must be a number >= 0"),
        ("frontend=morlet8 frontend.L=7", "frontend.L=7 is not valid; choose one of: 6, 8"),
        (
            "frontend=dtcwt_fast fast.cuda_graph=true trainer.accelerator=cpu",
            "fast.cuda_graph=true needs a CUDA device",
        ),
        (
            "fast.cuda_graph=true",
            "fast.cuda_graph=true needs a front end whose forward never waits on or copies "
            "from the host; frontend=dtcwt is not one (pytorch_wavelets' ScatLayers copy index "
            "arrays from the host in every forward; frontend.impl=fast computes the same without)",
        ),
        (
            "trainer.precision=bf16-mixed",
            "trainer.precision=bf16-mixed would run the scattering front end in "
            "reduced precision too; leave trainer.precision=32-true and use fast.bf16=true",
        ),
    ],
)
def test_bad_config_is_one_clear_line_and_nonzero_exit(tmp_path, cli_env, override, needle):
    proc = subprocess.run(
        [
            script("scatnet-train"),
            *override.split(),
            "trainer.max_epochs=1",
            "progress_bar=false",
            f"hydra.run.dir={tmp_path / 'bad'}",
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1 and needle in errors[0], proc.stderr[-1500:]
    metrics = tmp_path / "bad" / "metrics.json"  # refused before it is written, or recorded as failed
    if metrics.exists():
        m = json.loads(metrics.read_text())
        assert m["status"] == "failed" and needle.split(" is not valid")[0] in m["reason"]


# The bad-input table of the README ("Bad input"): every case is one line on stderr and exit 2, before training.
BAD_INPUT = [
    ("trainer.max_epochs=abc", "trainer.max_epochs='abc' is not valid; it must be an integer >= 1"),
    ("trainer.max_epochs=-1", "trainer.max_epochs=-1 is not valid; it must be an integer >= 1"),
    ("seed=abc", "seed='abc' is not valid; it must be an integer >= 0"),
    ("data.batch_size=0", "data.batch_size=0 is not valid; it must be an integer >= 1"),
    ("optim.lr=-1", "optim.lr=-1 is not valid; it must be a number > 0"),
    ("optim.momentum=1", "optim.momentum=1 is not valid; it must be a number >= 0 and < 1"),
    ("optim.milestones=[80,60]", "optim.milestones=[80, 60] is not valid; it must be a list of increasing epochs"),
    ("model.width=0", "model.width=0 is not valid; it must be an integer >= 1"),
    ("fast.tf32=maybe", "fast.tf32='maybe' is not valid; it must be of type bool"),
    ("frontend=morlet8 frontend.impl=pytorch", "frontend.impl='pytorch' is not valid; choose one of: fast, kymatio"),
    ("data=cifar10 data.root={file}", "data.root={file} is a file, not a folder"),
    ("frontend=wavelets", "In 'train': Could not find 'frontend/wavelets' Available options in 'frontend': dtcwt"),
    (
        "frontend=learnable_d model.frontend_grad=false",
        "model.frontend_grad=false, but frontend=learnable_d has "
        "learned stages (conv, mix, norm): without autograd through the front end they would never train; leave "
        "model.frontend_grad null (it follows the front end) or set it true",
    ),
    ("frontend=learnable frontend.stages=[{{conv:4}}]", "frontend.stages has no scat stage"),
    ("frontend=learnable frontend.stages=[{{scat:{{mx:4}}}}]", "frontend.stages[0].scat has unknown option(s) ['mx']"),
    ("data.nosuchkey=1", "Could not override 'data.nosuchkey'"),
    (
        "+data.batchsize=32",
        "data.batchsize is not an option of scatnet.data.DeviceDataModule (did you mean batch_size?)",
    ),
    (
        "+trainer.max_epoch=3",
        "trainer.max_epoch is not an option of pytorch_lightning.Trainer (did you mean max_epochs?)",
    ),
    ("hydra.run.dir={file}/run", "cannot write {file}/run (Not a directory); choose a writable folder"),
    # checked with the rest, before the run folder, its lock or metrics.json is written
    (
        "trainer.precision=bf16-mixed",
        "trainer.precision=bf16-mixed would run the scattering front end in reduced precision too",
    ),
    ("fast.compile=maybe", "fast.compile='maybe' is not valid; choose one of: False, True, default"),
    ("frontend=dtcwt_fast fast.cuda_graph=true trainer.accelerator=cpu", "fast.cuda_graph=true needs a CUDA device"),
    ("data.image_size=30", "image side 30x30 is not divisible by 4"),
]


@pytest.mark.parametrize("override,needle", BAD_INPUT)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, monkeypatch, capfd, override, needle):
    """The console script's main(), in this process (the argv a shell would pass), for speed."""
    from scatnet.cli.train import main

    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    override, needle = override.format(file=afile), needle.format(file=afile)
    run_dir = override.split("=", 1)[1] if override.startswith("hydra.run.dir") else str(tmp_path / "bad")
    args = (
        [f"hydra.run.dir={run_dir}", *override.split()]
        if "hydra" in override
        else [*override.split(), f"hydra.run.dir={run_dir}"]
    )
    monkeypatch.setattr(sys, "argv", [script("scatnet-train"), "experiment=quickstart", "progress_bar=false", *args])
    monkeypatch.setenv("SCATNET_OUTPUTS", str(tmp_path / "outputs"))
    with pytest.raises(SystemExit) as e:
        main()
    lines = [ln for ln in capfd.readouterr().err.strip().splitlines() if ln]
    assert e.value.code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("scatnet-train: error: ") and needle in lines[0], lines
    assert not (tmp_path / "bad").exists()  # not even Hydra's run folder: the options are checked before it


def test_diverging_run_is_recorded_as_failed_with_its_reason(tmp_path):
    cfg = compose([*QUICK, "optim.lr=1e12", "trainer.max_epochs=1"], tmp_path / "nan")
    m = train(cfg, reraise=False)
    assert m["status"] == "failed" and "NonFiniteLossError: loss became nan or inf during epoch 0" in m["reason"]
    assert json.loads((tmp_path / "nan" / "metrics.json").read_text())["status"] == "failed"


def test_image_side_not_divisible_by_4_fails_before_training(tmp_path):
    from scatnet.errors import ConfigError

    with pytest.raises(ConfigError, match="image side 30x30 is not divisible by 4"):
        train(compose(["data.image_size=30"], tmp_path / "bad"))


def test_ddp_over_two_cpu_processes(tmp_path, cli_env):
    """The trainer=ddp config (no buffer broadcast, no SyncBatchNorm) on gloo over 2 processes: the device loader
    shards each epoch, rank 0 alone reports, and the BatchNorm statistics averaged over the ranks before each
    evaluation make the ranks' test accuracy that of the checkpoint."""
    run_dir = tmp_path / "ddp"
    proc = subprocess.run(
        [
            script("scatnet-train"),
            "experiment=quickstart",
            "trainer=ddp",
            "trainer.accelerator=cpu",
            "trainer.devices=2",
            "trainer.max_epochs=2",
            "model.width=8",
            "progress_bar=false",
            f"hydra.run.dir={run_dir}",
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len([ln for ln in proc.stdout.splitlines() if ln.startswith("scatnet: ")]) == 1
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["status"] == "completed" and m["world_size"] == 2 and m["epochs_completed"] == 2
    assert m["test_acc"] > 15.0  # chance is 10%
    rows = list(csv.DictReader(open(run_dir / "csv" / "metrics.csv")))
    # 1295 training images, 128 per rank per step, 2 ranks: ceil(1295 / 256) = 6 steps per epoch
    assert max(int(r["step"]) for r in rows if r.get("val/acc")) == 2 * 6 - 1
    # the test accuracy is summed over both ranks' shards: the final weights evaluated in this process on the
    # whole 359-image test set (180 + 179 on the ranks) give the same number
    cfg = compose(["experiment=quickstart", "model.width=8"], tmp_path / "eval")
    module = build_module(cfg).eval()
    module.load_state_dict(torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"])
    dm = build(cfg.data)
    dm.setup("test")
    assert len(dm.test_set) == 359
    with torch.no_grad():
        correct = sum(int((module(x).argmax(1) == y).sum()) for x, y in dm.test_dataloader())
    assert abs(m["test_acc"] - 100.0 * correct / 359) < 1e-3
