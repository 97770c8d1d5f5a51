"""Where the Hydra configs are: shipped inside the package (scatnet/configs/, in a wheel as in a checkout), or
a copy of one's own named by SCATNET_CONFIG_DIR."""

from __future__ import annotations

import os
from pathlib import Path

from scatnet.errors import ConfigError

PACKAGED_CONFIGS = Path(__file__).resolve().parent / "configs"


def config_dir() -> str:
    path = Path(os.environ.get("SCATNET_CONFIG_DIR") or PACKAGED_CONFIGS).resolve()
    if not (path / "train.yaml").exists():
        raise ConfigError(
            f"no configs found at {path} (no train.yaml there); point SCATNET_CONFIG_DIR at a copy "
            "of scatnet/configs/, or unset it to use the packaged ones"
        )
    return str(path)
