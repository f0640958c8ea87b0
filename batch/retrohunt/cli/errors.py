"""Exit codes and the one place that turns library errors into one-line messages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec

import typer
from rich.console import Console

from retrohunt.errors import InputError, OutputError, RetrohuntError, RuleError
from retrohunt.hunt import ClusterError
from retrohunt.ledger import HuntLocked

P = ParamSpec("P")
DEBUG = {"enabled": False}  # set by the root --debug option before any command runs

EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug: one line, and --debug shows the traceback
EXIT_USAGE = 2  # bad command-line usage (Typer/click's own code)
EXIT_RULES = 3  # the rules cannot be used (RuleError)
EXIT_INPUT = 4  # an archive (or the process table) could not be read (InputError)
EXIT_OUTPUT = 5  # alerts or manifest could not be written (OutputError)
EXIT_LOCKED = 6  # another hunt is running on the same output folder (HuntLocked)
EXIT_CLUSTER = 7  # the Dask scheduler cannot be reached (ClusterError)
EXIT_ALERTS = 10  # --fail-on-alerts and at least one alert

EXIT_CODES_HELP = (
    "Exit codes: 0 done (alerts or not); 1 internal error (rerun with --debug); "
    "2 usage error; 3 rules unusable; 4 an archive missing, unsupported, truncated or "
    "corrupt (the others are still scanned, alerts before the damage kept), or the "
    "--process-table file is not a process table; "
    "5 output not writable; 6 another hunt is running on the output folder; "
    "7 the Dask scheduler cannot be reached; 10 alerts found with --fail-on-alerts."
)


def exit_code_for(error: RetrohuntError) -> int:
    """The documented exit code of a library error, by its class."""
    if isinstance(error, HuntLocked):
        return EXIT_LOCKED
    if isinstance(error, ClusterError):
        return EXIT_CLUSTER
    if isinstance(error, RuleError):
        return EXIT_RULES
    if isinstance(error, InputError):
        return EXIT_INPUT
    if isinstance(error, OutputError):
        return EXIT_OUTPUT
    return EXIT_INTERNAL


def handle_errors(command: Callable[P, int]) -> Callable[P, None]:
    """Wrap a command: its int result becomes the exit code, a RetrohuntError a one-line
    message with its documented code, anything else (a bug) one line and exit 1 — or the
    traceback with `retrohunt --debug`."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            code = command(*args, **kwargs)
        except RetrohuntError as error:
            _say(f"error: {error}")
            raise typer.Exit(exit_code_for(error)) from None
        except (typer.Exit, typer.Abort, typer.BadParameter):
            raise
        except Exception as error:
            if DEBUG["enabled"]:
                raise
            _say(f"internal error: {type(error).__name__}: {error} (rerun with --debug)")
            raise typer.Exit(EXIT_INTERNAL) from None
        if code:
            raise typer.Exit(code)

    return wrapper


def _say(message: str) -> None:
    Console(stderr=True).print(message, markup=False, highlight=False, soft_wrap=True)
