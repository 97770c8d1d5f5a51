"""Shared fixtures: compose the real Hydra configs; W&B as a machine with no account meets it; no network."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "scatnet" / "configs"
BIN = Path(sys.executable).parent

# A machine with no W&B account, as a first-time user's or a cluster node's: no key in the environment, no
# .netrc, no W&B settings. WANDB_MODE is left unset, so a logger=wandb run takes the path a user's does (an
# online start that finds no key, then offline); no test can reach W&B's servers.
for _name in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL", "SCATNET_DATA"):
    os.environ.pop(_name, None)
_NO_ACCOUNT = tempfile.mkdtemp(prefix="scatnet-tests-no-wandb-")
os.environ["NETRC"] = os.path.join(_NO_ACCOUNT, "netrc")
os.environ["WANDB_CONFIG_DIR"] = _NO_ACCOUNT


def compose(overrides: list[str], run_dir: Path):
    """The real train.yaml composed with ``overrides`` (as the CLI would), run dir pinned to ``run_dir``."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIGS)):
        return hydra_compose("train", overrides=[*overrides, f"paths.run_dir={run_dir}", "progress_bar=false"])


def thesis_optim(overrides: list[str] = ()) -> dict:
    """The optimizer and scheduler factories of the composed config (scatnet/configs/optim/sgd.yaml): a module's
    ``optimizer=`` and ``scheduler=``."""
    from scatnet.training.builders import composed_config, optimizer_factories

    return optimizer_factories(composed_config(list(overrides)))


@pytest.fixture
def cli_env(tmp_path):
    """Environment for subprocess runs of the console scripts: outputs under tmp (W&B's files too)."""
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}  # this process's W&B service, if any
    env.update(SCATNET_OUTPUTS=str(tmp_path / "outputs"), PYTHONWARNINGS="ignore", WANDB_DIR=str(tmp_path))
    return env


def script(name: str) -> str:
    return str(BIN / name)


def needed(why: str) -> None:
    """Skip with the reason where a test's outside part is absent; fail under CI (SCATNET_CI=1, .ci/run), which
    installs every such part, so that CI never passes by skipping."""
    if os.environ.get("SCATNET_CI") == "1":
        pytest.fail(f"SCATNET_CI=1 but this test cannot run: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A real single-node SLURM (tests/slurm_cluster.py), started once for the tests marked slurm and stopped
    by pid at the end. Where SLURM or root is absent they are skipped with the reason, except under CI
    (SCATNET_CI=1, set by .ci/run, which installs the packages): there they fail instead."""
    from tests.slurm_cluster import Cluster, missing

    why = missing()
    if why:
        needed(why)
    root = tmp_path_factory.mktemp("slurm")  # pytest keeps the last few runs' (the daemons' logs)
    assert len(str(root / "munge.sock")) < 100, root  # a socket's path must fit a sockaddr_un (108 bytes)
    cluster = Cluster(root).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def pytest_collection_modifyitems(config, items):
    """Tests marked gpu are skipped, with the reason, where there is no CUDA GPU."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
