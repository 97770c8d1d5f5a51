"""Shared fixtures: compose the real Hydra configs; keep W&B offline and quiet; no network anywhere."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
BIN = Path(sys.executable).parent

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_DISABLE_GIT", "true")
os.environ.pop("SCATNET_DATA", None)


def compose(overrides: list[str], run_dir: Path):
    """The real train.yaml composed with ``overrides`` (as the CLI would), run dir pinned to ``run_dir``."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIGS)):
        return hydra_compose("train", overrides=[*overrides, f"paths.run_dir={run_dir}", "progress_bar=false"])


def thesis_optim(overrides: list[str] = ()) -> dict:
    """The optimizer and scheduler factories of the composed config (configs/optim/sgd.yaml): a module's
    ``optimizer=`` and ``scheduler=``."""
    from scatnet.training.builders import composed_config, optimizer_factories

    return optimizer_factories(composed_config(list(overrides)))


@pytest.fixture
def cli_env(tmp_path):
    """Environment for subprocess runs of the console scripts: outputs under tmp, W&B offline."""
    env = dict(os.environ)
    env.update(SCATNET_OUTPUTS=str(tmp_path / "outputs"), WANDB_MODE="offline", WANDB_SILENT="true",
               PYTHONWARNINGS="ignore", WANDB_DIR=str(tmp_path))
    return env


def script(name: str) -> str:
    return str(BIN / name)
