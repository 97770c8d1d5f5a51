"""scatnet installed as a library, not from its checkout: the wheel is built, installed non-editable into a new
virtual environment (its dependencies from the environment the tests run in; no network), and run from an empty
folder: a 1-epoch digits run and the smoke study find the packaged configs."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(bin folder, environment) of a new venv holding the wheel."""
    root = tmp_path_factory.mktemp("install")
    wheels, venv = root / "wheels", root / "venv"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(REPO)],
        check=True,
        timeout=600,
    )
    (wheel,) = wheels.glob("scatnet-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "scatnet/configs/train.yaml" in names and "scatnet/configs/study/smoke.yaml" in names
    assert "scatnet/frontends/fast_morlet/kernels.c" in names
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    bin_ = venv / ("Scripts" if os.name == "nt" else "bin")
    # the dependencies: this environment's site-packages, after the new venv's own (where the wheel goes)
    new_site = subprocess.run(
        [str(bin_ / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(new_site, "deps-from-test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(bin_ / "python"),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        timeout=600,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SCATNET_CONFIG_DIR")}
    env.update(SCATNET_OUTPUTS=str(root / "outputs"), PYTHONWARNINGS="ignore", WANDB_DIR=str(root))
    return bin_, env, root


def _empty_folder(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir()
    return folder


def test_the_wheel_is_what_runs(installed):
    bin_, env, root = installed
    where = subprocess.run(
        [str(bin_ / "python"), "-c", "import scatnet; print(scatnet.__file__)"],
        cwd=_empty_folder(root, "where"),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.strip().startswith(str(root / "venv")), where.stdout  # not the checkout


def test_an_installed_scatnet_trains_from_an_empty_folder(installed):
    bin_, env, root = installed
    proc = subprocess.run(
        [str(bin_ / "scatnet-train"), "data=digits", "trainer.max_epochs=1", "model.width=8", "logger=csv"],
        cwd=_empty_folder(root, "train"),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "on digits: test acc" in proc.stdout and "after 1 epochs" in proc.stdout
    assert list((root / "outputs").glob("runs/*/metrics.json"))


def test_an_installed_scatnet_runs_the_smoke_study(installed):
    bin_, env, root = installed
    proc = subprocess.run(
        [str(bin_ / "scatnet-study"), "study=smoke", f"out={root / 'smoke'}"],
        cwd=_empty_folder(root, "study"),
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "scatnet-study smoke: 3/3 done, 0 running, 0 failed, 0 left" in proc.stdout
    assert (root / "smoke" / "report" / "report.html").exists() or list((root / "smoke").rglob("report.html"))
