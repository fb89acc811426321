"""The one place that maps how a command ended to its exit code and its one line on stderr.

0: done. 1: a failure (the database refused, a criterion failed, a file cannot be written,
anything unexpected). 2: a usage problem (an unknown command or option, a bad value, options
that exclude each other, a missing --yes). 130: interrupted. Never a traceback.
"""

from __future__ import annotations

import click
import psycopg

from peerstats.errors import PeerstatsError, UsageProblem
from peerstats.migrations import describe

OK, FAILURE, USAGE, INTERRUPTED = 0, 1, 2, 130


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def outcome(error: BaseException) -> tuple[int, str]:
    """The exit code and the line for stderr (without the 'peerstats: ' prefix) of an exception
    that ended a command."""
    if isinstance(error, click.UsageError):
        hint = f" (see '{error.ctx.command_path} --help')" if error.ctx is not None else ""
        return USAGE, one_line(error.format_message()) + hint
    if isinstance(error, click.ClickException):
        return error.exit_code, one_line(error.format_message())
    if isinstance(error, UsageProblem):
        return USAGE, one_line(error)
    if isinstance(error, PeerstatsError):
        return FAILURE, one_line(error)
    if isinstance(error, psycopg.Error):
        return FAILURE, f"database error: {describe(error)}"
    if isinstance(error, (click.Abort, KeyboardInterrupt)):
        return INTERRUPTED, "interrupted"
    if isinstance(error, OSError):
        where = f": {error.filename}" if error.filename else ""
        return FAILURE, one_line(f"{error.strerror or error}{where}")
    return FAILURE, one_line(f"unexpected {type(error).__name__}: {error}")
