"""User-facing errors: each carries one line that says what is wrong and how to fix it.

The CLIs catch :class:`ScatnetError`, print its message on one line and exit non-zero, so bad input never
ends in a traceback wall (and never leaves a result that reads as complete).
"""


class ScatnetError(Exception):
    """Base class for errors the user can fix; ``str(err)`` is the one line shown."""

    exit_code = 2


class ConfigError(ScatnetError, ValueError):
    """An option has a value scatnet cannot use."""


class DataError(ScatnetError):
    """Dataset files are missing, corrupt or unreachable."""


def check_choice(name: str, value, choices) -> None:
    """Raise a ConfigError naming the valid values when ``value`` is not one of ``choices``."""
    if value not in choices:
        valid = ", ".join(str(c) for c in choices)
        raise ConfigError(f"{name}={value!r} is not valid; choose one of: {valid}")


class WorkFailed(ScatnetError):
    """The work itself failed, not the input (a full disk, memory, a scheduler): exit 1."""

    exit_code = 1


class ClusterError(WorkFailed):
    """The cluster's scheduler did not answer or refused a job."""
