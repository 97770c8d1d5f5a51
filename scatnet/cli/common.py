"""Shared CLI plumbing: locate the configs, print one-line errors, quiet noisy upstream warnings."""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from scatnet.errors import ScatnetError

REPO_ROOT = Path(__file__).resolve().parents[2]


def config_dir() -> str:
    """The top-level configs/ of the checkout (editable install), or SCATNET_CONFIG_DIR."""
    path = Path(os.environ.get("SCATNET_CONFIG_DIR", REPO_ROOT / "configs")).resolve()
    if not (path / "train.yaml").exists():
        fail(f"no configs found at {path}; install scatnet from its repository (pip install -e .) "
             "or set SCATNET_CONFIG_DIR to the configs/ folder")
    return str(path)


def quiet_upstream_warnings() -> None:
    # pytorch_wavelets imports pkg_resources (a DeprecationWarning/UserWarning on every start); Lightning
    # suggests DataLoader workers, which a device-resident loader does not need.
    warnings.filterwarnings("ignore", message=".*pkg_resources.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")


def fail(message: str, code: int = 2) -> "NoReturn":  # noqa: F821
    prog = Path(sys.argv[0]).name
    if prog in ("bench.py", "report.py", "train.py"):  # python -m scatnet.cli.bench: the console script's name
        prog = "scatnet-" + prog[:-3]
    prog = "scatnet" if prog in ("", "__main__.py", "-c") else prog
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def report_error(err: ScatnetError) -> "NoReturn":  # noqa: F821
    fail(str(err), getattr(err, "exit_code", 2))
