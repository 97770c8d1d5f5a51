"""Verified downloads: stream to ``<file>.part``, check the MD5, then rename. A corrupt or partial file is
never used: every error names the file and what to do about it."""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from scatnet.errors import DataError

CHUNK = 1 << 20
TIMEOUT_S = 60


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def verify_md5(path: Path, expected: str, fix: str) -> None:
    got = md5sum(path)
    if got != expected:
        raise DataError(f"{path} is corrupt or incomplete (MD5 {got}, expected {expected}); {fix}")


def fetch(url: str, dest: Path, md5: str, allow_download: bool) -> Path:
    """Make sure ``dest`` exists with checksum ``md5``, downloading it from ``url`` if allowed."""
    dest = Path(dest)
    if dest.exists():
        verify_md5(dest, md5, f"delete it and rerun to download it again, or place a good copy from {url} there")
        return dest
    place = f"place {dest.name} (MD5 {md5}) from {url} at {dest}"
    if not allow_download:
        raise DataError(f"{dest} is missing and downloads are off (data.download=false); {place}")
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(part, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=TIMEOUT_S)
            except (urllib.error.URLError, OSError, ValueError) as e:  # the network side
                reason = getattr(e, "reason", None) or e
                raise DataError(f"cannot download {url} ({reason}); with no network, {place}") from None
            with response:
                shutil.copyfileobj(response, out, CHUNK)
    except DataError:
        _discard(part)
        raise
    except OSError as e:  # the disk side: permissions, a full disk, a read-only folder, a broken connection
        _discard(part)
        what = "reading" if isinstance(e, (ConnectionError, TimeoutError)) or not e.filename else "writing"
        target = url if what == "reading" else e.filename
        raise DataError(f"download of {url} failed while {what} {target} ({e.strerror or e}); "
                        f"fix that and rerun, or {place}") from None
    got = md5sum(part)
    if got != md5:
        part.unlink(missing_ok=True)
        raise DataError(f"download of {url} is corrupt (MD5 {got}, expected {md5}); it was deleted. Rerun to "
                        f"retry, or {place}")
    os.replace(part, dest)
    return dest


def _discard(part: Path) -> None:
    with contextlib.suppress(OSError):  # its folder may be what failed
        part.unlink(missing_ok=True)


def read_md5_table(table) -> dict[str, str]:
    """A {file name: md5} mapping from a mapping, or from a file in ``md5sum`` output format."""
    if isinstance(table, (str, Path)):
        path = Path(table)
        if not path.exists():
            raise DataError(f"checksum file {path} does not exist; give a file in md5sum format ('<md5>  <name>')")
        out = {}
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                out[Path(parts[1].lstrip("*")).name] = parts[0].lower()
        return out
    return {str(k): str(v) for k, v in dict(table).items()}
