"""One owner per run folder: an exclusive ``flock`` on ``<run_dir>/.lock``, held by the process training it.

Two launches of the same sweep (two terminals, a requeued SLURM array, a shell loop) then never train one
run twice or write into each other's files: the second finds the lock held and skips the run ("running
elsewhere"). The OS releases the lock when its process dies, however it dies, so a run killed by SIGKILL or
a node failure is taken over by the next launch with no stale-lock cleanup. (flock is honoured across
machines on local filesystems and on NFSv4, where Linux maps it to a POSIX lock.)
"""
from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path

LOCK_NAME = ".lock"
RUNNING_ELSEWHERE = "running elsewhere"  # the status of a run skipped because another process holds it


class RunLock:
    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> bool:
        """True when this process now owns the run; False when a live process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        os.ftruncate(fd, 0)
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
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return True
            raise
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
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
