"""Closed reporting years: `bufdir close` stores a year's export as submitted, after which
the database refuses every change that would alter its figures until `bufdir reopen`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg

from peerstats.bufdir.export import ChapterFigures, chapter_figures, utc_text
from peerstats.errors import PeerstatsError


@dataclass(frozen=True)
class Submission:
    """The figures of a closed year as they were submitted to Bufdir (private.bufdir_submissions)."""
    year: int
    status: str  # closed, or reopened for corrections
    submitted_at: datetime
    submitted_by: str  # the database role
    operator: str | None  # who ran `peerstats bufdir close`, as the client named them
    chapters: list[ChapterFigures]

    def describe(self) -> str:
        by = self.submitted_by + (f" ({self.operator})" if self.operator else "")
        return f"{self.year} is {self.status}; submitted to Bufdir on {utc_text(self.submitted_at)} by {by}"


def require_closed_years(conn: psycopg.Connection) -> None:
    installed = conn.execute("select to_regprocedure('private.close_reporting_year(integer, text)') is not null"
                             ).fetchone()[0]
    if not installed:
        raise PeerstatsError("this database cannot close reporting years (private.close_reporting_year): "
                             "run `peerstats db up` first")


def close_year(conn: psycopg.Connection, year: int, operator: str | None) -> Submission:
    """Close a reported year: the database stores its export as submitted, then refuses every
    write of its activities until it is reopened."""
    require_closed_years(conn)
    with refusal_as_error():
        conn.execute("select private.close_reporting_year(%s, %s)", (year, operator))
    return stored_submission(conn, year)


def reopen_year(conn: psycopg.Connection, year: int, reason: str, operator: str | None) -> None:
    """Reopen a closed year for corrections by service_role; the reason is logged."""
    require_closed_years(conn)
    with refusal_as_error():
        conn.execute("select private.reopen_reporting_year(%s, %s, %s)", (year, reason, operator))


@contextmanager
def refusal_as_error() -> Iterator[None]:
    """The database's refusal (a year already closed, not closed, a blank reason) as one line."""
    try:
        yield
    except psycopg.errors.CheckViolation as refusal:
        raise PeerstatsError(refusal.diag.message_primary or str(refusal)) from refusal


def reported_years(conn: psycopg.Connection) -> list[int]:
    """Every year whose reporting status is not open (closed or reopened), whatever rows it has
    left: a closed year whose figures went to zero must still be compared with its submission."""
    if conn.execute("select to_regclass('private.reporting_years') is null").fetchone()[0]:
        return []
    return [row[0] for row in conn.execute("select year from private.reporting_years where status <> 'open' order by year")]


def stored_submission(conn: psycopg.Connection, year: int) -> Submission | None:
    """The latest submission of a year that is closed or reopened; None for an open year."""
    if conn.execute("select to_regclass('private.bufdir_submissions') is null").fetchone()[0]:
        return None
    row = conn.execute(
        "select r.status, s.submitted_at, s.submitted_by, s.operator, s.figures::text "
        "from private.reporting_years r join private.bufdir_submissions s on s.year = r.year "
        "where r.year = %s and r.status <> 'open' order by s.id desc limit 1",
        (year,),
    ).fetchone()
    if row is None:
        return None
    status, submitted_at, submitted_by, operator, figures = row
    rows = [(f["chapter_id"], f["chapter_name"], f["activity_type"], f["activity_count"], submitted_minutes(f),
             f["active_mentor_count"])
            for f in json.loads(figures, parse_float=Decimal)]
    return Submission(year, status, submitted_at, submitted_by, operator, chapter_figures(rows))


def submitted_minutes(figure: dict) -> int:
    """A stored figure's exact minutes: total_minutes, or, in a submission stored before the
    export had it, its unrounded total_hours (sum(duration_minutes) / 60.0, 16 or more decimals)
    times 60, which rounds back to those minutes exactly."""
    if "total_minutes" in figure:
        return figure["total_minutes"]
    return int((Decimal(figure["total_hours"]) * 60).to_integral_value())
