"""One owner per run folder: an exclusive lock on ``<run_dir>/.lock``, held by the process training it
(``flock`` on Linux and macOS; on Windows ``msvcrt.locking`` of a byte past the holder's text, since Windows
has no advisory whole-file lock; imported where used, so every command starts on every platform).

Two launches of the same sweep (two terminals, a requeued SLURM array, a shell loop) then never train one
run twice or write into each other's files: the second finds the lock held and skips the run ("running
elsewhere"). The OS releases the lock when its process dies, however it dies, so a run killed by SIGKILL or
a node failure is taken over by the next launch with no stale-lock cleanup. (flock is honoured across
machines on local filesystems and on NFSv4, where Linux maps it to a POSIX lock.)
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path

LOCK_NAME = ".lock"
RUNNING_ELSEWHERE = "running elsewhere"  # the status of a run skipped because another process holds it
_BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, errno.EDEADLK)
_WINDOWS_BYTE = 1 << 20  # the byte Windows locks: past the holder's text, which others then still read


def _try_lock(fd: int, exclusive: bool) -> bool:
    """Take the lock on fd without waiting (shared: a probe); False where another process holds it."""
    try:
        if sys.platform == "win32":
            import msvcrt

            os.lseek(fd, _WINDOWS_BYTE, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # Windows has no shared mode: a probe takes it briefly
        else:
            import fcntl

            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in _BUSY:
            return False
        raise
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_BYTE, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


class RunLock:
    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> bool:
        """True when this process now owns the run; False when a live process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _try_lock(fd, exclusive=True):
                os.close(fd)
                return False
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{socket.gethostname()} pid {os.getpid()}\n".encode())
        self._fd = fd
        return True

    def is_held(self) -> bool:
        """Whether a live process owns the run now, without taking it or writing anything (a reader's probe)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False  # never locked: a run from before locks existed, or none started
        try:
            if not _try_lock(fd, exclusive=False):
                return True
            if sys.platform == "win32":
                _unlock(fd)
        finally:
            os.close(fd)  # closing releases the probe's shared lock
        return False

    def holder(self) -> str:
        """Who holds it, as its owner wrote (host and pid), for the message of a skipped run."""
        try:
            return self.path.read_text().strip() or "another process"
        except OSError:
            return "another process"

    def release(self) -> None:
        if self._fd is not None:
            _unlock(self._fd)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
