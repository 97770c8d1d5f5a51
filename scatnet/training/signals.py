"""SIGTERM (what a scheduler sends before a kill, and `timeout`) and SIGINT (Ctrl-C) end a run as
"interrupted", resumable, with a non-zero exit (143 / 130), instead of Lightning's exit 0 on SIGTERM.

The handler raises at once: nothing is lost by it, since the checkpoint of the last finished epoch is only
ever replaced by a complete one (checkpoint_io.AtomicCheckpointIO), and that is what a relaunch resumes from.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

from scatnet.errors import ScatnetError

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class RunInterrupted(ScatnetError):
    """A run stopped by a signal; ``str()`` is completed by train() with where it stopped and how to resume."""

    def __init__(self, signum: int, message: str = ""):
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(message or f"stopped by {signal.Signals(signum).name}")


def _raise(signum, frame):
    raise RunInterrupted(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within: SIGTERM and SIGINT raise RunInterrupted (Lightning calls this handler too, after its own
    SIGTERM bookkeeping). Signal handlers exist in the main thread only; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
