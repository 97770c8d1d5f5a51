"""Shared CLI plumbing: locate the configs, print one-line errors, quiet noisy upstream warnings."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import warnings
from pathlib import Path
from typing import Callable, Iterator

from scatnet.errors import ScatnetError


def start_command() -> None:
    """First thing in every command's main(): the process's memory settings (memory.process_settings), then
    quiet upstream warnings."""
    from scatnet.memory import process_settings

    process_settings()
    quiet_upstream_warnings()


def quiet_upstream_warnings() -> None:
    """The commands' process-wide quiet: upstream warnings that ask nothing of the user, and no traceback
    from a log handler that cannot write (Hydra's log file, W&B's debug log on a full disk): the run's own
    error says that in one line."""
    logging.raiseExceptions = False
    # pytorch_wavelets imports pkg_resources (a DeprecationWarning/UserWarning on every start); Lightning
    # suggests DataLoader workers, which a device-resident loader does not need.
    warnings.filterwarnings("ignore", message=".*pkg_resources.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    # Lightning's hint, on any machine with SLURM installed, that `srun` is not used: a run started by
    # scatnet-train or a study is a one-process run by choice (under srun the hint is not given)
    warnings.filterwarnings("ignore", message=".*`srun` command is available.*")
    # Lightning's tip to set float32 matmul precision to TF32 on a tensor-core GPU: scatnet keeps TF32 off
    # on purpose (scatnet/precision.py; fast.tf32=true for the body); and its advertisement for its own
    # cloud logger on every Trainer
    for name in LIGHTNING_RANK_ZERO_LOGGERS:
        logging.getLogger(name).addFilter(_drop_tips)


LIGHTNING_RANK_ZERO_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero")


LIGHTNING_TIPS = ("set_float32_matmul_precision", "litlogger")


def _drop_tips(record: logging.LogRecord) -> bool:
    return not any(tip in record.getMessage() for tip in LIGHTNING_TIPS)


def fail(message: str, code: int = 2) -> "NoReturn":  # noqa: F821
    prog = Path(sys.argv[0]).name
    if prog in (
        "bench.py",
        "eval.py",
        "inspect.py",
        "report.py",
        "study.py",
        "train.py",
    ):  # python -m scatnet.cli.bench: the console script's name
        prog = "scatnet-" + prog[:-3]
    prog = "scatnet" if prog in ("", "__main__.py", "-c") else prog
    from scatnet.training.slurm import other_srun_task

    if not other_srun_task():  # under srun every task meets the same error: said once, by the first
        print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)  # one line, whatever it quotes
    raise SystemExit(code)


class Terminated(BaseException):
    """A signal (SIGTERM, or SIGINT where a command takes it so), raised where the command is: a
    BaseException, so no ``except Exception`` on the way takes it for a failure of the work, and not a
    KeyboardInterrupt, which Lightning turns into exit 1."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def raise_terminated(signum, frame):
    """A signal handler: the signal as an exception where the command is."""
    raise Terminated(signum)


@contextlib.contextmanager
def stopped_by_signals(kept: str) -> Iterator[None]:
    """Within: Ctrl-C and SIGTERM end the command with one line saying what was ``kept`` and exit 130 / 143
    (a command whose result is written whole at its end: nothing half-written to mention)."""
    previous = {s: signal.signal(s, raise_terminated) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    except (KeyboardInterrupt, Terminated) as e:
        signum = getattr(e, "signum", signal.SIGINT)
        fail(f"interrupted ({'Ctrl-C' if signum == signal.SIGINT else 'SIGTERM'}); {kept}", 128 + signum)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def report_error(err: ScatnetError) -> "NoReturn":  # noqa: F821
    fail(str(err), getattr(err, "exit_code", 2))


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are the CLIs' one line (no usage block), exit 2."""

    said_of = ""  # what the arguments belong to, when not the command line (e.g. "study.bench: ")

    def error(self, message: str) -> "NoReturn":  # noqa: F821
        fail(f"{self.said_of}{message} (see {self.prog} --help)")


def at_least(low: int, high: int = 2**31 - 1) -> Callable[[str], int]:
    """An argparse type: an integer from low to high, refused by argparse in one line otherwise (a huge count
    is a typo, or an allocation that never succeeds)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not valid; it must be from {low} to {high}")
        return value

    parse.__name__ = f"integer from {low} to {high}"
    return parse
