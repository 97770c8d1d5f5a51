"""Files written whole or not at all, output paths checked before any work, and a full disk said in one line.

Every result a command writes (a report's tables and pages, bench.json, eval.json, a study's status) goes
through :func:`replacing`: written beside its final path, then renamed over it, so a reader (or a relaunch)
sees the previous version or the new one, never half a file, and a full disk leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path
from typing import Iterator

from scatnet.errors import ConfigError, WorkFailed

FULL_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class DiskFull(WorkFailed):
    """The work ran out of space."""


def is_disk_full(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in FULL_DISK_ERRNOS


def free_mib(path: Path) -> float:
    """Free space on the device of ``path`` (or of its nearest existing parent), in MiB."""
    where = next((p for p in (Path(path), *Path(path).parents) if p.exists()), Path("/"))
    return shutil.disk_usage(where).free / 2**20


def disk_full_message(path: Path, then: str = "free some space and run the same command again") -> str:
    return f"no space left on the device of {path} ({free_mib(path):.1f} MiB free there); {then}"


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed over ``path`` when the block succeeds, removed
    when it fails (a full disk becomes :class:`DiskFull`, naming the folder and its free space)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if is_disk_full(e):
            raise DiskFull(disk_full_message(path.parent)) from None
        raise


def write_text(path: Path, text: str) -> Path:
    with replacing(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def check_output_file(path: Path, option: str) -> None:
    """An output file a command will write: not a folder, and under a folder that exists or can be made. A
    ConfigError names the option otherwise; nothing is made."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file path, e.g. {path / 'out'}")
    check_output_folder(path.parent, option)


def check_output_folder(folder: Path, option: str) -> None:
    """A folder a command will write into (made when the first result is written): a ConfigError if a file
    stands in its way or its nearest existing folder is not writable. Makes nothing."""
    folder = Path(folder).absolute()
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("/"))
    if not existing.is_dir():
        raise ConfigError(f"{option}: {existing} is a file, not a folder; give a path under a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{option}: cannot write into {existing} (permission denied); give a writable path")
